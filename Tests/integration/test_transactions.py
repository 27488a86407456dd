"""MULTI/EXEC/DISCARD/WATCH/UNWATCH (multi.c) with Redis 7.0.15's replies, validated against redis-server.

Keys hash to shards with a per-process seed, so cross-shard transactions are exercised by working on
many keys ("key:0".."key:50") or many key pairs: with two shards, all pairs landing on one shard by
chance is negligible. The concurrency tests check that no client ever observes half a transaction.
"""
import random
import re
import threading
import time

import pytest

from support.resp import Error, encode
from support.slots import key_on_each_shard
from support.waiting import wait_until

KEYS = ["key:%d" % i for i in range(51)]
EXECABORT = b"-EXECABORT Transaction discarded because of previous errors.\r\n"
NOT_INTEGER = b"-ERR value is not an integer or out of range\r\n"


def client_ids(conn):
    return {int(m) for m in re.findall(rb"(?m)^id=(\d+) ", conn.cmd("CLIENT", "LIST"))}


def client_fields(conn, cid):
    """The CLIENT LIST fields of client `cid`, seen from another connection."""
    line = conn.cmd("CLIENT", "LIST", "ID", cid).decode().strip()
    return dict(kv.split("=", 1) for kv in line.split(" "))


def wait_gone(observer, cid):
    wait_until(lambda: cid not in client_ids(observer), message="client %d to be gone" % cid)


# ---------------------------------------------------------------- MULTI / EXEC / DISCARD basics

def test_multi_exec_replies(r):
    assert r.raw("MULTI") == b"+OK\r\n"
    assert r.raw("SET", "a", "1") == b"+QUEUED\r\n"
    assert r.raw("GET", "a") == b"+QUEUED\r\n"
    assert r.raw("GET", "missing") == b"+QUEUED\r\n"
    assert r.raw("INCRBY", "a", "41") == b"+QUEUED\r\n"
    assert r.raw("DEL", "a", "missing") == b"+QUEUED\r\n"
    assert r.raw("EXEC") == b"*5\r\n+OK\r\n$1\r\n1\r\n$-1\r\n:42\r\n:1\r\n"
    assert r.raw("GET", "a") == b"$-1\r\n"


def test_exec_replies_resp3(r):
    r.cmd("HELLO", "3")
    r.cmd("SET", "s", "abc")
    assert r.raw("MULTI") == b"+OK\r\n"
    for cmd in (("SET", "a", "1"), ("GET", "a"), ("GET", "missing"), ("INCR", "s"), ("INCRBYFLOAT", "a", "0.5")):
        assert r.raw(*cmd) == b"+QUEUED\r\n"
    assert r.raw("EXEC") == b"*5\r\n+OK\r\n$1\r\n1\r\n_\r\n-ERR value is not an integer or out of range\r\n" \
                            b"$3\r\n1.5\r\n"
    r.cmd("MULTI")
    assert r.raw("EXEC") == b"*0\r\n"


def test_discard(r):
    assert r.raw("MULTI") == b"+OK\r\n"
    assert r.raw("SET", "a", "1") == b"+QUEUED\r\n"
    assert r.raw("MSET", *[x for k in KEYS for x in (k, "v")]) == b"+QUEUED\r\n"
    assert r.raw("DISCARD") == b"+OK\r\n"
    assert r.raw("GET", "a") == b"$-1\r\n"
    assert r.raw("EXISTS", *KEYS) == b":0\r\n"
    # no longer in MULTI
    assert r.raw("DISCARD") == b"-ERR DISCARD without MULTI\r\n"
    assert r.raw("EXEC") == b"-ERR EXEC without MULTI\r\n"


def test_errors_outside_multi(r):
    assert r.raw("EXEC") == b"-ERR EXEC without MULTI\r\n"
    assert r.raw("DISCARD") == b"-ERR DISCARD without MULTI\r\n"
    assert r.raw("MULTI", "x") == b"-ERR wrong number of arguments for 'multi' command\r\n"
    # EXEC's arity error always comes as EXECABORT, even outside MULTI
    assert r.raw("EXEC", "x") == \
        b"-EXECABORT Transaction discarded because of: wrong number of arguments for 'exec' command\r\n"
    assert r.raw("DISCARD", "x") == b"-ERR wrong number of arguments for 'discard' command\r\n"
    assert r.raw("WATCH") == b"-ERR wrong number of arguments for 'watch' command\r\n"
    assert r.raw("UNWATCH", "x") == b"-ERR wrong number of arguments for 'unwatch' command\r\n"
    assert r.raw("PING") == b"+PONG\r\n"


def test_empty_transaction(r):
    assert r.raw("MULTI") == b"+OK\r\n"
    assert r.raw("EXEC") == b"*0\r\n"
    r.cmd("HELLO", "3")
    assert r.raw("MULTI") == b"+OK\r\n"
    assert r.raw("EXEC") == b"*0\r\n"


def test_state_reset_after_exec_and_discard(r):
    r.cmd("MULTI")
    r.cmd("SET", "a", "1")
    assert r.raw("EXEC") == b"*1\r\n+OK\r\n"
    assert r.raw("SET", "b", "2") == b"+OK\r\n"          # executed at once, not queued
    assert r.raw("EXEC") == b"-ERR EXEC without MULTI\r\n"
    r.cmd("MULTI")
    r.cmd("SET", "c", "3")
    assert r.raw("DISCARD") == b"+OK\r\n"
    assert r.raw("GET", "c") == b"$-1\r\n"
    assert r.raw("MULTI") == b"+OK\r\n"                  # a new transaction may start
    assert r.raw("GET", "b") == b"+QUEUED\r\n"
    assert r.raw("EXEC") == b"*1\r\n$1\r\n2\r\n"


