"""The append-only file (Redis 7.0's multi-part AOF): the directory, base, incr file and
manifest as redis-server writes them, the incr file fed from the replication merge, loading
at start-up (truncated and corrupt files), directories exchanged with redis-server 7.0 both
ways, kill -9 under writes, INFO persistence's aof_* fields.

Servers run on a data directory the test chooses, so a restart (or another server) finds the
same files."""
import os
import shutil
import subprocess
import threading
import time

import pytest

from support.info import info
from support.marks import needs_redis
from support.processes import REDIS_SERVER, shards
from support.replication import wait_synced
from support.resp import Conn, Error
from support.waiting import wait_until

AOF = ("--appendonly", "yes", "--enable-debug-command", "yes", "--save", "")
DIR = "appendonlydir"
CHECK_AOF = shutil.which("redis-check-aof")


def aof_dir(d):
    return os.path.join(str(d), DIR)


def read(path):
    with open(path, "rb") as f:
        return f.read()


def commands(data):
    """The commands of AOF-format bytes, each a list of byte strings."""
    out, i = [], 0
    while i < len(data):
        end = data.index(b"\r\n", i)
        assert data[i:i + 1] == b"*", data[i:i + 40]
        argc, i = int(data[i + 1:end]), end + 2
        args = []
        for _ in range(argc):
            end = data.index(b"\r\n", i)
            n, i = int(data[i + 1:end]), end + 2
            args.append(data[i:i + n])
            i += n + 2
        out.append(args)
    return out


def incr_path(d, seq=1):
    return os.path.join(aof_dir(d), "appendonly.aof.%d.incr.aof" % seq)


def written(path, *command):
    """Awaits `command` at the end of the incr file (the sequencer writes once per pass)."""
    tail = b"*%d\r\n" % len(command) + b"".join(b"$%d\r\n%s\r\n" % (len(a), a.encode()) for a in command)
    wait_until(lambda: read(path).endswith(tail), message="%r at the end of %s" % (command, path))


def digest(server):
    return server.cmd("DEBUG", "DIGEST")


def ours_and_redis(make_server, make_redis, tmp_path, *args):
    """This server (two shards) and redis-server 7.0 started with the same `args`, each on
    a data directory of its own (`ours`, `redis` under tmp_path): (ours, redis, their dirs)."""
    ours_dir, redis_dir = tmp_path / "ours", tmp_path / "redis"
    ours_dir.mkdir()
    redis_dir.mkdir()
    return make_server(*shards(2), *args, data_dir=ours_dir), make_redis(*args, data_dir=redis_dir), ours_dir, redis_dir


# A workload whose AOF form is the same in Redis and here (PXAT deadlines aside).
WORKLOAD = [
    ("SET", "a", "1"), ("INCR", "a"), ("SELECT", "2"), ("SET", "b", "2", "EX", "1000"),
    ("EXPIRE", "b", "2000"), ("HSET", "h", "f", "v", "g", "w"), ("RPUSH", "l", "x", "y", "z"),
    ("SELECT", "0"), ("MULTI",), ("SET", "m1", "1"), ("SET", "m2", "2"), ("EXEC",),
    ("DEL", "a"), ("SADD", "s", "1", "2", "3"), ("ZADD", "z", "1", "one", "2", "two"),
    ("XADD", "st", "1-1", "f", "v"),
]


def run_workload(conn):
    for c in WORKLOAD:
        conn.cmd(*c)


def masked(cmds):
    """Absolute deadlines vary by the moment: mask the argument after PXAT and of PEXPIREAT."""
    out = []
    for c in cmds:
        c = list(c)
        for i, a in enumerate(c[:-1]):
            if a.upper() == b"PXAT":
                c[i + 1] = b"<ms>"
        if c[0].upper() == b"PEXPIREAT":
            c[2] = b"<ms>"
        out.append([a.lower() if i == 0 else a for i, a in enumerate(c)])
    return sorted_transactions(out)


def sorted_transactions(cmds):
    """A transaction's commands on different shards run in parallel and reach the stream in
    the order they ran (replicas get the same order; commands on one key keep theirs, being
    on one shard): compare what each MULTI ... EXEC holds, not its order."""
    out, group = [], None
    for c in cmds:
        if c[0] == b"multi":
            group = []
        elif c[0] == b"exec" and group is not None:
            out += [[b"multi"]] + sorted(group) + [c]
            group = None
        elif group is not None:
            group.append(c)
        else:
            out.append(c)
    return out


@needs_redis
def test_files_and_manifest_as_redis_writes_them(make_server, make_redis, tmp_path):
    """Start-up creates the same files with the same names and manifest as redis-server, and
    the same workload leaves the same commands in the incr file (SELECTs, MULTI/EXEC,
    absolute deadlines); redis-check-aof accepts the directory."""
    ours, redis, ours_dir, redis_dir = ours_and_redis(make_server, make_redis, tmp_path, *AOF)
    for s in (ours, redis):
        c = s.conn()
        run_workload(c)
        c.close()
    assert sorted(os.listdir(aof_dir(ours_dir))) == sorted(os.listdir(aof_dir(redis_dir))) == [
        "appendonly.aof.1.base.rdb", "appendonly.aof.1.incr.aof", "appendonly.aof.manifest"]
    manifest = read(os.path.join(aof_dir(ours_dir), "appendonly.aof.manifest"))
    assert manifest == read(os.path.join(aof_dir(redis_dir), "appendonly.aof.manifest"))
    assert manifest == b"file appendonly.aof.1.base.rdb seq 1 type b\nfile appendonly.aof.1.incr.aof seq 1 type i\n"
    ours_cmds = lambda: masked(commands(read(incr_path(ours_dir))))  # noqa: E731
    expected = masked(commands(read(incr_path(redis_dir))))
    wait_until(lambda: len(ours_cmds()) >= len(expected), message="the workload in our incr file")
    assert ours_cmds() == expected
    if CHECK_AOF:
        out = subprocess.run([CHECK_AOF, os.path.join(aof_dir(ours_dir), "appendonly.aof.manifest")],
                             capture_output=True, text=True)
        assert out.returncode == 0 and "All AOF files and manifest are valid" in out.stdout, out.stdout + out.stderr


def annotations(data):
    """The `#TS:<seconds>` lines of AOF-format bytes, and the bytes without them."""
    stamps, rest = [], []
    for line in data.split(b"\r\n")[:-1]:
        if line.startswith(b"#"):
            assert line.startswith(b"#TS:"), line
            stamps.append(int(line[4:]))
        else:
            rest.append(line)
    return stamps, b"".join(l + b"\r\n" for l in rest)


