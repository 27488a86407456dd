"""Replication, master side: a ValKeyper master feeding Debian's redis-server 7.0 replicas
(full resync from a copy-on-write snapshot, the write stream with rewritten TTLs, MULTI/EXEC
for transactions and cross-shard commands, expirations as DEL), partial resync from the
backlog after the link is killed, WAIT, ROLE, INFO replication, output buffer limits."""
import signal
import socket
import threading
import time

import pytest

from support.info import info
from support.load import Writer
from support.marks import needs_redis
from support.processes import REDIS_SERVER, free_port, shards
from support.replication import link_up, same_data, wait_in_sync
from support.resp import encode
from support.slots import keys_on_two_shards
from support.waiting import wait_until
from support.workers import connections_on_two_workers, send_until_one_waits

pytestmark = needs_redis


def master_node(nodes, n=2, *extra):
    return nodes("--save", "", *shards(n), *extra)


def redis_replica(nodes, master, *extra):
    return nodes("--save", "", *extra, "--replicaof", "127.0.0.1", str(master.port), binary=REDIS_SERVER)


def valkeyper_replica(nodes, master, n=2, *extra):
    return nodes("--save", "", *shards(n), *extra, "--replicaof", "127.0.0.1", str(master.port))


DEBUG = ("--enable-debug-command", "yes")


def test_full_resync_then_stream_to_redis_replica(nodes):
    master = master_node(nodes)
    m = master.conn()
    for db in range(3):
        m.cmd("SELECT", str(db))
        for i in range(200):
            m.cmd("SET", "k%d:%d" % (db, i), "v%d" % i)
        m.cmd("SET", "ttl%d" % db, "x", "EX", "1000")
    m.cmd("SELECT", "0")
    replica = redis_replica(nodes, master)
    wait_until(lambda: link_up(replica), timeout=20, message="replica link up")
    wait_in_sync(master, replica)

    # The stream: rewritten TTLs, cross-shard commands and transactions, database changes.
    m.cmd("SET", "a", "1", "EX", "100")
    m.cmd("SETEX", "b", "100", "2")
    m.cmd("PSETEX", "c", "100000", "3")
    m.cmd("SET", "d", "4")
    m.cmd("EXPIRE", "d", "500")
    m.cmd("INCR", "counter")
    m.cmd("INCRBYFLOAT", "float", "1.5")
    m.cmd("GETEX", "a", "PERSIST")
    m.cmd("MSET", "x1", "1", "x2", "2", "x3", "3", "x4", "4")
    m.cmd("DEL", "k0:1", "k0:2", "k0:3", "k0:4")
    m.cmd("RENAME", "k0:5", "renamed")
    m.cmd("COPY", "k0:6", "copied")
    m.cmd("GETDEL", "k0:7")
    assert m.cmd("MULTI") == "OK"
    m.cmd("INCR", "t1")
    m.cmd("INCR", "t2")
    m.cmd("SET", "t3", "v", "PX", "90000")
    assert m.cmd("EXEC") == [1, 1, "OK"]
    m.cmd("SELECT", "2")
    m.cmd("FLUSHDB")
    m.cmd("SET", "in2", "yes")
    m.cmd("SELECT", "1")
    m.cmd("SWAPDB", "1", "3")
    m.cmd("SELECT", "0")
    wait_in_sync(master, replica)
    r = replica.conn()
    assert r.cmd("GET", "float") == b"1.5"
    assert r.cmd("TTL", "a") == -1
    assert 0 < r.cmd("PTTL", "c") <= 100000
    assert r.cmd("SELECT", "2") == "OK" and r.cmd("GET", "in2") == b"yes"
    rm = info(m, "replication")
    assert rm["role"] == "master" and rm["connected_slaves"] == "1"
    assert rm["slave0"].startswith("ip=127.0.0.1,port=%d,state=online," % replica.port)
    assert int(rm["master_repl_offset"]) > 0 and rm["repl_backlog_active"] == "1"
    assert info(m, "stats")["sync_full"] == "1"
    # The replica's offset is the master's: the stream's bytes count the same on both sides.
    wait_until(lambda: info(replica.conn(), "replication")["master_repl_offset"]
               == info(m, "replication")["master_repl_offset"], message="offsets equal")


def test_relative_ttls_reach_the_replica_as_absolute_deadlines(nodes):
    master = master_node(nodes, 1)
    replica = redis_replica(nodes, master)
    wait_until(lambda: link_up(replica), timeout=20, message="replica link up")
    m = master.conn()
    m.cmd("SET", "k", "v", "EX", "100")
    deadline = m.cmd("PEXPIRETIME", "k")
    assert m.cmd("WAIT", "1", "5000") == 1
    wait_until(lambda: replica.conn().cmd("PEXPIRETIME", "k") == deadline, message="same absolute deadline")


def test_expired_keys_reach_the_replica_as_del(nodes):
    master = master_node(nodes)
    replica = redis_replica(nodes, master)
    wait_until(lambda: link_up(replica), timeout=20, message="replica link up")
    m = master.conn()
    m.cmd("SET", "short", "v", "PX", "50")
    m.cmd("SET", "long", "v")
    assert m.cmd("WAIT", "1", "5000") == 1
    # The master's active expiry deletes it and propagates DEL; the replica never expires keys.
    wait_until(lambda: replica.conn().cmd("DBSIZE") == 1, message="replica lost the expired key")
    assert replica.conn().cmd("EXISTS", "long") == 1