def test_nested_multi_and_watch_inside_multi_do_not_abort(r):
    # unlike queue-time errors, these two errors leave the transaction intact
    assert r.raw("MULTI") == b"+OK\r\n"
    assert r.raw("MULTI") == b"-ERR MULTI calls can not be nested\r\n"
    assert r.raw("SET", "a", "1") == b"+QUEUED\r\n"
    assert r.raw("WATCH", "a") == b"-ERR WATCH inside MULTI is not allowed\r\n"
    assert r.raw("GET", "a") == b"+QUEUED\r\n"
    assert r.raw("EXEC") == b"*2\r\n+OK\r\n$1\r\n1\r\n"
    r.cmd("MULTI")
    assert r.raw("MULTI") == b"-ERR MULTI calls can not be nested\r\n"
    assert r.raw("EXEC") == b"*0\r\n"


def test_queue_time_errors_abort_exec(r):
    r.cmd("SET", "a", "old")
    assert r.raw("MULTI") == b"+OK\r\n"
    assert r.raw("SET", "a", "new") == b"+QUEUED\r\n"
    assert r.raw("NOPE", "x", "y") == b"-ERR unknown command 'NOPE', with args beginning with: 'x' 'y' \r\n"
    assert r.raw("SET", "b", "1") == b"+QUEUED\r\n"     # later commands are still queued...
    assert r.raw("EXEC") == EXECABORT                     # ...but nothing runs
    assert r.cmd("GET", "a") == b"old"
    assert r.raw("EXISTS", "b") == b":0\r\n"
    assert r.raw("EXEC") == b"-ERR EXEC without MULTI\r\n"   # the transaction is gone


@pytest.mark.parametrize("bad, error", [
    (("GET",), b"-ERR wrong number of arguments for 'get' command\r\n"),
    (("SET", "k"), b"-ERR wrong number of arguments for 'set' command\r\n"),
    (("MGET",), b"-ERR wrong number of arguments for 'mget' command\r\n"),
    (("NOPE",), b"-ERR unknown command 'NOPE', with args beginning with: \r\n"),
    (("CONFIG", "NOPE"), b"-ERR unknown subcommand 'NOPE'. Try CONFIG HELP.\r\n"),
    (("OBJECT", "NOPE", "k"), b"-ERR unknown subcommand 'NOPE'. Try OBJECT HELP.\r\n"),
    (("CLIENT",), b"-ERR wrong number of arguments for 'client' command\r\n"),
    (("MULTI", "x"), b"-ERR wrong number of arguments for 'multi' command\r\n"),
    (("DISCARD", "x"), b"-ERR wrong number of arguments for 'discard' command\r\n"),
    (("WATCH",), b"-ERR wrong number of arguments for 'watch' command\r\n"),
], ids=lambda v: v[0] if isinstance(v, tuple) else None)
def test_each_queue_time_error_aborts(r, bad, error):
    r.cmd("MULTI")
    r.cmd("SET", "a", "1")
    assert r.raw(*bad) == error
    assert r.raw("EXEC") == EXECABORT
    assert r.raw("EXISTS", "a") == b":0\r\n"


def test_exec_with_wrong_arity_discards(r, server):
    r.cmd("MULTI")
    r.cmd("SET", "a", "1")
    assert r.raw("EXEC", "x") == \
        b"-EXECABORT Transaction discarded because of: wrong number of arguments for 'exec' command\r\n"
    assert r.raw("EXEC") == b"-ERR EXEC without MULTI\r\n"
    assert r.raw("EXISTS", "a") == b":0\r\n"
    # it discards the watches as well, even outside MULTI
    r.cmd("WATCH", "k")
    assert r.raw("EXEC", "x").startswith(b"-EXECABORT ")
    server.conn().cmd("SET", "k", "1")
    r.cmd("MULTI")
    assert r.raw("EXEC") == b"*0\r\n"


def test_runtime_errors_stay_in_their_slot(r):
    r.cmd("SET", "s", "abc")
    r.cmd("MULTI")
    queued = [("SET", "n", "1"), ("INCR", "s"), ("INCR", "n"), ("SET", "k", "v", "EX", "0"),
              ("SET", "k", "v", "FOO"), ("SELECT", "99"), ("APPEND", "s", "d"), ("GET", "s"), ("GET", "n")]
    for cmd in queued:
        assert r.raw(*cmd) == b"+QUEUED\r\n"
    assert r.raw("EXEC") == (b"*9\r\n+OK\r\n" + NOT_INTEGER + b":2\r\n"
                             b"-ERR invalid expire time in 'set' command\r\n"
                             b"-ERR syntax error\r\n"
                             b"-ERR DB index is out of range\r\n"
                             b":4\r\n$4\r\nabcd\r\n$1\r\n2\r\n")
    assert r.raw("EXISTS", "k") == b":0\r\n"


def test_later_commands_see_earlier_ones(r):
    r.cmd("MULTI")
    for cmd in (("SET", "a", "1"), ("INCR", "a"), ("INCRBY", "a", "10"), ("GET", "a"), ("RENAME", "a", "b"),
                ("EXISTS", "a", "b"), ("GETDEL", "b"), ("GET", "b")):
        assert r.raw(*cmd) == b"+QUEUED\r\n"
    assert r.raw("EXEC") == b"*8\r\n+OK\r\n:2\r\n:12\r\n$2\r\n12\r\n+OK\r\n:1\r\n$2\r\n12\r\n$-1\r\n"


