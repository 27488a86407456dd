"""Scripts that touch keys they did not declare, on another shard than their declared keys
(issue 16; BullMQ's moveToActive RPOPLPUSHes its queue keys, then HSETs `prefix..jobId`).
With lua-allow-undeclared-keys yes (the default) the single-shard run is abandoned with no
visible effect (its writes undone, its replication records and notifications dropped) and
run again under locks on every shard; the script is then known, and its later runs go there
at once. A shebang or function flagged allow-cross-slot-keys goes there from the start.
With lua-allow-undeclared-keys no the call is refused, as before.

With one shard (VALKEYPER_TEST_SHARDS=1) every key is local and nothing is abandoned; the
replies and data checked are the same. Each scenario runs on several connections, so both
the inline run (the client's worker owns the declared keys) and the run on another worker
are abandoned."""
import threading

import pytest

from support.differential import paired, same
from support.load import Writer
from support.processes import TEST_SHARDS
from support.resp import Conn, Error
from support.slots import keys_on_two_shards, slot
from test_geo import RawReplica  # the hand-made replica reading the stream

SERVER_ARGS = ("--enable-debug-command", "yes")

# BullMQ's shape: a move between two keys of the queue (declared, one shard), then a
# write to a job key it did not declare, then a read of it.
MOVE_TO_ACTIVE = ("local job = redis.call('rpoplpush', KEYS[1], KEYS[2]) "
                  "if not job then return false end "
                  "redis.call('hset', ARGV[1] .. job, 'processedOn', ARGV[2]) "
                  "return {job, redis.call('hget', ARGV[1] .. job, 'processedOn'), redis.call('llen', KEYS[2])}")


def queue_keys(tag):
    """A queue's two declared keys: one shard, by their tag."""
    return "{%s}:wait" % tag, "{%s}:active" % tag


def other_shard_key(declared, prefix):
    """A hash tag `{...}` starting with `prefix` whose keys live on another shard than the
    key `declared` (any tag with one shard): every key it prefixes is there too."""
    for i in range(1000):
        tag = "{%s%d}" % (prefix, i)
        if int(TEST_SHARDS) < 2 or slot(tag) % 2 != slot(declared) % 2:
            return tag
    raise AssertionError("no key found")


def cmdstat_calls(conn, name):
    for line in conn.cmd("INFO", "commandstats").decode().splitlines():
        if line.startswith("cmdstat_%s:" % name):
            return int(line.split("calls=")[1].split(",")[0])
    return 0


def test_read_then_write_an_undeclared_key_of_another_shard(server, redis_port):
    """A script declaring a key on one shard reads, then writes, an undeclared key of the
    other: redis-server's replies, on every connection (inline and remote runs)."""
    a, b = keys_on_two_shards("rw")
    script = ("local v = redis.call('get', ARGV[1]) redis.call('set', ARGV[1], v + 1) "
              "redis.call('set', KEYS[1], v) return {v, redis.call('get', ARGV[1])}")
    with paired(server, redis_port) as both:
        for conn in both:
            conn.cmd("SCRIPT", "FLUSH")
        same(both, ("SET", b, "5"), ("EVAL", script, "1", a, b), ("MGET", a, b),
             ("EVAL", script, "1", a, b), ("MGET", a, b))
    for i in range(4):
        c = server.conn()
        c.cmd("SCRIPT", "FLUSH")
        c.cmd("SET", b, "10")
        assert c.cmd("EVAL", script + " --%d" % i, "1", a, b) == [b"10", b"11"]
        assert c.cmd("MGET", a, b) == [b"10", b"11"]
        c.close()


