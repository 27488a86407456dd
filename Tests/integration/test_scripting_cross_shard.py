"""Scripts whose keys live on several shards (EVAL, EVALSHA, FCALL): they lock the shards
of their declared keys whole, in the global lock order, and run on one of them, their
redis.call on the others going to those shards' owners under the locks. A script without
declared keys locks every shard (lua-allow-undeclared-keys yes, the default) or runs on one
shard only (no). Checked against redis-server for the replies, under concurrent writers for
atomicity, and with a redis-server replica for replication (one MULTI/EXEC per script).

With one shard (VALKEYPER_TEST_SHARDS=1) every script takes the single-shard path; the
tests still hold."""
import threading

import pytest

from support.differential import paired, same
from support.info import info
from support.load import Writer
from support.marks import needs_redis
from support.processes import REDIS_SERVER, TEST_SHARDS, shards
from support.replication import link_up
from support.resp import Conn, Error
from support.slots import key_on_each_shard, keys_on_two_shards
from support.waiting import wait_until

SERVER_ARGS = ("--enable-debug-command", "yes")

MOVE = ("local n = tonumber(ARGV[1]) "
        "redis.call('decrby', KEYS[1], n) redis.call('incrby', KEYS[2], n) "
        "return {redis.call('get', KEYS[1]), redis.call('get', KEYS[2])}")


def error(reply):
    assert isinstance(reply, Error), reply
    return str(reply)


def test_declared_keys_on_two_shards_match_redis(server, redis_port):
    """Reads and writes of declared keys on both shards, every reply type coming back from
    the other shard, errors from there, and EVALSHA: byte for byte as redis-server."""
    a, b = keys_on_two_shards("x")
    l, h, z, t = keys_on_two_shards("m", count=4)  # l and z on one shard, h and t on the other
    swap = ("local va = redis.call('get', KEYS[1]) local vb = redis.call('get', KEYS[2]) "
            "redis.call('set', KEYS[1], vb) redis.call('set', KEYS[2], va) return {va, vb}")
    mixed = ("redis.call('rpush', KEYS[1], 'p', 'q') redis.call('hset', KEYS[2], 'f', 'v', 'g', 'w') "
             "redis.call('zadd', KEYS[3], 1.5, 'm') redis.call('sadd', KEYS[4], 's') "
             "return {redis.call('lrange', KEYS[1], 0, -1), redis.call('hgetall', KEYS[2]), "
             "redis.call('zscore', KEYS[3], 'm'), redis.call('smembers', KEYS[4]), "
             "redis.call('exists', KEYS[1], KEYS[3]), redis.call('ttl', KEYS[2])}")
    failing = "redis.call('set', KEYS[1], 'z') return redis.call('incr', KEYS[2])"
    caught = "local r = redis.pcall('incr', KEYS[2]) return {r['err'], redis.call('get', KEYS[1])}"
    with paired(server, redis_port) as both:
        for conn in both:
            conn.cmd("SCRIPT", "FLUSH")
        same(both,
             ("SET", a, "100"), ("SET", b, "5"),
             ("EVAL", MOVE, "2", a, b, "30"), ("MGET", a, b),
             ("EVAL", swap, "2", a, b), ("MGET", a, b),
             ("EVAL", mixed, "4", l, h, z, t),
             ("SET", b + "s", "str"),
             ("EVAL", failing, "2", a + "f", b + "s"), ("GET", a + "f"),
             ("EVAL", caught, "2", a + "f", b + "s"),
             ("SCRIPT", "LOAD", MOVE), ("EVALSHA", "7bf8e7a1c4e0c0d0b1a2a9b6f0e6c5d4b3a2f1e0", "2", a, b, "1"))
        sha = both[1].cmd("SCRIPT", "LOAD", MOVE).decode()
        same(both, ("EVALSHA", sha, "2", a, b, "7"), ("EVALSHA", sha, "2", b, a, "2"), ("MGET", a, b),
             ("EVAL_RO", "return {redis.call('get', KEYS[1]), redis.call('get', KEYS[2])}", "2", a, b),
             ("EVAL_RO", "return redis.call('set', KEYS[2], 1)", "2", a, b))


