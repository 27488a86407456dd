"""Functions (FUNCTION LOAD/DELETE/LIST/DUMP/RESTORE/FLUSH/STATS/KILL/HELP, FCALL, FCALL_RO)
against redis-server 7.0: reply bytes and error texts in RESP2 and RESP3 (Redis's
tests/unit/functions.tcl cases, ported as differential checks), libraries seen by every
worker, DUMP payloads and RDB files exchanged with redis-server both ways, DEBUG RELOAD
and FLUSHALL keeping them, and FUNCTION commands reaching a redis-server replica and the AOF.

FUNCTION LIST's order is a hash table's in Redis (nondeterministic_output_order): lists of
several libraries are compared sorted."""
import pytest

from support.differential import paired, redis_dump_into, same
from support.info import info
from support.marks import needs_redis
from support.processes import REDIS_SERVER, shards
from support.replication import link_up
from support.resp import Error
from support.waiting import wait_until

SERVER_ARGS = ("--enable-debug-command", "yes")


def code(name, fn, body, engine="LUA"):
    """functions.tcl's get_function_code: a library `name` with one function `fn`."""
    return "#!%s name=%s\nredis.register_function('%s', function(KEYS, ARGV)\n %s \nend)" % (engine, name, fn, body)


def no_writes_code(name, fn, body, engine="LUA"):
    """functions.tcl's get_no_writes_function_code."""
    return ("#!%s name=%s\nredis.register_function{function_name='%s', callback=function(KEYS, ARGV)\n %s \nend, "
            "flags={'no-writes'}}" % (engine, name, fn, body))


@pytest.fixture(params=[2, 3], ids=["resp2", "resp3"])
def both(request, server, redis_port):
    """A connection to each server (redis first), data and functions flushed, in RESP2 or 3."""
    with paired(server, redis_port) as conns:
        for c in conns:
            assert c.cmd("FUNCTION", "FLUSH") == "OK"
            if request.param == 3:
                c.cmd("HELLO", "3")
        yield conns
        for c in conns:
            c.cmd("FUNCTION", "FLUSH")


def error(reply):
    assert isinstance(reply, Error), reply
    return str(reply)


def sorted_list(reply):
    """FUNCTION LIST as comparable data: libraries by name, functions by name (RESP2 or 3)."""
    def as_dict(entry):
        if isinstance(entry, dict):
            return {k.decode() if isinstance(k, bytes) else k: v for k, v in entry.items()}
        return {entry[i].decode(): entry[i + 1] for i in range(0, len(entry), 2)}
    libraries = []
    for lib in reply:
        lib = as_dict(lib)
        lib["functions"] = sorted((as_dict(f) for f in lib["functions"]), key=lambda f: f["name"])
        for f in lib["functions"]:
            f["flags"] = sorted(f["flags"])
        libraries.append(lib)
    return sorted(libraries, key=lambda lib: lib["library_name"])


# MARK: behaviour, byte for byte

def test_basic_usage_and_errors_match_redis(both):
    """functions.tcl's FUNCTION tests: load, replace, errors of LOAD/FCALL/DELETE/KILL/RESTORE."""
    same(both,
         ("FUNCTION", "LIST"),
         ("FUNCTION", "LOAD", code("test", "test", "return 'hello'")),
         ("FCALL", "test", "0"),
         ("FUNCTION", "LOAD", "foo", "bar", code("test", "test", "return 'hello'")),
         ("FUNCTION", "LOAD", code("test", "test", "return 'hello1'")),
         ("FUNCTION", "LOAD", code("TEST", "test", "return 'hello1'")),
         ("FUNCTION", "LOAD", code("bad\0foramat", "test", "return 'hello1'")),
         ("FUNCTION", "LOAD", code("test", "test", "return 'hello1'", engine="bad_engine")),
         ("FUNCTION", "LOAD", "REPLACE", code("test", "test", "bad script")),
         ("FCALL", "test", "0"),
         ("FUNCTION", "LOAD", "REPLACE", code("test", "test", "return 'hello1'")),
         ("FCALL", "test", "0"),
         ("FCALL", "TEST", "0"),
         ("FUNCTION", "LOAD", "REPLACE", code("test", "test", "error('x')", engine="bad_engine")),
         ("FCALL", "test", "0"),
         ("FUNCTION", "DELETE", "test"),
         ("FCALL", "test", "0"),
         ("FUNCTION", "LOAD", code("test", "test", "return 'hello'")),
         ("FCALL", "test", "bad_arg"),
         ("FCALL", "test", "10", "key1"),
         ("FCALL", "test", "-1", "key1"),
         ("FCALL", "nosuch", "0"),
         ("FCALL", "nosuch", "bad"),
         ("FUNCTION", "DELETE", "test1"),
         ("FUNCTION", "KILL"),
         ("FUNCTION", "STATS"),
         ("FUNCTION", "HELP"),
         ("FUNCTION", "bad_subcommand"),
         ("FUNCTION", "RESTORE", "bad payload"),
         ("FUNCTION", "RESTORE", "bad payload", "bad policy"),
         ("FUNCTION", "RESTORE", "a", "b", "c"),
         ("FUNCTION", "FLUSH", "bad"),
         ("FUNCTION", "FLUSH", "sync", "extra"),
         ("FUNCTION", "LOAD"),
         ("FUNCTION", "LOAD", "REPLACE"),
         ("FUNCTION", "LIST", "bad_argument"),
         ("FUNCTION", "LIST", "libraryname"),
         ("FUNCTION", "LIST", "withcode", "withcode"),
         ("FUNCTION", "LIST", "libraryname", "foo", "libraryname", "foo"),
         ("FUNCTION", "LIST", "WITHCODE"),
         ("FUNCTION", "LIST", "LIBRARYNAME", "te*"),
         ("FUNCTION", "LIST", "LIBRARYNAME", "nomatch*", "WITHCODE"),
         ("FUNCTION", "FLUSH"),
         ("FUNCTION", "STATS"),
         ("FCALL", "test", "0"))


