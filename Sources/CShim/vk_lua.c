// The scripting interpreter: Redis 7.0's Lua set-up (script_lua.c, eval.c) on Debian's
// Lua 5.1. See vk_lua.h for why all of it is C.
#include "vk_lua.h"

#include <lua5.1/lua.h>
#include <lua5.1/lauxlib.h>
#include <lua5.1/lualib.h>
#include <lua5.1/lua-bitop.h>
#include <lua5.1/lua-cjson.h>
#include <openssl/evp.h>

int vk_luaopen_cmsgpack(lua_State *L);  // vk_cmsgpack.c
int vk_luaopen_struct(lua_State *L);    // vk_struct.c
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

// MARK: buffers

void vk_buf_free(vk_buf *b) {
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

static void buf_reserve(vk_buf *b, size_t more) {
    if (b->len + more <= b->cap) return;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + more) cap *= 2;
    b->data = realloc(b->data, cap);
    b->cap = cap;
}

static void buf_add(vk_buf *b, const void *p, size_t n) {
    buf_reserve(b, n);
    memcpy(b->data + b->len, p, n);
    b->len += n;
}

static void buf_str(vk_buf *b, const char *s) { buf_add(b, s, strlen(s)); }

static void buf_fmt_len(vk_buf *b, char type, long long n) {
    char tmp[32];
    int k = snprintf(tmp, sizeof tmp, "%c%lld\r\n", type, n);
    buf_add(b, tmp, (size_t)k);
}

static void buf_bulk(vk_buf *b, const char *s, size_t n) {
    buf_fmt_len(b, '$', (long long)n);
    buf_add(b, s, n);
    buf_add(b, "\r\n", 2);
}

// A status or error line: Redis maps CR and LF in it to spaces.
static void buf_line(vk_buf *b, char type, const char *s, size_t n) {
    buf_reserve(b, n + 3);
    b->data[b->len++] = type;
    for (size_t i = 0; i < n; i++) b->data[b->len++] = (s[i] == '\r' || s[i] == '\n') ? ' ' : s[i];
    b->data[b->len++] = '\r';
    b->data[b->len++] = '\n';
}

// MARK: the run in progress (one interpreter per thread, so thread-local state)

// Per thread, as the interpreter that calls them (workers create theirs concurrently).
static __thread vk_lua_command_hook command_hook;
static __thread vk_lua_log_hook log_hook;
// Set while a worker reloads libraries already loaded once: their redis.log calls were
// logged when FUNCTION LOAD ran them, as Redis logs them once.
static __thread int quiet_load;

typedef struct run_state {
    void *context;  // NULL outside a run
    int resp;       // redis.setresp
    int repl;       // redis.set_repl
    uint64_t rand;  // math.random's 48-bit state
    int rand_started;
    long gc_count;
} run_state;
static __thread run_state current;

// Redis's rand.c: the 48-bit linear congruential generator of drand48, seeded the same
// way, so math.random gives redis-server's sequence.
static void rand_seed(int32_t seed) { current.rand = (((uint64_t)(uint32_t)seed) << 16) | 0x330E; }
static int32_t rand_next(void) {
    current.rand = (current.rand * 0x5DEECE66DULL + 0xB) & 0xFFFFFFFFFFFFULL;
    return (int32_t)(current.rand >> 17);
}
#define REDIS_LRAND48_MAX INT32_MAX

// MARK: errors as Redis builds them

// luaPushErrorBuff: {err = "CODE msg"}; "-CODE msg" keeps its code, a bare message gets ERR.
static void push_error_table(lua_State *L, const char *text, size_t len) {
    const char *code = "ERR";
    size_t code_len = 3;
    const char *msg = text;
    size_t msg_len = len;
    if (len > 0 && text[0] == '-') {
        const char *space = memchr(text, ' ', len);
        if (space) {
            code = text + 1;
            code_len = (size_t)(space - text - 1);
            msg = space + 1;
            msg_len = len - (size_t)(msg - text);
        } else {
            msg = text + 1;
            msg_len = len - 1;
        }
    }
    while (msg_len > 0 && (msg[0] == '\r' || msg[0] == '\n')) { msg++; msg_len--; }
    while (msg_len > 0 && (msg[msg_len - 1] == '\r' || msg[msg_len - 1] == '\n')) msg_len--;
    lua_newtable(L);
    lua_pushstring(L, "err");
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    luaL_addlstring(&b, code, code_len);
    luaL_addchar(&b, ' ');
    luaL_addlstring(&b, msg, msg_len);
    luaL_pushresult(&b);
    lua_settable(L, -3);
}

static void push_error(lua_State *L, const char *text) { push_error_table(L, text, strlen(text)); }

// MARK: RESP reply -> Lua (redisProtocolToLuaType)

static const char *line_end(const char *p, const char *end) {
    while (p + 1 < end && !(p[0] == '\r' && p[1] == '\n')) p++;
    return p;
}

static long long parse_ll(const char *p, const char *e) {
    long long v = 0;
    int neg = 0;
    if (p < e && *p == '-') { neg = 1; p++; }
    while (p < e) v = v * 10 + (*p++ - '0');
    return neg ? -v : v;
}

