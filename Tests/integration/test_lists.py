"""List commands (Redis 7.0's t_list.c) against redis-server 7.0: replies byte for byte in
RESP2 and RESP3 (errors in Redis's order, WRONGTYPE, arity, missing keys, null shapes),
quicklist node boundaries (digests and dumps equal to redis-server's), the blocking pops
(order, timeouts, MULTI, wake-ups from another worker), dumps exchanged with redis-server
both ways, and writes reaching a redis-server replica with equal digests. Multi-key
commands run with a hash tag (one shard) and without (keys on several shards)."""
import threading
import time

import pytest

from support.differential import dumps_exchanged_with_redis, paired, same, saved_and_restarted
from support.info import info
from support.marks import needs_redis
from support.processes import REDIS_SERVER, shards
from support.replication import link_up
from support.resp import Conn, encode
from support.slots import keys_on_two_shards
from support.streams import blocked_count
from support.waiting import wait_until

SERVER_ARGS = ("--enable-debug-command", "yes")


@pytest.fixture
def both(server, redis_port):
    with paired(server, redis_port, config=(("list-max-listpack-size", "-2"),)) as conns:
        yield conns


SCRIPT = [
    # Pushes and pops, the X forms, counts and their errors.
    ("RPUSH", "{t}l", "a", "b", "c", "1", "-2", "300000", ""), ("LPUSH", "{t}l", "x", "y"), ("LLEN", "{t}l"),
    ("LRANGE", "{t}l", "0", "-1"), ("LPUSHX", "{t}nokey", "a"), ("RPUSHX", "{t}nokey", "a"), ("EXISTS", "{t}nokey"),
    ("LPUSHX", "{t}l", "h1", "h2"), ("RPUSHX", "{t}l", "t1"), ("OBJECT", "ENCODING", "{t}l"), ("TYPE", "{t}l"),
    ("LPOP", "{t}l"), ("RPOP", "{t}l"), ("LPOP", "{t}l", "2"), ("RPOP", "{t}l", "2"), ("LPOP", "{t}l", "0"),
    ("LPOP", "{t}nokey"), ("LPOP", "{t}nokey", "2"), ("LPOP", "{t}nokey", "0"), ("RPOP", "{t}nokey", "1"),
    ("LPOP", "{t}l", "-1"), ("LPOP", "{t}l", "x"), ("LPOP", "{t}nokey", "-1"), ("LPOP", "{t}l", "1", "2"),
    ("RPOP", "{t}l", "1", "2"), ("LPOP", "{t}l", "9223372036854775807"), ("EXISTS", "{t}l"),
    ("RPUSH", "{t}l", "a", "b", "c", "d", "e", "a", "b", "c", "a"),
    # Reads.
    ("LINDEX", "{t}l", "0"), ("LINDEX", "{t}l", "-1"), ("LINDEX", "{t}l", "9"), ("LINDEX", "{t}l", "-10"),
    ("LINDEX", "{t}l", "x"), ("LINDEX", "{t}nokey", "x"), ("LINDEX", "{t}nokey", "0"),
    ("LRANGE", "{t}l", "2", "4"), ("LRANGE", "{t}l", "-3", "-1"), ("LRANGE", "{t}l", "5", "2"),
    ("LRANGE", "{t}l", "-100", "100"), ("LRANGE", "{t}l", "20", "30"), ("LRANGE", "{t}l", "x", "1"),
    ("LRANGE", "{t}nokey", "0", "-1"), ("LRANGE", "{t}nokey", "0", "x"), ("LLEN", "{t}nokey"),
    # LPOS.
    ("LPOS", "{t}l", "a"), ("LPOS", "{t}l", "a", "RANK", "2"), ("LPOS", "{t}l", "a", "RANK", "-1"),
    ("LPOS", "{t}l", "a", "RANK", "-2"), ("LPOS", "{t}l", "a", "RANK", "4"), ("LPOS", "{t}l", "a", "COUNT", "0"),
    ("LPOS", "{t}l", "a", "COUNT", "2"), ("LPOS", "{t}l", "a", "COUNT", "0", "RANK", "-1"),
    ("LPOS", "{t}l", "a", "COUNT", "0", "MAXLEN", "6"), ("LPOS", "{t}l", "a", "RANK", "-1", "MAXLEN", "2"),
    ("LPOS", "{t}l", "z"), ("LPOS", "{t}l", "z", "COUNT", "1"), ("LPOS", "{t}nokey", "a"),
    ("LPOS", "{t}nokey", "a", "COUNT", "1"), ("LPOS", "{t}l", "a", "RANK", "0"), ("LPOS", "{t}l", "a", "RANK", "x"),
    ("LPOS", "{t}l", "a", "COUNT", "-1"), ("LPOS", "{t}l", "a", "COUNT", "x"), ("LPOS", "{t}l", "a", "MAXLEN", "-1"),
    ("LPOS", "{t}l", "a", "MAXLEN"), ("LPOS", "{t}l", "a", "BOGUS", "1"), ("LPOS", "{t}l", "a", "RANK", "-9223372036854775808"),
    ("LPOS", "{t}l", "a", "RANK", "9223372036854775807"),
    # Edits.
    ("LSET", "{t}l", "0", "A"), ("LSET", "{t}l", "-1", "Z"), ("LSET", "{t}l", "9", "x"), ("LSET", "{t}l", "x", "y"),
    ("LSET", "{t}nokey", "0", "x"), ("LSET", "{t}nokey", "x", "x"), ("LRANGE", "{t}l", "0", "-1"),
    ("LINSERT", "{t}l", "BEFORE", "b", "B0"), ("LINSERT", "{t}l", "after", "c", "C1"), ("LINSERT", "{t}l", "AFTER", "zz", "x"),
    ("LINSERT", "{t}nokey", "AFTER", "a", "x"), ("LINSERT", "{t}l", "MIDDLE", "a", "x"), ("LINSERT", "{t}nokey", "MIDDLE", "a", "x"),
    ("LRANGE", "{t}l", "0", "-1"),
    ("LREM", "{t}l", "1", "b"), ("LREM", "{t}l", "-1", "c"), ("LREM", "{t}l", "0", "a"), ("LREM", "{t}l", "0", "zz"),
    ("LREM", "{t}l", "x", "a"), ("LREM", "{t}nokey", "x", "a"), ("LREM", "{t}nokey", "1", "a"), ("LRANGE", "{t}l", "0", "-1"),
    ("RPUSH", "{t}r", "1", "2", "1", "2", "1"), ("LREM", "{t}r", "-2", "1"), ("LRANGE", "{t}r", "0", "-1"),
    ("LREM", "{t}r", "0", "2"), ("LREM", "{t}r", "5", "1"), ("EXISTS", "{t}r"),
    ("LTRIM", "{t}l", "1", "-2"), ("LRANGE", "{t}l", "0", "-1"), ("LTRIM", "{t}l", "x", "1"), ("LTRIM", "{t}nokey", "0", "1"),
    ("LTRIM", "{t}nokey", "x", "1"), ("LTRIM", "{t}l", "5", "2"), ("EXISTS", "{t}l"),
    # LMOVE, RPOPLPUSH, LMPOP.
    ("RPUSH", "{t}s", "1", "2", "3"), ("LMOVE", "{t}s", "{t}d", "LEFT", "RIGHT"), ("LMOVE", "{t}s", "{t}d", "right", "left"),
    ("RPOPLPUSH", "{t}s", "{t}d"), ("EXISTS", "{t}s"), ("LRANGE", "{t}d", "0", "-1"), ("RPOPLPUSH", "{t}nokey", "{t}d"),
    ("LMOVE", "{t}d", "{t}d", "LEFT", "RIGHT"), ("LRANGE", "{t}d", "0", "-1"), ("RPOPLPUSH", "{t}d", "{t}d"),
    ("LRANGE", "{t}d", "0", "-1"), ("LMOVE", "{t}d", "{t}d", "UP", "LEFT"), ("LMOVE", "{t}nokey", "{t}d", "LEFT", "UP"),
    ("SET", "{t}str", "v"), ("LMOVE", "{t}d", "{t}str", "LEFT", "LEFT"), ("RPOPLPUSH", "{t}str", "{t}d"),
    ("RPOPLPUSH", "{t}nokey", "{t}str"), ("LMOVE", "{t}str", "{t}nokey", "LEFT", "LEFT"), ("LRANGE", "{t}d", "0", "-1"),
    ("RPUSH", "{t}m1", "a", "b", "c"), ("RPUSH", "{t}m2", "x"),
    ("LMPOP", "2", "{t}nokey", "{t}m1", "LEFT"), ("LMPOP", "2", "{t}m1", "{t}m2", "RIGHT", "COUNT", "5"),
    ("LMPOP", "2", "{t}m1", "{t}m2", "LEFT", "COUNT", "5"), ("LMPOP", "2", "{t}m1", "{t}m2", "LEFT"),
    ("LMPOP", "1", "{t}str", "LEFT"), ("LMPOP", "2", "{t}nokey", "{t}str", "LEFT"), ("LMPOP", "0", "{t}m1", "LEFT"),
    ("LMPOP", "-1", "{t}m1", "LEFT"), ("LMPOP", "x", "{t}m1", "LEFT"), ("LMPOP", "3", "{t}m1", "LEFT"),
    ("LMPOP", "1", "{t}m1", "MIDDLE"), ("LMPOP", "1", "{t}m1", "LEFT", "COUNT", "0"), ("LMPOP", "1", "{t}m1", "LEFT", "COUNT"),
    ("LMPOP", "1", "{t}m1", "LEFT", "COUNT", "1", "COUNT", "2"), ("LMPOP", "1", "{t}m1", "LEFT", "BOGUS"),
    ("LMPOP", "9223372036854775807", "{t}m1", "LEFT"), ("LMPOP", "2", "{t}m1"),
    # Non-blocking forms of the blocking pops (nothing waits: the lists have elements).
    ("RPUSH", "{t}b", "1", "2", "3", "4"), ("BLPOP", "{t}nokey", "{t}b", "0"), ("BRPOP", "{t}b", "0.5"),
    ("BLMOVE", "{t}b", "{t}d", "LEFT", "LEFT", "0"), ("BRPOPLPUSH", "{t}b", "{t}d", "0"), ("EXISTS", "{t}b"),
    ("BLMPOP", "0", "1", "{t}d", "RIGHT", "COUNT", "2"), ("BLPOP", "{t}str", "0"), ("BLPOP", "{t}b", "-1"),
    ("BLPOP", "{t}b", "x"), ("BLPOP", "{t}b", "inf"), ("BLMOVE", "{t}b", "{t}d", "UP", "LEFT", "x"),
    ("BLMOVE", "{t}d", "{t}str", "LEFT", "LEFT", "0"), ("BLMPOP", "x", "1", "{t}d", "LEFT"),
    ("BLMPOP", "0", "0", "{t}d", "LEFT"), ("BLMPOP", "-1", "1", "{t}d", "LEFT"), ("BLMPOP", "0", "1", "{t}str", "LEFT"),
    ("BRPOPLPUSH", "{t}d", "{t}str", "0"), ("BRPOPLPUSH", "{t}d", "{t}d2", "-1"),
    # Wrong types, arity.
    ("LPUSH", "{t}str", "a"), ("RPUSHX", "{t}str", "a"), ("LPOP", "{t}str"), ("RPOP", "{t}str", "2"), ("LLEN", "{t}str"),
    ("LINDEX", "{t}str", "0"), ("LINDEX", "{t}str", "x"), ("LSET", "{t}str", "0", "x"), ("LRANGE", "{t}str", "0", "1"),
    ("LTRIM", "{t}str", "0", "1"), ("LREM", "{t}str", "0", "a"), ("LINSERT", "{t}str", "BEFORE", "a", "b"),
    ("LPOS", "{t}str", "a"), ("LPOS", "{t}str", "a", "COUNT", "x"),
    ("LPUSH", "{t}l"), ("RPUSH",), ("LPOP",), ("LLEN",), ("LINDEX", "{t}l"), ("LSET", "{t}l", "0"), ("LRANGE", "{t}l", "0"),
    ("LTRIM", "{t}l", "0"), ("LREM", "{t}l", "0"), ("LINSERT", "{t}l", "BEFORE", "a"), ("LPOS", "{t}l"),
    ("LMOVE", "{t}l", "{t}d", "LEFT"), ("RPOPLPUSH", "{t}l"), ("LMPOP", "1", "{t}l"), ("BLPOP", "{t}l"),
    ("BLMOVE", "{t}l", "{t}d", "LEFT", "LEFT"), ("BRPOPLPUSH", "{t}l", "{t}d"), ("BLMPOP", "0", "1", "{t}l"),
    # Binary elements, integers in their encodings, the generic commands.
    ("RPUSH", "{t}bin", "", "\x00\r\n", "-0", "+1", "007", "9223372036854775807", "-9223372036854775808",
     "9223372036854775808", "12345678901234567890", "-4096", "4095", "127", "128", "-32768", "8388607"),
    ("LRANGE", "{t}bin", "0", "-1"), ("LPOS", "{t}bin", "127"), ("LPOS", "{t}bin", "-0"), ("LREM", "{t}bin", "0", "007"),
    ("DEBUG", "DIGEST-VALUE", "{t}bin", "{t}d", "{t}m1"), ("COPY", "{t}bin", "{t}bin2"), ("LRANGE", "{t}bin2", "0", "-1"),
    ("RENAME", "{t}bin2", "{t}bin3"), ("LRANGE", "{t}bin3", "0", "-1"), ("OBJECT", "ENCODING", "{t}bin3"), ("DBSIZE",),
]


