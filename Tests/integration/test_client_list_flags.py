"""CLIENT LIST's flags field against redis-server 7.0: a connection waiting in a blocking
command (BLPOP, BRPOPLPUSH, BZPOPMIN, XREAD BLOCK) or in WAIT shows 'b' (Redis's
CLIENT_BLOCKED), and loses it once answered. Redis's tcl suite (unit/type/list) asserts
`flags=b` to tell that a client is still blocked."""
import pytest

from support.info import info
from support.resp import Conn, encode
from support.waiting import wait_until

BLOCKING = [
    ("BLPOP", "k", "0"),
    ("BRPOPLPUSH", "k", "dst", "0"),
    ("BZPOPMIN", "k", "0"),
    ("XREAD", "BLOCK", "0", "STREAMS", "k", "$"),
    ("WAIT", "1", "0"),
]


def flags_of(conn, client_id):
    line = conn.cmd("CLIENT", "LIST", "ID", str(client_id)).decode()
    return dict(f.split("=", 1) for f in line.split())["flags"]


def flags_while_blocked(port, command):
    """The waiting client's flags while it waits, in MULTI, and after CLIENT UNBLOCK."""
    r, waiting = Conn(port), Conn(port)
    try:
        r.cmd("FLUSHALL")
        client_id = waiting.cmd("CLIENT", "ID")
        waiting.send_raw(encode(*command))
        wait_until(lambda: int(info(r, "clients")["blocked_clients"]) == 1, message="the client to block")
        blocked = flags_of(r, client_id)
        r.cmd("CLIENT", "UNBLOCK", str(client_id))
        waiting.read()
        answered = flags_of(r, client_id)
        waiting.cmd("MULTI")
        in_multi = flags_of(r, client_id)
        return blocked, answered, in_multi
    finally:
        r.close()
        waiting.close()


@pytest.mark.parametrize("command", BLOCKING, ids=lambda c: c[0])
def test_blocked_client_flag_as_redis(server, redis_port, command):
    expected = flags_while_blocked(redis_port, command)
    assert expected == ("b", "N", "x")
    assert flags_while_blocked(server.port, command) == expected


def unblock_wait(port, reason):
    """CLIENT UNBLOCK's reply and the reply of the WAIT it ends (no replica ever acks)."""
    r, waiting = Conn(port), Conn(port)
    try:
        client_id = waiting.cmd("CLIENT", "ID")
        waiting.send_raw(encode("WAIT", "1", "0"))
        wait_until(lambda: int(info(r, "clients")["blocked_clients"]) == 1, message="WAIT to block")
        unblocked = r.raw("CLIENT", "UNBLOCK", str(client_id), *reason)
        return unblocked, waiting.read_raw(), r.raw("CLIENT", "UNBLOCK", str(client_id))
    finally:
        r.close()
        waiting.close()


@pytest.mark.parametrize("reason", [(), ("TIMEOUT",), ("ERROR",)], ids=["default", "timeout", "error"])
def test_client_unblock_ends_wait_as_redis(server, redis_port, reason):
    expected = unblock_wait(redis_port, reason)
    assert expected[0] == b":1\r\n"
    assert unblock_wait(server.port, reason) == expected
