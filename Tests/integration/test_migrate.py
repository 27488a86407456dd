"""MIGRATE (Redis 7.0's migrateCommand) from ValKeyper to redis-server and to another
ValKeyper: single keys and KEYS (keys on both shards), COPY, REPLACE, AUTH and AUTH2, TTLs,
the destination database, NOKEY, the target's errors passed through, refused connections
and timeouts; replies compared with redis-server's for the same calls; the keys stay locked
while the transfer thread waits (other keys and clients are served meanwhile); replicas
get DEL."""
import socket
import threading
import time

import pytest

from support.processes import ServerProcess
from support.replication import wait_synced
from support.resp import Conn, Error
from support.slots import keys_on_two_shards


@pytest.fixture
def target(redis_port):
    c = Conn(redis_port)
    c.cmd("FLUSHALL")
    yield c
    c.close()


@pytest.fixture
def source(server):
    c = server.conn()
    c.cmd("FLUSHALL")
    yield c
    c.close()


def fill(c):
    c.cmd("SET", "s", "v")
    c.cmd("RPUSH", "l", "a", "b", "c")
    c.cmd("HSET", "h", "f", "1", "g", "2")
    c.cmd("ZADD", "z", "1", "a", "2", "b")
    c.cmd("SADD", "set", "x", "y")
    c.cmd("XADD", "st", "1-1", "f", "v")
    c.cmd("SET", "ttl", "v", "PX", "100000")
    c.cmd("PFADD", "hll", *["e%d" % i for i in range(500)])
    c.cmd("SETBIT", "bm", "100000", "1")
    c.cmd("SETBIT", "bm", "7", "1")
    c.cmd("GEOADD", "geo", "13.361389", "38.115556", "Palermo", "15.087269", "37.502669", "Catania")


# How each moved value is read back on the target (HLLs, bitmaps and geo sets must count,
# read and search the same there).
READS = [("PFCOUNT", "hll"), ("BITCOUNT", "bm"), ("BITPOS", "bm", "1", "1"),
         ("GEOSEARCH", "geo", "FROMLONLAT", "15", "37", "BYRADIUS", "200", "km", "ASC", "WITHDIST")]


def test_to_redis_every_type_and_ttl(source, target, redis_port):
    fill(source)
    before = [source.cmd(*r) for r in READS]
    for key in ("s", "l", "h", "z", "set", "st", "ttl", "hll", "bm", "geo"):
        dump = source.cmd("DUMP", key)
        members = sorted(source.cmd("SMEMBERS", key)) if key == "set" else None
        assert source.cmd("MIGRATE", "127.0.0.1", str(redis_port), key, "0", "1000") == "OK"
        assert source.cmd("EXISTS", key) == 0
        if members:  # a hash-table set's order is the table's: compare members
            assert sorted(target.cmd("SMEMBERS", key)) == members
        else:
            assert target.cmd("DUMP", key) == dump
    assert 90000 < target.cmd("PTTL", "ttl") <= 100000
    assert target.cmd("TTL", "s") == -1
    assert [target.cmd(*r) for r in READS] == before


