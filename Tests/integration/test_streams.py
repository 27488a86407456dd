"""Stream commands (Redis 7.0's t_stream.c): replies and error texts byte for byte,
blocking XREAD across workers. Expected bytes were checked against redis-server 7.0.15."""
import threading
import time

from support.info import info
from support.streams import INVALID_ID, TOP_ITEM, WRONGTYPE, cmd, entry, text, wait_blocked
from support.waiting import wait_until


def test_xadd_ids_and_errors(r):
    assert r.raw("XADD", "s", "1-1", "a", "1") == b"$3\r\n1-1\r\n"
    assert r.raw("XADD", "s", "1-1", "a", "1") == TOP_ITEM
    assert r.raw("XADD", "s", "0-0", "a", "1") == b"-ERR The ID specified in XADD must be greater than 0-0\r\n"
    assert r.raw("XADD", "s", "1-*", "a", "1") == b"$3\r\n1-2\r\n"
    assert r.raw("XADD", "s", "5", "a", "1") == b"$3\r\n5-0\r\n"
    assert r.raw("XADD", "s", "x-1", "a", "1") == INVALID_ID
    assert r.raw("XADD", "s", "*", "a") == b"-ERR wrong number of arguments for 'xadd' command\r\n"
    ms, seq = cmd(r, "XADD", "s", "*", "a", "1").split("-")
    assert int(ms) > 1_600_000_000_000 and seq == "0"
    assert r.raw("XADD", "nope", "NOMKSTREAM", "*", "a", "1") == b"$-1\r\n"
    assert cmd(r, "EXISTS", "nope") == 0
    assert cmd(r, "TYPE", "s") == "stream"
    assert cmd(r, "OBJECT", "ENCODING", "s") == "stream"
    cmd(r, "SET", "str", "v")
    assert r.raw("XADD", "str", "*", "a", "1") == WRONGTYPE
    assert r.raw("XLEN", "str") == WRONGTYPE
    assert r.raw("XRANGE", "str", "-", "+") == WRONGTYPE


def test_xadd_trim_options(r):
    for i in range(1, 11):
        cmd(r, "XADD", "s", "%d-0" % i, "f", str(i))
    assert cmd(r, "XADD", "s", "MAXLEN", "5", "11-0", "f", "11") == "11-0"
    assert cmd(r, "XLEN", "s") == 5
    assert cmd(r, "XRANGE", "s", "-", "+", "COUNT", "1") == [entry("7-0", "f", "7")]
    assert cmd(r, "XADD", "s", "MINID", "=", "9", "12-0", "f", "12") == "12-0"
    assert cmd(r, "XLEN", "s") == 4
    assert r.raw("XADD", "s", "MAXLEN", "-1", "*", "f", "v") == b"-ERR The MAXLEN argument must be >= 0.\r\n"
    assert r.raw("XADD", "s", "MAXLEN", "1", "LIMIT", "5", "*", "f", "v") == \
        b"-ERR syntax error, LIMIT cannot be used without the special ~ option\r\n"
    assert r.raw("XADD", "s", "MAXLEN", "1", "MINID", "5", "*", "f", "v") == \
        b"-ERR syntax error, MAXLEN and MINID options at the same time are not compatible\r\n"
    assert r.raw("XADD", "s", "LIMIT", "5", "*", "f", "v") == \
        b"-ERR syntax error, LIMIT cannot be used without specifying a trimming strategy\r\n"
    # `~` only drops whole nodes: a 4-entry stream in one node keeps them all.
    assert cmd(r, "XADD", "s", "MAXLEN", "~", "1", "13-0", "f", "13") == "13-0"
    assert cmd(r, "XLEN", "s") == 5


