// struct for scripts: binary packing as the struct library Redis bundles (Roberto
// Ierusalimschy's struct 0.2, which Debian lacks), written for this project:
// struct.pack(fmt, ...), struct.unpack(fmt, data [, pos]), struct.size(fmt).
// Formats: > < (endianness), ![n] (maximum alignment), x (a pad byte), b B h H l L T,
// i[n] I[n] (integers of n bytes, at most 32), f d, s (zero-terminated), c[n] (n bytes;
// c0: the whole string when packing, the previous number's length when unpacking).
#include <lua5.1/lua.h>
#include <lua5.1/lauxlib.h>
#include <ctype.h>
#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define MAX_INT_SIZE 32
#define MAX_ALIGN 8  // x86_64's largest alignment (Lua's LUAI_MAXALIGN)

enum { LITTLE = 0, BIG = 1 };

typedef struct layout {
    int endian;
    int align;
} layout;

static int digits(lua_State *L, const char **fmt, int otherwise) {
    if (!isdigit((unsigned char)**fmt)) return otherwise;
    int n = 0;
    do {
        if (n > INT_MAX / 10 || n * 10 > INT_MAX - (**fmt - '0')) luaL_error(L, "integral size overflow");
        n = n * 10 + (*(*fmt)++ - '0');
    } while (isdigit((unsigned char)**fmt));
    return n;
}

// The size of an option's item (0 for control options and 's').
static size_t item_size(lua_State *L, int opt, const char **fmt) {
    switch (opt) {
    case 'B': case 'b': return sizeof(char);
    case 'H': case 'h': return sizeof(short);
    case 'L': case 'l': return sizeof(long);
    case 'T': return sizeof(size_t);
    case 'f': return sizeof(float);
    case 'd': return sizeof(double);
    case 'x': return 1;
    case 'c': return (size_t)digits(L, fmt, 1);
    case 'i': case 'I': {
        int n = digits(L, fmt, sizeof(int));
        if (n > MAX_INT_SIZE) luaL_error(L, "integral size %d is larger than limit of %d", n, MAX_INT_SIZE);
        return (size_t)n;
    }
    default: return 0;
    }
}

// Padding before an item of `size` at offset `len`.
static size_t padding(size_t len, const layout *h, int opt, size_t size) {
    if (size == 0 || opt == 'c') return 0;
    if (size > (size_t)h->align) size = (size_t)h->align;
    return (size - (len & (size - 1))) & (size - 1);
}

static void control(lua_State *L, int opt, const char **fmt, layout *h) {
    switch (opt) {
    case ' ': return;
    case '>': h->endian = BIG; return;
    case '<': h->endian = LITTLE; return;
    case '!': {
        int a = digits(L, fmt, MAX_ALIGN);
        if (a <= 0 || (a & (a - 1)) != 0) luaL_error(L, "alignment %d is not a power of 2", a);
        h->align = a;
        return;
    }
    default:
        luaL_argerror(L, 1, lua_pushfstring(L, "invalid format option '%c'", opt));
    }
}

// Puts a float or double's bytes in the wanted order (the machine is little-endian).
static void order(char *p, size_t size, int endian) {
    if (endian == LITTLE) return;
    for (size_t i = 0, j = size - 1; i < j; i++, j--) {
        char t = p[i];
        p[i] = p[j];
        p[j] = t;
    }
}

static void put_integer(lua_State *L, luaL_Buffer *b, int arg, int endian, size_t size) {
    lua_Number n = luaL_checknumber(L, arg);
    unsigned long long value = n < 0 ? (unsigned long long)(long long)n : (unsigned long long)n;
    char bytes[MAX_INT_SIZE];
    for (size_t i = 0; i < size; i++) {
        size_t at = endian == LITTLE ? i : size - 1 - i;
        bytes[at] = (char)(value & 0xff);
        value = i < 7 ? value >> 8 : 0;
    }
    luaL_addlstring(b, bytes, size);
}