def test_keys_args_flags_and_fcall_ro_match_redis(both):
    """Keys and arguments as the function's parameters, no-writes, FCALL_RO's refusals,
    run-time errors naming the function, replies converted as EVAL's."""
    same(both,
         ("FUNCTION", "LOAD", "REPLACE", code("test", "test", "return redis.call('set', KEYS[1], ARGV[1])")),
         ("FCALL", "test", "1", "x{t}", "foo"),
         ("GET", "x{t}"),
         ("FCALL_RO", "test", "1", "x{t}", "foo"),
         ("FUNCTION", "LOAD", "REPLACE", no_writes_code("test", "test", "return redis.call('set', 'x', '1')")),
         ("FCALL_RO", "test", "0"),
         ("FCALL", "test", "0"),
         ("FUNCTION", "LOAD", "REPLACE", no_writes_code("test", "test", "return redis.call('get', KEYS[1])")),
         ("FCALL_RO", "test", "1", "x{t}"),
         ("FCALL", "test", "1", "x{t}"),
         ("FUNCTION", "LOAD", "REPLACE", code("test", "test", "return {KEYS, ARGV, #KEYS, #ARGV}")),
         ("FCALL", "test", "2", "a{t}", "b{t}", "c", "d", "e"),
         ("FCALL", "test", "0"),
         ("FUNCTION", "LOAD", "REPLACE", code("test", "test", "return redis.call('nosuch')")),
         ("FCALL", "test", "0"),
         ("FUNCTION", "LOAD", "REPLACE", code("test", "test", "return error('boom')")),
         ("FCALL", "test", "0"),
         ("FUNCTION", "LOAD", "REPLACE", code("test", "test", "return redis.error_reply('MY err')")),
         ("FCALL", "test", "0"),
         ("FUNCTION", "LOAD", "REPLACE", code("test", "test", "return redis.pcall('incr', KEYS[1])")),
         ("FCALL", "test", "1", "x{t}"),
         ("FUNCTION", "LOAD", "REPLACE", code("test", "test",
                                               "redis.setresp(3) return {redis.call('hgetall', KEYS[1]), {double=1.5}, true}")),
         ("HSET", "h{t}", "a", "1"),
         ("FCALL", "test", "1", "h{t}"),
         ("FUNCTION", "LOAD", "REPLACE", code("test", "test", "return KEYS")),
         ("FCALL", "test", "0"),
         ("FUNCTION", "LOAD", "REPLACE", code("test", "test", "return redis.REDIS_VERSION_NUM > 0")),
         ("FCALL", "test", "0"))


