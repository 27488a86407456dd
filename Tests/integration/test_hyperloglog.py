"""HyperLogLog (Redis 7.0's hyperloglog.c) against redis-server 7.0: PFADD, PFCOUNT, PFMERGE,
PFDEBUG and PFSELFTEST replies byte for byte in RESP2 and RESP3, the HLL strings themselves
(GET after the same PFADDs is the same bytes: same header, cache, sparse and dense encodings),
counts over cardinalities up to 100k, hll-sparse-max-bytes, HLLs moved between the servers
with GET/SET, corrupt HLL strings (refused with Redis's errors, never a crash), keys on two
shards, and what replicas receive."""
import os
import random
import shutil

import pytest

from support.differential import paired, same
from support.info import info
from support.replication import link_up, wait_same_data
from support.resp import Conn
from support.slots import keys_on_two_shards
from support.waiting import wait_until


@pytest.fixture
def both(server, redis_port):
    with paired(server, redis_port, config=(("hll-sparse-max-bytes", "3000"),)) as conns:
        yield conns


def pipelined(conn, commands):
    """Raw replies of `commands` sent in one write."""
    from support.resp import encode
    conn.send_raw(b"".join(encode(*c) for c in commands))
    return [conn.read_raw() for _ in commands]


BASICS = [
    ("PFADD", "h", "a", "b", "c"), ("PFADD", "h", "a"), ("PFADD", "h"), ("PFADD", "new"), ("GET", "new"),
    ("PFCOUNT", "h"), ("GET", "h"), ("PFCOUNT", "h"), ("PFCOUNT", "nokey"), ("PFCOUNT", "h", "nokey"),
    ("STRLEN", "h"), ("OBJECT", "ENCODING", "h"), ("PFDEBUG", "DECODE", "h"), ("PFDEBUG", "ENCODING", "h"),
    ("PFDEBUG", "decode", "new"), ("PFADD", "h2", "c", "d", "e"), ("PFCOUNT", "h", "h2"), ("GET", "h"),
    ("PFMERGE", "m", "h", "h2"), ("GET", "m"), ("PFCOUNT", "m"), ("PFMERGE", "m"), ("PFMERGE", "empty"),
    ("GET", "empty"), ("PFMERGE", "h", "h2"), ("GET", "h"),
    ("PFDEBUG", "TODENSE", "h"), ("PFDEBUG", "TODENSE", "h"), ("PFDEBUG", "ENCODING", "h"), ("STRLEN", "h"),
    ("PFDEBUG", "DECODE", "h"), ("PFCOUNT", "h"), ("GET", "h"), ("PFADD", "h", "zz"), ("GET", "h"),
    ("PFMERGE", "m2", "h", "h2"), ("PFDEBUG", "ENCODING", "m2"), ("GET", "m2"), ("PFMERGE", "h2", "m2"),
    ("PFDEBUG", "ENCODING", "h2"), ("PFDEBUG", "GETREG", "h2"), ("PFDEBUG", "ENCODING", "h2"),
    ("PFDEBUG", "GETREG", "m"), ("PFDEBUG", "ENCODING", "m"),
    # TTLs survive; every command's errors, in Redis's order of checks.
    ("PFADD", "t", "x"), ("EXPIRE", "t", "100"), ("PFDEBUG", "TODENSE", "t"), ("TTL", "t"), ("PFADD", "t", "y"),
    ("TTL", "t"),
    ("SET", "s", "foo"), ("PFADD", "s", "a"), ("PFCOUNT", "s"), ("PFCOUNT", "h", "s"), ("PFMERGE", "s", "h"),
    ("PFMERGE", "h", "s"), ("PFDEBUG", "GETREG", "s"), ("PFDEBUG", "FOO", "s"),
    ("SADD", "set", "a"), ("PFADD", "set", "a"), ("PFCOUNT", "set"), ("PFCOUNT", "h", "set"), ("PFMERGE", "set", "h"),
    ("PFMERGE", "d", "h", "set", "nokey"), ("EXISTS", "d"), ("PFDEBUG", "ENCODING", "set"),
    ("PFDEBUG", "FOO", "h"), ("PFDEBUG", "foo", "nokey"), ("PFDEBUG", b"\xff\xfe\r\nx", "h"), ("PFDEBUG", b"a\x00b", "h"), ("PFDEBUG", "GETREG", "nokey"), ("PFDEBUG", "GETREG"),
    ("PFDEBUG", "GETREG", "h", "x"), ("PFADD",), ("PFCOUNT",), ("PFMERGE",), ("PFSELFTEST", "x"),
    ("SET", "short", "HYLL"), ("PFCOUNT", "short"), ("SET", "num", "1234567890123456789"), ("PFADD", "num", "a"),
    ("SET", "enc2", b"HYLL\x02" + b"\x00" * 11 + b"\x7f\xff"), ("PFCOUNT", "enc2"),
    ("SET", "badlen", b"HYLL\x00" + b"\x00" * 100), ("PFCOUNT", "badlen"), ("PFADD", "badlen", "a"),
    ("SET", "magic", b"HYLM\x01" + b"\x00" * 11 + b"\x7f\xff"), ("PFCOUNT", "magic"),
    # Sparse bodies that do not cover 16384 registers.
    ("SET", "short1", b"HYLL\x01" + b"\x00" * 11 + b"\x7f\xfe"), ("PFCOUNT", "short1"), ("PFADD", "short1", "a"),
    ("PFCOUNT", "short1", "h"), ("PFDEBUG", "GETREG", "short1"), ("PFDEBUG", "DECODE", "short1"),
    ("SET", "long1", b"HYLL\x01" + b"\x00" * 11 + b"\x7f\xff\x80"), ("PFCOUNT", "long1"), ("PFMERGE", "x", "long1"),
    ("SET", "nobody", b"HYLL\x01" + b"\x00" * 11), ("PFCOUNT", "nobody"), ("PFADD", "nobody", "a"),
    ("PFDEBUG", "DECODE", "nobody"), ("PFDEBUG", "TODENSE", "nobody"),
    ("SET", "half", b"HYLL\x01" + b"\x00" * 11 + b"\x7f"), ("PFCOUNT", "half"), ("PFDEBUG", "DECODE", "half"),
    # A valid cache is returned as stored, even if it does not match the registers.
    ("SET", "cached", b"HYLL\x01\x00\x00\x00\x39\x05\x00\x00\x00\x00\x00\x00\x7f\xff"), ("PFCOUNT", "cached"),
    ("PFCOUNT", "cached", "nokey"), ("PFADD", "cached"), ("PFCOUNT", "cached"), ("PFADD", "cached", "q"),
    ("PFCOUNT", "cached"), ("GET", "cached"),
    # Redis's hyperloglog.tcl corruptions: a tail appended, the magic or the encoding overwritten.
    ("PFADD", "c1", "a", "b", "c"), ("APPEND", "c1", "hello"), ("PFCOUNT", "c1"), ("PFADD", "c1", "d"),
    ("PFADD", "c2", "a", "b", "c"), ("SETRANGE", "c2", "0", "0123"), ("PFCOUNT", "c2"),
    ("PFADD", "c3", "a", "b", "c"), ("SETRANGE", "c3", "4", "x"), ("PFCOUNT", "c3"),
    ("PFADD", "c4", "a", "b", "c"), ("SETRANGE", "c4", "4", b"\x00"), ("PFCOUNT", "c4"), ("PFADD", "c4", "z"),
    ("PFADD", "c5", "a", "b", "c"), ("PFCOUNT", "c5"), ("GETRANGE", "c5", "15", "15"), ("PFADD", "c5", "a", "b", "c"),
    ("GETRANGE", "c5", "15", "15"), ("PFADD", "c5", "1", "2", "3"), ("GETRANGE", "c5", "15", "15"),
]


