"""Lua scripting (EVAL, EVALSHA, EVAL_RO, EVALSHA_RO, SCRIPT) against redis-server 7.0:
replies byte for byte in RESP2 and RESP3 (the conversions both ways, setresp), the error
texts (compile and run-time errors, redis.call's refusals, numkeys, NOSCRIPT, read-only
scripts and shebang flags), the sandbox (global protection, no loadfile/dofile, read-only
libraries), math.random's sequence, the script cache seen from every worker, scripts in
MULTI/EXEC, and script effects reaching a redis-server replica as one transaction.

Scripts spanning shards are tested in test_scripting_cross_shard.py; what stays refused is
tested below."""
import pytest

from support.marks import needs_redis
from support.processes import REDIS_SERVER, shards
from support.replication import link_up
from support.resp import Conn, Error, encode
from support.slots import keys_on_two_shards
from support.waiting import wait_until

SERVER_ARGS = ("--enable-debug-command", "yes")


@pytest.fixture
def both(server, redis_port):
    """A fresh connection to each server (redis first), both flushed, scripts included."""
    conns = [Conn(redis_port), server.conn()]
    for c in conns:
        assert c.cmd("FLUSHALL") == "OK"
        assert c.cmd("SCRIPT", "FLUSH") == "OK"
    yield conns
    for c in conns:
        c.close()


def same(both, *commands):
    """Runs each command on both servers; the reply bytes must be equal."""
    redis, vk = both
    for args in commands:
        expected, actual = redis.raw(*args), vk.raw(*args)
        assert actual == expected, "%r:\n  redis     %r\n  valkeyper %r" % (args, expected, actual)


def error(reply):
    """An error reply's text (fails on any other reply)."""
    assert isinstance(reply, Error), reply
    return str(reply)


def ev(script, *keys_then_args, keys=None):
    """An EVAL command: `keys` declared keys (all of them by default) then the arguments."""
    n = len(keys_then_args) if keys is None else keys
    return ("EVAL", script, str(n)) + tuple(keys_then_args)


DATA = [
    ("SET", "s{t}", "hello"), ("SET", "n{t}", "41"), ("HSET", "h{t}", "a", "1", "b", "2"),
    ("RPUSH", "l{t}", "x", "y", "z"), ("SADD", "set{t}", "m"), ("ZADD", "z{t}", "1.5", "a", "2", "b"),
]