def past_deadline(conn, deadline_ms):
    """The server's clock (TIME) is past `deadline_ms`."""
    seconds, micros = conn.cmd("TIME")
    return int(seconds) * 1000 + int(micros) // 1000 > deadline_ms


def writes_over_keys_past_their_deadline(m):
    """Strings written over keys the master has not expired yet though their deadline
    passed (active expiry off): each write deletes the old key first, as Redis's
    lookupKeyWrite does. Returns the deadline given to the old keys."""
    assert m.cmd("DEBUG", "SET-ACTIVE-EXPIRE", "0") == "OK"
    seconds, micros = m.cmd("TIME")
    deadline = int(seconds) * 1000 + int(micros) // 1000 + 30
    for key in ("keep", "plain", "multi"):
        assert m.cmd("SET", key, "old", "PXAT", str(deadline)) == "OK"
    wait_until(lambda: past_deadline(m, deadline), message="the old keys' deadline to pass")
    assert m.cmd("SET", "keep", "new", "KEEPTTL") == "OK"
    assert m.cmd("SET", "plain", "new") == "OK"
    assert m.cmd("MSET", "multi", "new") == "OK"
    assert m.cmd("SET", "done", "1") == "OK"
    return deadline


@pytest.mark.parametrize("kind", ["valkeyper", "redis-server"])
def test_a_write_over_a_key_past_its_deadline_keeps_no_ttl_on_replicas(nodes, kind):
    """SET ... KEEPTTL over a key past its deadline that the master had not expired yet: the
    master writes it without a TTL; replicas, which keep such a key until the master's DEL,
    kept its dead deadline and hid the key when the master sent no DEL first (the replication
    fuzz test's `only on master: string ... pexpiretime -1`)."""
    master = master_node(nodes, 2, *DEBUG)
    replica = redis_replica(nodes, master) if kind == "redis-server" else valkeyper_replica(nodes, master)
    wait_until(lambda: link_up(replica), timeout=20, message="replica link up")
    m = master.conn()
    writes_over_keys_past_their_deadline(m)
    assert m.cmd("WAIT", "1", "10000") == 1
    r = replica.conn()
    for key in ("keep", "plain", "multi"):
        assert (m.cmd("GET", key), m.cmd("PTTL", key)) == (b"new", -1), key
        assert (r.cmd("GET", key), r.cmd("PTTL", key)) == (b"new", -1), key


def test_a_write_over_a_key_past_its_deadline_is_streamed_as_redis_streams_it(nodes):
    """The DEL of the expired key, then the write, as in redis-server's stream. Redis wraps
    the two in MULTI/EXEC (one call propagates both); ours come one after the other, as
    every lazy expiry's DEL does: the same data on the replica once both are applied."""
    streams = []
    for master in (master_node(nodes, 2, *DEBUG, *NO_PINGS),
                   nodes("--save", "", *DEBUG, *NO_PINGS, "--repl-diskless-sync", "no", binary=REDIS_SERVER)):
        raw = RawReplica(master.port)
        deadline = writes_over_keys_past_their_deadline(master.conn())
        streams.append([["<deadline>" if w == str(deadline) else w for w in c]
                        for c in raw.commands_until(["SET", "done", "1"])])
    ours, theirs = streams
    assert ours == [c for c in theirs if c not in (["MULTI"], ["EXEC"])]
    assert ours[-7:] == [["DEL", "keep"], ["SET", "keep", "new", "KEEPTTL"], ["DEL", "plain"], ["SET", "plain", "new"],
                         ["DEL", "multi"], ["MSET", "multi", "new"], ["SET", "done", "1"]]


def answers_while_asleep(sleeper, conn, *command):
    """Whether `conn` answers `command` while `sleeper`'s worker sleeps in DEBUG SLEEP (so:
    whether it and the shard `command` names live on another worker). Reads every reply."""
    sleeper.send_raw(encode("DEBUG", "SLEEP", "0.3"))
    conn.sock.settimeout(0.15)
    conn.send_raw(encode(*command))
    try:
        conn.read()
        answered = True
    except socket.timeout:
        answered = False
    conn.sock.settimeout(10)
    if not answered:
        conn.read()
    assert sleeper.read() == "OK"
    return answered


# A pop of the member or element the transaction adds, per type: its first two members or
# elements, the transaction's write (and its keyspace event), how to read the whole value.
POP_TYPES = {
    "zset": (["ZADD", "{src}", "1", "a", "2", "b"], ["ZADD", "{src}", "10", "top"], b"zadd", ["ZRANGE", "{src}", "0", "-1"]),
    "list": (["RPUSH", "{src}", "a", "b"], ["RPUSH", "{src}", "top"], b"rpush", ["LRANGE", "{src}", "0", "-1"]),
}
POPS = {
    "bzpopmax": ("zset", ["BZPOPMAX", "{src}", "0"]),
    "zmpop": ("zset", ["ZMPOP", "1", "{src}", "MAX"]),
    "bzmpop": ("zset", ["BZMPOP", "0", "1", "{src}", "MAX"]),
    "brpop": ("list", ["BRPOP", "{src}", "0"]),
    "lmpop": ("list", ["LMPOP", "1", "{src}", "RIGHT"]),
    "blmpop": ("list", ["BLMPOP", "0", "1", "{src}", "RIGHT"]),
}