def test_basics_and_errors(both):
    same(both, *BASICS)


def test_replies_in_resp3(both):
    for c in both:
        c.cmd("HELLO", "3")
    same(both, ("PFADD", "h", "a", "b"), ("PFCOUNT", "h"), ("PFMERGE", "m", "h"), ("PFDEBUG", "ENCODING", "m"),
         ("PFDEBUG", "DECODE", "m"), ("PFDEBUG", "TODENSE", "m"), ("PFDEBUG", "GETREG", "m"), ("PFCOUNT", "h", "m"),
         ("SET", "s", "x"), ("PFCOUNT", "s"), ("PFDEBUG", "GETREG", "nokey"))


def test_counts_and_strings_equal_up_to_100k(both):
    """The same PFADDs give the same replies, counts and string bytes at every checkpoint:
    through the sparse encoding, the promotion and the dense one."""
    redis, vk = both
    checkpoints = [1, 2, 3, 5, 10, 20, 50, 100, 200, 300, 500, 700, 1000, 1500, 2000, 3000, 5000, 10000,
                   20000, 35000, 50000, 75000, 100000]
    added = 0
    for target in checkpoints:
        batch = []
        while added < target:
            n = min(100, target - added)
            batch.append(("PFADD", "hll", *("e%d" % (added + i) for i in range(n))))
            added += n
        assert pipelined(vk, batch) == pipelined(redis, batch), target
        same(both, ("PFCOUNT", "hll"), ("PFDEBUG", "ENCODING", "hll"), ("GET", "hll"), ("PFCOUNT", "hll", "nokey"))
    count = vk.cmd("PFCOUNT", "hll")
    assert abs(count - 100000) < 100000 * 0.02


