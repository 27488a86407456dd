"""Hash commands (Redis 7.0's t_hash.c) against redis-server 7.0: replies byte for byte in
RESP2 and RESP3 (errors, WRONGTYPE, arity, missing keys, listpack order), the listpack to
hashtable conversion at hash-max-listpack-entries / -value (and the old ziplist names),
HRANDFIELD and HSCAN (random or order-free, so checked by their properties), the generic
commands on hashes (TYPE, OBJECT ENCODING, COPY, RENAME, DEBUG DIGEST-VALUE, keyspace
counts), dumps exchanged with redis-server both ways, SAVE and restart, and HINCRBYFLOAT
reaching replicas as HSET."""

import pytest

from support.differential import dumps_exchanged_with_redis, paired, same, saved_and_restarted
from support.info import info
from support.marks import needs_redis
from support.processes import REDIS_SERVER, shards
from support.replication import link_up
from support.resp import Error
from support.waiting import wait_until

SERVER_ARGS = ("--enable-debug-command", "yes")


@pytest.fixture
def both(server, redis_port):
    limits = (("hash-max-listpack-entries", "512"), ("hash-max-listpack-value", "64"))
    with paired(server, redis_port, config=limits) as conns:
        yield conns


LONG = "x" * 65

# Deterministic commands and their errors, in both protocols: every reply must be Redis's.
SCRIPT = [
    ("HSET", "h", "a", "1", "b", "2", "c", "hello"), ("HSET", "h", "a", "9", "d", "4"),
    ("HSET", "h", "a"), ("HSET", "h"), ("HMSET", "h", "e", "5"), ("HMSET", "h", "e"),
    ("HSETNX", "h", "a", "x"), ("HSETNX", "h", "new", "x"), ("HSETNX", "fresh", "f", "v"),
    ("HGET", "h", "a"), ("HGET", "h", "nope"), ("HGET", "nokey", "a"),
    ("HMGET", "h", "a", "nope", "c"), ("HMGET", "nokey", "a", "b"),
    ("HGETALL", "h"), ("HGETALL", "nokey"), ("HKEYS", "h"), ("HKEYS", "nokey"), ("HVALS", "h"), ("HVALS", "nokey"),
    ("HLEN", "h"), ("HLEN", "nokey"), ("HEXISTS", "h", "a"), ("HEXISTS", "h", "zz"), ("HEXISTS", "nokey", "a"),
    ("HSTRLEN", "h", "c"), ("HSTRLEN", "h", "a"), ("HSTRLEN", "h", "zz"), ("HSTRLEN", "nokey", "a"),
    ("HSET", "n", "i", "-12345", "big", "9223372036854775807", "small", "-9223372036854775808", "f", "1.5", "s", "abc"),
    ("HSTRLEN", "n", "i"), ("HSTRLEN", "n", "small"),
    ("HINCRBY", "n", "i", "5"), ("HINCRBY", "n", "new", "-7"), ("HINCRBY", "n", "big", "1"),
    ("HINCRBY", "n", "small", "-1"), ("HINCRBY", "n", "s", "1"), ("HINCRBY", "n", "f", "1"),
    ("HINCRBY", "n", "i", "abc"), ("HINCRBY", "n", "i", "1.5"), ("HINCRBY", "n", "i", "9223372036854775808"),
    ("HINCRBY", "nokey2", "f", "3"),
    ("HINCRBYFLOAT", "n", "f", "0.1"), ("HINCRBYFLOAT", "n", "f", "-1.6"), ("HINCRBYFLOAT", "n", "i", "1e3"),
    ("HINCRBYFLOAT", "n", "big", "1"), ("HINCRBYFLOAT", "n", "s", "1"), ("HINCRBYFLOAT", "n", "f", "abc"),
    ("HINCRBYFLOAT", "n", "f", "inf"), ("HINCRBYFLOAT", "n", "f", "-inf"), ("HINCRBYFLOAT", "n", "f", "nan"),
    ("HINCRBYFLOAT", "n", "g", "5.0e3"), ("HINCRBYFLOAT", "gk", "g", "1e308"), ("HINCRBYFLOAT", "gk", "g", "1e308"),
    ("OBJECT", "ENCODING", "gk"),
    ("HINCRBYFLOAT", "n", "x", "1.23456789012345678"), ("HINCRBYFLOAT", "n", "x", "-1.23456789012345678"),
    ("HINCRBYFLOAT", "nokey3", "f", "2.5"), ("HGETALL", "n"),
    ("HDEL", "h", "a", "a", "nope"), ("HDEL", "h", "nope"), ("HDEL", "nokey", "a"), ("HDEL", "h"),
    ("HGETALL", "h"), ("HDEL", "h", "b", "c", "d", "e", "new"), ("EXISTS", "h"), ("HLEN", "h"),
    # HRANDFIELD: only what is deterministic (errors, empty answers, the whole hash).
    ("HSET", "r", "a", "1", "b", "2", "c", "3"),
    ("HRANDFIELD", "nokey"), ("HRANDFIELD", "nokey", "3"), ("HRANDFIELD", "nokey", "-3", "WITHVALUES"),
    ("HRANDFIELD", "r", "0"), ("HRANDFIELD", "r", "0", "withvalues"), ("HRANDFIELD", "r", "3"),
    ("HRANDFIELD", "r", "10", "WITHVALUES"), ("HRANDFIELD", "r", "abc"), ("HRANDFIELD", "r", "1", "bogus"),
    ("HRANDFIELD", "r", "1", "WITHVALUES", "x"), ("HRANDFIELD", "r", "-9223372036854775808"),
    ("HRANDFIELD", "r", "-9223372036854775807", "WITHVALUES"), ("HRANDFIELD", "r", "4611686018427387904", "withvalues"),
    ("HRANDFIELD", "nokey", "abc"),
    # HSCAN of a listpack: the whole hash, cursor 0; the errors.
    ("HSCAN", "r", "0"), ("HSCAN", "r", "0", "MATCH", "[ab]"), ("HSCAN", "r", "0", "COUNT", "1", "MATCH", "*"),
    ("HSCAN", "r", "abc"), ("HSCAN", "nokey", "abc"), ("HSCAN", "nokey", "0"), ("HSCAN", "r", "0", "COUNT", "0"),
    ("HSCAN", "r", "0", "COUNT", "x"), ("HSCAN", "r", "0", "TYPE", "string"), ("HSCAN", "r", "0", "MATCH"),
    ("HSCAN", "nokey", "0", "bogus"),
    # Wrong types both ways, arity.
    ("SET", "str", "v"), ("HSET", "str", "f", "v"), ("HGET", "str", "f"), ("HMGET", "str", "f"), ("HGETALL", "str"),
    ("HKEYS", "str"), ("HVALS", "str"), ("HDEL", "str", "f"), ("HLEN", "str"), ("HEXISTS", "str", "f"),
    ("HSTRLEN", "str", "f"), ("HINCRBY", "str", "f", "1"), ("HINCRBYFLOAT", "str", "f", "1"), ("HSETNX", "str", "f", "v"),
    ("HRANDFIELD", "str"), ("HRANDFIELD", "str", "2"), ("HSCAN", "str", "0"), ("HMSET", "str", "f", "v"),
    ("GET", "r"), ("INCR", "r"), ("XLEN", "r"), ("HINCRBY", "str", "f", "abc"),
    ("HGET", "r"), ("HLEN",), ("HSETNX", "r", "a"), ("HINCRBY", "r", "a"), ("HSTRLEN", "r"), ("HRANDFIELD",),
    ("HSCAN", "r"),
    # Binary, empty and long fields and values; the generic commands.
    ("HSET", "bin", "", "", "\x00\r\n", "v\x00", "x" * 64, "x"), ("HGETALL", "bin"), ("HGET", "bin", ""),
    ("HSET", "longf", LONG, "x"), ("HGETALL", "longf"), ("OBJECT", "ENCODING", "longf"),
    ("TYPE", "r"), ("OBJECT", "ENCODING", "r"), ("OBJECT", "ENCODING", "bin"),
    ("DEBUG", "DIGEST-VALUE", "r", "n"), ("COPY", "r", "r2"), ("HGETALL", "r2"), ("RENAME", "r2", "r3"),
    ("HGETALL", "r3"), ("EXISTS", "r2"), ("DEBUG", "DIGEST-VALUE", "r3"), ("HSET", "r3", "z", "26"),
    ("HGETALL", "r"), ("DBSIZE",),
]