def test_keys_on_both_shards_copy_replace_and_errors(source, target, redis_port):
    a, b = keys_on_two_shards("mig", 2)
    source.cmd("MSET", a, "1", b, "2")
    port = str(redis_port)
    assert source.cmd("MIGRATE", "127.0.0.1", port, "", "0", "1000", "COPY", "KEYS", a, b, "missing") == "OK"
    assert target.cmd("MGET", a, b) == [b"1", b"2"] and source.cmd("EXISTS", a, b) == 2
    err = source.cmd("MIGRATE", "127.0.0.1", port, "", "0", "1000", "KEYS", a, b)
    assert isinstance(err, Error) and str(err) == "ERR Target instance replied with error: BUSYKEY Target key name already exists."
    assert source.cmd("EXISTS", a, b) == 2
    source.cmd("MSET", a, "3", b, "4")
    assert source.cmd("MIGRATE", "127.0.0.1", port, "", "5", "1000", "REPLACE", "KEYS", a, b) == "OK"
    assert source.cmd("EXISTS", a, b) == 0
    target.cmd("SELECT", "5")
    assert target.cmd("MGET", a, b) == [b"3", b"4"]
    # Only the keys the target stored leave: b is refused (BUSYKEY), a moves.
    source.cmd("MSET", a, "5", b, "6")
    target.cmd("DEL", a)
    err = source.cmd("MIGRATE", "127.0.0.1", port, "", "5", "1000", "KEYS", a, b)
    assert str(err).startswith("ERR Target instance replied with error: BUSYKEY")
    assert source.cmd("EXISTS", a) == 0 and source.cmd("GET", b) == b"6"
    assert source.cmd("MIGRATE", "127.0.0.1", port, "", "5", "1000", "KEYS", "nothing", "here") == "NOKEY"


