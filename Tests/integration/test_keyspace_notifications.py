"""Keyspace notifications against redis-server 7.0: `notify-keyspace-events` as CONFIG SET
takes it and CONFIG GET renders it, and the events of the same commands, message for
message, on __keyspace@<db>__:<key> and __keyevent@<db>__:<event>. The keys share a hash
tag, so one shard makes every event and their order is the commands' (notifications of
different shards reach a subscriber in no defined order between them)."""
import socket

import pytest

from support.resp import Conn, Push, encode
from support.slots import keys_on_two_shards
from support.waiting import wait_until

SERVER_ARGS = ("--threads", "2", "--shards", "2")


@pytest.fixture
def pair(server, redis_port):
    conns = (Conn(redis_port), server.conn())
    for c in conns:
        c.cmd("FLUSHALL")
    yield conns
    for c in conns:
        c.cmd("CONFIG", "SET", "notify-keyspace-events", "")
        c.close()


@pytest.mark.parametrize("classes", ["KEA", "Kx", "gE$", "AKEm", "n", "Kgsl", "Elshzxetd", "g$lshzxetKEmn", "A", ""])
def test_config_renders_classes_as_redis(pair, classes):
    redis, vk = pair
    for c in pair:
        assert c.cmd("CONFIG", "SET", "notify-keyspace-events", classes) == "OK"
    assert vk.raw("CONFIG", "GET", "notify-keyspace-events") == redis.raw("CONFIG", "GET", "notify-keyspace-events")


def test_all_classes_with_new_keeps_new(pair):
    """A deliberate difference: Redis renders "KEAn" as "AKE" although it still sends "new"
    events (keyspaceEventsFlagsToString leaves n out next to A); the stored value here is
    what the server applies, so it reads "AnKE"."""
    redis, vk = pair
    for c in pair:
        c.cmd("CONFIG", "SET", "notify-keyspace-events", "KEAn")
    assert redis.cmd("CONFIG", "GET", "notify-keyspace-events")[1] == b"AKE"
    assert vk.cmd("CONFIG", "GET", "notify-keyspace-events")[1] == b"AnKE"


def test_invalid_class_refused_as_redis(pair):
    redis, vk = pair
    assert vk.raw("CONFIG", "SET", "notify-keyspace-events", "KEQ") == redis.raw("CONFIG", "SET", "notify-keyspace-events", "KEQ")