@pytest.mark.parametrize("protocol", ["2", "3"])
def test_replies_are_redis_own(both, protocol):
    for c in both:
        c.cmd("HELLO", protocol)
    same(both, *SCRIPT)
    same(both, ("DEBUG", "DIGEST"))
    # The same lookups count the same hits and misses.
    stats = [{k: info(c, "stats")[k] for k in ("keyspace_hits", "keyspace_misses")} for c in both]
    assert stats[1] == stats[0]
    assert info(both[1], "keyspace")["db0"] == info(both[0], "keyspace")["db0"]


def encodings(c, key):
    return c.cmd("OBJECT", "ENCODING", key)


def test_conversion_at_the_thresholds(both):
    redis, vk = both
    for c in both:
        c.pipeline([("HSET", "at", "f%d" % i, "v") for i in range(512)])
        c.cmd("HSET", "long", "f", "x" * 64)
    same(both, ("OBJECT", "ENCODING", "at"), ("OBJECT", "ENCODING", "long"), ("HGETALL", "at"))
    assert encodings(vk, "at") == b"listpack"
    same(both, ("HSET", "at", "f512", "v"), ("OBJECT", "ENCODING", "at"), ("HLEN", "at"),
         ("HSET", "long", "g", "x" * 65), ("OBJECT", "ENCODING", "long"),
         ("HSET", "field", "y" * 65, "v"), ("OBJECT", "ENCODING", "field"),
         ("HSETNX", "nx", "f", "x" * 65), ("OBJECT", "ENCODING", "nx"),
         ("HINCRBY", "incr", "z" * 65, "1"), ("OBJECT", "ENCODING", "incr"),
         ("HINCRBYFLOAT", "fl", "z" * 65, "1.5"), ("OBJECT", "ENCODING", "fl"))
    assert encodings(vk, "at") == b"hashtable"
    # Never back: deleting down to one field keeps the table.
    same(both, ("HDEL", "at", *["f%d" % i for i in range(512)]), ("OBJECT", "ENCODING", "at"), ("HGETALL", "at"))
    # The limits are configurable, under the old names too.
    same(both, ("CONFIG", "SET", "hash-max-ziplist-entries", "4"), ("CONFIG", "GET", "hash-max-listpack-entries"),
         ("CONFIG", "SET", "hash-max-ziplist-value", "3"), ("CONFIG", "GET", "hash-max-listpack-value"),
         ("HSET", "small", "a", "1", "b", "2", "c", "3", "d", "4"), ("OBJECT", "ENCODING", "small"),
         ("HSET", "small", "e", "5"), ("OBJECT", "ENCODING", "small"),
         ("HSET", "v", "a", "abcd"), ("OBJECT", "ENCODING", "v"),
         ("HSET", "w", "abc", "abc"), ("OBJECT", "ENCODING", "w"),
         ("HINCRBYFLOAT", "w", "abc", "0.5"), ("OBJECT", "ENCODING", "w"),
         ("HINCRBY", "i", "a", "1000"), ("OBJECT", "ENCODING", "i"))
    # Hashtable replies hold the same pairs (in an order of their own).
    for key in ("at", "long", "field"):
        assert vk.cmd("HGETALL", key) == redis.cmd("HGETALL", key) or \
            sorted(pairs(vk.cmd("HGETALL", key))) == sorted(pairs(redis.cmd("HGETALL", key)))
        assert vk.cmd("DEBUG", "DIGEST-VALUE", key) == redis.cmd("DEBUG", "DIGEST-VALUE", key)