def test_one_call_naming_keys_of_several_shards_matches_redis(server, redis_port):
    """One redis.call whose own keys live on several shards (MGET, MSET, DEL, UNLINK,
    EXISTS, TOUCH, with repeated and missing keys; declared keys and undeclared ones) runs
    as redis-server runs it: ValKeyper calls each shard with its keys and answers as the
    command would. Other such commands (SINTER...) still refuse it: not compared here."""
    a, b, c, d = keys_on_two_shards("sp", count=4)  # a and c on one shard, b and d on the other
    calls = ("local r = {} "
             "r[1] = redis.call('mset', KEYS[1], 'va', KEYS[2], 'vb', KEYS[3], 'vc') "
             "r[2] = redis.call('mget', KEYS[2], KEYS[1], 'nokey', KEYS[3], KEYS[2], KEYS[4]) "
             "r[3] = redis.call('exists', KEYS[1], KEYS[2], KEYS[1], KEYS[4]) "
             "r[4] = redis.call('touch', KEYS[4], KEYS[3], KEYS[2]) "
             "r[5] = redis.call('del', KEYS[1], KEYS[2], KEYS[2], KEYS[4]) "
             "r[6] = redis.call('unlink', KEYS[3], KEYS[1]) "
             "r[7] = redis.call('mget', KEYS[1], KEYS[2], KEYS[3]) "
             "return r")
    undeclared = ("redis.call('mset', ARGV[1], '1', ARGV[2], '2') "
                  "return {redis.call('mget', ARGV[2], ARGV[1]), redis.call('del', ARGV[1], ARGV[2])}")
    caught = "return redis.pcall('mset', KEYS[1], 'x', KEYS[2])"
    with paired(server, redis_port) as both:
        same(both,
             ("EVAL", calls, "4", a, b, c, d),
             ("EVAL", undeclared, "0", a + "u", b + "u"),
             ("EVAL", caught, "2", a, b), ("EXISTS", a, b),
             ("SET", c, "1"), ("LPUSH", d, "l"),
             ("EVAL", "return redis.call('mget', KEYS[1], KEYS[2])", "2", c, d),
             ("EVAL_RO", "return redis.call('exists', KEYS[1], KEYS[2])", "2", c, d),
             ("EVAL_RO", "return redis.call('del', KEYS[1], KEYS[2])", "2", c, d))
        # RESP3: the values come back as RESP3 from either shard.
        for conn in both:
            conn.cmd("HELLO", "3")
        same(both, ("EVAL", "redis.setresp(3) return redis.call('mget', KEYS[1], KEYS[2], KEYS[3])", "3", c, b, d + "no"))


@pytest.mark.skipif(int(TEST_SHARDS) < 2, reason="one shard: every key is local")
def test_undeclared_keys_lock_every_shard_by_default(server):
    """A script without declared keys reaches every shard (all of them locked); with
    lua-allow-undeclared-keys no it runs on one shard and a call elsewhere is refused. A
    script with declared keys on one shard reaching another one runs again across shards."""
    c = server.conn()
    c.cmd("FLUSHALL")
    a, b = keys_on_two_shards("u")
    assert c.cmd("EVAL", "redis.call('set', ARGV[1], 1) redis.call('set', ARGV[2], 2) "
                         "return redis.call('incr', ARGV[2]) + redis.call('incr', ARGV[1])", "0", a, b) == 5
    assert c.cmd("MGET", a, b) == [b"2", b"3"]
    refused = "ERR Script attempted to access keys that do not hash to the same slot script: "
    # Declared keys on one shard, an undeclared one on another: rerun across every shard
    # (test_scripting_undeclared_keys.py).
    assert c.cmd("EVAL", "return redis.call('get', ARGV[1])", "1", a, b) == b"3"
    assert c.cmd("CONFIG", "GET", "lua-allow-undeclared-keys") == [b"lua-allow-undeclared-keys", b"yes"]
    assert c.cmd("CONFIG", "SET", "lua-allow-undeclared-keys", "no") == "OK"
    try:
        # One key per shard of the server as it runs (it may have more than TEST_SHARDS):
        # the script's one shard answers, every other one is refused.
        keys = key_on_each_shard("u:", int(info(c, "server")["shards"]))
        c.cmd("MSET", *[x for i, k in enumerate(keys) for x in (k, str(10 + i))])
        replies = [c.cmd("EVAL", "return redis.call('get', ARGV[1])", "0", k) for k in keys]
        answered = [(k, r) for k, r in zip(keys, replies) if not isinstance(r, Error)]
        assert len(answered) == 1, replies
        assert answered[0][1] == str(10 + keys.index(answered[0][0])).encode()
        assert all(str(r).startswith(refused) for r in replies if isinstance(r, Error)), replies
    finally:
        assert c.cmd("CONFIG", "SET", "lua-allow-undeclared-keys", "yes") == "OK"