SCRIPT = [
    ("SET", "{t}a", "1"), ("SET", "{t}a", "2", "EX", "100"), ("SETNX", "{t}a", "3"), ("SETNX", "{t}b", "3"),
    ("APPEND", "{t}a", "x"), ("APPEND", "{t}new", "x"), ("SETRANGE", "{t}a", "1", "y"), ("SETRANGE", "{t}a", "1", ""),
    ("INCR", "{t}n"), ("INCRBY", "{t}n", "5"), ("DECR", "{t}n"), ("DECRBY", "{t}n", "2"), ("INCRBYFLOAT", "{t}f", "1.5"),
    ("GETSET", "{t}a", "z"), ("MSET", "{t}m1", "1", "{t}m2", "2"), ("MSETNX", "{t}m3", "1", "{t}m4", "2"),
    ("GETDEL", "{t}m1"), ("GETDEL", "{t}nokey"), ("GETEX", "{t}m2", "EX", "100"), ("GETEX", "{t}m2", "PERSIST"),
    ("GETEX", "{t}m2", "PERSIST"), ("GETEX", "{t}m3", "PXAT", "1"),
    ("EXPIRE", "{t}n", "100"), ("PERSIST", "{t}n"), ("PERSIST", "{t}n"), ("PEXPIRE", "{t}n", "100000"),
    ("EXPIRE", "{t}n", "-1"), ("DEL", "{t}a", "{t}nokey", "{t}f"), ("UNLINK", "{t}b"),
    ("SET", "{t}r", "1"), ("RENAME", "{t}r", "{t}r2"), ("RENAMENX", "{t}r2", "{t}r4"), ("COPY", "{t}r4", "{t}r3"),
    ("MOVE", "{t}r3", "1"),
    ("HSET", "{t}h", "f", "v"), ("HSET", "{t}h", "f", "v"), ("HSETNX", "{t}h", "f", "v"), ("HSETNX", "{t}h", "g", "v"),
    ("HINCRBY", "{t}h", "n", "1"), ("HINCRBYFLOAT", "{t}h", "x", "1.5"), ("HDEL", "{t}h", "nosuch"),
    ("HDEL", "{t}h", "f", "g"), ("HDEL", "{t}h", "n", "x"),
    ("SADD", "{t}s", "a", "b", "c"), ("SADD", "{t}s", "a"), ("SREM", "{t}s", "a"), ("SREM", "{t}s", "zz"),
    ("SMOVE", "{t}s", "{t}s2", "b"), ("SPOP", "{t}s"), ("SADD", "{t}s", "1", "2", "3"),
    ("SINTERSTORE", "{t}d", "{t}s", "{t}s2"), ("SUNIONSTORE", "{t}d", "{t}s", "{t}s2"),
    ("SDIFFSTORE", "{t}d", "{t}nokey"), ("SPOP", "{t}s", "1"), ("SPOP", "{t}s", "5"),
    ("ZADD", "{t}z", "1", "a", "2", "b", "3", "c", "4", "d"), ("ZADD", "{t}z", "1", "a"), ("ZADD", "{t}z", "5", "a"),
    ("ZADD", "{t}z", "INCR", "1", "a"), ("ZINCRBY", "{t}z", "1", "b"), ("ZADD", "{t}z", "NX", "9", "a"),
    ("ZREM", "{t}z", "nosuch"), ("ZREM", "{t}z", "a"), ("ZREMRANGEBYSCORE", "{t}z", "100", "200"),
    ("ZREMRANGEBYSCORE", "{t}z", "0", "3"), ("ZADD", "{t}z", "1", "x", "2", "y", "3", "z"),
    ("ZREMRANGEBYRANK", "{t}z", "0", "0"), ("ZADD", "{t}l", "0", "a", "0", "b"), ("ZREMRANGEBYLEX", "{t}l", "[a", "[a"),
    ("ZPOPMIN", "{t}z"),
    ("ZADD", "{t}z", "1", "p", "2", "q"), ("ZPOPMAX", "{t}z", "5"), ("ZADD", "{t}z2", "1", "p"),
    ("ZUNIONSTORE", "{t}zu", "1", "{t}z2"), ("ZINTERSTORE", "{t}zu", "2", "{t}z2", "{t}nokey"),
    ("ZDIFFSTORE", "{t}zd", "1", "{t}z2"), ("ZRANGESTORE", "{t}zr", "{t}z2", "0", "-1"),
    ("ZRANGESTORE", "{t}zr", "{t}z2", "5", "6"), ("ZREM", "{t}z2", "p"),
    ("XADD", "{t}x", "1-1", "f", "v"), ("XADD", "{t}x", "MAXLEN", "1", "2-1", "f", "v"),
    ("XADD", "{t}x", "MAXLEN", "5", "3-1", "f", "v"), ("XDEL", "{t}x", "9-9"), ("XDEL", "{t}x", "2-1"),
    ("XTRIM", "{t}x", "MAXLEN", "0"), ("XTRIM", "{t}x", "MAXLEN", "0"), ("XSETID", "{t}x", "5-5"),
    ("XGROUP", "CREATE", "{t}x", "g", "$"), ("XGROUP", "CREATE", "{t}x", "g", "$"),
    ("XGROUP", "CREATE", "{t}x2", "g", "0", "MKSTREAM"), ("XGROUP", "SETID", "{t}x", "g", "0"),
    ("XGROUP", "CREATECONSUMER", "{t}x", "g", "c1"), ("XGROUP", "CREATECONSUMER", "{t}x", "g", "c1"),
    ("XGROUP", "DELCONSUMER", "{t}x", "g", "c1"), ("XGROUP", "DELCONSUMER", "{t}x", "g", "c1"),
    ("XGROUP", "DESTROY", "{t}x", "g"), ("XGROUP", "DESTROY", "{t}x", "g"),
    ("XADD", "{t}xg", "1-1", "f", "v"), ("XADD", "{t}xg", "2-1", "f", "v"), ("XGROUP", "CREATE", "{t}xg", "g", "0"),
    ("XREADGROUP", "GROUP", "g", "c1", "COUNT", "1", "STREAMS", "{t}xg", ">"),
    ("XREADGROUP", "GROUP", "g", "c1", "COUNT", "1", "STREAMS", "{t}xg", ">"), ("XCLAIM", "{t}xg", "g", "c2", "0", "1-1"),
    ("XAUTOCLAIM", "{t}xg", "g", "c3", "0", "0"), ("XACK", "{t}xg", "g", "1-1"),
    ("XREADGROUP", "GROUP", "g", "c9", "STREAMS", "{t}xg", "0"), ("XCLAIM", "{t}xg", "g", "c2", "0", "9-9"),
    ("ZADD", "{t}zm", "1", "a", "2", "b"), ("ZMPOP", "1", "{t}zm", "MIN"), ("ZMPOP", "1", "{t}zm", "MAX", "COUNT", "5"),
    ("ZADD", "{t}zm", "1", "a"), ("BZPOPMAX", "{t}zm", "0"),
    # Lists.
    ("RPUSH", "{t}li", "a", "b", "c", "d", "e"), ("LPUSH", "{t}li", "z"), ("LPUSHX", "{t}nolist", "a"),
    ("RPUSHX", "{t}li", "f"), ("LPOP", "{t}li"), ("RPOP", "{t}li", "2"), ("LSET", "{t}li", "0", "A"),
    ("LINSERT", "{t}li", "BEFORE", "A", "x"), ("LINSERT", "{t}li", "BEFORE", "nosuch", "x"), ("LREM", "{t}li", "0", "nosuch"),
    ("LREM", "{t}li", "1", "x"), ("LTRIM", "{t}li", "0", "-1"), ("LTRIM", "{t}li", "1", "-1"),
    ("LMOVE", "{t}li", "{t}li2", "LEFT", "RIGHT"), ("RPOPLPUSH", "{t}li", "{t}li"), ("LMPOP", "2", "{t}nolist", "{t}li", "LEFT"),
    ("RPUSH", "{t}li3", "a"), ("BLPOP", "{t}li3", "0"), ("RPUSH", "{t}li3", "a", "b"), ("LTRIM", "{t}li3", "5", "6"),
    ("RPUSH", "{t}li4", "a"), ("LREM", "{t}li4", "0", "a"), ("RPUSH", "{t}li5", "a"), ("BLMOVE", "{t}li5", "{t}li6", "RIGHT", "LEFT", "0"),
    # Bitmaps and HyperLogLog (strings).
    ("SETBIT", "{t}bits", "7", "1"), ("SETBIT", "{t}bits", "7", "1"), ("SETBIT", "{t}bits", "100", "0"),
    ("BITFIELD", "{t}bf", "SET", "u8", "0", "200", "GET", "u8", "0"), ("BITFIELD", "{t}bf", "SET", "u8", "0", "200"),
    ("BITFIELD", "{t}bf", "GET", "u8", "0"), ("BITOP", "OR", "{t}bo", "{t}bits", "{t}bf"),
    ("BITOP", "OR", "{t}bo", "{t}nokey"), ("BITOP", "OR", "{t}bo", "{t}nokey"),
    ("PFADD", "{t}hll", "a", "b"), ("PFADD", "{t}hll", "a"), ("PFCOUNT", "{t}hll"), ("PFMERGE", "{t}hll2", "{t}hll"),
    # Geo (sorted sets).
    ("GEOADD", "{t}geo", "13.361389", "38.115556", "Palermo", "15.087269", "37.502669", "Catania"),
    ("GEOADD", "{t}geo", "13.361389", "38.115556", "Palermo"),
    ("GEOSEARCHSTORE", "{t}gs", "{t}geo", "FROMLONLAT", "15", "37", "BYRADIUS", "200", "km"),
    ("GEOSEARCHSTORE", "{t}gs", "{t}geo", "FROMLONLAT", "15", "37", "BYRADIUS", "1", "m"),
    ("GEORADIUS", "{t}geo", "15", "37", "200", "km", "STORE", "{t}gr"),
    ("GEORADIUS", "{t}nogeo", "15", "37", "200", "km", "STORE", "{t}gr"),
    ("SET", "{t}e", "1", "PX", "1"),
]


