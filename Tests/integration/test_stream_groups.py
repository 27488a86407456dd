"""Stream consumer groups (Redis 7.0's t_stream.c): XGROUP, XREADGROUP (with BLOCK across
workers), XACK, XPENDING, XCLAIM, XAUTOCLAIM, XINFO. Expected bytes were taken from
redis-server 7.0.15 running the same commands (idle times and delivery times, which
depend on the moment, are checked by range)."""
import time

from support.info import info
from support.streams import INVALID_ID, WRONGTYPE, blocked_count, cmd, entry, text, wait_blocked
from support.waiting import wait_until

KEY_REQUIRED = (b"-ERR The XGROUP subcommand requires the key to exist. Note that for CREATE you may want to use "
                b"the MKSTREAM option to create an empty stream automatically.\r\n")


def xreadgroup_raw(group, consumer, key, id_, block=None):
    args = ["XREADGROUP", "GROUP", group, consumer]
    if block is not None:
        args += ["BLOCK", str(block)]
    args += ["STREAMS", key, id_]
    out = b"*%d\r\n" % len(args)
    for a in args:
        out += b"$%d\r\n%s\r\n" % (len(a), a.encode())
    return out


def add(r, key, *ids):
    for id_ in ids:
        cmd(r, "XADD", key, id_, "f", id_)


# MARK: XGROUP

def test_xgroup_help_and_errors(r):
    help_ = cmd(r, "XGROUP", "HELP")
    assert help_[0] == "XGROUP <subcommand> [<arg> [value] [opt] ...]. Subcommands are:"
    assert help_[1] == "CREATE <key> <groupname> <id|$> [option]" and help_[-1] == "    Prints this help."
    assert len(help_) == 17
    assert len(cmd(r, "XINFO", "HELP")) == 9
    assert r.raw("XGROUP", "CREATE", "nokey", "g", "$") == KEY_REQUIRED
    assert r.raw("XGROUP", "DESTROY", "nokey", "g") == KEY_REQUIRED
    assert r.raw("XGROUP", "CREATE", "nokey", "g", "$", "MKSTREAM", "FOO") == \
        b"-ERR unknown subcommand or wrong number of arguments for 'CREATE'. Try XGROUP HELP.\r\n"
    assert r.raw("XGROUP", "CREATE", "nokey", "g", "$", "ENTRIESREAD", "-2") == \
        b"-ERR value for ENTRIESREAD must be positive or -1\r\n"
    assert r.raw("XGROUP", "CREATE", "nokey", "g", "$", "ENTRIESREAD", "x") == \
        b"-ERR value is not an integer or out of range\r\n"
    assert r.raw("XGROUP", "CREATE", "nokey", "g", "+", "MKSTREAM") == INVALID_ID
    assert r.raw("XGROUP", "CREATE", "nokey", "g", "$", "MKSTREAM", "ENTRIESREAD", "5") == b"+OK\r\n"
    assert r.raw("XGROUP", "CREATE", "nokey", "g", "$", "MKSTREAM") == b"-BUSYGROUP Consumer Group name already exists\r\n"
    assert r.raw("XGROUP", "SETID", "nokey", "nog", "$") == b"-NOGROUP No such consumer group 'nog' for key name 'nokey'\r\n"
    assert r.raw("XGROUP", "SETID", "nokey", "g", "-", "ENTRIESREAD", "3") == b"+OK\r\n"
    assert r.raw("XGROUP", "SETID", "nokey", "g", "$", "MKSTREAM") == \
        b"-ERR unknown subcommand or wrong number of arguments for 'SETID'. Try XGROUP HELP.\r\n"
    assert r.raw("XGROUP", "SETID", "nokey", "g") == b"-ERR wrong number of arguments for 'xgroup|setid' command\r\n"
    assert r.raw("XGROUP", "FOO", "nokey", "g") == b"-ERR unknown subcommand 'FOO'. Try XGROUP HELP.\r\n"
    assert r.raw("XGROUP") == b"-ERR wrong number of arguments for 'xgroup' command\r\n"
    assert r.raw("XGROUP", "CREATECONSUMER", "nokey", "g", "c1") == b":1\r\n"
    assert r.raw("XGROUP", "CREATECONSUMER", "nokey", "g", "c1") == b":0\r\n"
    assert r.raw("XGROUP", "CREATECONSUMER", "nokey", "nog", "c1") == \
        b"-NOGROUP No such consumer group 'nog' for key name 'nokey'\r\n"
    assert r.raw("XGROUP", "DELCONSUMER", "nokey", "g", "c1") == b":0\r\n"
    assert r.raw("XGROUP", "DELCONSUMER", "nokey", "g", "c1") == b":0\r\n"
    assert r.raw("XGROUP", "DESTROY", "nokey", "g") == b":1\r\n"
    assert r.raw("XGROUP", "DESTROY", "nokey", "g") == b":0\r\n"
    cmd(r, "SET", "str", "x")
    assert r.raw("XGROUP", "CREATE", "str", "g", "$") == WRONGTYPE


