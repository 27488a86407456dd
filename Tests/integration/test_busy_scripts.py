"""Long-running scripts, as Redis 7.0 handles them (tests/unit/scripting.tcl's "Timedout ..."
tests): past busy-reply-threshold (alias lua-time-limit) every other client gets BUSY, on
the script's worker (its count hook answers) and on the others (the BUSY admission rule);
SCRIPT KILL stops a script that has not written, and the server serves normally after;
a script that wrote is UNKILLABLE, and only SHUTDOWN NOSAVE ends it. Run with one and two
shards (VALKEYPER_TEST_SHARDS=1 for one)."""
import pytest

from support.processes import ServerProcess, shards, TEST_SHARDS
from support.resp import Conn, Error, encode
from support.slots import keys_on_two_shards
from support.waiting import wait_until

BUSY = "BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE."
UNKILLABLE = ("UNKILLABLE Sorry the script already executed write commands against the dataset. You can "
              "either wait the script termination or kill the server in a hard way using the SHUTDOWN NOSAVE command.")
KILLED = "ERR Script killed by user with SCRIPT KILL..."
LOOP = "while true do end"


def conns(port, n):
    """`n` connections opened one after another: worker 0 hands them out in turn, so with two
    workers consecutive ones land on different workers, and the first and third share one."""
    return [Conn(port) for _ in range(n)]


def is_busy(c, error=BUSY):
    """False if `c` is served (PONG); True if refused with `error`, the busy text."""
    reply = c.cmd("PING")
    if reply == "PONG":
        return False
    assert isinstance(reply, Error) and str(reply) == error, reply
    return True


def eval_command(script, key):
    return encode("EVAL", script, "1", key) if key else encode("EVAL", script, "0")


@pytest.fixture
def busy_server(server):
    c = server.conn()
    assert c.cmd("CONFIG", "SET", "busy-reply-threshold", "50") == "OK"
    assert c.cmd("FLUSHALL") == "OK"
    yield server
    assert c.cmd("CONFIG", "SET", "busy-reply-threshold", "5000") == "OK"
    c.close()


def test_config_names():
    s = ServerProcess(*shards(TEST_SHARDS), "--lua-time-limit", "1234")
    try:
        c = s.conn()
        assert c.cmd("CONFIG", "GET", "busy-reply-threshold") == [b"busy-reply-threshold", b"1234"]
        assert c.cmd("CONFIG", "GET", "lua-time-limit") == [b"lua-time-limit", b"1234"]
        assert c.cmd("CONFIG", "SET", "lua-time-limit", "777") == "OK"
        assert c.cmd("CONFIG", "GET", "busy-reply-threshold") == [b"busy-reply-threshold", b"777"]
        assert str(c.cmd("SCRIPT", "KILL")) == "NOTBUSY No scripts in execution right now."
        # A script shorter than the threshold just runs.
        assert c.cmd("EVAL", "local i = 0 while i < 1000000 do i = i + 1 end return i", "0") == 1000000
    finally:
        s.stop()


@pytest.mark.parametrize("where", ["no keys", "shard 0", "shard 1"])
def test_read_only_script_is_killed(busy_server, where):
    keys = keys_on_two_shards("busy") if TEST_SHARDS == "2" else ["busy:0", "busy:1"]
    key = None if where == "no keys" else keys[0] if where == "shard 0" else keys[1]
    runner, other, same, checker = conns(busy_server.port, 4)
    assert checker.cmd("SET", keys[0], "a") == "OK" and checker.cmd("SET", keys[1], "b") == "OK"
    # The script's own client pipelines a PING behind it: answered after the script, in order.
    runner.send_raw(eval_command("if KEYS[1] then redis.call('get', KEYS[1]) end " + LOOP, key) + encode("PING"))
    wait_until(lambda: is_busy(same), message="BUSY")
    # Everyone else is refused, whichever worker serves them and whichever shard they name.
    for c in (other, same, checker):
        assert is_busy(c)
        for k in keys:
            assert str(c.cmd("GET", k)) == BUSY
            assert str(c.cmd("SET", k, "z")) == BUSY
        assert str(c.cmd("EVAL", "return 1", "0")) == BUSY
    newcomer = Conn(busy_server.port)
    assert is_busy(newcomer)
    assert str(other.cmd("SHUTDOWN")) == BUSY  # only SHUTDOWN NOSAVE ends a busy script
    assert str(other.cmd("FOO")).startswith("ERR unknown command 'FOO'")  # checked before BUSY

    assert other.cmd("SCRIPT", "KILL") == "OK"
    reply = runner.read()
    assert isinstance(reply, Error) and str(reply).startswith(KILLED), reply
    assert "@user_script:1." in str(reply)
    assert runner.read() == "PONG"  # the script's link is still usable after Lua returns
    # Serving normally at once, everywhere.
    for c in (runner, other, same, checker, newcomer):
        assert c.cmd("PING") == "PONG"
        assert c.cmd("GET", keys[0]) == b"a" and c.cmd("GET", keys[1]) == b"b"
    assert str(checker.cmd("SCRIPT", "KILL")) == "NOTBUSY No scripts in execution right now."
    assert checker.cmd("EVAL", "return redis.call('incr', KEYS[1])", "1", keys[1] + "n") == 1
    for c in (runner, other, same, checker, newcomer):
        c.close()


