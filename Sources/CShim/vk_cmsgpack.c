// cmsgpack for scripts: MessagePack as Redis's bundled lua_cmsgpack encodes and decodes
// it (the library Debian lacks), written for this project: pack(...), unpack(s),
// unpack_one(s, offset), unpack_limit(s, limit, offset).
#include <lua5.1/lua.h>
#include <lua5.1/lauxlib.h>
#include <math.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>

#define MAX_NESTING 16

// MARK: encoding (into a malloc'd buffer: luaL_Buffer moves the stack top, and the
// encoder walks values on the stack)

typedef struct mbuf {
    unsigned char *data;
    size_t len, cap;
} mbuf;

static void add(mbuf *b, const void *p, size_t n) {
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < b->len + n) cap *= 2;
        b->data = realloc(b->data, cap);
        b->cap = cap;
    }
    memcpy(b->data + b->len, p, n);
    b->len += n;
}

static void add_byte(mbuf *b, unsigned char c) { add(b, &c, 1); }

static void put_be(mbuf *b, unsigned char tag, uint64_t v, int bytes) {
    unsigned char tmp[9];
    tmp[0] = tag;
    for (int i = 0; i < bytes; i++) tmp[1 + i] = (unsigned char)(v >> (8 * (bytes - 1 - i)));
    add(b, tmp, (size_t)bytes + 1);
}

static void encode_bytes(mbuf *b, const char *s, size_t len) {
    if (len < 32) add_byte(b, (unsigned char)(0xa0 | len));
    else if (len <= 0xff) put_be(b, 0xd9, len, 1);
    else if (len <= 0xffff) put_be(b, 0xda, len, 2);
    else put_be(b, 0xdb, len, 4);
    add(b, s, len);
}

static void encode_int(mbuf *b, int64_t n) {
    if (n >= 0) {
        if (n <= 127) add_byte(b, (unsigned char)n);
        else if (n <= 0xff) put_be(b, 0xcc, (uint64_t)n, 1);
        else if (n <= 0xffff) put_be(b, 0xcd, (uint64_t)n, 2);
        else if (n <= 0xffffffffLL) put_be(b, 0xce, (uint64_t)n, 4);
        else put_be(b, 0xcf, (uint64_t)n, 8);
    } else {
        if (n >= -32) add_byte(b, (unsigned char)(int8_t)n);
        else if (n >= -128) put_be(b, 0xd0, (uint64_t)n & 0xff, 1);
        else if (n >= -32768) put_be(b, 0xd1, (uint64_t)n & 0xffff, 2);
        else if (n >= -2147483648LL) put_be(b, 0xd2, (uint64_t)n & 0xffffffff, 4);
        else put_be(b, 0xd3, (uint64_t)n, 8);
    }
}

static void encode_number(mbuf *b, lua_Number n) {
    if (!isinf(n) && !isnan(n) && n >= -9223372036854775808.0 && n < 9223372036854775808.0
        && (lua_Number)(int64_t)n == n) {
        encode_int(b, (int64_t)n);
        return;
    }
    float f = (float)n;
    if ((double)f == n) {  // fits a float32 exactly
        uint32_t bits;
        memcpy(&bits, &f, 4);
        put_be(b, 0xca, bits, 4);
    } else {
        uint64_t bits;
        double d = n;
        memcpy(&bits, &d, 8);
        put_be(b, 0xcb, bits, 8);
    }
}

// A table is an array when its keys are exactly 1..n (the empty table too).
static int table_is_array(lua_State *L, int index, size_t *count) {
    lua_Number max = 0;
    size_t n = 0;
    lua_pushnil(L);
    while (lua_next(L, index)) {
        lua_pop(L, 1);
        if (lua_type(L, -1) != LUA_TNUMBER) { lua_pop(L, 1); return 0; }
        lua_Number k = lua_tonumber(L, -1);
        if (k <= 0 || floor(k) != k) { lua_pop(L, 1); return 0; }
        if (k > max) max = k;
        n++;
    }
    *count = n;
    return max == (lua_Number)n;
}

static void encode_value(lua_State *L, mbuf *b, int level);

static void encode_table(lua_State *L, mbuf *b, int level) {
    int index = lua_gettop(L);
    size_t n = 0;
    if (table_is_array(L, index, &n)) {
        if (n <= 15) add_byte(b, (unsigned char)(0x90 | n));
        else if (n <= 0xffff) put_be(b, 0xdc, n, 2);
        else put_be(b, 0xdd, n, 4);
        for (size_t j = 1; j <= n; j++) {
            lua_rawgeti(L, index, (int)j);
            encode_value(L, b, level + 1);
        }
        return;
    }
    n = 0;
    lua_pushnil(L);
    while (lua_next(L, index)) { lua_pop(L, 1); n++; }
    if (n <= 15) add_byte(b, (unsigned char)(0x80 | n));
    else if (n <= 0xffff) put_be(b, 0xde, n, 2);
    else put_be(b, 0xdf, n, 4);
    lua_pushnil(L);
    while (lua_next(L, index)) {
        lua_pushvalue(L, -2);
        encode_value(L, b, level + 1);  // the key
        encode_value(L, b, level + 1);  // the value
    }
}

