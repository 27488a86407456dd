"""Bitmap commands (Redis 7.0's bitops.c) against redis-server 7.0: SETBIT, GETBIT, BITCOUNT,
BITPOS, BITOP, BITFIELD and BITFIELD_RO replies byte for byte in RESP2 and RESP3, their errors,
the keyspace counters, the strings they leave behind (bytes, encoding, TTL), randomized
scripts, BITOP with keys on one shard and on several, and what replicas receive."""
import random

import pytest

from support.differential import paired, same
from support.info import info
from support.replication import link_up, wait_same_data
from support.slots import keys_on_two_shards
from support.waiting import wait_until


@pytest.fixture
def both(server, redis_port):
    with paired(server, redis_port) as conns:
        yield conns


SETBIT_GETBIT = [
    ("SETBIT", "b", "7", "1"), ("GET", "b"), ("SETBIT", "b", "7", "1"), ("SETBIT", "b", "7", "0"), ("GET", "b"),
    ("SETBIT", "b", "100", "1"), ("STRLEN", "b"), ("GET", "b"), ("GETBIT", "b", "100"), ("GETBIT", "b", "101"),
    ("GETBIT", "b", "100000"), ("GETBIT", "nokey", "0"), ("SETBIT", "new", "0", "0"), ("GET", "new"),
    ("OBJECT", "ENCODING", "new"),
    ("SET", "n", "12"), ("OBJECT", "ENCODING", "n"), ("GETBIT", "n", "2"), ("GETBIT", "n", "3"),
    ("SETBIT", "n", "0", "0"), ("OBJECT", "ENCODING", "n"), ("GET", "n"),
    ("SET", "e", "hello"), ("OBJECT", "ENCODING", "e"), ("SETBIT", "e", "1", "1"), ("GET", "e"), ("OBJECT", "ENCODING", "e"),
    # Errors, in Redis's order of checks.
    ("SETBIT", "b", "-1", "1"), ("SETBIT", "b", "x", "1"), ("SETBIT", "b", "4294967296", "1"),
    ("SETBIT", "b", "1", "2"), ("SETBIT", "b", "1", "-1"), ("SETBIT", "b", "1", "x"), ("SETBIT", "b", "x", "x"),
    ("GETBIT", "b", "-1"), ("GETBIT", "b", "4294967296"), ("GETBIT", "b", "1.5"),
    ("HSET", "h", "f", "v"), ("SETBIT", "h", "0", "1"), ("GETBIT", "h", "0"), ("SETBIT", "h", "x", "1"),
    ("SETBIT", "b"), ("GETBIT", "b"), ("GETBIT", "b", "1", "2"),
    ("SETBIT", "big", "4294967295", "1"), ("STRLEN", "big"), ("GETBIT", "big", "4294967295"),
    ("BITCOUNT", "big"), ("DEL", "big"),
]