def test_writes_before_the_other_shard_are_undone_exactly(server):
    """Writes made before the call on the other shard (strings, TTLs, a list, a hash, a new
    key, a deleted key, another database) are undone before the rerun: the rerun reads the
    data as it was (its first reads are returned), and the end state is one run's."""
    for i in range(4):
        c = server.conn()
        c.cmd("FLUSHALL")
        k = "{u%d}" % i
        far = other_shard_key(k, "far%d_" % i)
        c.cmd("SET", k + "s", "old", "EX", "1000")
        c.cmd("RPUSH", k + "l", "a", "b", "c")
        c.cmd("HSET", k + "h", "f", "1")
        c.cmd("SET", k + "gone", "here", "PX", "500000")
        c.cmd("SELECT", "1")
        c.cmd("SET", k + "db1", "one")
        c.cmd("SELECT", "0")
        c.cmd("SET", far, "100")
        script = ("local seen = {redis.call('get', KEYS[1]), tostring(redis.call('ttl', KEYS[1]) > 0), "
                  "redis.call('llen', KEYS[2]), redis.call('hget', KEYS[3], 'f'), redis.call('exists', KEYS[4]), "
                  "redis.call('exists', KEYS[5])} "
                  "redis.call('set', KEYS[1], 'new') redis.call('rpoplpush', KEYS[2], KEYS[2]) "
                  "redis.call('lpush', KEYS[2], 'x') redis.call('hincrby', KEYS[3], 'f', 10) "
                  "redis.call('set', KEYS[4], 'fresh') redis.call('del', KEYS[5]) "
                  "redis.call('select', 1) table.insert(seen, redis.call('exists', KEYS[1] .. 'x')) "
                  "redis.call('set', KEYS[1] .. 'x', 'in1') redis.call('rename', KEYS[6], KEYS[6] .. 'r') "
                  "redis.call('select', 0) "
                  "table.insert(seen, redis.call('incr', ARGV[1])) return seen")
        # KEYS[1] .. 'x' is k.."sx", a key of db 1 on the same shard (same tag).
        reply = c.cmd("EVAL", script + " --%d" % i, "6", k + "s", k + "l", k + "h", k + "new", k + "gone",
                      k + "db1", far)
        assert reply == [b"old", b"true", 3, b"1", 0, 1, 0, 101], reply
        assert c.cmd("GET", k + "s") == b"new" and c.cmd("TTL", k + "s") == -1
        assert c.cmd("LRANGE", k + "l", "0", "-1") == [b"x", b"c", b"a", b"b"]
        assert c.cmd("HGET", k + "h", "f") == b"11"
        assert c.cmd("GET", k + "new") == b"fresh" and c.cmd("EXISTS", k + "gone") == 0
        assert c.cmd("GET", far) == b"101"
        c.cmd("SELECT", "1")
        assert c.cmd("GET", k + "sx") == b"in1"
        assert c.cmd("EXISTS", k + "db1") == 0 and c.cmd("GET", k + "db1r") == b"one"
        c.close()


def test_the_rerun_reaches_replicas_as_one_transaction(server):
    """Replicas get the rerun's writes as one MULTI ... EXEC, nothing of the abandoned run."""
    c = server.conn()
    c.cmd("FLUSHALL")
    wait, active = queue_keys("bull")
    prefix = other_shard_key(wait, "job") + ":"
    c.cmd("RPUSH", wait, "j1", "j2")
    stream = RawReplica(server.port, acks=False)
    for i in range(2):  # the first run is abandoned (two shards), the second is known
        conn = server.conn()
        assert conn.cmd("EVAL", MOVE_TO_ACTIVE, "2", wait, active, prefix, str(100 + i)) == \
            [("j%d" % (2 - i)).encode(), str(100 + i).encode(), i + 1]
        conn.close()
    c.cmd("SET", "end", "x")
    assert stream.commands_until(["SET", "end", "x"]) == [
        ["MULTI"], ["rpoplpush", wait, active], ["hset", prefix + "j2", "processedOn", "100"], ["EXEC"],
        ["MULTI"], ["rpoplpush", wait, active], ["hset", prefix + "j1", "processedOn", "101"], ["EXEC"],
        ["SET", "end", "x"]]
    assert c.cmd("LRANGE", active, "0", "-1") == [b"j1", b"j2"] and c.cmd("LLEN", wait) == 0


def test_keyspace_notifications_of_the_abandoned_run_never_leave(server):
    """A subscriber sees the events of the rerun once, none of the abandoned run."""
    c = server.conn()
    c.cmd("FLUSHALL")
    a = "{n}:k"
    far = other_shard_key(a, "nfar")
    c.cmd("CONFIG", "SET", "notify-keyspace-events", "KEA")
    try:
        sub = server.conn()
        sub.cmd("PSUBSCRIBE", "__keyevent@0__:*")
        c.cmd("EVAL", "redis.call('set', KEYS[1], 1) redis.call('set', ARGV[1], 2) return 1 --notify", "1", a, far)
        c.cmd("SET", "end", "x")
        events = []
        while True:
            msg = sub.read()
            events.append((msg[2].decode(), msg[3].decode()))
            if events[-1] == ("__keyevent@0__:set", "end"):
                break
        sets = [key for channel, key in events if channel == "__keyevent@0__:set"]
        assert sorted(sets) == sorted([a, far, "end"]), events
    finally:
        c.cmd("CONFIG", "SET", "notify-keyspace-events", "")