def events(conn, port, classes, script, until_expired=None):
    """Runs `script` on a server with `classes` configured; returns the messages a pattern
    subscriber got (read until the count `expected` of redis-server, or until quiet)."""
    conn.cmd("FLUSHALL")
    conn.cmd("CONFIG", "SET", "notify-keyspace-events", classes)
    sub = Conn(port)
    sub.cmd("PSUBSCRIBE", "__key*")
    for args in script:
        conn.cmd(*args)
    if until_expired:
        wait_until(lambda: conn.cmd("GET", until_expired) is None, message="key expired")
    return sub


def read_all(sub, count=None):
    got = []
    if count is not None:
        return [sub.read() for _ in range(count)]
    sub.sock.settimeout(0.3)
    try:
        while True:
            got.append(sub.read())
    except socket.timeout:
        pass
    return got


@pytest.mark.parametrize("classes", ["KEA", "KA", "EA", "Kg", "E$", "Exg", "KEh", "KEs", "Kx", "KEz", "Et", "KEn", "KEAn"])
def test_events_match_redis(pair, classes):
    redis, vk = pair
    expected = read_all(events(redis, redis.sock.getpeername()[1], classes, SCRIPT, until_expired="{t}e"))
    sub = events(vk, vk.sock.getpeername()[1], classes, SCRIPT, until_expired="{t}e")
    got = read_all(sub, len(expected))
    assert got == expected
    # Nothing more than Redis sent.
    assert read_all(sub) == []