def test_small_hashes_kept_by_their_entries(both):
    """A listpack hash lives in its key's entry without an object: every way a key moves or
    is copied (RENAME and COPY on one shard and across shards, MOVE, SWAPDB, DUMP/RESTORE)
    keeps its value and encoding, later writes still convert at the limits,
    and past 32000 fields (where the listpack header stops counting) nothing changes for
    clients. Replies and digests equal redis-server's."""
    same(both, ("HSET", "{a}h", "f1", "v1", "f2", "2", "f3", "-3"), ("RENAME", "{a}h", "{a}r"),
         ("HGETALL", "{a}r"), ("COPY", "{a}r", "{a}c"), ("HSET", "{a}c", "f4", "v4"), ("HGETALL", "{a}r"),
         ("HGETALL", "{a}c"), ("RENAME", "{a}c", "elsewhere"), ("COPY", "elsewhere", "other"),
         ("HDEL", "other", "f1"), ("HGETALL", "elsewhere"), ("HGETALL", "other"), ("MOVE", "other", "3"),
         ("SELECT", "3"), ("HGETALL", "other"), ("SWAPDB", "0", "3"), ("HGETALL", "other"), ("SELECT", "0"),
         ("HGETALL", "other"), ("OBJECT", "ENCODING", "other"), ("TYPE", "other"),
         ("HSET", "other", "long", "x" * 65), ("OBJECT", "ENCODING", "other"), ("HGET", "other", "long"),
         ("EXPIRE", "{a}r", "100"), ("HSET", "{a}r", "f5", "v5"), ("TTL", "{a}r"), ("DEBUG", "DIGEST"))
    redis, vk = both
    for c in both:
        dump = c.cmd("DUMP", "{a}r")
        assert c.cmd("RESTORE", "restored", "0", dump) == "OK"
    same(both, ("HGETALL", "restored"), ("OBJECT", "ENCODING", "restored"), ("HSET", "restored", "n", "1"),
         ("HGETALL", "restored"), ("HSET", "{a}r", "after", "restore"), ("HGETALL", "{a}r"), ("DEBUG", "DIGEST"))
    # A listpack past 32000 fields: the entry hands it to an object, still a listpack.
    for c in both:
        c.cmd("CONFIG", "SET", "hash-max-listpack-entries", "40000")
        for start in range(0, 32100, 1000):
            c.cmd("HSET", "wide", *[x for i in range(start, start + 1000) for x in ("f%d" % i, "1")])
    same(both, ("HLEN", "wide"), ("OBJECT", "ENCODING", "wide"), ("HGET", "wide", "f32099"),
         ("HDEL", "wide", "f0", "f32099"), ("HLEN", "wide"), ("HSET", "wide", "f0", "back"), ("HLEN", "wide"),
         ("DEBUG", "DIGEST-VALUE", "wide"), ("COPY", "wide", "wide2"), ("HLEN", "wide2"),
         ("OBJECT", "ENCODING", "wide2"), ("DEBUG", "DIGEST"))