@pytest.mark.parametrize("tag", ["{t}", ""], ids=["one-shard", "across-shards"])
@pytest.mark.parametrize("protocol", ["2", "3"])
def test_replies_are_redis_own(both, protocol, tag):
    """Without the hash tag the keys of LMOVE, LMPOP... fall on different shards: the
    replies must not change (the blocking forms need their keys on one shard: left out there)."""
    for c in both:
        c.cmd("HELLO", protocol)
    script = [tuple(a.replace("{t}", tag) for a in args) for args in SCRIPT if tag or not args[0].startswith("B")]
    same(both, *script)
    same(both, ("DEBUG", "DIGEST"))
    assert info(both[1], "keyspace")["db0"] == info(both[0], "keyspace")["db0"]


def test_node_fill_follows_the_configured_size(both):
    """Elements of every size under each list-max-listpack-size (bytes and counts): the
    same elements, the same digest; quicklist at every size, as Redis 7.0."""
    sizes = ["-1", "-2", "-5", "1", "3", "128"]
    for fill in sizes:
        for c in both:
            c.cmd("CONFIG", "SET", "list-max-ziplist-size", fill)
            c.pipeline([("RPUSH" if i % 3 else "LPUSH", "f" + fill, ("%d" % i) * (i % 40) or str(i)) for i in range(600)])
            c.pipeline([("LINSERT", "f" + fill, "BEFORE", str(i * 7), "ins%d" % i) for i in range(1, 40)])
        same(both, ("LLEN", "f" + fill), ("LRANGE", "f" + fill, "0", "-1"), ("LINDEX", "f" + fill, "300"),
             ("OBJECT", "ENCODING", "f" + fill), ("DEBUG", "DIGEST-VALUE", "f" + fill),
             ("CONFIG", "GET", "list-max-listpack-size"), ("LTRIM", "f" + fill, "17", "-23"),
             ("LREM", "f" + fill, "0", "1111"), ("LRANGE", "f" + fill, "100", "130"), ("DEBUG", "DIGEST-VALUE", "f" + fill))
    same(both, ("RPUSH", "one", "a"), ("OBJECT", "ENCODING", "one"), ("DEBUG", "DIGEST"))


