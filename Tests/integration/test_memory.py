"""MEMORY (Redis 7.0's memoryCommand) against redis-server 7.0: USAGE's replies and errors
(sizes are our own, so they are checked by how they grow), STATS' fields in Redis's order,
DOCTOR, HELP, PURGE and MALLOC-STATS."""
import pytest

from support.differential import paired
from support.resp import Error


@pytest.fixture
def both(server, redis_port):
    with paired(server, redis_port) as conns:
        yield conns


def test_usage_replies_and_errors_as_redis(both):
    redis, vk = both
    for c in both:
        c.cmd("SET", "k", "v")
    for args in [("MEMORY", "USAGE", "nokey"), ("MEMORY", "USAGE", "k", "SAMPLES", "-1"),
                 ("MEMORY", "USAGE", "k", "SAMPLES", "x"), ("MEMORY", "USAGE", "k", "FOO"),
                 ("MEMORY", "USAGE", "k", "SAMPLES"), ("MEMORY", "USAGE"), ("MEMORY", "FOO"), ("MEMORY",),
                 ("MEMORY", "HELP"), ("MEMORY", "PURGE"), ("MEMORY", "DOCTOR")]:
        assert vk.raw(*args) == redis.raw(*args), args


def test_usage_grows_with_the_value(server):
    c = server.conn()
    c.cmd("FLUSHALL")
    c.cmd("SET", "small", "x")
    c.cmd("SET", "big", "x" * 10000)
    c.cmd("HSET", "h", *[x for i in range(1000) for x in ("field%d" % i, "value%d" % i)])
    c.cmd("ZADD", "z", *[x for i in range(1000) for x in (str(i), "member%d" % i)])
    c.cmd("SADD", "s", *["m%d" % i for i in range(1000)])
    small, big = c.cmd("MEMORY", "USAGE", "small"), c.cmd("MEMORY", "USAGE", "big", "SAMPLES", "0")
    assert 0 < small < 100 and 10000 <= big < 12000
    for key in ["h", "z", "s"]:
        assert 10000 < c.cmd("MEMORY", "USAGE", key) < 200000, key


def test_stats_has_redis_fields_in_order(both):
    redis, vk = both
    for c in both:
        c.cmd("SET", "k", "v")
        c.cmd("HELLO", "3")
    expected, actual = redis.cmd("MEMORY", "STATS"), vk.cmd("MEMORY", "STATS")
    assert list(actual) == list(expected)
    assert actual[b"keys.count"] == 1 and list(actual[b"db.0"]) == list(expected[b"db.0"])
    assert isinstance(actual[b"peak.percentage"], float) and actual[b"total.allocated"] > 0


def test_malloc_stats_is_jemallocs_report(server):
    text = server.conn().cmd("MEMORY", "MALLOC-STATS")
    text = text.decode() if isinstance(text, bytes) else str(text)
    assert "jemalloc statistics" in text or text == "Stats not supported for the current allocator"
