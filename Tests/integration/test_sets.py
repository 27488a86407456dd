"""Set commands (Redis 7.0's t_set.c) against redis-server 7.0: replies byte for byte in
RESP2 and RESP3 (errors, WRONGTYPE, arity, missing keys, intset order), the intset to
hashtable conversion (a non-integer member, set-max-intset-entries), SPOP and SRANDMEMBER
by their properties, SSCAN, the generic commands on sets, dumps exchanged with
redis-server both ways, and SPOP reaching replicas as SREM / DEL. Multi-key commands run with a
hash tag (one shard) and none (keys on several shards, one locked operation)."""

import pytest

from support.differential import dumps_exchanged_with_redis, paired, same, saved_and_restarted
from support.info import info
from support.marks import needs_redis
from support.processes import REDIS_SERVER, shards
from support.replication import link_up
from support.resp import Error
from support.slots import keys_on_two_shards
from support.waiting import wait_until

SERVER_ARGS = ("--enable-debug-command", "yes")


@pytest.fixture
def both(server, redis_port):
    with paired(server, redis_port, config=(("set-max-intset-entries", "512"),)) as conns:
        yield conns


# Deterministic commands (intsets answer in order) and their errors.
SCRIPT = [
    ("SADD", "{t}i", "3", "1", "2", "-5", "1"), ("SADD", "{t}i", "70000", "-9223372036854775808"),
    ("SMEMBERS", "{t}i"), ("OBJECT", "ENCODING", "{t}i"), ("SCARD", "{t}i"), ("SCARD", "nokey"),
    ("SADD", "{t}j", "2", "3", "4", "9223372036854775807"), ("SADD", "{t}k", "3", "4", "5"),
    ("SISMEMBER", "{t}i", "3"), ("SISMEMBER", "{t}i", "03"), ("SISMEMBER", "{t}i", "x"), ("SISMEMBER", "nokey", "1"),
    ("SMISMEMBER", "{t}i", "1", "9", "+1", "-5"), ("SMISMEMBER", "nokey", "a", "b"),
    ("SINTER", "{t}i", "{t}j"), ("SINTER", "{t}i", "{t}j", "{t}k"), ("SINTER", "{t}i", "{t}nokey"),
    ("SUNION", "{t}i", "{t}j", "{t}nokey"), ("SDIFF", "{t}i", "{t}j"), ("SDIFF", "{t}j", "{t}i", "{t}k"),
    ("SDIFF", "{t}nokey", "{t}i"), ("SDIFF", "{t}i", "{t}i"), ("SUNION", "{t}nokey"), ("SINTER", "{t}nokey"),
    ("SINTERSTORE", "{t}d", "{t}i", "{t}j"), ("SMEMBERS", "{t}d"), ("OBJECT", "ENCODING", "{t}d"),
    ("SUNIONSTORE", "{t}d", "{t}i", "{t}k"), ("SMEMBERS", "{t}d"), ("SDIFFSTORE", "{t}d", "{t}i", "{t}j"),
    ("SMEMBERS", "{t}d"), ("SINTERSTORE", "{t}d", "{t}i", "{t}nokey"), ("EXISTS", "{t}d"),
    ("SDIFFSTORE", "{t}d", "{t}i", "{t}i"), ("EXISTS", "{t}d"),
    ("SET", "{t}str", "v"), ("SINTER", "{t}i", "{t}str"), ("SINTER", "{t}nokey", "{t}str"),
    ("SUNION", "{t}i", "{t}str"), ("SDIFF", "{t}nokey", "{t}str"), ("SUNIONSTORE", "{t}str", "{t}i"),
    ("TYPE", "{t}str"), ("SINTERSTORE", "{t}d", "{t}str"),
    ("SADD", "{t}m", "a", "1", "b"), ("OBJECT", "ENCODING", "{t}m"), ("SDIFFSTORE", "{t}d", "{t}m", "{t}nokey"),
    ("OBJECT", "ENCODING", "{t}d"), ("SINTERSTORE", "{t}d", "{t}m", "{t}i"), ("OBJECT", "ENCODING", "{t}d"),
    ("SREM", "{t}i", "1", "1", "x", "70000"), ("SREM", "nokey", "a"), ("SREM", "{t}i"), ("SMEMBERS", "{t}i"),
    ("SREM", "{t}k", "3", "4", "5"), ("EXISTS", "{t}k"),
    # SMOVE: members, missing keys, wrong types, the same key.
    ("SMOVE", "{t}i", "{t}j", "3"), ("SMOVE", "{t}i", "{t}j", "3"), ("SMOVE", "{t}i", "{t}new", "2"),
    ("OBJECT", "ENCODING", "{t}new"), ("SMOVE", "{t}m", "{t}new2", "a"), ("OBJECT", "ENCODING", "{t}new2"),
    ("SMOVE", "{t}nokey", "{t}str", "a"), ("SMOVE", "{t}j", "{t}str", "4"), ("SMOVE", "{t}str", "{t}j", "4"),
    ("SMOVE", "{t}j", "{t}j", "4"), ("SMOVE", "{t}j", "{t}j", "nope"), ("SMEMBERS", "{t}j"),
    ("SADD", "{t}one", "1"), ("SMOVE", "{t}one", "{t}j", "1"), ("EXISTS", "{t}one"),
    # SPOP / SRANDMEMBER: only what is deterministic.
    ("SPOP", "nokey"), ("SPOP", "nokey", "3"), ("SPOP", "{t}j", "0"), ("SPOP", "{t}j", "-1"),
    ("SPOP", "{t}j", "x"), ("SPOP", "{t}j", "1", "2"), ("SRANDMEMBER", "nokey"), ("SRANDMEMBER", "nokey", "5"),
    ("SRANDMEMBER", "{t}j", "0"), ("SRANDMEMBER", "{t}j", "100"), ("SRANDMEMBER", "{t}j", "x"),
    ("SRANDMEMBER", "{t}j", "-9223372036854775808"), ("SRANDMEMBER", "{t}j", "1", "2"),
    ("SADD", "{t}p", "1", "2", "3"), ("SPOP", "{t}p", "3"), ("EXISTS", "{t}p"),
    ("SADD", "{t}p", "7"), ("SPOP", "{t}p"), ("EXISTS", "{t}p"),
    # SSCAN of an intset: the whole set, cursor 0; the errors.
    ("SSCAN", "{t}j", "0"), ("SSCAN", "{t}j", "0", "MATCH", "[23]*"), ("SSCAN", "{t}j", "abc"),
    ("SSCAN", "nokey", "0"), ("SSCAN", "{t}j", "0", "COUNT", "0"), ("SSCAN", "{t}j", "0", "COUNT", "x"),
    ("SSCAN", "{t}j", "0", "MATCH"), ("SSCAN", "{t}j", "0", "bogus", "1"),
    # Wrong types, arity.
    ("SET", "{t}s2", "v"), ("SADD", "{t}s2", "a"), ("SREM", "{t}s2", "a"), ("SCARD", "{t}s2"), ("SISMEMBER", "{t}s2", "a"),
    ("SMISMEMBER", "{t}s2", "a"), ("SMEMBERS", "{t}s2"), ("SPOP", "{t}s2"), ("SPOP", "{t}s2", "2"),
    ("SRANDMEMBER", "{t}s2"), ("SRANDMEMBER", "{t}s2", "2"), ("SSCAN", "{t}s2", "0"), ("GET", "{t}j"),
    ("SADD", "{t}j"), ("SREM", "{t}j"), ("SCARD",), ("SISMEMBER", "{t}j"), ("SMISMEMBER", "{t}j"),
    ("SMOVE", "{t}j", "{t}i"), ("SINTER",), ("SINTERSTORE", "{t}d"), ("SPOP",), ("SSCAN", "{t}j"),
    # Binary and empty members; the generic commands.
    ("SADD", "{t}bin", "", "\x00\r\n", "-0", "+1", "007"), ("OBJECT", "ENCODING", "{t}bin"), ("SCARD", "{t}bin"),
    ("SISMEMBER", "{t}bin", ""), ("SISMEMBER", "{t}bin", "-0"),
    ("TYPE", "{t}j"), ("DEBUG", "DIGEST-VALUE", "{t}j", "{t}bin", "{t}m"), ("COPY", "{t}j", "{t}j2"),
    ("SMEMBERS", "{t}j2"), ("RENAME", "{t}j2", "{t}j3"), ("SMEMBERS", "{t}j3"), ("DBSIZE",),
]