// Parses one reply at *pp; pushes its Lua value unless `push` is 0 (attributes).
static void resp_to_lua(lua_State *L, const char **pp, const char *end, int push) {
    const char *p = *pp;
    char type = *p++;
    const char *e = line_end(p, end);
    *pp = e + 2;
    if (push) luaL_checkstack(L, 5, "lua stack limit reach when parsing redis.call reply");
    switch (type) {
    case ':':
        if (push) lua_pushnumber(L, (lua_Number)parse_ll(p, e));
        break;
    case '$': {
        long long n = parse_ll(p, e);
        if (n < 0) { if (push) lua_pushboolean(L, 0); break; }
        if (push) lua_pushlstring(L, e + 2, (size_t)n);
        *pp = e + 2 + n + 2;
        break;
    }
    case '+':
        if (push) {
            lua_newtable(L);
            lua_pushstring(L, "ok");
            lua_pushlstring(L, p, (size_t)(e - p));
            lua_settable(L, -3);
        }
        break;
    case '-':
        if (push) {
            luaL_Buffer b;
            luaL_buffinit(L, &b);
            luaL_addchar(&b, '-');
            luaL_addlstring(&b, p, (size_t)(e - p));
            luaL_pushresult(&b);
            size_t len;
            const char *text = lua_tolstring(L, -1, &len);
            push_error_table(L, text, len);
            lua_remove(L, -2);
            lua_pushstring(L, "ignore_error_stats_update");
            lua_pushboolean(L, 1);
            lua_settable(L, -3);
        }
        break;
    case '*': {
        long long n = parse_ll(p, e);
        if (n < 0) { if (push) lua_pushboolean(L, 0); break; }
        if (push) lua_newtable(L);
        for (long long j = 0; j < n; j++) {
            if (push) lua_pushnumber(L, (lua_Number)(j + 1));
            resp_to_lua(L, pp, end, push);
            if (push) lua_settable(L, -3);
        }
        break;
    }
    case '%': case '~': {
        long long n = parse_ll(p, e);
        if (push) {
            lua_newtable(L);
            lua_pushstring(L, type == '%' ? "map" : "set");
            lua_newtable(L);
        }
        for (long long j = 0; j < n; j++) {
            resp_to_lua(L, pp, end, push);
            if (type == '%') resp_to_lua(L, pp, end, push);
            else if (push) lua_pushboolean(L, 1);
            if (push) lua_settable(L, -3);
        }
        if (push) lua_settable(L, -3);
        break;
    }
    case '|': {
        long long n = parse_ll(p, e);
        for (long long j = 0; j < 2 * n; j++) resp_to_lua(L, pp, end, 0);
        resp_to_lua(L, pp, end, push);
        break;
    }
    case '_':
        if (push) lua_pushnil(L);
        break;
    case '#':
        if (push) lua_pushboolean(L, *p == 't');
        break;
    case ',':
        if (push) {
            char tmp[128];
            size_t n = (size_t)(e - p) < sizeof tmp - 1 ? (size_t)(e - p) : sizeof tmp - 1;
            memcpy(tmp, p, n);
            tmp[n] = 0;
            lua_newtable(L);
            lua_pushstring(L, "double");
            lua_pushnumber(L, strtod(tmp, NULL));
            lua_settable(L, -3);
        }
        break;
    case '(':
        if (push) {
            lua_newtable(L);
            lua_pushstring(L, "big_number");
            lua_pushlstring(L, p, (size_t)(e - p));
            lua_settable(L, -3);
        }
        break;
    case '=': {
        long long n = parse_ll(p, e);
        const char *s = e + 2;
        *pp = s + n + 2;
        if (push) {
            lua_newtable(L);
            lua_pushstring(L, "verbatim_string");
            lua_newtable(L);
            lua_pushstring(L, "string");
            lua_pushlstring(L, s + 4, n >= 4 ? (size_t)n - 4 : 0);
            lua_settable(L, -3);
            lua_pushstring(L, "format");
            lua_pushlstring(L, s, 3);
            lua_settable(L, -3);
            lua_settable(L, -3);
        }
        break;
    }
    default:
        if (push) lua_pushnil(L);
        break;
    }
}

// MARK: Lua -> RESP (luaReplyToRedisReply)

static void write_null(vk_buf *out, int client_resp) { buf_str(out, client_resp == 2 ? "$-1\r\n" : "_\r\n"); }

static void write_double(vk_buf *out, double d, int client_resp) {
    char dbuf[64];
    if (isinf(d)) {
        if (client_resp == 2) buf_bulk(out, d > 0 ? "inf" : "-inf", d > 0 ? 3 : 4);
        else buf_str(out, d > 0 ? ",inf\r\n" : ",-inf\r\n");
        return;
    }
    int n = snprintf(dbuf, sizeof dbuf, "%.17g", d);
    if (client_resp == 2) buf_bulk(out, dbuf, (size_t)n);
    else { buf_add(out, ",", 1); buf_add(out, dbuf, (size_t)n); buf_add(out, "\r\n", 2); }
}

// The string field `name` of the table on top, or NULL (raw access, as Redis).
static const char *raw_string_field(lua_State *L, const char *name, size_t *len) {
    lua_pushstring(L, name);
    lua_rawget(L, -2);
    const char *s = lua_type(L, -1) == LUA_TSTRING ? lua_tolstring(L, -1, len) : NULL;
    lua_pop(L, 1);  // the string stays alive: the table holds it
    return s;
}