@pytest.mark.parametrize("pop", sorted(POPS))
def test_a_pop_waits_for_the_transaction_holding_its_key(nodes, pop):
    """A transaction over two shards holds its key on the shard that granted it (and ran its
    part there) while the other shard's worker sleeps. A pop whose command names no key
    positions (ZMPOP, LMPOP, or the part a blocking pop runs) ran at once: it took what the
    transaction had just added, and reached replicas before the transaction's MULTI ... EXEC,
    which goes out when the transaction completes. Replicas then popped what was there before
    and kept the transaction's member (the replication fuzz test's sorted sets that differed
    by one member). Now it waits, as single commands naming the key do."""
    kind, command = POPS[pop]
    setup, add, event, read = POP_TYPES[kind]
    master = master_node(nodes, 2, *DEBUG)
    replica = redis_replica(nodes, master)
    wait_until(lambda: link_up(replica), timeout=20, message="replica link up")
    sleeper, coordinator = connections_on_two_workers(master.port)
    # The key on the coordinator's shard (answered while the sleeper's worker sleeps), the
    # other on the sleeper's.
    here, there = keys_on_two_shards("k")
    if not answers_while_asleep(sleeper, coordinator, "EXISTS", here):
        here, there = there, here
    assert answers_while_asleep(sleeper, coordinator, "EXISTS", here)
    # Two more connections on the coordinator's worker (new connections alternate).
    others = []
    while len(others) < 2:
        c = master.conn()
        if answers_while_asleep(sleeper, c, "PING"):
            others.append(c)
    subscriber, popper = others
    src = "{%s}src" % here
    setup, add, command, read = ([src if w == "{src}" else w for w in c] for c in (setup, add, command, read))
    m = master.conn()
    m.cmd(*setup)
    m.cmd("SET", there, "x")
    assert m.cmd("CONFIG", "SET", "notify-keyspace-events", "Kzl") == "OK"
    channel = ("__keyspace@0__:" + src).encode()
    assert subscriber.cmd("SUBSCRIBE", channel) == [b"subscribe", channel, 1]

    sleeper.send_raw(encode("DEBUG", "SLEEP", "0.5"))
    assert coordinator.pipeline([["MULTI"], add, ["SET", there, "y"]]) == ["OK", "QUEUED", "QUEUED"]
    coordinator.send_raw(encode("EXEC"))
    # The transaction's write ran as this shard granted its lock: the lock holds the key until
    # the sleeping shard has run its part too.
    assert subscriber.read() == [b"message", channel, event]
    popper.send_raw(encode(*command))
    assert coordinator.read() == [3 if kind == "list" else 1, "OK"]
    assert sleeper.read() == "OK"
    popped = popper.read()
    assert b"top" in repr(popped).encode(), popped   # the master ran it after the transaction's write
    assert m.cmd("WAIT", "1", "10000") == 1
    assert replica.conn().cmd(*read) == m.cmd(*read) == [b"a", b"b"]


def test_wait_and_role(nodes):
    master = master_node(nodes)
    m = master.conn()
    assert m.cmd("WAIT", "0", "0") == 0
    started = time.monotonic()
    assert m.cmd("WAIT", "1", "150") == 0
    assert time.monotonic() - started >= 0.14
    assert str(m.cmd("WAIT", "x", "0")) == "ERR value is not an integer or out of range"
    assert str(m.cmd("WAIT", "1", "-1")) == "ERR timeout is negative"
    assert m.cmd("ROLE") == [b"master", 0, []]
    replica = redis_replica(nodes, master)
    wait_until(lambda: link_up(replica), timeout=20, message="replica link up")
    m.cmd("SET", "k", "v")
    assert m.cmd("WAIT", "1", "0") == 1
    assert m.cmd("WAIT", "2", "100") == 1
    role = m.cmd("ROLE")
    assert role[0] == b"master" and role[1] > 0
    assert role[2][0][:2] == [b"127.0.0.1", str(replica.port).encode()]
    # Other clients are served while one waits.
    blocked = master.conn()
    result = []
    t = threading.Thread(target=lambda: result.append(blocked.cmd("WAIT", "5", "300")))
    t.start()
    assert m.cmd("PING") == "PONG"
    t.join()
    assert result == [1]


def test_partial_resync_after_the_link_is_killed_under_load(nodes):
    master = master_node(nodes)
    replica = redis_replica(nodes, master)
    wait_until(lambda: link_up(replica), timeout=20, message="replica link up")
    def step(c, i):
        c.cmd("SET", "w%d" % i, str(i))
        c.cmd("INCR", "count")
    writer = Writer(master.port, step)
    with writer:
        wait_until(lambda: writer.done > 200, message="writes under way")
        assert master.conn().cmd("CLIENT", "KILL", "TYPE", "replica") == 1
        wait_until(lambda: writer.done > 600, message="writes after the kill")
        wait_until(lambda: info(master.conn(), "stats")["sync_partial_ok"] == "1", timeout=20,
                   message="partial resync")
    assert info(master.conn(), "stats")["sync_full"] == "1"
    wait_in_sync(master, replica, dbs=[0])
    assert int(replica.conn().cmd("GET", "count")) == writer.done