// Encodes and pops the value on top of the stack.
static void encode_value(lua_State *L, mbuf *b, int level) {
    int t = lua_checkstack(L, 4) ? lua_type(L, -1) : LUA_TNIL;
    switch (t) {
    case LUA_TSTRING: {
        size_t len;
        const char *s = lua_tolstring(L, -1, &len);
        encode_bytes(b, s, len);
        break;
    }
    case LUA_TBOOLEAN:
        add_byte(b, lua_toboolean(L, -1) ? 0xc3 : 0xc2);
        break;
    case LUA_TNUMBER:
        encode_number(b, lua_tonumber(L, -1));
        break;
    case LUA_TTABLE:
        if (level >= MAX_NESTING) add_byte(b, 0xc0);
        else encode_table(L, b, level);
        break;
    default:
        add_byte(b, 0xc0);
    }
    lua_pop(L, 1);
}

static int mp_pack(lua_State *L) {
    int argc = lua_gettop(L);
    if (argc == 0) return luaL_argerror(L, 0, "MessagePack pack needs input.");
    mbuf b = {0};
    for (int i = 1; i <= argc; i++) {
        lua_pushvalue(L, i);
        encode_value(L, &b, 0);
    }
    lua_pushlstring(L, b.data ? (const char *)b.data : "", b.len);
    free(b.data);
    return 1;
}

// MARK: decoding

typedef struct cursor {
    const unsigned char *p;
    size_t left;
    int err;  // 1: missing bytes, 2: bad data
} cursor;

static uint64_t get_be(const unsigned char *p, int bytes) {
    uint64_t v = 0;
    for (int i = 0; i < bytes; i++) v = (v << 8) | p[i];
    return v;
}

static int need(cursor *c, size_t n) {
    if (c->left < n) { c->err = 1; return 0; }
    return 1;
}

static void decode_value(lua_State *L, cursor *c);

static void decode_string(lua_State *L, cursor *c, size_t header, size_t len) {
    if (!need(c, header + len)) return;
    lua_pushlstring(L, (const char *)c->p + header, len);
    c->p += header + len;
    c->left -= header + len;
}

static void decode_array(lua_State *L, cursor *c, size_t header, size_t n) {
    c->p += header;
    c->left -= header;
    lua_newtable(L);
    for (size_t j = 1; j <= n; j++) {
        lua_pushnumber(L, (lua_Number)j);
        decode_value(L, c);
        if (c->err) return;
        lua_settable(L, -3);
    }
}

static void decode_map(lua_State *L, cursor *c, size_t header, size_t n) {
    c->p += header;
    c->left -= header;
    lua_newtable(L);
    for (size_t j = 0; j < n; j++) {
        decode_value(L, c);
        if (c->err) return;
        decode_value(L, c);
        if (c->err) return;
        lua_settable(L, -3);
    }
}

