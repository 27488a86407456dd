"""Clients blocked on a key are served in the order Redis would serve them (issue 14).

Redis reads every command on one thread and, after each command, serves the clients the
command's writes made ready (processCommand -> handleClientsBlockedOnKeys). Two ways this
server departed from it, both seen as intermittent failures of Redis's tcl suite
(unit/type/list "BRPOPLPUSH with multiple blocked clients", "BRPOPLPUSH does not affect
WATCH while still blocked"):

1. Ready keys were served once per batch or loop pass, so a command run in between (a
   pipelined LPOP, another client's blocking pop) took the element a blocked client was owed.
   Deterministic, on one worker too: the pipelined tests below.
2. A blocking command read by one worker reaches a key owned by the other worker's shard a
   loop pass later than one the owner read itself, so the later one blocked first, or a push
   the owner read served the waiters before the earlier one arrived. Blocking requests now
   take a turn when read and wait in turn order, and a push waits for blocking parts other
   workers have already sent (test_a_blocking_pop_read_first_on_the_other_worker_*).
"""
import socket

import pytest

from support.differential import paired, same
from support.processes import REDIS_SERVER
from support.resp import Conn, Error, encode
from support.slots import key_on_each_shard, keys_on_two_shards
from support.streams import blocked_count
from support.waiting import wait_until

SERVER_ARGS = ("--enable-debug-command", "yes")


def blocked(conn):
    text = conn.cmd("INFO", "clients").decode()
    return int(text.split("blocked_clients:")[1].split("\r\n")[0])


def pipelined_after_a_blocked_client(port, setup, block, pipeline):
    """`block` sent on one connection and awaited blocked, then `pipeline` sent in one write
    on another: the pipeline's replies and the blocked client's reply."""
    waiter, writer = Conn(port), Conn(port)
    try:
        writer.cmd("FLUSHALL")
        for c in setup:
            writer.cmd(*c)
        waiter.send_raw(encode(*block))
        wait_until(lambda: blocked(writer) == 1, message="the client to block")
        replies = writer.pipeline(pipeline)
        waiter.sock.settimeout(5)
        try:
            served = waiter.read()
        except socket.timeout:
            served = "still blocked"
        return replies, served
    finally:
        waiter.close()
        writer.close()


@pytest.mark.skipif(REDIS_SERVER is None, reason="needs redis-server 7.0")
@pytest.mark.parametrize("setup,block,pipeline", [
    ((), ("BLPOP", "l", "0"), [("LPUSH", "l", "x"), ("LPOP", "l")]),
    ((), ("BRPOPLPUSH", "l", "{l}d", "0"), [("RPUSH", "l", "x", "y"), ("RPOP", "l"), ("LRANGE", "{l}d", "0", "-1")]),
    ((), ("BLMPOP", "0", "1", "l", "LEFT", "COUNT", "2"), [("RPUSH", "l", "a", "b", "c"), ("LPOP", "l", "5")]),
    ((), ("BZPOPMIN", "z", "0"), [("ZADD", "z", "1", "a"), ("ZPOPMIN", "z")]),
    ((("XGROUP", "CREATE", "s", "g", "$", "MKSTREAM"),), ("XREADGROUP", "GROUP", "g", "c1", "BLOCK", "0", "STREAMS", "s", ">"),
     [("XADD", "s", "1-1", "f", "v"), ("XREADGROUP", "GROUP", "g", "c2", "STREAMS", "s", ">")]),
], ids=["blpop", "brpoplpush", "blmpop", "bzpopmin", "xreadgroup"])
def test_a_blocked_client_is_served_before_the_next_pipelined_command(server, redis_port, setup, block, pipeline):
    """The command after the write finds the blocked client served (it gets nothing, or what
    is left), as in redis-server; before, it took the element and the client stayed blocked."""
    ours = pipelined_after_a_blocked_client(server.port, setup, block, pipeline)
    theirs = pipelined_after_a_blocked_client(redis_port, setup, block, pipeline)
    assert ours == theirs
    assert theirs[1] != "still blocked"


XREADGROUP_CASE = ((("XGROUP", "CREATE", "s", "g", "$", "MKSTREAM"),),
                   ("XREADGROUP", "GROUP", "g", "c1", "BLOCK", "0", "STREAMS", "s", ">"),
                   [("XADD", "s", "1-1", "f", "v"), ("XREADGROUP", "GROUP", "g", "c2", "STREAMS", "s", ">")])


