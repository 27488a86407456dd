"""Pub/Sub under CLIENT REPLY OFF / SKIP, byte for byte against redis-server 7.0: Redis sends
(un)subscribe confirmations and messages as CLIENT_PUSHING, which REPLY OFF and SKIP do not
silence, in RESP2 and RESP3 alike (Redis's tcl suite: unit/pubsub "PubSub messages with
CLIENT REPLY OFF", which hung waiting for them)."""
import pytest

from support.resp import Conn, encode
from support.waiting import wait_until


def session(port, protocol, mode):
    """Everything the subscriber receives, up to CLIENT REPLY ON's +OK at the end."""
    sub, r = Conn(port), Conn(port)
    try:
        if protocol == 3:
            sub.cmd("HELLO", "3")
        sub.send_raw(encode("CLIENT", "REPLY", mode) + encode("SUBSCRIBE", "channel") + encode("PSUBSCRIBE", "ch*"))
        wait_until(lambda: r.cmd("PUBSUB", "NUMPAT") == 1, message="the subscriptions")
        published = r.cmd("PUBLISH", "channel", "hello")
        sub.send_raw(encode("PING") + encode("UNSUBSCRIBE") + encode("PUNSUBSCRIBE") + encode("CLIENT", "REPLY", "ON"))
        received = b""
        while not received.endswith(b"+OK\r\n"):
            received += sub.read_raw()
        return published, received
    finally:
        sub.close()
        r.close()


@pytest.mark.parametrize("protocol", [2, 3])
@pytest.mark.parametrize("mode", ["OFF", "SKIP"])
def test_pubsub_pushes_despite_client_reply_as_redis(server, redis_port, protocol, mode):
    expected = session(redis_port, protocol, mode)
    assert b"message" in expected[1]
    assert session(server.port, protocol, mode) == expected