// Converts and pops the value on top of the stack.
static void lua_to_resp(lua_State *L, vk_buf *out, int client_resp) {
    if (!lua_checkstack(L, 4)) {
        buf_str(out, "-ERR reached lua stack limit\r\n");
        lua_pop(L, 1);
        return;
    }
    size_t len;
    const char *s;
    switch (lua_type(L, -1)) {
    case LUA_TSTRING:
        s = lua_tolstring(L, -1, &len);
        buf_bulk(out, s, len);
        break;
    case LUA_TBOOLEAN:
        if (current.resp == 2) {
            if (lua_toboolean(L, -1)) buf_str(out, ":1\r\n");
            else write_null(out, client_resp);
        } else if (client_resp == 2) {
            buf_str(out, lua_toboolean(L, -1) ? ":1\r\n" : ":0\r\n");
        } else {
            buf_str(out, lua_toboolean(L, -1) ? "#t\r\n" : "#f\r\n");
        }
        break;
    case LUA_TNUMBER:
        buf_fmt_len(out, ':', (long long)lua_tonumber(L, -1));
        break;
    case LUA_TTABLE: {
        if ((s = raw_string_field(L, "err", &len))) {
            buf_line(out, '-', s, len);
            break;
        }
        if ((s = raw_string_field(L, "ok", &len))) {
            buf_line(out, '+', s, len);
            break;
        }
        lua_pushstring(L, "double");
        lua_rawget(L, -2);
        if (lua_type(L, -1) == LUA_TNUMBER) {
            write_double(out, lua_tonumber(L, -1), client_resp);
            lua_pop(L, 1);
            break;
        }
        lua_pop(L, 1);
        if ((s = raw_string_field(L, "big_number", &len))) {
            if (client_resp == 2) {
                buf_fmt_len(out, '$', (long long)len);
            } else {
                buf_add(out, "(", 1);
            }
            buf_reserve(out, len);
            for (size_t i = 0; i < len; i++) out->data[out->len++] = (s[i] == '\r' || s[i] == '\n') ? ' ' : s[i];
            buf_add(out, "\r\n", 2);
            break;
        }
        lua_pushstring(L, "verbatim_string");
        lua_rawget(L, -2);
        if (lua_type(L, -1) == LUA_TTABLE) {
            size_t flen = 0;
            const char *format = raw_string_field(L, "format", &flen);
            const char *str = raw_string_field(L, "string", &len);
            if (format && str) {
                if (client_resp == 2) {
                    buf_bulk(out, str, len);
                } else {
                    char fmt[4] = {' ', ' ', ' ', 0};
                    for (size_t i = 0; i < 3 && i < flen; i++) fmt[i] = format[i];
                    buf_fmt_len(out, '=', (long long)len + 4);
                    buf_add(out, fmt, 3);
                    buf_add(out, ":", 1);
                    buf_add(out, str, len);
                    buf_add(out, "\r\n", 2);
                }
                lua_pop(L, 1);
                break;
            }
        }
        lua_pop(L, 1);
        lua_pushstring(L, "map");
        lua_rawget(L, -2);
        if (lua_type(L, -1) == LUA_TTABLE) {
            long long n = 0;
            lua_pushnil(L);
            while (lua_next(L, -2)) { lua_pop(L, 1); n++; }
            buf_fmt_len(out, client_resp == 2 ? '*' : '%', client_resp == 2 ? 2 * n : n);
            lua_pushnil(L);
            while (lua_next(L, -2)) {
                // map, key, value: a copy of the key goes first, then the value.
                lua_pushvalue(L, -2);
                lua_to_resp(L, out, client_resp);
                lua_to_resp(L, out, client_resp);
            }
            lua_pop(L, 1);
            break;
        }
        lua_pop(L, 1);
        lua_pushstring(L, "set");
        lua_rawget(L, -2);
        if (lua_type(L, -1) == LUA_TTABLE) {
            long long n = 0;
            lua_pushnil(L);
            while (lua_next(L, -2)) { lua_pop(L, 1); n++; }
            buf_fmt_len(out, client_resp == 2 ? '*' : '~', n);
            lua_pushnil(L);
            while (lua_next(L, -2)) {
                lua_pop(L, 1);
                lua_pushvalue(L, -1);
                lua_to_resp(L, out, client_resp);
            }
            lua_pop(L, 1);
            break;
        }
        lua_pop(L, 1);
        // An array: elements 1, 2... up to the first nil.
        long long n = 0;
        for (;;) {
            lua_rawgeti(L, -1, (int)(n + 1));
            int t = lua_type(L, -1);
            lua_pop(L, 1);
            if (t == LUA_TNIL) break;
            n++;
        }
        buf_fmt_len(out, '*', n);
        for (long long j = 1; j <= n; j++) {
            lua_rawgeti(L, -1, (int)j);
            lua_to_resp(L, out, client_resp);
        }
        break;
    }
    default:
        write_null(out, client_resp);
    }
    lua_pop(L, 1);
}

// MARK: redis.*

// A run abandoned by the command hook (status 2): raises at once, whatever catches it.
static void abandon_hook(lua_State *L, lua_Debug *ar) {
    (void)ar;
    push_error(L, "Script run abandoned");
    lua_error(L);
}

static int redis_generic_call(lua_State *L, int raise) {
    if (!current.context) {
        push_error(L, "redis.call/pcall can only be called inside a script invocation");
        return lua_error(L);
    }
    int argc = lua_gettop(L);
    if (argc == 0) {
        push_error(L, "Please specify at least one argument for this redis lib call");
        return raise ? lua_error(L) : 1;
    }
    const char *argv_small[16];
    size_t lens_small[16];
    char nums_small[16][32];
    const char **argv = argc <= 16 ? argv_small : malloc(sizeof(char *) * (size_t)argc);
    size_t *lens = argc <= 16 ? lens_small : malloc(sizeof(size_t) * (size_t)argc);
    char (*nums)[32] = argc <= 16 ? nums_small : malloc(32 * (size_t)argc);
    int ok = 1;
    for (int j = 0; j < argc; j++) {
        if (lua_type(L, j + 1) == LUA_TNUMBER) {
            // Not lua_tolstring: Lua's "%.14g" loses precision.
            lens[j] = (size_t)snprintf(nums[j], 32, "%.17g", (double)lua_tonumber(L, j + 1));
            argv[j] = nums[j];
        } else {
            argv[j] = lua_tolstring(L, j + 1, &lens[j]);
            if (!argv[j]) { ok = 0; break; }
        }
    }
    const char *reply = NULL;
    size_t reply_len = 0;
    int status = ok ? command_hook(current.context, current.resp, argc, argv, lens, &reply, &reply_len) : -1;
    if (argc > 16) { free(argv); free(lens); free(nums); }
    // The arguments stay on the stack until here: their strings back argv.
    lua_settop(L, 0);
    if (status < 0) {
        push_error(L, "Lua redis lib command arguments must be strings or integers");
        return raise ? lua_error(L) : 1;
    }
    if (status == 2) {
        // Abandoned (the run touched a shard it may not: it will run again elsewhere).
        // Raised again at every line and every few instructions, so pcall cannot go on.
        lua_sethook(L, abandon_hook, LUA_MASKLINE | LUA_MASKCOUNT, 1);
        push_error_table(L, reply, reply_len);
        return lua_error(L);
    }
    if (status == 1) {
        push_error_table(L, reply, reply_len);
        lua_pushstring(L, "ignore_error_stats_update");
        lua_pushboolean(L, 1);
        lua_settable(L, -3);
        return raise ? lua_error(L) : 1;
    }
    const char *p = reply;
    resp_to_lua(L, &p, reply + reply_len, 1);
    if (raise && reply_len > 0 && reply[0] == '-') return lua_error(L);
    return 1;
}

static int redis_call(lua_State *L) { return redis_generic_call(L, 1); }
static int redis_pcall_command(lua_State *L) { return redis_generic_call(L, 0); }

// The global pcall: errors are tables since Redis 7; pcall gives back their message.
static int redis_lua_pcall(lua_State *L) {
    int argc = lua_gettop(L);
    lua_pushboolean(L, 1);
    lua_insert(L, 1);
    if (lua_pcall(L, argc - 1, LUA_MULTRET, 0)) {
        lua_remove(L, 1);
        if (lua_istable(L, -1)) {
            lua_getfield(L, -1, "err");
            if (lua_isstring(L, -1)) lua_replace(L, -2);
            else lua_pop(L, 1);
        }
        lua_pushboolean(L, 0);
        lua_insert(L, 1);
    }
    return lua_gettop(L);
}