@pytest.mark.skipif(REDIS_SERVER is None, reason="needs redis-server 7.0")
@pytest.mark.parametrize("idle", range(4))
def test_a_blocked_group_reader_is_served_before_a_pipelined_group_read_wherever_they_are(server, redis_port, idle):
    """The xreadgroup case above with 0-3 idle connections opened first, so the waiter and the
    writer land on each pair of workers (connections are handed out in turn). With the
    waiter on the stream's worker and the writer on the other, the non-blocking XREADGROUP
    pipelined after the XADD took the entry: it was counted among the blocking parts in
    flight, so the XADD's ready key was held for it, and it did not wait its turn."""
    idle_conns = [Conn(server.port) for _ in range(idle)]
    try:
        ours = pipelined_after_a_blocked_client(server.port, *XREADGROUP_CASE)
    finally:
        for c in idle_conns:
            c.close()
    theirs = pipelined_after_a_blocked_client(redis_port, *XREADGROUP_CASE)
    assert ours == theirs
    assert theirs[1] != "still blocked"


TWO_SHARD_LISTS = keys_on_two_shards("blocked:list")


@pytest.mark.skipif(REDIS_SERVER is None, reason="needs redis-server 7.0")
@pytest.mark.parametrize("block,push", [
    (("BLPOP", "l", "0"), ("LPUSH", "l", "x")),
    (("BLPOP", *TWO_SHARD_LISTS, "0"), ("LPUSH", TWO_SHARD_LISTS[1], "x")),
    (("BLMOVE", *TWO_SHARD_LISTS, "LEFT", "RIGHT", "0"), ("LPUSH", TWO_SHARD_LISTS[0], "x")),
    (("BZPOPMIN", "z", "0"), ("ZADD", "z", "1", "a")),
    (("XREAD", "BLOCK", "0", "STREAMS", "s", "$"), ("XADD", "s", "1-1", "f", "v")),
], ids=["blpop", "blpop-two-shards", "blmove-two-shards", "bzpopmin", "xread"])
@pytest.mark.parametrize("idle", range(2))
def test_a_command_pipelined_after_a_blocking_one_waits_for_it(server, redis_port, block, push, idle):
    """A blocked client runs nothing more until it is served, as in Redis: the SET sent
    behind the blocking command in the same write has not run while it waits. With 0 or 1
    idle connection opened first, the blocking command runs on either worker, its key's
    and the other. Before, a blocking command whose key was on the other worker's shard
    let the client's next commands run at once."""
    def run(port):
        idle_conns = [Conn(port) for _ in range(idle)]
        waiter, other = Conn(port), Conn(port)
        try:
            other.cmd("FLUSHALL")
            waiter.send_raw(encode(*block) + encode("SET", "after", "1"))
            wait_until(lambda: blocked(other) == 1, message="the client to block")
            while_blocked = other.cmd("GET", "after")
            other.cmd(*push)
            return while_blocked, waiter.read(), waiter.read(), other.cmd("GET", "after")
        finally:
            for c in idle_conns + [waiter, other]:
                c.close()
    ours, theirs = run(server.port), run(redis_port)
    assert ours == theirs
    assert theirs[0] is None and theirs[3] == b"1"


@pytest.mark.parametrize("shard", range(2))
@pytest.mark.parametrize("idle", range(2))
def test_a_client_killed_while_its_blocking_pop_travels_leaves_no_waiter(server, idle, shard):
    """A BLPOP whose part waits in the ring of a sleeping worker (DEBUG SLEEP) when its
    client is killed: the part blocks once it runs, and the wait is cancelled then (the kill
    found none to cancel). Before, the waiter stayed and took the next pushed element for
    nobody. Connections go to the workers in turn: with 0 or 1 idle one first, and a key
    on either shard, the sleeper's worker owns the key in some of the four cases; the
    pusher is on the popper's worker, so its push reaches the key's shard after the pop."""
    key = key_on_each_shard("killed:list", 2)[shard]
    idle_conns = [Conn(server.port) for _ in range(idle)]
    sleeper, popper, spare, pusher = (Conn(server.port) for _ in range(4))
    try:
        pusher.cmd("DEL", key)
        popper_id = popper.cmd("CLIENT", "ID")
        sleeper.send_raw(encode("DEBUG", "SLEEP", "0.3"))
        popper.send_raw(encode("BLPOP", key, "0"))
        assert pusher.cmd("CLIENT", "KILL", "ID", popper_id) == 1
        assert sleeper.read() == "OK"
        assert pusher.cmd("LPUSH", key, "x") == 1
        assert pusher.cmd("LLEN", key) == 1
    finally:
        for c in idle_conns + [sleeper, popper, spare, pusher]:
            c.close()