def test_xgroup_create_positions_and_xinfo_groups(r):
    add(r, "s", "1-1", "1-2", "2-0", "3-0")
    assert cmd(r, "XGROUP", "CREATE", "s", "g", "0") == "OK"
    assert cmd(r, "XGROUP", "CREATE", "s", "g2", "$") == "OK"
    assert cmd(r, "XGROUP", "CREATE", "s", "g3", "1-1", "ENTRIESREAD", "1") == "OK"
    assert r.raw("XINFO", "GROUPS", "s") == (
        b"*3\r\n*12\r\n$4\r\nname\r\n$1\r\ng\r\n$9\r\nconsumers\r\n:0\r\n$7\r\npending\r\n:0\r\n"
        b"$17\r\nlast-delivered-id\r\n$3\r\n0-0\r\n$12\r\nentries-read\r\n$-1\r\n$3\r\nlag\r\n:4\r\n"
        b"*12\r\n$4\r\nname\r\n$2\r\ng2\r\n$9\r\nconsumers\r\n:0\r\n$7\r\npending\r\n:0\r\n"
        b"$17\r\nlast-delivered-id\r\n$3\r\n3-0\r\n$12\r\nentries-read\r\n$-1\r\n$3\r\nlag\r\n:0\r\n"
        b"*12\r\n$4\r\nname\r\n$2\r\ng3\r\n$9\r\nconsumers\r\n:0\r\n$7\r\npending\r\n:0\r\n"
        b"$17\r\nlast-delivered-id\r\n$3\r\n1-1\r\n$12\r\nentries-read\r\n:1\r\n$3\r\nlag\r\n:3\r\n")
    cmd(r, "HELLO", "3")
    assert r.raw("XINFO", "GROUPS", "s").startswith(
        b"*3\r\n%6\r\n$4\r\nname\r\n$1\r\ng\r\n$9\r\nconsumers\r\n:0\r\n$7\r\npending\r\n:0\r\n"
        b"$17\r\nlast-delivered-id\r\n$3\r\n0-0\r\n$12\r\nentries-read\r\n_\r\n$3\r\nlag\r\n:4\r\n")
    assert r.raw("XINFO", "GROUPS", "missing") == b"-ERR no such key\r\n"
    assert r.raw("XINFO", "CONSUMERS", "s", "nog") == b"-NOGROUP No such consumer group 'nog' for key name 's'\r\n"


# MARK: XREADGROUP