def pairs(flat):
    return list(zip(flat[::2], flat[1::2]))


def test_hashtable_reads(both):
    """A big hash: every read agrees with Redis once order is set aside."""
    redis, vk = both
    for c in both:
        c.pipeline([("HSET", "big", "f%d" % i, "v%d" % i) for i in range(2000)])
        c.cmd("HDEL", "big", *["f%d" % i for i in range(0, 2000, 3)])
    same(both, ("HLEN", "big"), ("HGET", "big", "f1"), ("HGET", "big", "f3"), ("HMGET", "big", "f1", "f3", "f1999"),
         ("HEXISTS", "big", "f4"), ("HSTRLEN", "big", "f1000"), ("OBJECT", "ENCODING", "big"),
         ("DEBUG", "DIGEST-VALUE", "big"), ("HSET", "big", "f1", "changed", "f3", "back"), ("HINCRBY", "big", "n", "5"),
         ("HINCRBYFLOAT", "big", "n", "0.25"), ("HLEN", "big"), ("DEBUG", "DIGEST-VALUE", "big"))
    assert sorted(pairs(vk.cmd("HGETALL", "big"))) == sorted(pairs(redis.cmd("HGETALL", "big")))
    assert sorted(vk.cmd("HKEYS", "big")) == sorted(redis.cmd("HKEYS", "big"))
    assert sorted(vk.cmd("HVALS", "big")) == sorted(redis.cmd("HVALS", "big"))
    for c in both:
        c.cmd("HELLO", "3")
    assert vk.cmd("HGETALL", "big") == redis.cmd("HGETALL", "big")  # maps: order-free
    # Deleting every field removes the key.
    keys = vk.cmd("HKEYS", "big")
    assert vk.cmd("HDEL", "big", *keys) == len(keys)
    assert vk.cmd("EXISTS", "big") == 0