MISS_SCRIPT = [
    ("GET", "{t}no"), ("SET", "{t}k", "v"), ("GET", "{t}k"), ("TTL", "{t}no"), ("TYPE", "{t}no"), ("EXISTS", "{t}no", "{t}k"),
    ("STRLEN", "{t}no"), ("HGET", "{t}noh", "f"), ("SMEMBERS", "{t}nos"), ("ZSCORE", "{t}noz", "m"),
    ("XRANGE", "{t}nox", "-", "+"), ("MGET", "{t}no", "{t}k", "{t}no2"), ("GETRANGE", "{t}no", "0", "1"),
    ("SET", "{t}k", "v2"), ("INCR", "{t}n"), ("DEL", "{t}no"),
]


@pytest.mark.parametrize("classes", ["Em", "KEm", "KEA"])
def test_key_miss_events_match_redis(pair, classes):
    redis, vk = pair
    expected = read_all(events(redis, redis.sock.getpeername()[1], classes, MISS_SCRIPT))
    sub = events(vk, vk.sock.getpeername()[1], classes, MISS_SCRIPT)
    assert read_all(sub, len(expected)) == expected
    assert read_all(sub) == []


def test_active_expiry_notifies_expired(pair):
    """A key nobody reads again expires by the active cycle, which publishes "expired"."""
    redis, vk = pair
    for c in pair:
        c.cmd("CONFIG", "SET", "notify-keyspace-events", "Ex")
        sub = Conn(c.sock.getpeername()[1])
        sub.cmd("SUBSCRIBE", "__keyevent@0__:expired")
        c.cmd("SET", "{t}gone", "1", "PX", "5")
        assert sub.read() == [b"message", b"__keyevent@0__:expired", b"{t}gone"]
        sub.close()


def test_set_in_the_past_notifies_set_expire_expired(server):
    """SET with a deadline already past: Redis stores the key (set, expire) and expires it at
    its next lookup or expiry cycle (expired); here it is gone at once, with the same events."""
    c = server.conn()
    c.cmd("CONFIG", "SET", "notify-keyspace-events", "KEA")
    try:
        sub = Conn(server.port)
        sub.cmd("SUBSCRIBE", "__keyspace@0__:{t}p")
        c.cmd("SET", "{t}p", "v", "PXAT", "1")
        assert [sub.read()[2] for _ in range(3)] == [b"set", b"expire", b"expired"]
        assert c.cmd("EXISTS", "{t}p") == 0
    finally:
        c.cmd("CONFIG", "SET", "notify-keyspace-events", "")


def test_no_events_without_config(pair):
    _, vk = pair
    vk.cmd("CONFIG", "SET", "notify-keyspace-events", "")
    sub = Conn(vk.sock.getpeername()[1])
    sub.cmd("PSUBSCRIBE", "*")
    vk.cmd("SET", "k", "v")
    vk.cmd("DEL", "k")
    assert vk.cmd("PUBLISH", "marker", "m") == 1
    assert sub.read() == [b"pmessage", b"*", b"marker", b"m"]


