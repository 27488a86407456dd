"""Connections pinned to different worker threads of a two-worker server."""
import socket

from .resp import Conn, encode


def connections_on_two_workers(port):
    """Two connections served by different worker threads of a two-worker server started with
    `--enable-debug-command yes`: the second still answers while the first sleeps in DEBUG
    SLEEP. Worker 0 accepts every connection and hands them out in turn, so while it sleeps
    nothing is answered: then the newer connection, which worker 0 handed to the next worker
    once it woke, becomes the one that sleeps (a fresh one would land on worker 0 again, as
    every second connection does, and answer only if accepted before the sleep began)."""
    first = Conn(port)
    for _ in range(8):
        first.send_raw(encode("DEBUG", "SLEEP", "0.5"))
        second = Conn(port, timeout=0.25)
        try:
            answered = second.cmd("PING") == "PONG"
        except socket.timeout:
            answered = False
        assert first.read() == "OK"
        second.sock.settimeout(10)
        if answered:
            return first, second
        assert second.read() == "PONG"
        first.close()
        first = second
    raise AssertionError("no two connections landed on different workers")


def send_until_one_waits(conn, commands, expect=None):
    """Sends `commands` one at a time on `conn` until one is not answered within 0.2 s: its
    shard's worker sleeps (DEBUG SLEEP) and the command is still on its way. Each reply before
    it must equal `expect` (if given). Returns how many were sent; the last one's reply comes
    once the sleep is over (the connection keeps its short timeout: raise it to read that)."""
    conn.sock.settimeout(0.2)
    for sent, command in enumerate(commands, 1):
        conn.send_raw(encode(*command))
        try:
            reply = conn.read()
        except socket.timeout:
            return sent
        if expect is not None:
            assert reply == expect
    raise AssertionError("no command waited for the sleeping worker")
