"""A client that ends its connection while some of what it sent still waits to run or to be
answered (Runtime/HangUps.swift): redis-server runs a pipeline as it reads it, so everything
sent before the end runs there, and a client that only shut its side (`nc`) reads every
reply. Here commands may still wait behind a multi-shard operation that pauses their client
(SUNIONSTORE of sets on two shards), or have replies on their way from the other worker,
when the end arrives. Each case runs on ValKeyper with two shards and on redis-server 7.0
and compares what ran and what was answered; each runs several times, since the end may
arrive before or after the pausing operation finished."""
import random
import socket
import struct

import pytest

from support.processes import shards
from support.resp import Conn, encode
from support.slots import keys_on_two_shards
from support.waiting import wait_until

ROUNDS = 10


@pytest.fixture(scope="module")
def servers():
    """ValKeyper on two shards (whatever VALKEYPER_TEST_SHARDS says: one shard pauses
    nobody) and redis-server, both with DEBUG (SLEEP stalls a worker)."""
    from support.processes import REDIS_SERVER, ServerProcess
    if REDIS_SERVER is None:
        pytest.skip("needs Debian's redis-server 7.0")
    ours = ServerProcess(*shards(2), "--enable-debug-command", "yes")
    theirs = ServerProcess("--save", "", "--enable-debug-command", "yes", binary=REDIS_SERVER)
    yield [ours, theirs]
    alive = ours.alive()
    ours.stop()
    theirs.stop()
    assert alive, "ValKeyper died"


def clients_connected(setup):
    info = setup.cmd("INFO", "clients").decode()
    return int(info.split("connected_clients:")[1].split("\r\n")[0])


def send_and_end(port, commands, end, stall=False):
    """Sends `commands` in one write and ends the connection: `half` shuts its write side
    (as `nc` does at the end of its input) and reads the replies until the server closes;
    `close` closes normally; `reset` reads the first reply, then closes with a reset
    (SO_LINGER 0). Returns the replies read.

    The first reply tells the server read the commands (one write, one small segment): a
    reset that comes first may make the kernel drop them unread, and redis-server then runs
    none of them (1 time in 20 here)."""
    sleeper = None
    if stall:
        # Connections are handed to the workers in turn: this one's worker, not the
        # client's, sleeps, and the client's multi-shard operation waits for its grant
        # there (redis-server sleeps whole: it reads the client afterwards).
        sleeper = Conn(port)
        sleeper.send_raw(encode("DEBUG", "SLEEP", "0.2"))
    c = Conn(port)
    c.send_raw(b"".join(encode(*x) for x in commands))
    if sleeper is not None:
        try:
            return end_connection(c, end)
        finally:
            assert sleeper.read() == "OK"
            sleeper.close()
    return end_connection(c, end)


def end_connection(c, end):
    """Ends `c` as `send_and_end` says; returns the replies read."""
    if end == "reset":
        first = c.read()
        c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        c.close()
        return [first]
    if end == "close":
        c.close()
        return []
    c.sock.shutdown(socket.SHUT_WR)
    replies = []
    try:
        while True:
            replies.append(c.read())
    except ConnectionError:  # closed by the server (a timeout raises socket.timeout)
        pass
    c.close()
    return replies


def run_case(server, round_, commands_for, end, stall=False):
    """One round on one server: fresh sets on two shards, `commands_for(a, b, counter, last)`
    sent and ended. Returns (replies, counter's value, SCARD a) once the last command ran,
    or once the connection is gone if the last command does not run."""
    setup = server.conn()
    a, b = keys_on_two_shards("hangup:%d" % round_)
    counter, last = "hangup:count:%d" % round_, "hangup:last:%d" % round_
    setup.cmd("DEL", a, b, counter, last, "hangup:empty")
    setup.cmd("SADD", a, "x")
    setup.cmd("SADD", b, "y")
    before = clients_connected(setup)
    commands = commands_for(a, b, counter, last)
    replies = send_and_end(server.port, commands, end, stall)
    runs_last = commands[-1][0] == "SET"
    if runs_last:
        wait_until(lambda: setup.cmd("GET", last) == b"done", timeout=10, message="the last command to run")
    # Nothing stays connected (nor waits forever, blocked or not).
    wait_until(lambda: clients_connected(setup) == before, timeout=10, message="the connection to close")
    state = (replies, setup.cmd("GET", counter), setup.cmd("SCARD", a))
    setup.close()
    return state


def pipeline_behind_pause(a, b, counter, last):
    return [("SUNIONSTORE", a, a, b)] + [("INCR", counter)] * 50 + [("SET", last, "done")]


@pytest.mark.parametrize("end", ["half", "close", "reset"])
def test_commands_sent_before_the_end_run(servers, end):
    """Everything sent behind the pausing operation runs; after a half-close every reply
    comes, in order, then the server closes."""
    for round_ in range(ROUNDS):
        ours, theirs = (run_case(s, round_, pipeline_behind_pause, end) for s in servers)
        assert ours == theirs
        assert ours[1:] == (b"50", 2)
        if end == "half":
            assert ours[0] == [2] + list(range(1, 51)) + ["OK"]