static void decode_value(lua_State *L, cursor *c) {
    luaL_checkstack(L, 4, "cmsgpack: nesting too deep");
    if (!need(c, 1)) return;
    unsigned char t = c->p[0];
    const unsigned char *p = c->p;
    size_t skip = 0;
    if (t <= 0x7f) { lua_pushnumber(L, t); skip = 1; }
    else if (t >= 0xe0) { lua_pushnumber(L, (int8_t)t); skip = 1; }
    else if ((t & 0xe0) == 0xa0) { decode_string(L, c, 1, t & 0x1f); return; }
    else if ((t & 0xf0) == 0x90) { decode_array(L, c, 1, t & 0x0f); return; }
    else if ((t & 0xf0) == 0x80) { decode_map(L, c, 1, t & 0x0f); return; }
    else {
        switch (t) {
        case 0xc0: lua_pushnil(L); skip = 1; break;
        case 0xc2: lua_pushboolean(L, 0); skip = 1; break;
        case 0xc3: lua_pushboolean(L, 1); skip = 1; break;
        case 0xcc: if (!need(c, 2)) return; lua_pushnumber(L, p[1]); skip = 2; break;
        case 0xcd: if (!need(c, 3)) return; lua_pushnumber(L, (lua_Number)get_be(p + 1, 2)); skip = 3; break;
        case 0xce: if (!need(c, 5)) return; lua_pushnumber(L, (lua_Number)get_be(p + 1, 4)); skip = 5; break;
        case 0xcf: if (!need(c, 9)) return; lua_pushnumber(L, (lua_Number)get_be(p + 1, 8)); skip = 9; break;
        case 0xd0: if (!need(c, 2)) return; lua_pushnumber(L, (int8_t)p[1]); skip = 2; break;
        case 0xd1: if (!need(c, 3)) return; lua_pushnumber(L, (int16_t)get_be(p + 1, 2)); skip = 3; break;
        case 0xd2: if (!need(c, 5)) return; lua_pushnumber(L, (int32_t)get_be(p + 1, 4)); skip = 5; break;
        case 0xd3: if (!need(c, 9)) return; lua_pushnumber(L, (lua_Number)(int64_t)get_be(p + 1, 8)); skip = 9; break;
        case 0xca: {
            if (!need(c, 5)) return;
            uint32_t bits = (uint32_t)get_be(p + 1, 4);
            float f;
            memcpy(&f, &bits, 4);
            lua_pushnumber(L, f);
            skip = 5;
            break;
        }
        case 0xcb: {
            if (!need(c, 9)) return;
            uint64_t bits = get_be(p + 1, 8);
            double d;
            memcpy(&d, &bits, 8);
            lua_pushnumber(L, d);
            skip = 9;
            break;
        }
        case 0xc4: case 0xd9: if (!need(c, 2)) return; decode_string(L, c, 2, p[1]); return;
        case 0xc5: case 0xda: if (!need(c, 3)) return; decode_string(L, c, 3, get_be(p + 1, 2)); return;
        case 0xc6: case 0xdb: if (!need(c, 5)) return; decode_string(L, c, 5, get_be(p + 1, 4)); return;
        case 0xdc: if (!need(c, 3)) return; decode_array(L, c, 3, get_be(p + 1, 2)); return;
        case 0xdd: if (!need(c, 5)) return; decode_array(L, c, 5, get_be(p + 1, 4)); return;
        case 0xde: if (!need(c, 3)) return; decode_map(L, c, 3, get_be(p + 1, 2)); return;
        case 0xdf: if (!need(c, 5)) return; decode_map(L, c, 5, get_be(p + 1, 4)); return;
        default: c->err = 2; return;
        }
    }
    c->p += skip;
    c->left -= skip;
}

static int unpack_full(lua_State *L, int limit, int offset) {
    size_t len;
    const char *s = luaL_checklstring(L, 1, &len);
    if (offset < 0 || limit < 0)
        return luaL_error(L, "Invalid request to unpack with offset of %d and limit of %d.", offset, (int)len);
    if ((size_t)offset > len) return luaL_error(L, "Start offset %d greater than input length %d.", offset, (int)len);
    int decode_all = !limit && !offset;
    cursor c = {(const unsigned char *)s + offset, len - (size_t)offset, 0};
    int count = 0;
    for (; c.left > 0 && (count < limit || decode_all); count++) {
        decode_value(L, &c);
        if (c.err == 1) return luaL_error(L, "Missing bytes in input.");
        if (c.err == 2) return luaL_error(L, "Bad data format in input.");
    }
    if (!decode_all) {
        lua_checkstack(L, 1);
        lua_pushinteger(L, c.left == 0 ? -1 : (lua_Integer)(len - c.left));
        lua_insert(L, 2);
        count += 1;
    }
    return count;
}

// The results go above the input string only: the other arguments are dropped first.
static int mp_unpack(lua_State *L) { return unpack_full(L, 0, 0); }
static int mp_unpack_one(lua_State *L) {
    int offset = (int)luaL_optinteger(L, 2, 0);
    lua_pop(L, lua_gettop(L) - 1);
    return unpack_full(L, 1, offset);
}
static int mp_unpack_limit(lua_State *L) {
    int limit = (int)luaL_checkinteger(L, 2);
    int offset = (int)luaL_optinteger(L, 3, 0);
    lua_pop(L, lua_gettop(L) - 1);
    return unpack_full(L, limit, offset);
}

int vk_luaopen_cmsgpack(lua_State *L) {
    static const luaL_Reg functions[] = {
        {"pack", mp_pack}, {"unpack", mp_unpack}, {"unpack_one", mp_unpack_one}, {"unpack_limit", mp_unpack_limit},
        {NULL, NULL},
    };
    lua_newtable(L);
    luaL_register(L, NULL, functions);
    lua_pushliteral(L, "lua-cmsgpack");
    lua_setfield(L, -2, "_NAME");
    lua_pushliteral(L, "lua-cmsgpack 0.4.0");
    lua_setfield(L, -2, "_VERSION");
    lua_pushliteral(L, "Copyright (C) 2012, Salvatore Sanfilippo");
    lua_setfield(L, -2, "_COPYRIGHT");
    lua_pushliteral(L, "MessagePack C implementation for Lua");
    lua_setfield(L, -2, "_DESCRIPTION");
    return 1;
}
