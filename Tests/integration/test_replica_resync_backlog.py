"""What a ValKeyper replica passes on to its backlog and its own replicas: every byte of the
master's stream it applies, with the master's offsets, and full syncs whose snapshot
matches the stream from its point on (found by test_replication_fuzz.py):

- the commands right behind a full sync's payload used to be applied but lost from the
  backlog (the sequencer took them before the reset to the master's history), so the
  replica's offset stayed short for ever and its chained replicas missed them;
- a replica restarted from its dump continued the master's history but its own stream
  started again from offset 0;
- a sharded replica's snapshot for its own replica could miss a command its stream had
  before the snapshot point (commands are passed on when dispatched, run later);
- a replica with several workers saved its dump without its master's history when SAVE or
  BGSAVE came on a connection of a worker other than the one that owns the link."""
import pathlib
import re
import time

import pytest

from support.info import info
from support.load import Writer
from support.replication import link_up
from support.waiting import wait_until
from support.workers import connections_on_two_workers

DEBUG = ("--enable-debug-command", "yes")


@pytest.mark.parametrize("master_kind", ["valkeyper", "redis"])
def test_stream_right_behind_a_full_sync_reaches_the_replica_backlog(master_kind, make_server, request):
    master = make_server("--threads", "2", "--shards", "2", "--save", "", *DEBUG) if master_kind == "valkeyper" \
        else request.getfixturevalue("master")
    replica = make_server("--threads", "2", "--shards", "2", "--save", "", *DEBUG)
    r = replica.conn()
    for round_ in range(6):
        def step(c, i):
            c.cmd("SELECT", str(i % 3))
            c.cmd("SET", "k%d" % (i % 50), "v%d" % i)
        writer = Writer(master.port, step)
        with writer:
            wait_until(lambda: writer.done > 100, message="writes under way")
            # A new replication id after NO ONE: the next sync is a full one, under load.
            assert r.cmd("REPLICAOF", "NO", "ONE") == "OK"
            assert r.cmd("REPLICAOF", "127.0.0.1", str(master.port)) == "OK"
            wait_until(lambda: link_up(r), timeout=20, message="link up")
            synced_at = writer.done
            wait_until(lambda: writer.done > synced_at + 100, message="writes after the sync")
        m = master.conn()
        wait_until(lambda: info(r, "replication")["slave_repl_offset"]
                   == info(m, "replication")["master_repl_offset"],
                   message="round %d: the replica applies everything" % round_)
        target = int(info(r, "replication")["slave_repl_offset"])
        wait_until(lambda: int(info(r, "replication")["master_repl_offset"]) == target,
                   message="round %d: the replica's backlog ends where its applied stream does (%s)"
                   % (round_, {k: v for k, v in info(r, "replication").items() if "offset" in k}))


def test_replica_restarted_from_its_dump_continues_the_master_offsets(make_server):
    """A replica killed after a SAVE restarts from its dump, whose replication id and offset
    let it continue with a partial resync; its own stream (master_repl_offset, the backlog
    its replicas read) continues from that offset too, as a redis-server replica's does. It
    used to start again from 0, so every offset this replica reported or passed on was short
    by the whole history before the restart."""
    master = make_server("--threads", "2", "--shards", "2", "--save", "", *DEBUG)
    m = master.conn()
    replica = make_server("--save", "", *DEBUG, "--replicaof", "127.0.0.1", str(master.port))
    for i in range(200):
        m.cmd("SET", "k%d" % i, "v%d" % i)

    def caught_up(node):
        return lambda: (info(node.conn(), "replication")["slave_repl_offset"]
                        == info(m, "replication")["master_repl_offset"])
    wait_until(caught_up(replica), timeout=20, message="replica in sync")
    assert replica.conn().cmd("SAVE") == "OK"
    replica.kill()
    m.cmd("SELECT", "3")
    for i in range(50):
        m.cmd("INCR", "while-down")
    again = make_server("--save", "", *DEBUG, "--replicaof", "127.0.0.1", str(master.port), data_dir=replica.dir)
    try:
        r = again.conn()
        wait_until(lambda: link_up(r), timeout=20, message="link up")
        assert info(m, "stats")["sync_partial_ok"] == "1"
        chained = make_server("--save", "", *DEBUG, "--replicaof", "127.0.0.1", str(again.port))
        wait_until(lambda: link_up(chained), timeout=20, message="chained replica up")
        m.cmd("SELECT", "0")   # (a SELECT the chained replica needs: it attached while the stream was in db 3)
        m.cmd("INCR", "after")
        for node in (again, chained):
            wait_until(caught_up(node), message="%d applied everything" % node.port)
            wait_until(lambda: info(node.conn(), "replication")["master_repl_offset"]
                       == info(m, "replication")["master_repl_offset"],
                       message="the stream of %d continues the master's offsets (%s)"
                       % (node.port, {k: v for k, v in info(node.conn(), "replication").items() if "offset" in k}))
        digest = m.cmd("DEBUG", "DIGEST")
        assert re.fullmatch("[0-9a-f]{40}", digest)
        assert again.conn().cmd("DEBUG", "DIGEST") == digest
        assert chained.conn().cmd("DEBUG", "DIGEST") == digest
    finally:
        again.stop()