void vk_sha1hex(const void *data, size_t len, char hex[41]) {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    EVP_Digest(data, len, md, &mdlen, EVP_sha1(), NULL);
    static const char digits[] = "0123456789abcdef";
    for (int i = 0; i < 20; i++) {
        hex[2 * i] = digits[md[i] >> 4];
        hex[2 * i + 1] = digits[md[i] & 15];
    }
    hex[40] = 0;
}

static int redis_sha1hex(lua_State *L) {
    if (lua_gettop(L) != 1) {
        push_error(L, "wrong number of arguments");
        return lua_error(L);
    }
    size_t len = 0;
    const char *s = lua_tolstring(L, 1, &len);
    char hex[41];
    vk_sha1hex(s ? s : "", s ? len : 0, hex);
    lua_pushstring(L, hex);
    return 1;
}

static int redis_error_reply(lua_State *L) {
    if (lua_gettop(L) != 1 || lua_type(L, -1) != LUA_TSTRING) {
        push_error(L, "wrong number or type of arguments");
        return 1;
    }
    size_t len;
    const char *err = lua_tolstring(L, -1, &len);
    if (len > 0 && err[0] == '-') {
        push_error_table(L, err, len);
    } else {
        lua_pushstring(L, "-");
        lua_pushvalue(L, -2);
        lua_concat(L, 2);
        const char *t = lua_tolstring(L, -1, &len);
        push_error_table(L, t, len);
    }
    return 1;
}

static int redis_status_reply(lua_State *L) {
    if (lua_gettop(L) != 1 || lua_type(L, -1) != LUA_TSTRING) {
        push_error(L, "wrong number or type of arguments");
        return 1;
    }
    lua_newtable(L);
    lua_pushstring(L, "ok");
    lua_pushvalue(L, -3);
    lua_settable(L, -3);
    return 1;
}

static int redis_log(lua_State *L) {
    int argc = lua_gettop(L);
    if (argc < 2) {
        push_error(L, "redis.log() requires two arguments or more.");
        return lua_error(L);
    }
    if (!lua_isnumber(L, -argc)) {
        push_error(L, "First argument must be a number (log level).");
        return lua_error(L);
    }
    int level = (int)lua_tonumber(L, -argc);
    if (level < 0 || level > 3) {
        push_error(L, "Invalid debug level.");
        return lua_error(L);
    }
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    for (int j = 1; j < argc; j++) {
        size_t len;
        const char *s = lua_tolstring(L, (-argc) + j, &len);
        if (s) {
            if (j != 1) luaL_addchar(&b, ' ');
            luaL_addlstring(&b, s, len);
        }
    }
    luaL_pushresult(&b);
    size_t len;
    const char *msg = lua_tolstring(L, -1, &len);
    if (log_hook && !quiet_load) log_hook(level, msg, len);
    return 0;
}

static int redis_setresp(lua_State *L) {
    if (!current.context) {
        push_error(L, "redis.setresp can only be called inside a script invocation");
        return lua_error(L);
    }
    if (lua_gettop(L) != 1) {
        push_error(L, "redis.setresp() requires one argument.");
        return lua_error(L);
    }
    int resp = (int)lua_tonumber(L, -1);
    if (resp != 2 && resp != 3) {
        push_error(L, "RESP version must be 2 or 3.");
        return lua_error(L);
    }
    current.resp = resp;
    return 0;
}

static int redis_set_repl(lua_State *L) {
    if (!current.context) {
        push_error(L, "redis.set_repl can only be called inside a script invocation");
        return lua_error(L);
    }
    if (lua_gettop(L) != 1) {
        push_error(L, "redis.set_repl() requires two arguments.");
        return lua_error(L);
    }
    int flags = (int)lua_tonumber(L, -1);
    if ((flags & ~3) != 0) {
        push_error(L, "Invalid replication flags. Use REPL_AOF, REPL_REPLICA, REPL_ALL or REPL_NONE.");
        return lua_error(L);
    }
    current.repl = flags;
    return 0;
}

// Effects replication is the only mode since Redis 7: replicate_commands is a no-op.
static int redis_replicate_commands(lua_State *L) {
    lua_pushboolean(L, 1);
    return 1;
}

// No debugger (SCRIPT DEBUG): breakpoint answers false and debug does nothing, as Redis
// outside a debugging session.
static int redis_breakpoint(lua_State *L) {
    lua_pushboolean(L, 0);
    return 1;
}

static int redis_debug(lua_State *L) {
    (void)L;
    return 0;
}

// Lua's math.random with Redis's generator in place of rand().
static int redis_math_random(lua_State *L) {
    lua_Number r = (lua_Number)(rand_next() % REDIS_LRAND48_MAX) / (lua_Number)REDIS_LRAND48_MAX;
    switch (lua_gettop(L)) {
    case 0:
        lua_pushnumber(L, r);
        break;
    case 1: {
        int u = luaL_checkint(L, 1);
        luaL_argcheck(L, 1 <= u, 1, "interval is empty");
        lua_pushnumber(L, floor(r * u) + 1);
        break;
    }
    case 2: {
        int l = luaL_checkint(L, 1);
        int u = luaL_checkint(L, 2);
        luaL_argcheck(L, l <= u, 2, "interval is empty");
        lua_pushnumber(L, floor(r * (u - l + 1)) + l);
        break;
    }
    default:
        return luaL_error(L, "wrong number of arguments");
    }
    return 1;
}

static int redis_math_randomseed(lua_State *L) {
    rand_seed(luaL_checkint(L, 1));
    return 0;
}

// MARK: the sandbox

// Redis 7.0 makes every table reachable from the globals read-only (a patched Lua); stock
// Lua 5.1 has no such tables, so the globals and the libraries are empty proxies whose
// metatables read through to the real tables and refuse every write.
static int readonly_error(lua_State *L) { return luaL_error(L, "Attempt to modify a readonly table"); }

static int global_index(lua_State *L) {
    lua_pushvalue(L, 2);
    lua_rawget(L, lua_upvalueindex(1));
    if (lua_isnil(L, -1)) {
        const char *name = lua_tostring(L, 2);
        return luaL_error(L, "Script attempted to access nonexistent global variable '%s'", name ? name : "?");
    }
    return 1;
}

