"""Pub/sub against redis-server 7.0, byte for byte: SUBSCRIBE and its family, PUBLISH,
SPUBLISH, PUBSUB, the RESP2 subscribed mode and RESP3 pushes; subscribers spread over the
workers of a two-worker server all receiving a PUBLISH (whose reply counts them all);
a slow subscriber dropped at the pubsub output buffer limit; PUBLISH reaching a replica's
subscribers."""
import socket

import pytest

from support.info import info
from support.processes import shards
from support.replication import wait_synced
from support.resp import Conn, Push, encode
from support.waiting import wait_until

SERVER_ARGS = ("--threads", "2", "--shards", "2")


@pytest.fixture
def pair(server, redis_port):
    conns = (Conn(redis_port), server.conn())
    yield conns
    for c in conns:
        c.close()


def clients(port, n, resp3=False):
    """`n` connections (consecutive connections land on alternate workers)."""
    out = []
    for _ in range(n):
        c = Conn(port)
        if resp3:
            c.cmd("HELLO", "3")
        out.append(c)
    return out


def replies_of(conn, args):
    """Every reply `args` gets (a subscribe with n names gets n): read until the connection
    has been quiet for 50 ms (used on redis-server, whose count then sets ours)."""
    conn.send_raw(encode(*args))
    replies = [conn.read_raw()]
    conn.sock.settimeout(0.05)
    try:
        while True:
            replies.append(conn.read_raw())
    except socket.timeout:
        pass
    finally:
        conn.sock.settimeout(10)
    return replies


def same_bytes(pair, script):
    """Runs `script` on both servers: the same replies, byte for byte."""
    redis, vk = pair
    for args in script:
        expected = replies_of(redis, args)
        vk.send_raw(encode(*args))
        assert [vk.read_raw() for _ in expected] == expected, args


SUBSCRIBED_SCRIPT = [
    ("UNSUBSCRIBE",), ("PUNSUBSCRIBE",), ("SUNSUBSCRIBE",), ("PUBSUB", "NUMPAT"),
    ("SUBSCRIBE", "a"), ("SUBSCRIBE", "b", "a"), ("PSUBSCRIBE", "x*"), ("PING",), ("PING", "hi"),
    ("GET", "k"), ("CONFIG", "GET", "maxclients"), ("CLIENT", "GETNAME"), ("MULTI",), ("EXEC",),
    ("SSUBSCRIBE", "s1", "s2"), ("UNSUBSCRIBE", "zz"), ("UNSUBSCRIBE", "a"), ("PUNSUBSCRIBE", "x*", "y*"),
    ("SUNSUBSCRIBE", "s1"), ("GET", "k"), ("UNSUBSCRIBE",), ("PING",), ("SUNSUBSCRIBE",), ("PING",),
    ("SUBSCRIBE", "q"), ("RESET",), ("PING",),
    ("MULTI",), ("SUBSCRIBE", "m"), ("EXEC",), ("UNSUBSCRIBE", "m"),
    ("MULTI",), ("SSUBSCRIBE", "m"), ("EXEC",),
    ("SUBSCRIBE",), ("PUBLISH", "a"), ("SPUBLISH", "a"), ("PUBSUB",), ("PUBSUB", "NOSUCH"),
    ("PUBSUB", "NUMPAT", "x"), ("PUBSUB", "CHANNELS", "a", "b"), ("PUBSUB", "SHARDCHANNELS", "a", "b"),
    ("PUBSUB", "HELP"), ("PUBSUB", "NUMSUB"), ("PUBSUB", "SHARDNUMSUB"), ("PUBLISH", "nobody", "m"),
    ("SPUBLISH", "nobody", "m"), ("PING", "a", "b"),
]


def test_replies_and_errors_resp2(pair):
    same_bytes(pair, SUBSCRIBED_SCRIPT)


def test_replies_and_errors_resp3(pair):
    for c in pair:
        c.cmd("HELLO", "3")
    same_bytes(pair, SUBSCRIBED_SCRIPT + [("SUBSCRIBE", "r3"), ("GET", "k"), ("SET", "k", "v"),
                                          ("HELLO", "2"), ("GET", "k"), ("PING",), ("RESET",)])


