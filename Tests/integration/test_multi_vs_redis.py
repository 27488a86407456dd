"""MULTI's queue-time checks, byte for byte against redis-server 7.0: a request Redis refuses
before running it (unknown command or subcommand, wrong arity, a command not allowed in a
transaction) is refused when queued and makes EXEC answer EXECABORT without running
anything; the same requests outside MULTI get the same errors.
"""
import re

import pytest

from support.info import info
from support.resp import Conn

NEWER_THAN_REDIS_7_0 = {b"client|setinfo"}


@pytest.fixture
def pair(server, redis_port):
    """(redis, valkeyper) connections to empty servers with fresh statistics."""
    conns = (Conn(redis_port), server.conn())
    for c in conns:
        c.cmd("FLUSHALL")
        c.cmd("CONFIG", "RESETSTAT")
    yield conns
    for c in conns:
        c.close()


def same_replies(pair, commands):
    """Sends `commands` in order to both servers; every reply must be the same bytes."""
    redis, vk = pair
    for args in commands:
        expected = redis.raw(*args)
        assert vk.raw(*args) == expected, args


REFUSED_AT_QUEUE_TIME = [
    ("COMMAND", "COUNT", "x"), ("COMMAND", "HELP", "0"), ("COMMAND", "="), ("COMMAND", "GETKEYS"),
    ("COMMAND", "GETKEYSANDFLAGS"), ("command", "nosuch"), ("CLIENT", "NO-TOUCH", "k7"),
    ("CLIENT", "SETNAME"), ("CONFIG",), ("CONFIG", "FOO"), ("XINFO", "HELP", "x"), ("XGROUP", "CREATE", "s"),
    ("OBJECT", "ENCODING"), ("GET",), ("SET", "t"), ("NOSUCH", "x"), ("SAVE",), ("SWAPDB", "0"),
]


@pytest.mark.parametrize("bad", REFUSED_AT_QUEUE_TIME, ids=lambda a: " ".join(a))
def test_refused_request_aborts_the_transaction(pair, bad):
    same_replies(pair, [("DEL", "t"), ("MULTI",), ("SET", "t", "1"), bad, ("INCR", "n"), ("EXEC",),
                        ("GET", "t"), ("GET", "n"), bad])


def test_nested_multi_and_watch_inside_multi_do_not_abort(pair):
    same_replies(pair, [("MULTI",), ("MULTI",), ("WATCH", "x"), ("SET", "t", "1"), ("EXEC",), ("GET", "t"),
                        ("MULTI",), ("EXEC", "x"), ("EXEC",), ("MULTI",), ("DISCARD", "x"), ("EXEC",),
                        ("MULTI",), ("COMMAND", "COUNT"), ("DISCARD",)])


def commandstats(conn):
    """INFO commandstats without the timings."""
    text = conn.cmd("INFO", "commandstats").decode()
    return sorted(re.sub(r"usec=\d+,usec_per_call=[\d.]+,", "", line)
                  for line in text.splitlines() if line.startswith("cmdstat_"))


def test_refusals_count_as_rejected_calls_as_in_redis(pair):
    same_replies(pair, [("MULTI",), ("COMMAND", "COUNT", "x"), ("COMMAND", "FOO"), ("GET",), ("SAVE",), ("WATCH", "x"),
                        ("MULTI",), ("EXEC",), ("COMMAND", "HELP", "x"), ("NOSUCH",)])
    redis, vk = pair
    assert commandstats(vk) == commandstats(redis)
    assert vk.raw("INFO", "errorstats") == redis.raw("INFO", "errorstats")


def client_cmd(observer, name):
    """The cmd= field of the connection named `name`, as CLIENT LIST shows it."""
    for line in observer.cmd("CLIENT", "LIST").decode().splitlines():
        if " name=%s " % name in line:
            return re.search(r" cmd=(\S+)", line).group(1)


def test_last_command_of_a_refused_request(server, redis_port):
    """CLIENT LIST's cmd=: the command looked up (also when its arity is wrong), NULL when none was."""
    for port in (redis_port, server.port):
        c, observer = Conn(port), Conn(port)
        c.cmd("CLIENT", "SETNAME", "probe")
        for args, shown in [(("GET",), "get"), (("COMMAND", "FOO"), "NULL"), (("CONFIG", "GET"), "config|get"),
                            (("COMMAND", "COUNT", "x"), "command|count"), (("NOSUCH",), "NULL")]:
            c.cmd(*args)
            assert client_cmd(observer, "probe") == shown, (port, args)
        c.close()
        observer.close()


