"""LCS (Redis 7.0's lcsCommand) against redis-server 7.0: the subsequence, LEN, IDX with
MINMATCHLEN and WITHMATCHLEN in RESP2 and RESP3, errors in Redis's order, keys on one shard
and on two, and randomized strings."""
import random

import pytest

from support.differential import paired, same
from support.slots import keys_on_two_shards


@pytest.fixture
def both(server, redis_port):
    with paired(server, redis_port) as conns:
        yield conns


def script(a, b):
    return [
        ("SET", a, "ohmytext"), ("SET", b, "mynewtext"), ("LCS", a, b), ("LCS", a, b, "LEN"), ("LCS", a, b, "IDX"),
        ("LCS", a, b, "IDX", "WITHMATCHLEN"), ("LCS", a, b, "IDX", "MINMATCHLEN", "4"),
        ("LCS", a, b, "IDX", "MINMATCHLEN", "-3", "WITHMATCHLEN"), ("LCS", a, b, "len", "idx"),
        ("LCS", a, b, "MINMATCHLEN"), ("LCS", a, b, "MINMATCHLEN", "x"), ("LCS", a, b, "BOGUS"),
        ("LCS", a, "nokey"), ("LCS", "nokey", b, "IDX"), ("LCS", "nokey", "nokey2", "LEN"),
        ("HSET", "h", "f", "v"), ("LCS", a, "h"), ("LCS", "h", "nokey", "BOGUS"), ("LCS", a),
        ("SET", a, "12345"), ("SET", b, "2345612345"), ("LCS", a, b, "IDX", "WITHMATCHLEN"), ("LCS", b, a),
        ("SET", a, ""), ("LCS", a, b, "IDX"), ("SET", a, "x" * 40000), ("SET", b, "y" * 40000), ("LCS", a, b, "LEN"),
    ]


def test_lcs_on_one_shard(both):
    same(both, *script("{t}a", "{t}b"))
    for c in both:
        c.cmd("HELLO", "3")
    same(both, ("SET", "{t}a", "ohmytext"), ("SET", "{t}b", "mynewtext"),
         ("LCS", "{t}a", "{t}b", "IDX", "WITHMATCHLEN"), ("LCS", "{t}a", "{t}b"))


def test_lcs_across_shards(both):
    a, b = keys_on_two_shards("lcs")
    same(both, *[cmd for cmd in script(a, b) if "h" not in cmd[1:2]])
    for c in both:
        c.cmd("HELLO", "3")
    same(both, ("SET", a, "ohmytext"), ("SET", b, "mynewtext"), ("LCS", a, b, "IDX"), ("LCS", b, a, "LEN"))


def test_randomized_strings(both):
    rng = random.Random(61206)
    commands = []
    for _ in range(150):
        x = "".join(rng.choice("abc") for _ in range(rng.randint(0, 40)))
        y = "".join(rng.choice("abcd") for _ in range(rng.randint(0, 40)))
        commands += [("SET", "{r}x", x), ("SET", "{r}y", y), ("LCS", "{r}x", "{r}y"),
                     ("LCS", "{r}x", "{r}y", "IDX", "WITHMATCHLEN", "MINMATCHLEN", str(rng.randint(0, 3)))]
    same(both, *commands)
