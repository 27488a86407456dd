"""What a ValKeyper replica passes on to its backlog and its own replicas: every byte of the
master's stream it applies, with the master's offsets, and full syncs whose snapshot
matches the stream from its point on (found by test_replication_fuzz.py):

- the commands right behind a full sync's payload used to be applied but lost from the
  backlog (the sequencer took them before the reset to the master's history), so the
  replica's offset stayed short for ever and its chained replicas missed them;
- a replica restarted from its dump continued the master's history but its own stream
  started again from offset 0;
- a sharded replica's snapshot for its own replica could miss a command its stream had
  before the snapshot point (commands are passed on when dispatched, run later)."""
import re
import threading

import pytest

from conftest import wait_until
from test_replica import info, master  # noqa: F401 (fixture)

DEBUG = ("--enable-debug-command", "yes")


@pytest.mark.parametrize("master_kind", ["valkeyper", "redis"])
def test_stream_right_behind_a_full_sync_reaches_the_replica_backlog(master_kind, make_server, request):  # noqa: F811
    master = make_server("--threads", "2", "--shards", "2", "--save", "", *DEBUG) if master_kind == "valkeyper" \
        else request.getfixturevalue("master")
    replica = make_server("--threads", "2", "--shards", "2", "--save", "", *DEBUG)
    r = replica.conn()
    for round_ in range(6):
        stop = threading.Event()
        written = []

        def writer():
            c = master.conn()
            i = 0
            while not stop.is_set():
                c.cmd("SELECT", str(i % 3))
                c.cmd("SET", "k%d" % (i % 50), "v%d" % i)
                written.append(i)
                i += 1
            c.close()
        t = threading.Thread(target=writer)
        t.start()
        try:
            wait_until(lambda: len(written) > 100, message="writes under way")
            # A new replication id after NO ONE: the next sync is a full one, under load.
            assert r.cmd("REPLICAOF", "NO", "ONE") == "OK"
            assert r.cmd("REPLICAOF", "127.0.0.1", str(master.port)) == "OK"
            wait_until(lambda: info(r).get("master_link_status") == "up", timeout=20, message="link up")
            synced_at = len(written)
            wait_until(lambda: len(written) > synced_at + 100, message="writes after the sync")
        finally:
            stop.set()
            t.join()
        m = master.conn()
        wait_until(lambda: info(r)["slave_repl_offset"] == info(m)["master_repl_offset"],
                   message="round %d: the replica applies everything" % round_)
        target = int(info(r)["slave_repl_offset"])
        wait_until(lambda: int(info(r)["master_repl_offset"]) == target,
                   message="round %d: the replica's backlog ends where its applied stream does (%s)"
                   % (round_, {k: v for k, v in info(r).items() if "offset" in k}))


def test_replica_restarted_from_its_dump_continues_the_master_offsets(make_server):
    """A replica killed after a SAVE restarts from its dump, whose replication id and offset
    let it continue with a partial resync; its own stream (master_repl_offset, the backlog
    its replicas read) continues from that offset too, as a redis-server replica's does. It
    used to start again from 0, so every offset this replica reported or passed on was short
    by the whole history before the restart."""
    from conftest import Server
    master = make_server("--threads", "2", "--shards", "2", "--save", "", *DEBUG)
    m = master.conn()
    replica = make_server("--save", "", *DEBUG, "--replicaof", "127.0.0.1", str(master.port))
    for i in range(200):
        m.cmd("SET", "k%d" % i, "v%d" % i)

    def caught_up(node):
        return lambda: info(node.conn())["slave_repl_offset"] == info(m)["master_repl_offset"]
    wait_until(caught_up(replica), timeout=20, message="replica in sync")
    assert replica.conn().cmd("SAVE") == "OK"
    replica.proc.kill()
    replica.proc.wait()
    m.cmd("SELECT", "3")
    for i in range(50):
        m.cmd("INCR", "while-down")
    again = Server("--save", "", *DEBUG, "--replicaof", "127.0.0.1", str(master.port), cwd=replica.dir)
    try:
        r = again.conn()
        wait_until(lambda: info(r).get("master_link_status") == "up", timeout=20, message="link up")
        assert info(m, "stats")["sync_partial_ok"] == "1"
        chained = make_server("--save", "", *DEBUG, "--replicaof", "127.0.0.1", str(again.port))
        wait_until(lambda: info(chained.conn()).get("master_link_status") == "up", timeout=20,
                   message="chained replica up")
        m.cmd("SELECT", "0")   # (a SELECT the chained replica needs: it attached while the stream was in db 3)
        m.cmd("INCR", "after")
        for node in (again, chained):
            wait_until(caught_up(node), message="%d applied everything" % node.port)
            wait_until(lambda: info(node.conn())["master_repl_offset"] == info(m)["master_repl_offset"],
                       message="the stream of %d continues the master's offsets (%s)"
                       % (node.port, {k: v for k, v in info(node.conn()).items() if "offset" in k}))
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
    stop = threading.Event()

    def writer(n):
        c = master.conn()
        i = 0
        while not stop.is_set():
            c.pipeline([("SET", "k%d:%d" % (n, i % 300), str(i)), ("DEL", "k%d:%d" % (n, i * 7 % 300))])
            i += 1
        c.close()
    writers = [threading.Thread(target=writer, args=(n,)) for n in range(3)]
    for t in writers:
        t.start()
    c = chained.conn()
    try:
        for _ in range(40):
            wait_until(lambda: info(c).get("master_link_status") == "up", timeout=20, message="chained link up")
            # A new replication id after NO ONE: the next sync is a full one, from a snapshot.
            assert c.cmd("REPLICAOF", "NO", "ONE") == "OK"
            assert c.cmd("REPLICAOF", "127.0.0.1", str(middle.port)) == "OK"
        wait_until(lambda: info(c).get("master_link_status") == "up", timeout=20, message="chained link up")
    finally:
        stop.set()
        for t in writers:
            t.join()
    m = master.conn()
    for node in (middle, chained):
        wait_until(lambda: info(node.conn())["slave_repl_offset"] == info(m)["master_repl_offset"],
                   message="replica %d applied everything" % node.port)
    digest = m.cmd("DEBUG", "DIGEST")
    assert re.fullmatch("[0-9a-f]{40}", digest)
    assert middle.conn().cmd("DEBUG", "DIGEST") == digest
    assert chained.conn().cmd("DEBUG", "DIGEST") == digest