def every_command_and_subcommand(conn):
    """(name, arity) of every command the server lists, and of their subcommands."""
    found = []
    for row in conn.cmd("COMMAND"):
        found.append((row[0], row[1]))
        found += [(sub[0], sub[1]) for sub in row[9]]
    return [(n, a) for n, a in found if n not in NEWER_THAN_REDIS_7_0]


def wrong_arity_requests(name, arity):
    words = name.split(b"|")
    if arity >= 0:
        counts = [arity - 1, arity + 1]
    else:
        counts = [-arity - 1]
    return [words + [b"x%d" % i for i in range(n - len(words))] for n in counts if n >= len(words) and n >= 1]


def test_every_wrong_arity_is_refused_in_multi_as_redis_does(pair):
    """Every command and subcommand ValKeyper has, with a wrong number of arguments, inside
    MULTI: the same refusal as Redis's, and EXEC aborts (nothing runs)."""
    redis, vk = pair
    checked = 0
    for name, arity in every_command_and_subcommand(vk):
        for args in wrong_arity_requests(name, arity):
            same_replies(pair, [("MULTI",), ("SET", "t", "1"), args, ("EXEC",), ("EXISTS", "t"), args])
            checked += 1
    assert checked > 100


def counters(conn):
    """total_commands_processed and total_error_replies."""
    fields = info(conn, "stats")
    return [int(fields[name]) for name in ("total_commands_processed", "total_error_replies")]


def test_commands_run_by_exec_count_as_redis_counts_them(pair):
    """Each command EXEC runs is a call (failed if it answers an error, counted in errorstats);
    a queued command counts only when it runs, a refused one never."""
    redis, vk = pair
    for c in pair:
        c.cmd("SET", "s", "text")
        c.cmd("CONFIG", "RESETSTAT")
    before = [counters(c) for c in pair]
    for keys in (("a", "s"), ("{t}1", "{t}2"), ("k:1", "k:2"), ("k:3", "k:4")):  # one shard, or two
        same_replies(pair, [("MULTI",), ("INCR", keys[1]), ("SET", keys[0], "1"), ("XADD", keys[1], "*", "f", "v"),
                            ("GET", keys[0]), ("MGET", keys[0], keys[1]), ("PING",), ("EXEC",),
                            ("MULTI",), ("SET", keys[0], "2"), ("GET",), ("EXEC",)])
    assert commandstats(vk) == commandstats(redis)
    assert vk.raw("INFO", "errorstats") == redis.raw("INFO", "errorstats")
    after = [counters(c) for c in pair]
    redis_delta, vk_delta = ([a - b for a, b in zip(x, y)] for x, y in zip(after, before))
    assert vk_delta == redis_delta


def reply_shape(reply):
    return [type(x).__name__ for x in reply] if isinstance(reply, list) else reply


def test_commands_answered_by_every_worker_keep_their_place_in_exec(pair):
    """INFO, CLIENT LIST/KILL and CONFIG RESETSTAT gather every worker's answer: inside EXEC
    their replies still come in their place in the array."""
    commands = [("MULTI",), ("INFO", "server"), ("CONFIG", "GET", "maxclients"), ("CLIENT", "LIST"), ("PING",),
                ("CONFIG", "RESETSTAT"), ("CLIENT", "KILL", "ID", "999999"), ("SET", "x", "1"), ("EXEC",)]
    redis, vk = pair
    expected, actual = redis.pipeline(commands), vk.pipeline(commands)
    assert [reply_shape(r) for r in actual] == [reply_shape(r) for r in expected]
    for i in (1, 3, 4, 5, 6):  # CONFIG GET, PING, CONFIG RESETSTAT, CLIENT KILL, SET
        assert actual[-1][i] == expected[-1][i], commands[i + 1]
    assert vk.raw("PING") == b"+PONG\r\n"


def test_commands_that_would_wait_answer_at_once_inside_exec(pair):
    """WAIT, XREAD BLOCK and XREADGROUP BLOCK inside EXEC answer at once, as Redis's do
    (nothing blocks inside a transaction): they see they run in EXEC from the call EXEC
    passes them. Without that they would block for good and the read would time out."""
    for c in pair:
        c.cmd("XGROUP", "CREATE", "k:1", "g", "$", "MKSTREAM")
    same_replies(pair, [("MULTI",), ("WAIT", "1", "0"), ("XREAD", "BLOCK", "0", "STREAMS", "k:1", "k:2", "$", "$"),
                        ("XREADGROUP", "GROUP", "g", "c", "BLOCK", "0", "STREAMS", "k:1", ">"),
                        ("SET", "k:3", "1"), ("EXEC",), ("PING",),
                        ("MULTI",), ("XREAD", "BLOCK", "0", "STREAMS", "k:2", "$"), ("EXEC",), ("GET", "k:3")])
