"""Blocked XREAD/XREADGROUP served by any write that makes their key ready, byte for byte
against redis-server 7.0: RENAME, COPY, MOVE, SWAPDB, FLUSHDB, deletion and overwrite, XADD
and XGROUP DESTROY, inside and outside MULTI; and what INFO commandstats counts for a
blocked command (failed_calls when it is woken by an error).

Each scenario runs the same way on both servers: a reader blocks (BLOCK 0), some commands
run, then anything still waiting is released the same way (the key deleted, then an entry
added), and the reader's reply and the keys' state after must be the same bytes.
"""
import re

import pytest

from support.info import info
from support.resp import Conn, encode
from support.waiting import wait_until

RELEASE_ID = "9999999999999-0"


def blocked_clients(conn):
    return int(info(conn, "clients")["blocked_clients"])


def xread(key):
    return ["XREAD", "BLOCK", "0", "STREAMS", key, "$"]


def xreadgroup(key, group="g", consumer="c"):
    return ["XREADGROUP", "GROUP", group, consumer, "BLOCK", "0", "STREAMS", key, ">"]


def run_scenario(port, setup, reader, actions, after, db=0, key="d"):
    """The reader's reply, the actions' replies and `after`'s, as raw bytes."""
    r, blocked = Conn(port), Conn(port)
    try:
        r.cmd("FLUSHALL")
        for args in setup:
            r.cmd(*args)
        r.cmd("SELECT", "0")
        wait_until(lambda: blocked_clients(r) == 0, message="earlier readers to be gone")
        blocked.cmd("SELECT", str(db))
        blocked.send_raw(encode(*reader))
        wait_until(lambda: blocked_clients(r) == 1, message="the reader to block")
        out = [("action", args, r.raw(*args)) for args in actions]
        r.cmd("SELECT", str(db))
        out += [("after", args, r.raw(*args)) for args in after]
        # Whatever still waits is released the same way on both servers.
        r.cmd("DEL", key)
        r.cmd("XADD", key, RELEASE_ID, "released", "1")
        out.append(("reader", reader, blocked.read_raw()))
        return out
    finally:
        r.close()
        blocked.close()


def same_as_redis(server, redis_port, setup, reader, actions, after=(), db=0, key="d"):
    expected = run_scenario(redis_port, setup, reader, actions, after, db, key)
    actual = run_scenario(server.port, setup, reader, actions, after, db, key)
    for e, a in zip(expected, actual):
        assert a == e, "%s %r" % (e[0], e[1])
    return actual


GROUP_STATE = [("XINFO", "GROUPS", "d"), ("XPENDING", "d", "g")]

# A stream `d` with group g at its end (where the reader blocks), and sources for the writes.
WITH_GROUP = [("XADD", "d", "1-0", "f", "old"), ("XGROUP", "CREATE", "d", "g", "$")]
SOURCE_WITH_GROUP = [("XADD", "src", "5-0", "f", "new"), ("XADD", "src", "6-0", "f", "newer"),
                     ("XGROUP", "CREATE", "src", "g", "0")]
SOURCE_GROUP_AT_END = [("XADD", "src", "5-0", "f", "new"), ("XGROUP", "CREATE", "src", "g", "$")]
SOURCE_WITHOUT_GROUP = [("XADD", "src", "5-0", "f", "new")]

# Keys spread over both shards (their placement is seeded per process), so that some
# RENAMEs and COPYs cross shards.
SOURCES = ["src", "{t}s", "s:1", "s:2", "s:3", "s:4"]


def with_source(commands, source):
    return [tuple(source if a == "src" else a for a in c) for c in commands]


@pytest.mark.parametrize("source", SOURCES)
@pytest.mark.parametrize("setup, name", [(SOURCE_WITH_GROUP, "served"), (SOURCE_WITHOUT_GROUP, "nogroup"),
                                         (SOURCE_GROUP_AT_END, "keeps waiting"),
                                         ([("SET", "src", "x")], "not a stream")])
def test_rename_onto_the_key_of_a_blocked_xreadgroup(server, redis_port, setup, name, source):
    same_as_redis(server, redis_port, WITH_GROUP + with_source(setup, source), xreadgroup("d"),
                  [("RENAME", source, "d")], GROUP_STATE)


@pytest.mark.parametrize("source", SOURCES[:3])
def test_copy_replace_onto_the_key_of_a_blocked_xreadgroup(server, redis_port, source):
    same_as_redis(server, redis_port, WITH_GROUP + with_source(SOURCE_WITH_GROUP, source), xreadgroup("d"),
                  [("COPY", source, "d", "REPLACE")], GROUP_STATE + [("XINFO", "GROUPS", source)])


@pytest.mark.parametrize("source", SOURCES[:3])
def test_rename_and_copy_onto_the_key_of_a_blocked_xread(server, redis_port, source):
    for action in (("RENAME", source, "d"), ("COPY", source, "d")):
        same_as_redis(server, redis_port, with_source(SOURCE_WITHOUT_GROUP, source), xread("d"), [action],
                      [("XLEN", "d")])


def test_move_onto_the_key_of_a_blocked_xread(server, redis_port):
    """The reader waits in db 1; MOVE brings a stream there from db 0."""
    same_as_redis(server, redis_port, [("XADD", "d", "5-0", "f", "moved")], xread("d"), [("MOVE", "d", "1")],
                  [("XLEN", "d")], db=1)