def test_small_cardinalities_many_sets(both):
    """Many small HLLs of random elements (binary too): every count and string equal."""
    rng = random.Random(15)
    commands = []
    for k in range(60):
        size = rng.choice([1, 2, 5, 17, 64, 200, 900])
        elements = [bytes(rng.randrange(256) for _ in range(rng.randrange(0, 12))) for _ in range(size)]
        commands.append(("PFADD", "k%d" % k, *elements))
        commands.append(("PFCOUNT", "k%d" % k))
        commands.append(("GET", "k%d" % k))
    redis, vk = both
    assert pipelined(vk, commands) == pipelined(redis, commands)
    same(both, ("PFCOUNT", *("k%d" % k for k in range(60))), ("PFMERGE", "all", *("k%d" % k for k in range(60))),
         ("GET", "all"), ("PFCOUNT", "all"))


@pytest.mark.parametrize("limit", ["0", "20", "100", "500", "20000"])
def test_sparse_max_bytes(both, limit):
    redis, vk = both
    same(both, ("CONFIG", "SET", "hll-sparse-max-bytes", limit), ("CONFIG", "GET", "hll-sparse-max-bytes"))
    for n in range(0, 4000, 50):
        same(both, ("PFADD", "h", *("x%d" % i for i in range(n, n + 50))), ("PFDEBUG", "ENCODING", "h"))
    same(both, ("GET", "h"), ("PFCOUNT", "h"), ("STRLEN", "h"))


def test_hlls_move_between_servers(both):
    """An HLL written by one server, copied with GET and SET, counts and grows the same on the other."""
    redis, vk = both
    for n, key in [(3, "tiny"), (700, "sparse"), (20000, "dense")]:
        for source, dest in [(redis, vk), (vk, redis)]:
            source.pipeline([("PFADD", key, *("%s%d" % (key, i) for i in range(j, min(n, j + 500))))
                             for j in range(0, n, 500)])
            value = source.cmd("GET", key)
            assert dest.cmd("SET", key, value) == "OK"
            assert dest.cmd("PFCOUNT", key) == source.cmd("PFCOUNT", key)
            assert dest.cmd("GET", key) == source.cmd("GET", key)
            assert dest.cmd("PFADD", key, "more", "and more") == source.cmd("PFADD", key, "more", "and more")
            assert dest.cmd("GET", key) == source.cmd("GET", key)
            source.cmd("DEL", key)
            dest.cmd("DEL", key)


def mutations(rng, value):
    """Corrupt versions of an HLL string: flipped bits, cut or extended bodies, random bytes."""
    out = []
    for _ in range(12):
        b = bytearray(value)
        for _ in range(rng.randrange(1, 4)):
            i = rng.randrange(4, len(b))
            b[i] ^= 1 << rng.randrange(8)
        out.append(bytes(b))
    out.append(value[:rng.randrange(16, len(value) + 1)])
    out.append(value + bytes(rng.randrange(256) for _ in range(rng.randrange(1, 6))))
    out.append(value[:16] + bytes(rng.randrange(256) for _ in range(rng.randrange(0, 40))))
    return out