@pytest.mark.parametrize("size", [5, 300])
@pytest.mark.parametrize("protocol", ["2", "3"])
def test_hrandfield(r, size, protocol):
    r.cmd("HELLO", protocol)
    h = {b"f%d" % i: b"v%d" % i for i in range(size)}
    r.cmd("HSET", "h", *[x for kv in h.items() for x in kv])
    assert r.cmd("HRANDFIELD", "h") in h
    # Negative: exactly |count| picks, repeats allowed; with values, each a real pair.
    picks = r.cmd("HRANDFIELD", "h", "-50")
    assert len(picks) == 50 and all(p in h for p in picks)
    withvalues = r.cmd("HRANDFIELD", "h", "-50", "WITHVALUES")
    got = withvalues if protocol == "3" else pairs(withvalues)
    assert len(got) == 50 and all(h[f] == v for f, v in got)
    if protocol == "3":
        assert r.raw("HRANDFIELD", "h", "-1", "WITHVALUES").startswith(b"*1\r\n*2\r\n")
    # Positive: distinct fields, as many as asked (all of them when asking more).
    for count in (1, 3, size - 1, size, size + 10):
        got = r.cmd("HRANDFIELD", "h", str(count))
        assert len(got) == min(count, size) and len(set(got)) == len(got) and set(got) <= set(h)
        got = r.cmd("HRANDFIELD", "h", str(count), "WITHVALUES")
        got = got if protocol == "3" else pairs(got)
        assert len(got) == min(count, size) and all(h[f] == v for f, v in got)
    # Every field turns up eventually. Drawn until all are seen, at most 2,000 times: 200
    # draws of 20 out of 300 fields missed one in about 2,000 runs with uniform picks (a
    # fresh-clone CI run hit it; 400,000 picks had chi-square 288 for 299 degrees of
    # freedom). With 40,000 picks a uniform sampler misses one with odds of about 1e-55.
    seen = set()
    for _ in range(2000):
        seen.update(r.cmd("HRANDFIELD", "h", "-20"))
        if len(seen) == len(h):
            break
    assert seen == set(h)


def test_hscan_of_a_big_hash(r):
    h = {b"f%d" % i: b"v%d" % i for i in range(3000)}
    r.pipeline([("HSET", "h", f, v) for f, v in h.items()])
    assert r.cmd("OBJECT", "ENCODING", "h") == b"hashtable"
    found, cursor, calls = {}, b"0", 0
    while True:
        cursor, page = r.cmd("HSCAN", "h", cursor, "COUNT", "50")
        found.update(pairs(page))
        calls += 1
        if cursor == b"0":
            break
    assert found == h and calls > 10
    # MATCH filters on fields; pairs stay whole. Writes during a scan: the fields present
    # all along are all returned.
    matched, cursor = {}, b"0"
    while True:
        cursor, page = r.cmd("HSCAN", "h", cursor, "MATCH", "f1*", "COUNT", "100")
        matched.update(pairs(page))
        r.cmd("HSET", "h", b"late%s" % cursor, "x")
        if cursor == b"0":
            break
    assert {f for f in h if f.startswith(b"f1")} <= set(matched)
    assert all(f.startswith(b"f1") for f in matched)
    assert r.raw("HSCAN", "h", "0", "COUNT", "0") == b"-ERR syntax error\r\n"


def test_hash_keyspace_and_key_commands(r):
    r.cmd("HSET", "h", "a", "1")
    r.cmd("SELECT", "2")
    r.cmd("HSET", "h2", "a", "1")
    r.cmd("SELECT", "0")
    assert info(r, "keyspace")["db0"].startswith("keys=1,")
    assert info(r, "keyspace")["db2"].startswith("keys=1,")
    assert r.cmd("MOVE", "h", "2") == 1
    r.cmd("SELECT", "2")
    assert r.cmd("HGETALL", "h") == [b"a", b"1"]
    assert r.cmd("SCAN", "0", "TYPE", "hash")[1] in ([b"h", b"h2"], [b"h2", b"h"])
    assert r.cmd("EXPIRE", "h", "100") == 1 and r.cmd("HSET", "h", "b", "2") == 1
    assert 0 < r.cmd("TTL", "h") <= 100, "writing a field keeps the TTL"
    assert r.cmd("HDEL", "h", "a", "b") == 2 and r.cmd("EXISTS", "h") == 0


