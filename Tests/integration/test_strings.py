"""String commands (Redis 7.0's t_string.c): replies and error texts byte for byte.

Expected values were checked against a real redis-server 7.0 (VALKEYPER_BIN set to a wrapper
that drops --threads/--shards and runs redis-server): every test passes there too, including
the ones skipped here until PTTL and a non-string type exist.
"""
from support.resp import Error
from support.waiting import wait_until

NOT_INT = b"-ERR value is not an integer or out of range\r\n"
NOT_FLOAT = b"-ERR value is not a valid float\r\n"
SYNTAX = b"-ERR syntax error\r\n"
OVERFLOW = b"-ERR increment or decrement would overflow\r\n"
TOO_BIG = b"-ERR string exceeds maximum allowed size (proto-max-bulk-len)\r\n"
NAN_INF = b"-ERR increment would produce NaN or Infinity\r\n"
WRONGTYPE = "WRONGTYPE Operation against a key holding the wrong kind of value"
NULL2 = b"$-1\r\n"
NULL3 = b"_\r\n"
OK = b"+OK\r\n"
EMPTY = b"$0\r\n\r\n"


def bulk(b):
    if isinstance(b, str):
        b = b.encode()
    return b"$%d\r\n%s\r\n" % (len(b), b)


def invalid_expire(cmd):
    return b"-ERR invalid expire time in '%s' command\r\n" % cmd.encode()


def spread_keys(prefix, n=16):
    """Keys without a tag: with 16 of them both shards are (all but surely) used."""
    return ["%s:%d" % (prefix, i) for i in range(n)]


def has_command(r, name):
    reply = r.cmd(name)
    return not (isinstance(reply, Error) and str(reply).startswith("ERR unknown command"))


def expires_soon(r, key):
    """The key has a TTL: it goes away on its own."""
    wait_until(lambda: r.cmd("EXISTS", key) == 0, timeout=5, message="%s to expire" % key)


def outlives(r, key, ms):
    """The key has no TTL of `ms` or less: a probe on the same shard, set now to expire after
    `ms`, is gone (so that shard's clock is past any such deadline) while the key is still there."""
    probe = "{%s}:probe" % key
    assert r.cmd("SET", probe, "1", "PX", ms + 20) == "OK"
    wait_until(lambda: r.cmd("EXISTS", probe) == 0, timeout=5, message="probe to expire")
    assert r.cmd("EXISTS", key) == 1


def pttl(r, key):
    """PTTL when this build has it (key commands come from another branch), else None."""
    reply = r.cmd("PTTL", key)
    return None if isinstance(reply, Error) else reply


# --- GET / SET --------------------------------------------------------------------------

def test_get_set_binary_safe(r):
    values = [b"", b"plain", b"a\x00b\x00", b"line\r\nbreak\r\n", bytes(range(256)), b"x" * 100000]
    for i, v in enumerate(values):
        assert r.raw("SET", "bin:%d" % i, v) == OK
    for i, v in enumerate(values):
        assert r.raw("GET", "bin:%d" % i) == bulk(v)
    assert r.raw("GET", "missing") == NULL2
    key = b"k\x00\r\n\xff"
    assert r.raw("SET", key, b"v\r\n") == OK
    assert r.raw("GET", key) == bulk(b"v\r\n")
    assert r.raw("STRLEN", key) == b":3\r\n"


def test_set_overwrites_bigger_and_smaller(r):
    assert r.cmd("SET", "k", "x" * 1000) == "OK"
    assert r.cmd("SET", "k", "y") == "OK"
    assert r.cmd("GET", "k") == b"y"
    assert r.cmd("SET", "k", "z" * 5000) == "OK"
    assert r.cmd("GET", "k") == b"z" * 5000


