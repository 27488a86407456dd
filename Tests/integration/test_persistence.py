"""RDB persistence end to end: the dump at start-up, SAVE, BGSAVE, LASTSAVE, save rules,
SHUTDOWN [NO]SAVE and SIGTERM, bad dumps, and interop with Debian's redis-server 7.0.

Servers here are started on a data directory the test chooses (so a restart sees the same
dump); their stdout and stderr go to files in a separate directory, so the data directory
holds nothing but what the server writes and stderr can be checked line by line."""
import os
import random
import shutil
import signal
import tempfile
import time

import pytest

from support.dataset import assert_same_keyspace, keyspace
from support.info import info
from support.load import Writer
from support.marks import needs_redis
from support.processes import REDIS_SERVER, shards
from support.resp import Error
from support.waiting import wait_until

DUMP = "dump.rdb"


def dump_bytes(d, name=DUMP):
    with open(os.path.join(d, name), "rb") as f:
        return f.read()


# ---------------------------------------------------------------- data sets and comparison

def string_values():
    """Every kind of string value: integers of each RDB encoding width, near-integers,
    short, long, compressible, incompressible, binary, empty."""
    rnd = random.Random(7)
    values = {
        b"int:0": b"0", b"int:1": b"1", b"int:-1": b"-1", b"int:127": b"127", b"int:-128": b"-128",
        b"int:128": b"128", b"int:32767": b"32767", b"int:-32768": b"-32768", b"int:32768": b"32768",
        b"int:i32max": b"2147483647", b"int:i32min": b"-2147483648", b"int:i32max+1": b"2147483648",
        b"int:i64max": b"9223372036854775807", b"int:i64min": b"-9223372036854775808",
        b"int:u64over": b"18446744073709551616",
        b"notint:lead0": b"007", b"notint:plus": b"+1", b"notint:space": b" 1", b"notint:minus0": b"-0",
        b"notint:float": b"1.5",
        b"short": b"hello", b"embstr44": b"e" * 44, b"raw45": b"r" * 45,
        b"lzf:1k": b"abc" * 400, b"lzf:1mb": (b"The quick brown fox " * 52429)[:1 << 20],
        b"random:100k": rnd.randbytes(100_000), b"random:1mb": rnd.randbytes(1 << 20),
        b"binary": b"\x00\r\n\x00\xff\xfe$3\r\nabc\r\n*1\r\n\x00",
        b"crlf": b"\r\n", b"nul": b"\x00",
        b"empty": b"",
        b"": b"the empty key",
        b"\x00key\r\nwith\xffbinary": b"binary key",
        "unicode:ключ".encode(): "значение ☃".encode(),
    }
    for i in range(300):  # enough keys that both shards hold some
        values[b"many:%d" % i] = b"v%d" % i
    return values