# Replies converted both ways: every Lua type, every reply type, setresp(3).
CONVERSIONS = [
    ev("return 1"), ev("return 3.99"), ev("return -3.99"), ev("return 'str'"), ev("return true"), ev("return false"),
    ev("return nil"), ev("return {}"), ev("return {1, 2, 3.7, 'x', false, nil, 5}"), ev("return {1, {2, {3, {}}}}"),
    ev("return {err='My error'}"), ev("return {ok='fine'}"), ev("return {ok='a\\r\\nb'}"), ev("return {err='x\\ny'}"),
    ev("return redis.error_reply('My Error')"), ev("return redis.error_reply('-CODE text')"),
    ev("return redis.status_reply('FINE')"), ev("return {double=3.5}"), ev("return {double=0.1}"),
    ev("return {double=1/0}"), ev("return {double=-1/0}"), ev("return {map={a=1}}"), ev("return {set={a=true}}"),
    ev("return {big_number='123456789012345678901234567890'}"),
    ev("return {verbatim_string={format='txt', string='hi'}}"),
    ev("redis.setresp(3) return true"), ev("redis.setresp(3) return false"),
    ev("return redis.call('get', KEYS[1])", "s{t}"), ev("return redis.call('get', KEYS[1])", "nokey{t}"),
    ev("return redis.call('incr', KEYS[1])", "n{t}"), ev("return redis.call('hgetall', KEYS[1])", "h{t}"),
    ev("redis.setresp(3) return redis.call('hgetall', KEYS[1])", "h{t}"),
    ev("redis.setresp(3) return redis.call('smembers', KEYS[1])", "set{t}"),
    ev("redis.setresp(3) return redis.call('zscore', KEYS[1], 'a')", "z{t}"),
    ev("redis.setresp(3) return redis.call('zscore', KEYS[1], 'a').double", "z{t}"),
    ev("redis.setresp(3) return redis.call('get', KEYS[1])", "nokey{t}"),
    ev("return redis.call('lrange', KEYS[1], 0, -1)", "l{t}"), ev("return redis.call('set', KEYS[1], 'v')", "s{t}"),
    ev("return redis.call('ping')"), ev("return redis.call('ping', 'x')"), ev("return redis.call('echo', 'e')"),
    ev("return type(redis.call('time')[1])"),
    ev("return redis.call('zrange', KEYS[1], 0, -1, 'withscores')", "z{t}"),
    ev("return redis.pcall('incr', KEYS[1])", "s{t}"), ev("return redis.pcall('nosuch')"),
    ev("local t = redis.pcall('nosuch') return t.err"), ev("return {pcall(function() error('oops') end)}"),
    ev("return pcall(function() error({err='X y'}) end)"),
    ev("return {KEYS[1], KEYS[2], ARGV[1], ARGV[2]}", "k1{t}", "k2{t}", "a1", "a2", keys=2),
    ev("return #KEYS + #ARGV", "a", "b", "c", keys=0), ev("return tonumber('0x10')"),
    ev("return redis.call('select', 2)"), ev("redis.call('select', 2) return redis.call('get', KEYS[1])", "s{t}"),
    ev("return redis.sha1hex('')"), ev("return redis.sha1hex('abc')"), ev("return redis.REDIS_VERSION"),
    ev("return redis.REDIS_VERSION_NUM"), ev("return redis.breakpoint()"), ev("return redis.replicate_commands()"),
    ev("return redis.set_repl(redis.REPL_ALL)"), ev("redis.log(redis.LOG_DEBUG, 'from a test')"),
    ev("return {redis.LOG_DEBUG, redis.LOG_VERBOSE, redis.LOG_NOTICE, redis.LOG_WARNING}"),
    ev("return {redis.REPL_NONE, redis.REPL_AOF, redis.REPL_SLAVE, redis.REPL_REPLICA, redis.REPL_ALL}"),
    ev("return cjson.encode({foo='bar'})"), ev("return cjson.encode({1, 2, 3.5, 'x', {a=1}})"),
    ev("return cjson.decode('[1,2,{\"a\":3.25}]')[3].a"), ev("return cjson.encode(cjson.decode('{\"a\":null}'))"),
    ev("return cjson.encode(1e20)"), ev("return cjson.encode({[1]=1, [3]=3})"), ev("return cjson.encode('a/b\"c')"),
    ev("return type(cjson.null)"), ev("return bit.band(0xff, 0x0f)"), ev("return bit.tohex(255)"),
    ev("return {bit.lshift(1, 4), bit.bxor(5, 3), bit.bnot(0), bit.arshift(-256, 4)}"),
    ev("return cmsgpack.pack(1, -1, 127, 128, 200, -32, -33, -200, 70000, -70000, 2^40, -2^40, 2^63, 1.5, 0.1, 3.4e38)"),
    ev("return cmsgpack.pack('abc', string.rep('x', 40), string.rep('y', 300), string.rep('z', 70000))"),
    ev("return cmsgpack.pack({1, 2}, {a=1}, {}, true, false, nil, {[1]=1, [3]=3}, {1, {2, {3, {4}}}})"),
    ev("local t = {} for i = 1, 20 do t = {t} end return cmsgpack.pack(t)"),
    ev("local t = {} for i = 1, 40 do t[i] = i end return cmsgpack.pack(t)"),
    ev("return cmsgpack.unpack(cmsgpack.pack({1, 2, {a='b'}}))"),
    ev("return {cmsgpack.unpack(cmsgpack.pack(1, 'two', {3}, -4.5, 2^40, true))}"),
    ev("return {cmsgpack.unpack_one(cmsgpack.pack(1, 2, 3), 0)}"),
    ev("return {cmsgpack.unpack_one(cmsgpack.pack(1, 2, 3), 3)}"),
    ev("return {cmsgpack.unpack_limit(cmsgpack.pack(1, 2, 3), 2, 0)}"), ev("return {cmsgpack.unpack('')}"),
    ev("local j = cmsgpack.unpack(cmsgpack.pack({job='x', attempts=3, data={1, 2}})) "
       "return {j.job, j.attempts, j.data[2]}"),
    ev("return struct.pack('>I2', 258)"), ev("return struct.pack('<i4', -2)"),
    ev("return struct.pack('bBhHlLT', -1, 255, -2, 65535, -3, 7, 9)"), ev("return struct.pack('>d', 1.5)"),
    ev("return struct.pack('f', 0.5)"), ev("return struct.pack('s', 'ab')"), ev("return struct.pack('c3', 'abcdef')"),
    ev("return struct.pack('c0', 'abcdef')"), ev("return struct.pack('xBx', 1)"), ev("return struct.pack('i17', 1)"),
    ev("return struct.pack('!4bi', 1, 2)"), ev("return struct.pack('>I3', -1)"), ev("return struct.pack('c', 'xyz')"),
    ev("return struct.pack('<I8', 2^53)"), ev("return struct.pack('I', 1.7)"), ev("return struct.pack('i9', -1)"),
    ev("return struct.pack('>!2 h b', 1, 2)"), ev("return {struct.unpack('>I2', '\\1\\2')}"),
    ev("return {struct.unpack('bB', '\\255\\255')}"), ev("return {struct.unpack('s', 'ab\\0cd')}"),
    ev("return {struct.unpack('Bc0', '\\3abcd')}"), ev("return {struct.unpack('<d', struct.pack('<d', 2.25))}"),
    ev("return {struct.unpack('i', struct.pack('i', 5), 1)}"), ev("return {struct.unpack('>i3', '\\255\\255\\254')}"),
    ev("return {struct.unpack('>I9', '\\1\\2\\3\\4\\5\\6\\7\\8\\9')}"), ev("return struct.size('>I2bd')"),
    ev("return struct.size('!8bd')"),
    ev("return string.format('%d-%s', 5, 'x')"), ev("return table.concat({'a','b'}, ',')"), ev("return math.floor(2.5)"),
]