def test_set_nx_xx_get_replies(r):
    assert r.raw("SET", "k", "v", "XX") == NULL2
    assert r.raw("GET", "k") == NULL2
    assert r.raw("SET", "k", "v", "NX") == OK
    assert r.raw("SET", "k", "w", "NX") == NULL2
    assert r.raw("SET", "k", "v2", "XX") == OK
    assert r.raw("GET", "k") == bulk("v2")
    assert r.raw("SET", "k", "v3", "GET") == bulk("v2")
    assert r.raw("SET", "k", "v4", "GET", "NX") == bulk("v3")   # 7.0: NX and GET together
    assert r.raw("GET", "k") == bulk("v3")
    assert r.raw("SET", "k", "v5", "GET", "XX") == bulk("v3")
    assert r.raw("SET", "new", "v", "GET", "NX") == NULL2
    assert r.raw("GET", "new") == bulk("v")
    assert r.raw("SET", "new2", "v", "GET", "XX") == NULL2
    assert r.raw("GET", "new2") == NULL2
    assert r.raw("set", "mixed", "v", "Ex", "100", "gEt") == NULL2
    assert r.raw("set", "mixed", "w", "keepTTL", "xx") == OK


def test_set_resp3_nulls(r):
    r.cmd("HELLO", "3")
    assert r.raw("GET", "missing") == NULL3
    assert r.raw("SET", "k", "v", "XX") == NULL3
    assert r.raw("SET", "k", "v", "NX", "GET") == NULL3
    assert r.raw("SET", "k", "w", "NX") == NULL3
    assert r.raw("SET", "k", "w", "GET") == bulk("v")


def test_set_option_errors(r):
    for opts in [["NX", "XX"], ["XX", "NX"], ["EX"], ["EX", "10", "PX", "10"], ["KEEPTTL", "EX", "10"],
                 ["EX", "10", "KEEPTTL"], ["PERSIST"], ["foo"], ["EX", "10", "PXAT", "10"],
                 ["EX", "abc", "foo"], ["GET", "EX", "10", "PX", "10"], ["XX", "NX", "GET"]]:
        assert r.raw("SET", "k", "v", *opts) == SYNTAX, opts
    # Repeating the same option is allowed; the last expire value wins.
    for opts in [["NX", "NX"], ["GET", "GET"], ["KEEPTTL", "KEEPTTL"], ["EX", "10", "EX", "20"]]:
        r.cmd("DEL", "k")
        reply = r.raw("SET", "k", "v", *opts)
        assert reply in (OK, NULL2), opts
    assert r.raw("SET", "k", "v", "EX", "abc") == NOT_INT
    assert r.raw("SET", "k", "v", "PX", "1.5") == NOT_INT
    for opts in [["EX", "0"], ["EX", "-1"], ["PX", "0"], ["EXAT", "0"], ["PXAT", "-5"],
                 ["EX", "9223372036854775807"], ["EX", "9223372036854776"], ["PX", "9223372036854775807"],
                 ["PX", "9223372036000000000"], ["EX", "9223372036854775"]]:
        assert r.raw("SET", "k", "v", *opts) == invalid_expire("set"), opts
    # Large but valid deadlines.
    assert r.raw("SET", "k", "v", "EX", "9223372036854") == OK
    assert r.raw("SET", "k", "v", "PXAT", "9223372036854775807") == OK
    assert r.raw("SET", "k", "v", "EXAT", "9223372036854775807") == invalid_expire("set")


def test_set_expire_options(r):
    assert r.cmd("SET", "ex", "v", "PX", "150") == "OK"
    assert r.cmd("GET", "ex") == b"v"
    expires_soon(r, "ex")
    # A deadline already in the past: OK, and the key is gone.
    assert r.raw("SET", "past", "v", "EXAT", "1") == OK
    assert r.raw("GET", "past") == NULL2
    assert r.cmd("EXISTS", "past") == 0
    assert r.raw("SET", "past", "v") == OK
    assert r.raw("SET", "past", "w", "PXAT", "1", "GET") == bulk("v")
    assert r.cmd("EXISTS", "past") == 0


