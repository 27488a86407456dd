"""A transaction whose keys all share one shard that another worker owns runs there in one
request (TransactionOnOwner): the whole queue travels to the owner and runs in one go. With
two workers, every connection is remote to one of the two shards, so each test runs its
transaction once per shard: one of the two takes that path. With one shard both run inline
and the same assertions hold."""
import threading

from support.info import info
from support.marks import needs_redis
from support.processes import shards
from support.replication import replicas_of_both_kinds, same_data
from support.resp import Conn, encode
from support.slots import key_on_each_shard
from support.waiting import wait_until


def transaction(*commands):
    return [("MULTI",)] + list(commands) + [("EXEC",)]


def test_replies_and_errors_inside_come_back_as_exec_array(r):
    for t in key_on_each_shard("own:reply", 2):
        a, s = "{%s}a" % t, "{%s}s" % t
        r.cmd("SET", s, "text")
        replies = r.pipeline(transaction(("SET", a, "1"), ("INCR", a), ("INCR", s), ("APPEND", a, "x"), ("GET", a),
                                         ("MGET", a, s)))
        assert replies[:7] == ["OK"] + ["QUEUED"] * 6
        exec_reply = replies[7]
        assert exec_reply[:2] == ["OK", 2]
        assert str(exec_reply[2]) == "ERR value is not an integer or out of range"
        assert exec_reply[3:] == [2, b"2x", [b"2x", b"text"]]
        h = "{%s}h" % t
        assert r.pipeline(transaction(("HSET", h, "f", "1", "g", "2"), ("HINCRBY", h, "f", "5"), ("HGET", h, "f"),
                                      ("HINCRBY", s, "f", "1")))[-1][:3] == [2, 6, b"6"]


def test_nested_commands_are_counted_as_redis_counts_them(r):
    r.cmd("CONFIG", "RESETSTAT")
    for t in key_on_each_shard("own:stats", 2):
        s = "{%s}s" % t
        r.cmd("SET", s, "text")
        r.pipeline(transaction(("INCR", s), ("GET", s)))
    stats = info(r, "commandstats")
    assert stats["cmdstat_incr"].startswith("calls=2,")
    assert "failed_calls=2" in stats["cmdstat_incr"]
    assert stats["cmdstat_exec"].startswith("calls=2,")
    assert stats["cmdstat_get"].startswith("calls=2,")


def test_order_with_the_clients_commands_around_it(r):
    for t in key_on_each_shard("own:order", 2):
        a = "{%s}a" % t
        replies = r.pipeline([("SET", a, "x")] + transaction(("APPEND", a, "y"), ("APPEND", a, "z"))
                             + [("APPEND", a, "!"), ("GET", a)])
        assert replies[-1] == b"xyz!"


def test_readers_never_see_half_a_transaction(server):
    """Writers pipeline transactions setting two keys of one shard to the same value; readers
    on other connections must always see them equal."""
    for t in key_on_each_shard("own:atomic", 2):
        a, b = "{%s}a" % t, "{%s}b" % t
        setup = server.conn()
        setup.cmd("MSET", a, "0", b, "0")
        done = threading.Event()
        seen = []
        reads = [0, 0]

        def read(n):
            c = server.conn()
            while not done.is_set():
                x, y = c.cmd("MGET", a, b)
                reads[n] += 1
                if x != y:
                    seen.append((x, y))

        readers = [threading.Thread(target=read, args=(n,)) for n in range(2)]
        for th in readers:
            th.start()
        wait_until(lambda: min(reads) > 0, message="readers reading")
        writers = [Conn(server.port) for _ in range(4)]
        for w_index, w in enumerate(writers):
            batch = []
            for i in range(200):
                v = "%d-%d" % (w_index, i)
                batch += transaction(("SET", a, v), ("SET", b, v))
            w.send_raw(b"".join(encode(*x) for x in batch))
        for w in writers:
            for _ in range(200 * 4):
                w.read()
        done.set()
        for th in readers:
            th.join()
        assert seen == []
        assert setup.cmd("GET", a) == setup.cmd("GET", b)


@needs_redis
def test_replicas_get_the_transaction_whole(nodes):
    master = nodes("--save", "", *shards(2))
    replicas = replicas_of_both_kinds(nodes, master)
    c = master.conn()
    commands = []
    for t in key_on_each_shard("own:repl", 2):
        a, log = "{%s}a" % t, "{%s}log" % t
        for i in range(50):
            commands += transaction(("SET", a, str(i)), ("APPEND", log, "%d," % i), ("INCR", "{%s}n" % t))
    c.pipeline(commands)
    assert c.cmd("WAIT", "2", "10000") == 2
    for rep in replicas:
        wait_until(lambda: same_data(master, rep), timeout=10, message="replica data equal to the master's")
        for t in key_on_each_shard("own:repl", 2):
            assert rep.conn().cmd("GET", "{%s}log" % t) == "".join("%d," % i for i in range(50)).encode()