def test_corrupt_hlls_refused_like_redis(both):
    """Random and bit-flipped HLL strings: every command replies as redis-server does and
    the server stays up."""
    redis, vk = both
    rng = random.Random(1506)
    redis.cmd("PFADD", "src1", *("a%d" % i for i in range(40)))
    redis.cmd("PFADD", "src2", *("b%d" % i for i in range(300)))
    redis.cmd("PFADD", "src3", *("c%d" % i for i in range(5000)))
    sources = [redis.cmd("GET", k) for k in ("src1", "src2", "src3")]
    vk.cmd("SET", "src1", sources[0])
    diffs = []
    for round_ in range(40):
        for value in mutations(rng, rng.choice(sources)):
            commands = [("SET", "bad", value), ("PFCOUNT", "bad"), ("GET", "bad"),
                        ("SET", "bad", value), ("PFADD", "bad", "e%d" % rng.randrange(1000), "f"), ("GET", "bad"),
                        ("SET", "bad", value), ("PFCOUNT", "bad", "src1"),
                        ("SET", "bad", value), ("PFMERGE", "dst", "bad"), ("GET", "dst"), ("DEL", "dst"),
                        ("SET", "bad", value), ("PFDEBUG", "DECODE", "bad"), ("PFDEBUG", "TODENSE", "bad"),
                        ("GET", "bad"), ("SET", "bad", value), ("PFDEBUG", "GETREG", "bad")]
            expected, actual = pipelined(redis, commands), pipelined(vk, commands)
            for cmd, e, a in zip(commands, expected, actual):
                if e != a:
                    diffs.append("%r on %r:\n  redis     %r\n  valkeyper %r" % (cmd, value, e[:200], a[:200]))
    assert vk.cmd("PING") == "PONG"
    assert not diffs, "%d differences, first:\n%s" % (len(diffs), "\n".join(diffs[:5]))


def test_random_sparse_bodies_like_redis(both):
    """Sparse bodies made of random ZERO, XZERO and VAL opcodes (covering too few or too many
    registers, cut mid-opcode): every command replies and leaves the strings as redis-server does."""
    redis, vk = both
    rng = random.Random(5)
    diffs = []
    for _ in range(500):
        ops = []
        for _ in range(rng.randrange(0, 12)):
            kind = rng.random()
            if kind < 0.4:
                ops.append(rng.randrange(0, 64))
            elif kind < 0.7:
                ops += [0x40 | rng.randrange(64), rng.randrange(256)]
            else:
                ops.append(0x80 | rng.randrange(128))
        if rng.random() < 0.3 and ops:
            ops = ops[:-1]
        value = b"HYLL\x01" + b"\x00" * 11 + bytes(ops)
        commands = [("SET", "z", value), ("PFCOUNT", "z"), ("SET", "z", value),
                    ("PFADD", "z", *("q%d" % i for i in range(rng.randrange(1, 30)))), ("GET", "z"),
                    ("SET", "z", value), ("PFDEBUG", "DECODE", "z"), ("PFDEBUG", "TODENSE", "z"), ("GET", "z"),
                    ("SET", "z", value), ("PFMERGE", "m", "z"), ("GET", "m"), ("DEL", "m"), ("PFCOUNT", "z", "nokey")]
        for cmd, e, a in zip(commands, pipelined(redis, commands), pipelined(vk, commands)):
            if e != a:
                diffs.append("%r on %r:\n  redis     %r\n  valkeyper %r" % (cmd, value, e[:200], a[:200]))
    assert not diffs, "%d differences, first:\n%s" % (len(diffs), "\n".join(diffs[:5]))


def test_hlls_carried_by_rdb_both_ways(make_server, make_redis, tmp_path):
    """HLLs (sparse, dense, cached or not) saved by redis-server load here and count the same,
    and the other way round."""
    dirs = [tmp_path / name for name in ("r1", "v", "r2")]
    for d in dirs:
        d.mkdir()
    r = make_redis("--save", "", data_dir=dirs[0]).conn()
    r.cmd("PFADD", "sparse", *("s%d" % i for i in range(300)))
    r.cmd("PFADD", "dense", *("d%d" % i for i in range(20000)))
    r.cmd("PFADD", "cached", "a", "b", "c")
    r.cmd("PFCOUNT", "cached")
    keys = ("sparse", "dense", "cached")
    before = [(r.cmd("PFCOUNT", k), r.cmd("GET", k)) for k in keys]
    assert r.cmd("SAVE") == "OK"
    shutil.copy(os.path.join(dirs[0], "dump.rdb"), os.path.join(dirs[1], "dump.rdb"))
    v = make_server(data_dir=dirs[1]).conn()
    assert [(v.cmd("PFCOUNT", k), v.cmd("GET", k)) for k in keys] == before
    v.cmd("PFADD", "sparse", "more")
    v.cmd("PFMERGE", "merged", *keys)
    after = [(v.cmd("PFCOUNT", k), v.cmd("GET", k)) for k in keys + ("merged",)]
    assert v.cmd("SAVE") == "OK"
    shutil.copy(os.path.join(dirs[1], "dump.rdb"), os.path.join(dirs[2], "dump.rdb"))
    r2 = make_redis("--save", "", data_dir=dirs[2]).conn()
    assert [(r2.cmd("PFCOUNT", k), r2.cmd("GET", k)) for k in keys + ("merged",)] == after