@pytest.mark.parametrize("depth", ["1", "3"])
def test_compressed_lists_answer_as_redis(both, depth):
    """list-compress-depth: lists whose middle nodes are LZF-compressed answer every read
    and edit as redis-server's with the same setting, and take far less memory than the
    same list uncompressed; DUMP/RESTORE (the RDB encoding) keeps them whole."""
    try:
        for c in both:
            assert c.cmd("CONFIG", "SET", "list-compress-depth", depth) == "OK"
            c.pipeline([("RPUSH" if i % 3 else "LPUSH", "z", "element-%d-" % (i % 50) + "x" * (i % 70))
                        for i in range(6000)])
            c.pipeline([("LINSERT", "z", "BEFORE", "element-%d-" % i + "x" * i, "ins%d" % i) for i in range(1, 60, 7)])
        vk = both[1]
        same(both, ("CONFIG", "GET", "list-compress-depth"), ("LLEN", "z"), ("LRANGE", "z", "0", "-1"),
             ("LINDEX", "z", "3000"), ("LINDEX", "z", "-2999"), ("LSET", "z", "2500", "set"), ("LRANGE", "z", "2490", "2510"),
             ("LPOS", "z", "set"), ("LREM", "z", "5", "element-7-xxxxxxx"), ("LREM", "z", "-3", "element-8-xxxxxxxx"),
             ("LTRIM", "z", "40", "-41"), ("LRANGE", "z", "-20", "-1"), ("DEBUG", "DIGEST-VALUE", "z"),
             ("OBJECT", "ENCODING", "z"))
        compressed = vk.cmd("MEMORY", "USAGE", "z")
        payload = vk.cmd("DUMP", "z")
        assert vk.cmd("RESTORE", "z2", "0", payload) == "OK"
        assert vk.cmd("DEBUG", "DIGEST-VALUE", "z2") == vk.cmd("DEBUG", "DIGEST-VALUE", "z")
        assert both[0].cmd("RESTORE", "fromvk", "0", payload) == "OK"  # redis-server reads it
        assert both[0].cmd("DEBUG", "DIGEST-VALUE", "fromvk") == vk.cmd("DEBUG", "DIGEST-VALUE", "z")
        # The same list uncompressed (a copy made with depth 0) is over twice as big.
        assert vk.cmd("CONFIG", "SET", "list-compress-depth", "0") == "OK"
        assert vk.cmd("RESTORE", "plain", "0", payload) == "OK"
        assert vk.cmd("MEMORY", "USAGE", "plain") > 2 * compressed
        same(both, ("LPOP", "z", "3000"), ("RPOP", "z", "100"), ("LRANGE", "z", "0", "-1"))
    finally:
        for c in both:
            c.cmd("CONFIG", "SET", "list-compress-depth", "0")


