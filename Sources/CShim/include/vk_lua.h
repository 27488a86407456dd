// The Lua 5.1 interpreter scripts run in (EVAL and friends), set up as Redis 7.0 sets up
// its own: the sandbox, the redis.* library, the conversions between Lua values and RESP.
// Everything that touches the Lua stack lives in vk_lua.c: Lua reports errors by longjmp,
// which must never cross Swift frames, so Swift only calls these functions and answers
// the command hook. lua.h stays out of this header (Swift targets need no include path).
#ifndef VALKEYPER_LUA_H
#define VALKEYPER_LUA_H

#include <stddef.h>
#include <stdint.h>

typedef struct lua_State vk_lua;

// A growable byte buffer the C side writes replies into; Swift copies them out.
typedef struct vk_buf {
    char *data;
    size_t len, cap;
} vk_buf;
void vk_buf_free(vk_buf *b);

// redis.call/pcall: runs `argv` as a command of the script in progress (its context, the
// RESP version chosen by redis.setresp). Returns 0 with the reply's RESP bytes in
// *reply/*reply_len (valid until the next call), or 1 with an error text in them (Redis's
// "-CODE msg", or a bare message that gets "ERR " in front), or 2 to abandon the run: the
// error text is raised and raised again at every line, so no pcall lets it go on (the
// caller discards the run; the next vk_lua_watch resets the hook).
typedef int (*vk_lua_command_hook)(void *context, int resp, int argc, const char *const *argv, const size_t *lens,
                                   const char **reply, size_t *reply_len);
// redis.log: level 0..3 (debug, verbose, notice, warning), the joined message.
typedef void (*vk_lua_log_hook)(int level, const char *message, size_t len);

// A new interpreter with Redis's libraries, redis.* and the global protection.
vk_lua *vk_lua_create(vk_lua_command_hook command, vk_lua_log_hook log, const char *redis_version, int version_num);
void vk_lua_destroy(vk_lua *L);

// Compiles `body` (chunk "@user_script") and keeps it in the registry under `name`
// ("f_<sha>"). Returns 0, or -1 with Lua's message in `error`.
int vk_lua_define(vk_lua *L, const char *name, const char *body, size_t len, vk_buf *error);

// Runs the function `name` with KEYS and ARGV; its return value (or its error, as Redis
// words it, naming `sha`) goes to `out` as RESP for a client speaking `client_resp`.
// Returns 0 on success, -1 when `out` holds an error reply.
int vk_lua_run(vk_lua *L, const char *name, const char *sha, void *context,
               int nkeys, const char *const *keys, const size_t *key_lens,
               int nargs, const char *const *args, const size_t *arg_lens,
               int client_resp, vk_buf *out);

// FUNCTION LOAD: runs a library's code (after its shebang line; chunk "@user_function")
// with only the library API visible (redis.register_function, redis.log, the version),
// stopping it after `timeout_ms` (0: never); `quiet` drops its redis.log lines. On success every function it registered is
// kept under its name for vk_lua_call_function and reported to `hook`, in order (flags:
// no-writes 2, allow-oom 4, allow-stale 8, no-cluster 16, allow-cross-slot-keys 32;
// `desc` NULL without a description). Returns 0, or -1 with Redis's error text in `error`.
typedef void (*vk_lua_register_hook)(void *context, const char *name, size_t name_len, const char *desc,
                                     size_t desc_len, int flags);
int vk_lua_load_library(vk_lua *L, const char *code, size_t len, long timeout_ms, int quiet, vk_lua_register_hook hook,
                        void *context, vk_buf *error);

// FCALL: runs the library function `name` with its keys and args tables; as vk_lua_run,
// errors name the function.
int vk_lua_call_function(vk_lua *L, const char *name, void *context,
                         int nkeys, const char *const *keys, const size_t *key_lens,
                         int nargs, const char *const *args, const size_t *arg_lens,
                         int client_resp, vk_buf *out);

// Whether the running script's writes reach replicas (redis.set_repl: REPL_REPLICA set).
int vk_lua_replicates(void);

// Long-running scripts (busy-reply-threshold): the interrupt hook is called every 100k
// Lua instructions of the run in progress (Redis's luaMaskCountHook) with its context;
// returning nonzero kills the script ("Script killed by user with SCRIPT KILL...", raised
// again at every line after, so pcall cannot catch it for good). vk_lua_watch installs
// the count hook for the next runs (hook NULL: none), as Redis does when the threshold > 0.
typedef int (*vk_lua_interrupt_hook)(void *context);
void vk_lua_watch(vk_lua *L, vk_lua_interrupt_hook hook);

// Lua's memory use in bytes (INFO's used_memory_lua).
size_t vk_lua_memory(vk_lua *L);

// SHA1 of `data` as 40 lowercase hex digits and a NUL, into `hex` (libcrypto).
void vk_sha1hex(const void *data, size_t len, char hex[41]);

#endif
