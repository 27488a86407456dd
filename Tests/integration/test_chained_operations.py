"""Pipelined cross-shard operations (chains): a client that pipelines transactions or
multi-key commands whose keys sit on several shards does not wait for each one before the
next starts, yet every command of it still takes effect in the order sent, on every shard,
for itself, for other clients and for replicas. With one shard these run inline and the
same assertions hold."""
import random
import threading

from support.marks import needs_redis
from support.processes import shards
from support.replication import replicas_of_both_kinds, same_data
from support.resp import Conn, encode
from support.slots import keys_on_two_shards
from support.waiting import wait_until


def transaction(*commands):
    return [("MULTI",)] + list(commands) + [("EXEC",)]


def run_until_stopped(threads, stop, seconds):
    """Runs the client threads for `seconds` or until one sets `stop`; none may be stuck."""
    for t in threads:
        t.start()
    stop.wait(seconds)
    stop.set()
    for t in threads:
        t.join(20)
        assert not t.is_alive(), "a client got stuck"


def test_pipelined_transactions_see_each_other_in_order(server):
    c = server.conn()
    a, b = keys_on_two_shards("chain:order")
    c.cmd("DEL", a, b)
    n = 60
    commands = []
    for _ in range(n):
        commands += transaction(("INCR", a), ("INCRBY", b, 2))
    commands += [("MGET", a, b)]
    replies = c.pipeline(commands)
    execs = [r for r in replies if isinstance(r, list)][:-1]
    assert execs == [[i, 2 * i] for i in range(1, n + 1)]
    assert replies[-1] == [b"%d" % n, b"%d" % (2 * n)]


def test_plain_commands_after_a_pipelined_transaction_run_after_it(server):
    c = server.conn()
    a, b = keys_on_two_shards("chain:plain")
    c.cmd("MSET", a, "0", b, "0")
    replies = c.pipeline(transaction(("SET", a, "t"), ("SET", b, "t"))
                         + [("GET", a), ("GET", b), ("SET", a, "after"), ("APPEND", b, "+")]
                         + transaction(("GET", a), ("GET", b)))
    assert replies[3] == ["OK", "OK"]
    assert replies[4:8] == [b"t", b"t", "OK", 2]
    assert replies[-1] == [b"after", b"t+"]


def test_commands_between_pipelined_transactions_see_exactly_those_before_them(server):
    """Lock groups: a client's pipelined cross-shard EXECs share one lock request while
    nothing else of the client comes between them. A read, a WATCH or a single-shard write
    between two of them closes the group, so it sees (or changes) the state after the first
    and before the second, on both shards; a transaction on one key more than the group's
    first joins it, one that only reads takes a lock of its own kind."""
    c = server.conn()
    a, b, x, y = keys_on_two_shards("chain:group", count=4)  # a and x on one shard, b and y on the other
    c.cmd("DEL", a, b, x, y)
    commands = []
    expected = []
    for i in range(1, 41):
        commands += transaction(("INCR", a), ("INCR", b))
        expected.append([2 * i - 1, 2 * i - 1])
        between = i % 4
        if between == 0:
            commands.append(("MGET", a, b))
            expected.append([b"%d" % (2 * i - 1)] * 2)
        elif between == 1:
            commands.append(("GET", b))
            expected.append(b"%d" % (2 * i - 1))
        elif between == 2:
            commands += [("WATCH", y)] + transaction(("GET", b), ("INCR", b), ("DECR", b))
            expected += ["OK", [b"%d" % (2 * i - 1), 2 * i, 2 * i - 1]]
        else:
            commands.append(("SET", y, str(i)))
            expected.append("OK")
        commands += transaction(("INCR", a), ("INCR", b), ("INCR", x))  # one key more, the same shards
        expected.append([2 * i, 2 * i, i])
        commands += transaction(("GET", a), ("GET", b), ("GET", x))  # reads only: a lock of another kind
        expected.append([b"%d" % (2 * i), b"%d" % (2 * i), b"%d" % i])
    replies = c.pipeline(commands)
    got = [r for r, cmd in zip(replies, commands) if cmd[0] in ("EXEC", "MGET", "GET", "SET", "WATCH")
           and not isinstance(r, str) or cmd[0] in ("SET", "WATCH")]
    assert got == expected


