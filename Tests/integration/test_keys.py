"""Generic key commands (db.c, expire.c, object.c) with Redis 7.0's replies and errors.

Keys hash to shards with a per-process seed, so cross-shard paths are exercised by
working on many key pairs (at least one pair lands on two shards), and same-shard
paths by {hashtags}.
"""
import random
import time

from support.info import info
from support.resp import Error, encode
from support.waiting import wait_until
from support.workers import connections_on_two_workers, send_until_one_waits

PAIRS = 24  # key pairs per cross-shard check: all on one shard by chance is ~2^-24
SERVER_ARGS = ("--enable-debug-command", "yes")  # DEBUG SLEEP / SET-ACTIVE-EXPIRE (default: no, as Redis)


def err(reply):
    assert isinstance(reply, Error), "expected an error, got %r" % (reply,)
    return str(reply)


def set_many(r, keys, value="v"):
    assert r.pipeline([("SET", k, value) for k in keys]) == ["OK"] * len(keys)


def used_memory(r):
    return int(info(r, "memory")["used_memory"])


def full_scan(r, *options):
    cursor, seen, calls = b"0", [], 0
    while True:
        cursor, keys = r.cmd("SCAN", cursor, *options)
        seen.extend(keys)
        calls += 1
        if cursor == b"0":
            return seen, calls


# DEL, UNLINK, EXISTS, TOUCH, TYPE

def test_del_unlink_exists_touch_across_shards(r):
    keys = ["key:%d" % i for i in range(100)]
    set_many(r, keys)
    assert r.raw("EXISTS", *keys, "missing") == b":100\r\n"
    assert r.cmd("EXISTS", "key:1", "key:1", "key:1") == 3  # repeated keys count each time
    assert r.cmd("TOUCH", *keys[:50], "missing", "key:0") == 51
    assert r.cmd("DEL", "key:0", "key:0", "missing") == 1
    assert r.cmd("UNLINK", *keys[1:50]) == 49
    assert r.cmd("DEL", *keys) == 50
    assert r.cmd("DBSIZE") == 0
    assert r.raw("DEL", "nothing") == b":0\r\n"


def test_arity_errors(r):
    for name in ("del", "unlink", "exists", "touch", "type", "expire", "pexpire", "expireat", "pexpireat",
                 "ttl", "pttl", "expiretime", "pexpiretime", "persist", "keys", "scan", "randomkey",
                 "rename", "renamenx", "copy", "move", "swapdb"):
        args = ["a", "b", "c", "d"] if name == "randomkey" else []
        assert err(r.cmd(name.upper(), *args)) == "ERR wrong number of arguments for '%s' command" % name


def test_type(r):
    r.cmd("SET", "s", "v")
    assert r.raw("TYPE", "s") == b"+string\r\n"
    assert r.raw("TYPE", "nope") == b"+none\r\n"


# EXPIRE family, TTL family, PERSIST

def test_expire_and_ttl(r):
    r.cmd("SET", "k", "v")
    assert r.raw("TTL", "k") == b":-1\r\n"
    assert r.raw("PTTL", "k") == b":-1\r\n"
    assert r.cmd("EXPIRETIME", "k") == -1
    assert r.cmd("PEXPIRETIME", "k") == -1
    assert r.raw("TTL", "missing") == b":-2\r\n"
    assert r.cmd("PTTL", "missing") == -2
    assert r.cmd("EXPIRETIME", "missing") == -2
    assert r.cmd("PEXPIRETIME", "missing") == -2

    assert r.raw("EXPIRE", "k", "100") == b":1\r\n"
    assert r.cmd("TTL", "k") == 100
    assert 99000 < r.cmd("PTTL", "k") <= 100000
    now = time.time()
    assert abs(r.cmd("EXPIRETIME", "k") - (now + 100)) <= 2
    assert abs(r.cmd("PEXPIRETIME", "k") - (now + 100) * 1000) <= 2000

    assert r.cmd("PEXPIRE", "k", "2600") == 1
    assert r.cmd("TTL", "k") == 3  # rounded to the nearest second, as Redis
    at = int(time.time()) + 500
    assert r.cmd("EXPIREAT", "k", at) == 1
    assert r.cmd("EXPIRETIME", "k") == at
    assert r.cmd("PEXPIRETIME", "k") == at * 1000
    assert r.cmd("PEXPIREAT", "k", at * 1000 + 123) == 1
    assert r.cmd("PEXPIRETIME", "k") == at * 1000 + 123

    assert r.cmd("EXPIRE", "missing", "100") == 0
    assert r.cmd("PEXPIREAT", "missing", at * 1000) == 0

    r.cmd("SET", "k", "v2")  # a plain SET clears the TTL
    assert r.cmd("TTL", "k") == -1


