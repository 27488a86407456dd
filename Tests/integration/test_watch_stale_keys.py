"""WATCH of a key that is already expired but not yet deleted (active expiry off), against
redis-server 7.0: Redis remembers that the key was expired when watched
(watchedKey.expired), so its later deletion (lazy expiry, FLUSHDB, SWAPDB moving it away)
does not fail EXEC, while a write that brings the key back does. The cases are Redis's tcl
suite's (unit/multi: "WATCH stale keys should not fail EXEC" and the SWAPDB ones)."""
import pytest

from support.differential import paired
from support.resp import Conn
from support.waiting import wait_until

SERVER_ARGS = ("--enable-debug-command", "yes")


def make_stale(conn, key, value="foo"):
    """`key` set with a 1 ms TTL and waited for until past it: KEYS no longer lists it,
    while it stays stored (KEYS does not delete it, nor does anything else here)."""
    assert conn.cmd("SET", key, value, "PX", "1") == "OK"
    wait_until(lambda: conn.cmd("KEYS", key) == [], message="%s to expire" % key)


def watch_then_exec(conn, setup, between, watcher_db=0):
    """EXEC's reply (bytes) after WATCH x in `watcher_db`, `between` run on another
    connection, then MULTI PING EXEC."""
    other = Conn(conn.sock.getpeername()[1])
    try:
        conn.cmd("FLUSHALL")
        conn.cmd("DEBUG", "SET-ACTIVE-EXPIRE", "0")
        for db, args in setup:
            conn.cmd("SELECT", str(db))
            if args[0] == "stale":
                make_stale(conn, *args[1:])
            else:
                conn.cmd(*args)
        conn.cmd("SELECT", str(watcher_db))
        assert conn.cmd("WATCH", "x") == "OK"
        for db, args in between:
            other.cmd("SELECT", str(db))
            other.cmd(*args)
        conn.cmd("MULTI")
        conn.cmd("PING")
        return conn.raw("EXEC")
    finally:
        conn.cmd("DEBUG", "SET-ACTIVE-EXPIRE", "1")
        conn.cmd("SELECT", "0")
        other.close()


CASES = {
    "stale untouched": ([(0, ("stale", "x"))], []),
    "stale deleted by lazy expiry": ([(0, ("stale", "x"))], [(0, ("EXISTS", "x"))]),
    "stale deleted by FLUSHDB": ([(0, ("stale", "x"))], [(0, ("FLUSHDB",))]),
    "stale deleted by DEL": ([(0, ("stale", "x"))], [(0, ("DEL", "x"))]),
    "stale overwritten by SET": ([(0, ("stale", "x"))], [(0, ("SET", "x", "new"))]),
    "stale deleted then set again": ([(0, ("stale", "x"))], [(0, ("EXISTS", "x")), (0, ("SET", "x", "new"))]),
    "stale overwritten by APPEND": ([(0, ("stale", "x"))], [(0, ("APPEND", "x", "new"))]),
    "live then set": ([(0, ("SET", "x", "v"))], [(0, ("SET", "x", "w"))]),
    "missing then set": ([], [(0, ("SET", "x", "w"))]),
    "SWAPDB stale replaced with no key": ([(1, ("stale", "x"))], [(0, ("SWAPDB", "0", "1"))]),
    "SWAPDB stale replaced with stale": ([(1, ("stale", "x")), (0, ("stale", "x", "bar"))], [(0, ("SWAPDB", "0", "1"))]),
    "SWAPDB stale replaced with live": ([(1, ("stale", "x")), (0, ("SET", "x", "bar"))], [(0, ("SWAPDB", "0", "1"))]),
}


@pytest.mark.parametrize("case", list(CASES))
def test_exec_after_watching_stale_key_as_redis(server, redis_port, case):
    setup, between = CASES[case]
    watcher_db = 1 if case.startswith("SWAPDB") else 0
    with paired(server, redis_port) as (redis, vk):
        expected = watch_then_exec(redis, setup, between, watcher_db)
        assert watch_then_exec(vk, setup, between, watcher_db) == expected