def test_queued_commands_do_not_run_before_exec(r, server):
    other = server.conn()
    r.cmd("MULTI")
    r.cmd("SET", "a", "1")
    r.cmd("MSET", *[x for k in KEYS for x in (k, "v")])
    assert other.raw("EXISTS", "a", *KEYS) == b":0\r\n"
    assert other.raw("DBSIZE") == b":0\r\n"
    assert r.raw("EXEC") == b"*2\r\n+OK\r\n+OK\r\n"
    assert other.cmd("EXISTS", "a", *KEYS) == 1 + len(KEYS)


def test_ping_echo_inside_multi(r):
    r.cmd("MULTI")
    for cmd in (("PING",), ("PING", "hi"), ("ECHO", "e"), ("ECHO", "")):
        assert r.raw(*cmd) == b"+QUEUED\r\n"
    assert r.raw("EXEC") == b"*4\r\n+PONG\r\n$2\r\nhi\r\n$1\r\ne\r\n$0\r\n\r\n"


def test_select_inside_multi(r, server):
    r.cmd("SET", "a", "db0")
    r.cmd("MULTI")
    for cmd in (("SELECT", "1"), ("SET", "a", "db1"), ("GET", "a"), ("SELECT", "2"), ("MSET", *[
            x for k in KEYS for x in (k, "db2")]), ("DBSIZE",), ("SELECT", "99"), ("SELECT", "x"), ("GET", "a")):
        assert r.raw(*cmd) == b"+QUEUED\r\n"
    assert r.raw("EXEC") == (b"*9\r\n+OK\r\n+OK\r\n$3\r\ndb1\r\n+OK\r\n+OK\r\n:51\r\n"
                             b"-ERR DB index is out of range\r\n" + NOT_INTEGER + b"$-1\r\n")
    # the SELECT inside the transaction sticks
    assert r.cmd("MGET", *KEYS) == [b"db2"] * len(KEYS)
    other = server.conn()
    assert other.cmd("GET", "a") == b"db0"
    other.cmd("SELECT", "1")
    assert other.cmd("GET", "a") == b"db1"
    assert other.cmd("EXISTS", *KEYS) == 0
    # an aborted transaction does not switch databases
    r.cmd("MULTI")
    r.cmd("SELECT", "1")
    r.cmd("NOPE")
    assert r.raw("EXEC") == EXECABORT
    assert r.cmd("DBSIZE") == len(KEYS)


def test_hello_inside_multi_switches_protocol_for_later_replies(r):
    r.cmd("MULTI")
    assert r.raw("HELLO", "3") == b"+QUEUED\r\n"
    assert r.raw("GET", "missing") == b"+QUEUED\r\n"
    raw = r.raw("EXEC")
    assert raw.startswith(b"*2\r\n%7\r\n$6\r\nserver\r\n") and raw.endswith(b"*0\r\n_\r\n")
    assert r.raw("GET", "missing") == b"_\r\n"


def test_quit_inside_multi(server):
    c = server.conn()
    c.cmd("MULTI")
    c.cmd("SET", "quitter", "1")
    assert c.raw("QUIT") == b"+OK\r\n"
    assert c.is_closed()
    assert server.conn().raw("EXISTS", "quitter") == b":0\r\n"


def test_multi_key_commands_across_shards(r):
    r.cmd("SET", "outside", "x")
    r.cmd("MULTI")
    queued = [("MSET", *[x for k in KEYS for x in (k, k)]), ("MGET", *KEYS[:3], "missing"), ("EXISTS", *KEYS),
              ("DBSIZE",), ("DEL", *KEYS[:10], "missing"), ("MSETNX", "key:0", "n", "key:1", "n"),
              ("MSETNX", "key:0", "n", "key:50", "n"), ("RENAME", "key:20", "key:99"), ("COPY", "key:99", "key:0"),
              ("COPY", "key:99", "key:copy"), ("KEYS", "key:9*"), ("DBSIZE",), ("FLUSHDB",), ("DBSIZE",),
              ("MGET", "key:0", "outside")]
    for cmd in queued:
        assert r.raw(*cmd) == b"+QUEUED\r\n"
    reply = r.cmd("EXEC")
    assert reply[:5] == ["OK", [b"key:0", b"key:1", b"key:2", None], 51, 52, 10]
    assert reply[5:10] == [1, 0, "OK", 0, 1]       # key:0 was recreated by the first MSETNX
    assert sorted(reply[10]) == [b"key:99"]
    assert reply[11:] == [45, "OK", 0, [None, None]]
    assert r.cmd("DBSIZE") == 0


def test_cross_shard_command_answered_at_once_inside_exec_sends_one_reply(make_server):
    """A RENAME or COPY across shards inside EXEC whose first step runs on the client's own
    shard and answers at once (a missing source) replies once, inside EXEC's array. It used
    to leave a copy of that answer in front of the array, one reply too many. One worker
    owns both shards here, so whichever shard the source is on, it is the client's."""
    server = make_server("--threads", "1", "--shards", "2")
    c = server.conn()
    keys = ["k%d" % i for i in range(8)]
    for src in keys:
        for dst in keys:
            if src == dst:
                continue
            for command, answer in (("RENAME", b"-ERR no such key\r\n"), ("COPY", b":0\r\n")):
                c.send_raw(encode("MULTI") + encode(command, src, dst) + encode("EXEC") + encode("PING"))
                expected = b"+OK\r\n+QUEUED\r\n*1\r\n" + answer + b"+PONG\r\n"
                got = b""
                while len(got) < len(expected) and not got.endswith(b"+PONG\r\n"):
                    c._fill()
                    got, c.buf = got + c.buf, b""
                assert got == expected, (command, src, dst)