def silent_listener():
    """A port that accepts connections and never answers."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(8)
    return s


def test_replies_equal_redis_server(source, redis_port, make_server, make_redis):
    other = make_redis("--save", "")
    ours = source
    theirs = Conn(other.port)
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    closed_port = str(closed.getsockname()[1])  # bound, not listening: refused
    silent = silent_listener()
    silent_port = str(silent.getsockname()[1])
    target_port = str(redis_port)
    try:
        calls = [
            ("MIGRATE", "127.0.0.1", target_port, "k", "0", "1000"),
            ("MIGRATE", "127.0.0.1", target_port, "k", "0", "1000", "COPY"),
            ("MIGRATE", "127.0.0.1", target_port, "nokey", "0", "1000"),
            ("MIGRATE", "127.0.0.1", target_port, "k", "0", "x"),
            ("MIGRATE", "127.0.0.1", target_port, "k", "x", "1000"),
            ("MIGRATE", "127.0.0.1", target_port, "k", "0", "1000", "KEYS", "k"),
            ("MIGRATE", "127.0.0.1", target_port, "k", "0", "1000", "BOGUS"),
            ("MIGRATE", "127.0.0.1", target_port, "k", "0", "1000", "AUTH"),
            ("MIGRATE", "127.0.0.1", target_port, "k", "0", "1000", "AUTH2", "u"),
            ("MIGRATE", "127.0.0.1", target_port, "k", "0", "1000", "COPY", "AUTH", "pw"),
            ("MIGRATE", "127.0.0.1", target_port, "k", "0", "1000", "COPY", "AUTH2", "default", "pw"),
            ("MIGRATE", "127.0.0.1", target_port, "k", "99", "1000", "COPY"),
            ("MIGRATE", "127.0.0.1", closed_port, "k", "0", "1000"),
            ("MIGRATE", "127.0.0.1", silent_port, "k", "0", "200"),
            ("MIGRATE", "127.0.0.1", target_port),
        ]
        diffs = []
        for call in calls:
            replies = []
            for c in (theirs, ours):
                c.cmd("SET", "k", "v")
                Conn(redis_port).cmd("FLUSHALL")
                reply = c.cmd(*call)
                replies.append((("error", str(reply)) if isinstance(reply, Error) else reply, c.cmd("EXISTS", "k")))
            if replies[0] != replies[1]:
                diffs.append("%r:\n  redis     %r\n  valkeyper %r" % (call, replies[0], replies[1]))
        assert not diffs, "\n".join(diffs)
    finally:
        closed.close()
        silent.close()
        theirs.close()


def test_to_valkeyper_with_auth(source, make_server):
    t = make_server("--requirepass", "secret", "--shards", "2", "--threads", "2")
    tc = t.conn()
    assert tc.cmd("AUTH", "secret") == "OK"
    source.cmd("RPUSH", "l", "1", "2")
    source.cmd("SET", "x", "y")
    port = str(t.port)
    err = source.cmd("MIGRATE", "127.0.0.1", port, "l", "0", "1000")
    assert str(err) == "ERR Target instance replied with error: NOAUTH Authentication required."
    assert source.cmd("MIGRATE", "127.0.0.1", port, "l", "2", "1000", "AUTH", "secret") == "OK"
    assert source.cmd("MIGRATE", "127.0.0.1", port, "x", "2", "1000", "AUTH2", "default", "secret") == "OK"
    tc.cmd("SELECT", "2")
    assert tc.cmd("LRANGE", "l", "0", "-1") == [b"1", b"2"] and tc.cmd("GET", "x") == b"y"


def test_keys_wait_while_the_transfer_runs_and_others_do_not(source, server):
    silent = silent_listener()
    try:
        source.cmd("SET", "locked", "v")
        source.cmd("SET", "free", "w")
        migrating = server.conn()
        started = time.monotonic()
        migrating.send_raw(b"*6\r\n$7\r\nMIGRATE\r\n$9\r\n127.0.0.1\r\n$%d\r\n%d\r\n$6\r\nlocked\r\n$1\r\n0\r\n$3\r\n600\r\n"
                           % (len(str(silent.getsockname()[1])), silent.getsockname()[1]))
        other = server.conn()
        # Wait until the transfer thread has connected: the key is locked from then on.
        conn, _ = silent.accept()
        assert other.cmd("GET", "free") == b"w"
        assert other.cmd("PING") == "PONG"
        assert time.monotonic() - started < 0.5, "the worker must not wait for the network"
        assert other.cmd("GET", "locked") == b"v"
        waited = time.monotonic() - started
        assert waited >= 0.55, "GET of a key being migrated must wait for MIGRATE (%.3fs)" % waited
        assert str(migrating.read()) == "IOERR error or timeout reading to target instance"
        conn.close()
    finally:
        silent.close()


def test_replicas_get_del(source, make_server, redis_port):
    master = make_server("--shards", "2", "--threads", "2")
    replica = make_server("--shards", "2", "--threads", "2", "--replicaof", "127.0.0.1 %d" % master.port)
    m, r = master.conn(), replica.conn()
    wait_synced(m, r)
    a, b = keys_on_two_shards("rep", 2)
    m.cmd("MSET", a, "1", b, "2", "kept", "3")
    assert m.cmd("MIGRATE", "127.0.0.1", str(redis_port), "", "0", "1000", "REPLACE", "KEYS", a, b) == "OK"
    assert m.cmd("MIGRATE", "127.0.0.1", str(redis_port), "kept", "0", "1000", "COPY", "REPLACE") == "OK"
    wait_synced(m, r)
    assert r.cmd("EXISTS", a, b) == 0 and r.cmd("GET", "kept") == b"3"


def test_connection_is_cached_and_replaced_when_closed(source, target, redis_port):
    port = str(redis_port)

    def migrate_clients():
        return [l for l in target.cmd("CLIENT", "LIST").decode().splitlines() if "cmd=restore" in l]

    for i in range(3):
        source.cmd("SET", "c%d" % i, "v")
        assert source.cmd("MIGRATE", "127.0.0.1", port, "c%d" % i, "0", "1000") == "OK"
    assert len(migrate_clients()) == 1, "one cached connection serves every MIGRATE"
    target.cmd("CLIENT", "KILL", "ID", migrate_clients()[0].split()[0].split("=")[1])
    source.cmd("SET", "after", "v")
    assert source.cmd("MIGRATE", "127.0.0.1", port, "after", "0", "1000") == "OK"
    assert target.cmd("GET", "after") == b"v"
    # Another database: SELECTed again on the same connection.
    source.cmd("SET", "db3", "v")
    assert source.cmd("MIGRATE", "127.0.0.1", port, "db3", "3", "1000") == "OK"
    target.cmd("SELECT", "3")
    assert target.cmd("GET", "db3") == b"v"
    assert len(migrate_clients()) == 1
