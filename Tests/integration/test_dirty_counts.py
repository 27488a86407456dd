"""How many changes a write adds to rdb_changes_since_last_save (Redis's server.dirty), against
redis-server 7.0, for writes that grow a string: one per command, also when the string
outgrows its block (ours counted the growth and the move to a bigger block apart). Redis's
tcl suite, unit/bitops: "SETBIT/BITFIELD only increase dirty when the value changed"; and
PFADD, which counts its creation and every register it raised (pfaddCommand's
`server.dirty += updated`)."""
from support.differential import paired
from support.info import info

COMMANDS = [
    ("SETBIT", "b{t}", "0", "0"),                 # created
    ("SETBIT", "b{t}", "0", "0"),                 # no change
    ("SETBIT", "b{t}", "0", "1"),
    ("SETBIT", "b{t}", "90", "0"),                # grows the string, the bit stays 0
    ("SETBIT", "b{t}", "100000", "0"),            # grows past its block
    ("BITFIELD", "f{t}", "SET", "i5", "0", "0"),
    ("BITFIELD", "f{t}", "SET", "i5", "0", "0"),
    ("BITFIELD", "f{t}", "SET", "i5", "90", "0"),
    ("BITFIELD", "f{t}", "SET", "i5", "900000", "0"),
    ("BITFIELD", "f{t}", "INCRBY", "i5", "0", "1"),
    ("SET", "s{t}", "x"),
    ("APPEND", "s{t}", "y" * 3000),               # past the block
    ("APPEND", "s{t}", "z"),
    ("SETRANGE", "s{t}", "100000", "w"),
    ("SETRANGE", "s{t}", "0", ""),                # nothing written
    ("PFADD", "h{t}"),                            # created empty: one
    ("PFADD", "h{t}", *["e%d" % i for i in range(40)]),  # one per register raised
    ("PFADD", "h{t}", "e1", "e2"),                # nothing raised
    ("PFADD", "h2{t}", "a", "b", "c"),            # the creation and each register
]


def changes(conn):
    return int(info(conn, "persistence")["rdb_changes_since_last_save"])


def deltas(conn):
    out = []
    for args in COMMANDS:
        before = changes(conn)
        conn.cmd(*args)
        out.append(changes(conn) - before)
    return out


def test_string_growth_counts_one_change_as_redis(server, redis_port):
    with paired(server, redis_port) as (redis, vk):
        expected = deltas(redis)
        assert expected[3:5] == [1, 1]
        assert deltas(vk) == expected