def test_brpoplpush_with_multiple_blocked_clients_pipelined(server, redis_port):
    """unit/type/list's "BRPOPLPUSH with multiple blocked clients" with the push and the second
    client's BRPOPLPUSH arriving together: the first waiter is answered WRONGTYPE (its
    destination is a string) before the second command runs, which then takes the element."""
    out = []
    for port in (server.port, redis_port):
        r, rd1, rd2 = Conn(port), Conn(port), Conn(port)
        r.cmd("FLUSHALL")
        r.cmd("SET", "target1{t}", "nolist")
        rd1.send_raw(encode("BRPOPLPUSH", "blist{t}", "target1{t}", "0"))
        wait_until(lambda: blocked(r) == 1, message="rd1 to block")
        # LPUSH and rd2's command in one write on one connection: they run back to back.
        rd2.send_raw(encode("LPUSH", "blist{t}", "foo") + encode("BRPOPLPUSH", "blist{t}", "target2{t}", "0"))
        rd1.sock.settimeout(5)
        out.append((type(rd1.read()), rd2.read(), rd2.read(), r.cmd("LRANGE", "target2{t}", "0", "-1")))
        for c in (r, rd1, rd2):
            c.close()
    assert out[0] == out[1] == (Error, 1, b"foo", [b"foo"])


class Placed:
    """Connections on a chosen worker of a two-worker server no one else connects to:
    worker 0 hands accepted connections to workers 0 and 1 in turn. 'owner' is the worker
    owning the shard of the {t} keys, 'other' the other one; found with DEBUG SLEEP (while
    one worker sleeps, a GET of a {t} key answers only from the owner, if awake)."""

    def __init__(self, port):
        self.port = port
        first, second = Conn(port), Conn(port)
        first.cmd("PING")
        second.cmd("PING")
        first.send_raw(encode("DEBUG", "SLEEP", "0.5"))
        second.sock.settimeout(0.25)
        try:
            second.cmd("GET", "probe{t}")
            second_on_owner = True  # answered while the first one's worker slept
        except socket.timeout:
            second.sock.settimeout(10)
            second.read()
            second_on_owner = False
        assert first.read() == "OK"
        self.next_on_owner = not second_on_owner  # the next one lands where `first` is
        first.close()
        second.close()

    def conn(self, where):
        spare = []
        while self.next_on_owner != (where == "owner"):
            spare.append(Conn(self.port))
            self.next_on_owner = not self.next_on_owner
        c = Conn(self.port)
        self.next_on_owner = not self.next_on_owner
        c.cmd("PING")  # registered on its worker before the next accept
        for s in spare:
            s.close()
        return c


def sleeping(conn, timeout=0.25):
    """True if `conn`'s worker does not answer a PING within `timeout` (it sleeps in DEBUG
    SLEEP); the PING's reply is then read once it wakes."""
    conn.sock.settimeout(timeout)
    try:
        conn.cmd("PING")
        return False
    except socket.timeout:
        return True
    finally:
        conn.sock.settimeout(10)


@pytest.mark.parametrize("pusher", ["owner", "other"])
def test_a_blocking_pop_read_first_on_the_other_worker_is_served_first(make_server, pusher):
    """A's BLPOP is read by the other worker, which then sleeps before sending it on (DEBUG
    SLEEP read in the same pass); B's BLPOP, read later by the owner of the key, blocks at
    once, and a push follows. Redis serves A first, the client whose command it read first:
    so does this server, B waiting in A's wake (A's turn is earlier, and the push waits for
    the blocking part the other worker has sent). Before, B got the element and A stayed
    blocked. The push comes from a connection on either worker."""
    s = make_server("--threads", "2", "--shards", "2", "--enable-debug-command", "yes")
    placed = Placed(s.port)
    a, z, y, probe1, probe2 = (placed.conn("other") for _ in range(5))
    b, push = placed.conn("owner"), placed.conn(pusher)
    # The other worker sleeps (Z); A's BLPOP and Y's DEBUG SLEEP arrive meanwhile and are
    # read in one pass when it wakes: A's part then waits in the batch while Y's sleep runs.
    z.send_raw(encode("DEBUG", "SLEEP", "0.5"))
    wait_until(lambda: sleeping(probe1), message="the other worker to sleep in Z's DEBUG SLEEP")
    a.send_raw(encode("BLPOP", "q{t}", "0"))
    y.send_raw(encode("DEBUG", "SLEEP", "1"))
    assert z.read() == "OK"
    wait_until(lambda: sleeping(probe2), message="the other worker to sleep in Y's DEBUG SLEEP")
    b.send_raw(encode("BLPOP", "q{t}", "0"))
    if pusher == "owner":
        assert push.cmd("RPUSH", "q{t}", "first") == 1
    else:
        push.send_raw(encode("RPUSH", "q{t}", "first"))
    a.sock.settimeout(10)
    assert a.read() == [b"q{t}", b"first"]
    if pusher == "other":
        assert push.read() == 1
    assert y.read() == "OK" and probe1.read() == "PONG" and probe2.read() == "PONG"
    wait_until(lambda: blocked_count(s) == 1, message="B still blocked")
    assert push.cmd("RPUSH", "q{t}", "second") == 1
    assert b.read() == [b"q{t}", b"second"]
    for c in (a, z, y, probe1, probe2, b, push):
        c.close()