def test_a_long_list_from_both_ends(both):
    """LINDEX, LSET and LRANGE anywhere in a list of many nodes."""
    for c in both:
        c.pipeline([("RPUSH", "big", "element-%d" % i) for i in range(5000)])
        c.pipeline([("LPUSH", "big", i) for i in range(3000)])
    same(both, *[("LINDEX", "big", str(i)) for i in (0, 1, 2999, 3000, 4000, 7999, -1, -8000, -8001, 8000)])
    same(both, ("LSET", "big", "5000", "mid"), ("LSET", "big", "-2", "end"), ("LRANGE", "big", "4990", "5010"),
         ("LRANGE", "big", "-5", "-1"), ("LPOS", "big", "mid"), ("LPOS", "big", "7", "RANK", "-1"),
         ("LPOP", "big", "100"), ("RPOP", "big", "100"), ("LLEN", "big"), ("DEBUG", "DIGEST-VALUE", "big"))


def test_blocked_pops_in_the_order_they_blocked(server, r):
    """Waiters on keys of both shards are served in the order they blocked, each with its
    command's reply; BLMOVE's element lands in its destination."""
    conns = [server.conn() for _ in range(5)]
    a, b = "s1", "s2"   # shards 0 and 1
    conns[0].send_raw(encode("BLPOP", a, "0"))
    wait_until(lambda: blocked_count(server) == 1, message="one blocked client")
    conns[1].send_raw(encode("BLMPOP", "0", "2", "{s1}x", a, "RIGHT", "COUNT", "2"))
    wait_until(lambda: blocked_count(server) == 2, message="two blocked clients")
    conns[2].send_raw(encode("BLMOVE", a, "{s1}dst", "LEFT", "RIGHT", "0"))
    conns[3].send_raw(encode("BRPOPLPUSH", b, "{s2}dst", "0"))
    # Connections live on different workers: without this wait the next one may block first.
    wait_until(lambda: blocked_count(server) == 4, message="four blocked clients")
    conns[4].send_raw(encode("BRPOP", "{s2}x", b, "0"))
    wait_until(lambda: blocked_count(server) == 5, message="five blocked clients")
    assert r.cmd("RPUSH", a, "1", "2", "3", "4", "5") == 5
    assert conns[0].read() == [b"s1", b"1"]
    assert conns[1].read() == [b"s1", [b"5", b"4"]]
    assert conns[2].read() == b"2"
    assert r.cmd("LRANGE", a, "0", "-1") == [b"3"]
    assert r.cmd("LRANGE", "{s1}dst", "0", "-1") == [b"2"]
    r.cmd("RPUSH", b, "x", "y")
    assert conns[3].read() == b"y"
    assert conns[4].read() == [b"s2", b"x"]
    assert r.cmd("EXISTS", b) == 0 and r.cmd("LRANGE", "{s2}dst", "0", "-1") == [b"y"]
    for c in conns:
        c.close()
    wait_until(lambda: blocked_count(server) == 0, message="no blocked client")


@pytest.mark.parametrize("protocol", [2, 3])
def test_timeouts_and_multi(server, redis_port, protocol):
    """A timeout answers a null array (BLMOVE too); inside MULTI nothing blocks: a null
    array, or a null bulk for BLMOVE/BRPOPLPUSH, as redis-server."""
    pair = [Conn(redis_port), server.conn()]
    for c in pair:
        c.cmd("FLUSHALL")
        c.cmd("HELLO", str(protocol))
    for cmd in (("BLPOP", "nokey", "0.1"), ("BRPOP", "nokey", "{nokey}2", "0.1"), ("BLMPOP", "0.1", "1", "nokey", "LEFT"),
                ("BLMOVE", "nokey", "{nokey}d", "LEFT", "LEFT", "0.1"), ("BRPOPLPUSH", "nokey", "{nokey}d", "0.1")):
        start = time.monotonic()
        assert pair[1].raw(*cmd) == pair[0].raw(*cmd), cmd
        assert time.monotonic() - start >= 0.09
    same(pair, ("MULTI",), ("BLPOP", "nokey", "0"), ("BLMOVE", "nokey", "{nokey}d", "LEFT", "LEFT", "0"),
         ("BRPOPLPUSH", "nokey", "{nokey}d", "0"), ("BLMPOP", "0", "1", "nokey", "LEFT"), ("RPUSH", "nokey", "a", "b"),
         ("BLPOP", "nokey", "0"), ("BLMOVE", "nokey", "{nokey}d", "LEFT", "LEFT", "0"), ("EXEC",),
         ("LRANGE", "{nokey}d", "0", "-1"))
    for c in pair:
        c.close()