// Replaces the library table `name` of the real globals (at `globals`) by a read-only proxy.
static void protect_library(lua_State *L, int globals, const char *name) {
    lua_getfield(L, globals, name);
    if (!lua_istable(L, -1)) { lua_pop(L, 1); return; }
    int real = lua_gettop(L);
    lua_newtable(L);                 // proxy
    lua_newtable(L);                 // its metatable
    lua_pushvalue(L, real);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, readonly_error);
    lua_setfield(L, -2, "__newindex");
    lua_pushboolean(L, 0);
    lua_setfield(L, -2, "__metatable");
    lua_setmetatable(L, -2);
    lua_setfield(L, globals, name);
    lua_pop(L, 1);
}

static void set_function(lua_State *L, const char *name, lua_CFunction f) {
    lua_pushcfunction(L, f);
    lua_setfield(L, -2, name);
}

static void set_number(lua_State *L, const char *name, lua_Number n) {
    lua_pushnumber(L, n);
    lua_setfield(L, -2, name);
}

// What both `redis` tables have, scripts' and libraries' while they load (in this order
// in both, as the field order of a Lua table can show in its traversal): log, its levels
// and the server's version. Sets them on the table on top of the stack.
static void set_log_and_version(lua_State *L, int version_num, const char *redis_version) {
    set_function(L, "log", redis_log);
    set_number(L, "LOG_DEBUG", 0);
    set_number(L, "LOG_VERBOSE", 1);
    set_number(L, "LOG_NOTICE", 2);
    set_number(L, "LOG_WARNING", 3);
    set_number(L, "REDIS_VERSION_NUM", version_num);
    lua_pushstring(L, redis_version);
    lua_setfield(L, -2, "REDIS_VERSION");
}

static void load_library(lua_State *L, const char *name, lua_CFunction open) {
    lua_pushcfunction(L, open);
    lua_pushstring(L, name);
    lua_call(L, 1, 0);
}

// A library whose opener returns its table without making it a global (Debian builds
// lua-cjson without ENABLE_CJSON_GLOBAL, which Redis's copy has).
static void load_module(lua_State *L, const char *name, lua_CFunction open) {
    lua_pushcfunction(L, open);
    lua_pushstring(L, name);
    lua_call(L, 1, 1);
    if (lua_istable(L, -1)) lua_setglobal(L, name);
    else lua_pop(L, 1);
}

// eval.c's __redis__err__handler: the error as a table, with where the script raised it
// (past a C function such as error() or redis.call()).
static const char error_handler_code[] =
    "local dbg = debug\n"
    "return function(err)\n"
    "  local i = dbg.getinfo(2,'nSl')\n"
    "  if i and i.what == 'C' then\n"
    "    i = dbg.getinfo(3,'nSl')\n"
    "  end\n"
    "  if type(err) ~= 'table' then\n"
    "    err = {err='ERR ' .. tostring(err)}\n"
    "  end\n"
    "  if i then\n"
    "    err['source'] = i.source\n"
    "    err['line'] = i.currentline\n"
    "  end\n"
    "  return err\n"
    "end\n";

// MARK: functions (FUNCTION LOAD, FCALL)

#define GLOBALS_INDEX_KEY "__vk_globals_index"
#define LIBRARY_INDEX_KEY "__vk_library_index"
#define FUNCTIONS_KEY "__vk_functions"
#define LOADING_KEY "__vk_loading"

static int redis_register_function(lua_State *L);

// An empty read-only proxy of the table at the top (replaced by it): reading a missing
// field raises Redis's "nonexistent global variable" error (luaSetErrorMetatable).
static void make_strict_proxy(lua_State *L) {
    int real = lua_gettop(L);
    lua_newtable(L);
    lua_newtable(L);
    lua_pushvalue(L, real);
    lua_pushcclosure(L, global_index, 1);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, readonly_error);
    lua_setfield(L, -2, "__newindex");
    lua_pushboolean(L, 0);
    lua_setfield(L, -2, "__metatable");
    lua_setmetatable(L, -2);
    lua_replace(L, real);
}

// What a library sees while it loads (luaEngineInitEngine's LIBRARY_API): only `redis`
// with register_function, log and the version; anything else is a nonexistent global.
// Pushes the `__index` closure to give the globals proxy during the load.
static void push_library_api(lua_State *L, int version_num, const char *redis_version) {
    lua_newtable(L);  // the library globals
    lua_newtable(L);  // their redis
    set_function(L, "register_function", redis_register_function);
    set_log_and_version(L, version_num, redis_version);
    make_strict_proxy(L);
    lua_setfield(L, -2, "redis");
    lua_pushcclosure(L, global_index, 1);
}

static int valid_function_name(const char *s, size_t n) {
    if (n == 0) return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_')) return 0;
    }
    return 1;
}

static const char *const function_flag_names[] = {"no-writes", "allow-oom", "allow-stale", "no-cluster",
                                                   "allow-cross-slot-keys", NULL};

// luaRegisterFunctionReadFlags: the flags table at the top as bits (no-writes = 2, then
// doubling, as ScriptEngine.Flags), or -1 for a value that is not a known flag.
static int read_function_flags(lua_State *L) {
    int flags = 0;
    for (int j = 1;; j++) {
        lua_rawgeti(L, -1, j);
        if (lua_isnil(L, -1)) { lua_pop(L, 1); break; }
        if (!lua_isstring(L, -1)) { lua_pop(L, 1); return -1; }
        const char *name = lua_tostring(L, -1);
        int found = 0;
        for (int k = 0; function_flag_names[k]; k++) {
            if (!strcasecmp(function_flag_names[k], name)) { flags |= 2 << k; found = 1; break; }
        }
        lua_pop(L, 1);
        if (!found) return -1;
    }
    return flags;
}

static int register_error(lua_State *L, const char *text) {
    push_error(L, text);
    return lua_error(L);
}