def test_unsubscribe_without_arguments_drops_each_subscription(server):
    c = server.conn()
    assert c.cmd("SUBSCRIBE", "a") == [b"subscribe", b"a", 1]
    c.send_raw(encode("SUBSCRIBE", "b", "c"))
    assert [c.read() for _ in range(2)] == [[b"subscribe", b"b", 2], [b"subscribe", b"c", 3]]
    c.send_raw(encode("UNSUBSCRIBE"))
    replies = [c.read() for _ in range(3)]
    assert sorted(r[1] for r in replies) == [b"a", b"b", b"c"]
    assert [r[2] for r in replies] == [2, 1, 0]
    assert c.cmd("PING") == "PONG"


def messages_after(pair, subscribe_script, publish_script):
    """Subscribes three clients per server (RESP2, RESP3, a shard subscriber) and returns,
    per server, the publisher's replies and what each subscriber read."""
    results = []
    for conn in pair:
        port = conn.sock.getpeername()[1]
        subs = clients(port, 3)
        subs[1].cmd("HELLO", "3")
        for who, args in subscribe_script:
            subs[who].raw(*args)
        publisher = Conn(port)
        replies = [publisher.raw(*args) for args in publish_script]
        # A final PING on each subscriber: everything published before is in front of it.
        got = []
        for s in subs:
            s.send_raw(encode("PING"))
            raw = []
            while True:
                r = s.read_raw()
                if r in (b"+PONG\r\n", b"*2\r\n$4\r\npong\r\n$0\r\n\r\n"):
                    break
                raw.append(r)
            got.append(raw)
        results.append((replies, got))
        for s in subs + [publisher]:
            s.close()
    return results


def test_messages_and_counts_match_redis(pair):
    subscribe = [(0, ("SUBSCRIBE", "ch")), (0, ("PSUBSCRIBE", "c*")), (1, ("SUBSCRIBE", "ch", "other")),
                 (1, ("PSUBSCRIBE", "c?")), (2, ("SSUBSCRIBE", "ch")), (1, ("SSUBSCRIBE", "ch"))]
    publish = [("PUBLISH", "ch", "hello"), ("SPUBLISH", "ch", "shard"), ("PUBLISH", "cx", "pat"),
               ("PUBLISH", "other", "x" * 3000), ("PUBLISH", "none", "n"), ("PUBSUB", "NUMSUB", "ch", "other", "zz"),
               ("PUBSUB", "NUMPAT"), ("PUBSUB", "SHARDNUMSUB", "ch"), ("PUBSUB", "CHANNELS", "o*"),
               ("PUBSUB", "SHARDCHANNELS"), ("PUBSUB", "CHANNELS", "nomatch*")]
    theirs, ours = messages_after(pair, subscribe, publish)
    assert ours == theirs


def test_publish_inside_multi(pair):
    redis, vk = pair
    for c in pair:
        c.cmd("FLUSHALL")
    subs = [clients(c.sock.getpeername()[1], 3) for c in pair]
    for group in subs:
        for s in group:
            s.cmd("SUBSCRIBE", "tx")
    same_bytes(pair, [("MULTI",), ("SET", "k", "1"), ("PUBLISH", "tx", "m1"), ("PUBLISH", "nobody", "m"),
                      ("PUBLISH", "tx", "m2"), ("EXEC",)])
    for group in subs:
        for s in group:
            assert s.read() == [b"message", b"tx", b"m1"]
            assert s.read() == [b"message", b"tx", b"m2"]
            s.close()