@pytest.mark.parametrize("tag", ["{t}", ""], ids=["one-shard", "across-shards"])
@pytest.mark.parametrize("protocol", ["2", "3"])
def test_replies_are_redis_own(both, protocol, tag):
    """Without the hash tag the keys of SINTER, SMOVE... fall on different shards: the
    replies must not change."""
    for c in both:
        c.cmd("HELLO", protocol)
    same(both, *[tuple(a.replace("{t}", tag) for a in args) for args in SCRIPT])
    same(both, ("DEBUG", "DIGEST"))
    assert info(both[1], "keyspace")["db0"] == info(both[0], "keyspace")["db0"]


def test_conversion_at_the_threshold(both):
    redis, vk = both
    for c in both:
        c.pipeline([("SADD", "at", str(i)) for i in range(512)])
    same(both, ("OBJECT", "ENCODING", "at"), ("SADD", "at", "511"), ("OBJECT", "ENCODING", "at"),
         ("SADD", "at", "512"), ("OBJECT", "ENCODING", "at"), ("SCARD", "at"), ("SREM", "at", "512"),
         ("OBJECT", "ENCODING", "at"), ("SADD", "s", "1"), ("SADD", "s", "x"), ("OBJECT", "ENCODING", "s"),
         ("SREM", "s", "x"), ("OBJECT", "ENCODING", "s"),
         ("CONFIG", "SET", "set-max-intset-entries", "3"), ("SADD", "c", "1", "2", "3"),
         ("OBJECT", "ENCODING", "c"), ("SADD", "c", "4"), ("OBJECT", "ENCODING", "c"),
         ("CONFIG", "GET", "set-max-intset-entries"))
    assert sorted(vk.cmd("SMEMBERS", "at")) == sorted(redis.cmd("SMEMBERS", "at"))
    same(both, ("DEBUG", "DIGEST"))