def test_blocked_blmove_onto_a_key_of_another_type(server, redis_port):
    """The waiter is answered WRONGTYPE when its element arrives and the destination holds
    another type; the source keeps the element (as redis-server)."""
    out = []
    for port in (redis_port, server.port):
        r, w = Conn(port), Conn(port)
        r.cmd("FLUSHALL")
        r.cmd("SET", "{k}d", "str")
        w.send_raw(encode("BLMOVE", "{k}s", "{k}d", "LEFT", "LEFT", "0"))
        wait_until(lambda: int(info(r, "clients")["blocked_clients"]) == 1, message="the waiter")
        r.cmd("RPUSH", "{k}s", "a")
        out.append((w.read_raw(), r.raw("LRANGE", "{k}s", "0", "-1"), int(info(r, "clients")["blocked_clients"])))
        r.close()
        w.close()
    assert out[0] == out[1]


def test_many_waiters_across_workers(make_server):
    """With two workers, 1,000 clients spread over both block on one list and are served in
    the order they blocked by pushes from connections on either worker."""
    s = make_server("--threads", "2", "--shards", "2")
    r1, r2 = s.conn(), s.conn()
    waiters = []
    for i in range(1000):
        c = s.conn()
        c.send_raw(encode("BLPOP", "queue", "0"))
        waiters.append(c)
        wait_until(lambda: blocked_count(s) == i + 1, message="waiter %d to block" % i)
    for i in range(1000):
        (r1 if i % 2 else r2).cmd("RPUSH", "queue", str(i))
    for i, c in enumerate(waiters):
        assert c.read() == [b"queue", str(i).encode()]
        c.close()
    assert r1.cmd("EXISTS", "queue") == 0
    wait_until(lambda: blocked_count(s) == 0, message="no blocked client")


def test_a_blocked_pop_of_a_closed_client_is_dropped(server, r):
    c = server.conn()
    c.send_raw(encode("BLPOP", "gone", "0"))
    wait_until(lambda: blocked_count(server) == 1, message="one blocked client")
    c.close()
    wait_until(lambda: blocked_count(server) == 0, message="no blocked client")
    assert r.cmd("RPUSH", "gone", "a") == 1
    assert r.cmd("LLEN", "gone") == 1


def test_cross_shard_lmove_is_atomic_under_concurrent_readers(server):
    """While a writer rotates elements between two lists on different shards, LMPOP-free
    readers of both (a transaction of two LLENs) always count every element once."""
    pa, pb = keys_on_two_shards("rot")
    c = server.conn()
    c.cmd("DEL", pa, pb)
    c.cmd("RPUSH", pa, *[str(i) for i in range(50)])
    stop = threading.Event()

    def mover():
        w = server.conn()
        while not stop.is_set():
            w.cmd("LMOVE", pa, pb, "LEFT", "RIGHT")
            w.cmd("RPOPLPUSH", pb, pa)
        w.close()
    t = threading.Thread(target=mover)
    t.start()
    try:
        for _ in range(200):
            c.cmd("MULTI")
            c.cmd("LLEN", pa)
            c.cmd("LLEN", pb)
            assert sum(c.cmd("EXEC")) == 50
    finally:
        stop.set()
        t.join()
    assert sorted(c.cmd("LRANGE", pa, "0", "-1") + c.cmd("LRANGE", pb, "0", "-1"), key=int) == \
        [str(i).encode() for i in range(50)]


def fill_lists(c):
    c.cmd("RPUSH", "small", "1", "-2", "300000", "9223372036854775807", "a", "")
    c.pipeline([("RPUSH", "big", "element-%d" % i) for i in range(3000)])
    c.pipeline([("LPUSH", "ints", str(i * 3)) for i in range(2000)])
    c.cmd("RPUSH", "huge", "x" * 20000, "y", "z" * 70000)
    c.cmd("RPUSH", "ttl", "x")
    c.cmd("PEXPIRE", "ttl", "100000000")
    c.cmd("SELECT", "3")
    c.cmd("RPUSH", "in3", "k")
    c.cmd("SELECT", "0")


def list_state(c, dbs=(0, 3)):
    out = {}
    for db in dbs:
        c.cmd("SELECT", db)
        for k in c.cmd("KEYS", "*"):
            out[(db, k)] = (c.cmd("LRANGE", k, "0", "-1"), c.cmd("OBJECT", "ENCODING", k),
                            c.cmd("DEBUG", "DIGEST-VALUE", k), c.cmd("PEXPIRETIME", k) > 0)
    c.cmd("SELECT", 0)
    return out


@needs_redis
def test_dumps_exchanged_with_redis(nodes, data_dir):
    dumps_exchanged_with_redis(nodes, data_dir, fill_lists, list_state)


@pytest.mark.parametrize("before,after", [(1, 2), (2, 1)])
def test_lists_survive_save_and_restart(nodes, data_dir, before, after):
    c = saved_and_restarted(nodes, data_dir, fill_lists, list_state, before, after)
    assert c.cmd("RPUSH", "small", "5") == 7 and c.cmd("LINDEX", "big", "-1") == b"element-2999"