def test_a_replica_that_stops_reading_is_dropped_at_the_output_limit(nodes):
    master = master_node(nodes)
    m = master.conn()
    assert m.cmd("CONFIG", "SET", "client-output-buffer-limit", "replica 1mb 0 0") == "OK"
    assert m.cmd("CONFIG", "SET", "repl-backlog-size", "16kb") == "OK"
    replica = redis_replica(nodes, master)
    wait_until(lambda: link_up(replica), timeout=20, message="replica link up")
    replica.proc.send_signal(signal.SIGSTOP)
    try:
        value = "x" * 10000
        for i in range(2000):   # 20 MB, far beyond the socket buffers and the limit
            m.cmd("SET", "big%d" % (i % 50), value)
            if info(m, "replication")["connected_slaves"] == "0":
                break
        wait_until(lambda: info(m, "replication")["connected_slaves"] == "0", message="replica dropped")
        assert m.cmd("PING") == "PONG"
    finally:
        replica.proc.send_signal(signal.SIGCONT)


def test_min_replicas_to_write(nodes):
    master = master_node(nodes)
    m = master.conn()
    assert m.cmd("CONFIG", "SET", "min-replicas-to-write", "1") == "OK"
    assert str(m.cmd("SET", "k", "v")) == "NOREPLICAS Not enough good replicas to write."
    assert m.cmd("GET", "k") is None   # reads are fine
    assert m.cmd("MULTI") == "OK"
    assert str(m.cmd("INCR", "n")) == "NOREPLICAS Not enough good replicas to write."
    assert str(m.cmd("EXEC")).startswith("EXECABORT")
    replica = redis_replica(nodes, master)
    wait_until(lambda: link_up(replica), timeout=20, message="replica link up")
    wait_until(lambda: m.cmd("SET", "k", "v") == "OK", message="writes accepted with a good replica")
    assert m.cmd("CONFIG", "SET", "min-replicas-to-write", "0") == "OK"


class RawReplica:
    """A hand-made replica: PSYNC, read the payload, then collect the stream's commands."""

    def __init__(self, port):
        import socket
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.buf = b""
        for cmd in (["REPLCONF", "listening-port", "1"], ["REPLCONF", "capa", "eof", "capa", "psync2"]):
            self.send(cmd)
            assert self.line() == b"+OK"
        self.send(["PSYNC", "?", "-1"])
        head = self.line()
        assert head.startswith(b"+FULLRESYNC "), head
        self.offset = int(head.split()[2])
        length = int(self.line()[1:])
        self.take(length)

    def send(self, words):
        self.sock.sendall(b"*%d\r\n" % len(words) + b"".join(b"$%d\r\n%s\r\n" % (len(w), w.encode()) for w in words))

    def fill(self):
        chunk = self.sock.recv(65536)
        assert chunk, "master closed the link"
        self.buf += chunk

    def line(self):
        while b"\r\n" not in self.buf:
            self.fill()
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def take(self, n):
        while len(self.buf) < n:
            self.fill()
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def command(self):
        count = int(self.line()[1:])
        words = []
        for _ in range(count):
            n = int(self.line()[1:])
            words.append(self.take(n + 2)[:-2].decode())
        return words

    def commands_until(self, last):
        out = []
        while True:
            c = self.command()
            if c[0] == "PING":
                continue
            out.append(c)
            if c == last:
                return out


def test_the_stream_carries_transactions_whole_and_cross_shard_commands_as_themselves(nodes):
    master = master_node(nodes, 2)
    raw = RawReplica(master.port)
    m = master.conn()
    # Keys chosen on both shards: a, b, c, d are spread over two shards.
    m.cmd("MSET", "a", "1", "b", "2", "c", "3", "d", "4")
    assert m.cmd("MULTI") == "OK"
    for k in ("a", "b", "c", "d"):
        m.cmd("INCR", k)
    assert m.cmd("EXEC") == [2, 3, 4, 5]
    m.cmd("SET", "e", "5", "EX", "100")
    m.cmd("SET", "end", "x")
    got = raw.commands_until(["SET", "end", "x"])
    assert got[0] == ["SELECT", "0"]
    assert got[1] == ["MSET", "a", "1", "b", "2", "c", "3", "d", "4"]
    assert got[2] == ["MULTI"] and got[7] == ["EXEC"]
    assert sorted(got[3:7]) == [["INCR", k] for k in ("a", "b", "c", "d")]
    assert got[8][:4] == ["SET", "e", "5", "PXAT"]
    assert got[9] == ["SET", "end", "x"]


def last_delivered_id(conn, key, group):
    for g in conn.cmd("XINFO", "GROUPS", key):
        fields = dict(zip(g[0::2], g[1::2]))
        if fields[b"name"] == group.encode():
            return fields[b"last-delivered-id"]
    return None