def test_library_api_and_sandbox_match_redis(both):
    """functions.tcl's LIBRARIES tests: what a library sees while it loads (only
    redis.register_function, log and the version), registration errors, named arguments,
    flags, global protection at load and at run time."""
    lib = "#!lua name=lib1\n"
    commands = [
        ("FUNCTION", "LOAD", lib + "local function ping() return redis.call('ping') end\n"
                                   "redis.register_function('f1', function(keys, args) return ping() end)"),
        ("FCALL", "f1", "0"),
        ("FUNCTION", "LOAD", "REPLACE", lib + "local function add1(a) return a + 1 end\n"
                                              "redis.register_function('add1', function(keys, args) return add1(1) end)\n"
                                              "redis.register_function('inc', function(keys, args) return add1(2) end)"),
        ("FCALL", "add1", "0"), ("FCALL", "inc", "0"),
        ("FUNCTION", "LOAD", "REPLACE", lib + "redis.register_function('f1', function() return 1 end)\n"
                                              "redis.register_function('f2', 'not a function')"),
        ("FCALL", "add1", "0"),
        ("FUNCTION", "LOAD", "#!lua name=lib2\nredis.register_function('add1', function() return 1 end)"),
        ("FUNCTION", "LOAD", "#!lua name=lib2\nredis.register_function('x', function() return 1 end)\n"
                             "redis.register_function('x', function() return 1 end)"),
        ("FUNCTION", "LOAD", "#!lua name=lib2\nredis.register_function()"),
        ("FUNCTION", "LOAD", "#!lua name=lib2\nredis.register_function('f1')"),
        ("FUNCTION", "LOAD", "#!lua name=lib2\nredis.register_function('f1', function() return 1 end, {}, 'x')"),
        ("FUNCTION", "LOAD", "#!lua name=lib2\nredis.register_function(function() return 1 end, function() return 1 end)"),
        ("FUNCTION", "LOAD", "#!lua name=lib2\nredis.register_function('test\\0test', function() return 1 end)"),
        ("FUNCTION", "LOAD", "#!lua name=lib2\nredis.register_function('', function() return 1 end)"),
        ("FUNCTION", "LOAD", "#!lua name=lib2\nreturn math.random()"),
        ("FUNCTION", "LOAD", "#!lua name=lib2\nreturn redis.call('ping')"),
        ("FUNCTION", "LOAD", "#!lua name=lib2\nreturn redis.setresp(3)"),
        ("FUNCTION", "LOAD", "#!lua name=lib2\nreturn redis.set_repl(redis.REPL_NONE)"),
        ("FUNCTION", "LOAD", "#!lua name=lib2\nreturn redis.math.random()"),
        ("FUNCTION", "LOAD", "#!lua name=lib2\nreturn redis.redis.call('ping')"),
        ("FUNCTION", "LOAD", "#!lua name=lib2\na = 1"),
        ("FUNCTION", "LOAD", "#!lua name=lib2\nmt = getmetatable(_G)"),
        ("FUNCTION", "LOAD", "#!lua name=lib2\nreturn 1"),
        ("FUNCTION", "LOAD", "#!lua name=lib2\nredis.log(redis.LOG_NOTICE, 'loading') "
                             "redis.register_function('v', function() return {redis.REDIS_VERSION_NUM > 0} end)"),
        ("FCALL", "v", "0"),
        ("FUNCTION", "LOAD", "REPLACE", lib + "local lib = redis\n"
         "lib.register_function('f1', function () lib.redis = redis lib.math = math return {ok='OK'} end)\n"
         "lib.register_function('f2', function () lib.register_function('f1', function () return 1 end) end)"),
        ("FCALL", "f1", "0"),
        ("FCALL", "f2", "0"),
        ("FUNCTION", "DELETE", "lib1"),
        ("FUNCTION", "LOAD", lib + "redis.register_function('f1', function(keys, args)\n"
                                   "redis.register_function('f2', function(key, args) return 2 end) return 1 end)"),
        ("FCALL", "f1", "0"),
        ("FUNCTION", "LOAD", "REPLACE", lib + "redis.register_function('f1', function()\n"
                                              "mt = getmetatable(_G) original_globals = mt.__index\n"
                                              "original_globals['redis'] = function() return 1 end end)"),
        ("FCALL", "f1", "0"),
        ("FUNCTION", "DELETE", "lib1"),
        ("FUNCTION", "DELETE", "lib2"),
    ]
    named = "#!lua name=lib\nredis.register_function{%s}"
    for args in ["function_name='f1', callback=function() return 'hello' end, description='some desc'",
                 "function_name=function() return 1 end, callback=function() return 'hello' end",
                 "function_name='f1', callback='bad'",
                 "function_name='f1', callback=function() return 'hello' end, description=function() return 1 end",
                 "function_name='f1', callback=function() return 'hello' end, some_unknown='unknown'",
                 "callback=function() return 'hello' end",
                 "function_name='f1'",
                 "function_name='f1', callback=function() return 'hello' end, flags='bad flags type'",
                 "function_name='f1', callback=function() return 'hello' end, flags={function() return 1 end}",
                 "function_name='f1', callback=function() return 'hello' end, flags={'unknown'}",
                 "function_name='f1', callback=function() return 1 end, "
                 "flags={'no-writes', 'allow-oom', 'allow-stale', 'no-cluster', 'allow-cross-slot-keys'}",
                 "function_name='f1', callback=function() return 1 end, flags={'NO-WRITES'}"]:
        commands += [("FUNCTION", "LOAD", "REPLACE", named % args), ("FCALL", "f1", "0"),
                     ("FUNCTION", "LIST", "WITHCODE")]
    for shebang in ["#! name=test", "#!lua name=test foo=bar", "#!lua", "#!lua name=foo name=bar",
                    "#!lua name=\"foo\"", "#!lua NAME=upper", "lua name=test", "#!lua name=test\r"]:
        commands += [("FUNCTION", "LOAD", "REPLACE", shebang + "\nredis.register_function('foo', function() return 1 end)"),
                     ("FUNCTION", "FLUSH")]
    commands += [("FUNCTION", "LOAD", "#!lua name=nolf")]
    same(both, *commands)