def test_move_inside_multi_replaces_the_stream_of_a_blocked_xreadgroup(server, redis_port):
    """In db 1 the reader's stream is deleted and another moved in, in one transaction: Redis
    looks at the key once EXEC is done (the new stream, with a group g)."""
    setup = [("SELECT", "1")] + WITH_GROUP + [("SELECT", "0"), ("XADD", "d", "7-0", "f", "moved"),
                                              ("XGROUP", "CREATE", "d", "g", "0")]
    same_as_redis(server, redis_port, setup, xreadgroup("d"),
                  [("MULTI",), ("SELECT", "1"), ("DEL", "d"), ("SELECT", "0"), ("MOVE", "d", "1"), ("EXEC",)],
                  GROUP_STATE, db=1)


@pytest.mark.parametrize("other, name", [([("XADD", "d", "3-0", "f", "other"), ("XGROUP", "CREATE", "d", "g", "0")],
                                          "served"),
                                         ([("XADD", "d", "3-0", "f", "other")], "nogroup"),
                                         ([("SET", "d", "x")], "not a stream"), ([], "missing")])
def test_swapdb_under_a_blocked_xreadgroup(server, redis_port, other, name):
    setup = WITH_GROUP + [("SELECT", "1")] + other
    same_as_redis(server, redis_port, setup, xreadgroup("d"), [("SWAPDB", "0", "1")], GROUP_STATE)


@pytest.mark.parametrize("other", [[("XADD", "d", "3-0", "f", "other")], [("SET", "d", "x")]])
def test_swapdb_under_a_blocked_xread(server, redis_port, other):
    same_as_redis(server, redis_port, [("SELECT", "1")] + other, xread("d"), [("SWAPDB", "0", "1")], [("TYPE", "d")])


@pytest.mark.parametrize("actions", [
    [("XADD", "d", "2-0", "f", "v")],
    [("XGROUP", "DESTROY", "d", "g")],
    [("DEL", "d")],
    [("SET", "d", "x")],
    [("FLUSHDB",)],
    [("FLUSHALL",)],
    [("XGROUP", "SETID", "d", "g", "0")],  # no signal in Redis: it keeps waiting
    [("MULTI",), ("DEL", "d"), ("XADD", "d", "2-0", "f", "v"), ("EXEC",)],
    [("MULTI",), ("DEL", "d"), ("XADD", "d", "2-0", "f", "v"), ("XGROUP", "CREATE", "d", "g", "0"), ("EXEC",)],
    [("MULTI",), ("XGROUP", "DESTROY", "d", "g"), ("XGROUP", "CREATE", "d", "g", "0"), ("EXEC",)],
    [("MULTI",), ("DEL", "d"), ("SET", "d", "x"), ("EXEC",)],
], ids=lambda a: " ".join(" ".join(c) for c in a))
def test_writes_that_wake_a_blocked_xreadgroup(server, redis_port, actions):
    same_as_redis(server, redis_port, WITH_GROUP, xreadgroup("d"), actions, GROUP_STATE)


def commandstats(port, names):
    """The counters (no timings) of `names` in INFO commandstats."""
    c = Conn(port)
    try:
        text = c.cmd("INFO", "commandstats").decode()
    finally:
        c.close()
    lines = re.findall(r"^cmdstat_(\S+?):calls=(\d+),usec=\d+,usec_per_call=[\d.]+,(.*)\r$", text, re.M)
    return {name: (calls, rest) for name, calls, rest in lines if name in names}


@pytest.mark.parametrize("actions", [[("XGROUP", "DESTROY", "d", "g")], [("DEL", "d")], [("XADD", "d", "2-0", "f", "v")],
                                     [("RENAME", "src", "d")]], ids=lambda a: " ".join(a[0]))
def test_commandstats_of_a_blocked_xreadgroup(server, redis_port, actions):
    """Redis 7.0 counts the call when it blocks, and a failed call when an error wakes it
    (NOGROUP, UNBLOCKED)."""
    names = {"xreadgroup", "xread"}
    stats = []
    for port in (redis_port, server.port):
        c = Conn(port)
        c.cmd("CONFIG", "RESETSTAT")
        c.close()
        run_scenario(port, WITH_GROUP + SOURCE_WITHOUT_GROUP, xreadgroup("d"), actions, [])
        stats.append(commandstats(port, names))
    assert stats[1] == stats[0]


def test_xreadgroup_error_from_a_remote_shard_is_a_failed_call(server, redis_port):
    """An error reply that comes back from another worker's shard counts as the command's failed call."""
    stats = []
    for port in (redis_port, server.port):
        c = Conn(port)
        c.cmd("FLUSHALL")
        c.cmd("CONFIG", "RESETSTAT")
        for k in SOURCES:
            c.cmd("XADD", k, "1-0", "f", "v")
            assert str(c.cmd("XREADGROUP", "GROUP", "nogroup", "c", "STREAMS", k, ">")).startswith("NOGROUP")
        stats.append(commandstats(port, {"xreadgroup", "xadd"}))
        c.close()
    assert stats[1] == stats[0]


def test_expiry_of_the_key_of_a_blocked_xreadgroup(server, redis_port):
    """Active expiry deletes the stream: the blocked XREADGROUP is unblocked, as by DEL."""
    for port in (redis_port, server.port):
        r, blocked = Conn(port), Conn(port)
        r.cmd("FLUSHALL")
        for args in WITH_GROUP:
            r.cmd(*args)
        wait_until(lambda: blocked_clients(r) == 0, message="earlier readers to be gone")
        blocked.send_raw(encode(*xreadgroup("d")))
        wait_until(lambda: blocked_clients(r) == 1, message="the reader to block")
        r.cmd("PEXPIRE", "d", "1")
        assert blocked.read_raw() == b"-UNBLOCKED the stream key no longer exists\r\n", port
        assert r.cmd("EXISTS", "d") == 0
        r.close()
        blocked.close()