@needs_redis
def test_list_writes_reach_a_redis_replica(nodes):
    """Pushes, pops, edits, LMOVE and LMPOP across shards and the blocking pops (served at
    once or later) reach a redis-server replica, which ends with the same digest."""
    master = nodes("--save", "", *shards(2), "--enable-debug-command", "yes")
    m = master.conn()
    fill_lists(m)
    replica = nodes("--save", "", "--replicaof", "127.0.0.1", str(master.port), "--enable-debug-command", "yes",
                    binary=REDIS_SERVER)
    rc = replica.conn()
    wait_until(lambda: link_up(rc), timeout=20, message="the replica's link")
    rc.cmd("CONFIG", "RESETSTAT")
    a, b = keys_on_two_shards("rep")
    waiter = master.conn()
    for i in range(30):
        m.cmd("RPUSH", a, str(i), "e%d" % i)
        m.cmd("BLMOVE", a, b, "RIGHT", "LEFT", "0")   # on two shards, served at once
        m.cmd("RPUSH", a, "f%d" % i)
        m.cmd("LPUSH", b, "b%d" % i)
        m.cmd("LMOVE", a, b, "LEFT", "RIGHT")
        m.cmd("RPOPLPUSH", b, a)
        m.cmd("LMPOP", "2", "nokey", a, "RIGHT", "COUNT", "2")
        m.cmd("LSET", "big", str(i * 50), "set%d" % i)
        m.cmd("LINSERT", "big", "AFTER", "element-%d" % (i * 7), "in%d" % i)
        m.cmd("LREM", "ints", "1", str(i * 9))
        m.cmd("LTRIM", "ints", "1", "-2")
        m.cmd("BLPOP", b, "0")
        m.cmd("BLMPOP", "0", "1", "big", "RIGHT", "COUNT", "3")
        m.cmd("BLMOVE", "big", "{big}d", "LEFT", "RIGHT", "0")
        waiter.send_raw(encode("BRPOP", "{w}q", "0"))
        wait_until(lambda: blocked_count(master) == 1, message="the waiter")
        m.cmd("RPUSH", "{w}q", "q%d" % i)
        assert waiter.read() == [b"{w}q", b"q%d" % i]
        waiter.send_raw(encode("BLMPOP", "0", "2", a, b, "LEFT", "COUNT", "2"))   # keys on two shards
        wait_until(lambda: blocked_count(master) == 0, message="the multi-shard pop")
        assert waiter.read()[0] in (a.encode(), b.encode())
        m.cmd("DEL", "{w}q")
        waiter.send_raw(encode("BRPOPLPUSH", "{w}q", b, "0"))   # destination on the other shard
        wait_until(lambda: blocked_count(master) == 1, message="the waiter")
        m.cmd("RPUSH", "{w}q", "m%d" % i)
        assert waiter.read() == b"m%d" % i
    assert m.cmd("WAIT", "1", "10000") == 1
    wait_until(lambda: rc.cmd("DEBUG", "DIGEST") == m.cmd("DEBUG", "DIGEST"), timeout=10,
               message="the replica's digest")
    stats = info(rc, "commandstats")
    assert "cmdstat_blpop" not in stats and "cmdstat_brpop" not in stats and "cmdstat_blmove" not in stats
    assert "cmdstat_lpop" in stats and "cmdstat_rpop" in stats and "cmdstat_lmove" in stats


def test_cross_shard_list_writes_reach_a_valkeyper_replica(nodes):
    master = nodes("--save", "", *shards(2), "--enable-debug-command", "yes")
    m = master.conn()
    replica = nodes("--save", "", *shards(2), "--replicaof", "127.0.0.1", str(master.port),
                    "--enable-debug-command", "yes")
    rc = replica.conn()
    wait_until(lambda: link_up(rc), timeout=20, message="the replica's link")
    a, b = keys_on_two_shards("rep")
    for i in range(40):
        m.cmd("RPUSH", a, str(i), "m%d" % i)
        m.cmd("LMOVE", a, b, "RIGHT", "LEFT")
        m.cmd("LMPOP", "2", b, a, "LEFT", "COUNT", "1")
        m.cmd("BLMPOP", "0", "1", a, "LEFT")
    assert m.cmd("WAIT", "1", "10000") == 1
    wait_until(lambda: rc.cmd("DEBUG", "DIGEST") == m.cmd("DEBUG", "DIGEST"), timeout=10,
               message="the replica's digest")


def test_scan_type_finds_lists(r):
    r.cmd("RPUSH", "l1", "a")
    r.cmd("RPUSH", "l2", "b")
    r.cmd("SET", "str", "v")
    found, cursor = set(), "0"
    while True:
        cursor, keys = r.cmd("SCAN", cursor, "TYPE", "list")
        found.update(keys)
        if cursor == b"0":
            break
    assert found == {b"l1", b"l2"}


@pytest.mark.parametrize("protocol", [2, 3])
def test_client_unblock(server, redis_port, protocol):
    """CLIENT UNBLOCK wakes a blocked BLPOP/BLMOVE/BZPOPMIN/XREAD with its timeout reply, or
    UNBLOCKED with ERROR, and answers 1; 0 for a client that does not wait; as redis-server."""
    out = []
    for port in (redis_port, server.port):
        r, w = Conn(port), Conn(port)
        r.cmd("FLUSHALL")
        w.cmd("HELLO", str(protocol))
        wid = w.cmd("CLIENT", "ID")
        steps = [r.raw("CLIENT", "UNBLOCK", str(wid)), r.raw("CLIENT", "UNBLOCK", str(wid), "BOGUS")]
        for blocking, reason in ((("BLPOP", "u", "0"), "TIMEOUT"), (("BLMOVE", "u", "{u}d", "LEFT", "LEFT", "0"), "ERROR"),
                                 (("BZPOPMIN", "u", "0"), "ERROR"), (("XREAD", "BLOCK", "0", "STREAMS", "u", "$"), "ERROR"),
                                 (("BLMPOP", "0", "1", "u", "LEFT"), None)):
            w.send_raw(encode(*blocking))
            wait_until(lambda: int(info(r, "clients")["blocked_clients"]) == 1, message="the waiter")
            steps.append(r.raw("CLIENT", "UNBLOCK", str(wid), *([reason] if reason else [])))
            steps.append(w.read_raw())
        steps.append(int(info(r, "clients")["blocked_clients"]))
        out.append(steps)
        r.close()
        w.close()
    assert out[0] == out[1]