def test_function_list_and_stats(both):
    """LIST with several libraries (compared sorted), patterns, WITHCODE, flags and
    descriptions, STATS counts; DELETE takes the library's functions with it."""
    redis, vk = both
    for c in both:
        c.cmd("FUNCTION", "LOAD", "#!lua name=library1\nredis.register_function('f6', function(keys, args) return 7 end)")
        c.cmd("FUNCTION", "LOAD", "#!lua name=lib2\nredis.register_function{function_name='f7', description='desc', "
                                  "callback=function() return 1 end, flags={'allow-stale', 'no-writes'}}\n"
                                  "redis.register_function('f8', function() return 2 end)")
    for args in [(), ("WITHCODE",), ("LIBRARYNAME", "library*"), ("LIBRARYNAME", "LIB*", "WITHCODE"), ("LIBRARYNAME", "x")]:
        assert sorted_list(vk.cmd("FUNCTION", "LIST", *args)) == sorted_list(redis.cmd("FUNCTION", "LIST", *args))
    same(both, ("FUNCTION", "STATS"), ("FUNCTION", "DELETE", "lib2"), ("FUNCTION", "STATS"), ("FCALL", "f7", "0"),
         ("FUNCTION", "LIST"), ("FCALL", "f6", "0"))


def changes(conn):
    return int(info(conn, "persistence")["rdb_changes_since_last_save"])


def test_multi_getkeys_and_change_counts_match_redis(both):
    """FUNCTION LOAD and FCALL inside one MULTI, COMMAND GETKEYS of FCALL, and the changes
    the FUNCTION commands count for the save rules (one each; none when refused)."""
    same(both,
         ("MULTI",), ("FUNCTION", "LOAD", code("test", "test", "return redis.call('incr', KEYS[1])")),
         ("FCALL", "test", "1", "k{t}"), ("FCALL_RO", "test", "1", "k{t}"), ("EXEC",),
         ("COMMAND", "GETKEYS", "FCALL", "test", "1", "x"),
         ("COMMAND", "GETKEYS", "FCALL_RO", "test", "2", "x", "y", "z"),
         ("COMMAND", "GETKEYS", "FCALL", "test", "0"), ("COMMAND", "GETKEYS", "FCALL", "test", "5", "a"),
         ("COMMAND", "GETKEYS", "FCALL", "test", "-1"), ("COMMAND", "GETKEYS", "EVAL", "x", "abc"),
         ("COMMAND", "GETKEYS", "EVAL", "return 1", "0"))
    for commands in [[("FUNCTION", "LOAD", code("test", "test", "return 1"))],
                     [("FUNCTION", "LOAD", "REPLACE", code("test", "test", "return 2"))],
                     [("FUNCTION", "LOAD", "#!lua name=bad\nreturn 1")],
                     [("FUNCTION", "DELETE", "test")], [("FUNCTION", "DELETE", "test")],
                     [("FUNCTION", "LOAD", code("test", "test", "return 1")), ("FUNCTION", "DUMP")],
                     [("FUNCTION", "FLUSH")], [("FUNCTION", "LIST")], [("FUNCTION", "STATS")]]:
        deltas = []
        for c in both:
            before = changes(c)
            for command in commands:
                c.cmd(*command)
            deltas.append(changes(c) - before)
        assert deltas[1] == deltas[0], commands


@needs_redis
def test_allow_stale_as_redis(nodes):
    """functions.tcl's "allow stale": on a replica whose link is down with
    replica-serve-stale-data no, a function needs allow-stale, and then may run only the
    commands allowed there; EVAL without shebang is refused too."""
    servers = [nodes("--save", "", binary=REDIS_SERVER), nodes("--save", "", *shards(2))]
    conns = [s.conn() for s in servers]
    for c in conns:
        c.cmd("FUNCTION", "LOAD", "#!lua name=test\n"
              "redis.register_function{function_name='f1', callback=function() return 'hello' end, flags={'no-writes'}}\n"
              "redis.register_function{function_name='f2', callback=function() return 'hello' end, "
              "flags={'allow-stale', 'no-writes'}}\n"
              "redis.register_function{function_name='f3', callback=function() return redis.call('get', 'x') end, "
              "flags={'allow-stale', 'no-writes'}}\n"
              "redis.register_function{function_name='f5', callback=function() return redis.call('ping') end, "
              "flags={'allow-stale'}}")
        c.cmd("CONFIG", "SET", "replica-serve-stale-data", "no")
        c.cmd("REPLICAOF", "127.0.0.1", "1")
    same(conns, ("FCALL", "f1", "0"), ("FCALL", "f2", "0"), ("FCALL", "f3", "0"), ("FCALL_RO", "f2", "0"),
         ("FCALL", "f5", "0"), ("EVAL", "return 1", "0"), ("EVAL", "#!lua flags=no-writes,allow-stale\nreturn 2", "0"),
         ("EVAL", "#!lua flags=no-writes\nreturn 2", "0"))