@pytest.mark.parametrize("before,after", [(1, 2), (2, 1)])
def test_hashes_survive_save_and_restart(nodes, data_dir, before, after):
    c = saved_and_restarted(nodes, data_dir, fill_hashes, hash_state, before, after)
    # The loaded hashes keep working in their encodings.
    assert c.cmd("HSET", "small", "new", "1") == 1 and c.cmd("OBJECT", "ENCODING", "small") == b"listpack"
    assert c.cmd("HDEL", "big", "f1") == 1 and c.cmd("HLEN", "big") == 699


def fill_hashes(c):
    """Hashes of both encodings, integers and binary data, one with a TTL, in two databases."""
    c.cmd("HSET", "small", "name", "ada", "n", "42", "neg", "-7", "bin", "\x00\xff")
    c.pipeline([("HSET", "big", "f%d" % i, str(i * 7)) for i in range(700)])
    c.cmd("HSET", "longval", "f", "v" * 200)
    c.cmd("HSET", "ttl", "a", "b")
    c.cmd("PEXPIRE", "ttl", "100000000")
    c.cmd("HINCRBYFLOAT", "float", "x", "3.25")
    c.cmd("SELECT", "3")
    c.cmd("HSET", "in3", "k", "v")
    c.cmd("SELECT", "0")


def hash_state(c, dbs=(0, 3)):
    out = {}
    for db in dbs:
        c.cmd("SELECT", db)
        for k in c.cmd("KEYS", "*"):
            out[(db, k)] = (sorted(pairs(c.cmd("HGETALL", k))), c.cmd("OBJECT", "ENCODING", k),
                            c.cmd("DEBUG", "DIGEST-VALUE", k), c.cmd("PEXPIRETIME", k) > 0)
    c.cmd("SELECT", 0)
    return out


@needs_redis
@pytest.mark.parametrize("compression", ["yes", "no"])
def test_dumps_exchanged_with_redis(nodes, data_dir, compression):
    """redis-server 7.0 writes hashes (types 16 and 4); ValKeyper loads them into the same
    state (equal digests), saves them, and redis-server loads ValKeyper's dump back."""
    dumps_exchanged_with_redis(nodes, data_dir, fill_hashes, hash_state, args=("--rdbcompression", compression))


@needs_redis
def test_hash_writes_reach_a_redis_replica(nodes):
    """HINCRBYFLOAT reaches the replica as HSET with the result (the replica never does the
    float arithmetic); the other writes as themselves. Digests end equal."""
    master = nodes("--save", "", *shards(2), "--enable-debug-command", "yes")
    m = master.conn()
    fill_hashes(m)  # before the replica: travels in the full sync
    replica = nodes("--save", "", "--replicaof", "127.0.0.1", str(master.port), "--enable-debug-command", "yes",
                    binary=REDIS_SERVER)
    rc = replica.conn()
    wait_until(lambda: link_up(rc), timeout=20, message="the replica's link")
    rc.cmd("CONFIG", "RESETSTAT")
    for i in range(50):
        m.cmd("HINCRBYFLOAT", "f{x}", "x", "0.1")
        m.cmd("HINCRBY", "f{x}", "n", str(i))
        m.cmd("HSET", "h%d" % (i % 7), "k%d" % i, "v")
        m.cmd("HDEL", "h%d" % ((i + 3) % 7), "k%d" % (i - 3))
        m.cmd("HRANDFIELD", "big", "-3")
    m.cmd("HSETNX", "small", "name", "x")   # changes nothing: not propagated
    m.cmd("HDEL", "small", "nope")
    assert m.cmd("WAIT", "1", "10000") == 1
    wait_until(lambda: rc.cmd("DEBUG", "DIGEST") == m.cmd("DEBUG", "DIGEST"), timeout=10,
               message="the replica's digest")
    assert rc.cmd("HGET", "f{x}", "x") == m.cmd("HGET", "f{x}", "x") == b"5"
    stats = info(rc, "commandstats")
    assert "cmdstat_hincrbyfloat" not in stats and "cmdstat_hrandfield" not in stats
    assert stats["cmdstat_hset"].startswith("calls=100,"), stats["cmdstat_hset"]