@pytest.mark.parametrize("actions", [
    [("MULTI",), ("RPUSH", "q", "x"), ("LPOP", "q"), ("EXEC",)],
    [("MULTI",), ("RPUSH", "q", "x", "y"), ("LPOP", "q"), ("EXEC",)],
    [("MULTI",), ("RPUSH", "q", "x"), ("RENAME", "q", "{q}2"), ("EXEC",)],
    [("RPUSH", "{q}src", "a", "b"), ("RENAME", "{q}src", "q")],
    [("SET", "q", "str"), ("DEL", "q"), ("LPUSH", "q", "z")],
    [("RPUSH", "{q}src", "a"), ("LMOVE", "{q}src", "q", "LEFT", "LEFT")],
    [("RPUSH", "{q}src", "a", "b"), ("COPY", "{q}src", "q")],
], ids=["push-and-pop-in-multi", "push-two-pop-one-in-multi", "push-and-rename-away", "rename-onto",
        "other-type-first", "lmove-onto", "copy-onto"])
def test_writes_that_wake_a_blocked_pop(server, redis_port, actions):
    """A key made ready inside MULTI/EXEC serves its waiter only as EXEC left it; RENAME,
    COPY and LMOVE onto the key wake it; as redis-server."""
    out = []
    for port in (redis_port, server.port):
        r, w = Conn(port), Conn(port)
        r.cmd("FLUSHALL")
        w.send_raw(encode("BLPOP", "q", "0"))
        wait_until(lambda: int(info(r, "clients")["blocked_clients"]) == 1, message="the waiter")
        steps = [r.raw(*a) for a in actions]
        r.cmd("DEL", "q")
        r.cmd("RPUSH", "q", "release")
        steps.append(w.read_raw())
        steps.append(r.raw("LRANGE", "q", "0", "-1"))
        steps.append(r.raw("LRANGE", "{q}2", "0", "-1"))
        out.append(steps)
        r.close()
        w.close()
    assert out[0] == out[1]


@pytest.mark.parametrize("protocol", [2, 3])
def test_blmove_across_shards(server, redis_port, protocol):
    """BLMOVE and BRPOPLPUSH whose destination lives on another shard: served at once,
    after blocking (by a push, in the order they blocked), timing out, inside MULTI, onto a
    key of another type, unblocked; the same replies and lists as redis-server."""
    src, dst = keys_on_two_shards("bm")
    out = []
    for port in (redis_port, server.port):
        r, w1, w2 = Conn(port), Conn(port), Conn(port)
        for c in (r, w1, w2):
            c.cmd("HELLO", str(protocol))
        r.cmd("FLUSHALL")
        w1id = w1.cmd("CLIENT", "ID")
        steps = [r.raw("RPUSH", src, "a", "b"), r.raw("BLMOVE", src, dst, "LEFT", "RIGHT", "0"),
                 r.raw("BRPOPLPUSH", src, dst, "0"), r.raw("EXISTS", src), r.raw("LRANGE", dst, "0", "-1"),
                 r.raw("BLMOVE", src, dst, "LEFT", "LEFT", "0.05")]
        w1.send_raw(encode("BLMOVE", src, dst, "RIGHT", "LEFT", "0"))
        wait_until(lambda: int(info(r, "clients")["blocked_clients"]) == 1, message="the first waiter")
        w2.send_raw(encode("BRPOPLPUSH", src, dst, "0"))
        wait_until(lambda: int(info(r, "clients")["blocked_clients"]) == 2, message="the second waiter")
        steps.append(r.raw("RPUSH", src, "x"))
        steps.append(w1.read_raw())
        steps.append(r.raw("RPUSH", src, "y", "z"))
        steps.append(w2.read_raw())
        steps += [r.raw("LRANGE", src, "0", "-1"), r.raw("LRANGE", dst, "0", "-1")]
        steps += [r.raw("MULTI"), r.raw("BLMOVE", "nokey", dst, "LEFT", "LEFT", "0"),
                  r.raw("BLMOVE", src, dst, "LEFT", "LEFT", "0"), r.raw("EXEC")]
        r.cmd("DEL", src)
        r.cmd("SET", dst, "str")
        w1.send_raw(encode("BLMOVE", src, dst, "LEFT", "LEFT", "0"))
        wait_until(lambda: int(info(r, "clients")["blocked_clients"]) == 1, message="the waiter on a string")
        steps.append(r.raw("RPUSH", src, "q"))
        steps.append(w1.read_raw())
        steps += [r.raw("LRANGE", src, "0", "-1"), r.raw("BLMOVE", src, dst, "LEFT", "LEFT", "0")]
        r.cmd("DEL", src, dst)
        w1.send_raw(encode("BLMOVE", src, dst, "LEFT", "LEFT", "0"))
        wait_until(lambda: int(info(r, "clients")["blocked_clients"]) == 1, message="the waiter to unblock")
        steps.append(r.raw("CLIENT", "UNBLOCK", str(w1id), "ERROR"))
        steps.append(w1.read_raw())
        steps.append(int(info(r, "clients")["blocked_clients"]))
        out.append(steps)
        for c in (r, w1, w2):
            c.close()
    assert out[0] == out[1]


def test_blmove_waiters_across_shards_are_served_in_order(make_server):
    """Twenty BLMOVE waiters whose destination is on the other shard, on clients of both
    workers, get the elements of one push in the order they blocked; nothing is lost or doubled."""
    s = make_server("--threads", "2", "--shards", "2")
    src, dst = keys_on_two_shards("order")
    r = s.conn()
    waiters = []
    for i in range(20):
        c = s.conn()
        c.send_raw(encode("BLMOVE", src, dst, "LEFT", "RIGHT", "0"))
        waiters.append(c)
        wait_until(lambda: blocked_count(s) == i + 1, message="waiter %d to block" % i)
    assert r.cmd("RPUSH", src, *[str(i) for i in range(25)]) == 25
    for i, c in enumerate(waiters):
        assert c.read() == str(i).encode()
        c.close()
    assert r.cmd("LRANGE", dst, "0", "-1") == [str(i).encode() for i in range(20)]
    assert r.cmd("LRANGE", src, "0", "-1") == [str(i).encode() for i in range(20, 25)]
    wait_until(lambda: blocked_count(s) == 0, message="no blocked client")