def test_persist(r):
    r.cmd("SET", "k", "v", "EX", "100")
    assert r.raw("PERSIST", "k") == b":1\r\n"
    assert r.cmd("TTL", "k") == -1
    assert r.cmd("PERSIST", "k") == 0
    assert r.cmd("PERSIST", "missing") == 0
    assert r.cmd("GET", "k") == b"v"


def test_expire_in_the_past_deletes(r):
    for args in (("EXPIRE", "k", "-1"), ("PEXPIRE", "k", "0"), ("EXPIREAT", "k", "1"),
                 ("PEXPIREAT", "k", "1"), ("EXPIRE", "k", "-9223372036854775")):
        r.cmd("SET", "k", "v")
        assert r.raw(*args) == b":1\r\n"
        assert r.cmd("EXISTS", "k") == 0
        assert r.cmd("TTL", "k") == -2


def test_expire_conditions(r):
    r.cmd("SET", "k", "v")
    assert r.cmd("EXPIRE", "k", "100", "XX") == 0        # no TTL yet
    assert r.cmd("EXPIRE", "k", "100", "GT") == 0        # no TTL counts as infinite
    assert r.cmd("EXPIRE", "k", "100", "NX") == 1
    assert r.cmd("EXPIRE", "k", "200", "NX") == 0
    assert r.cmd("TTL", "k") == 100
    assert r.cmd("EXPIRE", "k", "200", "xx") == 1
    assert r.cmd("EXPIRE", "k", "100", "GT") == 0
    assert r.cmd("EXPIRE", "k", "300", "gt") == 1
    assert r.cmd("EXPIRE", "k", "400", "LT") == 0
    assert r.cmd("EXPIRE", "k", "50", "LT", "XX") == 1
    assert r.cmd("TTL", "k") == 50
    r.cmd("PERSIST", "k")
    assert r.cmd("EXPIRE", "k", "50", "LT") == 1       # any TTL is less than none
    assert r.cmd("EXPIRE", "missing", "50", "NX") == 0


def test_expire_errors(r):
    r.cmd("SET", "k", "v")
    nx_error = "ERR NX and XX, GT or LT options at the same time are not compatible"
    assert r.raw("EXPIRE", "k", "100", "NX", "XX") == b"-" + nx_error.encode() + b"\r\n"
    assert err(r.cmd("EXPIRE", "k", "100", "NX", "GT")) == nx_error
    assert err(r.cmd("PEXPIRE", "k", "100", "LT", "NX")) == nx_error
    assert err(r.cmd("EXPIRE", "k", "100", "GT", "LT")) == "ERR GT and LT options at the same time are not compatible"
    assert err(r.cmd("EXPIRE", "k", "100", "GT", "lt", "xx")) == "ERR GT and LT options at the same time are not compatible"
    assert err(r.cmd("EXPIRE", "k", "100", "Bogus")) == "ERR Unsupported option Bogus"
    assert err(r.cmd("EXPIRE", "k", "100", "XX", "foo", "NX")) == "ERR Unsupported option foo"
    # Options are checked before the time argument.
    assert err(r.cmd("EXPIRE", "k", "abc", "foo")) == "ERR Unsupported option foo"
    assert err(r.cmd("EXPIRE", "k", "abc")) == "ERR value is not an integer or out of range"
    assert err(r.cmd("PEXPIRE", "k", "1.5")) == "ERR value is not an integer or out of range"
    assert err(r.cmd("EXPIRE", "k", "9223372036854775807")) == "ERR invalid expire time in 'expire' command"
    assert err(r.cmd("EXPIRE", "k", "-9223372036854776")) == "ERR invalid expire time in 'expire' command"
    assert err(r.cmd("PEXPIRE", "k", "9223372036854775807")) == "ERR invalid expire time in 'pexpire' command"
    assert err(r.cmd("EXPIREAT", "k", "9223372036854775807")) == "ERR invalid expire time in 'expireat' command"
    # The overflow checks run before the key lookup.
    assert err(r.cmd("EXPIRE", "missing", "9223372036854775807")) == "ERR invalid expire time in 'expire' command"
    assert r.cmd("TTL", "k") == -1
    # PEXPIREAT adds nothing, so the largest value is a valid (far) deadline.
    assert r.cmd("PEXPIREAT", "k", "9223372036854775807") == 1
    assert r.cmd("PEXPIRETIME", "k") == 9223372036854775807
    assert r.cmd("EXPIRETIME", "k") == 9223372036854776
    assert r.cmd("TTL", "k") > 9223372036854775 - int(time.time()) - 10