// redis.register_function(name, callback) or redis.register_function{function_name=...,
// callback=..., description=..., flags={...}}: adds the function to the library loading.
static int redis_register_function(lua_State *L) {
    lua_getfield(L, LUA_REGISTRYINDEX, LOADING_KEY);
    if (!lua_istable(L, -1)) return register_error(L, "redis.register_function can only be called on FUNCTION LOAD command");
    int loading = lua_gettop(L);
    int argc = loading - 1;
    if (argc < 1 || argc > 2) return register_error(L, "wrong number of arguments to redis.register_function");
    int name = 0, desc = 0, callback = 0, flags = 0;
    if (argc == 1) {
        if (!lua_istable(L, 1)) {
            return register_error(L, "calling redis.register_function with a single argument is only applicable to Lua "
                                     "table (representing named arguments).");
        }
        lua_newtable(L);  // the named arguments found, by our own keys
        int found = lua_gettop(L);
        lua_pushnil(L);
        while (lua_next(L, 1)) {
            if (!lua_isstring(L, -2)) return register_error(L, "named argument key given to redis.register_function is not a string");
            const char *key = lua_tostring(L, -2);
            if (!strcasecmp(key, "function_name")) {
                if (!lua_isstring(L, -1)) return register_error(L, "function_name argument given to redis.register_function must be a string");
                lua_setfield(L, found, "name");
            } else if (!strcasecmp(key, "description")) {
                if (!lua_isstring(L, -1)) return register_error(L, "description argument given to redis.register_function must be a string");
                lua_setfield(L, found, "desc");
            } else if (!strcasecmp(key, "callback")) {
                if (!lua_isfunction(L, -1)) return register_error(L, "callback argument given to redis.register_function must be a function");
                lua_setfield(L, found, "callback");
            } else if (!strcasecmp(key, "flags")) {
                if (!lua_istable(L, -1)) {
                    return register_error(L, "flags argument to redis.register_function must be a table representing function flags");
                }
                flags = read_function_flags(L);
                if (flags < 0) return register_error(L, "unknown flag given");
                lua_pop(L, 1);
            } else {
                return register_error(L, "unknown argument given to redis.register_function");
            }
        }
        lua_getfield(L, found, "name");
        if (lua_isnil(L, -1)) return register_error(L, "redis.register_function must get a function name argument");
        name = lua_gettop(L);
        lua_getfield(L, found, "callback");
        if (lua_isnil(L, -1)) return register_error(L, "redis.register_function must get a callback argument");
        callback = lua_gettop(L);
        lua_getfield(L, found, "desc");
        if (!lua_isnil(L, -1)) desc = lua_gettop(L);
    } else {
        if (!lua_isstring(L, 1)) return register_error(L, "first argument to redis.register_function must be a string");
        if (!lua_isfunction(L, 2)) return register_error(L, "second argument to redis.register_function must be a function");
        name = 1;
        callback = 2;
    }
    size_t name_len = 0;
    const char *name_text = lua_tolstring(L, name, &name_len);
    if (!valid_function_name(name_text, name_len)) {
        return register_error(L, "Library names can only contain letters, numbers, or underscores(_) and must be at least one character long");
    }
    lua_getfield(L, loading, "names");
    lua_pushvalue(L, name);
    lua_rawget(L, -2);
    if (!lua_isnil(L, -1)) return register_error(L, "Function already exists in the library");
    lua_pop(L, 1);
    lua_pushvalue(L, name);
    lua_pushboolean(L, 1);
    lua_rawset(L, -3);
    lua_pop(L, 1);
    // The entry: {name, callback, flags, description or nil}, in registration order.
    lua_getfield(L, loading, "list");
    lua_createtable(L, 4, 0);
    lua_pushvalue(L, name);
    lua_rawseti(L, -2, 1);
    lua_pushvalue(L, callback);
    lua_rawseti(L, -2, 2);
    lua_pushinteger(L, flags);
    lua_rawseti(L, -2, 3);
    if (desc) {
        lua_pushvalue(L, desc);
        lua_rawseti(L, -2, 4);
    }
    lua_rawseti(L, -2, (int)lua_objlen(L, -2) + 1);
    return 0;
}

static __thread struct timespec load_started;
static __thread long load_timeout_ms;

// luaEngineLoadHook: a library that runs past the timeout while loading is stopped.
static void load_hook(lua_State *L, lua_Debug *ar) {
    (void)ar;
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    long elapsed = (now.tv_sec - load_started.tv_sec) * 1000 + (now.tv_nsec - load_started.tv_nsec) / 1000000;
    if (load_timeout_ms > 0 && elapsed > load_timeout_ms) {
        lua_sethook(L, load_hook, LUA_MASKLINE, 0);
        push_error(L, "FUNCTION LOAD timeout");
        lua_error(L);
    }
}

static void set_globals_index(lua_State *L, const char *key) {
    lua_getmetatable(L, LUA_GLOBALSINDEX);
    lua_getfield(L, LUA_REGISTRYINDEX, key);
    lua_setfield(L, -2, "__index");
    lua_pop(L, 1);
}

int vk_lua_load_library(vk_lua *L, const char *code, size_t len, long timeout_ms, int quiet, vk_lua_register_hook hook,
                        void *context, vk_buf *error) {
    quiet_load = quiet;
    lua_settop(L, 0);
    lua_newtable(L);
    lua_newtable(L);
    lua_setfield(L, -2, "names");
    lua_newtable(L);
    lua_setfield(L, -2, "list");
    lua_setfield(L, LUA_REGISTRYINDEX, LOADING_KEY);
    set_globals_index(L, LIBRARY_INDEX_KEY);
    int result = 0;
    if (luaL_loadbuffer(L, code, len, "@user_function")) {
        buf_str(error, "Error compiling function: ");
        size_t n = 0;
        const char *msg = lua_tolstring(L, -1, &n);
        if (msg) buf_add(error, msg, n);
        result = -1;
    } else {
        clock_gettime(CLOCK_MONOTONIC, &load_started);
        load_timeout_ms = timeout_ms;
        if (timeout_ms > 0) lua_sethook(L, load_hook, LUA_MASKCOUNT, 100000);
        if (lua_pcall(L, 0, 0, 0)) {
            // luaExtractErrorInformation: a string gets "ERR ", a table gives its err field.
            buf_str(error, "Error registering functions: ");
            size_t n = 0;
            if (lua_isstring(L, -1)) {
                const char *msg = lua_tolstring(L, -1, &n);
                buf_str(error, "ERR ");
                buf_add(error, msg, n);
            } else if (lua_istable(L, -1)) {
                const char *msg = raw_string_field(L, "err", &n);
                if (msg) buf_add(error, msg, n);
            }
            result = -1;
        }
        lua_sethook(L, NULL, 0, 0);
    }
    set_globals_index(L, GLOBALS_INDEX_KEY);
    quiet_load = 0;
    lua_settop(L, 0);
    lua_getfield(L, LUA_REGISTRYINDEX, LOADING_KEY);
    lua_pushnil(L);
    lua_setfield(L, LUA_REGISTRYINDEX, LOADING_KEY);
    if (result == 0) {
        lua_getfield(L, -1, "list");
        int list = lua_gettop(L);
        lua_getfield(L, LUA_REGISTRYINDEX, FUNCTIONS_KEY);
        if (!lua_istable(L, -1)) {
            lua_pop(L, 1);
            lua_newtable(L);
            lua_pushvalue(L, -1);
            lua_setfield(L, LUA_REGISTRYINDEX, FUNCTIONS_KEY);
        }
        int functions = lua_gettop(L);
        int count = (int)lua_objlen(L, list);
        for (int i = 1; i <= count; i++) {
            lua_rawgeti(L, list, i);
            int entry = lua_gettop(L);
            lua_rawgeti(L, entry, 1);
            size_t name_len = 0, desc_len = 0;
            const char *name = lua_tolstring(L, -1, &name_len);
            lua_rawgeti(L, entry, 2);
            lua_setfield(L, functions, name);
            lua_rawgeti(L, entry, 3);
            int flags = (int)lua_tointeger(L, -1);
            lua_rawgeti(L, entry, 4);
            const char *desc = lua_isstring(L, -1) ? lua_tolstring(L, -1, &desc_len) : NULL;
            if (hook) hook(context, name, name_len, desc, desc_len, flags);
            lua_settop(L, functions);
        }
        if (count == 0) {
            buf_str(error, "No functions registered");
            result = -1;
        }
    }
    lua_settop(L, 0);
    return result;
}