def test_a_blocking_pop_sent_first_but_not_yet_read_is_served_first(make_server):
    """unit/type/list's "BRPOPLPUSH with multiple blocked clients" when the first client's
    command waits unread in its socket: its worker (the other one) is busy in DEBUG SLEEP
    while the second client's BRPOPLPUSH and the push reach the key's owner, which reads and
    runs both. Redis reads the first command first: the first client is answered WRONGTYPE
    (its destination is a string) and the second takes the element. Here the owner holds
    the key until the other worker has read its sockets, and the waiters are ordered by the
    kernel's receive time. Before, the second client got the element at once and the first
    stayed blocked (the upstream test hung 1 run in 2)."""
    s = make_server("--threads", "2", "--shards", "2", "--enable-debug-command", "yes")
    placed = Placed(s.port)
    rd1, sleeper, probe = (placed.conn("other") for _ in range(3))
    rd2, r = placed.conn("owner"), placed.conn("owner")
    r.cmd("SET", "target1{t}", "nolist")
    sleeper.send_raw(encode("DEBUG", "SLEEP", "1"))
    wait_until(lambda: sleeping(probe), message="the other worker to sleep")
    rd1.send_raw(encode("BRPOPLPUSH", "blist{t}", "target1{t}", "0"))
    rd2.send_raw(encode("BRPOPLPUSH", "blist{t}", "target2{t}", "0"))
    assert r.cmd("LPUSH", "blist{t}", "foo") == 1
    rd1.sock.settimeout(10)
    first = rd1.read()
    assert isinstance(first, Error) and str(first).startswith("WRONGTYPE")
    assert rd2.read() == b"foo"
    assert r.cmd("LRANGE", "target2{t}", "0", "-1") == [b"foo"]
    assert sleeper.read() == "OK" and probe.read() == "PONG"
    for c in (rd1, sleeper, probe, rd2, r):
        c.close()


@pytest.mark.parametrize("placement", [("other", "owner"), ("owner", "other"), ("other", "other"), ("owner", "owner")])
def test_blocked_clients_on_both_workers_served_in_blocking_order(make_server, placement):
    """Waiters from connections on either worker, each blocked (awaited in INFO) before the
    next: one push of several elements serves them in the order they blocked, across kinds
    (BLPOP, BRPOPLPUSH, BLMPOP, BLMOVE), and a BRPOPLPUSH whose destination holds a string
    is answered WRONGTYPE in its turn without taking an element."""
    s = make_server("--threads", "2", "--shards", "2", "--enable-debug-command", "yes")
    placed = Placed(s.port)
    r = placed.conn("owner")
    r.cmd("SET", "str{t}", "x")
    commands = [("BRPOPLPUSH", "l{t}", "str{t}", "0"), ("BLPOP", "l{t}", "0"),
                ("BRPOPLPUSH", "l{t}", "d1{t}", "0"), ("BLMPOP", "0", "1", "l{t}", "LEFT", "COUNT", "2"),
                ("BLMOVE", "l{t}", "d2{t}", "LEFT", "RIGHT", "0"), ("BRPOP", "l{t}", "0")]
    waiters = []
    for i, command in enumerate(commands):
        c = placed.conn(placement[i % 2])
        c.send_raw(encode(*command))
        waiters.append(c)
        wait_until(lambda: blocked_count(s) == i + 1, message="waiter %d to block" % i)
    assert r.cmd("RPUSH", "l{t}", "1", "2", "3", "4", "5", "6") == 6
    replies = [w.read() for w in waiters]
    assert isinstance(replies[0], Error) and str(replies[0]).startswith("WRONGTYPE")
    # As redis-server 7.0 answers the same sequence.
    assert replies[1:] == [[b"l{t}", b"1"], b"6", [b"l{t}", [b"2", b"3"]], b"4", [b"l{t}", b"5"]]
    assert r.cmd("LRANGE", "d1{t}", "0", "-1") == [b"6"] and r.cmd("LRANGE", "d2{t}", "0", "-1") == [b"4"]
    for c in waiters + [r]:
        c.close()