def test_set_clears_ttl_keepttl_keeps(r):
    assert r.cmd("SET", "cleared", "v", "PX", "100") == "OK"
    assert r.cmd("SET", "cleared", "w") == "OK"
    assert r.cmd("SET", "kept", "v", "PX", "100") == "OK"
    assert r.cmd("SET", "kept", "w", "KEEPTTL") == "OK"
    assert r.cmd("GET", "kept") == b"w"
    if pttl(r, "cleared") is not None:
        assert pttl(r, "cleared") == -1
        assert 0 < pttl(r, "kept") <= 100
    outlives(r, "cleared", 100)
    assert r.cmd("GET", "cleared") == b"w"
    expires_soon(r, "kept")


def test_set_ex_relative_ttl(r):
    assert r.cmd("SET", "k", "v", "EX", "100") == "OK"
    assert 99000 < pttl(r, "k") <= 100000
    assert r.cmd("SET", "k", "v", "EX", "10", "EX", "20") == "OK"
    assert 19000 < pttl(r, "k") <= 20000
    assert r.cmd("SET", "k", "v", "PXAT", "99999999999999") == "OK"
    assert pttl(r, "k") > 10 ** 13


def test_setnx_setex_psetex(r):
    assert r.raw("SETNX", "n", "1") == b":1\r\n"
    assert r.raw("SETNX", "n", "2") == b":0\r\n"
    assert r.raw("GET", "n") == bulk("1")
    assert r.raw("SETEX", "se", "100", "v") == OK
    assert r.raw("GET", "se") == bulk("v")
    assert r.raw("SETEX", "se", "0", "v") == invalid_expire("setex")
    assert r.raw("SETEX", "se", "-1", "v") == invalid_expire("setex")
    assert r.raw("SETEX", "se", "9223372036854775807", "v") == invalid_expire("setex")
    assert r.raw("SETEX", "se", "abc", "v") == NOT_INT
    assert r.raw("PSETEX", "pse", "0", "v") == invalid_expire("psetex")
    assert r.raw("PSETEX", "pse", "x", "v") == NOT_INT
    assert r.raw("PSETEX", "pse", "120", "v") == OK
    assert r.raw("GET", "pse") == bulk("v")
    expires_soon(r, "pse")
    if pttl(r, "se") is not None:
        assert 99000 < pttl(r, "se") <= 100000
    # SETEX replaces a value without TTL, and a TTL by its own.
    assert r.cmd("SET", "s2", "old") == "OK"
    assert r.cmd("PSETEX", "s2", "100", "new") == "OK"
    assert r.cmd("GET", "s2") == b"new"
    expires_soon(r, "s2")


def test_getset_getdel(r):
    assert r.raw("GETSET", "gs", "a") == NULL2
    assert r.raw("GETSET", "gs", "b") == bulk("a")
    assert r.raw("GET", "gs") == bulk("b")
    assert r.raw("GETDEL", "gs") == bulk("b")
    assert r.raw("GETDEL", "gs") == NULL2
    assert r.cmd("EXISTS", "gs") == 0
    # GETSET clears the TTL.
    assert r.cmd("PSETEX", "gst", "100", "x") == "OK"
    assert r.raw("GETSET", "gst", "y") == bulk("x")
    outlives(r, "gst", 100)
    r.cmd("HELLO", "3")
    assert r.raw("GETSET", "nokey", "x") == NULL3
    assert r.raw("GETDEL", "missing") == NULL3