def test_huge_run_lengths_do_not_overflow(server):
    """hyperloglog.tcl's overflow cases: XZERO runs summing past 2^31 registers, then a VAL;
    refused as corrupt (the cache marked invalid, so PFCOUNT of one key reads the body too),
    nothing written out of bounds."""
    c = server.conn()
    xzero = bytes([0x40 | (16383 >> 8), 16383 & 0xff])
    c.cmd("SET", "hll", b"HYLL\x01" + b"\x00" * 10 + b"\x80" + xzero * (131072 + 1000) + b"\xff")
    assert str(c.cmd("PFCOUNT", "hll", "hll")).startswith("INVALIDOBJ")
    assert str(c.cmd("PFDEBUG", "GETREG", "hll")).startswith("INVALIDOBJ")
    assert str(c.cmd("PFCOUNT", "hll")).startswith("INVALIDOBJ")
    assert str(c.cmd("PFMERGE", "dst", "hll")).startswith("INVALIDOBJ")
    c.cmd("SET", "hll", b"HYLL\x01" + b"\x00" * 11 + b"\x3f" * 300000 + b"\xff")
    assert str(c.cmd("PFCOUNT", "hll", "hll")).startswith("INVALIDOBJ")
    assert str(c.cmd("PFDEBUG", "TODENSE", "hll")).startswith("INVALIDOBJ")
    assert c.cmd("PING") == "PONG"


def test_random_strings_never_crash(server):
    rng = random.Random(77)
    c = server.conn()
    for _ in range(300):
        body = bytes(rng.randrange(256) for _ in range(rng.randrange(0, 200)))
        enc = bytes([rng.choice([0, 1, 1, 2])])
        value = b"HYLL" + enc + bytes(rng.randrange(256) for _ in range(11)) + body
        if rng.random() < 0.2:
            value = b"HYLL\x00" + bytes(rng.randrange(256) for _ in range(12299))
        c.pipeline([("SET", "r", value), ("PFCOUNT", "r"), ("PFADD", "r", "x", "y", "z"), ("SET", "r", value),
                    ("PFMERGE", "r2", "r"), ("PFCOUNT", "r", "r2"), ("SET", "r", value), ("PFDEBUG", "DECODE", "r"),
                    ("PFDEBUG", "GETREG", "r"), ("DEL", "r2")])
    assert c.cmd("PING") == "PONG"


@pytest.mark.parametrize("tag", ["t", None], ids=["one-shard", "across-shards"])
def test_multi_key_commands(both, tag):
    k = (lambda name: "{%s}%s" % (tag, name)) if tag else (lambda name: name)
    redis, vk = both
    script = [
        ("PFADD", k("a"), *("a%d" % i for i in range(100))), ("PFADD", k("b"), *("b%d" % i for i in range(3000))),
        ("PFADD", k("c"), "x"), ("SET", k("s"), "str"), ("SADD", k("set"), "m"),
        ("PFCOUNT", k("a"), k("b")), ("PFCOUNT", k("a"), k("b"), k("c"), k("missing")),
        ("PFCOUNT", k("missing"), k("a"), k("set"), k("b")), ("PFCOUNT", k("a"), k("s"), k("missing"), k("b")),
        ("PFCOUNT", k("missing"), k("missing2")),
        ("PFMERGE", k("d"), k("a"), k("b")), ("GET", k("d")), ("PFCOUNT", k("d")),
        ("PFMERGE", k("e"), k("a"), k("c")), ("GET", k("e")), ("PFDEBUG", "ENCODING", k("e")),
        ("PFMERGE", k("c"), k("b")), ("GET", k("c")), ("PFMERGE", k("f"), k("missing")), ("GET", k("f")),
        ("PFMERGE", k("g"), k("a"), k("set"), k("b")), ("EXISTS", k("g")), ("PFMERGE", k("s"), k("a")),
        ("PFMERGE", k("a"), k("missing"), k("s")), ("GET", k("a")),
        ("SET", k("bad"), b"HYLL\x01" + b"\x00" * 11 + b"\x7f\xfe"), ("PFCOUNT", k("a"), k("bad")),
        ("PFMERGE", k("h"), k("a"), k("bad")), ("EXISTS", k("h")),
    ]
    same(both, *script)
    fields = ("keyspace_hits", "keyspace_misses")
    assert [info(vk, "stats")[f] for f in fields] == [info(redis, "stats")[f] for f in fields]