static int struct_pack(lua_State *L) {
    const char *fmt = luaL_checkstring(L, 1);
    layout h = {LITTLE, 1};
    int arg = 2;
    size_t total = 0;
    luaL_Buffer b;
    lua_pushnil(L);  // keeps the arguments apart from the buffer's stack slots
    luaL_buffinit(L, &b);
    while (*fmt) {
        int opt = *fmt++;
        size_t size = item_size(L, opt, &fmt);
        size_t pad = padding(total, &h, opt, size);
        total += pad;
        while (pad-- > 0) luaL_addchar(&b, '\0');
        switch (opt) {
        case 'b': case 'B': case 'h': case 'H': case 'l': case 'L': case 'T': case 'i': case 'I':
            put_integer(L, &b, arg++, h.endian, size);
            break;
        case 'x':
            luaL_addchar(&b, '\0');
            break;
        case 'f': {
            float f = (float)luaL_checknumber(L, arg++);
            order((char *)&f, size, h.endian);
            luaL_addlstring(&b, (char *)&f, size);
            break;
        }
        case 'd': {
            double d = luaL_checknumber(L, arg++);
            order((char *)&d, size, h.endian);
            luaL_addlstring(&b, (char *)&d, size);
            break;
        }
        case 'c': case 's': {
            size_t l;
            const char *s = luaL_checklstring(L, arg++, &l);
            if (size == 0) size = l;
            luaL_argcheck(L, l >= size, arg, "string too short");
            luaL_addlstring(&b, s, size);
            if (opt == 's') {
                luaL_addchar(&b, '\0');
                size++;
            }
            break;
        }
        default:
            control(L, opt, &fmt, &h);
        }
        total += size;
    }
    luaL_pushresult(&b);
    return 1;
}

static lua_Number get_integer(const char *p, int endian, int is_signed, size_t size) {
    unsigned long long v = 0;
    for (size_t i = 0; i < size; i++) {
        size_t at = endian == BIG ? i : size - 1 - i;
        v = (v << 8) | (unsigned char)p[at];
    }
    if (!is_signed) return (lua_Number)v;
    if (size < 8) {
        unsigned long long sign = 1ULL << (size * 8 - 1);
        if (v & sign) v |= ~0ULL << (size * 8 - 1);
    }
    return (lua_Number)(long long)v;
}

static int struct_unpack(lua_State *L) {
    const char *fmt = luaL_checkstring(L, 1);
    size_t length;
    const char *data = luaL_checklstring(L, 2, &length);
    size_t pos = (size_t)luaL_optinteger(L, 3, 1) - 1;
    int n = 0;
    luaL_argcheck(L, pos <= length, 3, "offset must be 1 or greater");
    layout h = {LITTLE, 1};
    while (*fmt) {
        int opt = *fmt++;
        size_t size = item_size(L, opt, &fmt);
        pos += padding(pos, &h, opt, size);
        luaL_argcheck(L, pos <= length && size <= length - pos, 2, "data string too short");
        luaL_checkstack(L, 2, "too many results");
        switch (opt) {
        case 'b': case 'B': case 'h': case 'H': case 'l': case 'L': case 'T': case 'i': case 'I':
            lua_pushnumber(L, get_integer(data + pos, h.endian, islower(opt), size));
            n++;
            break;
        case 'x':
            break;
        case 'f': {
            float f;
            memcpy(&f, data + pos, size);
            order((char *)&f, sizeof f, h.endian);
            lua_pushnumber(L, f);
            n++;
            break;
        }
        case 'd': {
            double d;
            memcpy(&d, data + pos, size);
            order((char *)&d, sizeof d, h.endian);
            lua_pushnumber(L, d);
            n++;
            break;
        }
        case 'c':
            if (size == 0) {
                if (n == 0 || !lua_isnumber(L, -1)) luaL_error(L, "format 'c0' needs a previous size");
                size = (size_t)lua_tonumber(L, -1);
                lua_pop(L, 1);
                n--;
                luaL_argcheck(L, size <= length - pos, 2, "data string too short");
            }
            lua_pushlstring(L, data + pos, size);
            n++;
            break;
        case 's': {
            const char *end = memchr(data + pos, '\0', length - pos);
            if (!end) luaL_error(L, "unfinished string in data");
            size = (size_t)(end - (data + pos)) + 1;
            lua_pushlstring(L, data + pos, size - 1);
            n++;
            break;
        }
        default:
            control(L, opt, &fmt, &h);
        }
        pos += size;
    }
    lua_pushinteger(L, (lua_Integer)pos + 1);
    return n + 1;
}

static int struct_size(lua_State *L) {
    const char *fmt = luaL_checkstring(L, 1);
    layout h = {LITTLE, 1};
    size_t pos = 0;
    while (*fmt) {
        int opt = *fmt++;
        size_t size = item_size(L, opt, &fmt);
        pos += padding(pos, &h, opt, size);
        if (opt == 's') luaL_argerror(L, 1, "option 's' has no fixed size");
        else if (opt == 'c' && size == 0) luaL_argerror(L, 1, "option 'c0' has no fixed size");
        if (!isalnum(opt)) control(L, opt, &fmt, &h);
        pos += size;
    }
    lua_pushinteger(L, (lua_Integer)pos);
    return 1;
}

int vk_luaopen_struct(lua_State *L) {
    static const luaL_Reg functions[] = {
        {"pack", struct_pack}, {"unpack", struct_unpack}, {"size", struct_size}, {NULL, NULL},
    };
    lua_newtable(L);
    luaL_register(L, NULL, functions);
    return 1;
}