def test_approximate_trim_with_the_largest_stream_node_max_entries(server, r):
    # The default LIMIT is 100 * stream-node-max-entries, which wraps in Redis's C: it must
    # not trap (it did). The replies are Redis 7.0.15's: `~ 0` drops each whole node.
    cmd(r, "CONFIG", "SET", "stream-node-max-entries", "9223372036854775807")
    try:
        assert cmd(r, "XADD", "huge", "MAXLEN", "~", "0", "1-0", "f", "v") == "1-0"
        assert cmd(r, "XTRIM", "huge", "MAXLEN", "~", "0") == 0
        assert cmd(r, "XADD", "huge", "MAXLEN", "~", "0", "2-0", "f", "v") == "2-0"
        assert cmd(r, "XLEN", "huge") == 0
        assert server.alive()
    finally:
        cmd(r, "CONFIG", "SET", "stream-node-max-entries", "100")


def test_xrange_xrevrange(r):
    cmd(r, "XADD", "s", "1-1", "a", "1", "b", "2")
    cmd(r, "XADD", "s", "1-2", "a", "3", "b", "4")
    cmd(r, "XADD", "s", "2-0", "c", "5")
    assert r.raw("XRANGE", "s", "-", "+", "COUNT", "1") == \
        b"*1\r\n*2\r\n$3\r\n1-1\r\n*4\r\n$1\r\na\r\n$1\r\n1\r\n$1\r\nb\r\n$1\r\n2\r\n"
    assert cmd(r, "XRANGE", "s", "(1-1", "+") == [entry("1-2", "a", "3", "b", "4"), entry("2-0", "c", "5")]
    assert cmd(r, "XRANGE", "s", "1", "1") == [entry("1-1", "a", "1", "b", "2"), entry("1-2", "a", "3", "b", "4")]
    assert cmd(r, "XREVRANGE", "s", "+", "-", "COUNT", "2") == [entry("2-0", "c", "5"), entry("1-2", "a", "3", "b", "4")]
    assert cmd(r, "XREVRANGE", "s", "(2-0", "-") == [entry("1-2", "a", "3", "b", "4"), entry("1-1", "a", "1", "b", "2")]
    assert r.raw("XRANGE", "s", "-", "+", "COUNT", "0") == b"*-1\r\n"
    assert r.raw("XRANGE", "missing", "-", "+") == b"*0\r\n"
    assert r.raw("XRANGE", "s", "(-", "+") == INVALID_ID
    assert r.raw("XRANGE", "s", "x", "+") == INVALID_ID
    assert r.raw("XRANGE", "s", "-", "+", "FOO") == b"-ERR syntax error\r\n"
    assert r.raw("XRANGE", "s", "(18446744073709551615-18446744073709551615", "+") == \
        b"-ERR invalid start ID for the interval\r\n"
    assert r.raw("XRANGE", "s", "-", "(0-0") == b"-ERR invalid end ID for the interval\r\n"
    cmd(r, "HELLO", "3")
    assert r.raw("XRANGE", "s", "-", "+", "COUNT", "0") == b"_\r\n"


def test_xlen_xdel_xtrim(r):
    for i in range(1, 6):
        cmd(r, "XADD", "s", "%d-0" % i, "f", str(i))
    assert cmd(r, "XDEL", "s", "2-0", "9-9") == 1
    assert cmd(r, "XDEL", "missing", "1-1") == 0
    assert r.raw("XDEL", "s", "bad") == INVALID_ID
    assert cmd(r, "XLEN", "s") == 4
    assert cmd(r, "XLEN", "missing") == 0
    assert cmd(r, "XTRIM", "s", "MAXLEN", "2") == 2
    assert [e[0] for e in cmd(r, "XRANGE", "s", "-", "+")] == ["4-0", "5-0"]
    assert cmd(r, "XTRIM", "s", "MINID", "5") == 1
    assert cmd(r, "XTRIM", "missing", "MAXLEN", "0") == 0
    assert r.raw("XTRIM", "s", "FOO", "1") == b"-ERR syntax error\r\n"
    assert r.raw("XTRIM", "s", "LIMIT", "1") == \
        b"-ERR syntax error, LIMIT cannot be used without specifying a trimming strategy\r\n"
    # Deleting every entry keeps the (empty) key, as in Redis.
    assert cmd(r, "XDEL", "s", "5-0") == 1
    assert cmd(r, "EXISTS", "s") == 1 and cmd(r, "XLEN", "s") == 0