def test_ttl_across_shards(r):
    keys = ["t:%d" % i for i in range(40)]
    set_many(r, keys)
    replies = r.pipeline([("PEXPIRE", k, 100000 + i) for i, k in enumerate(keys)])
    assert replies == [1] * len(keys)
    for i, k in enumerate(keys):
        assert r.cmd("PEXPIRETIME", k) - r.cmd("PEXPIRETIME", keys[0]) in range(i - 50, i + 50)
        assert r.cmd("TTL", k) == 100


def test_expired_keys_are_invisible(r):
    keys = ["gone:%d" % i for i in range(30)] + ["{tag}gone:%d" % i for i in range(10)]
    set_many(r, keys)
    set_many(r, ["stay:1", "stay:2"])
    r.cmd("DEBUG", "SET-ACTIVE-EXPIRE", "0")  # only lazy expiry: the keys stay in the tables
    try:
        assert r.pipeline([("PEXPIRE", k, "1") for k in keys]) == [1] * len(keys)
        wait_until(lambda: r.cmd("KEYS", "gone:*") == [] and r.cmd("KEYS", "{tag}*") == [],
                   message="expired keys to vanish from KEYS")
        assert sorted(full_scan(r)[0]) == [b"stay:1", b"stay:2"]
        assert sorted(full_scan(r, "MATCH", "*gone*")[0]) == []
        for k in keys[:5]:
            assert r.cmd("TYPE", k) == "none"
            assert r.cmd("TTL", k) == -2
            assert r.cmd("GET", k) is None
        assert r.cmd("EXISTS", *keys) == 0
        assert err(r.cmd("RENAME", keys[10], "x")) == "ERR no such key"
        assert r.cmd("COPY", keys[11], "x") == 0
        assert r.cmd("OBJECT", "ENCODING", keys[12]) is None
        for _ in range(20):
            assert r.cmd("RANDOMKEY") in (b"stay:1", b"stay:2")
    finally:
        r.cmd("DEBUG", "SET-ACTIVE-EXPIRE", "1")
    wait_until(lambda: r.cmd("DBSIZE") == 2, message="active expiry to remove the rest")


def test_debug_set_active_expire_reaches_every_shard(r):
    keys = ["ae:%d" % i for i in range(64)]
    assert r.cmd("DEBUG", "SET-ACTIVE-EXPIRE", "0") == "OK"
    try:
        assert r.pipeline([("SET", k, "v", "PX", "20") for k in keys]) == ["OK"] * len(keys)
        r.cmd("SET", "sentinel", "v", "PX", "20")
        wait_until(lambda: r.cmd("PTTL", "sentinel") == -2, message="the sentinel to expire")
        time.sleep(0.2)  # several expiry ticks: with active expiry off nothing may be collected
        assert r.cmd("DBSIZE") == len(keys)
    finally:
        assert r.raw("DEBUG", "SET-ACTIVE-EXPIRE", "1") == b"+OK\r\n"
    wait_until(lambda: r.cmd("DBSIZE") == 0, message="active expiry to resume on every shard")


def test_debug_errors_and_sleep(r):
    assert r.raw("DEBUG", "SLEEP", "0") == b"+OK\r\n"
    start = time.monotonic()
    assert r.cmd("DEBUG", "SLEEP", "0.2") == "OK"
    assert time.monotonic() - start >= 0.19
    assert err(r.cmd("DEBUG", "SLEEP")) == \
        "ERR unknown subcommand or wrong number of arguments for 'SLEEP'. Try DEBUG HELP."
    assert err(r.cmd("DEBUG", "set-active-expire")) == \
        "ERR unknown subcommand or wrong number of arguments for 'set-active-expire'. Try DEBUG HELP."
    assert err(r.cmd("DEBUG")) == "ERR wrong number of arguments for 'debug' command"


def test_many_short_ttls_expire_actively_and_free_memory(server):
    r = server.conn()
    try:
        r.cmd("FLUSHALL")
        start = used_memory(r)
        rnd = random.Random(7)
        total = 100000
        # Active expiry waits until every key is in: on a loaded machine the fill outlasted
        # the 1.5 s TTLs, so the peak was measured after most keys had gone (peak < start).
        assert r.cmd("DEBUG", "SET-ACTIVE-EXPIRE", "0") == "OK"
        for base in range(0, total, 1000):
            batch = []
            for i in range(base, base + 1000):
                ms = rnd.randint(1, 1500)
                batch.append(("SET", "short:%d" % i, "value:%d" % i, "PX", ms) if i % 2
                             else ("PSETEX", "short:%d" % i, ms, "value:%d" % i))
            replies = r.pipeline(batch)
            assert all(x == "OK" or isinstance(x, Error) for x in replies)
            if isinstance(replies[0], Error):  # no PSETEX (string family) in this build: SET PX instead
                retry = [("SET", c[1], c[3], "PX", c[2]) for c in batch if c[0] == "PSETEX"]
                assert r.pipeline(retry) == ["OK"] * len(retry)
        peak = used_memory(r)
        assert peak > start
        assert r.cmd("DEBUG", "SET-ACTIVE-EXPIRE", "1") == "OK"
        wait_until(lambda: r.cmd("DBSIZE") == 0, timeout=60, interval=0.1, message="every key to expire")
        growth = peak - start
        wait_until(lambda: used_memory(r) - start < growth * 0.1 + 512 * 1024, timeout=10,
                   message="used_memory back near its starting value")
    finally:
        r.cmd("DEBUG", "SET-ACTIVE-EXPIRE", "1")
        r.close()