def test_hincrbyfloat_reaches_a_valkeyper_replica_as_hset(nodes):
    master = nodes("--save", "", *shards(2))
    m = master.conn()
    replica = nodes("--save", "", "--replicaof", "127.0.0.1", str(master.port))
    rc = replica.conn()
    wait_until(lambda: link_up(rc), timeout=20, message="the replica's link")
    m.cmd("HSET", "h", "x", "10.5")
    assert m.cmd("HINCRBYFLOAT", "h", "x", "0.1") == b"10.6"
    assert m.cmd("WAIT", "1", "10000") == 1
    wait_until(lambda: rc.cmd("HGET", "h", "x") == b"10.6", timeout=10, message="the replica's value")
    stats = info(rc, "commandstats")
    assert "cmdstat_hincrbyfloat" not in stats
    assert stats["cmdstat_hset"].startswith("calls=2,")


def test_limits_from_the_config_file_and_command_line(make_server, tmp_path):
    """The old ziplist names work in a config file and on the command line."""
    conf = tmp_path / "hashes.conf"
    conf.write_text("hash-max-ziplist-entries 2\nhash-max-ziplist-value 3\n")
    s = make_server(config_file=conf)
    c = s.conn()
    assert c.cmd("CONFIG", "GET", "hash-max-listpack-entries") == [b"hash-max-listpack-entries", b"2"]
    assert c.cmd("CONFIG", "GET", "hash-max-ziplist-value") == [b"hash-max-ziplist-value", b"3"]
    c.cmd("HSET", "h", "a", "1", "b", "2")
    assert c.cmd("OBJECT", "ENCODING", "h") == b"listpack"
    c.cmd("HSET", "h", "c", "3")
    assert c.cmd("OBJECT", "ENCODING", "h") == b"hashtable"
    c.cmd("HSET", "v", "a", "abcd")
    assert c.cmd("OBJECT", "ENCODING", "v") == b"hashtable"
    c2 = make_server("--hash-max-listpack-entries", "1").conn()
    c2.cmd("HSET", "h", "a", "1", "b", "2")
    assert c2.cmd("OBJECT", "ENCODING", "h") == b"hashtable"


@needs_redis
def test_a_valkeyper_replica_of_redis_ends_with_its_digest(master, nodes):
    """Hashes of every encoding in the full sync's dump, then a mixed stream of hash writes
    (Redis's own HSET rewrite of HINCRBYFLOAT included): the digests end equal."""
    m = master.conn()
    fill_hashes(m)
    replica = nodes("--save", "", *shards(2), "--replicaof", "127.0.0.1", str(master.port),
                    "--enable-debug-command", "yes")
    rc = replica.conn()
    wait_until(lambda: link_up(rc), timeout=20, message="the replica's link")
    for i in range(300):
        m.cmd("HINCRBYFLOAT", "fl", "f%d" % (i % 5), "1.1")
        m.cmd("HSET", "grow", "f%d" % i, "v" * (i % 90))
        m.cmd("HINCRBY", "big", "f%d" % i, i)
        if i % 3 == 0:
            m.cmd("HDEL", "grow", "f%d" % (i // 2))
    m.cmd("HDEL", "small", "name", "n", "neg", "bin")   # the key goes
    assert m.cmd("WAIT", "1", "10000") == 1
    wait_until(lambda: rc.cmd("DEBUG", "DIGEST") == m.cmd("DEBUG", "DIGEST"), timeout=10,
               message="the replica's digest")
    assert rc.cmd("EXISTS", "small") == 0
    assert rc.cmd("OBJECT", "ENCODING", "grow") == m.cmd("OBJECT", "ENCODING", "grow") == b"hashtable"