# Errors to the byte: compile and run-time errors, refusals, numkeys, the sandbox.
ERRORS = [
    ev("return 1+"), ev("return redis.call('nosuch')"), ev("return redis.call('get', 'a', 'b')"),
    ev("return redis.call('incr', KEYS[1])", "s{t}"), ev("return redis.call('eval', 'return 1', 0)"),
    ev("return redis.call('blpop', KEYS[1], 0)", "l{t}"), ev("return redis.call('multi')"),
    ev("return redis.call()"), ev("return redis.call({})"), ev("return redis.call('get', true)"),
    ev("error('boom')"), ev("error({err='MY boom'})"), ev("return 1 + nil"), ev("local t = nil; return t.x"),
    ev("redis.setresp(4)"), ev("redis.setresp()"), ev("return redis.sha1hex()"), ev("return redis.error_reply()"),
    ev("return {redis.status_reply()}"), ev("redis.log(9, 'x')"), ev("redis.log(1)"), ev("redis.log('a', 'x')"),
    ev("return redis.set_repl(5)"), ev("return redis.set_repl()"),
    ("EVAL", "return 1", "2", "a"), ("EVAL", "return 1", "-1"), ("EVAL", "return 1", "x"), ("EVAL", "return 1"),
    ("EVALSHA", "f" * 40, "0"), ("EVALSHA", "fff", "0"),
    ("EVAL_RO", "return redis.call('set', KEYS[1], '1')", "1", "s{t}"),
    ("EVAL_RO", "return redis.call('get', KEYS[1])", "1", "s{t}"),
    ("EVAL_RO", "#!lua\nreturn 1", "0"), ("EVAL_RO", "#!lua flags=no-writes\nreturn 1", "0"),
    ev("#!lua flags=no-writes\nreturn redis.call('set', KEYS[1], '1')", "s{t}"),
    ev("#!lua flags=no-writes,allow-oom,allow-stale,no-cluster,allow-cross-slot-keys\nreturn 2"),
    ev("#!lua flags=foo\nreturn 1"), ev("#!perl\nreturn 1"), ev("#!lua x=y\nreturn 1"), ev("#!lua"),
    ev("#!lua\nreturn 1 +"),
    # The sandbox.
    ev("return cjson.decode('[1,')"), ev("return cjson.encode(function() end)"), ev("cjson.x = 1"),
    ev("return cmsgpack.pack()"), ev("return cmsgpack.unpack('\\205\\1')"), ev("return cmsgpack.unpack('\\193')"),
    ev("return cmsgpack.unpack_one('abc', 5)"), ev("return cmsgpack.unpack_one('abc', -1)"),
    ev("return cmsgpack.unpack()"), ev("cmsgpack.pack = nil"),
    # Self-referencing values: bounded by cjson's and cmsgpack's depth limits. (Returning one,
    # bounded by the Lua stack, nests replies deeper than this client reads.)
    ev("local t = {} t.x = t return cmsgpack.pack(t)"), ev("local t = {} t[1] = t return cjson.encode(t)"),
    ev("local function f() return f() + 1 end return f()"),
    ev("return struct.size('s')"), ev("return struct.size('c0')"), ev("return struct.pack('q', 1)"),
    ev("return struct.pack('B')"), ev("return struct.pack('i33', 1)"), ev("return struct.pack('!3i', 1)"),
    ev("return struct.pack('c10', 'ab')"), ev("return {struct.unpack('>I4', '\\1\\2')}"),
    ev("return {struct.unpack('s', 'ab')}"), ev("return {struct.unpack('i', 'abcd', 2)}"),
    ev("return {struct.unpack('c0', 'abc')}"), ev("struct.pack = nil"),
    ev("a = 1"), ev("return b"), ev("return loadfile"), ev("return dofile"), ev("return print"), ev("return os"),
    ev("return io"), ev("return require"), ev("return debug"), ev("redis = 1"), ev("string.x = 1"), ev("redis.call = 1"),
    ev("math.random = nil"), ev("return _G.x"), ev("return rawget(_G, 'x')"), ev("_G.y = 1"),
    ev("local f = loadstring('return 5') return f()"), ev("return type(getfenv(1))"),
    ev("return setfenv"), ev("return newproxy"), ev("return type(__redis__err__handler)"), ev("return _VERSION"),
]


