"""Streams persist and replicate: SAVE/BGSAVE and restart, dumps exchanged with Debian's
redis-server 7.0 both ways (groups, PELs and consumers included), BGSAVE under XADDs, and a
redis-server 7.0 replica of a ValKeyper master seeing XADD * and XTRIM ~ exactly."""
import os
import shutil
import tempfile

import pytest

from support.info import info
from support.load import Writer
from support.marks import needs_redis
from support.processes import REDIS_SERVER, shards
from support.replication import link_up
from support.resp import Error
from support.waiting import wait_until

DUMP = "dump.rdb"


def fill_streams(c, n=350):
    """Streams with several nodes, deleted entries, trims, an ID set past the last entry,
    one with a TTL, one emptied, in two databases."""
    c.pipeline([("XADD", "s", "%d-%d" % (1000 + i // 3, i % 3), "f", "v%d" % i, "n", str(i)) for i in range(n)])
    c.pipeline([("XADD", "s", "*", "other", "x" * (i % 80)) for i in range(20)])
    c.cmd("XDEL", "s", "1000-1", "1010-2", *["%d-%d" % (1000 + i // 3, i % 3) for i in range(120, 230)])
    c.pipeline([("XADD", "t{x}", "*", "a", str(i)) for i in range(30)])
    c.cmd("XTRIM", "t{x}", "MAXLEN", "12")
    c.cmd("XADD", "ttl", "1-1", "k", "v")
    c.cmd("PEXPIRE", "ttl", "100000000")
    c.cmd("XADD", "emptied", "5-5", "k", "v")
    c.cmd("XDEL", "emptied", "5-5")
    c.cmd("XSETID", "emptied", "9-9")
    c.cmd("SELECT", 3)
    c.cmd("XADD", "s3", "7-7", "in", "db3")
    c.cmd("SELECT", 0)


def stream_state(c, dbs=(0, 3)):
    """{db: {key: (XRANGE, XLEN, PEXPIRETIME > 0)}} for every stream."""
    out = {}
    for db in dbs:
        c.cmd("SELECT", db)
        for k in c.cmd("KEYS", "*"):
            if c.cmd("TYPE", k) == "stream":
                out.setdefault(db, {})[k] = (c.cmd("XRANGE", k, "-", "+"), c.cmd("XLEN", k), c.cmd("PEXPIRETIME", k) > 0)
    c.cmd("SELECT", 0)
    return out


@pytest.mark.parametrize("before,after", [(1, 2), (2, 1)])
def test_streams_survive_save_and_restart(nodes, data_dir, before, after):
    a = nodes(*shards(before), data_dir=data_dir)
    c = a.conn()
    fill_streams(c)
    expected = stream_state(c)
    assert len(expected[0]) == 4 and expected[0][b"emptied"][1] == 0
    assert c.cmd("SAVE") == "OK"
    assert a.shutdown("NOSAVE") == 0
    c = nodes(*shards(after), data_dir=data_dir).conn()
    assert stream_state(c) == expected
    # The loaded streams keep working, after their stored last IDs.
    assert isinstance(c.cmd("XADD", "emptied", "9-9", "k", "v"), Error), "the stored last ID holds"
    assert c.cmd("XADD", "emptied", "9-*", "k", "v") == b"9-10"
    assert isinstance(c.cmd("XADD", "s", "1-1", "k", "v"), Error)


def redis_groups(rc):
    """Streams with consumer groups, pending entries, claimed and acknowledged ones."""
    rc.pipeline([("XADD", "g", "%d-1" % (i + 1), "f", str(i)) for i in range(300)])
    rc.cmd("XDEL", "g", "5-1", "6-1")
    rc.cmd("XGROUP", "CREATE", "g", "readers", "0")
    rc.cmd("XGROUP", "CREATE", "g", "late", "$", "ENTRIESREAD", "300")
    rc.cmd("XREADGROUP", "GROUP", "readers", "alice", "COUNT", "7", "STREAMS", "g", ">")
    rc.cmd("XREADGROUP", "GROUP", "readers", "42", "COUNT", "4", "STREAMS", "g", ">")
    rc.cmd("XACK", "g", "readers", "2-1", "9-1")
    rc.cmd("XCLAIM", "g", "readers", "bob", "0", "3-1", "4-1")
    rc.cmd("XGROUP", "CREATECONSUMER", "g", "readers", "idle")
    rc.cmd("XADD", "plain", "1-1", "a", "b")


def group_view(rc):
    """What Redis shows of the groups: XINFO STREAM FULL (absolute times), XPENDING without
    the idle times (they move), XRANGE."""
    full = rc.cmd("XINFO", "STREAM", "g", "FULL")
    pending = [(id_, consumer, count) for id_, consumer, _, count in rc.cmd("XPENDING", "g", "readers", "-", "+", "100")]
    return full, pending, rc.cmd("XRANGE", "g", "-", "+")


@needs_redis
@pytest.mark.parametrize("compression", ["yes", "no"])
def test_redis_stream_dump_loads_and_comes_back_identical(nodes, data_dir, compression):
    """redis-server 7.0 writes streams with groups; ValKeyper loads them (XRANGE, XLEN
    equal), saves them, and redis-server loads ValKeyper's dump into the very same state."""
    redis_dir = tempfile.mkdtemp(prefix="vk-streams-redis-")
    try:
        r = nodes("--save", "", "--rdbcompression", compression, binary=REDIS_SERVER, data_dir=redis_dir)
        rc = r.conn()
        redis_groups(rc)
        fill_streams(rc)
        expected_streams = stream_state(rc)
        expected_groups = group_view(rc)
        assert rc.cmd("SAVE") == "OK"
        r.shutdown("NOSAVE")
        shutil.copy(os.path.join(redis_dir, DUMP), os.path.join(data_dir, DUMP))
    finally:
        shutil.rmtree(redis_dir, ignore_errors=True)
    a = nodes(*shards(2), "--rdbcompression", compression, data_dir=data_dir)
    c = a.conn()
    assert stream_state(c) == expected_streams
    assert group_view(c) == expected_groups
    assert c.cmd("SAVE") == "OK"
    assert a.shutdown("NOSAVE") == 0
    rc = nodes("--save", "", binary=REDIS_SERVER, data_dir=data_dir).conn()
    assert stream_state(rc) == expected_streams
    assert group_view(rc) == expected_groups


def test_bgsave_while_xadds_run_holds_the_state_at_its_start(nodes, data_dir):
    a = nodes(*shards(2), "--save", "", data_dir=data_dir)
    c = a.conn()
    # Enough keys that the copy-on-write walk spans many loop turns.
    for start in range(0, 200000, 20000):
        c.pipeline([("SET", "k%d" % i, "v") for i in range(start, start + 20000)])
    keys = ["st%d" % i for i in range(40)]
    c.pipeline([("XADD", k, "*", "f", str(i)) for k in keys for i in range(30)])
    # Groups with pending entries: their state changes in place too.
    c.pipeline([("XGROUP", "CREATE", k, "g", "0") for k in keys])
    c.pipeline([("XREADGROUP", "GROUP", "g", "c", "COUNT", "5", "STREAMS", k, ">") for k in keys])
    expected = stream_state(c)
    expected_groups = groups_state(c, keys)
    def step(writer, i):
        k = keys[i % len(keys)]
        writer.pipeline([("XADD", k, "*", "late", str(i)), ("XTRIM", k, "MAXLEN", "10"), ("XDEL", k, "0-1"),
                         ("XREADGROUP", "GROUP", "g", "c%d" % i, "COUNT", "2", "STREAMS", k, ">"),
                         ("XACK", k, "g", *[e[0] for e in writer.cmd("XPENDING", k, "g", "-", "+", "3")]),
                         ("XGROUP", "SETID", k, "g", "0")])
    writer = Writer(a.port, step)
    # The writer's first pipeline goes out right after BGSAVE's reply: every later change
    # must stay out of the dump.
    assert c.raw("BGSAVE") == b"+Background saving started\r\n"
    with writer:
        wait_until(lambda: info(c, "persistence")["rdb_bgsave_in_progress"] == "0", timeout=60,
                   message="BGSAVE to finish")
    assert info(c, "persistence")["rdb_last_bgsave_status"] == "ok"
    assert c.cmd("XLEN", keys[0]) == 10, "the writer changed the streams"
    assert a.shutdown("NOSAVE") == 0
    c = nodes(*shards(2), data_dir=data_dir).conn()
    assert stream_state(c) == expected
    assert groups_state(c, keys) == expected_groups


def groups_state(c, keys):
    """Each stream's groups (XINFO GROUPS) and pending entries (XPENDING without idle times)."""
    return {k: (c.cmd("XINFO", "GROUPS", k),
                [(i, name, n) for i, name, _, n in c.cmd("XPENDING", k, "g", "-", "+", "100")]) for k in keys}


# ---------------------------------------------------------------- replication to redis-server 7.0

@needs_redis
def test_stream_writes_reach_a_redis_replica_exactly(nodes):
    master = nodes("--save", "", *shards(2))
    m = master.conn()
    fill_streams(m)  # before the replica: arrives in the full resync's dump
    replica = nodes("--save", "", "--replicaof", "127.0.0.1", str(master.port), binary=REDIS_SERVER)
    rc = replica.conn()
    wait_until(lambda: link_up(rc), timeout=20, message="the replica's link")
    # Auto IDs, approximate trims (with and without LIMIT), MINID, NOMKSTREAM, XDEL, XSETID.
    for i in range(600):
        m.cmd("XADD", "auto", "*", "i", str(i))
        m.cmd("XADD", "seq{x}", "1000-*", "i", str(i))
    m.cmd("XADD", "auto", "MAXLEN", "~", "150", "*", "trim", "1")
    m.cmd("XADD", "auto", "MAXLEN", "~", "120", "LIMIT", "100", "*", "trim", "2")
    m.cmd("XTRIM", "seq{x}", "MAXLEN", "~", "250")
    m.cmd("XTRIM", "seq{x}", "MINID", "~", "1000-400")
    m.cmd("XTRIM", "auto", "MAXLEN", "~", "90", "LIMIT", "200")
    m.cmd("XADD", "absent", "NOMKSTREAM", "*", "a", "b")
    m.cmd("XADD", "s", "NOMKSTREAM", "MINID", "~", "1050", "*", "a", "b")
    m.cmd("XDEL", "s", "1060-1", "1061-0")
    m.cmd("XSETID", "emptied", "99-99")
    assert m.cmd("XLEN", "auto") < 600, "the approximate trims removed whole nodes"
    assert m.cmd("WAIT", "1", "10000") == 1
    keys = [b"auto", b"seq{x}", b"s", b"t{x}", b"emptied", b"ttl"]
    for k in keys:
        wait_until(lambda: rc.cmd("XRANGE", k, "-", "+") == m.cmd("XRANGE", k, "-", "+"), timeout=10,
                   message="the replica's %r" % k)
        assert rc.cmd("XLEN", k) == m.cmd("XLEN", k)
    assert rc.cmd("EXISTS", "absent") == 0
    info = rc.cmd("XINFO", "STREAM", "emptied")
    assert info[info.index(b"last-generated-id") + 1] == b"99-99"
    rc.cmd("SELECT", 3)
    assert rc.cmd("XRANGE", "s3", "-", "+") == [[b"7-7", [b"in", b"db3"]]]


def test_streams_reach_a_valkeyper_replica(nodes):
    """Full sync (streams with groups travel in the dump) and then the stream of writes."""
    master = nodes("--save", "", *shards(2))
    m = master.conn()
    fill_streams(m)
    m.cmd("XGROUP", "CREATE", "s", "g", "0")
    m.cmd("XREADGROUP", "GROUP", "g", "alice", "COUNT", "3", "STREAMS", "s", ">")
    replica = nodes("--save", "", *shards(2), "--replicaof", "127.0.0.1", str(master.port))
    rc = replica.conn()
    wait_until(lambda: link_up(rc), timeout=20, message="the replica's link")
    assert m.cmd("WAIT", "1", "10000") == 1
    wait_until(lambda: rc.cmd("XINFO", "STREAM", "s", "FULL") == m.cmd("XINFO", "STREAM", "s", "FULL"), timeout=10,
               message="the stream as the full sync left it")
    for i in range(300):
        m.cmd("XADD", "auto", "*", "i", str(i))
    m.cmd("XADD", "auto", "MAXLEN", "~", "150", "*", "trim", "1")
    m.cmd("XTRIM", "s", "MINID", "~", "1100")
    m.cmd("XREADGROUP", "GROUP", "g", "bob", "COUNT", "2", "STREAMS", "s", ">")
    assert m.cmd("WAIT", "1", "10000") == 1
    for k in [b"auto", b"s", b"t{x}", b"emptied", b"ttl"]:
        wait_until(lambda: rc.cmd("XRANGE", k, "-", "+") == m.cmd("XRANGE", k, "-", "+"), timeout=10,
                   message="the replica's %r" % k)
    pending = lambda c: [(i, n, k) for i, n, _, k in c.cmd("XPENDING", "s", "g", "-", "+", "100")]
    wait_until(lambda: pending(rc) == pending(m), timeout=10, message="the replica's PEL")
    # A redis-server 7.0 replica's group loses entries-read (and lag) here too: XREADGROUP
    # reaches it as XCLAIM ... LASTID, which carries no read counter; and a consumer's
    # seen-time is the replica's clock when it applied the XCLAIM.
    full_m, full_r = m.cmd("XINFO", "STREAM", "s", "FULL"), rc.cmd("XINFO", "STREAM", "s", "FULL")
    for full in (full_m, full_r):
        group = full[full.index(b"groups") + 1][0]
        group[group.index(b"entries-read") + 1] = group[group.index(b"lag") + 1] = None
        for consumer in group[group.index(b"consumers") + 1]:
            consumer[consumer.index(b"seen-time") + 1] = None
    assert full_r == full_m