def test_xsetid(r):
    cmd(r, "XADD", "s", "1-1", "a", "1")
    cmd(r, "XADD", "s", "1-2", "a", "1")
    cmd(r, "XDEL", "s", "1-2")
    assert r.raw("XSETID", "s", "1-0") == b"-ERR The ID specified in XSETID is smaller than the target stream top item\r\n"
    assert r.raw("XSETID", "s", "1-1") == b"-ERR The ID specified in XSETID is smaller than current max_deleted_entry_id\r\n"
    assert r.raw("XSETID", "missing", "1-1") == b"-ERR no such key\r\n"
    assert r.raw("XSETID", "s", "5-0", "ENTRIESADDED", "0") == \
        b"-ERR The entries_added specified in XSETID is smaller than the target stream length\r\n"
    assert r.raw("XSETID", "s", "5-0", "MAXDELETEDID", "6-0") == \
        b"-ERR The ID specified in XSETID is smaller than the provided max_deleted_entry_id\r\n"
    assert cmd(r, "XSETID", "s", "5-0") == "OK"
    assert r.raw("XADD", "s", "4-0", "a", "1") == TOP_ITEM
    assert cmd(r, "XADD", "s", "5-*", "a", "1") == "5-1"


def test_xread_nonblocking_resp2_resp3(r):
    cmd(r, "XADD", "{t}a", "1-0", "f", "v")
    cmd(r, "XADD", "{t}b", "2-0", "g", "w")
    cmd(r, "XADD", "other", "3-0", "h", "x")
    assert r.raw("XREAD", "STREAMS", "{t}a", "{t}b", "0", "0") == (
        b"*2\r\n*2\r\n$4\r\n{t}a\r\n*1\r\n*2\r\n$3\r\n1-0\r\n*2\r\n$1\r\nf\r\n$1\r\nv\r\n"
        b"*2\r\n$4\r\n{t}b\r\n*1\r\n*2\r\n$3\r\n2-0\r\n*2\r\n$1\r\ng\r\n$1\r\nw\r\n")
    # Keys on different shards; only streams with data appear, in argument order.
    assert cmd(r, "XREAD", "COUNT", "5", "STREAMS", "other", "{t}a", "missing", "0", "1-0", "0") == \
        [["other", [entry("3-0", "h", "x")]]]
    assert r.raw("XREAD", "STREAMS", "{t}a", "$") == b"*-1\r\n"
    assert r.raw("XREAD", "STREAMS", "{t}a") == b"-ERR wrong number of arguments for 'xread' command\r\n"
    assert r.raw("XREAD", "STREAMS", "{t}a", "{t}b", "0") == \
        b"-ERR Unbalanced 'xread' list of streams: for each stream key an ID or '$' must be specified.\r\n"
    assert r.raw("XREAD", "GROUP", "g", "c", "STREAMS", "{t}a", "0") == \
        b"-ERR The GROUP option is only supported by XREADGROUP. You called XREAD instead.\r\n"
    assert r.raw("XREAD", "BLOCK", "-1", "STREAMS", "{t}a", "0") == b"-ERR timeout is negative\r\n"
    assert r.raw("XREAD", "STREAMS", "{t}a", ">") == \
        b"-ERR The > ID can be specified only when calling XREADGROUP using the GROUP <group> <consumer> option.\r\n"
    cmd(r, "SET", "str", "v")
    assert r.raw("XREAD", "STREAMS", "str", "0") == WRONGTYPE
    cmd(r, "HELLO", "3")
    assert r.raw("XREAD", "STREAMS", "{t}a", "0") == \
        b"%1\r\n$4\r\n{t}a\r\n*1\r\n*2\r\n$3\r\n1-0\r\n*2\r\n$1\r\nf\r\n$1\r\nv\r\n"
    assert r.raw("XREAD", "STREAMS", "{t}a", "$") == b"_\r\n"


