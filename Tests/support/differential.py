"""Differential checks against a live redis-server: one connection to each server, flushed and
set up alike, and a comparison of the reply bytes of the same commands."""
import os
import shutil
import tempfile
from contextlib import contextmanager

from support.resp import Conn


@contextmanager
def paired(server, redis_port, config=()):
    """A fresh connection to redis-server and one to ValKeyper (redis first), both flushed, their
    statistics reset and the `config` pairs (name, value) set; the pairs are set again when the
    block ends, so a test that changed them leaves the module's servers as it found them."""
    conns = [Conn(redis_port), server.conn()]
    try:
        for c in conns:
            assert c.cmd("FLUSHALL") == "OK"
            for name, value in config:
                assert c.cmd("CONFIG", "SET", name, value) == "OK"
            assert c.cmd("CONFIG", "RESETSTAT") == "OK"
        yield conns
    finally:
        for c in conns:
            for name, value in config:
                c.cmd("CONFIG", "SET", name, value)
            c.close()


def same(both, *commands):
    """Runs each command on both servers; every reply must be equal. All differences are
    listed, each around its first differing byte."""
    redis, vk = both
    diffs = []
    for args in commands:
        expected, actual = redis.raw(*args), vk.raw(*args)
        if actual != expected:
            at = next((i for i, (x, y) in enumerate(zip(expected, actual)) if x != y),
                      min(len(expected), len(actual)))
            window = slice(max(0, at - 200), at + 200)
            diffs.append("%r:\n  redis     %r\n  valkeyper %r" % (args[:12], expected[window], actual[window]))
    assert not diffs, "\n".join(diffs[:20])


def redis_dump_into(nodes, data_dir, prepare, *args):
    """redis-server (`--save ""` and `args`, in a directory of its own) runs `prepare(conn)`
    and saves; its dump.rdb is copied into data_dir. Returns what `prepare` returned."""
    from support.processes import REDIS_SERVER
    redis_dir = tempfile.mkdtemp(prefix="vk-dumps-redis-")
    try:
        r = nodes("--save", "", *args, binary=REDIS_SERVER, data_dir=redis_dir)
        rc = r.conn()
        prepared = prepare(rc)
        assert rc.cmd("SAVE") == "OK"
        r.shutdown("NOSAVE")
        shutil.copy(os.path.join(redis_dir, "dump.rdb"), os.path.join(data_dir, "dump.rdb"))
    finally:
        shutil.rmtree(redis_dir, ignore_errors=True)
    return prepared


def dumps_exchanged_with_redis(nodes, data_dir, fill, state, args=()):
    """redis-server fills its data (`fill(conn)`) and saves; ValKeyper (two shards) loads that
    dump into the same `state(conn)` and DEBUG DIGEST, saves it, and redis-server loads
    ValKeyper's dump back into the same state. `args`: options given to both servers."""
    from support.processes import REDIS_SERVER, shards

    def prepare(rc):
        fill(rc)
        return state(rc), rc.cmd("DEBUG", "DIGEST")
    expected, digest = redis_dump_into(nodes, data_dir, prepare, *args, "--enable-debug-command", "yes")
    a = nodes(*shards(2), *args, "--enable-debug-command", "yes", data_dir=data_dir)
    c = a.conn()
    assert state(c) == expected
    assert c.cmd("DEBUG", "DIGEST") == digest
    assert c.cmd("SAVE") == "OK"
    assert a.shutdown("NOSAVE") == 0
    rc = nodes("--save", "", "--enable-debug-command", "yes", binary=REDIS_SERVER, data_dir=data_dir).conn()
    assert state(rc) == expected
    assert rc.cmd("DEBUG", "DIGEST") == digest


def saved_and_restarted(nodes, data_dir, fill, state, before, after):
    """ValKeyper on `before` shards fills its data (`fill(conn)`), saves and stops; one on
    `after` shards loads that dump into the same `state(conn)` and DEBUG DIGEST. Returns a
    connection to the second, for checks that the loaded values keep working."""
    from support.processes import shards
    a = nodes(*shards(before), "--enable-debug-command", "yes", data_dir=data_dir)
    c = a.conn()
    fill(c)
    expected = state(c)
    digest = c.cmd("DEBUG", "DIGEST")
    assert c.cmd("SAVE") == "OK"
    assert a.shutdown("NOSAVE") == 0
    c = nodes(*shards(after), "--enable-debug-command", "yes", data_dir=data_dir).conn()
    assert state(c) == expected
    assert c.cmd("DEBUG", "DIGEST") == digest
    return c