@pytest.mark.parametrize("protocol", [2, 3])
def test_blocking_pops_over_keys_of_several_shards(server, redis_port, protocol):
    """BLPOP, BRPOP and BLMPOP whose keys live on both shards: the first key in order that
    holds a list (or another type) decides, at once or once waiting; timeouts, MULTI and
    CLIENT UNBLOCK; the same replies and lists as redis-server."""
    k1, k2, k3 = keys_on_two_shards("multi", count=3)
    out = []
    for port in (redis_port, server.port):
        r, w1, w2 = Conn(port), Conn(port), Conn(port)
        for c in (r, w1, w2):
            c.cmd("HELLO", str(protocol))
        r.cmd("FLUSHALL")
        w1id = w1.cmd("CLIENT", "ID")
        steps = [r.raw("RPUSH", k3, "c1", "c2"), r.raw("RPUSH", k2, "b1"), r.raw("BLPOP", k1, k2, k3, "0"),
                 r.raw("BRPOP", k1, k2, k3, "0"), r.raw("BLMPOP", "0", "3", k1, k2, k3, "LEFT", "COUNT", "5"),
                 r.raw("BLPOP", k1, k2, "0.05"), r.raw("BLMPOP", "0.05", "2", k1, k2, "RIGHT")]
        r.cmd("SET", k2, "str")
        r.cmd("RPUSH", k3, "c3")
        steps += [r.raw("BLPOP", k1, k2, k3, "0"), r.raw("BLPOP", k1, k3, k2, "0")]
        r.cmd("DEL", k2)
        steps += [r.raw("MULTI"), r.raw("BLPOP", k1, k2, "0"), r.raw("RPUSH", k2, "m"),
                  r.raw("BRPOP", k1, k2, "0"), r.raw("EXEC")]
        w1.send_raw(encode("BLPOP", k1, k2, k3, "0"))
        wait_until(lambda: int(info(r, "clients")["blocked_clients"]) == 1, message="the first waiter")
        w2.send_raw(encode("BLMPOP", "0", "2", k3, k1, "RIGHT", "COUNT", "2"))
        wait_until(lambda: int(info(r, "clients")["blocked_clients"]) == 2, message="the second waiter")
        steps.append(r.raw("RPUSH", k3, "x", "y", "z"))
        steps.append(w1.read_raw())
        steps.append(w2.read_raw())
        steps.append(r.raw("LRANGE", k3, "0", "-1"))
        w1.send_raw(encode("BRPOP", k1, k2, "0"))
        wait_until(lambda: int(info(r, "clients")["blocked_clients"]) == 1, message="the waiter on two shards")
        steps.append(r.raw("RPUSH", k2, "late"))
        steps.append(w1.read_raw())
        w1.send_raw(encode("BLPOP", k1, k2, "0"))
        wait_until(lambda: int(info(r, "clients")["blocked_clients"]) == 1, message="the waiter to unblock")
        steps.append(r.raw("CLIENT", "UNBLOCK", str(w1id), "ERROR"))
        steps.append(w1.read_raw())
        steps.append(int(info(r, "clients")["blocked_clients"]))
        out.append(steps)
        for c in (r, w1, w2):
            c.close()
    assert out[0] == out[1]


def test_blocking_pops_and_moves_across_shards_lose_and_double_nothing(make_server):
    """Producers push numbered elements onto lists of both shards while consumers take them
    with BLPOP/BLMPOP over keys of both shards and BLMOVE/BRPOPLPUSH onto the other shard
    (whose elements other consumers take in turn): every element is taken exactly once."""
    s = make_server("--threads", "2", "--shards", "2")
    qa, qb = keys_on_two_shards("work")
    moved = keys_on_two_shards("moved")[0]   # qa's shard: BLMOVE from qa stays on one shard
    total = 3000
    taken = []
    lock = threading.Lock()
    stop = threading.Event()

    def producer(offset):
        c = s.conn()
        for i in range(offset, total, 2):
            c.cmd("RPUSH", qa if i % 3 else qb, str(i))
        c.close()

    def consumer(kind):
        c = s.conn()
        while not stop.is_set():
            if kind == 0:
                reply = c.cmd("BLPOP", qa, qb, moved, "0.05")
                got = [reply[1]] if reply else []
            elif kind == 1:
                reply = c.cmd("BLMPOP", "0.05", "3", qb, moved, qa, "RIGHT", "COUNT", "3")
                got = reply[1] if reply else []
            elif kind == 2:
                reply = c.cmd("BLMOVE", qa, moved, "LEFT", "RIGHT", "0.05")
                got = []   # taken later from `moved`
            else:
                reply = c.cmd("BRPOPLPUSH", qb, moved, "0.05")
                got = []
            with lock:
                taken.extend(got)
        c.close()
    consumers = [threading.Thread(target=consumer, args=(k % 4,)) for k in range(8)]
    producers = [threading.Thread(target=producer, args=(k,)) for k in range(2)]
    for t in consumers + producers:
        t.start()
    for t in producers:
        t.join()
    r = s.conn()
    wait_until(lambda: r.cmd("EXISTS", qa, qb) == 0, timeout=20, message="the queues to drain")
    wait_until(lambda: r.cmd("EXISTS", moved) == 0 or len(taken) + r.cmd("LLEN", moved) == total, timeout=20,
               message="the moved elements")
    stop.set()
    for t in consumers:
        t.join()
    rest = r.cmd("LRANGE", moved, "0", "-1")
    assert sorted(int(x) for x in taken + rest) == list(range(total))
    wait_until(lambda: blocked_count(s) == 0, message="no blocked client")