def test_hashtable_reads_and_algebra(both):
    for c in both:
        c.pipeline([("SADD", "{a}x", "m%d" % i, str(i)) for i in range(300)])
        c.pipeline([("SADD", "{a}y", "m%d" % i) for i in range(0, 600, 3)])
    redis, vk = both
    for cmd in (("SMEMBERS", "{a}x"), ("SINTER", "{a}x", "{a}y"), ("SUNION", "{a}x", "{a}y"),
                ("SDIFF", "{a}x", "{a}y"), ("SDIFF", "{a}y", "{a}x")):
        assert sorted(vk.cmd(*cmd)) == sorted(redis.cmd(*cmd)), cmd
    for store in ("SINTERSTORE", "SUNIONSTORE", "SDIFFSTORE"):
        same(both, (store, "{a}d", "{a}x", "{a}y"), ("OBJECT", "ENCODING", "{a}d"), ("DEBUG", "DIGEST-VALUE", "{a}d"))
    same(both, ("DEBUG", "DIGEST"))


@pytest.mark.parametrize("size", [5, 300])
def test_spop_and_srandmember_by_property(r, size):
    members = {("m%d" % i if size > 100 else str(i)).encode() for i in range(size)}
    r.cmd("SADD", "s", *members)
    assert r.cmd("SRANDMEMBER", "s") in members
    some = r.cmd("SRANDMEMBER", "s", "3")
    assert len(some) == 3 and len(set(some)) == 3 and set(some) <= members
    rep = r.cmd("SRANDMEMBER", "s", "-20")
    assert len(rep) == 20 and set(rep) <= members
    assert sorted(r.cmd("SRANDMEMBER", "s", str(size + 5))) == sorted(members)
    popped = set(r.cmd("SPOP", "s", "2"))
    assert len(popped) == 2 and popped <= members
    popped |= set(r.cmd("SPOP", "s", str(size - 4)))  # the strategy that keeps the rest
    assert len(popped) == size - 2
    rest = set(r.cmd("SMEMBERS", "s"))
    assert rest | popped == members and not rest & popped and len(rest) == 2
    popped.add(r.cmd("SPOP", "s"))
    assert r.cmd("SCARD", "s") == 1


def test_sscan_of_a_big_set(r):
    r.cmd("SADD", "big", *["m%d" % i for i in range(1000)])
    seen, cursor = set(), b"0"
    while True:
        cursor, batch = r.cmd("SSCAN", "big", cursor, "COUNT", "50")
        seen.update(batch)
        if cursor == b"0":
            break
    assert len(seen) == 1000


def fill_sets(c):
    c.cmd("SADD", "ints", "1", "-2", "300000", "9223372036854775807")
    c.pipeline([("SADD", "bigints", str(i * 3)) for i in range(700)])
    c.cmd("SADD", "strs", "a", "b", "\x00\xff", "12")
    c.cmd("SADD", "ttl", "x")
    c.cmd("PEXPIRE", "ttl", "100000000")
    c.cmd("SELECT", "3")
    c.cmd("SADD", "in3", "k")
    c.cmd("SELECT", "0")