def test_scripts_across_shards_are_atomic(server):
    """Scripts move amounts between two keys on two shards while other clients do the same
    with MULTI/EXEC and read both keys with MGET, MULTI and a read-only script: every read
    sees the same sum, and the end state is the one all moves add up to."""
    c = server.conn()
    c.cmd("FLUSHALL")
    a, b = keys_on_two_shards("atomic")
    c.cmd("MSET", a, "10000", b, "10000")
    sha = c.cmd("SCRIPT", "LOAD", MOVE).decode()
    moves = 400
    bad = []

    def mover(port, reverse, use_multi):
        conn = Conn(port)
        src, dst = (b, a) if reverse else (a, b)
        for i in range(moves):
            if use_multi:
                conn.cmd("MULTI")
                conn.cmd("DECRBY", src, "3")
                conn.cmd("INCRBY", dst, "3")
                conn.cmd("EXEC")
            elif i % 2:
                conn.cmd("EVALSHA", sha, "2", src, dst, "3")
            else:
                conn.cmd("EVAL", MOVE, "2", src, dst, "3")
        conn.close()

    def read(conn, i):
        kind = i % 3
        if kind == 0:
            values = conn.cmd("MGET", a, b)
        elif kind == 1:
            conn.cmd("MULTI")
            conn.cmd("GET", a)
            conn.cmd("GET", b)
            values = conn.cmd("EXEC")
        else:
            values = conn.cmd("EVAL_RO", "return {redis.call('get', KEYS[1]), redis.call('get', KEYS[2])}",
                              "2", a, b)
        total = int(values[0]) + int(values[1])
        if total != 20000:
            bad.append(values)

    threads = [threading.Thread(target=mover, args=(server.port, r, m)) for r in (False, True) for m in (False, True)]
    threads.append(threading.Thread(target=mover, args=(server.port, False, False)))
    with Writer(server.port, read) as reader, Writer(server.port, read) as reader2:
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
            assert not t.is_alive()
        wait_until(lambda: reader.done > 10 and reader2.done > 10, timeout=30, message="the readers' steps")
    assert not bad, bad[:5]
    # Three movers a->b, two b->a, 3 each per step.
    assert c.cmd("MGET", a, b) == [str(10000 - 3 * moves).encode(), str(10000 + 3 * moves).encode()]


def test_fcall_across_shards(server, redis_port):
    """FCALL of a library function whose keys live on two shards, as redis-server answers."""
    a, b = keys_on_two_shards("f")
    library = ("#!lua name=xshard\n"
               "redis.register_function('move', function(keys, args) " + MOVE.replace("KEYS", "keys")
               .replace("ARGV", "args") + " end)\n"
               "redis.register_function{function_name='both', callback=function(keys) "
               "return {redis.call('get', keys[1]), redis.call('get', keys[2])} end, flags={'no-writes'}}")
    with paired(server, redis_port) as both:
        for conn in both:
            conn.cmd("FUNCTION", "FLUSH")
        try:
            same(both, ("FUNCTION", "LOAD", library), ("MSET", a, "50", b, "1"),
                 ("FCALL", "move", "2", a, b, "20"), ("FCALL_RO", "both", "2", a, b), ("MGET", a, b),
                 ("FCALL_RO", "move", "2", a, b, "1"))
        finally:
            for conn in both:
                conn.cmd("FUNCTION", "FLUSH")