def test_xreadgroup_new_history_ack_and_pending(r):
    add(r, "s", "1-1", "1-2", "2-0", "3-0")
    cmd(r, "XGROUP", "CREATE", "s", "g", "0")
    assert r.raw("XREADGROUP", "GROUP", "g", "alice", "COUNT", "2", "STREAMS", "s", ">") == (
        b"*1\r\n*2\r\n$1\r\ns\r\n*2\r\n*2\r\n$3\r\n1-1\r\n*2\r\n$1\r\nf\r\n$3\r\n1-1\r\n"
        b"*2\r\n$3\r\n1-2\r\n*2\r\n$1\r\nf\r\n$3\r\n1-2\r\n")
    assert cmd(r, "XREADGROUP", "GROUP", "g", "bob", "STREAMS", "s", ">") == \
        [["s", [entry("2-0", "f", "2-0"), entry("3-0", "f", "3-0")]]]
    assert r.raw("XREADGROUP", "GROUP", "g", "bob", "STREAMS", "s", ">") == b"*-1\r\n"
    # History: the consumer's own pending entries after the ID.
    assert cmd(r, "XREADGROUP", "GROUP", "g", "alice", "STREAMS", "s", "0") == \
        [["s", [entry("1-1", "f", "1-1"), entry("1-2", "f", "1-2")]]]
    assert cmd(r, "XREADGROUP", "GROUP", "g", "alice", "COUNT", "1", "STREAMS", "s", "1-1") == \
        [["s", [entry("1-2", "f", "1-2")]]]
    assert r.raw("XPENDING", "s", "g") == (
        b"*4\r\n:4\r\n$3\r\n1-1\r\n$3\r\n3-0\r\n*2\r\n*2\r\n$5\r\nalice\r\n$1\r\n2\r\n*2\r\n$3\r\nbob\r\n$1\r\n2\r\n")
    assert cmd(r, "XACK", "s", "g", "1-1", "9-9") == 1
    assert r.raw("XACK", "s", "g", "bad") == INVALID_ID
    assert cmd(r, "XACK", "s", "nog", "1-1") == 0
    assert cmd(r, "XACK", "missing", "g", "1-1") == 0
    # A deleted pending entry comes back as [id, nil] in the history.
    cmd(r, "XDEL", "s", "1-2")
    assert r.raw("XREADGROUP", "GROUP", "g", "alice", "STREAMS", "s", "0") == \
        b"*1\r\n*2\r\n$1\r\ns\r\n*1\r\n*2\r\n$3\r\n1-2\r\n*-1\r\n"
    cmd(r, "HELLO", "3")
    assert r.raw("XREADGROUP", "GROUP", "g", "alice", "STREAMS", "s", "0") == \
        b"%1\r\n$1\r\ns\r\n*1\r\n*2\r\n$3\r\n1-2\r\n_\r\n"
    assert r.raw("XREADGROUP", "GROUP", "g", "bob", "STREAMS", "s", ">") == b"_\r\n"
    assert r.raw("XPENDING", "s", "g", "-", "+", "10", "nobody") == b"*0\r\n"
    # Two consumers were made; a read that served nothing made none.
    assert cmd(r, "XREADGROUP", "GROUP", "g", "carol", "STREAMS", "s", ">") is None
    assert [c["name"] for c in cmd(r, "XINFO", "CONSUMERS", "s", "g")] == ["alice", "bob"]


def test_xreadgroup_noack_and_entries_read(r):
    add(r, "s", "1-0", "2-0", "3-0")
    cmd(r, "XGROUP", "CREATE", "s", "g", "0")
    assert len(cmd(r, "XREADGROUP", "GROUP", "g", "c", "NOACK", "STREAMS", "s", ">")[0][1]) == 3
    assert cmd(r, "XPENDING", "s", "g")[0] == 0
    groups = cmd(r, "XINFO", "GROUPS", "s")
    assert groups[0][7:12] == ["3-0", "entries-read", 3, "lag", 0]


def test_xreadgroup_errors(r):
    add(r, "s", "1-0")
    cmd(r, "XGROUP", "CREATE", "s", "g", "0")
    cmd(r, "SET", "str", "x")
    assert r.raw("XREADGROUP", "GROUP", "nog", "x", "STREAMS", "s", ">") == \
        b"-NOGROUP No such key 's' or consumer group 'nog' in XREADGROUP with GROUP option\r\n"
    assert r.raw("XREADGROUP", "GROUP", "g", "x", "STREAMS", "missing", ">") == \
        b"-NOGROUP No such key 'missing' or consumer group 'g' in XREADGROUP with GROUP option\r\n"
    assert r.raw("XREADGROUP", "GROUP", "g", "x", "STREAMS", "s", "$") == (
        b"-ERR The $ ID is meaningless in the context of XREADGROUP: you want to read the history of this "
        b"consumer by specifying a proper ID, or use the > ID to get new messages. The $ ID would just "
        b"return an empty result set.\r\n")
    assert r.raw("XREADGROUP", "GROUP", "g", "x", "STREAMS", "str", ">") == WRONGTYPE
    assert r.raw("XREADGROUP", "GROUP", "g", "x", "STREAMS", "s", "bad") == INVALID_ID
    assert r.raw("XREADGROUP", "COUNT", "1", "NOACK", "STREAMS", "s", ">") == b"-ERR Missing GROUP option for XREADGROUP\r\n"
    assert r.raw("XREADGROUP", "GROUP", "g", "x", "STREAMS", "s", "s2", ">") == \
        b"-ERR Unbalanced 'xreadgroup' list of streams: for each stream key an ID or '>' must be specified.\r\n"
    # Streams on both shards: the second one's error comes before the first is served.
    add(r, "other", "1-0")
    cmd(r, "XGROUP", "CREATE", "other", "g", "0")
    assert r.raw("XREADGROUP", "GROUP", "g", "x", "STREAMS", "s", "other", "nokey", ">", ">", ">") == \
        b"-NOGROUP No such key 'nokey' or consumer group 'g' in XREADGROUP with GROUP option\r\n"
    assert cmd(r, "XPENDING", "s", "g")[0] == 0 and cmd(r, "XPENDING", "other", "g")[0] == 0
    assert cmd(r, "XREADGROUP", "GROUP", "g", "x", "STREAMS", "s", "other", ">", ">") == \
        [["s", [entry("1-0", "f", "1-0")]], ["other", [entry("1-0", "f", "1-0")]]]