def test_subscribers_on_every_worker_all_receive(server):
    """Twelve subscribers, alternately on the two workers (RESP2 and RESP3), channel and
    pattern subscriptions: each PUBLISH of a pipelined burst reaches all of them in order and
    its reply counts every receiver on both workers."""
    subs = clients(server.port, 12)
    for i, s in enumerate(subs):
        if i % 4 >= 2:
            s.cmd("HELLO", "3")
        if i % 3 == 0:
            assert s.cmd("PSUBSCRIBE", "news.*")[2] == 1
        else:
            assert s.cmd("SUBSCRIBE", "news.today")[2] == 1
    publisher = Conn(server.port)
    replies = publisher.pipeline([("PUBLISH", "news.today", "m%d" % i) for i in range(200)])
    assert replies == [12] * 200
    for i, s in enumerate(subs):
        for n in range(200):
            m = s.read()
            if i % 3 == 0:
                assert m == [b"pmessage", b"news.*", b"news.today", b"m%d" % n]
            else:
                assert m == [b"message", b"news.today", b"m%d" % n]
            assert isinstance(m, Push) == (i % 4 >= 2)
    assert publisher.cmd("PUBSUB", "NUMSUB", "news.today") == [b"news.today", 8]
    assert publisher.cmd("PUBSUB", "NUMPAT") == 1
    assert publisher.cmd("PUBSUB", "CHANNELS") == [b"news.today"]
    stats = info(publisher, "stats")
    assert (stats["pubsub_channels"], stats["pubsub_patterns"], stats["pubsubshard_channels"]) == ("1", "1", "0")
    lines = publisher.cmd("CLIENT", "LIST", "TYPE", "pubsub").decode().splitlines()
    assert len(lines) == 12 and all(" flags=P " in line for line in lines)
    for s in subs:
        s.close()
    wait_until(lambda: publisher.cmd("PUBLISH", "news.today", "x") == 0, message="subscribers gone")
    assert publisher.cmd("PUBSUB", "NUMPAT") == 0


def test_client_list_counts_subscriptions(server):
    c = server.conn()
    me = "id=%d " % c.cmd("CLIENT", "ID")
    c.cmd("SUBSCRIBE", "a")
    c.send_raw(encode("SUBSCRIBE", "b"))
    c.read()
    c.cmd("PSUBSCRIBE", "p*")
    c.cmd("SSUBSCRIBE", "s")
    other = server.conn()

    def line():
        return [l for l in other.cmd("CLIENT", "LIST").decode().splitlines() if l.startswith(me)][0]
    assert " flags=P " in line() and " sub=2 psub=1 ssub=1 " in line()
    assert c.cmd("RESET") == "RESET"
    assert " flags=N " in line() and " sub=0 psub=0 ssub=0 " in line()


def test_slow_subscriber_is_dropped_at_its_limit(server):
    """A subscriber that reads nothing is closed once its output passes the pubsub class's
    hard limit; its backlog does not stay in the server's memory."""
    control = server.conn()
    assert control.cmd("CONFIG", "GET", "client-output-buffer-limit")[1].endswith(b"pubsub 33554432 8388608 60")
    control.cmd("CONFIG", "SET", "client-output-buffer-limit", "pubsub 1mb 0 0")
    try:
        slow = socket.socket()
        slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        slow.connect(("127.0.0.1", server.port))
        slow.sendall(encode("SUBSCRIBE", "flood"))
        wait_until(lambda: control.cmd("PUBSUB", "NUMSUB", "flood")[1] == 1)
        before = int(info(control, "memory")["used_memory"])
        publisher = Conn(server.port)
        payload = "x" * 10000
        delivered = 0
        for _ in range(40):
            delivered += sum(publisher.pipeline([("PUBLISH", "flood", payload)] * 50))
            if control.cmd("PUBSUB", "NUMSUB", "flood")[1] == 0:
                break
        wait_until(lambda: control.cmd("PUBSUB", "NUMSUB", "flood")[1] == 0, message="slow subscriber dropped")
        assert delivered < 2000  # dropped well before 20 MB were queued for it
        assert int(info(control, "memory")["used_memory"]) < before + 8 * 1024 * 1024
        slow.close()
    finally:
        control.cmd("CONFIG", "SET", "client-output-buffer-limit", "pubsub 32mb 8mb 60")