vk_lua *vk_lua_create(vk_lua_command_hook command, vk_lua_log_hook log, const char *redis_version, int version_num) {
    command_hook = command;
    log_hook = log;
    // rand.c's initial state (drand48's default seed); Redis 7.0 does not reseed per
    // script, so the sequence runs on across scripts (per worker here), and a new
    // interpreter after SCRIPT FLUSH continues it, as Redis's global one does.
    if (!current.rand_started) {
        current.rand = 0x1234ABCD330EULL;
        current.rand_started = 1;
    }
    lua_State *L = luaL_newstate();
    if (!L) return NULL;
    load_library(L, "", luaopen_base);
    load_library(L, LUA_TABLIBNAME, luaopen_table);
    load_library(L, LUA_STRLIBNAME, luaopen_string);
    load_library(L, LUA_MATHLIBNAME, luaopen_math);
    load_library(L, LUA_DBLIBNAME, luaopen_debug);
    // Debian's lua-cjson and lua-bitop: the upstream libraries Redis vendors; cmsgpack and
    // struct, which Debian lacks, are this project's (vk_cmsgpack.c, vk_struct.c).
    load_module(L, "cjson", luaopen_cjson);
    load_module(L, "bit", luaopen_bit);
    load_module(L, "cmsgpack", vk_luaopen_cmsgpack);
    load_module(L, "struct", vk_luaopen_struct);

    // What Redis 7.0.15 leaves out of the base library: file access, print, and the
    // environment functions that could reach past the sandbox.
    static const char *removed[] = {"loadfile", "dofile", "print", "getfenv", "setfenv", "newproxy", NULL};
    for (const char **name = removed; *name; name++) {
        lua_pushnil(L);
        lua_setglobal(L, *name);
    }

    lua_pushcfunction(L, redis_lua_pcall);
    lua_setglobal(L, "pcall");

    lua_newtable(L);
    set_function(L, "call", redis_call);
    set_function(L, "pcall", redis_pcall_command);
    set_log_and_version(L, version_num, redis_version);
    set_function(L, "setresp", redis_setresp);
    set_function(L, "sha1hex", redis_sha1hex);
    set_function(L, "error_reply", redis_error_reply);
    set_function(L, "status_reply", redis_status_reply);
    set_function(L, "set_repl", redis_set_repl);
    set_number(L, "REPL_NONE", 0);
    set_number(L, "REPL_AOF", 1);
    set_number(L, "REPL_SLAVE", 2);
    set_number(L, "REPL_REPLICA", 2);
    set_number(L, "REPL_ALL", 3);
    set_function(L, "replicate_commands", redis_replicate_commands);
    set_function(L, "breakpoint", redis_breakpoint);
    set_function(L, "debug", redis_debug);
    lua_setglobal(L, "redis");

    lua_getglobal(L, "math");
    set_function(L, "random", redis_math_random);
    set_function(L, "randomseed", redis_math_randomseed);
    lua_pop(L, 1);

    // The error handler keeps the debug library as an upvalue; scripts do not get it.
    if (luaL_loadbuffer(L, error_handler_code, sizeof error_handler_code - 1, "@err_handler") || lua_pcall(L, 0, 1, 0)) {
        lua_close(L);
        return NULL;
    }
    lua_pushvalue(L, -1);
    lua_setfield(L, LUA_REGISTRYINDEX, "__redis__err__handler");
    lua_setglobal(L, "__redis__err__handler");  // a global in Redis 7.0 too
    lua_pushnil(L);
    lua_setglobal(L, "debug");

    // Globals protection: scripts see a proxy of the globals.
    lua_pushvalue(L, LUA_GLOBALSINDEX);
    int globals = lua_gettop(L);
    protect_library(L, globals, "string");
    protect_library(L, globals, "table");
    protect_library(L, globals, "math");
    protect_library(L, globals, "coroutine");
    protect_library(L, globals, "redis");
    protect_library(L, globals, "cjson");
    protect_library(L, globals, "bit");
    protect_library(L, globals, "cmsgpack");
    protect_library(L, globals, "struct");
    lua_newtable(L);  // the proxy
    int proxy = lua_gettop(L);
    lua_newtable(L);
    lua_pushvalue(L, globals);
    lua_pushcclosure(L, global_index, 1);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, readonly_error);
    lua_setfield(L, -2, "__newindex");
    lua_pushboolean(L, 0);
    lua_setfield(L, -2, "__metatable");
    lua_setmetatable(L, proxy);
    // Kept for FUNCTION LOAD, which points the proxy at the library API while a library
    // runs, then back at the globals (function_lua.c's luaEngineCreate).
    lua_getmetatable(L, proxy);
    lua_getfield(L, -1, "__index");
    lua_setfield(L, LUA_REGISTRYINDEX, GLOBALS_INDEX_KEY);
    lua_pop(L, 1);
    push_library_api(L, version_num, redis_version);
    lua_setfield(L, LUA_REGISTRYINDEX, LIBRARY_INDEX_KEY);
    lua_pushvalue(L, proxy);
    lua_setfield(L, globals, "_G");
    lua_pushvalue(L, proxy);
    lua_replace(L, LUA_GLOBALSINDEX);
    lua_settop(L, 0);
    return L;
}