def test_pipelined_multi_key_commands_keep_their_order(server):
    c = server.conn()
    keys = keys_on_two_shards("chain:mset", 4)
    commands = []
    for i in range(50):
        commands.append(("MSET",) + tuple(x for k in keys for x in (k, str(i))))
        commands.append(("MGET",) + tuple(keys))
        commands.append(("DEL",) + tuple(keys[:2]))
        commands.append(("EXISTS",) + tuple(keys))
    replies = c.pipeline(commands)
    for i in range(50):
        assert replies[4 * i:4 * i + 4] == ["OK", [b"%d" % i] * 4, 2, 2]


def test_a_watch_set_behind_a_pipelined_transaction_still_guards_the_next_one(server):
    c, other = server.conn(), server.conn()
    a, b = keys_on_two_shards("chain:watch")
    c.cmd("MSET", a, "0", b, "0")
    # The WATCH comes after a transaction still in flight: its end must not drop the WATCH.
    replies = c.pipeline(transaction(("INCR", a), ("INCR", b)) + [("WATCH", a), ("GET", a)])
    assert replies[3] == [1, 1] and replies[4:] == ["OK", b"1"]
    assert other.cmd("SET", a, "changed") == "OK"
    assert c.pipeline(transaction(("SET", b, "x"))) == ["OK", "QUEUED", None]
    assert c.cmd("GET", b) == b"1"


def test_readers_never_see_a_pipelined_chain_half_applied(server):
    """Transfers pipelined 16 deep between two keys on different shards, read meanwhile by
    other clients with MGET (one at a time and pipelined), with GETs of one key then the
    other, and by transactions."""
    a, b = keys_on_two_shards("chain:bank")
    setup = server.conn()
    setup.cmd("MSET", a, "1000", b, "1000")
    stop = threading.Event()
    failures = []

    def writer():
        c = Conn(server.port)
        batch = b"".join(encode(*x) for x in transaction(("DECRBY", a, "7"), ("INCRBY", b, "7")) * 16)
        while not stop.is_set():
            c.send_raw(batch)
            for _ in range(16 * 4):
                c.read()

    def reader(kind):
        c = Conn(server.port)
        try:
            while not stop.is_set():
                if kind == "mget":
                    x, y = c.cmd("MGET", a, b)
                elif kind == "pipelined mget":
                    # Readers share their keys' locks: sixteen of them in a row, between
                    # writers queued on the same keys, still each see one state.
                    for x, y in c.pipeline([("MGET", a, b)] * 16):
                        assert int(x) + int(y) == 2000, (kind, x, y)
                else:
                    x, y = c.pipeline(transaction(("GET", a), ("GET", b)))[-1]
                assert int(x) + int(y) == 2000, (kind, x, y)
        except AssertionError as e:
            failures.append(e)
            stop.set()

    # Four writers and four readers for 2.5 s: a reader that slipped between the parts of
    # a chain (granted behind it while the chain's grants were still being acted on) showed
    # up in 6 runs of 10 with these numbers, in 1 of 15 with half as many clients.
    threads = [threading.Thread(target=writer, daemon=True) for _ in range(4)]
    threads += [threading.Thread(target=reader, args=(k,), daemon=True)
                for k in ("mget", "mget", "pipelined mget", "multi")]
    run_until_stopped(threads, stop, 2.5)
    assert not failures, failures
    x, y = setup.cmd("MGET", a, b)
    assert int(x) + int(y) == 2000 and int(x) < 1000