# MARK: XPENDING, XCLAIM, XAUTOCLAIM

def pending_ids(r, *args):
    return [(p[0], p[1], p[3]) for p in cmd(r, "XPENDING", *args)]


def test_xpending_extended_form(r):
    add(r, "s", "1-0", "2-0", "3-0", "4-0", "5-0")
    cmd(r, "XGROUP", "CREATE", "s", "g", "0")
    cmd(r, "XREADGROUP", "GROUP", "g", "alice", "COUNT", "3", "STREAMS", "s", ">")
    cmd(r, "XREADGROUP", "GROUP", "g", "bob", "STREAMS", "s", ">")
    rows = cmd(r, "XPENDING", "s", "g", "-", "+", "10")
    assert [(p[0], p[1], p[3]) for p in rows] == \
        [("1-0", "alice", 1), ("2-0", "alice", 1), ("3-0", "alice", 1), ("4-0", "bob", 1), ("5-0", "bob", 1)]
    assert all(0 <= p[2] < 5000 for p in rows)
    assert pending_ids(r, "s", "g", "(1-0", "(5-0", "2") == [("2-0", "alice", 1), ("3-0", "alice", 1)]
    assert pending_ids(r, "s", "g", "IDLE", "0", "-", "+", "10", "bob") == [("4-0", "bob", 1), ("5-0", "bob", 1)]
    assert cmd(r, "XPENDING", "s", "g", "IDLE", "100000", "-", "+", "10") == []
    assert r.raw("XPENDING", "s", "g", "-", "+", "x") == b"-ERR value is not an integer or out of range\r\n"
    assert r.raw("XPENDING", "s", "g", "IDLE", "10", "-", "+") == b"-ERR syntax error\r\n"
    assert r.raw("XPENDING", "s", "g", "-", "+") == b"-ERR syntax error\r\n"
    assert r.raw("XPENDING", "s", "g", "(18446744073709551615-18446744073709551615", "+", "10") == \
        b"-ERR invalid start ID for the interval\r\n"
    assert r.raw("XPENDING", "s", "nog", "-", "+", "10") == b"-NOGROUP No such key 's' or consumer group 'nog'\r\n"
    cmd(r, "XGROUP", "CREATE", "s", "empty", "$")
    assert r.raw("XPENDING", "s", "empty") == b"*4\r\n:0\r\n$-1\r\n$-1\r\n*-1\r\n"
    cmd(r, "HELLO", "3")
    assert r.raw("XPENDING", "s", "empty") == b"*4\r\n:0\r\n_\r\n_\r\n_\r\n"