def next_second():
    """Awaits the next wall-clock second (annotations are written per second)."""
    now = int(time.time())
    wait_until(lambda: int(time.time()) > now, message="the next second")
    return now + 1


@needs_redis
def test_aof_timestamp_annotations_as_redis_writes_them(make_server, make_redis, tmp_path):
    """aof-timestamp-enabled yes: a `#TS:<unix seconds>` line before the first command of
    each second, as Redis 7.0 writes them (the same commands otherwise); the file loads here
    and in redis-server 7.0 with the same digest, redis-check-aof accepts it and truncates it
    to a timestamp (`--truncate-to-timestamp`), after which both load what came before."""
    ts = ("--aof-timestamp-enabled", "yes")
    ours, redis, ours_dir, redis_dir = ours_and_redis(make_server, make_redis, tmp_path, *AOF, *ts)
    started = int(time.time())
    for s in (ours, redis):
        c = s.conn()
        run_workload(c)
        c.cmd("SET", "workload", "done")
        c.close()
    # Our writer stamps a command with the second it merges it in (a few ms after it ran):
    # the workload must be in the file before the second SET later is stamped with begins.
    ours_cmds = lambda: commands(annotations(read(incr_path(ours_dir)))[1])  # noqa: E731
    wait_until(lambda: ours_cmds()[-1:] == [[b"SET", b"workload", b"done"]], message="the workload in our incr file")
    second = next_second()
    for s in (ours, redis):
        s.cmd("SET", "later", "1")
    wait_until(lambda: ours_cmds()[-1:] == [[b"SET", b"later", b"1"]], message="SET later in our incr file")
    for d in (ours_dir, redis_dir):
        data = read(incr_path(d))
        assert data.startswith(b"#TS:")
        stamps, _ = annotations(data)
        assert stamps == sorted(set(stamps)) and started <= stamps[0] and stamps[-1] >= second, (d, stamps, second)
        # The last second's annotation comes right before SET later (Redis: before its SELECT, if any).
        assert data.endswith(b"#TS:%d\r\n*3\r\n$3\r\nSET\r\n$5\r\nlater\r\n$1\r\n1\r\n" % stamps[-1])
    assert masked(ours_cmds()) == masked(commands(annotations(read(incr_path(redis_dir)))[1]))
    expected = digest(ours)
    assert ours.shutdown() == 0
    ours.start()
    assert digest(ours) == expected
    assert ours.shutdown() == 0
    manifest = os.path.join(aof_dir(ours_dir), "appendonly.aof.manifest")
    if CHECK_AOF:
        out = subprocess.run([CHECK_AOF, manifest], capture_output=True, text=True)
        assert out.returncode == 0 and "All AOF files and manifest are valid" in out.stdout, out.stdout + out.stderr
    r = make_redis(*AOF, *ts, data_dir=ours_dir)
    assert digest(r) == expected
    assert r.shutdown() == 0
    if CHECK_AOF:
        # Everything written from `second` on goes; both servers then load the rest.
        out = subprocess.run([CHECK_AOF, "--truncate-to-timestamp", str(second - 1), manifest],
                             capture_output=True, text=True)
        assert out.returncode == 0 and "Successfully truncated AOF" in out.stdout, out.stdout + out.stderr
        r.start()
        assert r.cmd("EXISTS", "later") == 0 and r.cmd("HGET", "h", "f") is None and r.cmd("GET", "m1") == b"1"
        expected = digest(r)
        assert r.shutdown() == 0
        ours.start()
        assert digest(ours) == expected and ours.cmd("EXISTS", "later") == 0


def test_restart_loads_the_aof_instead_of_the_dump(make_server, tmp_path):
    """With appendonly yes the AOF is what a restart loads (a SAVEd dump with other data is
    ignored, as Redis ignores it); the replayed commands are not appended again."""
    s = make_server(*shards(2), *AOF, data_dir=tmp_path)
    c = s.conn()
    run_workload(c)
    c.cmd("MSET", "k1", "1", "k2", "2", "k3", "3", "k4", "4")   # keys on both shards: one MSET
    before = digest(s)
    c.cmd("SET", "only-in-dump", "x")
    assert c.cmd("SAVE") == "OK"
    c.cmd("DEL", "only-in-dump")
    c.close()
    written(incr_path(tmp_path), "DEL", "only-in-dump")
    size = os.path.getsize(incr_path(tmp_path))
    s.kill()
    s.start()
    assert digest(s) == before
    assert s.cmd("EXISTS", "only-in-dump") == 0
    assert "DB loaded from append only file" in s.last_start_log()
    assert os.path.getsize(incr_path(tmp_path)) == size
    assert info(s.conn(), "persistence")["aof_enabled"] == "1"


def test_info_persistence_aof_fields(make_server, tmp_path):
    s = make_server(*AOF, data_dir=tmp_path)
    c = s.conn()
    c.cmd("SET", "k", "v" * 100)
    written(incr_path(tmp_path), "SET", "k", "v" * 100)
    base = os.path.getsize(os.path.join(aof_dir(tmp_path), "appendonly.aof.1.base.rdb"))
    size = os.path.getsize(incr_path(tmp_path))
    p = info(c, "persistence")
    assert p["aof_enabled"] == "1" and p["aof_last_write_status"] == "ok" and p["aof_rewrite_in_progress"] == "0"
    assert int(p["aof_current_size"]) == size   # the base made at start-up is not counted, as in Redis
    assert p["aof_base_size"] == "0" and p["aof_buffer_length"] == "0" and "aof_pending_bio_fsync" in p
    c.close()
    s.kill()
    s.start()
    p = info(s.conn(), "persistence")
    assert int(p["aof_base_size"]) == base
    assert int(p["aof_current_size"]) == base + size
    (tmp_path / "off").mkdir()
    p = info(make_server(data_dir=tmp_path / "off").conn(), "persistence")
    assert p["aof_enabled"] == "0" and "aof_current_size" not in p