# KEYS

def test_keys_patterns(r):
    names = ["hello", "hallo", "hxllo", "hllo", "heeeello", "hbllo", "a*b", "a?b", "axb", "[x]", "x",
             "b", "c", "d", "ab\\c", "foo:1", "foo:2", "{t}foo:3"]
    set_many(r, names)

    def keys(pattern):
        return sorted(k.decode() for k in r.cmd("KEYS", pattern))

    assert keys("*") == sorted(names)
    assert keys("h?llo") == ["hallo", "hbllo", "hello", "hxllo"]
    assert keys("h*llo") == ["hallo", "hbllo", "heeeello", "hello", "hllo", "hxllo"]
    assert keys("h[ae]llo") == ["hallo", "hello"]
    assert keys("h[^e]llo") == ["hallo", "hbllo", "hxllo"]
    assert keys("h[a-b]llo") == ["hallo", "hbllo"]
    assert keys("[a-c]") == ["b", "c"]
    assert keys("[b-d]") == ["b", "c", "d"]
    assert keys("a\\*b") == ["a*b"]
    assert keys("a\\?b") == ["a?b"]
    assert keys("a?b") == ["a*b", "a?b", "axb"]
    assert keys("\\[x\\]") == ["[x]"]
    assert keys("ab\\\\c") == ["ab\\c"]
    assert keys("*foo:*") == ["foo:1", "foo:2", "{t}foo:3"]
    assert keys("nomatch*") == []
    assert r.raw("KEYS", "nomatch*") == b"*0\r\n"


def test_keys_reply_bytes(r):
    r.cmd("SET", "only", "v")
    assert r.raw("KEYS", "*") == b"*1\r\n$4\r\nonly\r\n"


# SCAN

def test_scan_empty_and_small(r):
    assert r.raw("SCAN", "0") == b"*2\r\n$1\r\n0\r\n*0\r\n"
    keys = ["s:%d" % i for i in range(8)]
    set_many(r, keys)
    cursor, found = r.cmd("SCAN", "0")
    assert cursor == b"0" and sorted(found) == sorted(k.encode() for k in keys)


def test_scan_iterates_everything(r):
    keys = ["scan:%d" % i for i in range(3000)]
    for i in range(0, len(keys), 1000):
        set_many(r, keys[i:i + 1000])
    seen, calls = full_scan(r, "COUNT", "100")
    assert set(seen) == set(k.encode() for k in keys)
    assert calls > 10
    seen, _ = full_scan(r, "MATCH", "scan:1*", "COUNT", "50")
    assert set(seen) == set(k.encode() for k in keys if k.startswith("scan:1"))
    assert set(full_scan(r, "TYPE", "string")[0]) == set(k.encode() for k in keys)
    assert set(full_scan(r, "TYPE", "STRING", "COUNT", "1000")[0]) == set(k.encode() for k in keys)
    assert full_scan(r, "TYPE", "list")[0] == []
    assert full_scan(r, "MATCH", "nope*", "COUNT", "1")[0] == []


def test_scan_errors(r):
    r.cmd("SET", "k", "v")
    for cursor in ("abc", " 1", "1 ", "1x", "+", "99999999999999999999999"):
        assert r.raw("SCAN", cursor) == b"-ERR invalid cursor\r\n", cursor
    assert err(r.cmd("SCAN", "0", "COUNT", "0")) == "ERR syntax error"
    assert err(r.cmd("SCAN", "0", "COUNT", "-1")) == "ERR syntax error"
    assert err(r.cmd("SCAN", "0", "COUNT", "x")) == "ERR value is not an integer or out of range"
    assert err(r.cmd("SCAN", "0", "MATCH")) == "ERR syntax error"
    assert err(r.cmd("SCAN", "0", "BOGUS", "1")) == "ERR syntax error"
    assert err(r.cmd("SCAN", "0", "COUNT", "10", "TYPE")) == "ERR syntax error"
    # Any unsigned cursor is accepted, as in Redis.
    assert isinstance(r.cmd("SCAN", "12345678"), list)