def test_a_group_read_reaches_replicas_before_the_writes_after_it(nodes):
    """XREADGROUP's XCLAIMs go out when its part runs on the stream's shard, not when the reply
    is back on the client's worker: a RENAME pipelined behind it ran on that shard in between,
    and replicas got the RENAME first, then XCLAIMs for a key that no longer existed (the
    master kept the pending entry and the group's new last ID, no replica had them)."""
    master = master_node(nodes, 2)
    replica = redis_replica(nodes, master)
    wait_until(lambda: link_up(replica), timeout=20, message="replica link up")
    m = master.conn()
    # One stream on each shard: whichever worker serves this connection, one of them sits on
    # the other worker's shard.
    tags = keys_on_two_shards("t")
    for tag in tags:
        src, dst = "{%s}src" % tag, "{%s}dst" % tag
        m.cmd("XADD", src, "1-1", "f", "v")
        assert m.cmd("XGROUP", "CREATE", src, "g", "0") == "OK"
        read, renamed = m.pipeline([["XREADGROUP", "GROUP", "g", "c2", "STREAMS", src, ">"], ["RENAME", src, dst]])
        assert read == [[src.encode(), [[b"1-1", [b"f", b"v"]]]]] and renamed == "OK"
    assert m.cmd("WAIT", "1", "10000") == 1   # the replica has applied everything before it
    r = replica.conn()
    for tag in tags:
        dst = "{%s}dst" % tag
        assert m.cmd("XPENDING", dst, "g") == [1, b"1-1", b"1-1", [[b"c2", b"1"]]]
        assert r.cmd("XPENDING", dst, "g") == m.cmd("XPENDING", dst, "g"), dst
        assert last_delivered_id(r, dst, "g") == last_delivered_id(m, dst, "g") == b"1-1", dst


def test_a_flush_from_the_worker_without_the_shard_reaches_replicas_before_the_writes_after_it(nodes):
    """One shard, two workers: FLUSHDB from the worker without the shard is an operation (its
    part runs on the other worker) that propagates as itself. Without a lock it went out once
    its reply was back, after a SET pipelined behind it had run on the shard, so replicas
    flushed that SET away."""
    master = nodes("--save", "", "--threads", "2", "--shards", "1", *DEBUG)
    replica = redis_replica(nodes, master)
    wait_until(lambda: link_up(replica), timeout=20, message="replica link up")
    # A database per connection: the other's FLUSHDB must not hide what this one left.
    for db, c in enumerate(connections_on_two_workers(master.port)):
        assert c.cmd("SELECT", str(db)) == "OK"
        assert c.pipeline([["FLUSHDB"], ["SET", "after", "x"]]) == ["OK", "OK"]
    assert master.conn().cmd("WAIT", "1", "10000") == 1   # the replica has applied it all
    r = replica.conn()
    for db in (0, 1):
        assert r.cmd("SELECT", str(db)) == "OK"
        assert r.cmd("KEYS", "*") == [b"after"], db


def test_a_restarted_replica_continues_with_a_partial_resync(nodes):
    master = master_node(nodes)
    m = master.conn()
    replica = redis_replica(nodes, master)
    wait_until(lambda: link_up(replica), timeout=20, message="replica link up")
    for i in range(100):
        m.cmd("SET", "k%d" % i, str(i))
    wait_in_sync(master, replica, dbs=[0])
    # Redis keeps its master's replication id and offset in the RDB it saves at shutdown,
    # and asks for a partial resync after the restart.
    replica_dir = replica.dir
    assert replica.shutdown("SAVE") == 0
    m.cmd("SET", "while-down", "yes")
    again = nodes("--save", "", "--replicaof", "127.0.0.1", str(master.port), binary=REDIS_SERVER,
                  data_dir=replica_dir)
    wait_until(lambda: link_up(again), timeout=20, message="restarted replica link up")
    assert info(m, "stats")["sync_partial_ok"] == "1"
    assert info(m, "stats")["sync_full"] == "1"
    wait_in_sync(master, again, dbs=[0])


def test_a_promoted_replica_serves_the_other_replica_with_a_partial_resync(nodes):
    master = master_node(nodes)
    m = master.conn()
    a = nodes("--save", "", *shards(2), "--replicaof", "127.0.0.1", str(master.port))
    b = nodes("--save", "", *shards(2), "--replicaof", "127.0.0.1", str(master.port))
    wait_until(lambda: link_up(a) and link_up(b), timeout=20, message="both replicas up")
    for i in range(50):
        m.cmd("SET", "k%d" % i, str(i))
    assert m.cmd("WAIT", "2", "10000") == 2
    wait_until(lambda: same_data(master, a, [0]) and same_data(master, b, [0]), message="replicas synced")
    master.kill()
    assert a.conn().cmd("REPLICAOF", "NO", "ONE") == "OK"
    a.conn().cmd("SET", "after", "promotion")
    assert b.conn().cmd("REPLICAOF", "127.0.0.1", str(a.port)) == "OK"
    wait_until(lambda: link_up(b), timeout=20, message="b follows a")
    stats = info(a.conn(), "stats")
    assert stats["sync_partial_ok"] == "1" and stats["sync_full"] == "0"
    wait_until(lambda: same_data(a, b, [0]), message="b has a's data")
    assert b.conn().cmd("GET", "after") == b"promotion"