@pytest.mark.parametrize("fsync", ["everysec", "no"])
def test_kill_9_under_writes_keeps_what_was_acknowledged(make_server, tmp_path, fsync):
    """kill -9 while clients write: after the restart the keys present are exactly a prefix of
    each writer's acknowledged writes, and nothing acknowledged more than a second before the
    kill is missing. (kill -9 leaves the page cache: what was written survives with `no` as
    with `everysec`; their difference is a power loss, not tested here.)"""
    s = make_server(*shards(2), *AOF, "--appendfsync", fsync, data_dir=tmp_path)
    acked = [[] for _ in range(3)]
    stop = threading.Event()

    def writer(n):
        c = s.conn()
        i = 0
        try:
            while not stop.is_set():
                c.cmd("SET", "w%d:%d" % (n, i), str(i))
                acked[n].append(time.monotonic())
                i += 1
        except (ConnectionError, OSError):
            pass

    threads = [threading.Thread(target=writer, args=(n,), daemon=True) for n in range(3)]
    for t in threads:
        t.start()
    wait_until(lambda: min(len(a) for a in acked) > 3000, timeout=30, message="3000 writes per writer")
    s.kill()
    killed = time.monotonic()
    stop.set()
    for t in threads:
        t.join(10)
    s.start()
    c = s.conn()
    for n in range(3):
        present = c.pipeline([("EXISTS", "w%d:%d" % (n, i)) for i in range(len(acked[n]) + 1)])
        kept = present.index(0) if 0 in present else len(present)
        assert all(p == 0 for p in present[kept:]), "writer %d: a later write survived an earlier one" % n
        lost = [t for t in acked[n][kept:]]
        assert all(t > killed - 1.0 for t in lost), "writer %d lost %d writes acknowledged over 1 s before the kill" % (
            n, sum(1 for t in lost if t <= killed - 1.0))


def test_kill_9_with_appendfsync_always_loses_nothing_acknowledged(make_server, tmp_path):
    """appendfsync always: a write is acknowledged only after the fsync that covers it, so
    after kill -9 under continuous writes every acknowledged INCR is there (a counter may be
    ahead: an INCR written but not yet acknowledged survives too). Writers on both shards,
    one pipelining 32 INCRs at a time, one running MULTI ... EXEC across shards, one EVAL,
    all on connections served by two workers."""
    s = make_server(*shards(2), *AOF, "--appendfsync", "always", data_dir=tmp_path)
    keys = ["c%d" % i for i in range(6)]   # spread over both shards
    acked = {k: 0 for k in keys}
    lock = threading.Lock()
    stop = threading.Event()

    def note(counts):
        with lock:
            for k, n in counts:
                acked[k] += n

    def single(key):
        c = s.conn()
        try:
            while not stop.is_set():
                c.cmd("INCR", key)
                note([(key, 1)])
        except (ConnectionError, OSError):
            pass

    def pipelined(key):
        c = s.conn()
        try:
            while not stop.is_set():
                c.send_raw(b"".join(b"*2\r\n$4\r\nINCR\r\n$%d\r\n%s\r\n" % (len(key), key.encode()) for _ in range(32)))
                for _ in range(32):
                    c.read()
                    note([(key, 1)])   # each reply counts as it arrives
        except (ConnectionError, OSError):
            pass

    def transaction(a, b):
        c = s.conn()
        try:
            while not stop.is_set():
                c.cmd("MULTI")
                c.cmd("INCR", a)
                c.cmd("INCR", b)
                c.cmd("EXEC")
                note([(a, 1), (b, 1)])
        except (ConnectionError, OSError):
            pass

    def script(key):
        c = s.conn()
        try:
            while not stop.is_set():
                c.cmd("EVAL", "return redis.call('INCR', KEYS[1])", "1", key)
                note([(key, 1)])
        except (ConnectionError, OSError):
            pass

    threads = [threading.Thread(target=single, args=("c0",)), threading.Thread(target=single, args=("c1",)),
               threading.Thread(target=pipelined, args=("c2",)), threading.Thread(target=transaction, args=("c3", "c4")),
               threading.Thread(target=script, args=("c5",))]
    for t in threads:
        t.daemon = True
        t.start()
    wait_until(lambda: min(acked.values()) > 300, timeout=60, message="300 acknowledged INCRs per counter: %r" % acked)
    s.kill()
    stop.set()
    for t in threads:
        t.join(10)
    with lock:
        final = dict(acked)
    s.start()
    for k in keys:
        assert int(s.cmd("GET", k) or 0) >= final[k], "%s: %s after the restart, %d acknowledged" % (
            k, s.cmd("GET", k), final[k])