def test_load_timeout(server):
    """A library whose top level runs past 500 ms is stopped (LOAD_TIMEOUT_MS)."""
    c = server.conn()
    assert "FUNCTION LOAD timeout" in error(c.cmd("FUNCTION", "LOAD",
                                                  "#!lua name=lib\nlocal a = 1\nwhile 1 do a = a + 1 end"))
    assert c.cmd("FUNCTION", "LIST") == []
    assert c.cmd("PING") == "PONG"


# MARK: every worker

def test_libraries_reach_every_worker(server):
    """A library loaded on one connection is called from others on every worker and shard;
    a REPLACE, a DELETE and a FLUSH are seen by all of them at their next call."""
    loader = server.conn()
    callers = [server.conn() for _ in range(6)]
    keys = ["k%d" % i for i in range(12)]
    try:
        assert loader.cmd("FUNCTION", "LOAD", code("lib", "f", "return redis.call('incr', KEYS[1])")) == b"lib"
        for i, k in enumerate(keys):
            assert callers[i % len(callers)].cmd("FCALL", "f", "1", k) == 1
        assert loader.cmd("FUNCTION", "LOAD", "REPLACE", code("lib", "f", "return redis.call('incrby', KEYS[1], 10)")) == b"lib"
        for i, k in enumerate(keys):
            assert callers[(i + 1) % len(callers)].cmd("FCALL", "f", "1", k) == 11
        assert loader.cmd("FUNCTION", "LOAD", no_writes_code("other", "g", "return redis.call('get', KEYS[1])")) == b"other"
        for i, k in enumerate(keys):
            assert callers[i % len(callers)].cmd("FCALL_RO", "g", "1", k) == b"11"
        assert loader.cmd("FUNCTION", "DELETE", "lib") == "OK"
        for c in callers:
            assert error(c.cmd("FCALL", "f", "1", "k0")) == "ERR Function not found"
            assert c.cmd("FCALL_RO", "g", "1", "k1") == b"11"
        assert loader.cmd("FUNCTION", "FLUSH") == "OK"
        for c in callers:
            assert error(c.cmd("FCALL_RO", "g", "1", "k1")) == "ERR Function not found"
    finally:
        loader.cmd("FUNCTION", "FLUSH")
        for c in [loader] + callers:
            c.cmd("DEL", *keys)
            c.close()


def test_fcall_inside_multi_and_flushall_keeps_functions(server):
    """FCALL inside MULTI runs as a part of the EXEC; FLUSHALL and FLUSHDB keep the
    libraries (Redis 7.0), FUNCTION FLUSH removes them."""
    c = server.conn()
    try:
        c.cmd("FUNCTION", "FLUSH")
        c.cmd("FUNCTION", "LOAD", code("test", "test", "return redis.call('set', KEYS[1], '1')"))
        assert c.cmd("MULTI") == "OK"
        assert c.cmd("FCALL", "test", "1", "x") == "QUEUED"
        assert c.cmd("GET", "x") == "QUEUED"
        assert c.cmd("EXEC") == ["OK", b"1"]
        assert c.cmd("FLUSHALL") == "OK"
        assert c.cmd("FLUSHDB") == "OK"
        assert c.cmd("FCALL", "test", "1", "x") == "OK"
        assert c.cmd("FUNCTION", "FLUSH", "ASYNC") == "OK"
        assert error(c.cmd("FCALL", "test", "1", "x")) == "ERR Function not found"
    finally:
        c.cmd("FUNCTION", "FLUSH")
        c.close()


# MARK: payloads and files

