"""DUMP and RESTORE against redis-server 7.0: payloads equal byte for byte for the same
values, payloads of either server restored by the other with equal values and DEBUG
DIGEST-VALUE, RESTORE's options and errors in Redis's order, TTLs (relative, ABSTTL, already
past), IDLETIME/FREQ, corrupt payloads refused without harm, and what replicas receive."""
import random

import pytest

from support.differential import paired
from support.replication import link_up
from support.resp import Error
from support.waiting import wait_until

SERVER_ARGS = ("--enable-debug-command", "yes")


@pytest.fixture
def both(server, redis_port):
    with paired(server, redis_port) as conns:
        yield conns


def fill(c):
    """The same values of every type on a server."""
    c.cmd("SET", "str", "hello world")
    c.cmd("SET", "int", "12345")
    c.cmd("SET", "bigint", "123456789012345")
    c.cmd("SET", "long", "abc" * 200)
    c.cmd("SET", "empty", "")
    c.cmd("HSET", "hash", "f1", "v1", "f2", "2")
    c.cmd("HSET", "bighash", *[x for i in range(600) for x in ("f%d" % i, "v%d" % i)])
    c.cmd("SADD", "intset", "1", "2", "3", "-7")
    c.cmd("SADD", "set", "a", "b", "c")
    c.cmd("SADD", "bigset", *["m%d" % i for i in range(700)])
    c.cmd("ZADD", "zset", "1", "a", "2.5", "b", "-3", "c")
    c.cmd("ZADD", "bigzset", *[x for i in range(300) for x in (str(i * 0.5), "m%d" % i)])
    c.cmd("RPUSH", "list", "a", "1", "b" * 100)
    c.cmd("RPUSH", "biglist", *["element-%d" % i for i in range(2000)])
    c.cmd("XADD", "stream", "1-1", "f", "v")
    c.cmd("XADD", "stream", "2-1", "f", "w", "g", "x")


KEYS = ["str", "int", "bigint", "long", "empty", "hash", "bighash", "intset", "set", "bigset", "zset", "bigzset",
        "stream", "list", "biglist"]


def test_dump_matches_redis_byte_for_byte(both):
    redis, vk = both
    fill(redis)
    fill(vk)
    for key in KEYS:
        if key.startswith("big") or key == "set":
            # Hash tables (7.0 keeps small non-integer sets in one) dump in their own order;
            # a big list's LZF-compressed nodes may end in other (equally long) back-references.
            continue
        assert vk.raw("DUMP", key) == redis.raw("DUMP", key), key
    assert vk.raw("DUMP", "nokey") == redis.raw("DUMP", "nokey") == b"$-1\r\n"


@pytest.mark.parametrize("direction", ["redis-to-valkeyper", "valkeyper-to-redis"])
def test_payloads_restore_on_the_other_server(both, direction):
    redis, vk = both
    source, target = (redis, vk) if direction == "redis-to-valkeyper" else (vk, redis)
    fill(source)
    for key in KEYS:
        payload = source.cmd("DUMP", key)
        assert target.cmd("RESTORE", key, "0", payload) == "OK", key
        assert target.cmd("DEBUG", "DIGEST-VALUE", key) == source.cmd("DEBUG", "DIGEST-VALUE", key), key
        assert target.cmd("TYPE", key) == source.cmd("TYPE", key)
        assert target.cmd("OBJECT", "ENCODING", key) == source.cmd("OBJECT", "ENCODING", key), key
    assert target.cmd("DEBUG", "DIGEST") == source.cmd("DEBUG", "DIGEST")