def test_a_client_that_leaves_mid_chain_leaves_nothing_locked(server):
    a, b = keys_on_two_shards("chain:quit")
    c = Conn(server.port)
    c.send_raw(b"".join(encode(*x) for x in transaction(("INCR", a), ("INCR", b)) * 50))
    c.close()
    other = server.conn()
    wait_until(lambda: other.cmd("GET", a) == b"50", timeout=10, message="the chain to finish")
    assert other.pipeline(transaction(("INCR", a), ("INCR", b))) == ["OK", "QUEUED", "QUEUED", [51, 51]]


@needs_redis
def test_replicas_apply_a_pipelined_chain_in_order(nodes):
    master = nodes("--save", "", *shards(2))
    replicas = replicas_of_both_kinds(nodes, master)
    a, b = keys_on_two_shards("chain:repl")
    c = master.conn()
    commands = []
    for i in range(100):
        # SETs, not INCRs: applied out of order they would leave different values.
        commands += transaction(("SET", a, str(i)), ("SET", b, str(i)), ("APPEND", "log", "%d," % i))
        commands.append(("MSET", a, "m%d" % i, b, "m%d" % i))
    c.pipeline(commands)
    assert c.cmd("MGET", a, b) == [b"m99", b"m99"]
    assert c.cmd("WAIT", "2", "10000") == 2
    for r in replicas:
        wait_until(lambda: same_data(master, r), timeout=10, message="replica data equal to the master's")
        assert r.conn().cmd("GET", "log") == "".join("%d," % i for i in range(100)).encode()


def test_thousands_of_chained_transactions_on_one_pair(server):
    """100 connections each pipelining 100 transactions on the same two keys: every worker's
    chain grows thousands long and completes in turn (in a loop, not by recursion)."""
    a, b = keys_on_two_shards("chain:long")
    setup = server.conn()
    setup.cmd("DEL", a, b)
    conns = [Conn(server.port) for _ in range(100)]
    batch = b"".join(encode(*x) for x in transaction(("INCR", a), ("INCR", b))) * 100
    for c in conns:
        c.send_raw(batch)
    for c in conns:
        replies = [c.read() for _ in range(400)]
        assert replies[-1][0] == replies[-1][1]
    assert setup.cmd("MGET", a, b) == [b"10000", b"10000"]


def moves(a, b, x, y, rng, n):
    """A pipeline of COPY and RENAME between keys on two shards (a and x on one, b and y on
    the other), with the commands that read and write their keys in between."""
    keys = [a, b, x, y]
    commands = [("SET", a, "v"), ("SET", y, "w")]
    for i in range(n):
        src, dst = rng.sample(keys, 2)
        commands.append(rng.choice([
            ("RENAME", src, dst), ("RENAMENX", src, dst), ("COPY", src, dst), ("COPY", src, dst, "REPLACE"),
            ("APPEND", src, str(i % 10)), ("GET", dst), ("EXISTS", a, b, x, y), ("MGET", a, b, x, y),
            ("SET", src, "s%d" % i), ("DEL", dst), ("INCR", "chain:moves:counter"),
        ]))
    return commands + [("MGET", a, b, x, y)]


@needs_redis
def test_pipelined_renames_and_copies_across_shards_answer_as_redis(server, redis_port):
    """COPY and RENAME across shards chain too (their second step is known only from the
    first one's reply) instead of stopping their client: a pipeline of them, mixed with
    commands on their keys, answers exactly as redis-server answers it, reply by reply."""
    a, b, x, y = keys_on_two_shards("chain:moves", count=4)
    rng = random.Random(7)
    redis, vk = Conn(redis_port), server.conn()
    for round in range(20):
        commands = moves(a, b, x, y, rng, 60)
        for c in (redis, vk):
            c.cmd("DEL", a, b, x, y)
        replies = []
        for c in (redis, vk):
            c.send_raw(b"".join(encode(*command) for command in commands))
            replies.append([c.read_raw() for _ in commands])
        differing = [(command, r, v) for command, r, v in zip(commands, *replies) if r != v]
        assert not differing, "round %d: %r" % (round, differing[:5])