@pytest.mark.parametrize("resp", [2, 3])
def test_conversions_and_errors_match_redis(both, resp):
    for c in both:
        c.cmd("HELLO", str(resp))
    same(both, *DATA)
    same(both, *CONVERSIONS)
    same(both, *DATA)
    same(both, *ERRORS)


def test_script_commands_match_redis(both):
    same(both,
         ("SCRIPT", "LOAD", "return 1"), ("SCRIPT", "LOAD", "return +"), ("SCRIPT", "LOAD"),
         ("SCRIPT", "EXISTS", "e0e1f9fabfc9d4800c877a703b823ac0578ff8db", "E0E1F9FABFC9D4800C877A703B823AC0578FF8DB",
          "ffff"),
         ("SCRIPT", "EXISTS"), ("EVALSHA", "e0e1f9fabfc9d4800c877a703b823ac0578ff8db", "0"),
         ("EVALSHA", "E0E1F9FABFC9D4800C877A703B823AC0578FF8DB", "0"),
         ("EVALSHA_RO", "e0e1f9fabfc9d4800c877a703b823ac0578ff8db", "0"),
         ("EVAL", "return 'cached by eval'", "0"), ("EVALSHA", "b534b2e8ec9d3d2e4d6d0e0b3f8fdc6f0c1c71e3", "0"),
         ("SCRIPT", "FLUSH", "foo"), ("SCRIPT", "FLUSH", "SYNC", "ASYNC"), ("SCRIPT", "FLUSH", "ASYNC"),
         ("SCRIPT", "EXISTS", "e0e1f9fabfc9d4800c877a703b823ac0578ff8db"),
         ("EVALSHA", "e0e1f9fabfc9d4800c877a703b823ac0578ff8db", "0"), ("SCRIPT", "FLUSH", "sync"),
         ("SCRIPT", "KILL"), ("SCRIPT", "HELP"), ("SCRIPT", "NOSUCH"), ("SCRIPT",))
    redis, vk = both
    sha = vk.cmd("SCRIPT", "LOAD", "return 'x'")
    assert sha == redis.cmd("SCRIPT", "LOAD", "return 'x'")
    same(both, ("EVALSHA", sha, "0"))