def test_xclaim(r):
    add(r, "s", "1-0", "2-0", "3-0")
    cmd(r, "XGROUP", "CREATE", "s", "g", "0")
    cmd(r, "XREADGROUP", "GROUP", "g", "alice", "STREAMS", "s", ">")
    assert r.raw("XCLAIM", "s", "g", "carol", "0", "1-0", "2-0") == (
        b"*2\r\n*2\r\n$3\r\n1-0\r\n*2\r\n$1\r\nf\r\n$3\r\n1-0\r\n*2\r\n$3\r\n2-0\r\n*2\r\n$1\r\nf\r\n$3\r\n2-0\r\n")
    assert r.raw("XCLAIM", "s", "g", "carol", "0", "1-0", "RETRYCOUNT", "7", "JUSTID") == b"*1\r\n$3\r\n1-0\r\n"
    assert pending_ids(r, "s", "g", "-", "+", "10") == [("1-0", "carol", 7), ("2-0", "carol", 2), ("3-0", "alice", 1)]
    # Not idle long enough, or not pending: nothing claimed, and no consumer made.
    assert cmd(r, "XCLAIM", "s", "g", "dave", "100000", "3-0") == []
    assert cmd(r, "XCLAIM", "s", "g", "dave", "0", "9-9") == []
    assert [c[1] for c in cmd(r, "XINFO", "CONSUMERS", "s", "g")] == ["alice", "carol"]
    assert r.raw("XCLAIM", "s", "g", "dave", "x", "3-0") == b"-ERR Invalid min-idle-time argument for XCLAIM\r\n"
    assert r.raw("XCLAIM", "s", "g", "dave", "0", "3-0", "IDLE", "x") == b"-ERR Invalid IDLE option argument for XCLAIM\r\n"
    assert r.raw("XCLAIM", "s", "g", "dave", "0", "3-0", "TIME", "x") == b"-ERR Invalid TIME option argument for XCLAIM\r\n"
    assert r.raw("XCLAIM", "s", "g", "dave", "0", "3-0", "RETRYCOUNT", "x") == \
        b"-ERR Invalid RETRYCOUNT option argument for XCLAIM\r\n"
    assert r.raw("XCLAIM", "s", "g", "dave", "0", "3-0", "FOO") == b"-ERR Unrecognized XCLAIM option 'FOO'\r\n"
    assert r.raw("XCLAIM", "s", "g", "dave", "0", "3-0", "LASTID", "bad") == INVALID_ID
    assert r.raw("XCLAIM", "s", "nog", "dave", "0", "3-0") == b"-NOGROUP No such key 's' or consumer group 'nog'\r\n"
    # IDLE sets the delivery time back; FORCE creates entries; LASTID moves the group.
    cmd(r, "XCLAIM", "s", "g", "dave", "0", "3-0", "IDLE", "60000", "JUSTID")
    assert 60000 <= cmd(r, "XPENDING", "s", "g", "3-0", "3-0", "1")[0][2] < 65000
    cmd(r, "XGROUP", "CREATE", "s", "g2", "0")
    assert cmd(r, "XCLAIM", "s", "g2", "erin", "0", "2-0", "9-0", "FORCE", "JUSTID", "LASTID", "2-0") == ["2-0"]
    assert cmd(r, "XINFO", "GROUPS", "s")[1][7] == "2-0"
    # A pending entry deleted from the stream leaves the PEL.
    cmd(r, "XDEL", "s", "2-0")
    assert cmd(r, "XCLAIM", "s", "g2", "frank", "0", "2-0") == []
    assert cmd(r, "XPENDING", "s", "g2")[0] == 0


def test_xautoclaim(r):
    add(r, "s", "1-0", "2-0", "3-0", "4-0", "5-0")
    cmd(r, "XGROUP", "CREATE", "s", "g", "0")
    cmd(r, "XREADGROUP", "GROUP", "g", "alice", "STREAMS", "s", ">")
    assert r.raw("XAUTOCLAIM", "s", "g", "zed", "0", "0", "COUNT", "1") == \
        b"*3\r\n$3\r\n2-0\r\n*1\r\n*2\r\n$3\r\n1-0\r\n*2\r\n$1\r\nf\r\n$3\r\n1-0\r\n*0\r\n"
    assert cmd(r, "XAUTOCLAIM", "s", "g", "zed", "0", "2-0", "COUNT", "2", "JUSTID") == ["4-0", ["2-0", "3-0"], []]
    cmd(r, "XDEL", "s", "4-0")
    assert cmd(r, "XAUTOCLAIM", "s", "g", "yan", "0", "0", "JUSTID") == ["0-0", ["1-0", "2-0", "3-0", "5-0"], ["4-0"]]
    assert cmd(r, "XAUTOCLAIM", "s", "g", "nobody", "100000", "0") == ["0-0", [], []]
    assert "nobody" not in [c[1] for c in cmd(r, "XINFO", "CONSUMERS", "s", "g")]
    assert r.raw("XAUTOCLAIM", "s", "g", "z", "0", "0", "COUNT", "0") == b"-ERR COUNT must be > 0\r\n"
    assert r.raw("XAUTOCLAIM", "s", "g", "z", "0", "0", "FOO") == b"-ERR syntax error\r\n"
    assert r.raw("XAUTOCLAIM", "s", "g", "z", "x", "0") == b"-ERR Invalid min-idle-time argument for XAUTOCLAIM\r\n"
    assert r.raw("XAUTOCLAIM", "s", "nog", "z", "0", "0") == b"-NOGROUP No such key 's' or consumer group 'nog'\r\n"
    cmd(r, "SET", "str", "x")
    assert r.raw("XAUTOCLAIM", "str", "g", "z", "0", "0") == WRONGTYPE