def test_appendfsync_always_acknowledges_what_is_in_the_file(make_server, tmp_path):
    """With appendfsync always a write's reply comes after its command is in the incr file:
    read at once after each reply, the file ends with it (a single write, a pipeline, a
    cross-shard MULTI ... EXEC). A read's reply does not wait. CONFIG SET appendfsync
    everysec and back leaves no reply behind."""
    s = make_server(*shards(2), *AOF, "--appendfsync", "always", data_dir=tmp_path)
    c = s.conn()
    path = incr_path(tmp_path)
    for i in range(50):
        assert c.cmd("SET", "k", str(i)) == "OK"
        assert read(path).endswith(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$%d\r\n%d\r\n" % (len(str(i)), i))
    assert c.pipeline([("INCR", "n")] * 100)[-1] == 100
    assert commands(read(path))[-1] == [b"INCR", b"n"] and read(path).count(b"$4\r\nINCR") == 100
    assert c.pipeline([("MULTI",), ("SET", "a", "1"), ("SET", "b", "2"), ("EXEC",)])[-1] == ["OK", "OK"]
    assert commands(read(path))[-1] == [b"EXEC"]
    assert c.cmd("GET", "n") == b"100"
    assert s.cmd("CONFIG", "SET", "appendfsync", "everysec") == "OK"
    assert c.pipeline([("INCR", "n")] * 100)[-1] == 200
    assert s.cmd("CONFIG", "SET", "appendfsync", "always") == "OK"
    assert c.pipeline([("INCR", "n")] * 100)[-1] == 300
    assert info(c, "persistence")["aof_last_write_status"] == "ok"


def truncated_setup(make_server, tmp_path, tail):
    """A directory whose incr file ends with `tail` after whole commands; returns its size before."""
    s = make_server(*AOF, data_dir=tmp_path)
    c = s.conn()
    c.cmd("SET", "a", "1")
    c.cmd("SET", "b", "2")
    c.close()
    assert s.shutdown() == 0
    path = incr_path(tmp_path)
    good = os.path.getsize(path)
    with open(path, "ab") as f:
        f.write(tail)
    return s, path, good


def test_truncated_last_command_is_cut_with_aof_load_truncated(make_server, tmp_path):
    s, path, good = truncated_setup(make_server, tmp_path, b"*3\r\n$3\r\nset\r\n$1\r\nc\r\n$2\r\n3")
    s.start()
    log = s.last_start_log()
    assert "!!! Warning: short read while loading the AOF file appendonly.aof.1.incr.aof!!!" in log
    assert "!!! Truncating the AOF appendonly.aof.1.incr.aof at offset %d !!!" % good in log
    assert "AOF appendonly.aof.1.incr.aof loaded anyway because aof-load-truncated is enabled" in log
    assert os.path.getsize(path) == good
    assert s.cmd("MGET", "a", "b", "c") == [b"1", b"2", None]
    s.cmd("SET", "d", "4")
    written(path, "SET", "d", "4")
    s.kill()
    s.start()
    assert s.cmd("MGET", "a", "b", "c", "d") == [b"1", b"2", None, b"4"]


def test_incomplete_multi_is_reverted(make_server, tmp_path):
    s, path, good = truncated_setup(make_server, tmp_path, b"*1\r\n$5\r\nMULTI\r\n*3\r\n$3\r\nset\r\n$1\r\nc\r\n$1\r\n3\r\n")
    s.start()
    assert "Revert incomplete MULTI/EXEC transaction in AOF file appendonly.aof.1.incr.aof" in s.last_start_log()
    assert os.path.getsize(path) == good
    assert s.cmd("EXISTS", "c") == 0


def test_truncated_file_refused_without_aof_load_truncated(make_server, tmp_path):
    s, path, good = truncated_setup(make_server, tmp_path, b"*3\r\n$3\r\nset\r\n")
    s.args += ["--aof-load-truncated", "no"]
    s.spawn()
    assert s.wait_exit() == 1
    assert ("Unexpected end of file reading the append only file appendonly.aof.1.incr.aof. You can: 1) Make a "
            "backup of your AOF file, then use ./redis-check-aof --fix <filename.manifest>. 2) Alternatively you can "
            "set the 'aof-load-truncated' configuration option to yes and restart the server.") in s.last_start_log()
    assert os.path.getsize(path) == good + len(b"*3\r\n$3\r\nset\r\n")


@pytest.mark.parametrize("tail,line", [
    (b"garbage\r\n", "Bad file format reading the append only file appendonly.aof.1.incr.aof: make a backup of "
                     "your AOF file, then use ./redis-check-aof --fix <filename.manifest>"),
    (b"*1\r\n$7\r\nNOSUCHC\r\n", "Unknown command 'NOSUCHC' reading the append only file appendonly.aof.1.incr.aof"),
])
def test_corrupt_file_is_refused_with_redis_message(make_server, make_redis, tmp_path, tail, line):
    s, path, good = truncated_setup(make_server, tmp_path, tail)
    s.spawn()
    assert s.wait_exit() == 1
    assert line in s.last_start_log()
    assert os.path.getsize(path) == good + len(tail)
    if REDIS_SERVER:
        r = make_redis(*AOF, data_dir=tmp_path, wait=False)
        assert r.wait_exit() == 1
        assert line in r.last_start_log()


def test_bad_manifest_is_refused(make_server, tmp_path):
    s = make_server(*AOF, data_dir=tmp_path)
    assert s.shutdown() == 0
    with open(os.path.join(aof_dir(tmp_path), "appendonly.aof.manifest"), "w") as f:
        f.write("file appendonly.aof.1.incr.aof seq 1 type x\n")
    s.spawn()
    assert s.wait_exit() == 1
    log = s.last_start_log()
    assert "*** FATAL AOF MANIFEST FILE ERROR ***" in log and "Unknown AOF file type" in log


@needs_redis
def test_directory_written_by_redis_loads_here(make_server, make_redis, tmp_path):
    """redis-server's directory after a BGREWRITEAOF (an RDB base with data, a second incr
    file) and more writes loads here with the same DEBUG DIGEST, and we append to its incr file."""
    r = make_redis(*AOF, data_dir=tmp_path)
    c = r.conn()
    run_workload(c)
    assert c.cmd("BGREWRITEAOF").startswith("Background append only file rewriting")
    wait_until(lambda: info(c, "persistence")["aof_rewrite_in_progress"] == "0"
               and "appendonly.aof.2.base.rdb" in os.listdir(aof_dir(tmp_path)), message="the rewrite")
    c.cmd("SET", "after", "rewrite")
    c.cmd("SELECT", "3")
    c.cmd("LPUSH", "l3", "a", "b")
    expected = digest(r)
    c.close()
    assert r.shutdown() == 0
    s = make_server(*shards(2), *AOF, data_dir=tmp_path)
    assert digest(s) == expected
    s.cmd("SET", "ours", "1")
    expected = digest(s)
    assert s.shutdown() == 0   # exits once the write is in the file
    assert read(incr_path(tmp_path, 2)).endswith(b"*3\r\n$3\r\nSET\r\n$4\r\nours\r\n$1\r\n1\r\n")
    r2 = make_redis(*AOF, data_dir=tmp_path)
    assert digest(r2) == expected


@needs_redis
def test_directory_written_here_loads_in_redis(make_server, make_redis, tmp_path):
    s = make_server(*shards(2), *AOF, data_dir=tmp_path)
    c = s.conn()
    run_workload(c)
    c.cmd("MSET", "k1", "1", "k2", "2", "k3", "3", "k4", "4")
    c.cmd("FLUSHDB")
    c.cmd("SET", "after-flush", "1")
    c.close()
    expected = digest(s)
    assert s.shutdown() == 0
    r = make_redis(*AOF, data_dir=tmp_path)
    assert digest(r) == expected
    assert "DB loaded from append only file" in r.last_start_log()


def wait_rewritten(conn, count):
    wait_until(lambda: (lambda p: p["aof_rewrite_in_progress"] == "0" and int(p["aof_rewrites"]) >= count)(
        info(conn, "persistence")), timeout=30, message="rewrite %d" % count)


def test_bgrewriteaof_under_writes(make_server, make_redis, tmp_path):
    """BGREWRITEAOF while clients write on both shards: a new RDB base from the snapshot, a
    new incr file from the snapshot's point, the manifest swapped and the old files removed;
    the directory then loads here and in redis-server with the same digest."""
    s = make_server(*shards(2), *AOF, data_dir=tmp_path)
    c = s.conn()
    for i in range(0, 20000, 1000):
        c.cmd("MSET", *[x for j in range(i, i + 1000) for x in ("k:%d" % j, "v%d" % j)])
    c.cmd("HSET", "h", *[x for j in range(300) for x in ("f%d" % j, "x" * j)])
    stop = threading.Event()

    def writer(n):
        w = s.conn()
        i = 0
        while not stop.is_set():
            w.pipeline([("INCR", "counter:%d" % n), ("SET", "k:%d" % ((i * 7 + n) % 20000), "new%d" % i),
                        ("RPUSH", "list:%d" % n, i)])
            i += 1
        w.close()

    threads = [threading.Thread(target=writer, args=(n,), daemon=True) for n in range(2)]
    for t in threads:
        t.start()
    for round_ in (1, 2):
        assert c.cmd("BGREWRITEAOF") == "Background append only file rewriting started"
        wait_rewritten(c, round_)
    stop.set()
    for t in threads:
        t.join(10)
    c.cmd("SET", "last", "1")
    written(incr_path(tmp_path, 3), "SET", "last", "1")
    expected = digest(s)
    p = info(c, "persistence")
    assert p["aof_last_bgrewrite_status"] == "ok" and p["aof_rewrites"] == "2"
    assert sorted(os.listdir(aof_dir(tmp_path))) == [
        "appendonly.aof.3.base.rdb", "appendonly.aof.3.incr.aof", "appendonly.aof.manifest"]
    assert read(os.path.join(aof_dir(tmp_path), "appendonly.aof.manifest")) == \
        b"file appendonly.aof.3.base.rdb seq 3 type b\nfile appendonly.aof.3.incr.aof seq 3 type i\n"
    assert int(p["aof_base_size"]) == os.path.getsize(os.path.join(aof_dir(tmp_path), "appendonly.aof.3.base.rdb"))
    if CHECK_AOF:
        out = subprocess.run([CHECK_AOF, os.path.join(aof_dir(tmp_path), "appendonly.aof.manifest")],
                             capture_output=True, text=True)
        assert out.returncode == 0, out.stdout + out.stderr
    c.close()
    s.kill()
    s.start()
    assert digest(s) == expected
    assert s.shutdown() == 0
    if REDIS_SERVER:
        r = make_redis(*AOF, data_dir=tmp_path)
        assert digest(r) == expected


def test_bgrewriteaof_errors(make_server, tmp_path):
    s = make_server(*AOF, data_dir=tmp_path)
    c = s.conn()
    c.cmd("MULTI")
    c.cmd("BGREWRITEAOF")
    assert c.cmd("EXEC") == ["Background append only file rewriting scheduled"]
    wait_rewritten(c, 1)


def test_config_set_appendonly_at_run_time(make_server, tmp_path):
    """CONFIG SET appendonly yes writes a base of the data so far (a rewrite) and records
    from its point on, as Redis's startAppendOnly; no closes the file and records nothing."""
    s = make_server(*shards(2), "--enable-debug-command", "yes", "--save", "", data_dir=tmp_path)
    c = s.conn()
    c.cmd("MSET", *[x for j in range(2000) for x in ("before:%d" % j, j)])
    c.cmd("SELECT", "1")
    c.cmd("INCR", "counter")
    assert c.cmd("CONFIG", "SET", "appendonly", "yes") == "OK"
    c.cmd("INCR", "counter")
    wait_rewritten(c, 1)
    c.cmd("INCR", "counter")
    c.cmd("SET", "after", "1")
    written(incr_path(tmp_path), "SET", "after", "1")
    assert sorted(os.listdir(aof_dir(tmp_path))) == [
        "appendonly.aof.1.base.rdb", "appendonly.aof.1.incr.aof", "appendonly.aof.manifest"]
    assert info(c, "persistence")["aof_enabled"] == "1"
    expected = digest(s)
    assert c.cmd("GET", "counter") == b"3"
    assert c.cmd("CONFIG", "SET", "appendonly", "no") == "OK"
    assert info(c, "persistence")["aof_enabled"] == "0"
    size = os.path.getsize(incr_path(tmp_path))
    c.cmd("SET", "not-recorded", "1")
    c.close()
    s.kill()
    assert os.path.getsize(incr_path(tmp_path)) == size
    s.args += ["--appendonly", "yes"]
    s.start()
    assert digest(s) == expected


def test_writes_pipelined_after_appendonly_no_stay_out_of_the_file(make_server, tmp_path):
    """A write sent right behind CONFIG SET appendonly no (same pipeline, both shards) runs
    after the stop, as in Redis's stopAppendOnly, so it is not in the closed file. The
    sequencer used to merge such a record, drained with the ones before the stop, into the
    file before it handled the stop (a fresh-clone CI run caught it in
    test_config_set_appendonly_at_run_time)."""
    s = make_server(*shards(2), "--enable-debug-command", "yes", "--save", "", data_dir=tmp_path)
    c = s.conn()
    for round in range(1, 31):
        assert c.cmd("CONFIG", "SET", "appendonly", "yes") == "OK"
        wait_rewritten(c, round)
        c.cmd("SET", "in:%d" % round, "1")
        written(incr_path(tmp_path, round), "SET", "in:%d" % round, "1")
        replies = c.pipeline([("CONFIG", "SET", "appendonly", "no")] + [("SET", "out:%d:%d" % (round, i), "1") for i in range(8)])
        assert replies == ["OK"] * 9
        assert info(c, "persistence")["aof_enabled"] == "0"
        # INFO replication asks the sequencer for its offset past these writes: by its answer
        # the stop, queued before, has flushed and closed the file. (Were the propagation
        # off, it would answer at once and this could only miss the fault, never invent it.)
        info(c, "replication")
        assert b"out:" not in read(incr_path(tmp_path, round)), round
    c.close()


def test_automatic_rewrite_on_growth(make_server, tmp_path):
    s = make_server(*AOF, "--auto-aof-rewrite-min-size", "100000", "--auto-aof-rewrite-percentage", "100",
                    data_dir=tmp_path)
    c = s.conn()
    c.pipeline([("SET", "k:%d" % (i % 50), "x" * 1000) for i in range(300)])
    wait_rewritten(c, 1)
    assert "Starting automatic rewriting of AOF on" in s.last_start_log()
    assert int(info(c, "persistence")["aof_current_size"]) < 100000   # 50 keys in the base
    c.close()


def manifest_of(d):
    return read(os.path.join(aof_dir(d), "appendonly.aof.manifest"))


@needs_redis
def test_replica_aof_records_its_masters_stream(make_server, make_redis, tmp_path):
    """A replica with appendonly yes records what its master sends it, as redis-server 7.0
    does (the commands it applies, SELECTs and MULTI/EXEC as it runs them, no PUBLISH): both
    replicas of one master end with the same manifest (the full sync's rewrite made base and
    incr 2) and the same commands. kill -9 of the replica with its master gone: it restarts
    from its AOF and serves the data (Redis loads the AOF before connecting), then syncs
    in full when the master is back, rewriting its base again."""
    for d in ("m", "ours", "redis"):
        (tmp_path / d).mkdir()
    m = make_server(*shards(2), "--enable-debug-command", "yes", "--save", "", data_dir=tmp_path / "m")
    m.cmd("SET", "before-sync", "1")
    replicaof = ("--replicaof", "127.0.0.1", str(m.port))
    ours = make_server(*shards(2), *AOF, *replicaof, data_dir=tmp_path / "ours")
    redis = make_redis(*AOF, *replicaof, data_dir=tmp_path / "redis")
    mc = m.conn()
    for r in (ours, redis):
        wait_synced(mc, r.conn())
    run_workload(mc)
    mc.cmd("PUBLISH", "channel", "message")
    mc.cmd("SET", "last", "1")
    for r in (ours, redis):
        wait_synced(mc, r.conn())
    # Redis names its incr file once the full sync's rewrite is done.
    for d in ("ours", "redis"):
        wait_until(lambda: manifest_of(tmp_path / d) == (
            b"file appendonly.aof.2.base.rdb seq 2 type b\nfile appendonly.aof.2.incr.aof seq 2 type i\n"),
            message="%s: base and incr 2 in the manifest" % d)
    ours_incr, redis_incr = incr_path(tmp_path / "ours", 2), incr_path(tmp_path / "redis", 2)
    for path in (ours_incr, redis_incr):
        written(path, "SET", "last", "1")
    # The same commands; their order may differ between keys on different shards (the
    # replica applies its master's stream pipelined: a DEL on another shard may run before
    # a transaction closes), never for one key. The restart below loads the same data.
    without_select = lambda path: sorted(c for c in masked(commands(read(path))) if c[0] != b"select")  # noqa: E731
    assert without_select(ours_incr) == without_select(redis_incr)
    assert b"PUBLISH" not in read(ours_incr).upper()
    expected = digest(m)
    assert digest(ours) == expected
    # The replica crashes, its master is gone: it comes back from its AOF alone.
    ours.kill()
    redis.kill()
    m.stop()
    for r in (ours, redis):
        r.start()
        assert digest(r) == expected
        assert info(r.conn(), "replication")["master_link_status"] == "down"
    assert "DB loaded from append only file" in ours.last_start_log()
    # The master is back: a full sync (the AOF holds no replication id), a new base.
    m.start()
    m.cmd("SET", "after-restart", "1")
    wait_synced(m.conn(), ours.conn())
    assert ours.cmd("GET", "after-restart") == b"1" and digest(ours) == digest(m)
    wait_until(lambda: manifest_of(tmp_path / "ours").startswith(b"file appendonly.aof.3.base.rdb seq 3 type b\n"),
               message="the base rewritten after the full sync")
    m.cmd("SET", "streamed", "1")
    written(incr_path(tmp_path / "ours", 3), "SET", "streamed", "1")
    if CHECK_AOF:
        out = subprocess.run([CHECK_AOF, os.path.join(aof_dir(tmp_path / "ours"), "appendonly.aof.manifest")],
                             capture_output=True, text=True)
        assert out.returncode == 0 and "All AOF files and manifest are valid" in out.stdout, out.stdout + out.stderr


# MARK: aof-use-rdb-preamble no, BGREWRITEAOF with the AOF off, pre-7.0 AOF upgrade

def fill_every_type(c):
    """A dataset with every type and the cases rewriteAppendOnlyFileRio treats apart:
    collections over AOF_REWRITE_ITEMS_PER_CMD (64), integer members, fractional and
    infinite scores, a stream with a deleted entry, a group with pending entries and an
    empty consumer, an empty stream, HyperLogLog and bitmap strings, a TTL, a function,
    a second database."""
    c.cmd("SET", "str", "value")
    c.cmd("RPUSH", "list", *["e%d" % i for i in range(150)], 42, -7)
    c.cmd("SADD", "intset", *range(100))
    c.cmd("SADD", "set", *["m%d" % i for i in range(130)])
    c.cmd("ZADD", "zsmall", 1.5, "a", 0.1, "b", "inf", "c", "-inf", "d", 3, "e")
    c.cmd("ZADD", "zbig", *[x for i in range(200) for x in (i / 7, "m%d" % i)])
    c.cmd("HSET", "hsmall", "f", "v", "n", 12)
    c.cmd("HSET", "hbig", *[x for i in range(100) for x in ("f%d" % i, "v" * i)])
    for i in range(1, 6):
        c.cmd("XADD", "stream", "%d-1" % i, "f", i, "g", "x")
    c.cmd("XDEL", "stream", "3-1")
    c.cmd("XGROUP", "CREATE", "stream", "g1", "0")
    c.cmd("XREADGROUP", "GROUP", "g1", "alice", "COUNT", "2", "STREAMS", "stream", ">")
    c.cmd("XGROUP", "CREATECONSUMER", "stream", "g1", "bob")
    c.cmd("XGROUP", "CREATE", "stream", "g2", "$")
    c.cmd("XADD", "empty-stream", "1-1", "f", "v")
    c.cmd("XDEL", "empty-stream", "1-1")
    c.cmd("PFADD", "hll", *["e%d" % i for i in range(50)])
    c.cmd("SETBIT", "bits", 1000, 1)
    c.cmd("SET", "ttl", "x", "EX", 10000)
    c.cmd("FUNCTION", "LOAD", "#!lua name=lib\nredis.register_function('f', function() return 1 end)")
    c.cmd("SELECT", "3")
    c.cmd("SET", "in3", "three")
    c.cmd("LPUSH", "l3", "a", "b")
    c.cmd("SELECT", "0")


def command_shapes(cmds):
    """What a base's commands are made of, order and members aside (hash and set orders
    differ between servers, and so does the split of their batches): the command, its key
    and its argument count."""
    out = []
    for c in cmds:
        name = c[0].upper()
        key = c[1] if len(c) > 1 and name not in (b"FUNCTION", b"XGROUP") else c[2] if len(c) > 2 else b""
        out.append((name, key, len(c)))
    return sorted(out)


def masked_times(cmds):
    """masked(), and XCLAIM's delivery TIME (when each server delivered)."""
    return [c[:7] + [b"<ms>"] + c[8:] if c[0] == b"xclaim" else c for c in masked(cmds)]


def base_commands(d, name):
    return commands(read(os.path.join(aof_dir(d), name)))


@needs_redis
def test_rewrite_without_rdb_preamble_writes_commands_as_redis(make_server, make_redis, tmp_path):
    """With aof-use-rdb-preamble no, BGREWRITEAOF writes `appendonly.aof.2.base.aof` of
    commands, as redis-server does: the same files and manifest, the same commands (FUNCTION
    LOAD, SELECT per database, RPUSH/SADD/ZADD/HMSET by 64, XADD, XSETID, XGROUP CREATE,
    XCLAIM, XGROUP CREATECONSUMER, SET, PEXPIREAT); each server loads the other's directory
    with the same DEBUG DIGEST."""
    args = (*AOF, "--aof-use-rdb-preamble", "no")
    ours, redis, ours_dir, redis_dir = ours_and_redis(make_server, make_redis, tmp_path, *args)
    for s in (ours, redis):
        c = s.conn()
        fill_every_type(c)
        assert c.cmd("BGREWRITEAOF") == "Background append only file rewriting started"
        wait_rewritten(c, 1)
        c.close()
    expected = digest(redis)
    assert digest(ours) == expected
    for d in (ours_dir, redis_dir):
        assert sorted(os.listdir(aof_dir(d))) == [
            "appendonly.aof.2.base.aof", "appendonly.aof.2.incr.aof", "appendonly.aof.manifest"]
        assert manifest_of(d) == \
            b"file appendonly.aof.2.base.aof seq 2 type b\nfile appendonly.aof.2.incr.aof seq 2 type i\n"
    ours_cmds = base_commands(ours_dir, "appendonly.aof.2.base.aof")
    redis_cmds = base_commands(redis_dir, "appendonly.aof.2.base.aof")
    assert command_shapes(ours_cmds) == command_shapes(redis_cmds)
    # Where the order is the value's own, the commands are the same bytes.
    for key in (b"list", b"stream", b"empty-stream", b"zsmall", b"str", b"hll", b"bits"):
        mine = [c for c in ours_cmds if len(c) > 1 and c[1] == key]
        theirs = [c for c in redis_cmds if len(c) > 1 and c[1] == key]
        assert masked_times(mine) == masked_times(theirs), key
    assert ours_cmds[0][:2] == [b"FUNCTION", b"LOAD"] and ours_cmds[1] == [b"SELECT", b"0"]
    assert [b"RPUSH", b"list"] + [b"e%d" % i for i in range(64)] == ours_cmds[
        next(i for i, c in enumerate(ours_cmds) if c[:2] == [b"RPUSH", b"list"])]
    claims = [c for c in ours_cmds if c[0] == b"XCLAIM"]
    assert [c[:6] + c[8:] for c in claims] == [
        [b"XCLAIM", b"stream", b"g1", b"alice", b"0", b"%d-1" % i, b"RETRYCOUNT", b"1", b"JUSTID", b"FORCE"]
        for i in (1, 2)]
    if CHECK_AOF:
        out = subprocess.run([CHECK_AOF, os.path.join(aof_dir(ours_dir), "appendonly.aof.manifest")],
                             capture_output=True, text=True)
        assert out.returncode == 0, out.stdout + out.stderr
    assert ours.shutdown() == 0 and redis.shutdown() == 0
    # Exchanged: each loads the other's directory.
    ours2 = make_server(*shards(2), *args, data_dir=redis_dir)
    assert digest(ours2) == expected
    assert "DB loaded from base file appendonly.aof.2.base.aof" in ours2.last_start_log()
    assert ours2.cmd("FCALL", "f", 0) == 1
    assert ours2.shutdown() == 0
    redis2 = make_redis(*args, data_dir=ours_dir)
    assert digest(redis2) == expected
    assert redis2.cmd("XINFO", "GROUPS", "stream")[0][:8] == [b"name", b"g1", b"consumers", 2, b"pending", 2,
                                                             b"last-delivered-id", b"2-1"]


@needs_redis
def test_bgrewriteaof_with_appendonly_off_as_redis(make_server, make_redis, tmp_path):
    """With appendonly no, BGREWRITEAOF rewrites all the same (Redis 7.0): the directory is
    created with a base and a manifest naming only it; a second rewrite replaces the base
    (here in command form) and removes the old one; `appendonly yes` then starts from it."""
    base = ("--enable-debug-command", "yes", "--save", "")
    ours, redis, ours_dir, redis_dir = ours_and_redis(make_server, make_redis, tmp_path, *base)
    for s in (ours, redis):
        c = s.conn()
        c.cmd("SET", "a", "1")
        c.cmd("RPUSH", "l", "x", "y")
        assert c.cmd("BGREWRITEAOF") == "Background append only file rewriting started"
        wait_rewritten(c, 1)
        assert sorted(os.listdir(aof_dir(s.dir))) == ["appendonly.aof.1.base.rdb", "appendonly.aof.manifest"]
        assert manifest_of(s.dir) == b"file appendonly.aof.1.base.rdb seq 1 type b\n"
        c.cmd("CONFIG", "SET", "aof-use-rdb-preamble", "no")
        c.cmd("HSET", "h", "f", "v")
        assert c.cmd("BGREWRITEAOF") == "Background append only file rewriting started"
        wait_rewritten(c, 2)
        assert sorted(os.listdir(aof_dir(s.dir))) == ["appendonly.aof.2.base.aof", "appendonly.aof.manifest"]
        assert manifest_of(s.dir) == b"file appendonly.aof.2.base.aof seq 2 type b\n"
        p = info(c, "persistence")
        assert p["aof_enabled"] == "0" and p["aof_last_bgrewrite_status"] == "ok"
        c.close()
    # Keys come in each server's own order.
    assert sorted(masked(base_commands(ours_dir, "appendonly.aof.2.base.aof"))) == \
        sorted(masked(base_commands(redis_dir, "appendonly.aof.2.base.aof")))
    expected = digest(redis)
    assert digest(ours) == expected
    ours.stop()
    ours.args += ["--appendonly", "yes"]
    ours.start()
    assert digest(ours) == expected
    assert manifest_of(ours_dir) == \
        b"file appendonly.aof.2.base.aof seq 2 type b\nfile appendonly.aof.1.incr.aof seq 1 type i\n"


def cmd_bytes(*args):
    return b"*%d\r\n" % len(args) + b"".join(b"$%d\r\n%s\r\n" % (len(a), a) for a in args)


@needs_redis
@pytest.mark.parametrize("preamble", [True, False], ids=["rdb-preamble", "commands"])
def test_pre_7_aof_is_upgraded_as_redis_does(make_server, make_redis, tmp_path, preamble):
    """A pre-7.0 `appendonly.aof` in `dir` without `appendonlydir` (an RDB preamble then
    commands, or commands only) is moved into the directory as its base, a manifest written
    and a first incr file made, as redis-server 7.0's aofUpgradePrepare does; the same
    files, manifest, log lines and DEBUG DIGEST."""
    (tmp_path / "gen").mkdir()
    gen = make_redis("--save", "", data_dir=tmp_path / "gen")
    gen.cmd("RPUSH", "l", "a", "b", "c")
    gen.cmd("SET", "s", "1")
    gen.cmd("SAVE")
    rdb = read(os.path.join(gen.dir, "dump.rdb"))
    gen.stop()
    tail = cmd_bytes(b"SELECT", b"0") + cmd_bytes(b"SET", b"t", b"tail") + cmd_bytes(b"INCR", b"s") + \
        cmd_bytes(b"SELECT", b"2") + cmd_bytes(b"SADD", b"s2", b"x")
    old = (rdb if preamble else cmd_bytes(b"RPUSH", b"l", b"a", b"b", b"c") + cmd_bytes(b"SET", b"s", b"1")) + tail
    digests, logs = [], []
    for name, make in (("ours", make_server), ("redis", make_redis)):
        d = tmp_path / name
        d.mkdir()
        with open(d / "appendonly.aof", "wb") as f:
            f.write(old)
        s = make(*AOF, data_dir=d)
        digests.append(digest(s))
        assert s.cmd("GET", "s") == b"2"
        assert not os.path.exists(d / "appendonly.aof")
        assert sorted(os.listdir(aof_dir(d))) == ["appendonly.aof", "appendonly.aof.1.incr.aof", "appendonly.aof.manifest"]
        assert read(os.path.join(aof_dir(d), "appendonly.aof")) == old
        assert manifest_of(d) == b"file appendonly.aof seq 1 type b\nfile appendonly.aof.1.incr.aof seq 1 type i\n"
        logs.append(s.last_start_log())
        s.cmd("SET", "after", "1")
        expected = digest(s)
        assert s.shutdown() == 0
        s.start()   # the upgraded directory loads again
        assert digest(s) == expected
        assert s.shutdown() == 0
    assert digests[0] == digests[1]
    lines = ["Successfully migrated an old-style AOF file (appendonly.aof) into the AOF directory (appendonlydir).",
             "DB loaded from base file appendonly.aof"]
    if preamble:
        lines += ["Reading RDB preamble from AOF file...", "Reading the remaining AOF tail..."]
    for log in logs:
        for line in lines:
            assert line in log


def test_clients_get_loading_while_the_aof_replays(make_server, tmp_path):
    """While the AOF replays at start-up, clients are served as Redis serves them: commands
    without the `loading` flag get -LOADING (PING, GET, SET), flagged ones run (INFO says
    loading:1); once the replay is done every command runs and none of the replay was
    appended again. SHUTDOWN then never dumps the half-loaded data."""
    s = make_server(*AOF, data_dir=tmp_path)
    assert s.shutdown() == 0
    # About 20 MB of commands: the replay takes 20 loop passes or more (a megabyte each),
    # the client's first commands a few.
    keys = 400000
    with open(incr_path(tmp_path), "wb") as f:
        f.write(b"".join(cmd_bytes(b"SET", b"key:%d" % i, b"x" * 16) for i in range(keys)))
    size = os.path.getsize(incr_path(tmp_path))
    s.spawn()
    c = wait_until(lambda: connect_or_none(s.port), message="the listener")
    reply = c.cmd("PING")
    assert isinstance(reply, Error) and str(reply) == "LOADING Redis is loading the dataset in memory"
    assert str(c.cmd("SET", "new", "1")).startswith("LOADING")
    assert info(c, "persistence")["loading"] == "1"
    wait_until(lambda: c.cmd("PING") == "PONG", timeout=60, message="the end of the replay")
    assert info(c, "persistence")["loading"] == "0"
    assert c.cmd("DBSIZE") == keys and c.cmd("GET", "new") is None
    assert os.path.getsize(incr_path(tmp_path)) == size
    c.close()
    assert "Ready to accept connections" in s.last_start_log()
    assert s.shutdown() == 0
    s.spawn()
    c = wait_until(lambda: connect_or_none(s.port), message="the listener")
    assert str(c.cmd("PING")).startswith("LOADING")
    c.send_raw(b"*2\r\n$8\r\nSHUTDOWN\r\n$4\r\nSAVE\r\n")
    assert s.wait_exit() == 0
    assert not os.path.exists(os.path.join(str(tmp_path), "dump.rdb"))


def connect_or_none(port):
    try:
        return Conn(port)
    except OSError:
        return None


@needs_redis
def test_config_set_appendonly_yes_without_rdb_preamble(make_server, make_redis, tmp_path):
    """CONFIG SET appendonly yes with aof-use-rdb-preamble no: the data so far goes to a
    base of commands, `appendonly.aof.1.base.aof`, beside the first incr file, as in
    redis-server; the directory restarts with the same digest in both."""
    expected = None
    for name, make in (("ours", make_server), ("redis", make_redis)):
        d = tmp_path / name
        d.mkdir()
        s = make("--enable-debug-command", "yes", "--save", "", "--aof-use-rdb-preamble", "no", data_dir=d)
        c = s.conn()
        c.cmd("RPUSH", "l", *range(70))
        c.cmd("SET", "k", "v", "PX", 100000000)
        assert c.cmd("CONFIG", "SET", "appendonly", "yes") == "OK"
        wait_rewritten(c, 1)
        c.cmd("SET", "after", "1")
        assert manifest_of(d) == \
            b"file appendonly.aof.1.base.aof seq 1 type b\nfile appendonly.aof.1.incr.aof seq 1 type i\n"
        assert [x[0] for x in commands(read(os.path.join(aof_dir(d), "appendonly.aof.1.base.aof")))] in (
            [b"SELECT", b"RPUSH", b"RPUSH", b"SET", b"PEXPIREAT"], [b"SELECT", b"SET", b"PEXPIREAT", b"RPUSH", b"RPUSH"])
        expected = expected or digest(s)
        assert digest(s) == expected
        c.close()
        assert s.shutdown() == 0
        s.args += ["--appendonly", "yes"]
        s.start()
        assert digest(s) == expected
