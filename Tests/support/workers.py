"""Connections pinned to different worker threads of a two-worker server."""
import socket

from .resp import Conn, encode


def connections_on_two_workers(port):
    """Two connections served by different worker threads of a two-worker server started with
    `--enable-debug-command yes`: the second still answers while the first sleeps in DEBUG
    SLEEP. Worker 0 accepts every connection and hands them out in turn, so while it sleeps
    nothing is answered: then the newer connection becomes the one that sleeps."""
    first = Conn(port)
    for _ in range(8):
        first.send_raw(encode("DEBUG", "SLEEP", "0.5"))
        second = Conn(port, timeout=0.25)
        try:
            answered = second.cmd("PING") == "PONG"
        except socket.timeout:
            answered = False
        assert first.read() == "OK"
        if answered:
            second.sock.settimeout(10)
            return first, second
        first.close()
        first = Conn(port)
        second.close()
    raise AssertionError("no two connections landed on different workers")