def test_a_client_blocked_in_wait_counts_as_blocked_until_it_closes(make_server, make_redis):
    """WAIT without the replicas it asks for blocks (timeout 0: for good): INFO counts the
    client in blocked_clients, as Redis does, and a close releases it on both servers."""
    for server in (make_server(*shards(2)), make_redis()):
        waiter = server.conn()
        waiter.send_raw(encode("WAIT", "1", "0"))
        c = server.conn()
        wait_until(lambda: info(c, "clients")["blocked_clients"] == "1", message="the WAIT blocked")
        waiter.close()
        wait_until(lambda: info(c, "clients")["blocked_clients"] == "0", message="the WAIT released")
        assert c.cmd("WAIT", "0", "0") == 0


def test_a_replica_promoted_at_once_keeps_its_masters_id_valid_up_to_all_it_applied(nodes):
    """REPLICAOF NO ONE right after the master died: the old id stays valid (second_repl_offset)
    up to the last byte of the master's stream the replica applied, as Redis's
    shiftReplicationId does, even before this server's own stream has merged those bytes."""
    master = master_node(nodes, 2, "--repl-ping-replica-period", "3600")  # no PING after the writes
    m = master.conn()
    a = valkeyper_replica(nodes, master)
    wait_until(lambda: link_up(a), timeout=20, message="replica up")
    replid = info(m, "replication")["master_replid"]
    for i in range(50):
        m.cmd("SET", "k%d" % i, str(i))
    assert m.cmd("WAIT", "1", "10000") == 1
    written = int(info(m, "replication")["master_repl_offset"])
    master.kill()
    # Nothing that reads the replica's offsets before the promotion (INFO replication would
    # give its stream time to catch up).
    c = a.conn()
    assert c.cmd("REPLICAOF", "NO", "ONE") == "OK"
    fields = info(c, "replication")
    assert fields["master_replid2"] == replid
    assert int(fields["second_repl_offset"]) == written + 1


@pytest.mark.parametrize("n", [1, 2])
def test_a_restarted_valkeyper_replica_continues_from_its_dump(nodes, n):
    master = master_node(nodes)
    m = master.conn()
    replica = nodes("--save", "", *shards(n), "--replicaof", "127.0.0.1", str(master.port))
    wait_until(lambda: link_up(replica), timeout=20, message="replica link up")
    for i in range(100):
        m.cmd("SET", "k%d" % i, str(i))
    m.cmd("SELECT", "3")
    m.cmd("SET", "in3", "x")
    m.cmd("SELECT", "0")
    wait_in_sync(master, replica)
    replica_dir = replica.dir
    assert replica.shutdown("SAVE") == 0
    m.cmd("SET", "while-down", "yes")
    m.cmd("INCR", "k1")
    again = nodes("--save", "", *shards(n), "--replicaof", "127.0.0.1", str(master.port), data_dir=replica_dir)
    wait_until(lambda: link_up(again), timeout=20, message="restarted replica link up")
    stats = info(m, "stats")
    assert (stats["sync_full"], stats["sync_partial_ok"]) == ("1", "1")
    wait_in_sync(master, again)
    assert again.conn().cmd("GET", "k1") == b"2"


def test_a_link_dropped_with_commands_in_flight_loses_none_of_them(nodes):
    """The master's commands a replica has dispatched to a shard still run when the link drops
    before they did, and the next link continues after them: its offset counts them. One of
    the replica's workers sleeps (DEBUG SLEEP) while the master writes and drops the link;
    with the sleeper on the worker that does not own the link, a multi-shard DEL waits for
    SETs held up on the sleeping shard. Both workers take their turn as the sleeper."""
    master = master_node(nodes, 2, *DEBUG)
    m = master.conn()
    replica = valkeyper_replica(nodes, master, 2, *DEBUG)
    wait_until(lambda: link_up(replica), timeout=20, message="replica up")
    first, second = connections_on_two_workers(replica.port)
    keys = ["k%d" % i for i in range(40)]
    for round, (sleeper, other) in enumerate([(first, second), (second, first)]):
        sleeper.send_raw(encode("DEBUG", "SLEEP", "2"))
        # A GET not answered at once shows the sleep has begun (when the sleeper is the worker
        # serving the link, nothing of the stream is read until it wakes).
        send_until_one_waits(other, [("GET", k) for k in keys])
        for k in keys:
            m.cmd("SET", k, "v%d" % round)
        assert m.cmd("DEL", *keys) == len(keys)
        m.cmd("MSET", *[x for k in keys[:8] for x in (k, "after%d" % round)])
        assert m.cmd("CLIENT", "KILL", "TYPE", "replica") == 1
        assert sleeper.read() == "OK"
        other.sock.settimeout(10)
        other.read()  # the GET that waited
        m.cmd("SET", "round", str(round))
        wait_until(lambda: link_up(replica), timeout=20, message="the link back up")
        assert m.cmd("WAIT", "1", "10000") == 1
        assert other.cmd("DEBUG", "DIGEST") == m.cmd("DEBUG", "DIGEST")
        assert other.cmd("DBSIZE") == 9