def test_scripts_in_transactions_match_redis(both):
    same(both, ("MULTI",), ev("return redis.call('incr', KEYS[1])", "n{t}"), ("INCR", "n{t}"),
         ev("return redis.call('incr', KEYS[1])", "n{t}"), ev("return 1+"), ("EXEC",), ("GET", "n{t}"))


def test_redis_call_writes_commandstats_and_keyspace(both):
    """Commands a script runs count in commandstats, as in Redis; their writes are visible."""
    redis, vk = both
    for c in both:
        c.cmd("CONFIG", "RESETSTAT")
        c.cmd("EVAL", "redis.call('set', KEYS[1], 'v') redis.call('get', KEYS[1]) return redis.call('incr', KEYS[2])",
              "2", "a{t}", "b{t}")
    for name in ("cmdstat_set", "cmdstat_get", "cmdstat_incr", "cmdstat_eval"):
        theirs = [line for line in redis.cmd("INFO", "commandstats").decode().split("\r\n") if line.startswith(name + ":")]
        ours = [line for line in vk.cmd("INFO", "commandstats").decode().split("\r\n") if line.startswith(name + ":")]
        assert ours and theirs and ours[0].split(",")[0] == theirs[0].split(",")[0], (ours, theirs)
    same(both, ("MGET", "a{t}", "b{t}"))


def test_math_random_follows_redis_sequence(make_server, make_redis):
    """math.random runs on from drand48's default seed across scripts, as in Redis 7.0 (one
    interpreter per worker: with one worker the sequence is redis-server's); randomseed."""
    vk = make_server(*shards(1)).conn()
    redis = make_redis("--save", "").conn()
    for script in ("return tostring(math.random())", "return tostring(math.random())", "return math.random(10)",
                   "return math.random(5, 50)", "math.randomseed(7) return tostring(math.random())",
                   "return math.random(0)"):
        assert vk.raw("EVAL", script, "0") == redis.raw("EVAL", script, "0"), script


def test_cache_is_shared_by_every_worker(make_server):
    """SCRIPT LOAD on one connection, EVALSHA on others landing on every worker (connections
    are handed out in turn), with keys on every shard: each worker's interpreter compiles the
    script from the shared cache. SCRIPT FLUSH empties it for all."""
    server = make_server(*shards(2))
    conns = [server.conn() for _ in range(4)]
    sha = conns[0].cmd("SCRIPT", "LOAD", "return redis.call('incr', KEYS[1])")
    keys = ["k%d" % i for i in range(8)]   # on both shards
    for c in conns:
        assert c.cmd("SCRIPT", "EXISTS", sha) == [1]
        for k in keys:
            c.cmd("EVALSHA", sha, "1", k)
    assert [int(conns[1].cmd("GET", k)) for k in keys] == [4] * 8
    assert conns[3].cmd("SCRIPT", "FLUSH") == "OK"
    for c in conns:
        assert c.cmd("SCRIPT", "EXISTS", sha) == [0]
        assert error(c.cmd("EVALSHA", sha, "1", "k0")) == "NOSCRIPT No matching script. Please use EVAL."
    # EVAL caches the script for EVALSHA on the other workers.
    assert conns[0].cmd("EVAL", "return redis.call('get', KEYS[1])", "1", "k1") == b"4"
    sha2 = conns[0].cmd("SCRIPT", "LOAD", "return redis.call('get', KEYS[1])")
    for c in conns:
        assert c.cmd("EVALSHA", sha2, "1", "k2") == b"4"