def test_concurrent_clients_never_see_the_abandoned_run(server):
    """Scripts increment a declared key, then an undeclared one on the other shard, each a
    new script (so each first run is abandoned after its first write). Readers of both keys
    (MGET, and reads of the declared key then the other) never see them differ."""
    c = server.conn()
    c.cmd("FLUSHALL")
    a = "{c}:counter"
    b = other_shard_key(a, "cfar")
    c.cmd("MSET", a, "0", b, "0")
    runs = 150
    bad = []

    def scripts(port, n):
        conn = Conn(port)
        for i in range(runs):
            assert conn.cmd("EVAL", "redis.call('incr', KEYS[1]) return redis.call('incr', ARGV[1]) -- %d/%d"
                            % (n, i), "1", a, b) is not None
        conn.close()

    def read(conn, i):
        if i % 2:
            values = conn.cmd("MGET", a, b)
        else:
            values = conn.cmd("EVAL_RO", "return {redis.call('get', KEYS[1]), redis.call('get', KEYS[2])}",
                              "2", a, b)
        if values[0] != values[1]:
            bad.append(values)

    threads = [threading.Thread(target=scripts, args=(server.port, n)) for n in range(3)]
    with Writer(server.port, read) as reader, Writer(server.port, read) as reader2:
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
            assert not t.is_alive()
    assert reader.done > 0 and reader2.done > 0
    assert not bad, bad[:5]
    assert c.cmd("MGET", a, b) == [str(3 * runs).encode()] * 2


def test_evalsha_is_learned_after_one_abandoned_run(server):
    """The first run of a script that touched another shard is abandoned once; its later runs
    (EVALSHA and EVAL of the same body, any connection) go to the multi-shard path directly:
    the abandoned run's first INCR shows in commandstats once, never again. SCRIPT FLUSH
    forgets it."""
    c = server.conn()
    a = "{l}:k"
    b = other_shard_key(a, "lfar")
    script = "redis.call('incr', KEYS[1]) return redis.call('incr', ARGV[1])"
    abandoned = 1 if int(TEST_SHARDS) > 1 else 0
    for _ in range(2):
        c.cmd("SCRIPT", "FLUSH")
        c.cmd("FLUSHALL")
        c.cmd("CONFIG", "RESETSTAT")
        sha = c.cmd("SCRIPT", "LOAD", script).decode()
        conns = [server.conn() for _ in range(3)]
        for i, conn in enumerate(conns * 2):
            assert conn.cmd("EVALSHA", sha, "1", a, b) == i + 1
        assert c.cmd("EVAL", script, "1", a, b) == 7
        assert cmdstat_calls(c, "incr") == 14 + abandoned
        assert c.cmd("MGET", a, b) == [b"7", b"7"]
        for conn in conns:
            conn.close()


def test_fcall_of_a_function_touching_another_shard(server):
    """FCALL and FCALL_RO of functions reading and writing undeclared keys of the other
    shard; learned by name; FUNCTION LOAD REPLACE forgets it."""
    c = server.conn()
    c.cmd("FLUSHALL")
    c.cmd("FUNCTION", "FLUSH")
    a = "{f}:k"
    b = other_shard_key(a, "ffar")
    library = ("#!lua name=undeclared\n"
               "redis.register_function('bump', function(keys, args) redis.call('incr', keys[1]) "
               "return redis.call('incr', args[1]) end)\n"
               "redis.register_function{function_name='peek', callback=function(keys, args) "
               "return {redis.call('get', keys[1]), redis.call('get', args[1])} end, flags={'no-writes'}}")
    try:
        assert c.cmd("FUNCTION", "LOAD", library) == b"undeclared"
        c.cmd("CONFIG", "RESETSTAT")
        for i in range(1, 5):
            conn = server.conn()
            assert conn.cmd("FCALL", "bump", "1", a, b) == i
            assert conn.cmd("FCALL_RO", "peek", "1", a, b) == [str(i).encode()] * 2
            conn.close()
        abandoned = 1 if int(TEST_SHARDS) > 1 else 0
        assert cmdstat_calls(c, "incr") == 8 + abandoned
        assert c.cmd("FUNCTION", "LOAD", "REPLACE", library) == b"undeclared"
        assert c.cmd("FCALL", "bump", "1", a, b) == 5
        assert cmdstat_calls(c, "incr") == 10 + 2 * abandoned
    finally:
        c.cmd("FUNCTION", "FLUSH")