# ---------------------------------------------------------------- WATCH / UNWATCH

def exec_after_watch(c):
    """Runs a one-command transaction; its raw EXEC reply tells whether the watch held."""
    assert c.raw("MULTI") == b"+OK\r\n"
    assert c.raw("PING") == b"+QUEUED\r\n"
    return c.raw("EXEC")


ABORTED = b"*-1\r\n"
RAN = b"*1\r\n+PONG\r\n"

# (setup by another client, modification by another client) of the watched key "k" in db 0
MODIFYING = {
    "set": ([("SET", "k", "1")], [("SET", "k", "1")]),                   # same value still counts
    "set-missing": ([], [("SET", "k", "1")]),
    "create-then-delete": ([], [("SET", "k", "1"), ("DEL", "k")]),
    "del": ([("SET", "k", "1")], [("DEL", "k")]),
    "unlink": ([("SET", "k", "1")], [("UNLINK", "k")]),
    "getdel": ([("SET", "k", "1")], [("GETDEL", "k")]),
    "set-get": ([("SET", "k", "1")], [("SET", "k", "2", "GET")]),
    "incr": ([("SET", "k", "1")], [("INCR", "k")]),
    "incrbyfloat": ([("SET", "k", "1")], [("INCRBYFLOAT", "k", "1")]),
    "append": ([("SET", "k", "1")], [("APPEND", "k", "x")]),
    "append-empty": ([("SET", "k", "1")], [("APPEND", "k", "")]),
    "setrange": ([("SET", "k", "1")], [("SETRANGE", "k", "0", "x")]),
    "mset": ([("SET", "k", "1")], [("MSET", "other", "1", "k", "2")]),
    "expire": ([("SET", "k", "1")], [("EXPIRE", "k", "100")]),
    "expire-past": ([("SET", "k", "1")], [("EXPIRE", "k", "-1")]),
    "persist": ([("SET", "k", "1", "EX", "100")], [("PERSIST", "k")]),
    "getex-persist": ([("SET", "k", "1", "EX", "100")], [("GETEX", "k", "PERSIST")]),
    "rename-onto": ([("SET", "k", "1"), ("SET", "j", "2")], [("RENAME", "j", "k")]),
    "rename-onto-missing": ([("SET", "j", "2")], [("RENAME", "j", "k")]),
    "rename-away": ([("SET", "k", "1")], [("RENAME", "k", "j")]),
    "copy-onto": ([("SET", "j", "2")], [("COPY", "j", "k")]),
    "move-away": ([("SET", "k", "1")], [("MOVE", "k", "1")]),
    "move-in": ([("SELECT", "1"), ("SET", "k", "1")], [("SELECT", "1"), ("MOVE", "k", "0")]),
    "flushdb": ([("SET", "k", "1")], [("FLUSHDB",)]),
    "flushall": ([("SET", "k", "1")], [("FLUSHALL",)]),
    "swapdb": ([("SET", "k", "1")], [("SWAPDB", "0", "1")]),
    "swapdb-brings-it": ([("SELECT", "1"), ("SET", "k", "1")], [("SWAPDB", "1", "0")]),
}

# commands that touch the watched key without changing it, or change other things
NOT_MODIFYING = {
    "get": ([("SET", "k", "1")], [("GET", "k"), ("EXISTS", "k"), ("TTL", "k"), ("TYPE", "k"), ("MGET", "k", "j")]),
    "touch": ([("SET", "k", "1")], [("TOUCH", "k")]),
    "other-key": ([("SET", "k", "1")], [("SET", "j", "2"), ("DEL", "x")]),
    "other-db": ([("SET", "k", "1")], [("SELECT", "1"), ("SET", "k", "2"), ("DEL", "k")]),
    "del-missing": ([], [("DEL", "k")]),
    "incr-fails": ([("SET", "k", "x")], [("INCR", "k")]),
    "setnx-fails": ([("SET", "k", "x")], [("SETNX", "k", "y"), ("SET", "k", "y", "NX")]),
    "set-xx-missing": ([], [("SET", "k", "y", "XX")]),
    "msetnx-fails": ([("SET", "k", "1")], [("MSETNX", "a", "1", "k", "2")]),
    "renamenx-fails": ([("SET", "k", "1"), ("SET", "j", "2")], [("RENAMENX", "j", "k")]),
    "expire-missing": ([], [("EXPIRE", "k", "10")]),
    "expire-gt-fails": ([("SET", "k", "1", "EX", "100")], [("EXPIRE", "k", "10", "GT")]),
    "persist-no-ttl": ([("SET", "k", "1")], [("PERSIST", "k")]),
    "getex-plain": ([("SET", "k", "1")], [("GETEX", "k")]),
    "setrange-empty": ([("SET", "k", "1")], [("SETRANGE", "k", "0", "")]),
    "flushdb-without-key": ([("SET", "x", "1")], [("FLUSHDB",)]),
    "flushall-without-key": ([("SET", "x", "1")], [("FLUSHALL",)]),
    "flushall-key-only-elsewhere": ([("SELECT", "1"), ("SET", "k", "1")], [("FLUSHALL",)]),
    "swapdb-without-key": ([("SET", "x", "1")], [("SWAPDB", "0", "1")]),
    "swapdb-other-dbs": ([("SET", "k", "1")], [("SWAPDB", "2", "1")]),
}


