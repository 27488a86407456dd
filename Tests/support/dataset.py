"""A server's keyspace read whole, and comparisons of two of them."""


def scan_keys(conn):
    """Every key of the selected database, by SCAN."""
    keys, cursor = set(), b"0"
    while True:
        cursor, batch = conn.cmd("SCAN", cursor, "COUNT", 1000)
        keys.update(batch)
        if cursor == b"0":
            return sorted(keys)


def keyspace(conn, dbs=range(16), clock="PEXPIRETIME"):
    """{db: {key: (GET's reply, `clock`'s reply)}} for each database in `dbs` holding keys.
    `clock` PEXPIRETIME is the absolute deadline (it must survive a save and a load, or
    replication, exactly); PTTL the time left."""
    out = {}
    for db in dbs:
        assert conn.cmd("SELECT", db) == "OK"
        keys = scan_keys(conn)
        if not keys:
            continue
        replies = conn.pipeline([c for k in keys for c in (("GET", k), (clock, k))])
        out[db] = {k: (replies[2 * i], replies[2 * i + 1]) for i, k in enumerate(keys)}
    conn.cmd("SELECT", 0)
    return out


def ttl_presence(space):
    """A keyspace read with clock PTTL, with each time left reduced to 'has one'."""
    return {db: {k: (value, pttl > 0) for k, (value, pttl) in keys.items()} for db, keys in space.items()}


def assert_same_keyspace(actual, expected, ttl_slack_ms=None):
    """The same databases, keys and values; the same clock replies, or with `ttl_slack_ms`
    PTTLs of the same absolute deadline read a moment apart (both without a TTL, or both
    with one and within the slack)."""
    assert sorted(actual) == sorted(expected), "databases differ: %r vs %r" % (sorted(actual), sorted(expected))
    for db in expected:
        missing = set(expected[db]) - set(actual[db])
        extra = set(actual[db]) - set(expected[db])
        assert not missing and not extra, "db %d: missing %r, extra %r" % (db, list(missing)[:5], list(extra)[:5])
        for k, (value, clock) in expected[db].items():
            other_value, other_clock = actual[db][k]
            assert other_value == value, "db %d key %r: value differs" % (db, k[:40])
            if ttl_slack_ms is None:
                assert other_clock == clock, "db %d key %r: %r vs %r" % (db, k[:40], other_clock, clock)
            else:
                assert (clock < 0) == (other_clock < 0) and abs(clock - other_clock) < ttl_slack_ms, \
                    "db %d key %r: PTTL %r vs %r" % (db, k[:40], other_clock, clock)


def same_keyspace(actual, expected, **kw):
    try:
        assert_same_keyspace(actual, expected, **kw)
        return True
    except AssertionError:
        return False