BITCOUNT_BITPOS = [
    ("SET", "s", "foobar"), ("BITCOUNT", "s"), ("BITCOUNT", "s", "0", "0"), ("BITCOUNT", "s", "1", "1"),
    ("BITCOUNT", "s", "1", "1", "BYTE"), ("BITCOUNT", "s", "5", "30", "BIT"), ("BITCOUNT", "s", "5", "30", "bit"),
    ("BITCOUNT", "s", "-2", "-1"), ("BITCOUNT", "s", "-1", "-2"), ("BITCOUNT", "s", "-100", "100"),
    ("BITCOUNT", "s", "3", "1"), ("BITCOUNT", "s", "0", "-1", "BIT"), ("BITCOUNT", "s", "7", "7", "BIT"),
    ("BITCOUNT", "s", "9", "9", "BIT"), ("BITCOUNT", "s", "-5", "-1", "BIT"), ("BITCOUNT", "s", "0", "1000", "BIT"),
    ("BITCOUNT", "s", "0"), ("BITCOUNT", "s", "0", "1", "BITS"), ("BITCOUNT", "s", "a", "1"),
    ("BITCOUNT", "s", "0", "1", "BIT", "x"), ("BITCOUNT", "nokey"), ("BITCOUNT", "nokey", "0"),
    ("BITCOUNT", "nokey", "x", "y"), ("SADD", "set", "a"), ("BITCOUNT", "set"), ("BITCOUNT", "set", "x", "1"),
    ("SET", "empty", ""), ("BITCOUNT", "empty"), ("BITCOUNT", "empty", "0", "-1"), ("BITPOS", "empty", "0"),
    ("BITPOS", "empty", "1"), ("BITPOS", "empty", "0", "0", "-1"),
    ("SET", "z", b"\xff\xf0\x00"), ("BITPOS", "z", "0"), ("BITPOS", "z", "1"), ("BITPOS", "z", "1", "2"),
    ("BITPOS", "z", "0", "0", "0"), ("BITPOS", "z", "0", "0", "1"), ("BITPOS", "z", "0", "2", "-1"),
    ("BITPOS", "z", "1", "2", "-1"), ("BITPOS", "z", "0", "7", "15", "BIT"), ("BITPOS", "z", "1", "7", "15", "BIT"),
    ("BITPOS", "z", "0", "3", "5", "BIT"), ("BITPOS", "z", "0", "12", "12", "BIT"), ("BITPOS", "z", "1", "12", "23", "BIT"),
    ("BITPOS", "z", "0", "-3", "-1", "BIT"), ("BITPOS", "z", "1", "-10", "-1", "bit"), ("BITPOS", "z", "0", "9"),
    ("BITPOS", "z", "0", "9", "-1", "BIT"), ("BITPOS", "z", "1", "20", "10", "BIT"), ("BITPOS", "z", "1", "5", "BIT"),
    ("SET", "ones", b"\xff\xff\xff"), ("BITPOS", "ones", "0"), ("BITPOS", "ones", "0", "0", "-1"),
    ("BITPOS", "ones", "0", "0"), ("BITPOS", "ones", "0", "1", "2", "BIT"), ("BITPOS", "ones", "1", "-1"),
    ("BITPOS", "nokey", "1"), ("BITPOS", "nokey", "0"), ("BITPOS", "nokey", "0", "x"), ("BITPOS", "nokey", "2"),
    ("BITPOS", "z", "2"), ("BITPOS", "z", "x"), ("BITPOS", "z", "1", "x"), ("BITPOS", "z", "1", "0", "x"),
    ("BITPOS", "z", "1", "0", "1", "BYTES"), ("BITPOS", "z", "1", "0", "1", "BIT", "x"), ("BITPOS", "set", "1"),
    ("SET", "long", b"\x00" * 40 + b"\x01" + b"\xff" * 40), ("BITPOS", "long", "1"), ("BITPOS", "long", "0", "41"),
    ("BITCOUNT", "long"), ("BITCOUNT", "long", "3", "77", "BIT"), ("BITPOS", "long", "1", "3", "-9"),
    ("SET", "num", "255"), ("BITPOS", "num", "1"), ("BITCOUNT", "num"),
]

BITFIELD = [
    ("BITFIELD", "f", "SET", "i8", "0", "-100", "GET", "u8", "0", "GET", "i8", "0"), ("GET", "f"),
    ("BITFIELD", "f", "INCRBY", "i8", "0", "300"), ("BITFIELD", "f", "OVERFLOW", "SAT", "INCRBY", "i8", "0", "300"),
    ("BITFIELD", "f", "OVERFLOW", "SAT", "INCRBY", "i8", "0", "-1000"),
    ("BITFIELD", "f", "OVERFLOW", "FAIL", "INCRBY", "i8", "0", "-1", "GET", "i8", "0"),
    ("BITFIELD", "f", "OVERFLOW", "fail", "INCRBY", "u2", "100", "1", "INCRBY", "u2", "100", "1",
     "INCRBY", "u2", "100", "1", "INCRBY", "u2", "100", "1"), ("STRLEN", "f"),
    ("BITFIELD", "f", "SET", "u4", "#2", "15", "GET", "u4", "#2", "GET", "u8", "0", "GET", "u16", "#1"),
    ("BITFIELD", "f", "OVERFLOW", "WRAP", "INCRBY", "u63", "0", "1", "INCRBY", "i64", "0", "-1", "GET", "i64", "0"),
    ("BITFIELD", "f", "SET", "i64", "64", "-9223372036854775808", "INCRBY", "i64", "64", "-1"),
    ("BITFIELD", "f", "OVERFLOW", "SAT", "INCRBY", "i64", "64", "-1", "INCRBY", "i64", "64", "9223372036854775807",
     "INCRBY", "i64", "64", "9223372036854775807"),
    ("BITFIELD", "f", "SET", "u63", "3", "9223372036854775807", "GET", "u63", "3", "GET", "i1", "3", "GET", "u1", "66"),
    ("BITFIELD", "f", "OVERFLOW", "SAT", "SET", "u3", "0", "100", "SET", "i3", "0", "-100", "GET", "i3", "0"),
    ("BITFIELD", "f", "OVERFLOW", "FAIL", "SET", "u3", "0", "100", "SET", "i3", "0", "3"),
    ("BITFIELD", "f", "OVERFLOW", "WRAP", "SET", "u3", "0", "100", "SET", "i3", "0", "-100", "INCRBY", "i5", "7", "1000"),
    ("GET", "f"), ("BITFIELD", "f"), ("BITFIELD", "nokey", "GET", "u8", "0"), ("EXISTS", "nokey"),
    ("BITFIELD", "nokey2", "OVERFLOW", "FAIL", "INCRBY", "u2", "0", "10"), ("GET", "nokey2"),
    ("BITFIELD", "f", "GET", "u64", "0"), ("BITFIELD", "f", "GET", "i65", "0"), ("BITFIELD", "f", "GET", "i0", "0"),
    ("BITFIELD", "f", "GET", "x8", "0"), ("BITFIELD", "f", "GET", "i8", "-1"), ("BITFIELD", "f", "GET", "i8", "#-1"),
    ("BITFIELD", "f", "GET", "i8", "#x"), ("BITFIELD", "f", "GET", "i8", "4294967296"), ("BITFIELD", "f", "GET", "i8"),
    ("BITFIELD", "f", "SET", "i8", "0"), ("BITFIELD", "f", "SET", "i8", "0", "x"), ("BITFIELD", "f", "OVERFLOW", "X"),
    ("BITFIELD", "f", "OVERFLOW"), ("BITFIELD", "f", "FOO", "i8", "0"), ("BITFIELD", "f", "GET", "i8", "0", "BAR"),
    ("BITFIELD", "f", "INCRBY", "i8", "0", "1", "GET", "u99", "0"),
    ("HSET", "h", "f", "v"), ("BITFIELD", "h", "GET", "u8", "0"), ("BITFIELD", "h", "SET", "u8", "0", "1"),
    ("BITFIELD_RO", "f", "GET", "u8", "0", "GET", "i4", "#3"), ("BITFIELD_RO", "f", "SET", "u8", "0", "1"),
    ("BITFIELD_RO", "f", "INCRBY", "u8", "0", "1"), ("BITFIELD_RO", "nokey", "GET", "u8", "0"), ("BITFIELD_RO", "h", "GET", "u8", "0"),
    ("BITFIELD_RO", "f"), ("BITFIELD_RO", "f", "OVERFLOW", "SAT"), ("SET", "num", "12345"), ("BITFIELD", "num", "GET", "u16", "0"),
    ("BITFIELD", "num", "GET", "i64", "#1"),
]