def watch_case(r, server, setup, modify):
    other = server.conn()
    for cmd in setup:
        assert not isinstance(other.cmd(*cmd), Error)
    other.cmd("SELECT", "0")
    assert r.raw("WATCH", "k") == b"+OK\r\n"
    for cmd in modify:
        other.cmd(*cmd)                          # some are meant to fail
    other.close()
    return exec_after_watch(r)


@pytest.mark.parametrize("case", sorted(MODIFYING))
def test_watched_key_modified_by_another_client_aborts(r, server, case):
    assert watch_case(r, server, *MODIFYING[case]) == ABORTED
    assert exec_after_watch(r) == RAN        # EXEC unwatched everything, even when aborted


@pytest.mark.parametrize("case", sorted(NOT_MODIFYING))
def test_watched_key_not_modified_runs(r, server, case):
    assert watch_case(r, server, *NOT_MODIFYING[case]) == RAN


def test_watch_and_unwatch_replies(r):
    assert r.raw("WATCH", "a") == b"+OK\r\n"
    assert r.raw("WATCH", "a", "b", "a", *KEYS) == b"+OK\r\n"
    assert r.raw("UNWATCH") == b"+OK\r\n"
    assert r.raw("UNWATCH") == b"+OK\r\n"
    r.cmd("HELLO", "3")
    assert r.raw("WATCH", "a") == b"+OK\r\n"
    assert r.raw("UNWATCH") == b"+OK\r\n"


def test_aborted_exec_resp3_is_null(r, server):
    r.cmd("HELLO", "3")
    r.cmd("WATCH", "k")
    server.conn().cmd("SET", "k", "1")
    r.cmd("MULTI")
    assert r.raw("SET", "k", "mine") == b"+QUEUED\r\n"
    assert r.raw("EXEC") == b"_\r\n"
    assert r.cmd("GET", "k") == b"1"


def test_aborted_exec_runs_nothing(r, server):
    r.cmd("WATCH", "k")
    server.conn().cmd("SET", "k", "theirs")
    r.cmd("MULTI")
    r.cmd("SET", "k", "mine")
    r.cmd("MSET", *[x for k in KEYS for x in (k, "v")])
    r.cmd("SELECT", "1")
    assert r.raw("EXEC") == ABORTED
    assert r.cmd("GET", "k") == b"theirs"        # still db 0: SELECT did not run either
    assert r.cmd("EXISTS", *KEYS) == 0


def test_own_modifications(r):
    r.cmd("SET", "k", "1")
    r.cmd("WATCH", "k")                          # modified before WATCH: fine
    assert exec_after_watch(r) == RAN
    r.cmd("WATCH", "k")
    r.cmd("SET", "k", "2")                       # modified by the watcher itself after WATCH: aborts
    assert exec_after_watch(r) == ABORTED
    r.cmd("WATCH", "k")
    r.cmd("MULTI")
    r.cmd("SET", "k", "3")                       # modified inside the transaction: fine
    r.cmd("GET", "k")
    assert r.raw("EXEC") == b"*2\r\n+OK\r\n$1\r\n3\r\n"


def test_unwatch_clears(r, server):
    other = server.conn()
    r.cmd("WATCH", "k", "j")
    assert r.raw("UNWATCH") == b"+OK\r\n"
    other.cmd("SET", "k", "1")
    other.cmd("SET", "j", "1")
    assert exec_after_watch(r) == RAN


def test_pipelined_watch_then_unwatch_leaves_nothing_watched(server):
    """WATCH k and UNWATCH in one write: k is no longer watched anywhere, so a later WATCH
    of another key of k's shard is not failed by a change of k. The forgetting used to go
    to k's shard ahead of the WATCH (pushed on the ring at once, while the WATCH waited in
    the pass's batch), leaving k watched until the client closed. Connections alternate
    between the workers, and the tags cover every shard."""
    other = server.conn()
    for tag in key_on_each_shard("watchtag", 2):
        for _ in range(2):
            c = server.conn()
            first, second = "{%s}first" % tag, "{%s}second" % tag
            assert c.pipeline([("WATCH", first), ("UNWATCH",)]) == ["OK", "OK"]
            c.cmd("WATCH", second)
            other.cmd("SET", first, "changed")
            assert exec_after_watch(c) == RAN
            c.close()


def test_unwatch_inside_multi_is_too_late(r, server):
    r.cmd("WATCH", "k")
    server.conn().cmd("SET", "k", "1")
    r.cmd("MULTI")
    assert r.raw("UNWATCH") == b"+QUEUED\r\n"
    assert r.raw("EXEC") == ABORTED


def test_exec_and_discard_unwatch(r, server):
    other = server.conn()
    r.cmd("WATCH", "k")
    assert exec_after_watch(r) == RAN
    other.cmd("SET", "k", "1")
    assert exec_after_watch(r) == RAN
    r.cmd("WATCH", "k")
    r.cmd("MULTI")
    assert r.raw("DISCARD") == b"+OK\r\n"
    other.cmd("SET", "k", "2")
    assert exec_after_watch(r) == RAN
    # EXECABORT unwatches too
    r.cmd("WATCH", "k")
    r.cmd("MULTI")
    r.cmd("NOPE")
    assert r.raw("EXEC") == EXECABORT
    other.cmd("SET", "k", "3")
    assert exec_after_watch(r) == RAN