def test_getex(r):
    assert r.raw("GETEX", "missing") == NULL2
    assert r.raw("GETEX", "missing", "EX", "abc") == NULL2   # value checked only for an existing key
    assert r.raw("GETEX", "missing", "FOO") == SYNTAX
    assert r.cmd("SET", "gx", "v") == "OK"
    assert r.raw("GETEX", "gx") == bulk("v")
    for opts in [["KEEPTTL"], ["NX"], ["XX"], ["GET"], ["PERSIST", "EX", "10"], ["EX", "10", "PERSIST"],
                 ["EX"], ["PXAT", "10", "EXAT", "10"], ["EX", "1", "PX", "1"]]:
        assert r.raw("GETEX", "gx", *opts) == SYNTAX, opts
    assert r.raw("GETEX", "gx", "EX", "0") == invalid_expire("getex")
    assert r.raw("GETEX", "gx", "EXAT", "-1") == invalid_expire("getex")
    assert r.raw("GETEX", "gx", "PX", "9223372036854775807") == invalid_expire("getex")
    assert r.raw("GETEX", "gx", "EX", "abc") == NOT_INT
    assert r.raw("GETEX", "gx", "EX", "9223372036854775808") == NOT_INT
    assert r.raw("GETEX", "gx", "PERSIST", "PERSIST") == bulk("v")
    # PX sets a TTL, PERSIST removes it.
    assert r.raw("GETEX", "gx", "PX", "100") == bulk("v")
    assert r.raw("GETEX", "gx", "PERSIST") == bulk("v")
    outlives(r, "gx", 100)
    assert r.raw("Getex", "gx", "pX", "100") == bulk("v")
    expires_soon(r, "gx")
    # An EXAT/PXAT in the past replies with the value and deletes the key.
    assert r.cmd("SET", "gx", "w") == "OK"
    assert r.raw("GETEX", "gx", "PXAT", "1") == bulk("w")
    assert r.cmd("EXISTS", "gx") == 0
    assert r.cmd("SET", "gx", "w") == "OK"
    assert r.raw("GETEX", "gx", "EX", "10", "EX", "20") == bulk("w")
    if pttl(r, "gx") is not None:
        assert 19000 < pttl(r, "gx") <= 20000
    r.cmd("HELLO", "3")
    assert r.raw("GETEX", "missing") == NULL3


# --- MGET / MSET / MSETNX ---------------------------------------------------------------

def test_mget_mset_across_shards(r):
    keys = spread_keys("m")
    pairs = []
    for i, k in enumerate(keys):
        pairs += [k, "v%d" % i]
    assert r.raw("MSET", *pairs) == OK
    query = keys + ["nokey:1", keys[3], "nokey:2"]
    expect = b"*%d\r\n" % len(query) + b"".join(bulk("v%d" % i) for i in range(16)) + NULL2 + bulk("v3") + NULL2
    assert r.raw("MGET", *query) == expect
    for i, k in enumerate(keys):
        assert r.cmd("GET", k) == b"v%d" % i
    # Later pairs win for a repeated key.
    assert r.raw("MSET", keys[0], "a", keys[1], "b", keys[0], "c") == OK
    assert r.cmd("MGET", keys[0], keys[1]) == [b"c", b"b"]
    r.cmd("HELLO", "3")
    assert r.raw("MGET", "nokey:1", keys[5], "nokey:2") == b"*3\r\n" + NULL3 + bulk("v5") + NULL3
    # Values that look like RESP, empty values and keys of other types, spliced from the
    # shards' replies.
    assert r.raw("MSET", keys[0], b"\r\n$3\r\n*1\r\n", keys[1], "") == OK
    r.cmd("DEL", keys[2])
    r.cmd("XADD", keys[2], "*", "f", "v")
    assert r.raw("MGET", keys[1], keys[2], keys[0], keys[1]) == (
        b"*4\r\n" + bulk("") + NULL3 + bulk(b"\r\n$3\r\n*1\r\n") + bulk(""))


def test_mget_mset_same_shard(r):
    assert r.raw("MSET", "{t}a", "1", "{t}b", b"\x00\r\n") == OK
    assert r.raw("MGET", "{t}a", "{t}b", "{t}c") == b"*3\r\n" + bulk("1") + bulk(b"\x00\r\n") + NULL2
    assert r.raw("MGET", "nokey") == b"*1\r\n" + NULL2
    r.cmd("HELLO", "3")
    assert r.raw("MGET", "{t}c", "{t}a") == b"*2\r\n" + NULL3 + bulk("1")


def test_mset_clears_ttl(r):
    assert r.cmd("PSETEX", "mt", "100", "v") == "OK"
    assert r.cmd("MSET", "mt", "w", "other", "x") == "OK"
    outlives(r, "mt", 100)