# MARK: XINFO

def test_xinfo_stream_and_radix_tree_counts(r):
    cmd(r, "CONFIG", "SET", "stream-node-max-entries", "3")
    try:
        for id_ in ["1-1", "1-2", "2-0", "3-0", "4-0", "256-0", "65536-0", "65537-0", "65538-0", "99999999-0",
                    "99999999-5", "99999999-6", "99999999-7", "99999999-8"]:
            cmd(r, "XADD", "s", id_, "a", "5")
        assert r.raw("XINFO", "STREAM", "s") == (
            b"*20\r\n$6\r\nlength\r\n:14\r\n$15\r\nradix-tree-keys\r\n:5\r\n$16\r\nradix-tree-nodes\r\n:15\r\n"
            b"$17\r\nlast-generated-id\r\n$10\r\n99999999-8\r\n$20\r\nmax-deleted-entry-id\r\n$3\r\n0-0\r\n"
            b"$13\r\nentries-added\r\n:14\r\n$23\r\nrecorded-first-entry-id\r\n$3\r\n1-1\r\n$6\r\ngroups\r\n:0\r\n"
            b"$11\r\nfirst-entry\r\n*2\r\n$3\r\n1-1\r\n*2\r\n$1\r\na\r\n$1\r\n5\r\n"
            b"$10\r\nlast-entry\r\n*2\r\n$10\r\n99999999-8\r\n*2\r\n$1\r\na\r\n$1\r\n5\r\n")
    finally:
        cmd(r, "CONFIG", "SET", "stream-node-max-entries", "100")
    cmd(r, "XGROUP", "CREATE", "e", "g", "$", "MKSTREAM")
    assert r.raw("XINFO", "STREAM", "e") == (
        b"*20\r\n$6\r\nlength\r\n:0\r\n$15\r\nradix-tree-keys\r\n:0\r\n$16\r\nradix-tree-nodes\r\n:1\r\n"
        b"$17\r\nlast-generated-id\r\n$3\r\n0-0\r\n$20\r\nmax-deleted-entry-id\r\n$3\r\n0-0\r\n"
        b"$13\r\nentries-added\r\n:0\r\n$23\r\nrecorded-first-entry-id\r\n$3\r\n0-0\r\n$6\r\ngroups\r\n:1\r\n"
        b"$11\r\nfirst-entry\r\n$-1\r\n$10\r\nlast-entry\r\n$-1\r\n")
    assert r.raw("XINFO", "STREAM", "e", "FOO") == \
        b"-ERR unknown subcommand or wrong number of arguments for 'STREAM'. Try XINFO HELP.\r\n"
    assert r.raw("XINFO", "STREAM", "e", "FULL", "COUNT", "x") == b"-ERR value is not an integer or out of range\r\n"
    assert r.raw("XINFO", "STREAM", "nokey") == b"-ERR no such key\r\n"