def test_exec_or_discard_without_multi_keep_watches(r, server):
    other = server.conn()
    r.cmd("WATCH", "k")
    assert r.raw("EXEC") == b"-ERR EXEC without MULTI\r\n"
    other.cmd("SET", "k", "1")
    assert exec_after_watch(r) == ABORTED
    r.cmd("WATCH", "k")
    assert r.raw("DISCARD") == b"-ERR DISCARD without MULTI\r\n"
    other.cmd("SET", "k", "2")
    assert exec_after_watch(r) == ABORTED


def test_queue_error_beats_dirty_watch(r, server):
    r.cmd("WATCH", "k")
    server.conn().cmd("SET", "k", "1")
    r.cmd("MULTI")
    r.cmd("NOPE")
    assert r.raw("EXEC") == EXECABORT


def test_watch_is_bound_to_the_db_at_watch_time(r, server):
    other = server.conn()
    r.cmd("SELECT", "1")
    r.cmd("WATCH", "k")
    r.cmd("SELECT", "0")
    other.cmd("SELECT", "1")
    other.cmd("SET", "k", "1")
    assert exec_after_watch(r) == ABORTED
    r.cmd("SELECT", "1")
    r.cmd("WATCH", "k")
    other.cmd("SELECT", "0")
    other.cmd("SET", "k", "1")
    assert exec_after_watch(r) == RAN
    r.cmd("WATCH", "k")
    other.cmd("SWAPDB", "0", "1")                # brings db 0's "k" into db 1
    assert exec_after_watch(r) == ABORTED


def test_watch_missing_key_then_created(r, server):
    r.cmd("WATCH", "k")
    assert server.conn().raw("SETNX", "k", "1") == b":1\r\n"
    assert exec_after_watch(r) == ABORTED


def test_two_watchers_first_commit_wins(r, server):
    r.cmd("SET", "k", "0")
    second = server.conn()
    for c in (r, second):
        assert c.raw("WATCH", "k") == b"+OK\r\n"
        assert c.cmd("GET", "k") == b"0"
    r.cmd("MULTI")
    r.cmd("SET", "k", "first")
    assert r.raw("EXEC") == b"*1\r\n+OK\r\n"
    second.cmd("MULTI")
    second.cmd("SET", "k", "second")
    assert second.raw("EXEC") == ABORTED
    assert r.cmd("GET", "k") == b"first"


def test_watched_key_expires(r, server):
    """A key that expires between WATCH and EXEC aborts, whether or not anyone looked at it meanwhile."""
    other = server.conn()
    for look in (True, False):
        ttl = 100
        while True:
            other.cmd("SET", "k", "v", "PX", ttl)
            r.cmd("WATCH", "k")
            if r.cmd("PTTL", "k") > 0:           # it was alive when watched
                break
            r.cmd("UNWATCH")
            ttl *= 2
        deadline = time.monotonic() + ttl / 1000.0
        if look:
            wait_until(lambda: other.cmd("EXISTS", "k") == 0, message="k to expire")
        else:
            wait_until(lambda: time.monotonic() > deadline + 0.05, message="k's deadline")
        assert exec_after_watch(r) == ABORTED


def test_watched_key_with_ttl_not_yet_expired(r):
    r.cmd("SET", "k", "v", "EX", "100")
    r.cmd("WATCH", "k")
    assert exec_after_watch(r) == RAN


def test_watch_many_keys_across_shards(r, server):
    other = server.conn()
    r.cmd("MSET", *[x for k in KEYS for x in (k, "0")])
    for i in (0, 17, 37, 50):
        r.cmd("WATCH", *KEYS)
        other.cmd("INCR", KEYS[i])
        assert exec_after_watch(r) == ABORTED, KEYS[i]
    r.cmd("WATCH", *KEYS)
    other.cmd("MSET", *[x for i in range(100) for x in ("unwatched:%d" % i, "1")])
    r.cmd("MULTI")
    r.cmd("MGET", *KEYS)
    expected = [b"1" if i in (0, 17, 37, 50) else b"0" for i in range(len(KEYS))]
    assert r.cmd("EXEC") == [expected]


# ---------------------------------------------------------------- RESET, CLIENT LIST, disconnects

def test_reset_discards_multi_and_watches(r, server):
    other = server.conn()
    r.cmd("WATCH", "k")
    r.cmd("MULTI")
    r.cmd("SET", "a", "1")
    assert r.raw("RESET") == b"+RESET\r\n"
    assert r.raw("EXEC") == b"-ERR EXEC without MULTI\r\n"
    assert r.raw("EXISTS", "a") == b":0\r\n"
    other.cmd("SET", "k", "1")
    assert exec_after_watch(r) == RAN


def test_client_list_multi_field(r, server):
    observer = server.conn()
    cid = r.cmd("CLIENT", "ID")
    fields = client_fields(observer, cid)
    assert (fields["flags"], fields["multi"]) == ("N", "-1")
    r.cmd("MULTI")
    fields = client_fields(observer, cid)
    assert (fields["flags"], fields["multi"]) == ("x", "0")
    r.cmd("SET", "a", "1")
    r.cmd("GET", "a")
    r.cmd("PING")
    fields = client_fields(observer, cid)
    assert (fields["flags"], fields["multi"]) == ("x", "3")
    r.cmd("EXEC")
    fields = client_fields(observer, cid)
    assert (fields["flags"], fields["multi"]) == ("N", "-1")
    r.cmd("MULTI")
    r.cmd("GET", "a")
    r.cmd("DISCARD")
    assert client_fields(observer, cid)["multi"] == "-1"