def test_mset_msetnx_arity(r):
    keys = spread_keys("ar")
    for cmd in ["MSET", "MSETNX"]:
        err = b"-ERR wrong number of arguments for '%s' command\r\n" % cmd.lower().encode()
        assert r.raw(cmd, "a") == err
        assert r.raw(cmd, "a", "1", "b") == err
        assert r.raw(cmd, *keys[:15]) == err            # across shards: still one error
        assert r.raw(cmd, *keys[:13]) == err
    assert r.cmd("DBSIZE") == 0
    assert r.raw("MGET") == b"-ERR wrong number of arguments for 'mget' command\r\n"


def test_msetnx(r):
    assert r.raw("MSETNX", "{x}1", "1", "{x}2", "2") == b":1\r\n"
    assert r.raw("MSETNX", "{x}1", "9", "{x}3", "3") == b":0\r\n"
    assert r.cmd("MGET", "{x}1", "{x}2", "{x}3") == [b"1", b"2", None]
    assert r.raw("MSETNX", "dup", "4", "dup", "5") == b":1\r\n"
    assert r.cmd("GET", "dup") == b"5"


def test_msetnx_across_shards(r):
    keys = spread_keys("nx")
    pairs = []
    for i, k in enumerate(keys):
        pairs += [k, "v%d" % i]
    assert r.raw("MSETNX", *pairs) == b":1\r\n"
    assert r.cmd("MGET", *keys) == [b"v%d" % i for i in range(16)]
    # One existing key anywhere stops all of them.
    fresh = spread_keys("fresh")
    for existing in [keys[0], keys[15]]:
        attempt = []
        for k in fresh:
            attempt += [k, "new"]
        attempt += [existing, "new"]
        assert r.raw("MSETNX", *attempt) == b":0\r\n"
        assert r.cmd("MGET", *fresh) == [None] * 16
        assert r.cmd("GET", existing) == b"v%d" % keys.index(existing)
    assert r.cmd("DBSIZE") == 16


def test_cross_shard_pipeline_keeps_order(r):
    keys = spread_keys("pp", 8)
    cmds = []
    for round_ in range(50):
        pairs = []
        for k in keys:
            pairs += ["%s:%d" % (k, round_), str(round_)]
        cmds.append(["MSETNX"] + pairs)
        cmds.append(["MSETNX"] + pairs)
        cmds.append(["MGET"] + ["%s:%d" % (k, round_) for k in keys])
        cmds.append(["MSET"] + pairs)
        cmds.append(["PING"])
    replies = r.pipeline(cmds)
    for round_ in range(50):
        got = replies[5 * round_:5 * round_ + 5]
        assert got == [1, 0, [str(round_).encode()] * 8, "OK", "PONG"]


# --- APPEND / STRLEN / GETRANGE / SETRANGE ----------------------------------------------

def test_append_strlen(r):
    assert r.raw("APPEND", "ap", "hello") == b":5\r\n"
    assert r.raw("APPEND", "ap", " world") == b":11\r\n"
    assert r.raw("APPEND", "ap", "") == b":11\r\n"
    assert r.raw("GET", "ap") == bulk("hello world")
    assert r.raw("STRLEN", "ap") == b":11\r\n"
    assert r.raw("STRLEN", "missing") == b":0\r\n"
    assert r.raw("APPEND", "bin", b"a\x00") == b":2\r\n"
    assert r.raw("APPEND", "bin", b"\r\nb") == b":5\r\n"
    assert r.raw("GET", "bin") == bulk(b"a\x00\r\nb")
    assert r.cmd("SET", "num", "123") == "OK"
    assert r.raw("APPEND", "num", "4") == b":4\r\n"
    assert r.raw("INCR", "num") == b":1235\r\n"


def test_append_grows_and_keeps_ttl(r):
    expected = b""
    for i in range(2000):
        piece = b"%d," % i
        expected += piece
        assert r.cmd("APPEND", "grow", piece) == len(expected)
    assert r.cmd("GET", "grow") == expected
    big = b"y" * 300000
    assert r.cmd("APPEND", "grow", big) == len(expected) + len(big)
    assert r.cmd("GETRANGE", "grow", 0, len(expected) - 1) == expected
    assert r.cmd("STRLEN", "grow") == len(expected) + len(big)
    # TTL kept whether the value grows in place or moves to a bigger block.
    assert r.cmd("SET", "t", "a", "PX", "150") == "OK"
    assert r.cmd("APPEND", "t", "b") == 2
    assert r.cmd("APPEND", "t", "c" * 10000) == 10002
    if pttl(r, "t") is not None:
        assert 0 < pttl(r, "t") <= 150
    expires_soon(r, "t")