def test_scan_guarantee_under_concurrent_writes(server, r):
    stable = ["stable:%d" % i for i in range(10000)]
    for i in range(0, len(stable), 1000):
        set_many(r, stable[i:i + 1000])
    churn = ["churn:%d" % i for i in range(5000)]
    for i in range(0, len(churn), 1000):
        set_many(r, churn[i:i + 1000])
    writer = server.conn()
    try:
        cursor, seen, step = b"0", [], 0
        while True:
            cursor, keys = r.cmd("SCAN", cursor, "COUNT", "50")
            seen.extend(keys)
            # Between calls: grow the tables (rehashes) and delete other keys.
            writer.pipeline([("SET", "new:%d:%d" % (step, j), "v") for j in range(20)])
            doomed = churn[step * 20:(step + 1) * 20]
            if doomed:
                writer.cmd("DEL", *doomed)
            step += 1
            if cursor == b"0":
                break
        found = set(seen)
        missing = [k for k in stable if k.encode() not in found]
        assert missing == [], "%d stable keys never returned" % len(missing)
        assert step > 50
    finally:
        writer.close()


# RANDOMKEY

def test_randomkey(r):
    assert r.raw("RANDOMKEY") == b"$-1\r\n"
    r.cmd("HELLO", "3")
    assert r.raw("RANDOMKEY") == b"_\r\n"
    r.cmd("HELLO", "2")
    keys = ["rk:%d" % i for i in range(6)]
    set_many(r, keys)
    got = {r.cmd("RANDOMKEY") for _ in range(300)}
    assert got == set(k.encode() for k in keys)


# RENAME, RENAMENX

def test_rename_same_shard(r):
    r.cmd("SET", "{u}a", "1")
    r.cmd("PEXPIRE", "{u}a", "50000")
    assert r.raw("RENAME", "{u}a", "{u}b") == b"+OK\r\n"
    assert r.cmd("EXISTS", "{u}a") == 0
    assert r.cmd("GET", "{u}b") == b"1"
    assert 45000 < r.cmd("PTTL", "{u}b") <= 50000
    r.cmd("SET", "{u}c", "3")
    assert r.cmd("RENAME", "{u}c", "{u}b") == "OK"     # overwrites, and the TTL goes with the value
    assert r.cmd("GET", "{u}b") == b"3"
    assert r.cmd("TTL", "{u}b") == -1
    assert r.raw("RENAME", "{u}b", "{u}b") == b"+OK\r\n"
    assert r.cmd("GET", "{u}b") == b"3"
    assert r.raw("RENAME", "{u}nope", "{u}b") == b"-ERR no such key\r\n"
    assert r.raw("RENAME", "{u}nope", "{u}nope") == b"-ERR no such key\r\n"


def test_renamenx_same_shard(r):
    r.cmd("SET", "{u}a", "1")
    r.cmd("SET", "{u}b", "2")
    assert r.raw("RENAMENX", "{u}a", "{u}b") == b":0\r\n"
    assert r.cmd("GET", "{u}a") == b"1" and r.cmd("GET", "{u}b") == b"2"
    assert r.raw("RENAMENX", "{u}a", "{u}a") == b":0\r\n"
    assert r.raw("RENAMENX", "{u}a", "{u}c") == b":1\r\n"
    assert r.cmd("GET", "{u}c") == b"1" and r.cmd("EXISTS", "{u}a") == 0
    assert err(r.cmd("RENAMENX", "{u}a", "{u}b")) == "ERR no such key"


def test_rename_across_shards(r):
    for i in range(PAIRS):
        r.cmd("SET", "src:%d" % i, "value:%d" % i)
        r.cmd("PEXPIRE", "src:%d" % i, 60000 + i)
        r.cmd("SET", "dst:%d" % i, "old")
    for i in range(PAIRS):
        assert r.raw("RENAME", "src:%d" % i, "dst:%d" % i) == b"+OK\r\n"
    for i in range(PAIRS):
        assert r.cmd("EXISTS", "src:%d" % i) == 0
        assert r.cmd("GET", "dst:%d" % i) == b"value:%d" % i
        assert 55000 < r.cmd("PTTL", "dst:%d" % i) <= 60000 + i
        assert err(r.cmd("RENAME", "src:%d" % i, "dst:%d" % i)) == "ERR no such key"
    assert r.cmd("DBSIZE") == PAIRS