def test_setbit_getbit(both):
    same(both, *SETBIT_GETBIT)


def test_bitcount_bitpos(both):
    same(both, *BITCOUNT_BITPOS)


def test_bitfield(both):
    same(both, *BITFIELD)


def test_bitmap_replies_in_resp3(both):
    for c in both:
        c.cmd("HELLO", "3")
    same(both, ("SETBIT", "b", "3", "1"), ("BITFIELD", "b", "OVERFLOW", "FAIL", "INCRBY", "u1", "3", "1", "GET", "u4", "0"),
         ("BITFIELD_RO", "b", "GET", "i4", "0"), ("BITCOUNT", "b"), ("BITPOS", "b", "1"))


def bitop_script(tag):
    """BITOP over keys `{tag}`-prefixed (one shard) or not (several)."""
    k = (lambda name: "{%s}%s" % (tag, name)) if tag else (lambda name: name)
    return [
        ("SET", k("a"), "foobar"), ("SET", k("b"), "abcdef-long-longer-than-a"), ("SET", k("c"), b"\x00\xff"),
        ("BITOP", "AND", k("d"), k("a"), k("b")), ("GET", k("d")), ("OBJECT", "ENCODING", k("d")),
        ("BITOP", "OR", k("d"), k("a"), k("b"), k("c")), ("GET", k("d")),
        ("BITOP", "XOR", k("d"), k("a"), k("b"), k("nokey")), ("GET", k("d")),
        ("BITOP", "and", k("d"), k("a"), k("nokey")), ("GET", k("d")),
        ("BITOP", "NOT", k("d"), k("c")), ("GET", k("d")), ("BITOP", "NOT", k("d"), k("a"), k("b")),
        ("SET", k("ttl"), "x", "EX", "100"), ("BITOP", "OR", k("ttl"), k("a")), ("TTL", k("ttl")), ("GET", k("ttl")),
        ("BITOP", "OR", k("a"), k("a"), k("c")), ("GET", k("a")),
        ("BITOP", "OR", k("d"), k("nokey"), k("nokey2")), ("EXISTS", k("d")),
        ("BITOP", "OR", k("d"), k("nokey")), ("BITOP", "NAND", k("d"), k("a")), ("BITOP", "AND", k("d")),
        ("HSET", k("h"), "f", "v"), ("BITOP", "AND", k("d"), k("a"), k("h"), k("b")), ("BITOP", "OR", k("h"), k("a")),
        ("TYPE", k("h")), ("BITOP", "AND", k("d"), k("nokey"), k("h")),
        ("SET", k("n"), "12"), ("BITOP", "OR", k("d"), k("n")), ("GET", k("d")),
    ]