def test_disconnect_mid_transaction_has_no_effect(server):
    observer = server.conn()
    observer.cmd("FLUSHALL")
    for tail in (b"", b"*1\r\n$4\r\nEX"):          # closed before EXEC, or in the middle of it
        c = server.conn()
        cid = c.cmd("CLIENT", "ID")
        c.cmd("MULTI")
        c.cmd("SET", "a", "1")
        c.cmd("MSET", *[x for k in KEYS for x in (k, "v")])
        c.cmd("FLUSHALL")
        c.send_raw(tail)
        c.close()
        wait_gone(observer, cid)
        assert observer.raw("EXISTS", "a", *KEYS) == b":0\r\n"
    assert observer.raw("PING") == b"+PONG\r\n"


def test_client_killed_mid_transaction(server):
    observer = server.conn()
    observer.cmd("FLUSHALL")
    victim = server.conn()
    cid = victim.cmd("CLIENT", "ID")
    victim.cmd("WATCH", *KEYS)
    victim.cmd("MULTI")
    victim.cmd("MSET", *[x for k in KEYS for x in (k, "v")])
    assert observer.raw("CLIENT", "KILL", "ID", cid) == b":1\r\n"
    assert victim.is_closed()
    wait_gone(observer, cid)
    assert observer.raw("EXISTS", *KEYS) == b":0\r\n"


def test_watcher_disconnect_does_not_affect_others(server):
    observer = server.conn()
    observer.cmd("FLUSHALL")
    watchers = [server.conn() for _ in range(4)]
    ids = [w.cmd("CLIENT", "ID") for w in watchers]
    for w in watchers:
        w.cmd("WATCH", "k", *KEYS)
    watchers[0].cmd("MULTI")
    watchers[0].cmd("SET", "k", "w0")
    for w in watchers[:2]:
        w.close()
    observer.cmd("SET", "k", "x")               # while the closed watchers may still be registered
    for cid in ids[:2]:
        wait_gone(observer, cid)
    observer.cmd("MSET", *[x for k in KEYS for x in (k, "y")])
    assert observer.cmd("GET", "k") == b"x"
    # the remaining watchers are still watching (and see the change)...
    assert exec_after_watch(watchers[2]) == ABORTED
    # ...and a fresh watcher is unaffected by the departed ones
    fresh = server.conn()
    fresh.cmd("WATCH", "k", *KEYS)
    assert exec_after_watch(fresh) == RAN
    watchers[3].close()
    wait_gone(observer, ids[3])
    fresh.cmd("WATCH", "k")
    observer.cmd("DEL", "k")
    assert exec_after_watch(fresh) == ABORTED


# ---------------------------------------------------------------- concurrency: no half transactions

PAIRS = 16
INITIAL = 1000
DURATION = 1.2   # seconds of concurrent traffic per test
MAX_OPS = 3000   # per thread, so a fast server does not make the test long


def pair_keys(i):
    return "acct:a:%d" % i, "acct:b:%d" % i  # no hashtag: the two keys of most pairs live on different shards


class Traffic:
    """Runs worker functions in threads for DURATION seconds and collects their failures."""

    def __init__(self, server):
        self.server = server
        self.stop = threading.Event()
        self.failures = []
        self.counts = {}
        self.lock = threading.Lock()

    def count(self, name, n=1):
        with self.lock:
            self.counts[name] = self.counts.get(name, 0) + n

    def run(self, workers):
        def wrap(fn, seed):
            try:
                rng = random.Random(seed)
                for _ in range(MAX_OPS):
                    if self.stop.is_set():
                        break
                    fn(rng)
            except BaseException as e:  # noqa: B902 - reported to the main thread
                self.failures.append("%s: %r" % (fn.__name__, e))
                self.stop.set()
        threads = [threading.Thread(target=wrap, args=(fn, i), daemon=True) for i, fn in enumerate(workers)]
        for t in threads:
            t.start()
        self.stop.wait(DURATION)
        self.stop.set()
        for t in threads:
            t.join(30)
            assert not t.is_alive(), "worker thread stuck"
        assert not self.failures, self.failures


def setup_pairs(server):
    c = server.conn()
    c.cmd("FLUSHALL")
    c.cmd("MSET", *[x for i in range(PAIRS) for k in pair_keys(i) for x in (k, INITIAL)])
    return c


def check_totals(c):
    for i in range(PAIRS):
        a, b = c.cmd("MGET", *pair_keys(i))
        assert int(a) + int(b) == 2 * INITIAL, (i, a, b)


def transfer_writer(traffic):
    c = traffic.server.conn()

    def transfer(rng):
        a, b = pair_keys(rng.randrange(PAIRS))
        n = rng.randrange(1, 100)
        replies = c.pipeline([("MULTI",), ("DECRBY", a, n), ("INCRBY", b, n), ("EXEC",)])
        assert replies[:3] == ["OK", "QUEUED", "QUEUED"], replies
        after_a, after_b = replies[3]
        assert after_a + after_b == 2 * INITIAL, replies   # the transaction itself saw a consistent pair
        traffic.count("transfers")
    return transfer