def test_what_stays_refused_across_shards(make_server):
    """Scripts spanning shards (test_scripting_cross_shard.py) keep Redis Cluster's limits:
    one redis.call's keys on one shard (except MGET, MSET, DEL, UNLINK, EXISTS and TOUCH,
    which run per shard as outside scripts), and inside MULTI declared keys on one shard
    (CROSSSLOT) and a script reaching another shard than its declared keys' (no rerun inside
    a transaction). Outside MULTI such a script runs again across every shard
    (test_scripting_undeclared_keys.py)."""
    server = make_server(*shards(2))
    c = server.conn()
    a, b = keys_on_two_shards("k")
    refused = "ERR Script attempted to access keys that do not hash to the same slot script: "
    assert c.cmd("EVAL", "return redis.call('set', KEYS[1], 1)", "2", a, b) == "OK"
    assert c.cmd("EVAL", "return redis.call('mget', KEYS[1], KEYS[2])", "2", a, b) == [b"1", None]
    assert error(c.cmd("EVAL", "return redis.call('sinter', KEYS[1], KEYS[2])", "2", a, b)).startswith(refused)
    assert c.cmd("EVAL", "return redis.call('get', ARGV[1])", "1", a, b) is None
    assert c.cmd("MULTI") == "OK"
    assert c.cmd("EVAL", "return 1", "2", a, b) == "QUEUED"
    assert c.cmd("EVAL", "return redis.call('get', ARGV[1])", "1", a, b) == "QUEUED"
    replies = c.cmd("EXEC")
    assert error(replies[0]) == "CROSSSLOT Keys in request don't hash to the same slot"
    assert error(replies[1]).startswith(refused)


def test_scripts_on_other_workers_keep_order_and_atomicity(make_server):
    """A script sent to its shard's owner runs there in one go: pipelined scripts and plain
    commands of one client keep their order, from either worker."""
    server = make_server(*shards(2))
    conns = [server.conn() for _ in range(2)]
    script = "local v = redis.call('incr', KEYS[1]) redis.call('rpush', KEYS[2], v) return v"
    for c in conns:
        replies = c.pipeline([("EVAL", script, "2", "{x}n", "{x}l"), ("INCR", "{x}n")] * 50)
        assert all(isinstance(r, int) for r in replies)
    seen = [int(v) for v in conns[0].cmd("LRANGE", "{x}l", "0", "-1")]
    assert len(seen) == 100 and seen == sorted(seen)
    assert int(conns[1].cmd("GET", "{x}n")) == 200


@needs_redis
def test_script_effects_reach_a_redis_replica(nodes):
    """A script's writes reach a redis-server replica as the commands it ran (one MULTI/EXEC
    group per script), on every shard; SELECT inside a script, failed scripts, read-only
    scripts and EVALSHA included. Digests end equal."""
    master = nodes("--save", "", *shards(2), "--enable-debug-command", "yes")
    m = master.conn()
    replica = nodes("--save", "", "--replicaof", "127.0.0.1", str(master.port), "--enable-debug-command", "yes",
                    binary=REDIS_SERVER)
    rc = replica.conn()
    wait_until(lambda: link_up(rc), timeout=20, message="the replica's link")
    sha = m.cmd("SCRIPT", "LOAD", "redis.call('incr', KEYS[1]) redis.call('expire', KEYS[1], 100) "
                                  "return redis.call('hset', KEYS[2], ARGV[1], ARGV[2])")
    for i in range(40):
        tag = "{k%d}" % (i % 9)
        m.cmd("EVALSHA", sha, "2", tag + "n", tag + "h", "f%d" % i, str(i))
        m.cmd("EVAL", "redis.call('select', 3) redis.call('sadd', KEYS[1], ARGV[1]) return 1", "1", tag + "s", str(i))
        m.cmd("EVAL", "redis.call('set', KEYS[1], ARGV[1]) return redis.call('incr', KEYS[1])", "1", tag + "bad", "x")
        m.cmd("EVAL_RO", "return redis.call('get', KEYS[1])", "1", tag + "n")
        m.cmd("EVAL", "redis.call('del', KEYS[1]) return redis.call('rpush', KEYS[1], 'a', 'b')", "1", tag + "l")
    assert m.cmd("WAIT", "1", "10000") == 1
    wait_until(lambda: rc.cmd("DEBUG", "DIGEST") == m.cmd("DEBUG", "DIGEST"), timeout=10,
               message="the replica's digest")
    assert rc.cmd("GET", "{k0}bad") == b"x"
    # redis.set_repl: writes made under REPL_NONE (or REPL_AOF) stay on the master.
    m.cmd("EVAL", "redis.set_repl(redis.REPL_NONE) redis.call('set', KEYS[1], 'a') redis.set_repl(redis.REPL_AOF) "
                  "redis.call('set', KEYS[2], 'b') redis.set_repl(redis.REPL_ALL) return redis.call('set', KEYS[3], 'c')",
          "3", "{r}1", "{r}2", "{r}3")
    assert m.cmd("WAIT", "1", "10000") == 1
    wait_until(lambda: rc.cmd("GET", "{r}3") == b"c", timeout=10, message="the replicated write")
    assert rc.cmd("EXISTS", "{r}1", "{r}2") == 0 and m.cmd("EXISTS", "{r}1", "{r}2") == 2
    rc.cmd("SELECT", "3")
    assert rc.cmd("SCARD", "{k1}s") == m.cmd("EVAL", "redis.call('select', 3) return redis.call('scard', KEYS[1])",
                                            "1", "{k1}s")