def test_full_syncs_served_by_a_sharded_replica_under_load_match_its_stream(make_server):
    """A replica with several shards serving full syncs to its own replica while its master
    streams writes: each snapshot holds exactly the commands before its point in the stream.
    The replica passes a command on when worker 0 dispatches it, and it runs on its shard
    later: a snapshot taken meanwhile could miss a command that its stream had before the
    point (or hold one that came after), and the chained replica kept the difference."""
    master = make_server("--threads", "2", "--shards", "2", "--save", "", *DEBUG)
    middle = make_server("--threads", "2", "--shards", "3", "--save", "", *DEBUG, "--replicaof", "127.0.0.1", str(master.port))
    chained = make_server("--save", "", *DEBUG, "--replicaof", "127.0.0.1", str(middle.port))

    def pipelines_of(n):
        def step(c, i):
            c.pipeline([("SET", "k%d:%d" % (n, i % 300), str(i)), ("DEL", "k%d:%d" % (n, i * 7 % 300))])
        return step
    writers = [Writer(master.port, pipelines_of(n)) for n in range(3)]
    for w in writers:
        w.start()
    c = chained.conn()
    try:
        for _ in range(40):
            wait_until(lambda: link_up(c), timeout=20, message="chained link up")
            # A new replication id after NO ONE: the next sync is a full one, from a snapshot.
            assert c.cmd("REPLICAOF", "NO", "ONE") == "OK"
            assert c.cmd("REPLICAOF", "127.0.0.1", str(middle.port)) == "OK"
        wait_until(lambda: link_up(c), timeout=20, message="chained link up")
    finally:
        for w in writers:
            w.stopping.set()
        for w in writers:
            w.stop()
    m = master.conn()
    for node in (middle, chained):
        wait_until(lambda: info(node.conn(), "replication")["slave_repl_offset"]
                   == info(m, "replication")["master_repl_offset"],
                   message="replica %d applied everything" % node.port)
    digest = m.cmd("DEBUG", "DIGEST")
    assert re.fullmatch("[0-9a-f]{40}", digest)
    assert middle.conn().cmd("DEBUG", "DIGEST") == digest
    assert chained.conn().cmd("DEBUG", "DIGEST") == digest


@pytest.mark.parametrize("command", ["SAVE", "BGSAVE"])
def test_a_sharded_replica_saves_its_masters_history_from_any_worker(command, make_server):
    master = make_server("--threads", "2", "--shards", "2", "--save", "", *DEBUG)
    m = master.conn()
    replica = make_server("--threads", "2", "--shards", "2", "--save", "", *DEBUG,
                          "--replicaof", "127.0.0.1", str(master.port))
    for i in range(100):
        m.cmd("SET", "k%d" % i, "v%d" % i)
    wait_until(lambda: info(replica.conn(), "replication")["slave_repl_offset"]
               == info(m, "replication")["master_repl_offset"], timeout=20, message="replica in sync")
    dump = pathlib.Path(replica.dir) / "dump.rdb"
    for c in connections_on_two_workers(replica.port):   # one on each worker
        if dump.exists():
            dump.unlink()
        if command == "SAVE":
            assert c.cmd("SAVE") == "OK"
        else:
            assert c.cmd("BGSAVE") == "Background saving started"
            wait_until(lambda: dump.exists() and info(c, "persistence")["rdb_bgsave_in_progress"] == "0",
                       message="the background save to finish")
        data = dump.read_bytes()
        assert b"repl-id" in data and b"repl-offset" in data


def test_a_replica_restarted_from_its_dump_keeps_keys_that_expired_meanwhile(make_server):
    """As Redis's rdbLoad on a replica: a key whose deadline passed while the replica was
    down stays (hidden from reads) until the master's DEL, instead of being dropped at load,
    which let the master's later commands on that key find a different state here."""
    master = make_server("--threads", "2", "--shards", "2", "--save", "", *DEBUG)
    m = master.conn()
    assert m.cmd("DEBUG", "SET-ACTIVE-EXPIRE", "0") == "OK"
    replica = make_server("--threads", "2", "--shards", "2", "--save", "", *DEBUG,
                          "--replicaof", "127.0.0.1", str(master.port))
    m.cmd("SET", "stay", "v")
    m.cmd("SET", "gone", "v", "PX", "300")
    deadline = time.monotonic() + 0.3
    wait_until(lambda: info(replica.conn(), "replication")["slave_repl_offset"]
               == info(m, "replication")["master_repl_offset"], timeout=20, message="replica in sync")
    assert replica.conn().cmd("SAVE") == "OK"
    replica.kill()
    wait_until(lambda: time.monotonic() > deadline + 0.05, message="the deadline to pass")
    again = make_server("--threads", "2", "--shards", "2", "--save", "", *DEBUG,
                        "--replicaof", "127.0.0.1", str(master.port), data_dir=replica.dir)
    r = again.conn()
    wait_until(lambda: link_up(r), timeout=20, message="link up")
    assert info(m, "stats")["sync_partial_ok"] == "1"
    assert r.cmd("DBSIZE") == 2
    assert r.cmd("GET", "gone") is None        # expired: hidden from reads
    assert m.cmd("GET", "gone") is None        # the master expires it and propagates a DEL
    wait_until(lambda: r.cmd("DBSIZE") == 1, message="the master's DEL to reach the replica")