def test_debug_digest_agrees_between_master_and_replicas(nodes):
    master = master_node(nodes, 2, *DEBUG)
    m = master.conn()
    vk = valkeyper_replica(nodes, master, 2, *DEBUG)
    rd = redis_replica(nodes, master, *DEBUG)
    assert m.cmd("DEBUG", "DIGEST") == "0" * 40
    for i in range(50):
        m.cmd("SET", "k%d" % i, "v%d" % i)
    m.cmd("SET", "ttl", "x", "EX", "100")
    m.cmd("XADD", "s", "1-1", "f", "v", "n", "123")
    m.cmd("SELECT", "5")
    m.cmd("SET", "five", "5")
    m.cmd("SELECT", "0")
    wait_until(lambda: link_up(vk) and link_up(rd), timeout=20, message="replicas up")
    assert m.cmd("WAIT", "2", "10000") == 2
    digest = m.cmd("DEBUG", "DIGEST")
    assert digest != "0" * 40
    wait_until(lambda: vk.conn().cmd("DEBUG", "DIGEST") == digest, message="same digest on the ValKeyper replica")
    # The dataset digest is Redis's own, and so is each key's (DEBUG DIGEST-VALUE).
    wait_until(lambda: rd.conn().cmd("DEBUG", "DIGEST") == digest, message="same digest on the redis-server replica")
    keys = ["k1", "ttl", "s", "missing"]
    wait_until(lambda: rd.conn().cmd("DEBUG", "DIGEST-VALUE", *keys) == m.cmd("DEBUG", "DIGEST-VALUE", *keys),
               message="same value digests on the redis-server replica")


def test_a_replica_without_its_master_refuses_data_commands_when_told_not_to_serve_stale_data(nodes):
    replica = nodes("--save", "", "--replicaof", "127.0.0.1", str(free_port()))
    c = replica.conn()
    assert c.cmd("CONFIG", "SET", "replica-serve-stale-data", "no") == "OK"
    stale = "MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'."
    assert str(c.cmd("GET", "k")) == stale
    assert str(c.cmd("PING")) == stale
    assert c.cmd("INFO", "replication").decode().startswith("# Replication\r\nrole:slave")
    assert c.cmd("CONFIG", "SET", "replica-serve-stale-data", "yes") == "OK"
    assert c.cmd("GET", "k") is None


# ------------------------------------------------ the stream's database after a full resync

SELECT9 = encode("SELECT", "9")
NO_PINGS = ("--repl-ping-replica-period", "3600")   # offsets below count every byte


def test_replicas_that_attach_later_apply_writes_in_the_right_database(nodes):
    """A second replica's stream starts after its snapshot, in a database it cannot know: the
    master must SELECT before the next write (as Redis forces after every full resync), or
    `SET y` lands in db 0 of the late replicas."""
    master = master_node(nodes, 2, *DEBUG)
    m = master.conn()
    a = valkeyper_replica(nodes, master, 2, *DEBUG)
    wait_until(lambda: link_up(a), timeout=20, message="replica A up")
    m.cmd("SELECT", "9")
    m.cmd("SET", "x", "1")
    b = valkeyper_replica(nodes, master, 2, *DEBUG)
    c = redis_replica(nodes, master, *DEBUG)
    wait_until(lambda: link_up(b) and link_up(c), timeout=20, message="replicas B and C up")
    m.cmd("SET", "y", "2")
    assert m.cmd("WAIT", "3", "10000") == 3
    digest = m.cmd("DEBUG", "DIGEST")
    for replica in (a, b):
        wait_until(lambda: replica.conn().cmd("DEBUG", "DIGEST") == digest, message="the master's digest")
    # redis-server's dataset digest is not ours (DIGEST-VALUE is): compare C with a
    # redis-server holding what the master holds, and its values with the master's.
    reference = nodes("--save", "", *DEBUG, binary=REDIS_SERVER).conn()
    for command in (("SELECT", "9"), ("SET", "x", "1"), ("SET", "y", "2")):
        reference.cmd(*command)
    wait_until(lambda: c.conn().cmd("DEBUG", "DIGEST") == reference.cmd("DEBUG", "DIGEST"),
               message="the redis-server replica's digest")
    rc = c.conn()
    assert rc.cmd("SELECT", "9") == "OK"
    assert rc.cmd("DEBUG", "DIGEST-VALUE", "x", "y") == m.cmd("DEBUG", "DIGEST-VALUE", "x", "y")


def raw_stream_after_two_full_resyncs(nodes, redis):
    """The scenario above seen by two hand-made replicas (no PINGs in the way)."""
    if redis:   # disk-based sync: +FULLRESYNC at once, as ours
        master = nodes("--save", "", *NO_PINGS, "--repl-diskless-sync", "no", binary=REDIS_SERVER)
    else:
        master = master_node(nodes, 2, *NO_PINGS)
    m = master.conn()
    a = RawReplica(master.port)
    m.cmd("SELECT", "9")
    m.cmd("SET", "x", "1")
    b = RawReplica(master.port)
    m.cmd("SET", "y", "2")
    return {"a": (a.offset, a.commands_until(["SET", "y", "2"])),
            "b": (b.offset, b.commands_until(["SET", "y", "2"])),
            "master_repl_offset": int(info(m, "replication")["master_repl_offset"])}