@pytest.mark.parametrize("tag", ["t", None], ids=["one-shard", "across-shards"])
def test_bitop(both, tag):
    same(both, *bitop_script(tag))
    redis, vk = both
    fields = ("keyspace_hits", "keyspace_misses")
    assert [info(vk, "stats")[f] for f in fields] == [info(redis, "stats")[f] for f in fields]


def test_bitop_across_shards_keys_really_on_two_shards(both):
    redis, vk = both
    a, b = keys_on_two_shards("bk")
    same(both, ("SET", a, "xy"), ("SET", b, "abc"), ("BITOP", "XOR", b, a, b), ("GET", b), ("GET", a),
         ("BITOP", "AND", a, b, "missing"), ("EXISTS", a))


def test_randomized_against_redis(both):
    rng = random.Random(20261206)
    keys = ["r%d" % i for i in range(4)]
    commands = []
    for _ in range(600):
        key = rng.choice(keys)
        kind = rng.randrange(8)
        if kind == 0:
            commands.append(("SETBIT", key, str(rng.randrange(0, 300)), str(rng.randrange(2))))
        elif kind == 1:
            commands.append(("GETBIT", key, str(rng.randrange(0, 320))))
        elif kind == 2:
            args = [str(rng.randrange(-45, 45)), str(rng.randrange(-45, 45))]
            if rng.random() < 0.6:
                args.append(rng.choice(["BIT", "BYTE"]))
                if args[-1] == "BIT":
                    args[0:2] = [str(rng.randrange(-330, 330)), str(rng.randrange(-330, 330))]
            commands.append(("BITCOUNT", key, *args))
        elif kind == 3:
            args = [str(rng.randrange(2))]
            n = rng.randrange(4)
            unit_bit = n == 3 and rng.random() < 0.7
            span = 330 if unit_bit else 45
            for _ in range(min(n, 2)):
                args.append(str(rng.randrange(-span, span)))
            if n == 3:
                args.append("BIT" if unit_bit else "BYTE")
            commands.append(("BITPOS", key, *args))
        elif kind == 4:
            args = []
            for _ in range(rng.randrange(1, 4)):
                if rng.random() < 0.3:
                    args += ["OVERFLOW", rng.choice(["WRAP", "SAT", "FAIL"])]
                t = rng.choice("iu") + str(rng.randrange(1, 64))
                off = str(rng.randrange(0, 200)) if rng.random() < 0.8 else "#%d" % rng.randrange(0, 5)
                op = rng.choice(["GET", "SET", "INCRBY"])
                args += [op, t, off] + ([] if op == "GET" else [str(rng.randrange(-2 ** 40, 2 ** 40))])
            commands.append(("BITFIELD", key, *args))
        elif kind == 5:
            op = rng.choice(["AND", "OR", "XOR", "NOT"])
            srcs = [rng.choice(keys)] if op == "NOT" else rng.sample(keys, rng.randrange(1, 4))
            commands.append(("BITOP", op, key, *srcs))
        elif kind == 6:
            commands.append(("GET", key))
        else:
            commands.append(("APPEND", key, rng.choice(["a", "\x00\xff", "1234"])))
    same(both, *commands)


@pytest.mark.parametrize("kind", ["valkeyper", "redis"])
def test_bit_writes_reach_replicas(server, make_server, make_redis, kind):
    """A ValKeyper and a redis-server replica get SETBIT, BITFIELD and BITOP (keys on several
    shards too) and end with the master's data."""
    replica = make_server() if kind == "valkeyper" else make_redis()
    r = replica.conn()
    m = server.conn()
    m.cmd("FLUSHALL")
    assert r.cmd("REPLICAOF", "127.0.0.1", str(server.port)) == "OK"
    wait_until(lambda: link_up(r), message="the replica's link")
    m.cmd("SETBIT", "rb", "77", "1")
    m.cmd("SETBIT", "rb", "77", "1")  # no change: nothing to send
    m.cmd("BITFIELD", "rf", "SET", "u8", "8", "200", "INCRBY", "i5", "3", "7", "GET", "u8", "0")
    m.cmd("BITFIELD", "rf", "OVERFLOW", "FAIL", "INCRBY", "u2", "0", "9")
    m.cmd("SET", "src", "abc")
    m.cmd("BITOP", "XOR", "dst", "rb", "rf", "src")
    m.cmd("BITOP", "OR", "gone", "nokey")
    m.cmd("SET", "over", "x", "EX", "1000")
    m.cmd("BITOP", "NOT", "over", "src")
    wait_same_data(m, r)