void vk_lua_destroy(vk_lua *L) {
    if (L) lua_close(L);
}

int vk_lua_define(vk_lua *L, const char *name, const char *body, size_t len, vk_buf *error) {
    if (luaL_loadbuffer(L, body, len, "@user_script")) {
        size_t n = 0;
        const char *msg = lua_tolstring(L, -1, &n);
        if (msg) buf_add(error, msg, n);
        lua_pop(L, 1);
        return -1;
    }
    lua_setfield(L, LUA_REGISTRYINDEX, name);
    return 0;
}

// An array of the strings, set raw as `name` on the table at `proxy`, or left on the stack
// when `name` is NULL.
static void set_array(lua_State *L, int proxy, const char *name, int n, const char *const *items, const size_t *lens) {
    if (name) lua_pushstring(L, name);
    lua_createtable(L, n, 0);
    for (int j = 0; j < n; j++) {
        lua_pushlstring(L, items[j], lens[j]);
        lua_rawseti(L, -2, j + 1);
    }
    if (name) lua_rawset(L, proxy);
}

// Runs the script `name` (EVAL: KEYS and ARGV as globals) or the function `name` of a
// library (FCALL: keys and args as its two parameters, luaCallFunction's function mode).
static int run_common(vk_lua *L, int function_mode, const char *name, const char *sha, void *context,
                      int nkeys, const char *const *keys, const size_t *key_lens,
                      int nargs, const char *const *args, const size_t *arg_lens,
                      int client_resp, vk_buf *out) {
    int result = 0;
    lua_settop(L, 0);
    lua_getfield(L, LUA_REGISTRYINDEX, "__redis__err__handler");
    if (function_mode) {
        lua_getfield(L, LUA_REGISTRYINDEX, FUNCTIONS_KEY);
        if (lua_istable(L, -1)) lua_getfield(L, -1, name);
        else lua_pushnil(L);
        lua_remove(L, -2);
    } else {
        lua_getfield(L, LUA_REGISTRYINDEX, name);
    }
    if (!lua_isfunction(L, -1)) {
        lua_settop(L, 0);
        buf_str(out, function_mode ? "-ERR Function not found\r\n" : "-NOSCRIPT No matching script. Please use EVAL.\r\n");
        return -1;
    }
    if (function_mode) {
        set_array(L, 0, NULL, nkeys, keys, key_lens);
        set_array(L, 0, NULL, nargs, args, arg_lens);
    } else {
        // KEYS and ARGV are globals of the script (set raw on the globals proxy).
        set_array(L, LUA_GLOBALSINDEX, "KEYS", nkeys, keys, key_lens);
        set_array(L, LUA_GLOBALSINDEX, "ARGV", nargs, args, arg_lens);
    }

    current.context = context;
    current.resp = 2;
    current.repl = 3;
    int err = function_mode ? lua_pcall(L, 2, 1, -4) : lua_pcall(L, 0, 1, -2);

    // Lua's collector in small steps every 50 runs, as Redis (a full cycle costs latency).
    if (++current.gc_count == 50) {
        lua_gc(L, LUA_GCSTEP, 50);
        current.gc_count = 0;
    }
    if (err) {
        if (!lua_istable(L, -1)) {
            const char *msg = lua_isstring(L, -1) ? lua_tostring(L, -1) : "execution failure";
            char text[256];
            int n = snprintf(text, sizeof text, "ERR Error running script %s, %.100s", sha, msg);
            buf_line(out, '-', text, (size_t)n < sizeof text ? (size_t)n : sizeof text - 1);
        } else {
            size_t mlen = 0, slen = 0, llen = 0;
            const char *msg = raw_string_field(L, "err", &mlen);
            lua_getfield(L, -1, "source");
            const char *source = lua_isstring(L, -1) ? lua_tolstring(L, -1, &slen) : NULL;
            lua_getfield(L, -2, "line");
            const char *line = lua_isstring(L, -1) ? lua_tolstring(L, -1, &llen) : NULL;
            vk_buf text = {0};
            if (msg) buf_add(&text, msg, mlen);
            if (source && line) {
                buf_str(&text, " script: ");
                buf_str(&text, sha);
                buf_str(&text, ", on ");
                buf_add(&text, source, slen);
                buf_str(&text, ":");
                buf_add(&text, line, llen);
                buf_str(&text, ".");
            }
            buf_line(out, '-', text.data ? text.data : "", text.len);
            vk_buf_free(&text);
        }
        result = -1;
    } else {
        lua_to_resp(L, out, client_resp);
    }
    current.context = NULL;
    lua_settop(L, 0);
    return result;
}

int vk_lua_run(vk_lua *L, const char *name, const char *sha, void *context,
               int nkeys, const char *const *keys, const size_t *key_lens,
               int nargs, const char *const *args, const size_t *arg_lens,
               int client_resp, vk_buf *out) {
    return run_common(L, 0, name, sha, context, nkeys, keys, key_lens, nargs, args, arg_lens, client_resp, out);
}

int vk_lua_call_function(vk_lua *L, const char *name, void *context,
                         int nkeys, const char *const *keys, const size_t *key_lens,
                         int nargs, const char *const *args, const size_t *arg_lens,
                         int client_resp, vk_buf *out) {
    return run_common(L, 1, name, name, context, nkeys, keys, key_lens, nargs, args, arg_lens, client_resp, out);
}

int vk_lua_replicates(void) { return (current.repl & 2) != 0; }

size_t vk_lua_memory(vk_lua *L) { return (size_t)lua_gc(L, LUA_GCCOUNT, 0) * 1024; }

// MARK: long-running scripts (script_lua.c's luaMaskCountHook)

static __thread vk_lua_interrupt_hook interrupt_hook;

static void count_hook(lua_State *L, lua_Debug *ar) {
    (void)ar;
    if (!current.context || !interrupt_hook || !interrupt_hook(current.context)) return;
    // Killed: from now on at every line, so a pcall that catches this cannot run on.
    lua_sethook(L, count_hook, LUA_MASKLINE, 0);
    push_error(L, "Script killed by user with SCRIPT KILL...");
    lua_error(L);
}

void vk_lua_watch(vk_lua *L, vk_lua_interrupt_hook hook) {
    interrupt_hook = hook;
    if (hook) lua_sethook(L, count_hook, LUA_MASKCOUNT, 100000);
    else lua_sethook(L, NULL, 0, 0);
}
