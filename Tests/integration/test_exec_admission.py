"""EXEC refused for what it queued, against redis-server 7.0: Redis's processCommand counts
EXEC as a write when a queued command is one, and as refused on a stale replica when a
queued command is, so a state change between MULTI and EXEC (min-replicas-to-write set,
the master link gone with replica-serve-stale-data no) answers EXECABORT and runs nothing
(Redis's tcl suite, unit/multi: "exec with write commands and state change", "exec with
read commands and stale replica state change")."""
from support.differential import paired
from support.resp import Conn


def queued_then_changed(conn, port, queued, change, undo):
    """EXEC's reply (bytes) when `change` runs on another connection after `queued` was
    queued, then GET xx; `undo` runs on the other connection at the end."""
    other = Conn(port)
    try:
        conn.cmd("SET", "xx", "1")
        conn.cmd("MULTI")
        for args in queued:
            conn.cmd(*args)
        for args in change:
            other.cmd(*args)
        reply = conn.raw("EXEC")
        for args in undo:
            other.cmd(*args)
        return reply, conn.raw("GET", "xx")
    finally:
        other.close()


MIN_REPLICAS = ([("CONFIG", "SET", "min-replicas-to-write", "2")], [("CONFIG", "SET", "min-replicas-to-write", "0")])
# An unresolvable master: the link stays down.
STALE = ([("REPLICAOF", "localhsot", "0")], [("REPLICAOF", "NO", "ONE")])

CASES = [
    ([("INCR", "xx")], MIN_REPLICAS),        # a write: EXECABORT NOREPLICAS, INCR not run
    ([("GET", "xx")], MIN_REPLICAS),         # reads only: runs
    ([("GET", "xx")], STALE),                # not allowed stale: EXECABORT MASTERDOWN
    ([("PING",)], STALE),
]


def test_exec_refused_for_its_queued_commands_as_redis(server, redis_port):
    with paired(server, redis_port, config=[("replica-serve-stale-data", "no")]) as (redis, vk):
        for queued, (change, undo) in CASES:
            expected = queued_then_changed(redis, redis_port, queued, change, undo)
            actual = queued_then_changed(vk, server.port, queued, change, undo)
            assert actual == expected, (queued, change)