def test_publish_reaches_replica_subscribers(make_server):
    master = make_server(*shards(2))
    replica = make_server(*shards(2), "--replicaof", "127.0.0.1", str(master.port))
    m, r = master.conn(), replica.conn()
    m.cmd("SET", "k", "v")
    wait_synced(m, r)
    subs = clients(replica.port, 4)
    for s in subs:
        s.cmd("SUBSCRIBE", "repl")
    local = Conn(master.port)
    local.cmd("SUBSCRIBE", "repl")
    assert m.cmd("PUBLISH", "repl", "hello") == 1
    for s in subs + [local]:
        assert s.read() == [b"message", b"repl", b"hello"]
    # A replica's own PUBLISH is not a write: it is allowed and stays on the replica.
    assert r.cmd("PUBLISH", "repl", "from-replica") == 4


def test_publish_waits_for_the_writes_before_it(server):
    """A pipeline of SET (keys on both shards) then PUBLISH naming the key: whoever gets the
    message finds the write done, as in Redis, which runs a client's commands in order; the
    replies stay in order and every PUBLISH counts its subscribers on both workers."""
    subs = clients(server.port, 2)
    for s in subs:
        s.cmd("SUBSCRIBE", "written")
    reader = Conn(server.port)
    writer = Conn(server.port)
    commands = []
    for i in range(300):
        commands += [("SET", "w:%d" % i, "v%d" % i), ("PUBLISH", "written", "w:%d" % i)]
    writer.send_raw(b"".join(encode(*c) for c in commands))
    # Read while the pipeline still runs: each message must find its key written.
    for i in range(300):
        m = subs[0].read()
        assert m == [b"message", b"written", b"w:%d" % i]
        assert reader.cmd("GET", m[2]) == b"v%d" % i
    assert [subs[1].read()[2] for _ in range(300)] == [b"w:%d" % i for i in range(300)]
    assert [writer.read() for _ in commands] == ["OK", 2] * 300


def test_subscribers_come_and_go_while_publishing(server):
    """Subscribers on both workers subscribe, unsubscribe and disconnect (some with unread
    messages) while a publisher pipelines PUBLISHes and PUBSUB questions: every reply is an
    integer no larger than the subscribers present, and nothing is left subscribed."""
    publisher = Conn(server.port)
    live = []
    for round_ in range(30):
        for _ in range(4):
            s = Conn(server.port)
            s.send_raw(encode("SUBSCRIBE", "churn", "other") + encode("PSUBSCRIBE", "ch*"))
            live.append(s)
        replies = publisher.pipeline([("PUBLISH", "churn", "m%d" % round_)] * 20 + [("PUBSUB", "NUMSUB", "churn")])
        assert all(isinstance(r, int) and 0 <= r <= 2 * len(live) for r in replies[:-1])
        for s in live[:2]:
            if round_ % 2:
                s.send_raw(encode("UNSUBSCRIBE") + encode("PUNSUBSCRIBE"))
            s.close()
        live = live[2:]
    for s in live:
        s.close()
    wait_until(lambda: publisher.cmd("PUBSUB", "NUMSUB", "churn") == [b"churn", 0]
               and publisher.cmd("PUBSUB", "NUMPAT") == 0, message="every subscription ended")
    assert publisher.cmd("PUBLISH", "churn", "x") == 0
    assert server.alive()


def test_resp3_push_reaches_a_blocked_client(pair):
    """A RESP3 subscriber blocked in XREAD gets a message at once, before the read's reply,
    as from redis-server; a RESP2 one cannot block while subscribed."""
    for conn in pair:
        port = conn.sock.getpeername()[1]
        conn.cmd("DEL", "blocked-stream")
        c = Conn(port)
        c.cmd("HELLO", "3")
        c.cmd("SUBSCRIBE", "while-blocked")
        c.send_raw(encode("XREAD", "BLOCK", "0", "STREAMS", "blocked-stream", "$"))
        wait_until(lambda: any(b"cmd=xread" in line for line in conn.cmd("CLIENT", "LIST").split(b"\n")),
                   message="client blocked")
        assert conn.cmd("PUBLISH", "while-blocked", "hi") == 1
        assert c.read() == Push([b"message", b"while-blocked", b"hi"])
        conn.cmd("XADD", "blocked-stream", "1-1", "f", "v")
        assert c.read() == {b"blocked-stream": [[b"1-1", [b"f", b"v"]]]}
        c.close()
