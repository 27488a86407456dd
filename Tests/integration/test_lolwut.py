"""LOLWUT (Redis 7.0's lolwut.c, lolwut5.c, lolwut6.c) against redis-server 7.0: the default
version line and every drawing without random parts byte for byte (RESP2 and RESP3), the
random drawings by their shape and captions, and the errors."""
import pytest

from support.resp import Conn


@pytest.fixture
def both(server, redis_port):
    conns = [Conn(redis_port), server.conn()]
    yield conns
    for c in conns:
        c.close()


DETERMINISTIC = [
    ("LOLWUT",), ("lolwut", "foo"), ("LOLWUT", "VERSION", "7"), ("LOLWUT", "VERSION", "56"),
    ("LOLWUT", "VERSION", "-1"), ("LOLWUT", "VERSION", "x"), ("LOLWUT", "VERSION"),
    ("LOLWUT", "VERSION", "5", "40", "4", "2"), ("LOLWUT", "VERSION", "5", "1", "1", "1"),
    ("LOLWUT", "VERSION", "5", "3", "2", "1"), ("LOLWUT", "VERSION", "5", "0", "0", "0"),
    ("LOLWUT", "VERSION", "5", "2000", "300", "2"), ("LOLWUT", "VERSION", "5", "66", "8", "2"),
    ("LOLWUT", "VERSION", "5", "x"), ("LOLWUT", "VERSION", "5", "10", "y"), ("LOLWUT", "VERSION", "6", "z"),
    ("LOLWUT", "VERSION", "5", "25", "7", "1", "extra"), ("LOLWUT", "version", "4"),
]


@pytest.mark.parametrize("resp", ["2", "3"])
def test_deterministic_outputs_equal_redis(both, resp):
    for c in both:
        c.cmd("HELLO", resp)
    diffs = []
    for args in DETERMINISTIC:
        expected, actual = both[0].raw(*args), both[1].raw(*args)
        if expected != actual:
            diffs.append("%r:\n  redis     %r\n  valkeyper %r" % (args, expected[:300], actual[:300]))
    assert not diffs, "\n".join(diffs)


def shape(text):
    lines = text.split("\n")
    # Braille cells are three bytes each; skyline cells end with a reset escape.
    return len(lines), sorted({l.count("\x1b[0m") or len(l) for l in lines[:-3]}), lines[-3:]


@pytest.mark.parametrize("args", [("VERSION", "5"), ("VERSION", "5", "30", "5", "7"), ("VERSION", "6"),
                                  ("VERSION", "6", "33", "9"), ("VERSION", "6", "1", "1")])
def test_random_drawings_have_redis_shape(both, args):
    redis, vk = (c.cmd("LOLWUT", *args).decode() for c in both)
    assert shape(vk) == shape(redis)