def test_kill_from_the_scripts_worker_and_pcall_cannot_catch_it(busy_server):
    runner, other, same = conns(busy_server.port, 3)
    # pcall catches the kill's error once; the hook raises again at the next line.
    runner.send_raw(eval_command("local f = function() " + LOOP + " end while true do pcall(f) end", None))
    wait_until(lambda: is_busy(same), message="BUSY")
    assert same.cmd("SCRIPT", "KILL") == "OK"
    reply = runner.read()
    assert isinstance(reply, Error) and str(reply).startswith(KILLED), reply
    for c in (runner, other, same):
        assert c.cmd("PING") == "PONG"
        c.close()


def test_transaction_refused_while_busy(busy_server):
    runner, other, same = conns(busy_server.port, 3)
    assert other.cmd("MULTI") == "OK"  # before the script: MULTI itself is allowed anyway
    runner.send_raw(eval_command(LOOP, None))
    wait_until(lambda: is_busy(same), message="BUSY")
    assert str(other.cmd("INCR", "counter")) == BUSY
    assert str(other.cmd("EXEC")) == "EXECABORT Transaction discarded because of: " + BUSY
    # MULTI is allowed while busy; on the script's worker (as `same` is: the script has no
    # keys) it waits for the script to end.
    same.send_raw(encode("MULTI"))
    assert other.cmd("SCRIPT", "KILL") == "OK"
    assert str(runner.read()).startswith(KILLED)
    assert same.read() == "OK"
    assert same.cmd("INCR", "counter") == "QUEUED"
    assert same.cmd("DISCARD") == "OK"
    assert other.cmd("GET", "counter") is None
    for c in (runner, other, same):
        c.close()


@pytest.mark.parametrize("killer", ["same worker", "other worker"])
def test_writing_script_is_unkillable_and_shutdown_nosave_ends_it(killer):
    s = ServerProcess(*shards(TEST_SHARDS), "--busy-reply-threshold", "50")
    try:
        runner, other, same = conns(s.port, 3)
        runner.send_raw(eval_command("redis.call('set', KEYS[1], 'x') " + LOOP, "written"))
        wait_until(lambda: is_busy(same), message="BUSY")
        c = same if killer == "same worker" else other
        assert str(c.cmd("SCRIPT", "KILL")) == UNKILLABLE
        assert is_busy(c)
        assert str(c.cmd("SHUTDOWN")) == BUSY
        c.send_raw(encode("SHUTDOWN", "NOSAVE"))
        assert c.is_closed(timeout=30)
        assert runner.is_closed(timeout=30)
        assert s.wait_exit() == 0
        assert "Slow script detected: still in execution after" in s.output()
    finally:
        if s.alive():
            s.stop()


def test_busy_script_that_ends_on_its_own(busy_server):
    runner, other, same = conns(busy_server.port, 3)
    # Runs ~300 ms (past the 50 ms threshold), then returns: the clients are served again.
    script = ("local s = redis.call('time') while true do local n = redis.call('time') "
              "if (n[1] - s[1]) * 1000000 + (n[2] - s[2]) > 300000 then return 'done' end end")
    runner.send_raw(eval_command(script, None) + encode("PING"))
    wait_until(lambda: is_busy(same), message="BUSY")
    assert is_busy(other)
    assert runner.read() == b"done"
    assert runner.read() == "PONG"
    for c in (runner, other, same):
        assert c.cmd("PING") == "PONG"
        c.close()


FUNCTION_BUSY = "BUSY Redis is busy running a script. You can only call FUNCTION KILL or SHUTDOWN NOSAVE."


def test_busy_function_is_killed_by_function_kill(busy_server):
    """A library function past the threshold: others get the FUNCTION KILL form of BUSY,
    SCRIPT KILL refuses it, FUNCTION KILL stops it (tests/unit/functions.tcl's
    "FUNCTION - test function kill")."""
    runner, other, same = conns(busy_server.port, 3)
    assert runner.cmd("FUNCTION", "LOAD", "REPLACE",
                      "#!lua name=busylib\nredis.register_function('spin', function() " + LOOP + " end)") == b"busylib"
    runner.send_raw(encode("FCALL", "spin", "0") + encode("PING"))
    wait_until(lambda: is_busy(same, FUNCTION_BUSY), message="BUSY")
    assert is_busy(other, FUNCTION_BUSY)
    assert str(other.cmd("SCRIPT", "KILL")) == FUNCTION_BUSY
    assert other.cmd("FUNCTION", "KILL") == "OK"
    reply = runner.read()
    assert isinstance(reply, Error) and str(reply).startswith(KILLED), reply
    assert runner.read() == "PONG"
    for c in (runner, other, same):
        assert c.cmd("PING") == "PONG"
    assert str(same.cmd("FUNCTION", "KILL")) == "NOTBUSY No scripts in execution right now."
    assert runner.cmd("FUNCTION", "DELETE", "busylib") == "OK"
    for c in (runner, other, same):
        c.close()


def test_connections_opened_while_busy_are_served_on_every_worker(busy_server):
    """Connections accepted while a script is busy, whichever worker they are handed to
    (the busy one included), get BUSY and may kill the script."""
    runner = Conn(busy_server.port)
    runner.send_raw(eval_command(LOOP, None))
    watcher = Conn(busy_server.port)
    wait_until(lambda: is_busy(watcher), message="BUSY")
    newcomers = conns(busy_server.port, 2)  # consecutive: one on each worker
    for c in newcomers:
        assert is_busy(c)
    assert newcomers[1].cmd("SCRIPT", "KILL") == "OK"
    assert str(runner.read()).startswith(KILLED)
    for c in [runner, watcher, *newcomers]:
        assert c.cmd("PING") == "PONG"
        c.close()