def set_state(c, dbs=(0, 3)):
    out = {}
    for db in dbs:
        c.cmd("SELECT", db)
        for k in c.cmd("KEYS", "*"):
            out[(db, k)] = (sorted(c.cmd("SMEMBERS", k)), c.cmd("OBJECT", "ENCODING", k),
                            c.cmd("DEBUG", "DIGEST-VALUE", k), c.cmd("PEXPIRETIME", k) > 0)
    c.cmd("SELECT", 0)
    return out


@needs_redis
def test_dumps_exchanged_with_redis(nodes, data_dir):
    dumps_exchanged_with_redis(nodes, data_dir, fill_sets, set_state)


@pytest.mark.parametrize("before,after", [(1, 2), (2, 1)])
def test_sets_survive_save_and_restart(nodes, data_dir, before, after):
    c = saved_and_restarted(nodes, data_dir, fill_sets, set_state, before, after)
    assert c.cmd("SADD", "ints", "5") == 1 and c.cmd("OBJECT", "ENCODING", "ints") == b"intset"
    assert c.cmd("SREM", "bigints", "0") == 1 and c.cmd("SCARD", "bigints") == 699


@needs_redis
def test_set_writes_reach_a_redis_replica(nodes):
    """SPOP reaches the replica as SREM (or DEL for the whole set), SRANDMEMBER not at all."""
    master = nodes("--save", "", *shards(2), "--enable-debug-command", "yes")
    m = master.conn()
    fill_sets(m)
    replica = nodes("--save", "", "--replicaof", "127.0.0.1", str(master.port), "--enable-debug-command", "yes",
                    binary=REDIS_SERVER)
    rc = replica.conn()
    wait_until(lambda: link_up(rc), timeout=20, message="the replica's link")
    rc.cmd("CONFIG", "RESETSTAT")
    for i in range(30):
        m.cmd("SADD", "s%d" % (i % 5), str(i), "m%d" % i)
        m.cmd("SPOP", "bigints")
        m.cmd("SPOP", "bigints", "3")
        m.cmd("SRANDMEMBER", "strs", "-3")
        m.cmd("SMOVE", "{x}a", "{x}b", str(i))
        m.cmd("SMOVE", "xb", "bigints", str(i - 1))
        m.cmd("SADD", "xb", str(i), "x%d" % i)
        m.cmd("SINTERSTORE", "zu", "xb", "ya", "bigints")
        m.cmd("SDIFFSTORE", "zd", "bigints", "ya", "xb")
        m.cmd("SADD", "{x}a", str(i + 1))
        m.cmd("SUNIONSTORE", "{x}u", "{x}a", "{x}b")
    m.cmd("SPOP", "ints", "100")
    assert m.cmd("WAIT", "1", "10000") == 1
    wait_until(lambda: rc.cmd("DEBUG", "DIGEST") == m.cmd("DEBUG", "DIGEST"), timeout=10,
               message="the replica's digest")
    stats = info(rc, "commandstats")
    assert "cmdstat_spop" not in stats and "cmdstat_srandmember" not in stats
    assert "cmdstat_srem" in stats and "cmdstat_del" in stats


@pytest.mark.parametrize("tag", ["{t}", ""], ids=["one-shard", "across-shards"])
def test_sintercard(both, tag):
    for c in both:
        c.cmd("SADD", tag + "a", *[str(i) for i in range(20)])
        c.cmd("SADD", tag + "b", *[str(i) for i in range(0, 40, 2)], "x")
        c.cmd("SET", tag + "s", "v")
    a, b = tag + "a", tag + "b"
    same(both, ("SINTERCARD", "2", a, b), ("SINTERCARD", "2", a, b, "LIMIT", "3"), ("SINTERCARD", "2", a, b, "LIMIT", "0"),
         ("SINTERCARD", "1", a), ("SINTERCARD", "2", a, tag + "nokey"), ("SINTERCARD", "2", tag + "nokey", tag + "s"),
         ("SINTERCARD", "2", a, tag + "s"), ("SINTERCARD", "0", a), ("SINTERCARD", "x", a), ("SINTERCARD", "3", a, b),
         ("SINTERCARD", "2", a, b, "LIMIT"), ("SINTERCARD", "2", a, b, "LIMIT", "-1"), ("SINTERCARD", "2", a, b, "LIMIT", "x"),
         ("SINTERCARD", "2", a, b, "BOGUS", "1"), ("SINTERCARD", "2", a, a), ("SINTERCARD", "1"),
         ("SINTERCARD", "-1", a))