@pytest.mark.parametrize("pop", [("LPOP", "l{t}"), ("RPOPLPUSH", "l{t}", "d{t}"), ("LRANGE", "l{t}", "0", "-1")],
                         ids=["lpop", "rpoplpush", "lrange"])
def test_a_command_after_the_push_waits_while_the_owner_holds_the_key(make_server, pop):
    """A client blocked on a list, then a push and a non-blocking command on the same key
    pipelined by another client, while the other worker is busy (DEBUG SLEEP) and so has not
    read its sockets: the key's owner holds the key's waiters until it has (a blocking
    request sent before the push could wait unread there). Redis serves the blocked client
    right after the push, so the pipelined command sees the list without the element. Here
    it waits for the hold to end, as it would wait for a transaction's lock; before, it ran
    during the hold and took (or saw) the element the blocked client was owed."""
    s = make_server("--threads", "2", "--shards", "2", "--enable-debug-command", "yes")
    placed = Placed(s.port)
    sleeper, probe = placed.conn("other"), placed.conn("other")
    waiter, writer = placed.conn("owner"), placed.conn("owner")
    waiter.send_raw(encode("BLPOP", "l{t}", "0"))
    wait_until(lambda: blocked_count(s) == 1, message="the client to block")
    sleeper.send_raw(encode("DEBUG", "SLEEP", "1"))
    wait_until(lambda: sleeping(probe), message="the other worker to sleep")
    replies = writer.pipeline([("RPUSH", "l{t}", "x"), pop])
    waiter.sock.settimeout(10)
    assert waiter.read() == [b"l{t}", b"x"]
    assert replies == [1, None if pop[0] != "LRANGE" else []]
    assert sleeper.read() == "OK" and probe.read() == "PONG"
    for c in (sleeper, probe, waiter, writer):
        c.close()


@pytest.mark.parametrize("kind", ["blpop", "bzpopmin"])
def test_a_pop_over_several_shards_queues_behind_a_held_keys_waiters(make_server, kind):
    """Rule 5's case for a blocking pop whose keys live on two shards: its part on the held
    key's shard promises nothing while the key waits for its blocked client, and blocks in
    turn instead. The first waiter gets the element; the later pop stays blocked until the
    next push. Before, its promise took the element during the hold."""
    from support.slots import slot
    s = make_server("--threads", "2", "--shards", "2", "--enable-debug-command", "yes")
    placed = Placed(s.port)
    sleeper, probe = placed.conn("other"), placed.conn("other")
    waiter, writer, later = placed.conn("owner"), placed.conn("owner"), placed.conn("owner")
    elsewhere = next("k%d" % i for i in range(100) if slot("k%d" % i) % 2 != slot("t") % 2)
    push, pop = (("RPUSH", "q{t}"), "BLPOP") if kind == "blpop" else (("ZADD", "q{t}", "1"), "BZPOPMIN")
    waiter.send_raw(encode(pop, "q{t}", "0"))
    wait_until(lambda: blocked_count(s) == 1, message="the first client to block")
    sleeper.send_raw(encode("DEBUG", "SLEEP", "1"))
    wait_until(lambda: sleeping(probe), message="the other worker to sleep")
    writer.send_raw(encode(*push, "x"))
    later.send_raw(encode(pop, "q{t}", elsewhere, "0"))
    waiter.sock.settimeout(10)
    first = waiter.read()
    assert first[:2] == [b"q{t}", b"x"]
    assert writer.read() == 1
    assert sleeper.read() == "OK" and probe.read() == "PONG"
    wait_until(lambda: blocked_count(s) == 1, message="the later pop still blocked")
    assert writer.cmd(*push, "y") == 1
    later.sock.settimeout(10)
    assert later.read()[:2] == [b"q{t}", b"y"]
    for c in (sleeper, probe, waiter, writer, later):
        c.close()