def test_the_forced_select_sits_where_redis_puts_it(nodes):
    ours = raw_stream_after_two_full_resyncs(nodes, redis=False)
    theirs = raw_stream_after_two_full_resyncs(nodes, redis=True)
    assert ours == theirs
    # A fresh master's stream starts at 0; the second replica's at the end of SELECT 9, SET x 1;
    # both then get SELECT 9 again before SET y 2.
    set_x, set_y = encode("SET", "x", "1"), encode("SET", "y", "2")
    assert ours["a"] == (0, [["SELECT", "9"], ["SET", "x", "1"], ["SELECT", "9"], ["SET", "y", "2"]])
    assert ours["b"] == (len(SELECT9 + set_x), [["SELECT", "9"], ["SET", "y", "2"]])
    assert ours["master_repl_offset"] == len(SELECT9 + set_x + SELECT9 + set_y)


@pytest.mark.parametrize("redis", [False, True], ids=["valkeyper", "redis-server"])
def test_a_fresh_master_answers_fullresync_at_offset_zero(nodes, redis):
    if redis:
        master = nodes("--save", "", "--repl-diskless-sync", "no", binary=REDIS_SERVER)
    else:
        master = master_node(nodes)
    raw = RawReplica(master.port)
    assert raw.offset == 0
    fields = info(master.conn(), "replication")
    assert (fields["master_repl_offset"], fields["repl_backlog_first_byte_offset"], fields["repl_backlog_histlen"]) \
        == ("0", "1", "0")


def test_info_and_role_offsets_include_every_acknowledged_write(nodes):
    """master_repl_offset read right after a write (on any connection, of any worker)
    already counts it, as in Redis."""
    master = master_node(nodes, 2, *NO_PINGS)
    raw = RawReplica(master.port)  # the stream exists from here
    writers = [master.conn() for _ in range(4)]   # connections are spread over both workers
    readers = [master.conn() for _ in range(3)]
    expected = raw.offset + len(encode("SELECT", "0"))
    for i in range(300):
        key = "k%d" % i
        assert writers[i % 4].cmd("SET", key, "v") == "OK"
        expected += len(encode("SET", key, "v"))
        reader = readers[i % 3]
        if i % 2:
            assert int(info(reader, "replication")["master_repl_offset"]) == expected, i
        else:
            assert reader.cmd("ROLE")[1] == expected, i


def test_after_wait_a_valkeyper_replica_has_the_write(nodes):
    """WAIT counts a replica once it ran the write: a read there right after sees it, even
    when the write went to another shard of the replica than the one its link lives on."""
    master = master_node(nodes)
    replica = valkeyper_replica(nodes, master)
    wait_until(lambda: link_up(replica), timeout=20, message="replica link up")
    m = master.conn()
    readers = [replica.conn() for _ in range(2)]  # one per worker of the replica
    for i in range(400):
        key = "k%d" % i
        m.cmd("SET", key, str(i))
        assert m.cmd("WAIT", "1", "10000") == 1
        assert readers[i % 2].cmd("GET", key) == str(i).encode(), key


def test_a_full_resync_gets_the_deletions_of_keys_expiring_while_its_snapshot_is_taken(nodes):
    """A full resync's snapshot locks every shard whole; each shard copies itself as it
    grants, and the snapshot's point goes into the stream once the last one has. Worker 1
    sleeps meanwhile, so shard 0 has copied itself long before the point, and keys of
    shard 0 expire in between. Active expiry deleted them then, with the DELs before the
    point: the replica loaded them from the snapshot and never got a DEL (the replication
    fuzz test's list that a redis-server replica kept). Now expiry waits for the lock, and
    the DELs follow the point."""
    master = master_node(nodes, 2, *DEBUG)
    # The sleeper is on worker 1: worker 0 accepts every connection, and a new one was
    # answered while the sleeper slept.
    sleeper, coordinator = connections_on_two_workers(master.port)
    # The replica's connection must reach worker 0, which takes the snapshot: connections
    # alternate, so the last one opened here must be on worker 1.
    probes = []
    while not probes or answers_while_asleep(sleeper, probes[-1], "PING"):
        probes.append(master.conn())
    m = coordinator
    assert m.cmd("SET", "kept", "1") == "OK"
    expiring = ["expiring:%d" % i for i in range(40)]   # on both shards
    for k in expiring:
        assert m.cmd("SET", k, "v", "PX", "400") == "OK"
    sleeper.send_raw(encode("DEBUG", "SLEEP", "1.5"))
    replica = redis_replica(nodes, master)
    assert sleeper.read() == "OK"
    wait_until(lambda: link_up(replica), timeout=20, message="replica link up")
    wait_until(lambda: m.cmd("DBSIZE") == 1, message="the master's keys to expire")
    # DBSIZE on a replica counts keys past their deadline until the master's DEL arrives.
    r = replica.conn()
    wait_until(lambda: r.cmd("DBSIZE") == 1, timeout=10, message="the replica to get every DEL")