def test_dump_and_restore_exchanged_with_redis(both):
    """FUNCTION DUMP payloads move both ways; RESTORE's policies (APPEND's collisions,
    REPLACE, FLUSH) and a bad payload that leaves the libraries as they were."""
    redis, vk = both
    lib1 = code("test", "test", "return 'hello'")
    lib2 = "#!lua name=other\nredis.register_function('o1', function() return 'o' end)\n" + "-- padding " * 10
    for c in both:
        c.cmd("FUNCTION", "LOAD", lib1)
        c.cmd("FUNCTION", "LOAD", lib2)
    from_redis, from_vk = redis.cmd("FUNCTION", "DUMP"), vk.cmd("FUNCTION", "DUMP")
    for payload in (from_redis, from_vk):
        same(both,
             ("FUNCTION", "DELETE", "other"),  # one collision: Redis reports the first in its hash order
             ("FUNCTION", "RESTORE", payload),
             ("FUNCTION", "RESTORE", payload, "APPEND"),
             ("FUNCTION", "FLUSH"),
             ("FUNCTION", "RESTORE", payload),
             ("FCALL", "test", "0"), ("FCALL", "o1", "0"),
             ("FUNCTION", "LOAD", "REPLACE", code("test", "test", "return 'hello1'")),
             ("FCALL", "test", "0"),
             ("FUNCTION", "RESTORE", payload, "REPLACE"),
             ("FCALL", "test", "0"),
             ("FUNCTION", "DELETE", "test"),
             ("FUNCTION", "LOAD", code("test2", "test", "return 'collides'")),
             ("FUNCTION", "RESTORE", payload, "REPLACE"),
             ("FUNCTION", "RESTORE", payload, "FLUSH"),
             ("FCALL", "test", "0"),
             ("FUNCTION", "RESTORE", payload[:-1] + bytes([payload[-1] ^ 1])),
             ("FUNCTION", "RESTORE", payload[:2], "FLUSH"),
             ("FCALL", "o1", "0"),
             ("FUNCTION", "RESTORE", b"\x00" + payload[1:]),
             ("FUNCTION", "STATS"))
    # An empty dump restores nothing (and FLUSH with it empties).
    for c in both:
        c.cmd("FUNCTION", "FLUSH")
    empty = redis.cmd("FUNCTION", "DUMP")
    assert vk.cmd("FUNCTION", "DUMP") == empty
    for c in both:
        c.cmd("FUNCTION", "LOAD", lib1)
    same(both, ("FUNCTION", "RESTORE", empty, "FLUSH"), ("FUNCTION", "LIST"))


def crc64(data):
    """Redis's CRC-64 (Jones polynomial, reflected), for payloads built here."""
    crc = 0
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ 0x95AC9329AC4BC9B5 if crc & 1 else crc >> 1
    return crc


def payload(body, version=10):
    """A FUNCTION DUMP payload of `body` (function records) with its footer."""
    body += version.to_bytes(2, "little")
    return body + crc64(body).to_bytes(8, "little")


def test_payloads_built_by_hand_match_redis(both):
    """Payloads Redis's RESTORE reads specially: libraries colliding among themselves, a
    type that is not a function, a truncated record, a newer RDB version, 7.0 rc1's
    function record (name, engine, description, code), a library that fails to load."""
    redis, vk = both
    redis.cmd("FUNCTION", "LOAD", code("a", "same", "return 1"))
    first = redis.cmd("FUNCTION", "DUMP")
    assert first == payload(first[:-10])
    redis.cmd("FUNCTION", "FLUSH")
    redis.cmd("FUNCTION", "LOAD", code("b", "same", "return 2"))
    second = redis.cmd("FUNCTION", "DUMP")[:-10]
    redis.cmd("FUNCTION", "FLUSH")
    def raw_string(b):
        assert len(b) < 64
        return bytes([len(b)]) + b
    pre_ga = (b"\xf6" + raw_string(b"old") + raw_string(b"LUA") + b"\x01" + raw_string(b"a description")
              + raw_string(b"redis.register_function('oldf', function() return 'rc1' end)"))
    same(both,
         ("FUNCTION", "RESTORE", payload(first[:-10] + second)),
         ("FUNCTION", "RESTORE", payload(first[:-10] + first[:-10])),
         ("FUNCTION", "RESTORE", payload(b"\x00" + raw_string(b"key") + raw_string(b"value"))),
         ("FUNCTION", "RESTORE", payload(first[:5])),
         ("FUNCTION", "RESTORE", payload(first[:-10], version=11)),
         ("FUNCTION", "RESTORE", payload(b"\xf5" + raw_string(b"#!lua name=bad\nreturn 1"))),
         ("FUNCTION", "RESTORE", payload(b"\xf5" + raw_string(b"#!lua name=bad\nsyntax error"))),
         ("FUNCTION", "RESTORE", payload(pre_ga)),
         ("FCALL", "oldf", "0"),
         ("FUNCTION", "LIST", "WITHCODE"),
         ("FUNCTION", "STATS"))