def test_renamenx_across_shards(r):
    for i in range(PAIRS):
        r.cmd("SET", "a:%d" % i, "A%d" % i)
        r.cmd("SET", "b:%d" % i, "B%d" % i)
    replies = r.pipeline([("RENAMENX", "a:%d" % i, "b:%d" % i) for i in range(PAIRS)])
    assert replies == [0] * PAIRS
    for i in range(PAIRS):
        assert r.cmd("GET", "a:%d" % i) == b"A%d" % i and r.cmd("GET", "b:%d" % i) == b"B%d" % i
    replies = r.pipeline([("RENAMENX", "a:%d" % i, "c:%d" % i) for i in range(PAIRS)])
    assert replies == [1] * PAIRS
    for i in range(PAIRS):
        assert r.cmd("GET", "c:%d" % i) == b"A%d" % i and r.cmd("EXISTS", "a:%d" % i) == 0
    # A missing source is an error even when the destination exists.
    replies = r.pipeline([("RENAMENX", "a:%d" % i, "b:%d" % i) for i in range(PAIRS)])
    assert [str(x) for x in replies] == ["ERR no such key"] * PAIRS


def test_rename_pipelined_chain_keeps_order(r):
    r.cmd("SET", "chain:0", "payload")
    cmds = [("RENAME", "chain:%d" % i, "chain:%d" % (i + 1)) for i in range(50)]
    cmds.append(("GET", "chain:50"))
    replies = r.pipeline(cmds)
    assert replies[:-1] == ["OK"] * 50 and replies[-1] == b"payload"
    assert r.cmd("DBSIZE") == 1


# COPY

def test_copy(r):
    r.cmd("SET", "{c}src", "v")
    r.cmd("PEXPIRE", "{c}src", "50000")
    assert r.raw("COPY", "{c}src", "{c}dst") == b":1\r\n"
    assert r.cmd("GET", "{c}dst") == b"v" and r.cmd("GET", "{c}src") == b"v"
    assert 45000 < r.cmd("PTTL", "{c}dst") <= 50000
    r.cmd("SET", "{c}src", "new")
    assert r.raw("COPY", "{c}src", "{c}dst") == b":0\r\n"
    assert r.cmd("GET", "{c}dst") == b"v"
    assert r.cmd("COPY", "{c}src", "{c}dst", "REPLACE") == 1
    assert r.cmd("GET", "{c}dst") == b"new" and r.cmd("TTL", "{c}dst") == -1
    assert r.cmd("COPY", "{c}missing", "{c}dst") == 0
    assert r.cmd("COPY", "{c}src", "{c}src", "DB", "1") == 1
    r.cmd("SELECT", "1")
    assert r.cmd("GET", "{c}src") == b"new"
    r.cmd("FLUSHDB")
    r.cmd("SELECT", "0")


def test_copy_errors(r):
    r.cmd("SET", "k", "v")
    assert err(r.cmd("COPY", "k", "k")) == "ERR source and destination objects are the same"
    assert err(r.cmd("COPY", "k", "k", "DB", "0")) == "ERR source and destination objects are the same"
    assert err(r.cmd("COPY", "k", "k2", "DB")) == "ERR syntax error"
    assert err(r.cmd("COPY", "k", "k2", "FOO")) == "ERR syntax error"
    assert err(r.cmd("COPY", "k", "k2", "DB", "x")) == "ERR value is not an integer or out of range"
    assert err(r.cmd("COPY", "k", "k2", "DB", "16")) == "ERR DB index is out of range"
    assert err(r.cmd("COPY", "k", "k2", "DB", "-1")) == "ERR DB index is out of range"
    assert err(r.cmd("COPY", "k", "k2", "DB", "4294967296")) == \
        "ERR value is out of range, value must between -2147483648 and 2147483647"
    assert r.cmd("EXISTS", "k2") == 0


def test_copy_across_shards(r):
    for i in range(PAIRS):
        r.cmd("SET", "from:%d" % i, "F%d" % i, "PX", 70000)
        r.cmd("SET", "to:%d" % i, "T%d" % i)
    assert r.pipeline([("COPY", "from:%d" % i, "to:%d" % i) for i in range(PAIRS)]) == [0] * PAIRS
    for i in range(PAIRS):
        assert r.cmd("GET", "to:%d" % i) == b"T%d" % i
    assert r.pipeline([("COPY", "from:%d" % i, "to:%d" % i, "REPLACE") for i in range(PAIRS)]) == [1] * PAIRS
    for i in range(PAIRS):
        assert r.cmd("GET", "to:%d" % i) == b"F%d" % i and r.cmd("GET", "from:%d" % i) == b"F%d" % i
        assert 65000 < r.cmd("PTTL", "to:%d" % i) <= 70000
    assert r.pipeline([("COPY", "from:%d" % i, "other:%d" % i, "DB", "2") for i in range(PAIRS)]) == [1] * PAIRS
    assert r.pipeline([("COPY", "none:%d" % i, "other:%d" % i) for i in range(PAIRS)]) == [0] * PAIRS
    r.cmd("SELECT", "2")
    assert r.cmd("DBSIZE") == PAIRS
    assert r.cmd("GET", "other:3") == b"F3"
    r.cmd("SELECT", "0")
    assert r.cmd("DBSIZE") == 2 * PAIRS