def test_xread_block_woken_by_xadd_from_another_connection(server, r):
    readers = []
    results = {}
    keys = ["bk:%d" % i for i in range(4)]  # spread over both shards

    def read(i, key):
        c = server.conn()
        readers.append(c)
        results[i] = cmd(c, "XREAD", "BLOCK", "0", "STREAMS", key, "$")
        c.close()

    threads = [threading.Thread(target=read, args=(i, k)) for i, k in enumerate(keys)]
    for t in threads:
        t.start()
    wait_blocked(server, 4)
    for i, k in enumerate(keys):
        cmd(r, "XADD", k, "%d-1" % (i + 1), "f", "v")
    for t in threads:
        t.join(5)
    for i, k in enumerate(keys):
        assert results[i] == [[k, [entry("%d-1" % (i + 1), "f", "v")]]]


def test_xread_block_timeout_and_multi_shard(server, r):
    start = time.monotonic()
    assert r.raw("XREAD", "BLOCK", "150", "STREAMS", "a1", "b2", "c3", "$", "$", "$") == b"*-1\r\n"
    elapsed = time.monotonic() - start
    assert 0.14 <= elapsed < 0.25 + 0.1
    # Blocked on streams of both shards: the first XADD serves it, the other waits are cancelled.
    c = server.conn()
    c.send_raw(b"*8\r\n$5\r\nXREAD\r\n$5\r\nBLOCK\r\n$1\r\n0\r\n$7\r\nSTREAMS\r\n$2\r\na1\r\n$2\r\nb2\r\n$1\r\n$\r\n$1\r\n$\r\n")
    wait_blocked(server, 1)
    cmd(r, "XADD", "b2", "7-0", "k", "v")
    assert text(c.read()) == [["b2", [entry("7-0", "k", "v")]]]
    assert cmd(c, "PING") == "PONG"
    cmd(r, "XADD", "a1", "7-0", "k", "v")  # nothing left waiting for it
    assert cmd(c, "PING") == "PONG"
    c.close()


def test_thousand_blocked_clients_woken_by_one_xadd(server, r):
    conns = [server.conn() for _ in range(1000)]
    for c in conns:
        c.send_raw(b"*6\r\n$5\r\nXREAD\r\n$5\r\nBLOCK\r\n$5\r\n10000\r\n$7\r\nSTREAMS\r\n$4\r\nhot1\r\n$1\r\n0\r\n")
    wait_blocked(server, 1000)
    start = time.monotonic()
    cmd(r, "XADD", "hot1", "1-0", "f", "v")
    for c in conns:
        assert text(c.read()) == [["hot1", [entry("1-0", "f", "v")]]]
    assert time.monotonic() - start < 2
    for c in conns:
        c.close()


def test_disconnected_blocked_client_is_cleaned_up(server, r):
    c = server.conn()
    c.send_raw(b"*6\r\n$5\r\nXREAD\r\n$5\r\nBLOCK\r\n$1\r\n0\r\n$7\r\nSTREAMS\r\n$4\r\ngone\r\n$1\r\n$\r\n")
    wait_blocked(server, 1)
    c.close()
    wait_blocked(server, 0, exact=True)
    # The server survives serving a key whose only waiter is gone.
    assert cmd(r, "XADD", "gone", "1-0", "f", "v") == "1-0"
    assert cmd(r, "PING") == "PONG"


def test_info_counts_blocked_clients(server, r):
    def blocked():
        return int(info(r, "clients")["blocked_clients"])
    assert blocked() == 0
    readers = [server.conn() for _ in range(3)]
    for i, c in enumerate(readers):
        c.send_raw(b"*6\r\n$5\r\nXREAD\r\n$5\r\nBLOCK\r\n$1\r\n0\r\n$7\r\nSTREAMS\r\n$4\r\nblk%d\r\n$1\r\n$\r\n" % i)
    wait_until(lambda: blocked() == 3, message="three blocked readers")
    for i in range(3):
        r.cmd("XADD", "blk%d" % i, "*", "f", "v")
    for c in readers:
        assert c.read()[0][0] == b"blk%d" % readers.index(c)
        c.close()
    wait_until(lambda: blocked() == 0, message="no blocked readers")