@needs_redis
def test_rdb_files_exchanged_with_redis(nodes, data_dir):
    """redis-server's dump with libraries loads here (FCALL works on every shard), and our
    dump loads on redis-server with the same libraries."""
    def prepare(rc):
        rc.cmd("FUNCTION", "LOAD", code("lib1", "incr1", "return redis.call('incr', KEYS[1])"))
        rc.cmd("FUNCTION", "LOAD", "#!lua name=lib2\nredis.register_function{function_name='ro', callback=function(k) "
                                   "return redis.call('get', k[1]) end, flags={'no-writes'}, description='reads'}\n"
                                   + "-- a long comment so that the code is compressed in the dump " * 5)
        rc.cmd("SET", "n", "5")
        return sorted_list(rc.cmd("FUNCTION", "LIST", "WITHCODE"))
    expected = redis_dump_into(nodes, data_dir, prepare)
    s = nodes("--save", "", *shards(2), data_dir=data_dir)
    c = s.conn()
    assert sorted_list(c.cmd("FUNCTION", "LIST", "WITHCODE")) == expected
    assert c.cmd("FCALL", "incr1", "1", "n") == 6
    for k in ("a", "b", "c", "d"):
        assert c.cmd("FCALL", "incr1", "1", k) == 1
        assert c.cmd("FCALL_RO", "ro", "1", k) == b"1"
    c.cmd("FUNCTION", "LOAD", code("ours", "ours", "return 'ours'"))
    expected = sorted_list(c.cmd("FUNCTION", "LIST", "WITHCODE"))
    assert c.cmd("SAVE") == "OK"
    assert s.shutdown("NOSAVE") == 0
    rc = nodes("--save", "", binary=REDIS_SERVER, data_dir=data_dir).conn()
    assert sorted_list(rc.cmd("FUNCTION", "LIST", "WITHCODE")) == expected
    assert rc.cmd("FCALL", "ours", "0") == b"ours"
    assert rc.cmd("FCALL", "incr1", "1", "n") == 7


def test_debug_reload_and_restart_keep_functions(make_server, data_dir):
    """DEBUG RELOAD keeps the libraries (saved and loaded back); a restart loads them from
    the dump; a library deleted before a reload stays deleted."""
    s = make_server(*shards(2), "--enable-debug-command", "yes", data_dir=data_dir)
    c = s.conn()
    c.cmd("FUNCTION", "LOAD", code("test", "test", "return redis.call('incr', KEYS[1])"))
    c.cmd("FUNCTION", "LOAD", code("gone", "gone", "return 1"))
    assert c.cmd("DEBUG", "RELOAD") == "OK"
    assert c.cmd("FCALL", "test", "1", "k") == 1
    assert c.cmd("FUNCTION", "DELETE", "gone") == "OK"
    assert c.cmd("DEBUG", "RELOAD") == "OK"
    assert error(c.cmd("FCALL", "gone", "0")) == "ERR Function not found"
    assert c.cmd("FUNCTION", "STATS")[3][1] == [b"libraries_count", 1, b"functions_count", 1]
    # functions.tcl's "debug reload with nosave and noflush": MERGE keeps what is loaded.
    c.cmd("FUNCTION", "LOAD", code("test2", "test2", "return 'hello'"))
    assert c.cmd("DEBUG", "RELOAD", "NOSAVE", "NOFLUSH", "MERGE") == "OK"
    assert c.cmd("FCALL", "test2", "0") == b"hello" and c.cmd("FCALL", "test", "1", "k") == 2
    assert c.cmd("FUNCTION", "DELETE", "test2") == "OK"
    assert c.cmd("SAVE") == "OK"
    assert s.shutdown("NOSAVE") == 0
    s = make_server(*shards(2), data_dir=data_dir)
    assert s.cmd("FCALL", "test", "1", "k") == 3


def test_aof_keeps_function_commands(make_server, tmp_path):
    """FUNCTION LOAD/DELETE/FLUSH/RESTORE go to the AOF and replay at restart, and a rewrite
    keeps the libraries in its base."""
    aof = ("--appendonly", "yes", "--save", "")
    s = make_server(*shards(2), *aof, data_dir=tmp_path)
    c = s.conn()
    c.cmd("FUNCTION", "LOAD", code("a", "fa", "return 'a'"))
    c.cmd("FUNCTION", "LOAD", code("b", "fb", "return 'b'"))
    payload = c.cmd("FUNCTION", "DUMP")
    c.cmd("FUNCTION", "FLUSH")
    c.cmd("FUNCTION", "RESTORE", payload)
    c.cmd("FUNCTION", "DELETE", "a")
    c.cmd("FUNCTION", "LOAD", code("c", "fc", "return redis.call('set', KEYS[1], 'c')"))
    c.cmd("FCALL", "fc", "1", "key")
    assert s.shutdown() == 0
    s = make_server(*shards(2), *aof, data_dir=tmp_path)
    c = s.conn()
    assert sorted(lib[1] for lib in c.cmd("FUNCTION", "LIST")) == [b"b", b"c"]
    assert c.cmd("FCALL", "fb", "0") == b"b" and c.cmd("GET", "key") == b"c"
    assert c.cmd("BGREWRITEAOF").startswith("Background append only file rewriting")
    wait_until(lambda: info(c, "persistence")["aof_rewrite_in_progress"] == "0"
               and info(c, "persistence")["aof_rewrite_scheduled"] == "0", message="the rewrite")
    c.cmd("FUNCTION", "LOAD", code("d", "fd", "return 'd'"))
    assert s.shutdown() == 0
    s = make_server(*shards(2), *aof, data_dir=tmp_path)
    assert sorted(lib[1] for lib in s.cmd("FUNCTION", "LIST")) == [b"b", b"c", b"d"]