def test_cross_shard_store_is_atomic_under_concurrent_writers(server):
    """While writers move members between two sets on different shards, SUNIONSTORE of the
    two always sees every member exactly once (never half a move)."""
    import threading
    pa, pb = keys_on_two_shards("moving")
    c = server.conn()
    c.cmd("DEL", pa, pb, "pu")
    c.cmd("SADD", pa, *[str(i) for i in range(50)])
    stop = threading.Event()

    def mover():
        w = server.conn()
        i = 0
        while not stop.is_set():
            w.cmd("SMOVE", pa, pb, str(i % 50))
            w.cmd("SMOVE", pb, pa, str((i + 25) % 50))
            i += 1
        w.close()
    t = threading.Thread(target=mover)
    t.start()
    try:
        for _ in range(200):
            assert c.cmd("SUNIONSTORE", "pu", pa, pb) == 50
            assert len(c.cmd("SUNION", pa, pb)) == 50
    finally:
        stop.set()
        t.join()
    assert c.cmd("SCARD", pa) + c.cmd("SCARD", pb) == 50


@pytest.mark.parametrize("protocol", ["2", "3"])
def test_set_commands_in_a_transaction(both, protocol):
    """Cross-shard set commands queued in MULTI run inside EXEC's locks and answer in place."""
    for c in both:
        c.cmd("HELLO", protocol)
    same(both, ("MULTI",), ("SADD", "i", "1", "2", "x"), ("SADD", "j", "2", "3"), ("SUNIONSTORE", "d", "i", "j"),
         ("SINTER", "i", "j"), ("SINTERCARD", "2", "i", "j", "LIMIT", "1"), ("SMOVE", "i", "j", "1"),
         ("SDIFF", "i", "j"), ("SET", "str", "v"), ("SUNION", "i", "str"), ("SINTERCARD", "1", "str"),
         ("SPOP", "j", "10"), ("EXEC",), ("SCARD", "d"), ("OBJECT", "ENCODING", "d"), ("EXISTS", "j"))
    assert sorted(both[0].cmd("SMEMBERS", "d")) == sorted(both[1].cmd("SMEMBERS", "d"))


def test_cross_shard_set_writes_reach_a_valkeyper_replica(nodes):
    """A two-shard replica applies SPOP's SREMs and the cross-shard STORE forms and SMOVE
    (propagated as themselves) to the same state."""
    master = nodes("--save", "", *shards(2), "--enable-debug-command", "yes")
    m = master.conn()
    replica = nodes("--save", "", *shards(2), "--replicaof", "127.0.0.1", str(master.port),
                    "--enable-debug-command", "yes")
    rc = replica.conn()
    wait_until(lambda: link_up(rc), timeout=20, message="the replica's link")
    a, b = keys_on_two_shards("rep")
    for i in range(40):
        m.cmd("SADD", a, str(i), "m%d" % i)
        m.cmd("SMOVE", a, b, str(i // 2))
        m.cmd("SUNIONSTORE", "u", a, b)
        m.cmd("SINTERSTORE", "n", a, b)
        m.cmd("SDIFFSTORE", "d", b, a)
        m.cmd("SPOP", a)
        m.cmd("SPOP", b, "2")
    assert m.cmd("WAIT", "1", "10000") == 1
    wait_until(lambda: rc.cmd("DEBUG", "DIGEST") == m.cmd("DEBUG", "DIGEST"), timeout=10,
               message="the replica's digest")


def test_spop_of_the_whole_set_counts_a_keyspace_hit(r):
    """Redis answers SPOP key count >= size through sunionDiffGenericCommand, whose read
    lookup counts a hit; the other SPOP forms look the key up for a write and count none."""
    def hits():
        return int(info(r, "stats")["keyspace_hits"])
    r.cmd("SADD", "pop:s", "a", "b", "c")
    before = hits()
    r.cmd("SPOP", "pop:s", "1")
    r.cmd("SPOP", "pop:s")
    assert hits() == before
    r.cmd("SPOP", "pop:s", "100")
    assert hits() == before + 1
    assert r.cmd("EXISTS", "pop:s") == 0