def test_xinfo_stream_full_resp2_resp3(r):
    add(r, "s", "1-0", "2-0", "3-0")
    cmd(r, "XGROUP", "CREATE", "s", "g", "0")
    cmd(r, "XREADGROUP", "GROUP", "g", "alice", "COUNT", "2", "STREAMS", "s", ">")
    full = cmd(r, "XINFO", "STREAM", "s", "FULL", "COUNT", "1")
    assert full[:14] == ["length", 3, "radix-tree-keys", 1, "radix-tree-nodes", 2, "last-generated-id", "3-0",
                         "max-deleted-entry-id", "0-0", "entries-added", 3, "recorded-first-entry-id", "1-0"]
    assert full[14:16] == ["entries", [entry("1-0", "f", "1-0")]]
    group = full[17][0]
    assert group[:11] == ["name", "g", "last-delivered-id", "2-0", "entries-read", 2, "lag", 1, "pel-count", 2,
                          "pending"]
    assert [(p[0], p[1], p[3]) for p in group[11]] == [("1-0", "alice", 1)]
    consumer = group[13][0]
    assert consumer[0:2] == ["name", "alice"] and consumer[2] == "seen-time" and consumer[4:6] == ["pel-count", 2]
    assert [(p[0], p[2]) for p in consumer[7]] == [("1-0", 1)]
    cmd(r, "HELLO", "3")
    full3 = cmd(r, "XINFO", "STREAM", "s", "FULL")
    assert full3["length"] == 3 and len(full3["entries"]) == 3
    assert full3["groups"][0]["consumers"][0]["pel-count"] == 2
    assert r.raw("XINFO", "STREAM", "s").startswith(b"%10\r\n$6\r\nlength\r\n:3\r\n")


# MARK: Blocking XREADGROUP

def blocked_reader(server, payload):
    before = blocked_count(server)
    c = server.conn()
    c.send_raw(payload)
    wait_blocked(server, before + 1)
    return c


def test_xreadgroup_block_woken_by_xadd_across_workers(server, r):
    keys = ["gk:%d" % i for i in range(4)]  # spread over both shards
    for k in keys:
        cmd(r, "XGROUP", "CREATE", k, "g", "$", "MKSTREAM")
    readers = [blocked_reader(server, xreadgroup_raw("g", "c%d" % i, k, ">", block=0)) for i, k in enumerate(keys)]
    for i, k in enumerate(keys):
        cmd(r, "XADD", k, "%d-1" % (i + 1), "f", "v")
    for i, (k, c) in enumerate(zip(keys, readers)):
        assert text(c.read()) == [[k, [entry("%d-1" % (i + 1), "f", "v")]]]
        assert cmd(r, "XPENDING", k, "g")[3] == [["c%d" % i, "1"]]
        c.close()


def test_xreadgroup_blocked_on_two_shards_served_once(server, r):
    for k in ["a1", "b2"]:
        cmd(r, "XGROUP", "CREATE", k, "g", "$", "MKSTREAM")
    c = server.conn()
    args = ["XREADGROUP", "GROUP", "g", "c", "BLOCK", "0", "STREAMS", "a1", "b2", ">", ">"]
    c.send_raw(b"*%d\r\n" % len(args) + b"".join(b"$%d\r\n%s\r\n" % (len(a), a.encode()) for a in args))
    wait_blocked(server, 1)
    cmd(r, "XADD", "b2", "7-0", "k", "v")
    assert text(c.read()) == [["b2", [entry("7-0", "k", "v")]]]
    cmd(r, "XADD", "a1", "7-0", "k", "v")  # nothing left waiting for it
    assert cmd(c, "PING") == "PONG"
    assert cmd(r, "XPENDING", "a1", "g")[0] == 0
    c.close()


def test_xreadgroup_block_timeout_and_resp3(server, r):
    cmd(r, "XGROUP", "CREATE", "t", "g", "$", "MKSTREAM")
    start = time.monotonic()
    assert r.raw("XREADGROUP", "GROUP", "g", "c", "BLOCK", "100", "STREAMS", "t", ">") == b"*-1\r\n"
    assert time.monotonic() - start >= 0.09
    cmd(r, "HELLO", "3")
    assert r.raw("XREADGROUP", "GROUP", "g", "c", "BLOCK", "50", "STREAMS", "t", ">") == b"_\r\n"


def test_blocked_xreadgroup_gets_nogroup_when_group_destroyed(server, r):
    cmd(r, "XGROUP", "CREATE", "d", "g", "$", "MKSTREAM")
    c = blocked_reader(server, xreadgroup_raw("g", "c", "d", ">", block=0))
    assert cmd(r, "XGROUP", "DESTROY", "d", "g") == 1
    assert c.read_raw() == b"-NOGROUP the consumer group this client was blocked on no longer exists\r\n"
    c.close()