# MOVE, SWAPDB

def test_move(r):
    r.cmd("SET", "m", "v", "PX", "80000")
    assert r.raw("MOVE", "m", "1") == b":1\r\n"
    assert r.cmd("EXISTS", "m") == 0
    r.cmd("SELECT", "1")
    assert r.cmd("GET", "m") == b"v"
    assert 75000 < r.cmd("PTTL", "m") <= 80000
    r.cmd("SET", "m0", "one")
    r.cmd("SELECT", "0")
    r.cmd("SET", "m0", "zero")
    assert r.cmd("MOVE", "m0", "1") == 0          # the target has the key
    assert r.cmd("MOVE", "missing", "1") == 0
    assert err(r.cmd("MOVE", "m0", "0")) == "ERR source and destination objects are the same"
    assert err(r.cmd("MOVE", "m0", "16")) == "ERR DB index is out of range"
    assert err(r.cmd("MOVE", "m0", "-1")) == "ERR DB index is out of range"
    assert err(r.cmd("MOVE", "m0", "x")) == "ERR value is not an integer or out of range"
    assert err(r.cmd("MOVE", "missing", "2147483648")) == \
        "ERR value is out of range, value must between -2147483648 and 2147483647"
    r.cmd("SELECT", "1")
    assert r.cmd("GET", "m0") == b"one"
    r.cmd("FLUSHDB")
    r.cmd("SELECT", "0")


def test_swapdb(r, server):
    keys = ["sw:%d" % i for i in range(40)]
    set_many(r, keys, "db0")
    r.cmd("SELECT", "3")
    set_many(r, keys[:10], "db3")
    other = server.conn()  # a client in db 0 sees the swap too
    try:
        assert r.raw("SWAPDB", "0", "3") == b"+OK\r\n"
        assert r.cmd("DBSIZE") == 40 and r.cmd("GET", "sw:5") == b"db0"
        assert other.cmd("DBSIZE") == 10 and other.cmd("GET", "sw:5") == b"db3"
        assert r.cmd("SWAPDB", "3", "0") == "OK"
        assert r.cmd("DBSIZE") == 10
        assert other.cmd("DBSIZE") == 40
        assert r.cmd("SWAPDB", "3", "3") == "OK"
        assert r.cmd("DBSIZE") == 10
    finally:
        other.close()
    assert err(r.cmd("SWAPDB", "x", "1")) == "ERR invalid first DB index"
    assert err(r.cmd("SWAPDB", "1", "y")) == "ERR invalid second DB index"
    assert err(r.cmd("SWAPDB", "x", "y")) == "ERR invalid first DB index"
    assert err(r.cmd("SWAPDB", "0", "4294967296")) == "ERR invalid second DB index"
    assert err(r.cmd("SWAPDB", "0", "16")) == "ERR DB index is out of range"
    assert err(r.cmd("SWAPDB", "-1", "0")) == "ERR DB index is out of range"
    r.cmd("FLUSHDB")
    r.cmd("SELECT", "0")


def test_swapdb_keeps_ttls(r):
    r.cmd("SELECT", "5")
    r.cmd("SET", "sw", "v", "PX", "90000")
    r.cmd("SWAPDB", "5", "6")
    assert r.cmd("EXISTS", "sw") == 0
    r.cmd("SELECT", "6")
    assert 85000 < r.cmd("PTTL", "sw") <= 90000
    r.cmd("SWAPDB", "5", "6")
    r.cmd("SELECT", "5")
    r.cmd("FLUSHDB")
    r.cmd("SELECT", "0")


# OBJECT

def test_object_encoding(r):
    values = {"int": "12345", "neg": "-7", "zero": "0", "lead": "01", "big": "12345678901234567890",
              "e44": "x" * 44, "r45": "x" * 45, "empty": ""}
    for k, v in values.items():
        r.cmd("SET", k, v)
    expected = {"int": b"int", "neg": b"int", "zero": b"int", "lead": b"embstr", "big": b"embstr",
                "e44": b"embstr", "r45": b"raw", "empty": b"embstr"}
    for k, enc in expected.items():
        assert r.cmd("OBJECT", "ENCODING", k) == enc, k
    assert r.raw("OBJECT", "ENCODING", "int") == b"$3\r\nint\r\n"
    assert r.raw("OBJECT", "ENCODING", "missing") == b"$-1\r\n"
    assert r.raw("OBJECT", "REFCOUNT", "missing") == b"$-1\r\n"
    r.cmd("HELLO", "3")
    assert r.raw("OBJECT", "ENCODING", "missing") == b"_\r\n"
    r.cmd("HELLO", "2")