def test_getrange_substr(r):
    assert r.cmd("SET", "s", "hello world") == "OK"
    cases = [
        ((0, 4), b"hello"), ((-5, -1), b"world"), ((0, -1), b"hello world"), ((5, 2), b""),
        ((-1, -5), b""), ((-100, -50), b"h"), ((-100, 2), b"hel"), ((0, 1000), b"hello world"),
        ((1000, 2000), b""), ((3, 3), b"l"), ((-9223372036854775808, 9223372036854775807), b"hello world"),
    ]
    for (start, end), want in cases:
        assert r.raw("GETRANGE", "s", start, end) == bulk(want), (start, end)
        assert r.raw("SUBSTR", "s", start, end) == bulk(want), (start, end)
    assert r.raw("GETRANGE", "s", "a", "1") == NOT_INT
    assert r.raw("GETRANGE", "s", "0", "1.0") == NOT_INT
    assert r.raw("GETRANGE", "missing", "0", "1") == EMPTY
    assert r.raw("GETRANGE", "missing", "a", "1") == NOT_INT
    assert r.cmd("SET", "e", "") == "OK"
    assert r.raw("GETRANGE", "e", "0", "-1") == EMPTY
    assert r.raw("GETRANGE", "e", "0", "0") == EMPTY
    assert r.cmd("SET", "b", b"\x00\r\n\xff") == "OK"
    assert r.raw("GETRANGE", "b", "1", "2") == bulk(b"\r\n")
    r.cmd("HELLO", "3")
    assert r.raw("GETRANGE", "missing", "0", "1") == EMPTY


def test_setrange(r):
    assert r.raw("SETRANGE", "sr", "5", "abc") == b":8\r\n"
    assert r.raw("GET", "sr") == bulk(b"\x00" * 5 + b"abc")
    assert r.raw("SETRANGE", "sr", "0", "XY") == b":8\r\n"
    assert r.raw("GET", "sr") == bulk(b"XY\x00\x00\x00abc")
    assert r.raw("SETRANGE", "sr", "10", "Z") == b":11\r\n"
    assert r.raw("GET", "sr") == bulk(b"XY\x00\x00\x00abc\x00\x00Z")
    assert r.raw("SETRANGE", "sr", "1", "") == b":11\r\n"
    assert r.raw("SETRANGE", "nosr", "10", "") == b":0\r\n"
    assert r.cmd("EXISTS", "nosr") == 0
    assert r.raw("SETRANGE", "sr", "-1", "x") == b"-ERR offset is out of range\r\n"
    assert r.raw("SETRANGE", "sr", "x", "x") == NOT_INT
    assert r.raw("SETRANGE", "sr", "536870912", "x") == TOO_BIG
    assert r.raw("SETRANGE", "nosr", "536870912", "x") == TOO_BIG
    assert r.raw("SETRANGE", "sr", "536870911", "xy") == TOO_BIG
    assert r.raw("SETRANGE", "sr", "9223372036854775807", "x") == TOO_BIG
    assert r.raw("SETRANGE", "sr", "536870912", "") == b":11\r\n"   # nothing to write: no size check
    assert r.cmd("EXISTS", "nosr") == 0
    # Far offsets zero-fill; binary patches stay intact.
    assert r.cmd("SETRANGE", "far", 100000, b"\r\n\x00") == 100003
    assert r.cmd("GET", "far") == b"\x00" * 100000 + b"\r\n\x00"
    assert r.cmd("SET", "num", "1234") == "OK"
    assert r.cmd("SETRANGE", "num", 1, "9") == 4
    assert r.cmd("INCR", "num") == 1935