def test_blocked_xreadgroup_unblocked_when_key_deleted(server, r):
    for action in (["DEL", "d"], ["SET", "d", "x"], ["RENAME", "d", "d2"]):
        cmd(r, "DEL", "d", "d2")
        cmd(r, "XGROUP", "CREATE", "d", "g", "$", "MKSTREAM")
        c = blocked_reader(server, xreadgroup_raw("g", "c", "d", ">", block=0))
        x = blocked_reader(server, b"*6\r\n$5\r\nXREAD\r\n$5\r\nBLOCK\r\n$3\r\n300\r\n$7\r\nSTREAMS\r\n$1\r\nd\r\n$1\r\n$\r\n")
        cmd(r, *action)
        assert c.read_raw() == b"-UNBLOCKED the stream key no longer exists\r\n"
        # XREAD stays blocked (Redis too) until its timeout.
        assert x.read_raw() == b"*-1\r\n"
        c.close()
        x.close()


def test_xread_block_with_id_beyond_last_blocks(server, r):
    cmd(r, "XADD", "s", "5-0", "f", "v")
    start = time.monotonic()
    c = server.conn()
    c.send_raw(b"*6\r\n$5\r\nXREAD\r\n$5\r\nBLOCK\r\n$3\r\n200\r\n$7\r\nSTREAMS\r\n$1\r\ns\r\n$3\r\n9-0\r\n")
    wait_blocked(server, 1)
    cmd(r, "XADD", "s", "6-0", "f", "v")  # still below 9-0: not served
    assert c.read_raw() == b"*-1\r\n"
    assert time.monotonic() - start >= 0.19
    c.send_raw(b"*6\r\n$5\r\nXREAD\r\n$5\r\nBLOCK\r\n$1\r\n0\r\n$7\r\nSTREAMS\r\n$1\r\ns\r\n$3\r\n9-0\r\n")
    wait_blocked(server, 1)
    cmd(r, "XADD", "s", "10-0", "f", "v")
    assert text(c.read()) == [["s", [entry("10-0", "f", "v")]]]
    c.close()


def test_extreme_numbers_from_clients_do_not_overflow(server, r):
    """Values at the edges of 64 bits wrap or are refused as Redis's C code does; the
    server never traps on them."""
    big = "9223372036854775807"
    # Redis 7.0 has no range check: a timeout past the clock's end blocks for ever.
    assert r.cmd("WAIT", "0", big) == 0
    blocked = server.conn()
    blocked.send_raw(b"*6\r\n$5\r\nXREAD\r\n$5\r\nBLOCK\r\n$19\r\n9223372036854775807\r\n$7\r\nSTREAMS\r\n$1\r\ns\r\n$1\r\n$\r\n")
    # The XADD must come after the read blocked (`$` means entries newer than that moment).
    wait_until(lambda: info(r, "clients")["blocked_clients"] == "1", message="reader blocked")
    assert r.cmd("XADD", "s", "1-0", "f", "v") == b"1-0"
    assert blocked.read()[0][0] == b"s"
    blocked.close()
    r.cmd("XADD", "s", "1-1", "f", "v")
    r.cmd("XGROUP", "CREATE", "s", "g", "0")
    assert r.cmd("XREAD", "BLOCK", big, "STREAMS", "s", "0")[0][0] == b"s"

    r.cmd("XREADGROUP", "GROUP", "g", "c", "STREAMS", "s", ">")
    r.cmd("XCLAIM", "s", "g", "c", "0", "1-1", "IDLE", "-9223372036854775808")
    r.cmd("XCLAIM", "s", "g", "c", "0", "1-1", "RETRYCOUNT", big, "JUSTID")
    r.cmd("XCLAIM", "s", "g", "c", "0", "1-1")
    r.cmd("XPENDING", "s", "g", "-", "+", "10")
    r.cmd("XGROUP", "CREATE", "s", "g2", "0", "ENTRIESREAD", big)
    r.cmd("XREADGROUP", "GROUP", "g2", "c", "STREAMS", "s", ">")
    r.cmd("XSETID", "s", "1-1", "ENTRIESADDED", big)
    r.cmd("XADD", "s", "2-1", "f", "v")
    r.cmd("XINFO", "STREAM", "s")
    r.cmd("XINFO", "GROUPS", "s")
    assert r.cmd("PING") == "PONG"