def test_allow_cross_slot_keys_goes_across_shards_from_the_start(server):
    """A shebang script or a function flagged allow-cross-slot-keys is never abandoned: its
    first run already locks every shard (EVAL, EVALSHA of a loaded one, FCALL)."""
    c = server.conn()
    c.cmd("FLUSHALL")
    c.cmd("SCRIPT", "FLUSH")
    c.cmd("FUNCTION", "FLUSH")
    a = "{x}:k"
    b = other_shard_key(a, "xfar")
    body = "#!lua flags=allow-cross-slot-keys\nredis.call('incr', KEYS[1]) return redis.call('incr', ARGV[1])"
    try:
        c.cmd("CONFIG", "RESETSTAT")
        assert c.cmd("EVAL", body, "1", a, b) == 1
        sha = server.conn().cmd("SCRIPT", "LOAD", body.replace("incr', KEYS", "incrby', KEYS").replace(
            "KEYS[1])", "KEYS[1], 1)")).decode()
        assert server.conn().cmd("EVALSHA", sha, "1", a, b) == 2
        assert c.cmd("FUNCTION", "LOAD", "#!lua name=flagged\nredis.register_function{function_name='bump', "
                     "callback=function(keys, args) redis.call('incr', keys[1]) return redis.call('incr', args[1]) "
                     "end, flags={'allow-cross-slot-keys'}}") == b"flagged"
        assert server.conn().cmd("FCALL", "bump", "1", a, b) == 3
        assert cmdstat_calls(c, "incr") == 5 and cmdstat_calls(c, "incrby") == 1
        assert c.cmd("MGET", a, b) == [b"3", b"3"]
    finally:
        c.cmd("FUNCTION", "FLUSH")


@pytest.mark.skipif(int(TEST_SHARDS) < 2, reason="one shard: every key is local")
def test_refused_with_lua_allow_undeclared_keys_no(server):
    """With lua-allow-undeclared-keys no, a call on another shard's undeclared key answers
    today's error (nothing is rerun), and the writes before it stay (as a failing script's
    do in Redis)."""
    c = server.conn()
    c.cmd("FLUSHALL")
    a = "{no}:k"
    b = other_shard_key(a, "nofar")
    assert c.cmd("CONFIG", "SET", "lua-allow-undeclared-keys", "no") == "OK"
    try:
        for conn in (server.conn(), server.conn()):
            reply = conn.cmd("EVAL", "redis.call('incr', KEYS[1]) return redis.call('incr', ARGV[1])", "1", a, b)
            assert isinstance(reply, Error) and str(reply).startswith(
                "ERR Script attempted to access keys that do not hash to the same slot script: "), reply
        assert c.cmd("MGET", a, b) == [b"2", None]
    finally:
        assert c.cmd("CONFIG", "SET", "lua-allow-undeclared-keys", "yes") == "OK"


@pytest.mark.skipif(int(TEST_SHARDS) < 2, reason="one shard: every key is local")
def test_pcall_cannot_keep_an_abandoned_run_going(server):
    """A script that catches the abandoning call's error with pcall and writes on is still
    abandoned: the rerun's result and data are one run's."""
    c = server.conn()
    c.cmd("FLUSHALL")
    a = "{p}:k"
    b = other_shard_key(a, "pfar")
    script = ("redis.call('incr', KEYS[1]) local ok = pcall(redis.call, 'incr', ARGV[1]) "
              "local r = redis.pcall('incr', ARGV[1]) redis.call('incr', KEYS[1]) "
              "return {tostring(ok), redis.call('get', KEYS[1]), redis.call('get', ARGV[1])}")
    assert c.cmd("EVAL", script, "1", a, b) == [b"true", b"2", b"2"]
    assert c.cmd("MGET", a, b) == [b"2", b"2"]


def test_an_operation_pipelined_behind_a_first_run_comes_after_its_rerun(server):
    """A client pipelines a first run (abandoned, rerun across shards) and then commands
    that lock (MGET of both shards, a script declaring both keys): they wait for the rerun's
    reply and see its writes; replies keep their order."""
    a = "{pipe}:k"
    far = other_shard_key(a, "pipefar")
    c = server.conn()
    c.cmd("MSET", a, "0", far, "0")
    for i in range(6):
        conn = server.conn()
        replies = conn.pipeline([
            ("EVAL", "redis.call('incr', KEYS[1]) return redis.call('incr', ARGV[1]) --%d" % i, "1", a, far),
            ("MGET", a, far),
            ("EVAL", "return {redis.call('get', KEYS[1]), redis.call('get', KEYS[2])}", "2", a, far),
            ("PING",)])
        n = str(i + 1).encode()
        assert replies == [i + 1, [n, n], [n, n], "PONG"], replies
        conn.close()