def test_a_clients_keyless_reads_after_its_pipelined_moves_see_them_done(server):
    """SCAN, KEYS, DBSIZE and RANDOMKEY take no key locks: sent right after a chained RENAME
    or COPY across shards, they wait for it (when they did not, SCAN missed the renamed key
    after every rename one way: its part on the destination's shard ran between the steps)."""
    c = server.conn()
    c.cmd("SELECT", "9")
    c.cmd("FLUSHDB")
    a, b = keys_on_two_shards("chain:scan")
    c.cmd("SET", a, "v")
    for i in range(200):
        src, dst = (a, b) if i % 2 == 0 else (b, a)
        kind = (i // 2) % 4  # each kind after moves either way
        read = [("SCAN", "0", "COUNT", "100"), ("KEYS", "*"), ("DBSIZE",), ("RANDOMKEY",)][kind]
        expected = [[b"0", [dst.encode()]], [dst.encode()], 1, dst.encode()][kind]
        assert c.pipeline([("RENAME", src, dst), read]) == ["OK", expected], (i, read)
        assert c.pipeline([("COPY", dst, src), read, ("DEL", src)])[:1] == [1]
    c.cmd("FLUSHDB")


def test_readers_never_see_a_pipelined_rename_half_done(server):
    """A value renamed back and forth between two shards, 16 renames per write, is always
    under exactly one of its names for readers of both, and keeps its value."""
    a, b = keys_on_two_shards("chain:pingpong")
    setup = server.conn()
    setup.cmd("DEL", a, b)
    setup.cmd("SET", a, "payload")
    stop = threading.Event()
    failures = []

    def writer():
        c = Conn(server.port)
        batch = b"".join(encode("RENAME", a, b) + encode("RENAME", b, a) for _ in range(8))
        while not stop.is_set():
            c.send_raw(batch)
            replies = [c.read() for _ in range(16)]
            if replies != ["OK"] * 16:
                failures.append(replies)
                stop.set()

    def reader():
        c = Conn(server.port)
        while not stop.is_set():
            values = c.cmd("MGET", a, b)
            if sorted(values, key=lambda v: v is None) != [b"payload", None]:
                failures.append(values)
                stop.set()

    threads = [threading.Thread(target=writer, daemon=True)]
    threads += [threading.Thread(target=reader, daemon=True) for _ in range(2)]
    run_until_stopped(threads, stop, 2)
    assert not failures, failures[:3]
    assert setup.cmd("GET", a) == b"payload" and setup.cmd("EXISTS", b) == 0


def test_a_client_that_leaves_mid_chain_of_copies_leaves_nothing_locked(server):
    """100 pipelined COPYs from keys of one shard onto one key of the other, the client gone
    at once: they all run (the key ends with the last one's value) and hold no lock after."""
    keys = keys_on_two_shards("chain:copyquit", count=200)
    sources, destination = keys[0::2][:100], keys[1]
    setup = server.conn()
    setup.cmd("MSET", *[x for i, k in enumerate(sources) for x in (k, str(i))])
    setup.cmd("DEL", destination)
    c = Conn(server.port)
    c.send_raw(b"".join(encode("COPY", k, destination, "REPLACE") for k in sources))
    c.close()
    wait_until(lambda: setup.cmd("GET", destination) == b"99", timeout=10, message="the chain to finish")
    assert setup.pipeline([("COPY", sources[0], destination, "REPLACE"), ("GET", destination)]) == [1, b"0"]


@needs_redis
def test_replicas_apply_pipelined_renames_and_copies_in_order(nodes):
    master = nodes("--save", "", *shards(2))
    replicas = replicas_of_both_kinds(nodes, master)
    a, b, x, y = keys_on_two_shards("chain:replmoves", count=4)
    c = master.conn()
    rng = random.Random(11)
    for _ in range(10):
        c.pipeline(moves(a, b, x, y, rng, 100))
    assert c.cmd("WAIT", "2", "10000") == 2
    for r in replicas:
        wait_until(lambda: same_data(master, r), timeout=10, message="replica data equal to the master's")