# MARK: replication

@needs_redis
def test_function_commands_reach_a_redis_replica(nodes):
    """A redis-server replica receives the libraries with its full sync, then FUNCTION
    LOAD, RESTORE, DELETE and FLUSH as they run here, and FCALL's writes as the commands
    the function ran; a no-writes function runs on the replica."""
    master = nodes("--save", "", *shards(2), "--enable-debug-command", "yes")
    m = master.conn()
    m.cmd("FUNCTION", "LOAD", no_writes_code("before", "before", "return 'synced'"))
    replica = nodes("--save", "", "--replicaof", "127.0.0.1", str(master.port), binary=REDIS_SERVER)
    rc = replica.conn()
    wait_until(lambda: link_up(rc), timeout=20, message="the replica's link")
    assert rc.cmd("FCALL", "before", "0") == b"synced"

    def libraries():
        return sorted(lib[1] for lib in rc.cmd("FUNCTION", "LIST"))

    m.cmd("FUNCTION", "LOAD", no_writes_code("test", "test", "return 'hello'"))
    m.cmd("FUNCTION", "LOAD", code("writer", "w", "redis.call('incr', KEYS[1]) return redis.call('expire', KEYS[1], 100)"))
    for i in range(20):
        m.cmd("FCALL", "w", "1", "k%d" % i)
    assert m.cmd("WAIT", "1", "10000") == 1
    wait_until(lambda: libraries() == [b"before", b"test", b"writer"], timeout=10, message="the loads")
    assert rc.cmd("FCALL", "test", "0") == b"hello"
    assert rc.cmd("FCALL_RO", "test", "0") == b"hello"
    assert error(rc.cmd("FCALL", "w", "1", "k0")).startswith("READONLY")
    wait_until(lambda: all(rc.cmd("GET", "k%d" % i) == b"1" for i in range(20)), timeout=10, message="the writes")
    payload = m.cmd("FUNCTION", "DUMP")
    m.cmd("FUNCTION", "DELETE", "test")
    wait_until(lambda: libraries() == [b"before", b"writer"], timeout=10, message="the delete")
    m.cmd("FUNCTION", "FLUSH")
    wait_until(lambda: libraries() == [], timeout=10, message="the flush")
    m.cmd("FUNCTION", "RESTORE", payload)
    wait_until(lambda: libraries() == [b"before", b"test", b"writer"], timeout=10, message="the restore")


@needs_redis
def test_functions_from_a_redis_master(master, nodes):
    """Our replica takes a redis-server master's libraries at its full sync and its later
    FUNCTION commands; a write function is refused on it, a no-writes one runs."""
    mc = master.conn()
    mc.cmd("FUNCTION", "LOAD", code("first", "first", "return redis.call('set', KEYS[1], 'x')"))
    replica = nodes("--save", "", *shards(2), "--replicaof", "127.0.0.1", str(master.port))
    rc = replica.conn()
    wait_until(lambda: link_up(rc), timeout=20, message="the replica's link")
    assert [lib[1] for lib in rc.cmd("FUNCTION", "LIST")] == [b"first"]
    assert error(rc.cmd("FCALL", "first", "1", "k")).startswith("READONLY")
    for command in [("FUNCTION", "LOAD", code("mine", "mine", "return 1")), ("FUNCTION", "DELETE", "first"),
                    ("FUNCTION", "FLUSH"), ("FUNCTION", "RESTORE", rc.cmd("FUNCTION", "DUMP"))]:
        assert error(rc.cmd(*command)).startswith("READONLY"), command
    mc.cmd("FUNCTION", "LOAD", no_writes_code("second", "second", "return redis.call('get', KEYS[1])"))
    mc.cmd("FCALL", "first", "1", "k")
    wait_until(lambda: rc.cmd("FUNCTION", "STATS")[3][1][1] == 2, timeout=10, message="the second library")
    wait_until(lambda: rc.cmd("FCALL_RO", "second", "1", "k") == b"x", timeout=10, message="the write")
    mc.cmd("FUNCTION", "FLUSH")
    wait_until(lambda: rc.cmd("FUNCTION", "LIST") == [], timeout=10, message="the flush")