def fill(conn, now_ms):
    """Writes the round-trip data set: strings in dbs 0, 5 and 15, with and without TTLs."""
    values = string_values()
    conn.cmd("SELECT", 0)
    conn.pipeline([("SET", k, v) for k, v in values.items()])
    # TTLs in seconds and in milliseconds, relative and absolute, set every way there is.
    ttl = [
        ("SET", "ttl:ex", "a", "EX", 1000),
        ("SET", "ttl:px", "b", "PX", 2_000_123),
        ("SET", "ttl:exat", "c", "EXAT", now_ms // 1000 + 5000),
        ("SET", "ttl:pxat", "d", "PXAT", now_ms + 3_000_457),
        ("SETEX", "ttl:setex", 700, "e"),
        ("PSETEX", "ttl:psetex", 800_001, "f"),
        ("SET", "ttl:expire", "12345"), ("EXPIRE", "ttl:expire", 900),
        ("SET", "ttl:pexpire", "x" * 100), ("PEXPIRE", "ttl:pexpire", 950_999),
        ("SET", "ttl:big", "y" * 200_000), ("PEXPIREAT", "ttl:big", now_ms + 86_400_000),
    ]
    assert all(not isinstance(r, Error) for r in conn.pipeline(ttl))
    conn.cmd("SELECT", 5)
    conn.pipeline([("SET", b"db5:" + k, v) for k, v in list(values.items())[:40]])
    conn.cmd("SET", "db5:ttl", "in five", "PX", 1_234_567)
    conn.cmd("SELECT", 15)
    conn.cmd("SET", "db15:only", "fifteen")
    conn.cmd("SET", "many:0", "same key name, other db", "EX", 4000)
    conn.cmd("SELECT", 0)


def pttls(conn, space):
    out = {}
    for db, keys in space.items():
        conn.cmd("SELECT", db)
        ttl_keys = [k for k, (_, at) in keys.items() if at != -1]
        for k, t in zip(ttl_keys, conn.pipeline([("PTTL", k) for k in ttl_keys])):
            out[(db, k)] = t
    conn.cmd("SELECT", 0)
    return out


# ---------------------------------------------------------------- 1. round trip

@pytest.mark.parametrize("before,after", [(1, 2), (2, 1), (2, 2)])
def test_round_trip_across_restart_and_shard_counts(nodes, data_dir, before, after):
    a = nodes(*shards(before), data_dir=data_dir)
    c = a.conn()
    fill(c, int(time.time() * 1000))
    expected = keyspace(c)
    assert sum(len(k) for k in expected.values()) > 300 and sorted(expected) == [0, 5, 15]
    assert c.cmd("SAVE") == "OK"
    saved_at = time.monotonic()
    ttl_before = pttls(c, expected)
    assert a.shutdown("NOSAVE") == 0
    dumped = dump_bytes(data_dir)

    b = nodes(*shards(after), data_dir=data_dir)
    c = b.conn()
    assert_same_keyspace(keyspace(c), expected)
    # PTTLs went down by about the time spent restarting, not more: at most the time from
    # before the first PTTL to after the last (measured after them, so a slow machine
    # answering the PTTLs slowly cannot make the bound too tight).
    ttl_after = pttls(c, expected)
    elapsed_ms = (time.monotonic() - saved_at) * 1000
    for key, t in ttl_after.items():
        assert ttl_before[key] - elapsed_ms - 50 <= t <= ttl_before[key], key
    f = info(c, "persistence")
    total = sum(len(k) for k in expected.values())
    assert f["rdb_last_load_keys_loaded"] == str(total)
    assert f["rdb_last_load_keys_expired"] == "0"
    assert f["rdb_changes_since_last_save"] == "0"  # loading is not a change
    assert c.cmd("DBSIZE") == len(expected[0])
    # The load changed nothing on disk.
    assert dump_bytes(data_dir) == dumped


def test_keys_expired_at_load_are_dropped(nodes, data_dir):
    a = nodes(*shards(2), data_dir=data_dir)
    c = a.conn()
    c.cmd("SET", "short", "lived", "PX", 1500)
    c.cmd("SELECT", 3)
    c.cmd("SET", "short3", "lived", "PX", 1500)
    c.cmd("SET", "long3", "lived", "EX", 1000)
    deadline = c.cmd("PEXPIRETIME", "short3")  # set last: the later deadline
    c.cmd("SELECT", 0)
    c.cmd("SET", "kept", "forever")
    assert c.cmd("SAVE") == "OK"
    assert c.cmd("EXISTS", "short") == 1, "the test needs the key to be in the dump"
    assert a.shutdown("NOSAVE") == 0
    # Await the clock passing the key's deadline before the restart.
    wait_until(lambda: time.time() * 1000 > deadline + 20, message="the TTL to pass")

    c = nodes(*shards(2), data_dir=data_dir).conn()
    assert c.cmd("EXISTS", "short") == 0
    assert c.cmd("GET", "kept") == b"forever"
    c.cmd("SELECT", 3)
    assert c.cmd("KEYS", "*") == [b"long3"]
    f = info(c, "persistence")
    assert f["rdb_last_load_keys_expired"] == "2"
    assert f["rdb_last_load_keys_loaded"] == "2"


def test_missing_dump_starts_empty(nodes, data_dir):
    c = nodes(*shards(2), data_dir=data_dir).conn()
    assert c.cmd("DBSIZE") == 0
    assert c.cmd("KEYS", "*") == []
    f = info(c, "persistence")
    assert f["rdb_last_load_keys_loaded"] == "0" and f["rdb_last_load_keys_expired"] == "0"
    assert os.listdir(data_dir) == []


def test_dbfilename_is_used_for_save_and_load(nodes, data_dir):
    a = nodes("--dbfilename", "other.rdb", data_dir=data_dir)
    c = a.conn()
    c.cmd("SET", "k", "v")
    assert c.cmd("SAVE") == "OK"
    assert a.shutdown("NOSAVE") == 0
    assert os.listdir(data_dir) == ["other.rdb"]
    assert nodes("--dbfilename", "other.rdb", data_dir=data_dir).conn().cmd("GET", "k") == b"v"
    assert nodes(data_dir=data_dir).conn().cmd("DBSIZE") == 0  # dump.rdb does not exist


def test_save_replaces_the_previous_dump(nodes, data_dir):
    a = nodes(*shards(2), data_dir=data_dir)
    c = a.conn()
    c.cmd("SET", "old", "1")
    assert c.cmd("SAVE") == "OK"
    c.cmd("DEL", "old")
    c.cmd("SET", "new", "2")
    assert c.cmd("SAVE") == "OK"
    assert a.shutdown("NOSAVE") == 0
    assert sorted(os.listdir(data_dir)) == [DUMP], "no temp file left behind"
    c = nodes(*shards(2), data_dir=data_dir).conn()
    assert c.cmd("KEYS", "*") == [b"new"]


# ---------------------------------------------------------------- 2. interop with redis-server 7.0

def redis_fill(conn, now_ms):
    fill(conn, now_ms)
    # Other types: those ValKeyper does not hold yet the load must skip, not fail on
    # (hashes and streams it loads; their own tests compare them).
    conn.cmd("SELECT", 5)
    conn.cmd("RPUSH", "other:list", "a", "b", "c")
    conn.cmd("HSET", "other:hash", "f", "v")
    conn.cmd("SADD", "other:set", "1", "2", "3")
    conn.cmd("ZADD", "other:zset", "1", "a", "2.5", "b")
    conn.cmd("XADD", "other:stream", "*", "f", "v")
    conn.cmd("SELECT", 0)
    conn.cmd("RPUSH", "other:biglist", *["x" * 100] * 300)


def strings_only(space):
    return {db: {k: v for k, v in keys.items() if not k.startswith(b"other:")} for db, keys in space.items()}


@needs_redis
@pytest.mark.parametrize("compression", ["yes", "no"])
def test_dump_written_by_redis_loads_identically(nodes, data_dir, compression):
    redis_dir = tempfile.mkdtemp(prefix="vk-persist-redis-")
    try:
        r = nodes("--save", "", "--rdbcompression", compression, binary=REDIS_SERVER, data_dir=redis_dir)
        rc = r.conn()
        redis_fill(rc, int(time.time() * 1000))
        expected = strings_only(keyspace(rc))
        assert rc.cmd("SAVE") == "OK"
        shutil.copy(os.path.join(redis_dir, DUMP), os.path.join(data_dir, DUMP))
    finally:
        shutil.rmtree(redis_dir, ignore_errors=True)
    c = nodes(*shards(2), data_dir=data_dir).conn()
    assert_same_keyspace(strings_only(keyspace(c)), expected)
    assert int(info(c, "persistence")["rdb_last_load_keys_loaded"]) >= sum(len(k) for k in expected.values())


@needs_redis
@pytest.mark.parametrize("options", [(), ("--rdbcompression", "no"), ("--rdbchecksum", "no")])
def test_dump_written_by_valkeyper_loads_into_redis(nodes, data_dir, options):
    a = nodes(*shards(2), *options, data_dir=data_dir)
    c = a.conn()
    fill(c, int(time.time() * 1000))
    expected = keyspace(c)
    assert c.cmd("SAVE") == "OK"
    assert a.shutdown("NOSAVE") == 0
    r = nodes("--save", "", binary=REDIS_SERVER, data_dir=data_dir)
    rc = r.conn()
    assert_same_keyspace(keyspace(rc), expected)
    assert info(rc, "persistence")["rdb_last_load_keys_loaded"] == str(sum(len(k) for k in expected.values()))


# ---------------------------------------------------------------- 3. bad files

def start_expecting_failure(nodes, data_dir, *args):
    n = nodes(*args, wait=False, data_dir=data_dir)
    code = n.wait_exit()
    return code, n.errors(), n.output()


RAW = random.Random(1).randbytes(1024)  # incompressible: stored as is, findable in the dump


def write_valid_dump(nodes, data_dir):
    a = nodes(*shards(2), data_dir=data_dir)
    c = a.conn()
    c.cmd("SET", "a", "1")
    c.cmd("SET", "text", "hello world " * 20)
    c.cmd("SET", "raw", RAW)
    c.cmd("SET", "ttl", "v", "EX", 1000)
    c.cmd("SELECT", 2)
    c.cmd("SET", "b", "2")
    assert c.cmd("SAVE") == "OK"
    assert a.shutdown("NOSAVE") == 0
    return dump_bytes(data_dir)


def assert_refused(nodes, data_dir, content, *args):
    with open(os.path.join(data_dir, DUMP), "wb") as f:
        f.write(content)
    code, err, out = start_expecting_failure(nodes, data_dir, *args)
    assert code == 1, "exit code %s; stderr %r; stdout %r" % (code, err, out)
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert os.path.join(data_dir, DUMP) in lines[0], lines[0]
    assert dump_bytes(data_dir) == content, "a refused dump must be left as it was"
    assert sorted(os.listdir(data_dir)) == [DUMP]
    return lines[0]


def test_truncated_dump_refuses_to_start(nodes, data_dir):
    good = write_valid_dump(nodes, data_dir)
    raw_at = good.index(RAW)
    # inside the magic, after it, in an AUX field, inside a value, before EOF, inside the CRC
    for cut in [0, 3, 9, 20, raw_at + 100, len(good) - 9, len(good) - 8, len(good) - 1]:
        line = assert_refused(nodes, data_dir, good[:cut])
        assert line.strip(), cut


def test_corrupt_byte_fails_the_checksum(nodes, data_dir):
    good = write_valid_dump(nodes, data_dir)
    bad = bytearray(good)
    bad[good.index(RAW) + 10] ^= 0x01  # inside a raw value: only the CRC sees it
    line = assert_refused(nodes, data_dir, bytes(bad))
    assert "checksum" in line.lower(), line


def test_flipped_byte_in_the_crc_is_refused(nodes, data_dir):
    good = write_valid_dump(nodes, data_dir)
    bad = bytearray(good)
    bad[-3] ^= 0x80
    assert "checksum" in assert_refused(nodes, data_dir, bytes(bad)).lower()


def test_checksum_not_verified_when_rdbchecksum_is_off(nodes, data_dir):
    """Redis skips the CRC check on load when rdbchecksum is no."""
    good = write_valid_dump(nodes, data_dir)
    bad = bytearray(good)
    bad[good.index(RAW) + 10] ^= 0x01
    with open(os.path.join(data_dir, DUMP), "wb") as f:
        f.write(bytes(bad))
    c = nodes("--rdbchecksum", "no", data_dir=data_dir).conn()
    value = bytearray(RAW)
    value[10] ^= 0x01
    assert c.cmd("GET", "raw") == bytes(value)


def test_garbage_and_foreign_files_are_refused(nodes, data_dir):
    assert_refused(nodes, data_dir, b"this is not a dump at all\n")
    assert_refused(nodes, data_dir, b"REDIS0099" + b"\xff" + b"\x00" * 8)  # future version


def test_dump_using_more_databases_than_configured_is_refused(nodes, data_dir):
    a = nodes(data_dir=data_dir)
    c = a.conn()
    c.cmd("SELECT", 9)
    c.cmd("SET", "k", "v")
    assert c.cmd("SAVE") == "OK"
    assert a.shutdown("NOSAVE") == 0
    assert_refused(nodes, data_dir, dump_bytes(data_dir), "--databases", "4")


# ---------------------------------------------------------------- 4. BGSAVE

def bgsave_done(c):
    return info(c, "persistence")["rdb_bgsave_in_progress"] == "0"


def test_bgsave_reply_lastsave_and_info(nodes, data_dir):
    a = nodes(*shards(2), "--save", "", data_dir=data_dir)
    c = a.conn()
    started = c.cmd("LASTSAVE")
    assert abs(started - time.time()) < 5, "LASTSAVE starts at the start-up time"
    f = info(c, "persistence")
    assert f["rdb_last_save_time"] == str(started)
    assert f["rdb_last_bgsave_status"] == "ok" and f["rdb_last_bgsave_time_sec"] == "-1"
    c.cmd("SET", "k", "v")
    assert int(info(c, "persistence")["rdb_changes_since_last_save"]) > 0
    # LASTSAVE has one-second resolution: await the next second so a save must move it.
    wait_until(lambda: int(time.time()) > started, message="the next second")
    assert c.raw("BGSAVE") == b"+Background saving started\r\n"
    wait_until(lambda: c.cmd("LASTSAVE") > started, message="LASTSAVE to advance")
    wait_until(lambda: bgsave_done(c), message="the background save to finish")
    f = info(c, "persistence")
    assert f["rdb_last_bgsave_status"] == "ok"
    assert int(f["rdb_last_bgsave_time_sec"]) >= 0
    assert f["rdb_current_bgsave_time_sec"] == "-1"
    assert f["rdb_changes_since_last_save"] == "0"
    assert int(f["rdb_last_save_time"]) == c.cmd("LASTSAVE")
    assert os.path.exists(os.path.join(data_dir, DUMP))
    assert a.shutdown("NOSAVE") == 0
    assert nodes(data_dir=data_dir).conn().cmd("GET", "k") == b"v"


def test_bgsave_syntax(nodes, data_dir):
    c = nodes("--save", "", data_dir=data_dir).conn()
    assert c.raw("BGSAVE", "NOW") == b"-ERR syntax error\r\n"
    assert c.raw("BGSAVE", "SCHEDULE", "x") == b"-ERR syntax error\r\n"
    assert c.raw("SAVE", "x") == b"-ERR wrong number of arguments for 'save' command\r\n"
    assert c.raw("LASTSAVE", "x") == b"-ERR wrong number of arguments for 'lastsave' command\r\n"
    # SCHEDULE with nothing running starts one at once
    assert c.raw("BGSAVE", "SCHEDULE") == b"+Background saving started\r\n"
    wait_until(lambda: bgsave_done(c))


def test_bgsave_in_exec_is_scheduled_after_the_transaction(nodes, data_dir):
    """Redis answers BGSAVE inside EXEC with "scheduled" and its timer starts the save
    after the transaction: the dump holds the transaction's writes."""
    a = nodes(*shards(2), "--save", "", data_dir=data_dir)
    c = a.conn()
    assert c.cmd("MULTI") == "OK"
    assert c.cmd("SET", "before", "1") == "QUEUED"
    assert c.cmd("BGSAVE") == "QUEUED"
    assert c.cmd("SET", "after", "2") == "QUEUED"
    assert c.raw("EXEC") == b"*3\r\n+OK\r\n+Background saving scheduled\r\n+OK\r\n"
    wait_until(lambda: info(c, "persistence")["rdb_saves"] == "1" and bgsave_done(c), message="the scheduled save")
    assert info(c, "persistence")["rdb_last_bgsave_status"] == "ok"
    assert a.shutdown("NOSAVE") == 0
    assert nodes(data_dir=data_dir).conn().cmd("MGET", "before", "after") == [b"1", b"2"]


def test_save_is_refused_in_multi(nodes, data_dir):
    c = nodes("--save", "", data_dir=data_dir).conn()
    assert c.cmd("MULTI") == "OK"
    assert c.raw("SAVE") == b"-ERR Command not allowed inside a transaction\r\n"
    assert c.raw("EXEC") == b"-EXECABORT Transaction discarded because of previous errors.\r\n"


def set_in_turn(number):
    """A writer's step: SETs w:<number>:0, w:<number>:1, ... one at a time, each
    acknowledged before the next."""
    def step(conn, i):
        reply = conn.cmd("SET", "w:%d:%d" % (number, i), i)
        assert reply == "OK", reply
    return step


def test_bgsave_under_concurrent_writes_is_a_consistent_snapshot(nodes, data_dir):
    a = nodes(*shards(2), "--save", "", data_dir=data_dir)
    c = a.conn()
    pre = {b"pre:%d" % i: b"%d" % (i * 7) for i in range(5000)}
    c.pipeline([("SET", k, v) for k, v in pre.items()])
    writers = [Writer(a.port, set_in_turn(i)) for i in range(3)]
    for w in writers:
        w.start()
    wait_until(lambda: all(w.done >= 50 for w in writers), message="writers to get going")
    acked_before = [w.done for w in writers]
    assert c.raw("BGSAVE") == b"+Background saving started\r\n"
    wait_until(lambda: bgsave_done(c), message="the background save to finish")
    wait_until(lambda: all(w.done >= b + 50 for w, b in zip(writers, acked_before)),
               message="writes after the snapshot")
    for w in writers:
        w.stopping.set()
    for w in writers:
        w.stop()
    assert info(c, "persistence")["rdb_last_bgsave_status"] == "ok"
    assert a.shutdown("NOSAVE") == 0

    c = nodes(*shards(2), data_dir=data_dir).conn()
    got = c.pipeline([("GET", k) for k in pre])
    assert got == list(pre.values()), "keys written before BGSAVE are all in the dump"
    for number, (w, before) in enumerate(zip(writers, acked_before)):
        keys = c.cmd("KEYS", "w:%d:*" % number)
        present = sorted(int(k.split(b":")[2]) for k in keys)
        # One point in time: each writer's keys are a prefix, holding everything
        # acknowledged before BGSAVE was sent, and the values are right.
        assert present == list(range(len(present))), "writer %d: not a prefix" % number
        assert before <= len(present) <= w.done
        values = c.pipeline([("GET", "w:%d:%d" % (number, i)) for i in range(len(present))])
        assert values == [b"%d" % i for i in range(len(present))]


def test_bgsave_twice_quickly(nodes, data_dir):
    a = nodes(*shards(2), "--save", "", "--rdbcompression", "no", data_dir=data_dir)
    c = a.conn()
    big = os.urandom(1 << 20)
    c.pipeline([("SET", "big:%d" % i, big) for i in range(40)])
    before = int(info(c, "persistence")["rdb_saves"])
    assert c.raw("BGSAVE") == b"+Background saving started\r\n"
    second = c.raw("BGSAVE")
    # Redis 7.0: another BGSAVE while one runs is refused, with SCHEDULE too (that only
    # waits for AOF rewrites, which ValKeyper has none of); so is SAVE.
    busy = b"-ERR Background save already in progress\r\n"
    assert second in (busy, b"+Background saving started\r\n")
    if second == busy:
        assert c.raw("BGSAVE", "SCHEDULE") in (busy, b"+Background saving started\r\n")
        assert c.raw("SAVE") in (busy, b"+OK\r\n")
    wait_until(lambda: bgsave_done(c), timeout=60, message="background saves to finish")
    f = info(c, "persistence")
    assert f["rdb_last_bgsave_status"] == "ok"
    assert int(f["rdb_saves"]) > before
    assert sorted(os.listdir(data_dir)) == [DUMP], "no temp file left behind"
    assert a.shutdown("NOSAVE") == 0
    c = nodes(*shards(2), data_dir=data_dir).conn()
    assert c.cmd("DBSIZE") == 40
    assert c.cmd("GET", "big:39") == big


# ---------------------------------------------------------------- 5. save rules and signals

def test_save_rule_triggers_a_background_save(nodes, data_dir):
    a = nodes(*shards(2), "--save", "1 1", data_dir=data_dir)
    c = a.conn()
    assert c.cmd("CONFIG", "GET", "save") == [b"save", b"1 1"]
    c.cmd("SET", "k", "v")
    wait_until(lambda: info(c, "persistence")["rdb_changes_since_last_save"] == "0", message="the save rule to fire")
    wait_until(lambda: bgsave_done(c))
    assert os.path.exists(os.path.join(data_dir, DUMP))
    assert info(c, "persistence")["rdb_last_bgsave_status"] == "ok"
    a.proc.kill()  # no final save: what is on disk came from the rule
    a.wait_exit()
    assert nodes(data_dir=data_dir).conn().cmd("GET", "k") == b"v"


def test_failed_automatic_save_is_retried_after_a_delay(nodes, data_dir):
    """After a failed background save, save rules wait CONFIG_BGSAVE_RETRY_DELAY (5 s)
    before trying again, rather than at every timer tick."""
    a = nodes("--save", "", data_dir=data_dir)
    c = a.conn()
    c.cmd("SET", "k", "v")
    shutil.rmtree(data_dir)
    assert c.cmd("CONFIG", "SET", "save", "1 1") == "OK"
    wait_until(lambda: info(c, "persistence")["rdb_last_bgsave_status"] == "err" and bgsave_done(c),
               message="the first, failing, automatic save")
    failed_at = time.monotonic()
    tries = info(c, "persistence")["rdb_saves"]
    os.mkdir(data_dir)
    # Poll for three seconds: no new attempt may start in that time.
    wait_until(lambda: info(c, "persistence")["rdb_saves"] != tries or time.monotonic() > failed_at + 3,
               timeout=10, interval=0.05)
    assert info(c, "persistence")["rdb_saves"] == tries, "retried within the delay"
    wait_until(lambda: info(c, "persistence")["rdb_last_bgsave_status"] == "ok", timeout=15, message="the retry")
    assert time.monotonic() - failed_at >= 4
    assert os.path.exists(os.path.join(data_dir, DUMP))


def test_save_rule_set_by_config_set(nodes, data_dir):
    a = nodes("--save", "", data_dir=data_dir)
    c = a.conn()
    c.cmd("SET", "k", "v")
    assert c.cmd("CONFIG", "SET", "save", "1 1") == "OK"
    wait_until(lambda: os.path.exists(os.path.join(data_dir, DUMP)), message="the save rule to fire")
    wait_until(lambda: bgsave_done(c) and info(c, "persistence")["rdb_changes_since_last_save"] == "0")


def test_no_save_rule_fires_without_changes(nodes, data_dir):
    a = nodes("--save", "1 1", data_dir=data_dir)
    c = a.conn()
    # Await two timer ticks' worth of seconds: with no change the rule must not fire.
    started = time.time()
    wait_until(lambda: time.time() > started + 2.2, timeout=5, message="time to pass")
    assert info(c, "persistence")["rdb_saves"] == "0"
    assert os.listdir(data_dir) == []


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_without_save_rules_writes_no_dump(nodes, data_dir, sig):
    a = nodes(*shards(2), "--save", "", data_dir=data_dir)
    a.conn().cmd("SET", "k", "v")
    a.proc.send_signal(sig)
    assert a.wait_exit() == 0
    assert os.listdir(data_dir) == []


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_with_save_rules_writes_a_final_dump(nodes, data_dir, sig):
    a = nodes(*shards(2), "--save", "3600 1", data_dir=data_dir)
    c = a.conn()
    fill(c, int(time.time() * 1000))
    expected = keyspace(c)
    a.proc.send_signal(sig)
    assert a.wait_exit() == 0
    assert sorted(os.listdir(data_dir)) == [DUMP]
    assert_same_keyspace(keyspace(nodes(*shards(1), data_dir=data_dir).conn()), expected)


def test_default_config_saves_on_sigterm(nodes, data_dir):
    a = nodes(data_dir=data_dir)
    a.conn().cmd("SET", "k", "v")
    a.proc.terminate()
    assert a.wait_exit() == 0
    assert nodes(data_dir=data_dir).conn().cmd("GET", "k") == b"v"


def test_changes_since_last_save_counts_each_write_once(nodes, data_dir):
    c = nodes("--save", "", data_dir=data_dir).conn()
    c.cmd("SET", "k", "v")     # new key
    c.cmd("SET", "k2", "v")    # new key
    c.cmd("SET", "k", "w")     # overwrite
    assert info(c, "persistence")["rdb_changes_since_last_save"] == "3"  # Redis 7.0.15 says 3


# ---------------------------------------------------------------- 6. SHUTDOWN and failing saves

def test_shutdown_save_writes_a_dump_even_without_rules(nodes, data_dir):
    a = nodes(*shards(2), "--save", "", data_dir=data_dir)
    a.conn().cmd("SET", "k", "v")
    assert a.shutdown("SAVE") == 0
    assert nodes(data_dir=data_dir).conn().cmd("GET", "k") == b"v"


def test_shutdown_nosave_writes_none(nodes, data_dir):
    a = nodes(*shards(2), data_dir=data_dir)  # default save rules
    a.conn().cmd("SET", "k", "v")
    assert a.shutdown("NOSAVE") == 0
    assert os.listdir(data_dir) == []


def test_plain_shutdown_follows_the_save_rules(nodes, data_dir):
    a = nodes(data_dir=data_dir)
    a.conn().cmd("SET", "k", "v")
    assert a.shutdown() == 0
    assert os.listdir(data_dir) == [DUMP]
    b = nodes("--save", "", data_dir=data_dir)
    b.conn().cmd("SET", "k", "changed")
    assert b.shutdown() == 0
    assert nodes(data_dir=data_dir).conn().cmd("GET", "k") == b"v", "no rules: the old dump stays"


def test_shutdown_nosave_keeps_the_old_dump(nodes, data_dir):
    a = nodes(data_dir=data_dir)
    c = a.conn()
    c.cmd("SET", "k", "saved")
    assert c.cmd("SAVE") == "OK"
    before = dump_bytes(data_dir)
    c.cmd("SET", "k", "not saved")
    assert a.shutdown("NOSAVE") == 0
    assert dump_bytes(data_dir) == before


def test_failing_save_replies_an_error_and_the_server_keeps_serving(nodes, data_dir):
    a = nodes(*shards(2), "--save", "", data_dir=data_dir)
    c = a.conn()
    c.cmd("SET", "k", "v")
    shutil.rmtree(data_dir)
    assert c.raw("SAVE") == b"-ERR\r\n"
    assert c.cmd("GET", "k") == b"v"
    assert c.cmd("SET", "k2", "v2") == "OK"

    assert c.raw("BGSAVE") == b"+Background saving started\r\n"
    wait_until(lambda: bgsave_done(c), message="the background save to end")
    f = info(c, "persistence")
    assert f["rdb_last_bgsave_status"] == "err"
    assert int(f["rdb_changes_since_last_save"]) > 0
    assert f["rdb_saves"] == "2", "failed saves count too, as in Redis"
    assert c.cmd("PING") == "PONG" and c.cmd("GET", "k2") == b"v2"

    # SHUTDOWN SAVE can't save: it replies an error and the server stays up.
    assert c.raw("SHUTDOWN", "SAVE") == b"-ERR Errors trying to SHUTDOWN. Check logs.\r\n"
    assert a.proc.poll() is None and c.cmd("PING") == "PONG"

    # Once the directory is back, saving works again and a SAVE resets the status (as rdbSave does).
    os.mkdir(data_dir)
    assert c.cmd("SAVE") == "OK"
    f = info(c, "persistence")
    assert f["rdb_last_bgsave_status"] == "ok" and f["rdb_changes_since_last_save"] == "0"
    shutil.rmtree(data_dir)
    assert c.raw("BGSAVE") == b"+Background saving started\r\n"
    wait_until(lambda: bgsave_done(c) and info(c, "persistence")["rdb_last_bgsave_status"] == "err")
    os.mkdir(data_dir)
    assert c.raw("BGSAVE") == b"+Background saving started\r\n"
    wait_until(lambda: bgsave_done(c) and info(c, "persistence")["rdb_last_bgsave_status"] == "ok",
               message="a successful background save")
    assert a.shutdown("NOSAVE") == 0
    assert nodes(data_dir=data_dir).conn().cmd("MGET", "k", "k2") == [b"v", b"v2"]


MISCONF = (b"-MISCONF Redis is configured to save RDB snapshots, but it's currently unable to persist to disk. "
           b"Commands that may modify the data set are disabled, because this instance is configured to report "
           b"errors during writes if RDB snapshotting fails (stop-writes-on-bgsave-error option). Please check "
           b"the Redis logs for details about the RDB error.\r\n")


def test_failed_background_save_stops_writes_until_a_save_succeeds(nodes, data_dir):
    c = nodes("--save", "3600 1", data_dir=data_dir).conn()
    c.cmd("SET", "before", "1")
    shutil.rmtree(data_dir)
    assert c.cmd("BGSAVE") == "Background saving started"
    wait_until(lambda: info(c, "persistence")["rdb_last_bgsave_status"] == "err", message="the save to fail")
    assert c.raw("SET", "a", "b") == MISCONF
    assert c.raw("PING") == MISCONF                          # as Redis: PING is refused too
    assert c.raw("GET", "before") == b"$1\r\n1\r\n"          # reads go on
    assert c.raw("MULTI") == b"+OK\r\n"
    assert c.raw("INCR", "n") == MISCONF                     # refused at queue time...
    assert c.raw("EXEC").startswith(b"-EXECABORT")           # ...which aborts the transaction
    assert c.cmd("CONFIG", "SET", "stop-writes-on-bgsave-error", "no") == "OK"
    assert c.raw("SET", "a", "b") == b"+OK\r\n"
    assert c.cmd("CONFIG", "SET", "stop-writes-on-bgsave-error", "yes") == "OK"
    assert c.raw("SET", "a", "c") == MISCONF
    os.makedirs(data_dir)
    assert c.cmd("BGSAVE") == "Background saving started"
    wait_until(lambda: info(c, "persistence")["rdb_last_bgsave_status"] == "ok", message="the save to succeed")
    assert c.raw("SET", "a", "d") == b"+OK\r\n"


def test_kill_9_during_bgsave_leaves_a_readable_dump(nodes, data_dir):
    a = nodes("--save", "", data_dir=data_dir)
    c = a.conn()
    c.cmd("SET", "first", "generation")
    assert c.cmd("SAVE") == "OK"
    before = dump_bytes(data_dir)
    # Enough data that the background save is still running when the process dies.
    value = b"x" * 1000
    for start in range(0, 200_000, 5000):
        c.pipeline([("SET", "bulk:%d" % i, value) for i in range(start, start + 5000)])
    assert c.cmd("BGSAVE") == "Background saving started"
    a.proc.kill()
    a.proc.wait(10)
    after = dump_bytes(data_dir)
    # Either the old dump untouched, or (if the rename won the race) a complete new one.
    assert after == before or len(after) > 200_000 * 1000
    b = nodes("--save", "", data_dir=data_dir)
    assert b.conn().cmd("GET", "first") == b"generation"
    leftovers = [f for f in os.listdir(data_dir) if f.startswith("temp-")]
    # A dead save's temp file may remain, as with Redis; it never replaces the dump.
    assert all(f.endswith(".rdb") for f in leftovers)


def bgsaves_beside_a_writer(a, c, step, saves):
    """`saves` BGSAVEs one after the other while a Writer runs `step`, then a shutdown
    without saving: the last dump is what the next start loads."""
    with Writer(a.port, step) as w:
        wait_until(lambda: w.done >= 20, message="the writer to get going")
        for _ in range(saves):
            assert c.raw("BGSAVE") == b"+Background saving started\r\n"
            wait_until(lambda: bgsave_done(c), message="the background save to finish")
        w.stop()
    assert a.shutdown("NOSAVE") == 0


@pytest.mark.parametrize("pop", ["LPOP", "LREM", "LTRIM", "LMOVE"])
def test_bgsave_copies_a_list_as_it_was_before_a_concurrent_pop(nodes, data_dir, pop):
    """A writer sets a counter, then removes one element of a list, step after step; a
    BGSAVE in between must catch a point in time: the list has lost as many elements as
    the counter says, or one fewer (between the two writes), never one more (a list copied
    for the snapshot only after a removal that came after the snapshot's point)."""
    a = nodes(*shards(2), "--save", "", data_dir=data_dir)
    c = a.conn()
    size = 200000
    for start in range(0, size, 10000):
        c.cmd("RPUSH", "{p}list", *[str(i) for i in range(start, start + 10000)])

    def step(conn, i):
        conn.cmd("SET", "{p}counter", i + 1)
        if pop == "LPOP":
            conn.cmd("LPOP", "{p}list")
        elif pop == "LREM":
            conn.cmd("LREM", "{p}list", "1", str(i))
        elif pop == "LTRIM":
            conn.cmd("LTRIM", "{p}list", "1", "-1")
        else:
            conn.cmd("LMOVE", "{p}list", "{p}other", "LEFT", "RIGHT")

    bgsaves_beside_a_writer(a, c, step, saves=5)
    c = nodes(*shards(2), data_dir=data_dir).conn()
    counter = int(c.cmd("GET", "{p}counter"))
    removed = size - c.cmd("LLEN", "{p}list")
    assert removed in (counter - 1, counter), (counter, removed)


# Big collections are copied for a snapshot in steps between commands (4096 elements per
# loop pass), so other clients are served meanwhile; whoever touches the value first
# finishes its copy, so the dump still holds it as it was when the snapshot began.
BIG_COLLECTIONS = {
    "zset": (lambda i: ["ZADD", "{p}big", str(i), "member:%d" % i], lambda i: ["ZREM", "{p}big", "member:%d" % i],
             "ZCARD", lambda i: ["ZSCORE", "{p}big", "member:%d" % i]),
    "hash": (lambda i: ["HSET", "{p}big", "field:%d" % i, "value:%d" % i], lambda i: ["HDEL", "{p}big", "field:%d" % i],
             "HLEN", lambda i: ["HGET", "{p}big", "field:%d" % i]),
    "set": (lambda i: ["SADD", "{p}big", "member:%d" % i], lambda i: ["SREM", "{p}big", "member:%d" % i],
            "SCARD", lambda i: ["SISMEMBER", "{p}big", "member:%d" % i]),
    "stream": (lambda i: ["XADD", "{p}big", "%d-1" % (i + 1), "field", "value:%d" % i],
               lambda i: ["XDEL", "{p}big", "%d-1" % (i + 1)],
               "XLEN", lambda i: ["XRANGE", "{p}big", "%d-1" % (i + 1), "%d-1" % (i + 1)]),
}


@pytest.mark.parametrize("kind", sorted(BIG_COLLECTIONS))
def test_bgsave_copies_a_big_collection_as_it_was_before_a_concurrent_removal(nodes, data_dir, kind):
    """As the list test above, for a hash, a set, a sorted set and a stream big enough to be copied in
    many steps: a writer sets a counter, then removes the next element; every dump holds the
    collection with exactly the first `counter` or `counter - 1` elements gone."""
    add, remove, length, probe = BIG_COLLECTIONS[kind]
    a = nodes(*shards(2), "--save", "", data_dir=data_dir)
    c = a.conn()
    size = 100000
    for start in range(0, size, 5000):
        c.pipeline([add(i) for i in range(start, start + 5000)])
    assert c.cmd(length, "{p}big") == size

    def step(conn, i):
        conn.cmd("SET", "{p}counter", i + 1)
        conn.cmd(*remove(i))

    bgsaves_beside_a_writer(a, c, step, saves=3)
    c = nodes(*shards(2), data_dir=data_dir).conn()
    counter = int(c.cmd("GET", "{p}counter"))
    removed = size - c.cmd(length, "{p}big")
    assert removed in (counter - 1, counter), (counter, removed)
    assert not c.cmd(*probe(removed - 1)), "the elements removed are the first ones"
    assert c.cmd(*probe(removed))
    assert c.cmd(*probe(size - 1))


@needs_redis
@pytest.mark.parametrize("kind", sorted(BIG_COLLECTIONS) + ["list"])
def test_big_collection_copied_in_steps_loads_into_redis(nodes, data_dir, kind):
    """A BGSAVE dump of a collection copied in steps reads back into redis-server whole."""
    a = nodes(*shards(2), "--save", "", data_dir=data_dir)
    c = a.conn()
    add = BIG_COLLECTIONS[kind][0] if kind != "list" else (lambda i: ["RPUSH", "{p}big", "element:%d" % i])
    for start in range(0, 30000, 5000):
        c.pipeline([add(i) for i in range(start, start + 5000)])
    expected = collection_content(c, kind)
    assert len(expected) == (60000 if kind == "zset" else 30000)
    assert c.raw("BGSAVE") == b"+Background saving started\r\n"
    wait_until(lambda: bgsave_done(c), message="the background save to finish")
    assert a.shutdown("NOSAVE") == 0
    r = nodes("--save", "", binary=REDIS_SERVER, data_dir=data_dir)
    assert collection_content(r.conn(), kind) == expected


def collection_content(c, kind):
    if kind == "zset":
        return c.cmd("ZRANGE", "{p}big", "0", "-1", "WITHSCORES")
    if kind == "hash":
        flat = c.cmd("HGETALL", "{p}big")
        return sorted(zip(flat[0::2], flat[1::2]))
    if kind == "set":
        return sorted(c.cmd("SMEMBERS", "{p}big"))
    if kind == "stream":
        return c.cmd("XRANGE", "{p}big", "-", "+")
    return c.cmd("LRANGE", "{p}big", "0", "-1")