def test_keys_really_on_two_shards(both):
    a, b, c = keys_on_two_shards("hk", count=3)
    same(both, ("PFADD", a, "1", "2", "3"), ("PFADD", b, *("v%d" % i for i in range(2000))),
         ("PFCOUNT", a, b), ("PFCOUNT", b, a, c), ("PFMERGE", c, a, b), ("GET", c), ("PFMERGE", a, b), ("GET", a),
         ("PFCOUNT", a), ("GET", a))


def test_selftest(both):
    same(both, ("PFSELFTEST",))


@pytest.mark.parametrize("kind", ["valkeyper", "redis"])
def test_hll_writes_reach_replicas(server, make_server, make_redis, kind):
    """PFADD, PFMERGE (keys on several shards too), PFDEBUG TODENSE and the cache PFCOUNT
    writes reach a ValKeyper and a redis-server replica: the strings end equal, cache included."""
    replica = make_server() if kind == "valkeyper" else make_redis()
    r = replica.conn()
    m = server.conn()
    m.cmd("FLUSHALL")
    assert r.cmd("REPLICAOF", "127.0.0.1", str(server.port)) == "OK"
    wait_until(lambda: link_up(r), message="the replica's link")
    a, b = keys_on_two_shards("rh")
    m.cmd("PFADD", a, *("x%d" % i for i in range(50)))
    m.cmd("PFADD", a, "x1")  # no change
    m.cmd("PFADD", b, *("y%d" % i for i in range(4000)))
    m.cmd("PFCOUNT", a)
    m.cmd("PFCOUNT", b)
    m.cmd("PFMERGE", "merged", a, b)
    m.cmd("PFCOUNT", "merged")
    m.cmd("PFADD", "sparse", "p", "q")
    m.cmd("PFDEBUG", "TODENSE", "sparse")
    m.cmd("PFCOUNT", a, b)
    m.cmd("PFADD", "tx", "a", "b")
    for command in [("MULTI",), ("PFCOUNT", "tx"), ("PFADD", "tx", "c"), ("PFCOUNT", "tx"), ("PFMERGE", "m2", a, b, "tx"),
                    ("PFCOUNT", "m2"), ("EXEC",)]:
        m.cmd(*command)
    wait_same_data(m, r)
    for key in ("merged", "m2", "tx", a):
        assert r.cmd("GET", key) == m.cmd("GET", key)


def test_transactions_and_watch(both):
    """PFCOUNT/PFMERGE of keys on two shards inside MULTI; a PFCOUNT that writes the cache
    aborts a WATCHing transaction, one that reads a valid cache does not (as in Redis)."""
    redis, vk = both
    a, b, c = keys_on_two_shards("mx", count=3)
    results = []
    for conn, port in ((redis, redis.sock.getpeername()[1]), (vk, vk.sock.getpeername()[1])):
        out = [conn.cmd("PFADD", a, "1", "2"), conn.cmd("PFADD", b, "3"), conn.cmd("MULTI")]
        for cmd in [("PFCOUNT", a, b), ("PFMERGE", c, a, b), ("PFCOUNT", c), ("PFADD", a, "9"), ("GET", c),
                    ("PFDEBUG", "ENCODING", c)]:
            out.append(conn.cmd(*cmd))
        out.append(conn.cmd("EXEC"))
        other = Conn(port)
        conn.cmd("PFADD", "w", "x")
        for _ in range(2):
            conn.cmd("WATCH", "w")
            other.cmd("PFCOUNT", "w")  # writes the cache the first time only
            conn.cmd("MULTI")
            conn.cmd("PING")
            out.append(conn.cmd("EXEC"))
        other.close()
        results.append(out)
    assert results[0] == results[1]
    assert results[1][-2:] == [None, ["PONG"]]