def test_setrange_keeps_ttl(r):
    assert r.cmd("SET", "t", "abc", "PX", "150") == "OK"
    assert r.cmd("SETRANGE", "t", 1, "X") == 3
    assert r.cmd("SETRANGE", "t", 50000, "Y") == 50001
    assert r.cmd("GETRANGE", "t", 0, 2) == b"aXc"
    expires_soon(r, "t")


# --- Counters ---------------------------------------------------------------------------

def test_incr_decr(r):
    assert r.raw("INCR", "c") == b":1\r\n"
    assert r.raw("GET", "c") == bulk("1")
    assert r.raw("INCR", "c") == b":2\r\n"
    assert r.raw("DECR", "c") == b":1\r\n"
    assert r.raw("INCRBY", "c", "10") == b":11\r\n"
    assert r.raw("DECRBY", "c", "5") == b":6\r\n"
    assert r.raw("INCRBY", "c", "-10") == b":-4\r\n"
    assert r.raw("GET", "c") == bulk("-4")
    assert r.raw("DECR", "d") == b":-1\r\n"
    assert r.raw("SET", "c", "17179869184") == OK
    assert r.raw("INCRBY", "c", "17179869184") == b":34359738368\r\n"
    assert r.raw("DECRBY", "c", "34359738369") == b":-1\r\n"


def test_incr_errors(r):
    assert r.raw("INCRBY", "c", "abc") == NOT_INT
    assert r.raw("INCRBY", "c", "1.5") == NOT_INT
    assert r.raw("DECRBY", "c", "") == NOT_INT
    assert r.raw("DECRBY", "c", "-9223372036854775808") == b"-ERR decrement would overflow\r\n"
    assert r.raw("INCRBY", "c", "-9223372036854775808") == b":-9223372036854775808\r\n"
    assert r.raw("SET", "big", "9223372036854775807") == OK
    assert r.raw("INCR", "big") == OVERFLOW
    assert r.raw("INCRBY", "big", "1") == OVERFLOW
    assert r.raw("GET", "big") == bulk("9223372036854775807")
    assert r.raw("DECRBY", "big", "-1") == OVERFLOW
    assert r.raw("SET", "small", "-9223372036854775808") == OK
    assert r.raw("DECR", "small") == OVERFLOW
    assert r.raw("INCRBY", "small", "-1") == OVERFLOW
    assert r.raw("INCRBY", "small", "9223372036854775807") == b":-1\r\n"
    # Redis's string2ll: no spaces, no '+', no leading zeros, no "-0", fits in 64 bits.
    for bad in [" 11", "11 ", "011", "+1", "-0", "9223372036854775808", "", "1.5", "1e3", "a\x001"]:
        assert r.raw("SET", "sp", bad) == OK
        assert r.raw("INCR", "sp") == NOT_INT, bad
        assert r.raw("GET", "sp") == bulk(bad)
    assert r.raw("SET", "z", "0") == OK
    assert r.raw("DECR", "z") == b":-1\r\n"


def test_incr_keeps_ttl(r):
    assert r.cmd("SET", "t", "5", "PX", "150") == "OK"
    assert r.cmd("INCR", "t") == 6
    assert r.cmd("DECRBY", "t", 100) == -94
    assert r.cmd("INCRBYFLOAT", "t", "0.5") == b"-93.5"
    if pttl(r, "t") is not None:
        assert 0 < pttl(r, "t") <= 150
    expires_soon(r, "t")