def test_restore_options_and_errors_as_redis(both):
    redis, vk = both
    for c in both:
        c.cmd("SET", "k", "v")
    payload = redis.cmd("DUMP", "k")
    good = payload
    bad_crc = payload[:-1] + bytes([payload[-1] ^ 1])
    new_version = payload[:-10] + b"\x0b\x00" + payload[-8:]
    script = [
        ("RESTORE", "k", "0", good), ("RESTORE", "k", "0", good, "REPLACE"), ("GET", "k"),
        ("RESTORE", "k", "-1", good, "REPLACE"), ("RESTORE", "k", "x", good, "REPLACE"),
        ("RESTORE", "k2", "0", bad_crc), ("RESTORE", "k2", "0", new_version), ("RESTORE", "k2", "0", b"short"),
        ("RESTORE", "k2", "0", b""), ("RESTORE", "k2", "0", good, "BOGUS"), ("RESTORE", "k2", "0", good, "IDLETIME"),
        ("RESTORE", "k2", "0", good, "IDLETIME", "-1"), ("RESTORE", "k2", "0", good, "IDLETIME", "x"),
        ("RESTORE", "k2", "0", good, "FREQ", "256"), ("RESTORE", "k2", "0", good, "FREQ", "-1"),
        ("RESTORE", "k2", "0", good, "FREQ", "1", "IDLETIME", "1"), ("RESTORE", "k2", "0", good, "IDLETIME", "1", "FREQ", "1"),
        ("RESTORE", "k", "0", good, "BOGUS"), ("RESTORE", "k", "-5", bad_crc), ("RESTORE", "k", "0", bad_crc, "REPLACE"),
        ("RESTORE", "k2", "0", good, "IDLETIME", "1000"), ("OBJECT", "IDLETIME", "k2"),
        ("RESTORE", "k3", "100000", good), ("TTL", "k3"), ("RESTORE", "k4", "1", good, "ABSTTL"), ("EXISTS", "k4"),
        ("RESTORE", "k", "1", good, "ABSTTL", "REPLACE"), ("EXISTS", "k"),
        ("RESTORE", "k5", "99999999999999", good, "ABSTTL"), ("PEXPIRETIME", "k5"),
        ("RESTORE", "k6", "9223372036854775807", good), ("EXISTS", "k6"),
        ("RESTORE", "k6", "9223372036854775807", good, "ABSTTL"), ("PEXPIRETIME", "k6"),
        ("RESTORE",), ("RESTORE", "k", "0"), ("DUMP",), ("DUMP", "a", "b"),
    ]
    diffs = []
    for args in script:
        expected, actual = redis.raw(*args), vk.raw(*args)
        if actual != expected:
            diffs.append("%r:\n  redis     %r\n  valkeyper %r" % (args[:3], expected, actual))
    assert not diffs, "\n".join(diffs)


def test_corrupt_payloads_are_refused_and_the_server_keeps_serving(server):
    c = server.conn()
    c.cmd("FLUSHALL")
    c.cmd("ZADD", "z", *[x for i in range(20) for x in (str(i), "member%d" % i)])
    c.cmd("HSET", "h", *[x for i in range(10) for x in ("f%d" % i, "value%d" % i)])
    c.cmd("XADD", "s", "1-1", "a", "b")
    c.cmd("SADD", "i", *[str(i) for i in range(30)])
    assert c.cmd("DEBUG", "SET-SKIP-CHECKSUM-VALIDATION", "1") == "OK"
    rng = random.Random(1206)
    try:
        for key in ["z", "h", "s", "i"]:
            payload = c.cmd("DUMP", key)
            for _ in range(300):
                broken = bytearray(payload)
                for _ in range(rng.randint(1, 4)):
                    broken[rng.randrange(len(broken) - 10)] = rng.randrange(256)
                reply = c.cmd("RESTORE", "x", "0", bytes(broken), "REPLACE")
                assert reply == "OK" or (isinstance(reply, Error) and str(reply) == "ERR Bad data format"), reply
                c.cmd("DEBUG", "DIGEST-VALUE", "x")
                c.cmd("DUMP", "x")
    finally:
        c.cmd("DEBUG", "SET-SKIP-CHECKSUM-VALIDATION", "0")
    assert c.cmd("PING") == "PONG"


@pytest.mark.parametrize("kind", ["valkeyper", "redis"])
def test_restore_reaches_replicas_with_an_absolute_ttl(server, make_server, make_redis, kind):
    replica = make_server() if kind == "valkeyper" else make_redis()
    r = replica.conn()
    m = server.conn()
    m.cmd("FLUSHALL")
    assert r.cmd("REPLICAOF", "127.0.0.1", str(server.port)) == "OK"
    wait_until(lambda: link_up(r), message="the replica's link")
    m.cmd("HSET", "h", "a", "1")
    m.cmd("SET", "s", "value")
    hash_payload, string_payload = m.cmd("DUMP", "h"), m.cmd("DUMP", "s")
    assert m.cmd("RESTORE", "s2", "500000", string_payload) == "OK"
    assert m.cmd("RESTORE", "h3", "0", hash_payload) == "OK"
    assert m.cmd("RESTORE", "h", "1", hash_payload, "ABSTTL", "REPLACE") == "OK"  # past: deletes h
    wait_until(lambda: r.cmd("HGETALL", "h3") == m.cmd("HGETALL", "h3") and r.cmd("EXISTS", "h") == 0,
               message="the restored hash and the deletion")
    deadline = m.cmd("PEXPIRETIME", "s2")
    assert deadline > 0
    wait_until(lambda: r.cmd("PEXPIRETIME", "s2") == deadline, message="the same deadline")
    assert r.cmd("GET", "s2") == b"value"
    assert sorted(r.cmd("KEYS", "*")) == sorted(m.cmd("KEYS", "*"))