def test_real_world_scripts_match_redis(both):
    """A Redlock release, a fixed-window rate limiter and a BullMQ-style move between lists."""
    release = ("if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) "
               "else return 0 end")
    limiter = ("local n = redis.call('incr', KEYS[1]) if n == 1 then redis.call('expire', KEYS[1], ARGV[2]) end "
               "if n > tonumber(ARGV[1]) then return {0, n} end return {1, n}")
    move = ("local job = redis.call('rpoplpush', KEYS[1], KEYS[2]) if not job then return nil end "
            "redis.call('hset', KEYS[3] .. job, 'state', 'active', 'token', ARGV[1]) "
            "return {job, redis.call('hgetall', KEYS[3] .. job)}")
    commands = [("SET", "lock{r}", "tok1"), ev(release, "lock{r}", "tok2", keys=1), ev(release, "lock{r}", "tok1", keys=1),
                ("EXISTS", "lock{r}")]
    commands += [ev(limiter, "rate{r}", "3", "60", keys=1) for _ in range(5)] + [("TTL", "rate{r}")]
    commands += [("LPUSH", "wait{q}", "j1", "j2"), ev(move, "wait{q}", "active{q}", "job{q}:", "w1", keys=3),
                 ev(move, "wait{q}", "active{q}", "job{q}:", "w2", keys=3),
                 ev(move, "wait{q}", "active{q}", "job{q}:", "w3", keys=3), ("LRANGE", "active{q}", "0", "-1")]
    same(both, *commands)


@needs_redis
def test_script_writes_on_a_replica_are_refused_as_redis(master, nodes):
    """On a read-only replica a script may read, but a write it calls answers Redis's READONLY
    (from the script), and a shebang script without no-writes is refused before it runs."""
    mc = master.conn()
    mc.cmd("SET", "k", "v")
    replicas = [nodes("--save", "", "--replicaof", "127.0.0.1", str(master.port), binary=REDIS_SERVER).conn(),
                nodes("--save", "", *shards(2), "--replicaof", "127.0.0.1", str(master.port)).conn()]
    for rc in replicas:
        wait_until(lambda: link_up(rc) and rc.cmd("GET", "k") == b"v", timeout=20, message="the replica's data")
    commands = [ev("return redis.call('set', KEYS[1], 'x')", "k"), ev("return redis.pcall('set', KEYS[1], 'x')", "k"),
                ev("return redis.call('get', KEYS[1])", "k"), ("EVAL_RO", "return redis.call('get', KEYS[1])", "1", "k"),
                ev("#!lua\nreturn 1"), ev("#!lua flags=no-writes\nreturn redis.call('get', KEYS[1])", "k")]
    same(replicas, *commands)


def test_returning_a_table_that_contains_itself(server):
    """Its reply nests until the Lua stack runs out and ends with Redis's error, as in
    redis-server (read raw: too deep for the test client's parser); the server lives on."""
    c = server.conn()
    c.send_raw(encode("EVAL", "local t = {} t[1] = t return t", "0"))
    data = b""
    while not data.endswith(b"-ERR reached lua stack limit\r\n"):
        chunk = c.sock.recv(65536)
        assert chunk, data[-200:]
        data += chunk
    assert data.startswith(b"*1\r\n*1\r\n") and data.count(b"*1\r\n") > 1000
    assert c.cmd("PING") == "PONG"