def test_incrbyfloat_formatting(r):
    cases = [
        ("f", "10.5", b"10.5"), ("f", "0.1", b"10.6"), ("f2", "3.0e3", b"3000"), ("f2", "-3000", b"0"),
        ("f3", "1", b"1"), ("f3", "-1.1", b"-0.1"), ("f4", "0.1", b"0.1"), ("f4", "0.2", b"0.3"),
        ("f5", "5.0e3", b"5000"), ("f5", "1.23456789012345678", b"5001.23456789012345691"),
        ("f6", "-0.0", b"0"), ("f6", "1e-20", b"0"), ("f6", "-2e-20", b"0"),
        ("f7", "1e-17", b"0.00000000000000001"), ("f8", "5e-18", b"0"), ("f8", "6e-18", b"0.00000000000000001"),
        ("f9", "-5e-18", b"0"), ("f9", "-7e-18", b"-0.00000000000000001"), ("h", "0x1p-3", b"0.125"), ("h", ".5", b"0.625"),
        ("h", "5.", b"5.625"), ("h", "-.5e1", b"0.625"), ("big", "1e20", b"100000000000000000000"),
    ]
    for key, incr, want in cases:
        assert r.raw("INCRBYFLOAT", key, incr) == bulk(want), (key, incr)
        assert r.raw("GET", key) == bulk(want)
    assert r.cmd("SET", "n", "17179869184") == "OK"
    assert r.cmd("INCRBYFLOAT", "n", "1.5") == b"17179869185.5"
    assert r.cmd("INCRBYFLOAT", "n", "17179869184") == b"34359738369.5"
    # %.17Lf of a huge value: every integer digit, no exponent.
    huge = r.cmd("INCRBYFLOAT", "huge", "1e300")
    assert len(huge) == 301 and huge.startswith(b"1000000000000000000") and b"." not in huge
    huge2 = r.cmd("INCRBYFLOAT", "huge2", "1e4000")    # the long double nearest 1e4000
    assert len(huge2) == 4000 and huge2.startswith(b"99999999999999999999654638730996237849")
    r.cmd("HELLO", "3")
    assert r.raw("INCRBYFLOAT", "r3", "1.5") == bulk("1.5")    # a bulk string, not a RESP3 double


def test_incrbyfloat_errors(r):
    assert r.cmd("SET", "f", "0") == "OK"
    for incr in ["+inf", "inf", "-inf", "infinity", "-Infinity", "INF"]:
        assert r.raw("INCRBYFLOAT", "f", incr) == NAN_INF, incr
    for incr in ["nan", "abc", " 1", "1 ", "\t1", "1\t", "", "1e", "1e5000", "1e-5000", "1.2.3", "1\x00"]:
        assert r.raw("INCRBYFLOAT", "f", incr) == NOT_FLOAT, incr
    assert r.raw("GET", "f") == bulk("0")
    assert r.raw("INCRBYFLOAT", "f", "1e-300") == bulk("0")    # tiny but not an underflow to zero
    for stored in ["abc", " 11", "11 ", "1\x002", "nan"]:
        assert r.cmd("SET", "bad", stored) == "OK"
        assert r.raw("INCRBYFLOAT", "bad", "1") == NOT_FLOAT, stored
    assert r.cmd("SET", "bad", "1e3") == "OK"
    assert r.raw("INCRBYFLOAT", "bad", "0") == bulk("1000")
    assert r.raw("INCRBYFLOAT", "bad", "abc") == NOT_FLOAT
    assert r.cmd("SET", "i", "100") == "OK"
    assert r.raw("INCRBYFLOAT", "i", "0.5") == bulk("100.5")
    assert r.raw("INCR", "i") == NOT_INT


# --- Types and arity --------------------------------------------------------------------

def test_arity_errors(r):
    arities = {"get": 2, "set": -3, "setnx": 3, "setex": 4, "psetex": 4, "getset": 3, "getdel": 2,
               "getex": -2, "mget": -2, "mset": -3, "msetnx": -3, "append": 3, "strlen": 2,
               "getrange": 4, "substr": 4, "setrange": 4, "incr": 2, "decr": 2, "incrby": 3, "decrby": 3,
               "incrbyfloat": 3}
    for name, arity in arities.items():
        err = b"-ERR wrong number of arguments for '%s' command\r\n" % name.encode()
        assert r.raw(name.upper()) == err
        n = abs(arity)
        if arity > 0:
            assert r.raw(name, *(["x"] * n)) == err, name
        assert r.raw(name, *(["x"] * (n - 2))) == err, name
    # Internal parts are not commands.
    assert r.raw("__keys", "*").startswith(b"-ERR unknown command '__keys'")
    assert r.raw("__count_existing", "k").startswith(b"-ERR unknown command")