def watch_writer(traffic):
    c = traffic.server.conn()

    def read_modify_write(rng):
        a, b = pair_keys(rng.randrange(PAIRS))
        while not traffic.stop.is_set():
            assert c.cmd("WATCH", a, b) == "OK"
            va, vb = int(c.cmd("GET", a)), int(c.cmd("GET", b))   # two reads: may straddle a transfer...
            n = rng.randrange(-50, 50)
            replies = c.pipeline([("MULTI",), ("SET", a, va - n), ("SET", b, vb + n), ("EXEC",)])
            assert replies[:3] == ["OK", "QUEUED", "QUEUED"], replies
            if replies[3] is not None:
                assert replies[3] == ["OK", "OK"]
                assert va + vb == 2 * INITIAL, (a, va, b, vb)      # ...but not if the WATCH held
                traffic.count("watch commits")
                return
            traffic.count("watch retries")
        c.cmd("UNWATCH")
    return read_modify_write


def mget_reader(traffic):
    c = traffic.server.conn()

    def read(rng):
        i = rng.randrange(PAIRS)
        a, b = c.cmd("MGET", *pair_keys(i))
        assert int(a) + int(b) == 2 * INITIAL, (i, a, b)
        traffic.count("reads")
    return read


def multi_reader(traffic):
    c = traffic.server.conn()

    def read(rng):
        i, j = rng.randrange(PAIRS), rng.randrange(PAIRS)
        replies = c.pipeline([("MULTI",), ("GET", pair_keys(i)[0]), ("MGET", *pair_keys(j)), ("GET", pair_keys(i)[1]),
                              ("EXEC",)])
        got_a, (b_a, b_b), got_b = replies[4]
        assert int(got_a) + int(got_b) == 2 * INITIAL, replies
        assert int(b_a) + int(b_b) == 2 * INITIAL, replies
        traffic.count("transaction reads")
    return read


def test_concurrent_transactions_are_atomic(server):
    c = setup_pairs(server)
    traffic = Traffic(server)
    traffic.run([transfer_writer(traffic), transfer_writer(traffic), watch_writer(traffic), watch_writer(traffic),
                 transfer_writer(traffic), mget_reader(traffic), mget_reader(traffic), multi_reader(traffic)])
    check_totals(c)
    assert traffic.counts.get("transfers", 0) > 10 and traffic.counts.get("watch commits", 0) > 10, traffic.counts
    assert traffic.counts.get("reads", 0) > 10, traffic.counts


def pipelined_writer(traffic):
    c = traffic.server.conn()

    def batch(rng):
        commands, checks = [], []
        for _ in range(8):
            i = rng.randrange(PAIRS)
            a, b = pair_keys(i)
            n = rng.randrange(1, 100)
            if rng.random() < 0.25:   # a blind WATCH in the pipeline: may abort, never half-applies
                commands.append(("WATCH", a, b))
                checks.append("watch")
            commands += [("MULTI",), ("INCRBY", a, n), ("DECRBY", b, n), ("EXEC",)]
            checks.append("tx")
            if rng.random() < 0.25:
                commands += [("MULTI",), ("MGET", a, b), ("EXEC",)]
                checks.append("read")
        c.send_raw(b"".join(encode(*cmd) for cmd in commands))
        for check in checks:
            if check == "watch":
                assert c.read() == "OK"
            elif check == "tx":
                replies = [c.read() for _ in range(4)]
                assert replies[:3] == ["OK", "QUEUED", "QUEUED"], replies
                if replies[3] is not None:
                    assert sum(replies[3]) == 2 * INITIAL, replies
                    traffic.count("transfers")
            else:
                replies = [c.read() for _ in range(3)]
                assert replies[:2] == ["OK", "QUEUED"], replies
                assert sum(int(v) for v in replies[2][0]) == 2 * INITIAL, replies
    return batch


def test_pipelined_transactions_are_atomic(server):
    c = setup_pairs(server)
    traffic = Traffic(server)
    traffic.run([pipelined_writer(traffic) for _ in range(4)] + [mget_reader(traffic), mget_reader(traffic)])
    check_totals(c)
    assert traffic.counts.get("transfers", 0) > 10, traffic.counts


def quitter(traffic):
    """Starts half a transfer (no INCRBY) and vanishes: none of it may ever become visible."""
    def quit_mid_transaction(rng):
        c = traffic.server.conn()
        a, b = pair_keys(rng.randrange(PAIRS))
        style = rng.randrange(3)
        if style == 0:
            c.send_raw(encode("MULTI") + encode("DECRBY", a, 1000000))
        elif style == 1:
            c.send_raw(encode("WATCH", a, b) + encode("MULTI") + encode("DECRBY", a, 1000000) + b"*1\r\n$4\r\nEXE")
        else:
            assert c.pipeline([("MULTI",), ("DECRBY", a, 1000000)]) == ["OK", "QUEUED"]
        c.close()
        traffic.count("quitters")
    return quit_mid_transaction


def test_clients_vanishing_mid_transaction_under_load(server):
    c = setup_pairs(server)
    traffic = Traffic(server)
    traffic.run([transfer_writer(traffic), watch_writer(traffic), pipelined_writer(traffic), mget_reader(traffic),
                 quitter(traffic), quitter(traffic)])
    check_totals(c)
    assert traffic.counts.get("quitters", 0) > 10, traffic.counts
    assert c.raw("PING") == b"+PONG\r\n"