@needs_redis
def test_cross_shard_script_effects_reach_a_redis_replica(nodes):
    """Scripts writing on two shards (EVAL, EVALSHA, FCALL, keyless scripts, a failing one)
    reach a redis-server replica, each as one MULTI/EXEC; digests end equal."""
    master = nodes("--save", "", *shards(2), "--enable-debug-command", "yes")
    m = master.conn()
    replica = nodes("--save", "", "--replicaof", "127.0.0.1", str(master.port), "--enable-debug-command", "yes",
                    binary=REDIS_SERVER)
    rc = replica.conn()
    wait_until(lambda: link_up(rc), timeout=20, message="the replica's link")
    keys = keys_on_two_shards("r", count=6)
    sha = m.cmd("SCRIPT", "LOAD", "redis.call('incr', KEYS[1]) redis.call('expire', KEYS[1], 100) "
                                  "return redis.call('hset', KEYS[2], ARGV[1], ARGV[2])")
    assert m.cmd("FUNCTION", "LOAD", "#!lua name=rl\nredis.register_function('push', function(k, a) "
                                     "redis.call('rpush', k[1], a[1]) return redis.call('sadd', k[2], a[1]) end)") == b"rl"
    for i in range(30):
        x, y = keys[i % 6], keys[(i + 1) % 6]
        m.cmd("EVAL", MOVE, "2", x, y, str(i))
        # One call naming keys of both shards: each shard's writes reach the replica.
        m.cmd("EVAL", "redis.call('mset', KEYS[1], ARGV[1], KEYS[2], ARGV[1]) "
                      "return redis.call('del', KEYS[3], KEYS[4])", "4", x + "m", y + "m", x + "z", y + "z", str(i))
        m.cmd("EVALSHA", sha, "2", x + "n", y + "h", "f%d" % i, str(i))
        m.cmd("FCALL", "push", "2", x + "l", y + "s", str(i))
        m.cmd("EVAL", "redis.call('set', ARGV[1], ARGV[3]) return redis.call('incr', ARGV[2])", "0", x + "z", y + "z",
              str(i))
    assert m.cmd("WAIT", "1", "10000") == 1
    wait_until(lambda: rc.cmd("DEBUG", "DIGEST") == m.cmd("DEBUG", "DIGEST"), timeout=10,
               message="the replica's digest")
    assert rc.cmd("DBSIZE") == m.cmd("DBSIZE")
    # redis.set_repl: a write under REPL_NONE on the other shard stays on the master.
    a, b = keys_on_two_shards("setrepl")
    assert m.cmd("EVAL", "redis.set_repl(redis.REPL_NONE) redis.call('set', KEYS[2], 'x') "
                         "redis.set_repl(redis.REPL_ALL) return redis.call('set', KEYS[1], 'y')", "2", a, b) == "OK"
    assert m.cmd("WAIT", "1", "10000") == 1
    wait_until(lambda: rc.cmd("GET", a) == b"y", timeout=10, message="the replicated write")
    assert rc.cmd("EXISTS", b) == 0 and m.cmd("EXISTS", b) == 1


def test_cross_shard_scripts_survive_an_aof_restart(make_server, tmp_path):
    """The AOF gets a script's writes on both shards (one MULTI/EXEC group); a restart
    replays them to the same data."""
    s = make_server(*shards(2), "--appendonly", "yes", "--appendfsync", "always", "--save", "",
                    "--enable-debug-command", "yes", data_dir=tmp_path)
    c = s.conn()
    a, b = keys_on_two_shards("aof")
    c.cmd("MSET", a, "100", b, "0")
    for i in range(20):
        assert c.cmd("EVAL", MOVE, "2", a, b, str(i)) == [str(100 - i * (i + 1) // 2).encode(),
                                                          str(i * (i + 1) // 2).encode()]
        c.cmd("EVAL", "redis.call('rpush', ARGV[1], ARGV[3]) return redis.call('sadd', ARGV[2], ARGV[3])", "0",
              a + "l", b + "s", str(i))
    before = c.cmd("DEBUG", "DIGEST")
    c.close()
    s.kill()
    s.start()
    assert s.conn().cmd("DEBUG", "DIGEST") == before
    assert s.conn().cmd("MGET", a, b) == [b"-90", b"190"]
