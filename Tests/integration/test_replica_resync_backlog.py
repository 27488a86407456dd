"""A ValKeyper replica passes on, to its backlog and its own replicas, every byte of the
master's stream it applies, the bytes that follow a full sync's payload included: its
master_repl_offset (the end of its backlog) equals what it applied, as on a redis-server
replica. The commands that arrived right behind the payload used to be applied but lost
from the backlog (the sequencer took them before the reset to the master's history), so
the replica's offset stayed short for ever and its chained replicas missed them."""
import threading

from conftest import wait_until
from test_replica import RedisMaster, info, master  # noqa: F401 (fixture)


import pytest


@pytest.mark.parametrize("master_kind", ["valkeyper", "redis"])
def test_stream_right_behind_a_full_sync_reaches_the_replica_backlog(master_kind, make_server, request):
    master = make_server("--threads", "2", "--shards", "2", "--save", "") if master_kind == "valkeyper" \
        else request.getfixturevalue("master")
    replica = make_server("--threads", "2", "--shards", "2", "--save", "")
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