def test_a_reset_while_the_client_waits_for_its_operation(servers):
    """The client's operation waits for the other worker (asleep) when its peer resets:
    the commands behind it still run, on both servers."""
    def echo_first(a, b, counter, last):
        return [("ECHO", "first")] + pipeline_behind_pause(a, b, counter, last)
    for round_ in range(3):
        ours, theirs = (run_case(s, round_, echo_first, "reset", stall=True) for s in servers)
        assert ours == theirs == ([b"first"], b"50", 2)


def test_reply_of_the_last_command_comes_after_a_half_close(servers):
    """The pausing operation is the last command: its reply still comes."""
    def only_the_pause(a, b, counter, last):
        return [("SUNIONSTORE", a, a, b)]
    for round_ in range(ROUNDS):
        ours, theirs = (run_case(s, round_, only_the_pause, "half") for s in servers)
        assert ours == theirs == ([2], None, 2)


EMPTY_LISTS = keys_on_two_shards("hangup:empty")


@pytest.mark.parametrize("blocking", [("WAIT", "1", "0"), ("BLPOP", EMPTY_LISTS[0], "0"), ("BLPOP", EMPTY_LISTS[1], "0"),
                                      ("BLPOP", *EMPTY_LISTS, "0")],
                         ids=["wait", "blpop-shard-0", "blpop-shard-1", "blpop-both"])
def test_a_client_that_blocks_after_its_end_closes(servers, blocking):
    """A command run after the end that blocks (WAIT for a replica that is not there, BLPOP
    of an empty list, on either worker's shard or both) closes the connection once the
    replies before it went, as redis-server frees a blocked client when its read returns 0:
    what follows it does not run."""
    def then_block(a, b, counter, last):
        return [("SUNIONSTORE", a, a, b), ("INCR", counter), blocking, ("INCR", counter)]
    for round_ in range(ROUNDS):
        ours, theirs = (run_case(s, round_, then_block, "half") for s in servers)
        assert ours == theirs == ([2, 1], b"1", 2)


@pytest.mark.parametrize("pause", [True, False], ids=["behind-a-pause", "alone"])
def test_wait_answered_at_once_after_the_end(servers, pause):
    """WAIT 0 answers at once in Redis (it does not block), so what follows it runs: run
    after the end (behind a pause), or sent to the sequencer before the end was read."""
    def then_wait(a, b, counter, last):
        first = [("SUNIONSTORE", a, a, b)] if pause else []
        return first + [("INCR", counter), ("WAIT", "0", "0"), ("INCR", counter)]
    for round_ in range(ROUNDS):
        ours, theirs = (run_case(s, round_, then_wait, "half") for s in servers)
        assert ours == theirs == ([2, 1, 0, 2] if pause else [1, 0, 2], b"2", 2 if pause else 1)


def test_quit_behind_a_pause_then_reset(servers):
    """QUIT behind the pausing operation, then a reset before its reply: what came before
    runs and the connection goes (a closing client whose peer is gone leaves the loop)."""
    def quit_behind(a, b, counter, last):
        return [("SUNIONSTORE", a, a, b), ("INCR", counter), ("QUIT",)]
    for round_ in range(ROUNDS):
        ours, theirs = (run_case(s, round_, quit_behind, "reset") for s in servers)
        assert ours == theirs == ([2], b"1", 2)


MIXED = [("SUNIONSTORE", "{m}a", "{m}a", "{n}b"), ("INCR", "{m}c"), ("GET", "{n}b"), ("SET", "{m}s", "v"),
         ("WAIT", "0", "0"), ("WAIT", "1", "0"), ("BLPOP", "{n}none", "0.01"), ("BLPOP", "{m}none", "0"),
         ("COPY", "{m}a", "{n}c", "REPLACE"), ("RENAME", "{n}c", "{m}d"), ("PING",), ("MGET", "{m}s", "{n}b")]


@pytest.mark.parametrize("seed", range(2))
def test_random_pipelines_ended_every_way_leave_nothing_behind(servers, seed):
    """150 connections each send a random pipeline (moves and unions across shards, WAIT and
    BLPOP that block forever or not, sometimes a command cut short) and end it by a
    half-close, a close, or a reset before or after the first reply: every connection
    closes, nobody stays blocked, and the server answers."""
    ours = servers[0]
    rnd = random.Random(seed)
    setup = ours.conn()
    setup.cmd("SADD", "{m}a", "x")
    setup.cmd("SADD", "{n}b", "y")
    before = clients_connected(setup)
    for _ in range(150):
        seq = [rnd.choice(MIXED) for _ in range(rnd.randint(1, 30))]
        c = Conn(ours.port)
        c.send_raw(b"".join(encode(*x) for x in seq) + (b"*2\r\n$3\r\nGE" if rnd.random() < 0.3 else b""))
        end = rnd.choice(["half", "close", "reset", "first"])
        if end == "first" and seq[0] in (("WAIT", "1", "0"), ("BLPOP", "{m}none", "0")):
            end = "reset"  # no first reply would come
        if end == "half":
            c.sock.shutdown(socket.SHUT_WR)
            continue  # closed by the server, checked below
        if end == "first":
            c.read()
        if end in ("reset", "first"):
            c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        c.close()
    wait_until(lambda: clients_connected(setup) == before, timeout=20, message="every connection to close")
    info = setup.cmd("INFO", "clients").decode()
    assert "blocked_clients:0\r\n" in info
    assert setup.cmd("PING") == "PONG"
    setup.close()