def test_object_refcount_idletime_freq(r):
    r.cmd("SET", "small", "123")
    r.cmd("SET", "large", "10000")
    r.cmd("SET", "text", "hello")
    assert r.cmd("OBJECT", "REFCOUNT", "small") == 2147483647  # a shared integer
    assert r.cmd("OBJECT", "REFCOUNT", "large") == 1
    assert r.cmd("OBJECT", "REFCOUNT", "text") == 1
    assert r.cmd("OBJECT", "IDLETIME", "text") in (0, 1)
    lfu_error = ("ERR An LFU maxmemory policy is not selected, access frequency not tracked. Please note that "
                 "when switching between policies at runtime LRU and LFU data will take some time to adjust.")
    assert err(r.cmd("OBJECT", "FREQ", "text")) == lfu_error
    assert r.cmd("OBJECT", "FREQ", "missing") is None
    assert r.cmd("CONFIG", "SET", "maxmemory-policy", "allkeys-lfu") == "OK"
    try:
        assert isinstance(r.cmd("OBJECT", "FREQ", "text"), int)
        assert err(r.cmd("OBJECT", "IDLETIME", "text")) == (
            "ERR An LFU maxmemory policy is selected, idle time not tracked. Please note that when switching "
            "between policies at runtime LRU and LFU data will take some time to adjust.")
    finally:
        r.cmd("CONFIG", "SET", "maxmemory-policy", "noeviction")


def test_object_help_and_errors(r):
    lines = r.cmd("OBJECT", "HELP")
    assert lines[0] == "OBJECT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:"
    assert lines[1] == "ENCODING <key>"
    assert lines[-2:] == ["HELP", "    Prints this help."]
    assert len(lines) == 15
    assert r.raw("OBJECT", "HELP").startswith(b"*15\r\n+OBJECT <subcommand>")
    assert err(r.cmd("OBJECT")) == "ERR wrong number of arguments for 'object' command"
    assert err(r.cmd("OBJECT", "ENCODING")) == "ERR wrong number of arguments for 'object|encoding' command"
    assert err(r.cmd("OBJECT", "HELP", "x")) == "ERR wrong number of arguments for 'object|help' command"
    assert err(r.cmd("OBJECT", "FOO", "k")) == "ERR unknown subcommand 'FOO'. Try OBJECT HELP."


def test_object_on_keys_of_both_shards(r):
    keys = ["obj:%d" % i for i in range(30)]
    set_many(r, keys, "42")
    assert r.pipeline([("OBJECT", "ENCODING", k) for k in keys]) == [b"int"] * len(keys)


def test_cross_shard_operations_do_not_pile_up_memory(make_server):
    """Every multi-shard operation under locks (a DEL of keys on several shards, a fan-out
    such as DBSIZE or SWAPDB) sends its remote parts in a batch that comes back to a pool
    for reuse; those batches were made new each time and all kept, about 12 KB per remote
    shard per operation, so memory only grew (the replication fuzz test's master reached
    400 MB for a few hundred keys)."""
    server = make_server("--threads", "2", "--shards", "3")
    r = server.conn()
    keys = ["k%d" % i for i in range(8)]   # on three shards, several land on each
    for _ in range(50):   # warm up: pools, tables, buffers
        r.pipeline([("MSET", *[x for k in keys for x in (k, "v")]), ("DEL", *keys), ("DBSIZE",)])
    start = used_memory(r)
    for _ in range(1000):
        r.pipeline([("MSET", *[x for k in keys for x in (k, "v")]), ("DEL", *keys), ("DBSIZE",), ("SWAPDB", "0", "1")])
    # 4000 operations: 12 KB per remote shard each would be about 90 MB.
    assert used_memory(r) - start < 4 * 1024 * 1024


def test_commands_sent_before_a_close_all_run(make_server):
    """A client that pipelines writes and a multi-shard DEL, then closes at once, has them all
    run: Redis runs what it has read before it sees the close. Here the DEL waits for the
    client's earlier SETs, which a sleeping shard holds up, while the client goes away."""
    s = make_server("--threads", "2", "--shards", "2", *SERVER_ARGS)
    sleeper, writer = connections_on_two_workers(s.port)
    sleeper.send_raw(encode("DEBUG", "SLEEP", "2"))
    keys = ["k%d" % i for i in range(40)]
    # SETs until one waits for the sleeping shard: it is still on its way.
    sent = send_until_one_waits(writer, [("SET", k, "v") for k in keys], expect="OK")
    writer.send_raw(b"".join(encode("SET", k, "v") for k in keys[sent:]) + encode("DEL", *keys))
    writer.close()
    assert sleeper.read() == "OK"
    c = s.conn()
    # Until the DEL runs, the SETs answered before the sleep are there.
    wait_until(lambda: c.cmd("DBSIZE") == 0, message="the DEL sent before the close to run")
    assert c.cmd("PING") == "PONG"