def test_rename_and_copy_across_shards_notify_as_on_one(pair):
    """RENAME, COPY and the STORE forms of sets, sorted sets and GEO with keys on two shards
    send Redis's events (each shard its own, so compared as sets)."""
    script = [("SET", "src%d" % i, "v") for i in range(8)]
    script += [("RENAME", "src%d" % i, "dst%d" % i) for i in range(4)]
    script += [("COPY", "src%d" % i, "copy%d" % i) for i in range(4, 8)]
    # The STORE forms of sets and sorted sets, their keys spread over both shards.
    script += [("SADD", "s%d" % i, "a", "b%d" % i) for i in range(4)]
    script += [("ZADD", "z%d" % i, "1", "a", "2", "b%d" % i) for i in range(4)]
    script += [("SUNIONSTORE", "su", "s0", "s1", "s2"), ("SINTERSTORE", "si", "s0", "s1", "s3"),
               ("SDIFFSTORE", "sd", "s0", "s1"), ("SINTERSTORE", "sd", "s0", "nokey"),
               ("ZUNIONSTORE", "zu", "3", "z0", "z1", "z2"), ("ZINTERSTORE", "zi", "2", "z0", "z3"),
               ("ZDIFFSTORE", "zd", "2", "z0", "z1"), ("ZDIFFSTORE", "zd", "2", "z0", "z0"),
               ("ZRANGESTORE", "zr", "z1", "0", "-1"), ("ZRANGESTORE", "zr", "z1", "5", "6")]
    # The GEO stores, each source with a destination on its shard and one on the other.
    for src in keys_on_two_shards("g"):
        script.append(("GEOADD", src, "13.361389", "38.115556", "Palermo", "15.087269", "37.502669", "Catania"))
        for dst in keys_on_two_shards("gs"):
            script += [("GEOSEARCHSTORE", dst, src, "FROMLONLAT", "15", "37", "BYRADIUS", "200", "km"),
                       ("GEOSEARCHSTORE", dst, src, "FROMLONLAT", "15", "37", "BYRADIUS", "1", "m"),
                       ("GEORADIUS", src, "15", "37", "200", "km", "STORE", dst),
                       ("GEORADIUS", src, "15", "37", "1", "m", "STORE", dst)]
    got = []
    for c in pair:
        port = c.sock.getpeername()[1]
        sub = events(c, port, "KEgsz", script)
        got.append(sorted(tuple(m) for m in read_all(sub)))
    assert got[1] == got[0]


def test_events_reach_subscribers_on_every_worker(server):
    """Keys on both shards, subscribers on both workers: each subscriber gets every event."""
    c = server.conn()
    c.cmd("CONFIG", "SET", "notify-keyspace-events", "KE$")
    try:
        subs = [Conn(server.port) for _ in range(4)]
        for s in subs:
            s.cmd("PSUBSCRIBE", "__keyevent@0__:*")
        keys = ["key:%d" % i for i in range(40)]
        for k in keys:
            c.cmd("SET", k, "v")
        for s in subs:
            got = sorted(s.read()[3] for _ in keys)
            assert got == sorted(k.encode() for k in keys)
    finally:
        c.cmd("CONFIG", "SET", "notify-keyspace-events", "")


def test_publisher_subscribed_to_its_own_events(server):
    """A RESP3 client subscribed to keyspace events pipelines writes and PUBLISHes: it gets
    every reply and every event push (the events of a write made earlier in the same pass
    are published before the PUBLISH runs, into its own reply stream)."""
    c = server.conn()
    c.cmd("CONFIG", "SET", "notify-keyspace-events", "E$")
    try:
        c.cmd("HELLO", "3")
        assert c.cmd("SUBSCRIBE", "__keyevent@0__:set", "news") == Push([b"subscribe", b"__keyevent@0__:set", 1])
        c.read()
        commands = []
        for i in range(50):
            commands += [("SET", "own:%d" % i, "v"), ("PUBLISH", "news", "n%d" % i)]
        c.send_raw(b"".join(encode(*x) for x in commands))
        replies, pushes = [], []
        while len(replies) < len(commands) or len(pushes) < 100:
            r = c.read()
            (pushes if isinstance(r, Push) else replies).append(r)
        assert replies == ["OK", 1] * 50
        assert sorted(p[2] for p in pushes if p[1] == b"__keyevent@0__:set") == sorted(b"own:%d" % i for i in range(50))
        assert [p[2] for p in pushes if p[1] == b"news"] == [b"n%d" % i for i in range(50)]
    finally:
        c.cmd("CONFIG", "SET", "notify-keyspace-events", "")
