"""Sorted-set commands (Redis 7.0's t_zset.c): every command, option and error against
Debian's redis-server 7.0 byte for byte in RESP2 and RESP3, in both encodings and across
the listpack -> skiplist conversion at both thresholds; DEBUG DIGEST-VALUE equal to
redis-server's; ZRANDMEMBER and ZSCAN by their contracts; RDB round trips both ways."""
import threading
import time

import pytest

from support.differential import dumps_exchanged_with_redis
from support.info import info
from support.marks import needs_redis
from support.processes import REDIS_SERVER, shards
from support.replication import link_up
from support.resp import Conn, encode
from support.slots import keys_on_two_shards
from support.streams import blocked_count
from support.waiting import wait_until

SERVER_ARGS = ("--enable-debug-command", "yes")

# Members and scores that exercise the score text: integers, -0, 0.1 (17 digits), inf.
SMALL = ("ZADD", "z", "1", "a", "2", "b", "2", "bb", "3", "c", "0.1", "d", "-0", "e", "inf", "f", "-inf", "g",
         "1.5", "h", "1e20", "i", "-12345", "j")
BIG = ("ZADD", "big") + tuple(x for i in range(200) for x in (str((i * 37) % 50 / 4), "m%03d" % i))
LEX = ("ZADD", "lex") + tuple(x for w in "abcdefghij" for x in ("0", w))
BIGLEX = ("ZADD", "biglex") + tuple(x for i in range(150) for x in ("0", "w%03d" % i))
WRONG = ("SET", "str", "v")

SCRIPTS = {
    "zadd_flags": [
        SMALL,
        ("ZADD", "z", "NX", "5", "a", "4", "new"), ("ZADD", "z", "XX", "10", "a", "7", "absent"),
        ("ZADD", "z", "CH", "11", "a", "12", "fresh"), ("ZADD", "z", "GT", "1", "a"), ("ZADD", "z", "GT", "CH", "20", "a"),
        ("ZADD", "z", "LT", "CH", "30", "b"), ("ZADD", "z", "LT", "CH", "-30", "b"), ("ZADD", "z", "gt", "ch", "5", "gtnew"),
        ("ZADD", "z", "INCR", "5", "a"), ("ZADD", "z", "INCR", "0", "a"), ("ZADD", "z", "NX", "INCR", "1", "a"),
        ("ZADD", "z", "XX", "INCR", "1", "nobody"), ("ZADD", "z", "GT", "INCR", "-1", "a"),
        ("ZADD", "z", "LT", "INCR", "-1", "a"), ("ZADD", "z", "INCR", "1", "a", "2", "b"),
        ("ZADD", "z", "NX", "XX", "1", "a"), ("ZADD", "z", "GT", "LT", "1", "a"), ("ZADD", "z", "NX", "GT", "1", "a"),
        ("ZADD", "z", "NX", "LT", "1", "a"), ("ZADD", "z", "1"), ("ZADD", "z"), ("ZADD", "z", "x", "a"),
        ("ZADD", "z", "1", "a", "x"), ("ZADD", "z", "1", "a", "nan", "b"), ("ZADD", "z", "1e400", "a"),
        ("ZADD", "z", " 1", "a"), ("ZADD", "z", "1 ", "a"), ("ZADD", "z", "", "a"), ("ZADD", "z", "0x10", "hex"),
        ("ZADD", "z", "1e-400", "a"), ("ZADD", "z", "+inf", "f2"), ("ZADD", "z", "INCR", "-inf", "f"),
        ("ZADD", "z", "INCR", "inf", "g"),
        # Integer scores, read without strtod: signs, leading zeros, 15 and 16 digits, -0.
        ("ZADD", "z", "+5", "plus", "007", "lead", "-0", "negzero", "999999999999999", "d15"),
        ("ZADD", "z", "1234567890123456", "d16", "-999999999999999", "nd15", "-007", "nlead"),
        ("ZADD", "z", "-", "dash"), ("ZADD", "z", "+", "plus2"), ("ZADD", "z", "1\x002", "nul"), ("ZADD", "z", "--1", "x"),
        BIG, ("ZADD", "big", "+5", "m000", "-0", "m001", "007", "new", "-3", "m002", "-0", "m001"),
        ("ZRANGE", "big", "0", "5", "WITHSCORES"), ("ZSCORE", "big", "m001"),
        ("ZADD", "nokey", "XX", "1", "a"), ("ZADD", "nokey", "XX", "INCR", "1", "a"), ("EXISTS", "nokey"),
        ("ZADD", "z2", "NX", "CH", "1", "a", "1", "a"), ("ZADD", "z2", "3", "x", "1", "x"),
        ("ZRANGE", "z", "0", "-1", "WITHSCORES"), ("ZRANGE", "z2", "0", "-1", "WITHSCORES"),
        ("TYPE", "z"), ("OBJECT", "ENCODING", "z"),
    ],
    "zincrby": [
        SMALL, ("ZINCRBY", "z", "1", "a"), ("ZINCRBY", "z", "x", "a"), ("ZINCRBY", "z", "1.5", "newm"),
        ("ZINCRBY", "nokey", "2", "m"), ("ZINCRBY", "z", "-inf", "f"), ("ZINCRBY", "z", "inf", "g"),
        ("ZINCRBY", "z", "0.2", "d"), ("ZINCRBY", "z", "nan", "d"), ("ZINCRBY", "z", "1"), ("ZINCRBY", "z", "NX", "a"),
        ("ZSCORE", "z", "d"), ("ZSCORE", "nokey", "m"),
    ],
    "zrem_zcard_zscore": [
        SMALL, ("ZCARD", "z"), ("ZREM", "z", "a", "a", "nobody", "b"), ("ZCARD", "z"), ("ZREM", "nokey", "a"),
        ("ZREM", "z"), ("ZSCORE", "z", "c"), ("ZSCORE", "z", "a"), ("ZSCORE", "z", "f"), ("ZSCORE", "z", "e"),
        ("ZMSCORE", "z", "c", "nobody", "d", "g"), ("ZMSCORE", "nokey", "a", "b"), ("ZMSCORE", "z"),
        ("ZADD", "one", "1", "x"), ("ZREM", "one", "x"), ("EXISTS", "one"), ("ZCARD", "nokey"),
    ],
    "zcount_zlexcount": [
        SMALL, LEX,
        ("ZCOUNT", "z", "-inf", "+inf"), ("ZCOUNT", "z", "(1", "3"), ("ZCOUNT", "z", "1", "(3"),
        ("ZCOUNT", "z", "(1", "(1"), ("ZCOUNT", "z", "3", "1"), ("ZCOUNT", "z", "", ""), ("ZCOUNT", "z", "1x", "2"),
        ("ZCOUNT", "z", "nan", "1"), ("ZCOUNT", "z", "(", "1"), ("ZCOUNT", "z", " 1", "2"), ("ZCOUNT", "z", "-0", "0"),
        ("ZCOUNT", "nokey", "x", "1"), ("ZCOUNT", "nokey", "0", "1"), ("ZCOUNT", "z", "(inf", "inf"),
        ("ZLEXCOUNT", "lex", "-", "+"), ("ZLEXCOUNT", "lex", "[b", "(e"), ("ZLEXCOUNT", "lex", "(b", "[e"),
        ("ZLEXCOUNT", "lex", "+", "-"), ("ZLEXCOUNT", "lex", "-", "-"), ("ZLEXCOUNT", "lex", "b", "e"),
        ("ZLEXCOUNT", "lex", "[", "+"), ("ZLEXCOUNT", "lex", "(", "+"), ("ZLEXCOUNT", "lex", "+x", "+"),
        ("ZLEXCOUNT", "nokey", "-", "+"), ("ZLEXCOUNT", "nokey", "x", "+"), ("ZLEXCOUNT", "lex", "[c", "[c"),
    ],
    "zrank": [
        SMALL, ("ZRANK", "z", "a"), ("ZRANK", "z", "g"), ("ZRANK", "z", "f"), ("ZRANK", "z", "nobody"),
        ("ZREVRANK", "z", "a"), ("ZREVRANK", "z", "f"), ("ZREVRANK", "z", "nobody"), ("ZRANK", "nokey", "a"),
        ("ZREVRANK", "nokey", "a"), ("ZRANK", "z", "a", "WITHSCORE"),
    ],
    "zrange": [
        SMALL, LEX,
        ("ZRANGE", "z", "0", "-1"), ("ZRANGE", "z", "0", "-1", "WITHSCORES"), ("ZRANGE", "z", "2", "4", "REV"),
        ("ZRANGE", "z", "-3", "-1", "withscores"), ("ZRANGE", "z", "5", "2"), ("ZRANGE", "z", "100", "200"),
        ("ZRANGE", "z", "-100", "1"), ("ZRANGE", "z", "x", "1"), ("ZRANGE", "z", "0", "1", "LIMIT", "0", "1"),
        ("ZRANGE", "z", "0", "1", "LIMIT", "0", "-1"), ("ZRANGE", "z", "0", "1", "REV", "REV"),
        ("ZRANGE", "z", "(1", "3", "BYSCORE"), ("ZRANGE", "z", "3", "(1", "BYSCORE", "REV", "WITHSCORES"),
        ("ZRANGE", "z", "-inf", "+inf", "BYSCORE", "LIMIT", "2", "3"),
        ("ZRANGE", "z", "-inf", "+inf", "BYSCORE", "LIMIT", "2", "-1"),
        ("ZRANGE", "z", "-inf", "+inf", "BYSCORE", "LIMIT", "-1", "3"),
        ("ZRANGE", "z", "-inf", "+inf", "BYSCORE", "LIMIT", "100", "3"),
        ("ZRANGE", "z", "-inf", "+inf", "BYSCORE", "LIMIT", "0", "0"),
        ("ZRANGE", "z", "+inf", "-inf", "BYSCORE", "REV", "LIMIT", "1", "2", "WITHSCORES"),
        ("ZRANGE", "z", "x", "1", "BYSCORE"), ("ZRANGE", "z", "0", "1", "BYSCORE", "BYLEX"),
        ("ZRANGE", "lex", "[b", "(e", "BYLEX"), ("ZRANGE", "lex", "(e", "[b", "BYLEX", "REV"),
        ("ZRANGE", "lex", "-", "+", "BYLEX", "LIMIT", "1", "2"), ("ZRANGE", "lex", "-", "+", "BYLEX", "WITHSCORES"),
        ("ZRANGE", "lex", "x", "+", "BYLEX"), ("ZRANGE", "z", "0", "1", "LIMIT", "x", "1", "BYSCORE"),
        ("ZRANGE", "z", "0", "1", "LIMIT", "1"), ("ZRANGE", "z", "0", "1", "FOO"), ("ZRANGE", "nokey", "0", "-1"),
        ("ZRANGE", "nokey", "x", "-1"),
        ("ZREVRANGE", "z", "0", "2"), ("ZREVRANGE", "z", "0", "2", "WITHSCORES"), ("ZREVRANGE", "z", "0", "2", "REV"),
        ("ZREVRANGE", "z", "0", "2", "BYSCORE"),
        ("ZRANGEBYSCORE", "z", "1", "3"), ("ZRANGEBYSCORE", "z", "-inf", "inf", "WITHSCORES", "LIMIT", "1", "4"),
        ("ZRANGEBYSCORE", "z", "1", "3", "REV"), ("ZRANGEBYSCORE", "z", "1", "3", "BYLEX"),
        ("ZRANGEBYSCORE", "z", "1", "3", "LIMIT", "0"),
        ("ZREVRANGEBYSCORE", "z", "3", "1"), ("ZREVRANGEBYSCORE", "z", "1", "3"),
        ("ZREVRANGEBYSCORE", "z", "+inf", "-inf", "WITHSCORES", "LIMIT", "0", "3"),
        ("ZRANGEBYLEX", "lex", "-", "[c"), ("ZRANGEBYLEX", "lex", "-", "+", "LIMIT", "2", "2"),
        ("ZRANGEBYLEX", "lex", "-", "+", "WITHSCORES"), ("ZREVRANGEBYLEX", "lex", "+", "(g"),
        ("ZREVRANGEBYLEX", "lex", "[c", "[g"), ("ZREVRANGEBYLEX", "lex", "+", "-", "LIMIT", "1", "3"),
        ("ZRANGEBYLEX", "lex", "a", "b"), ("ZRANGEBYLEX", "nokey", "-", "+"),
    ],
    "zremrange": [
        SMALL, LEX, ("ZREMRANGEBYRANK", "z", "0", "1"), ("ZREMRANGEBYRANK", "z", "-2", "-1"),
        ("ZREMRANGEBYRANK", "z", "5", "2"), ("ZREMRANGEBYRANK", "z", "x", "1"), ("ZREMRANGEBYRANK", "nokey", "0", "1"),
        ("ZRANGE", "z", "0", "-1", "WITHSCORES"), ("ZREMRANGEBYSCORE", "z", "(1", "3"),
        ("ZREMRANGEBYSCORE", "z", "x", "3"), ("ZREMRANGEBYSCORE", "z", "5", "3"), ("ZRANGE", "z", "0", "-1"),
        ("ZREMRANGEBYLEX", "lex", "[b", "(d"), ("ZREMRANGEBYLEX", "lex", "b", "d"), ("ZREMRANGEBYLEX", "lex", "+", "-"),
        ("ZRANGE", "lex", "0", "-1"), ("ZREMRANGEBYLEX", "lex", "-", "+"), ("EXISTS", "lex"),
        ("ZREMRANGEBYRANK", "z", "0", "-1"), ("EXISTS", "z"),
    ],
    "zpop": [
        SMALL, ("ZPOPMIN", "z"), ("ZPOPMAX", "z"), ("ZPOPMIN", "z", "2"), ("ZPOPMAX", "z", "3"), ("ZPOPMIN", "z", "0"),
        ("ZPOPMIN", "z", "-1"), ("ZPOPMIN", "z", "x"), ("ZPOPMIN", "z", "1", "2"), ("ZPOPMIN", "nokey"),
        ("ZPOPMAX", "nokey", "2"), ("ZPOPMIN", "z", "100"), ("EXISTS", "z"), ("ZPOPMAX", "nokey", "0"),
    ],
    "zrandmember_errors": [
        SMALL, ("ZRANDMEMBER", "z", "x"), ("ZRANDMEMBER", "z", "1", "foo"), ("ZRANDMEMBER", "z", "1", "WITHSCORES", "x"),
        ("ZRANDMEMBER", "z", "-9223372036854775808"), ("ZRANDMEMBER", "z", "9223372036854775807", "WITHSCORES"),
        ("ZRANDMEMBER", "z", "-4611686018427387904", "WITHSCORES"), ("ZRANDMEMBER", "nokey"),
        ("ZRANDMEMBER", "nokey", "5"), ("ZRANDMEMBER", "z", "0"), ("ZRANDMEMBER", "z", "100", "WITHSCORES"),
        ("ZRANDMEMBER", "z", "12"),
    ],
    "zscan_listpack": [
        SMALL, ("ZSCAN", "z", "0"), ("ZSCAN", "z", "0", "MATCH", "b*"), ("ZSCAN", "z", "0", "COUNT", "0"),
        ("ZSCAN", "z", "x"), ("ZSCAN", "nokey", "0"), ("ZSCAN", "nokey", "x"), ("ZSCAN", "z", "0", "TYPE", "zset"),
        ("ZSCAN", "z", "0", "COUNT", "x"), ("ZSCAN", "z", "0", "COUNT"),
    ],
    # d0..d5: some on the source's shard, some on the other one (two shards).
    "zrangestore": [SMALL, BIG, LEX, WRONG] + [c for d in ("d0", "d1", "d2", "d3", "d4", "d5") for c in [
        ("ZRANGESTORE", d, "z", "0", "-1"), ("ZRANGE", d, "0", "-1", "WITHSCORES"), ("OBJECT", "ENCODING", d),
        ("ZRANGESTORE", d, "big", "(1", "5", "BYSCORE", "LIMIT", "2", "50"), ("ZRANGE", d, "0", "-1", "WITHSCORES"),
        ("OBJECT", "ENCODING", d), ("ZRANGESTORE", d, "big", "0", "-1", "REV"), ("OBJECT", "ENCODING", d),
        ("ZCARD", d), ("ZRANGESTORE", d, "lex", "[c", "(h", "BYLEX"), ("ZRANGE", d, "0", "-1"),
        ("ZRANGESTORE", d, "lex", "(h", "[c", "BYLEX", "REV", "LIMIT", "1", "2"), ("ZRANGE", d, "0", "-1"),
        ("ZRANGESTORE", d, "z", "5", "1"), ("EXISTS", d), ("SET", d, "string"), ("ZRANGESTORE", d, "z", "0", "0"),
        ("TYPE", d), ("EXPIRE", d, "100"), ("ZRANGESTORE", d, "z", "0", "0"), ("TTL", d),
        ("ZRANGESTORE", d, "nokey", "0", "-1"), ("EXISTS", d), ("ZRANGESTORE", d, "str", "0", "-1"),
        ("ZRANGESTORE", d, "z", "0", "-1", "WITHSCORES"), ("ZRANGESTORE", d, "z", "x", "1"),
        ("ZRANGESTORE", d, "z", "0", "1", "LIMIT", "0", "1"), ("ZRANGESTORE", d, "z", "(", "1", "BYSCORE"),
        ("ZRANGESTORE", d, "z"), ("ZRANGESTORE", d, d, "0", "-1"),
    ]],
    # Keys counted by numkeys, all on one shard (hash tag {k}).
    "setops": [
        ("ZADD", "{k}a", "1", "x", "2", "y", "3", "z", "inf", "i"), ("ZADD", "{k}b", "10", "y", "20", "z", "30", "w", "-inf", "i"),
        ("ZADD", "{k}c", "5", "z", "6", "v"), ("SET", "{k}s", "str"),
        ("ZUNION", "2", "{k}a", "{k}b"), ("ZUNION", "2", "{k}a", "{k}b", "WITHSCORES"),
        ("ZUNION", "3", "{k}a", "{k}b", "{k}c", "WEIGHTS", "1", "2", "3", "WITHSCORES"),
        ("ZUNION", "2", "{k}a", "{k}b", "AGGREGATE", "MIN", "WITHSCORES"),
        ("ZUNION", "2", "{k}a", "{k}b", "AGGREGATE", "max", "withscores"),
        ("ZUNION", "2", "{k}a", "{k}none", "WITHSCORES"), ("ZUNION", "2", "{k}a", "{k}s"),
        ("ZUNION", "2", "{k}a", "{k}b", "WEIGHTS", "1", "x"), ("ZUNION", "2", "{k}a", "{k}b", "WEIGHTS", "1"),
        ("ZUNION", "2", "{k}a", "{k}b", "AGGREGATE", "avg"), ("ZUNION", "0", "{k}a"), ("ZUNION", "3", "{k}a"),
        ("ZUNION", "x", "{k}a"), ("ZUNION", "-1", "{k}a"), ("ZUNION", "2", "{k}s", "{k}none", "FOO"),
        ("ZUNION", "2", "{k}a", "{k}a", "WITHSCORES"), ("ZUNION", "1", "{k}a", "WEIGHTS", "0", "WITHSCORES"),
        ("ZINTER", "2", "{k}a", "{k}b", "WITHSCORES"), ("ZINTER", "2", "{k}a", "{k}b", "WEIGHTS", "2", "0.5", "WITHSCORES"),
        ("ZINTER", "3", "{k}a", "{k}b", "{k}c", "AGGREGATE", "MAX", "WITHSCORES"), ("ZINTER", "2", "{k}a", "{k}none"),
        ("ZINTER", "2", "{k}a", "{k}a", "WITHSCORES"), ("ZINTER", "1", "{k}a", "WEIGHTS", "0", "WITHSCORES"),
        ("ZDIFF", "2", "{k}a", "{k}b", "WITHSCORES"), ("ZDIFF", "3", "{k}b", "{k}a", "{k}c"), ("ZDIFF", "2", "{k}none", "{k}a"),
        ("ZDIFF", "2", "{k}a", "{k}b", "WEIGHTS", "1", "2"), ("ZDIFF", "1", "{k}a", "AGGREGATE", "SUM"),
        ("ZDIFF", "2", "{k}a", "{k}a"),
        ("ZUNIONSTORE", "{k}d", "2", "{k}a", "{k}b"), ("ZRANGE", "{k}d", "0", "-1", "WITHSCORES"), ("OBJECT", "ENCODING", "{k}d"),
        ("ZUNIONSTORE", "{k}d", "2", "{k}a", "{k}b", "WITHSCORES"), ("ZINTERSTORE", "{k}d", "2", "{k}a", "{k}b", "WEIGHTS", "1", "-1"),
        ("ZRANGE", "{k}d", "0", "-1", "WITHSCORES"), ("ZINTERSTORE", "{k}d", "2", "{k}a", "{k}c"), ("EXISTS", "{k}d"),
        ("ZDIFFSTORE", "{k}d", "2", "{k}a", "{k}b"), ("ZRANGE", "{k}d", "0", "-1", "WITHSCORES"),
        ("ZDIFFSTORE", "{k}d", "1", "{k}none"), ("EXISTS", "{k}d"), ("ZUNIONSTORE", "{k}d", "0", "{k}a"),
        ("ZUNIONSTORE", "{k}a", "2", "{k}a", "{k}b"), ("ZRANGE", "{k}a", "0", "-1", "WITHSCORES"),
        ("ZUNIONSTORE", "{k}s", "1", "{k}c"), ("TYPE", "{k}s"), ("ZINTERSTORE", "{k}d", "1", "{k}s", "AGGREGATE"),
        ("ZINTERCARD", "2", "{k}a", "{k}b"), ("ZINTERCARD", "2", "{k}a", "{k}b", "LIMIT", "1"),
        ("ZINTERCARD", "2", "{k}a", "{k}b", "LIMIT", "0"), ("ZINTERCARD", "2", "{k}a", "{k}b", "LIMIT", "-1"),
        ("ZINTERCARD", "2", "{k}a", "{k}b", "LIMIT", "x"), ("ZINTERCARD", "0", "{k}a"), ("ZINTERCARD", "1", "{k}none"),
        ("ZINTERCARD", "2", "{k}a", "{k}b", "WITHSCORES"), ("ZINTERCARD", "2", "{k}a", "{k}str", "WEIGHTS", "1", "1"),
        ("ZADD", "{k}big", *[x for i in range(150) for x in (str(i % 9), "b%d" % i)]),
        ("ZUNIONSTORE", "{k}d", "2", "{k}big", "{k}c", "WEIGHTS", "0.5", "2"), ("OBJECT", "ENCODING", "{k}d"),
        ("ZRANGE", "{k}d", "0", "-1", "WITHSCORES"), ("ZINTERSTORE", "{k}d", "2", "{k}big", "{k}big"),
        ("OBJECT", "ENCODING", "{k}d"), ("ZINTERCARD", "2", "{k}big", "{k}d"),
        ("ZMPOP", "2", "{k}none", "{k}c", "MIN"), ("ZMPOP", "2", "{k}none", "{k}c", "MAX", "COUNT", "10"), ("EXISTS", "{k}c"),
        ("ZMPOP", "1", "{k}none", "MIN"), ("ZMPOP", "2", "{k}s", "{k}a", "MIN"), ("ZMPOP", "2", "{k}none", "{k}s", "MIN"),
        ("ZMPOP", "0", "{k}a", "MIN"), ("ZMPOP", "x", "{k}a", "MIN"), ("ZMPOP", "3", "{k}a", "MIN"),
        ("ZMPOP", "1", "{k}a", "MID"), ("ZMPOP", "1", "{k}a", "MIN", "COUNT", "0"), ("ZMPOP", "1", "{k}a", "MIN", "COUNT"),
        ("ZMPOP", "1", "{k}a", "MIN", "COUNT", "2", "COUNT", "2"), ("ZMPOP", "1", "{k}a", "max", "count", "2"),
        ("ZMPOP", "1", "{k}big", "MIN", "COUNT", "3"),
    ],
    "generic_commands": [
        SMALL, BIG, ("TYPE", "z"), ("TYPE", "big"), ("COPY", "z", "zc"), ("ZRANGE", "zc", "0", "-1", "WITHSCORES"),
        ("OBJECT", "ENCODING", "zc"), ("COPY", "big", "bc"), ("OBJECT", "ENCODING", "bc"), ("ZCARD", "bc"),
        ("ZADD", "bc", "1000", "new"), ("ZCARD", "big"), ("RENAME", "zc", "zr"), ("ZSCORE", "zr", "h"),
        ("EXISTS", "zc"), ("MOVE", "zr", "1"), ("SELECT", "1"), ("ZCARD", "zr"), ("SELECT", "0"),
        ("DEL", "bc"), ("EXPIRE", "big", "100"), ("ZADD", "big", "1", "x"),
        ("TTL", "big"), ("ZPOPMIN", "z", "100"), ("EXISTS", "z"), ("DEBUG", "DIGEST-VALUE", "big"),
        ("MULTI",), ("ZADD", "m", "1", "a"), ("ZINCRBY", "m", "2", "a"), ("ZRANGE", "m", "0", "-1", "WITHSCORES"),
        ("ZUNION", "1", "m", "WITHSCORES"), ("ZMPOP", "1", "m", "MIN"), ("EXEC",),
    ],
    # The same over keys of both shards (s1, s3, dst1 on one; s2, s4, dst2, none1 on the other).
    "setops_across_shards": [
        ("ZADD", "s1", "1", "x", "2", "y", "3", "z", "inf", "i"), ("ZADD", "s2", "10", "y", "20", "z", "30", "w", "-inf", "i"),
        ("ZADD", "s3", "5", "z", "6", "v"), ("SET", "s4", "str"),
        ("ZUNION", "2", "s1", "s2", "WITHSCORES"), ("ZUNION", "3", "s1", "s2", "s3", "WEIGHTS", "1", "2", "3", "WITHSCORES"),
        ("ZUNION", "2", "s1", "s2", "AGGREGATE", "MIN", "WITHSCORES"), ("ZUNION", "2", "s1", "none1", "WITHSCORES"),
        ("ZUNION", "2", "s1", "s4"), ("ZUNION", "2", "s1", "s2", "WEIGHTS", "1", "x"), ("ZUNION", "2", "s4", "s1", "FOO"),
        ("ZUNION", "2", "s1", "s2", "AGGREGATE"), ("ZUNION", "3", "s1", "s2"), ("ZUNION", "0", "s1", "s2"),
        ("ZINTER", "2", "s1", "s2", "WITHSCORES"), ("ZINTER", "3", "s1", "s2", "s3", "AGGREGATE", "MAX", "WITHSCORES"),
        ("ZINTER", "2", "s1", "none1"), ("ZDIFF", "2", "s1", "s2", "WITHSCORES"), ("ZDIFF", "3", "s2", "s1", "s3"),
        ("ZINTERCARD", "2", "s1", "s2"), ("ZINTERCARD", "2", "s1", "s2", "LIMIT", "1"), ("ZINTERCARD", "2", "s1", "s4"),
        ("ZINTERCARD", "2", "s1", "s2", "LIMIT", "-1"),
        ("ZUNIONSTORE", "dst1", "2", "s1", "s2"), ("ZRANGE", "dst1", "0", "-1", "WITHSCORES"), ("OBJECT", "ENCODING", "dst1"),
        ("ZUNIONSTORE", "dst2", "2", "s1", "s3", "WEIGHTS", "2", "0.5"), ("ZRANGE", "dst2", "0", "-1", "WITHSCORES"),
        ("EXPIRE", "dst2", "100"), ("ZINTERSTORE", "dst2", "2", "s1", "s2"), ("TTL", "dst2"),
        ("ZRANGE", "dst2", "0", "-1", "WITHSCORES"), ("ZINTERSTORE", "dst2", "2", "s1", "none1"), ("EXISTS", "dst2"),
        ("ZDIFFSTORE", "dst2", "2", "s2", "s1"), ("ZRANGE", "dst2", "0", "-1", "WITHSCORES"),
        ("ZDIFFSTORE", "dst1", "2", "none1", "s1"), ("EXISTS", "dst1"), ("ZUNIONSTORE", "dst1", "2", "s1", "s4"),
        ("ZUNIONSTORE", "s1", "2", "s1", "s2"), ("ZRANGE", "s1", "0", "-1", "WITHSCORES"),
        ("ZUNIONSTORE", "s4", "1", "s2"), ("TYPE", "s4"), ("ZUNIONSTORE", "dst1", "2", "s1", "s2", "WITHSCORES"),
        ("SET", "dst2", "str"),
        ("ZMPOP", "2", "none1", "s1", "MIN"), ("ZMPOP", "3", "none1", "s2", "s1", "MAX", "COUNT", "2"),
        ("ZMPOP", "2", "dst2", "s1", "MIN"), ("ZMPOP", "2", "none1", "dst1", "MIN"), ("ZMPOP", "2", "s1", "s2", "MID"),
        ("ZMPOP", "2", "s1", "s2", "MIN", "COUNT", "0"), ("ZMPOP", "2", "s1", "s2"), ("ZMPOP", "2", "s1", "s2", "MIN", "x"),
        ("ZMPOP", "2", "s3", "s2", "MAX", "COUNT", "100"), ("EXISTS", "s3"), ("ZMPOP", "2", "s3", "s2", "MAX", "COUNT", "100"),
        ("ZMPOP", "2", "s3", "s2", "MAX"), ("ZMPOP", "2", "s3", "none1", "MAX"),
        ("ZADD", "s1", "1", "a", "2", "b"), ("ZADD", "s2", "3", "b", "4", "c"),
        ("MULTI",), ("ZUNIONSTORE", "dst1", "2", "s1", "s2"), ("ZINTER", "2", "s1", "s2", "WITHSCORES"),
        ("ZMPOP", "2", "none1", "s1", "MIN"), ("ZRANGE", "dst1", "0", "-1", "WITHSCORES"), ("ZINTERCARD", "2", "s1", "s2"),
        ("EXEC",),
    ],
    # Plain sets as inputs score 1 each (Redis's zuiInitIterator), on one shard and across two.
    "plain_sets_as_inputs": [
        ("ZADD", "{k}z", "2", "a", "5", "b"), ("SADD", "{k}s", "a", "c"), ("SADD", "{k}ints", "1", "2", "3"),
        ("ZUNION", "2", "{k}z", "{k}s", "WITHSCORES"), ("ZINTER", "2", "{k}z", "{k}s", "WEIGHTS", "1", "3", "WITHSCORES"),
        ("ZDIFF", "2", "{k}s", "{k}z", "WITHSCORES"), ("ZUNION", "2", "{k}ints", "{k}s", "WITHSCORES"),
        ("ZINTERCARD", "2", "{k}z", "{k}s"), ("ZUNIONSTORE", "{k}d", "2", "{k}s", "{k}ints"),
        ("ZRANGE", "{k}d", "0", "-1", "WITHSCORES"), ("OBJECT", "ENCODING", "{k}d"),
        ("ZADD", "s1", "2", "a", "5", "b"), ("SADD", "s2", "a", "c"),
        ("ZUNION", "2", "s1", "s2", "WITHSCORES"), ("ZINTERSTORE", "dst1", "2", "s1", "s2", "AGGREGATE", "MAX"),
        ("ZRANGE", "dst1", "0", "-1", "WITHSCORES"), ("ZDIFF", "2", "s2", "s1"), ("ZINTERCARD", "2", "s2", "s1"),
    ],
    # Blocking pops that find data, fail, or time out at once (10 ms), and never block in MULTI.
    "blocking_pops": [
        # z, nokey, {nokey}2 and str2 share a shard (the cross-shard forms: test_blocking_pops_over_keys_of_several_shards).
        SMALL, ("SET", "str2", "v"), ("BZPOPMIN", "z", "0"), ("BZPOPMAX", "nokey", "z", "0"), ("BZPOPMIN", "nokey", "0.01"),
        ("BZPOPMAX", "nokey", "{nokey}2", "0.01"), ("BZPOPMIN", "str2", "z", "0"), ("BZPOPMIN", "nokey", "str2", "0"),
        ("BZPOPMIN", "z", "x"), ("BZPOPMIN", "z", "-1"), ("BZPOPMIN", "z", "1e100"), ("BZPOPMIN", "z", "nan"),
        ("BZPOPMIN", "z", "inf"), ("BZPOPMIN", "z"), ("BZMPOP", "0", "1", "z", "MIN"),
        ("BZMPOP", "0", "2", "nokey", "z", "MAX", "COUNT", "3"), ("BZMPOP", "0.01", "1", "nokey", "MIN"),
        ("BZMPOP", "x", "1", "z", "MIN"), ("BZMPOP", "0", "0", "z", "MIN"), ("BZMPOP", "0", "x", "z", "MIN"),
        ("BZMPOP", "0", "1", "z", "MID"), ("BZMPOP", "0", "1", "z", "MIN", "COUNT", "0"), ("BZMPOP", "0", "2", "z", "MIN"),
        ("BZMPOP", "0", "1", "str2", "MIN"), ("BZMPOP", "0", "1", "z", "MAX", "COUNT", "100"), ("EXISTS", "z"),
        ("MULTI",), ("BZPOPMIN", "nokey", "0"), ("BZMPOP", "0", "1", "nokey", "MIN"), ("EXEC",),
        # BZMPOP parses its timeout after numkeys, the side and COUNT.
        ("BZMPOP", "x", "0", "z", "MIN"), ("BZMPOP", "x", "1", "z", "MID"), ("BZMPOP", "-1", "1", "z", "MIN", "COUNT", "0"),
        ("BZMPOP", "-1", "1", "z", "MIN"), ("BZMPOP", "x", "1", "z", "MIN", "COUNT", "1"), ("BZMPOP", "x", "5", "z", "MIN"),
    ],
    "wrongtype": [
        WRONG, ("ZADD", "str", "1", "a"), ("ZINCRBY", "str", "1", "a"), ("ZREM", "str", "a"), ("ZCARD", "str"),
        ("ZSCORE", "str", "a"), ("ZMSCORE", "str", "a"), ("ZCOUNT", "str", "0", "1"), ("ZLEXCOUNT", "str", "-", "+"),
        ("ZRANK", "str", "a"), ("ZREVRANK", "str", "a"), ("ZRANGE", "str", "0", "1"), ("ZREVRANGE", "str", "0", "1"),
        ("ZRANGEBYSCORE", "str", "0", "1"), ("ZREVRANGEBYSCORE", "str", "0", "1"), ("ZRANGEBYLEX", "str", "-", "+"),
        ("ZREVRANGEBYLEX", "str", "+", "-"), ("ZREMRANGEBYRANK", "str", "0", "1"), ("ZREMRANGEBYSCORE", "str", "0", "1"),
        ("ZREMRANGEBYLEX", "str", "-", "+"), ("ZPOPMIN", "str"), ("ZPOPMAX", "str", "0"), ("ZRANDMEMBER", "str"),
        ("ZRANDMEMBER", "str", "0"), ("ZSCAN", "str", "0"), ("ZADD", "str", "x", "a"), ("ZCOUNT", "str", "x", "1"),
        ("ZADD", "str", "XX", "1", "a"),
    ],
    "skiplist": [
        BIG, BIGLEX, ("OBJECT", "ENCODING", "big"), ("ZCARD", "big"), ("ZRANGE", "big", "0", "-1", "WITHSCORES"),
        ("ZRANGE", "big", "10", "30", "REV", "WITHSCORES"), ("ZRANGE", "big", "(2", "5", "BYSCORE", "LIMIT", "3", "20"),
        ("ZRANGE", "big", "5", "(2", "BYSCORE", "REV", "LIMIT", "3", "20", "WITHSCORES"), ("ZCOUNT", "big", "(2", "5"),
        ("ZRANK", "big", "m100"), ("ZREVRANK", "big", "m100"), ("ZSCORE", "big", "m199"),
        ("ZMSCORE", "big", "m001", "zz", "m150"),
        ("ZADD", "big", "XX", "CH", "100", "m001", "-1", "m002"), ("ZADD", "big", "INCR", "0.5", "m003"),
        ("ZINCRBY", "big", "-0.25", "m004"), ("ZREM", "big", "m005", "m006", "nobody"),
        ("ZRANGE", "big", "0", "20", "WITHSCORES"), ("ZREMRANGEBYRANK", "big", "3", "9"),
        ("ZREMRANGEBYSCORE", "big", "(3", "4"), ("ZPOPMIN", "big", "3"), ("ZPOPMAX", "big"),
        ("ZRANGE", "big", "0", "-1", "WITHSCORES"), ("ZLEXCOUNT", "biglex", "[w010", "(w100"),
        ("ZRANGE", "biglex", "(w140", "+", "BYLEX"), ("ZRANGE", "biglex", "[w020", "(w010", "BYLEX", "REV", "LIMIT", "2", "4"),
        ("ZREMRANGEBYLEX", "biglex", "[w010", "(w100"), ("ZCARD", "biglex"), ("OBJECT", "ENCODING", "biglex"),
    ],
    "conversion": [
        ("ZADD", "n", *[x for i in range(128) for x in (str(i), "m%d" % i)]), ("OBJECT", "ENCODING", "n"),
        ("ZADD", "n", "1", "m1"), ("OBJECT", "ENCODING", "n"), ("ZADD", "n", "500", "last"), ("OBJECT", "ENCODING", "n"),
        ("ZPOPMIN", "n", "100"), ("OBJECT", "ENCODING", "n"),
        ("ZADD", "v", "1", "x" * 64), ("OBJECT", "ENCODING", "v"), ("ZADD", "v", "2", "y" * 65), ("OBJECT", "ENCODING", "v"),
        ("ZADD", "w", "1", "y" * 65), ("OBJECT", "ENCODING", "w"),
        ("ZINCRBY", "u", "1", "y" * 65), ("OBJECT", "ENCODING", "u"),
    ],
}


def test_union_across_shards_sees_transactions_whole(server):
    """A writer moves score between two sets on different shards in transactions (their sum
    stays 0); ZUNIONSTORE and ZUNION over both, under the keys' locks, never see half of one."""
    a, b = "s1", "s2"   # shards 0 and 1
    setup = server.conn()
    setup.cmd("DEL", a, b, "dst1")
    setup.cmd("ZADD", a, "0", "m")
    setup.cmd("ZADD", b, "0", "m")
    done = threading.Event()

    def writer():
        w = server.conn()
        for i in range(400):
            w.pipeline([("MULTI",), ("ZINCRBY", a, "1", "m"), ("ZINCRBY", b, "-1", "m"), ("EXEC",)])
        done.set()

    t = threading.Thread(target=writer)
    t.start()
    reader = server.conn()
    seen = 0
    while not done.is_set() or seen < 20:
        assert reader.cmd("ZUNIONSTORE", "dst1", "2", a, b) == 1
        assert reader.cmd("ZSCORE", "dst1", "m") == b"0"
        assert reader.cmd("ZUNION", "2", a, b, "WITHSCORES") == [b"m", b"0"]
        seen += 1
    t.join()
    assert setup.cmd("ZSCORE", a, "m") == b"400"


@pytest.mark.parametrize("protocol", [2, 3])
def test_blocking_pops_are_served_by_writes_from_other_connections(server, r, protocol):
    """Waiters on keys of both shards (each request's keys on one shard) are served in the
    order they blocked, by ZADD, ZUNIONSTORE or RENAME, with the reply shape of their
    command; a timeout gives a null array; replicas get ZPOPMIN/ZPOPMAX."""
    conns = []
    for _ in range(4):
        c = server.conn()
        if protocol == 3:
            c.cmd("HELLO", "3")
        conns.append(c)
    a, b = "s1", "s2"   # shards 0 and 1
    conns[0].send_raw(encode("BZPOPMIN", a, "0"))
    wait_until(lambda: blocked_count(server) == 1, message="one blocked client")
    conns[1].send_raw(encode("BZMPOP", "0", "1", a, "MAX", "COUNT", "2"))
    conns[2].send_raw(encode("BZPOPMAX", b, "{s2}x", "0"))
    wait_until(lambda: blocked_count(server) == 3, message="three blocked clients")
    r.cmd("ZADD", a, "1", "m1", "2", "m2", "3", "m3", "4", "m4")
    assert conns[0].read() == [b"s1", b"m1", 1.0 if protocol == 3 else b"1"]
    assert conns[1].read() == [b"s1", [[b"m4", 4.0 if protocol == 3 else b"4"], [b"m3", 3.0 if protocol == 3 else b"3"]]]
    assert r.cmd("ZRANGE", a, "0", "-1") == [b"m2"]
    r.cmd("ZADD", "{s2}src", "5", "e")
    r.cmd("RENAME", "{s2}src", "{s2}x")
    assert conns[2].read() == [b"{s2}x", b"e", 5.0 if protocol == 3 else b"5"]
    assert r.cmd("EXISTS", "{s2}x") == 0
    start = time.monotonic()
    assert conns[3].raw("BZPOPMIN", b, "0.2") == (b"_\r\n" if protocol == 3 else b"*-1\r\n")
    assert time.monotonic() - start >= 0.19
    for c in conns:
        c.close()
    wait_until(lambda: blocked_count(server) == 0, message="no blocked client")


@pytest.mark.parametrize("protocol", [2, 3])
def test_blocking_pops_over_keys_of_several_shards(server, redis_port, protocol):
    """BZPOPMIN, BZPOPMAX and BZMPOP whose keys live on both shards: the first key in order
    that holds a sorted set (or another type) decides, at once or once waiting; waiters are
    served in the order they blocked; timeouts, MULTI, CLIENT UNBLOCK; the same replies,
    sets and keyspace events as redis-server."""
    k1, k2, k3 = keys_on_two_shards("zmulti", count=3)
    out = []
    for port in (redis_port, server.port):
        r, w1, w2, sub = Conn(port), Conn(port), Conn(port), Conn(port)
        for c in (r, w1, w2):
            c.cmd("HELLO", str(protocol))
        r.cmd("FLUSHALL")
        r.cmd("CONFIG", "SET", "notify-keyspace-events", "KEA")
        sub.cmd("PSUBSCRIBE", "__keyevent@0__:*")
        w1id = w1.cmd("CLIENT", "ID")
        steps = [r.raw("ZADD", k3, "1", "c1", "2", "c2"), r.raw("ZADD", k2, "5", "b1"),
                 r.raw("BZPOPMIN", k1, k2, k3, "0"), r.raw("BZPOPMAX", k1, k2, k3, "0"),
                 r.raw("BZMPOP", "0", "3", k1, k2, k3, "MIN", "COUNT", "5"),
                 r.raw("BZPOPMIN", k1, k2, "0.05"), r.raw("BZMPOP", "0.05", "2", k1, k2, "MAX")]
        r.cmd("SET", k2, "str")
        r.cmd("ZADD", k3, "3", "c3", "4", "c4")
        steps += [r.raw("BZPOPMIN", k1, k2, k3, "0"), r.raw("BZMPOP", "0", "2", k1, k2, "MIN"),
                  r.raw("BZPOPMIN", k1, k3, k2, "0"), r.raw("ZMPOP", "3", k1, k3, k2, "MAX", "COUNT", "9")]
        r.cmd("DEL", k2)
        steps += [r.raw("MULTI"), r.raw("BZPOPMIN", k1, k2, "0"), r.raw("ZADD", k2, "1", "m", "2", "n"),
                  r.raw("BZPOPMAX", k1, k2, "0"), r.raw("BZMPOP", "0", "2", k1, k2, "MIN", "COUNT", "3"),
                  r.raw("EXEC")]
        w1.send_raw(encode("BZPOPMIN", k1, k2, k3, "0"))
        wait_until(lambda: int(info(r, "clients")["blocked_clients"]) == 1, message="the first waiter")
        w2.send_raw(encode("BZMPOP", "0", "2", k3, k1, "MAX", "COUNT", "2"))
        wait_until(lambda: int(info(r, "clients")["blocked_clients"]) == 2, message="the second waiter")
        steps.append(r.raw("ZADD", k3, "1", "x", "2", "y", "3", "z", "4", "w"))
        steps.append(w1.read_raw())
        steps.append(w2.read_raw())
        steps.append(r.raw("ZRANGE", k3, "0", "-1", "WITHSCORES"))
        w1.send_raw(encode("BZPOPMAX", k1, k2, "0"))
        wait_until(lambda: int(info(r, "clients")["blocked_clients"]) == 1, message="the waiter on two shards")
        steps.append(r.raw("ZADD", k2, "7", "late"))
        steps.append(w1.read_raw())
        w1.send_raw(encode("BZMPOP", "0", "2", k2, k1, "MIN"))
        wait_until(lambda: int(info(r, "clients")["blocked_clients"]) == 1, message="the waiter to unblock")
        steps.append(r.raw("CLIENT", "UNBLOCK", str(w1id), "ERROR"))
        steps.append(w1.read_raw())
        steps.append(int(info(r, "clients")["blocked_clients"]))
        steps.append(r.raw("EXISTS", k1, k2, k3))
        # Keyspace events: each shard keeps its order, the two shards' events interleave freely.
        r.cmd("PUBLISH", "__keyevent@0__:end", "end")
        events = []
        while True:
            m = sub.read()
            if m[2] == b"__keyevent@0__:end":
                break
            events.append((m[2], m[3]))
        while out and len(events) < len(out[0][-1]):  # the other shard's may come after `end`
            m = sub.read()
            events.append((m[2], m[3]))
        steps.append(sorted(events))
        r.cmd("CONFIG", "SET", "notify-keyspace-events", "")
        out.append(steps)
        for c in (r, w1, w2, sub):
            c.close()
    assert out[0] == out[1]


def test_blocking_pops_across_shards_lose_and_double_nothing(make_server):
    """Producers add numbered members to sorted sets on both shards while consumers take them
    with BZPOPMIN, BZPOPMAX and BZMPOP over keys of both shards (and a plain ZPOPMIN that
    ignores promises): every member is taken exactly once."""
    s = make_server("--threads", "2", "--shards", "2")
    qa, qb, qc = keys_on_two_shards("zwork", count=3)
    total = 3000
    taken = []
    lock = threading.Lock()
    stop = threading.Event()

    def producer(offset):
        c = s.conn()
        for i in range(offset, total, 2):
            c.cmd("ZADD", (qa, qb, qc)[i % 3], str(i), str(i))
        c.close()

    def consumer(kind):
        c = s.conn()
        while not stop.is_set():
            if kind == 0:
                reply = c.cmd("BZPOPMIN", qa, qb, qc, "0.05")
                got = [reply[1]] if reply else []
            elif kind == 1:
                reply = c.cmd("BZMPOP", "0.05", "3", qb, qc, qa, "MAX", "COUNT", "3")
                got = [m for m, _ in reply[1]] if reply else []
            elif kind == 2:
                reply = c.cmd("BZPOPMAX", qc, qa, "0.05")
                got = [reply[1]] if reply else []
            else:
                reply = c.cmd("ZPOPMIN", (qa, qb)[len(taken) % 2])
                got = reply[::2]
            with lock:
                taken.extend(got)
        c.close()
    consumers = [threading.Thread(target=consumer, args=(k % 4,)) for k in range(8)]
    producers = [threading.Thread(target=producer, args=(k,)) for k in range(2)]
    for t in consumers + producers:
        t.start()
    for t in producers:
        t.join()
    r = s.conn()
    wait_until(lambda: r.cmd("EXISTS", qa, qb, qc) == 0, timeout=20, message="the sets to drain")
    stop.set()
    for t in consumers:
        t.join()
    assert sorted(int(x) for x in taken) == list(range(total))
    wait_until(lambda: blocked_count(s) == 0, message="no blocked client")


def test_blocked_pop_of_a_closed_client_is_dropped(server, r):
    c = server.conn()
    c.send_raw(encode("BZPOPMIN", "gone", "0"))
    wait_until(lambda: blocked_count(server) == 1, message="one blocked client")
    c.close()
    wait_until(lambda: blocked_count(server) == 0, message="no blocked client")
    assert r.cmd("ZADD", "gone", "1", "a") == 1
    assert r.cmd("ZCARD", "gone") == 1


def test_scan_type_finds_sorted_sets(r):
    r.cmd(*SMALL)
    r.cmd(*BIG)
    r.cmd("SET", "str", "v")
    found, cursor = set(), "0"
    while True:
        cursor, keys = r.cmd("SCAN", cursor, "TYPE", "zset")
        found.update(keys)
        if cursor == b"0":
            break
    assert found == {b"z", b"big"}


def conns(server, redis_port, protocol):
    pair = (Conn(redis_port), server.conn())
    for c in pair:
        c.cmd("FLUSHALL")
        if protocol == 3:
            c.cmd("HELLO", "3")
    return pair


@needs_redis
@pytest.mark.parametrize("protocol", [2, 3])
@pytest.mark.parametrize("name", sorted(SCRIPTS))
def test_replies_are_redis_own(server, redis_port, protocol, name):
    redis, ours = conns(server, redis_port, protocol)
    for command in SCRIPTS[name]:
        assert ours.raw(*command) == redis.raw(*command), command


@needs_redis
def test_digests_are_redis_own(server, redis_port):
    redis, ours = conns(server, redis_port, 2)
    for c in (redis, ours):
        for command in (SMALL, BIG, LEX, ("ZADD", "one", "0.1", "x"), ("ZADD", "neg", "-0", "m", "1e-300", "n")):
            c.cmd(*command)
    for key in ("z", "big", "lex", "one", "neg"):
        assert ours.cmd("DEBUG", "DIGEST-VALUE", key) == redis.cmd("DEBUG", "DIGEST-VALUE", key), key
    assert ours.cmd("DEBUG", "DIGEST") == redis.cmd("DEBUG", "DIGEST")


@needs_redis
@pytest.mark.parametrize("name", ["small", "big"])
def test_config_aliases_and_thresholds(server, redis_port, name):
    redis, ours = conns(server, redis_port, 2)
    try:
        for c in (redis, ours):
            assert c.cmd("CONFIG", "SET", "zset-max-ziplist-entries", "4") == "OK"
            assert c.cmd("CONFIG", "SET", "zset-max-listpack-value", "8") == "OK"
        script = [("CONFIG", "GET", "zset-max-listpack-entries"), ("CONFIG", "GET", "zset-max-ziplist-value")]
        for n in range(1, 7):
            script += [("ZADD", "t", str(n), "m%d" % n), ("OBJECT", "ENCODING", "t")]
        script += [("ZADD", "s", "1", "12345678"), ("OBJECT", "ENCODING", "s"), ("ZADD", "s", "1", "123456789"),
                   ("OBJECT", "ENCODING", "s"), ("ZADD", "e", "1", "123456789"), ("OBJECT", "ENCODING", "e")]
        for command in script:
            assert ours.raw(*command) == redis.raw(*command), command
    finally:
        for c in (redis, ours):
            c.cmd("CONFIG", "SET", "zset-max-listpack-entries", "128")
            c.cmd("CONFIG", "SET", "zset-max-listpack-value", "64")


@pytest.mark.parametrize("size", [5, 300])
def test_zrandmember_contracts(r, size):
    r.cmd("ZADD", "z", *[x for i in range(size) for x in (str(i), "m%d" % i)])
    members = {("m%d" % i).encode() for i in range(size)}
    one = r.cmd("ZRANDMEMBER", "z")
    assert one in members
    distinct = r.cmd("ZRANDMEMBER", "z", "4")
    assert len(distinct) == 4 and len(set(distinct)) == 4 and set(distinct) <= members
    repeated = r.cmd("ZRANDMEMBER", "z", "-20")
    assert len(repeated) == 20 and set(repeated) <= members
    pairs = r.cmd("ZRANDMEMBER", "z", "-3", "WITHSCORES")
    assert len(pairs) == 6
    for m, s in zip(pairs[::2], pairs[1::2]):
        assert int(m[1:]) == int(s)
    r.cmd("HELLO", "3")
    nested = r.cmd("ZRANDMEMBER", "z", "3", "WITHSCORES")
    assert len(nested) == 3 and all(len(p) == 2 and isinstance(p[1], float) for p in nested)
    assert len(r.cmd("ZRANDMEMBER", "z", str(size + 10))) == size


def test_zscan_of_a_skiplist_returns_every_member_while_others_change(r):
    r.cmd("ZADD", "z", *[x for i in range(1000) for x in (str(i % 300), "m%d" % i)])
    assert r.cmd("OBJECT", "ENCODING", "z") == b"skiplist"
    seen = {}
    cursor = "0"
    calls = 0
    while True:
        cursor, items = r.cmd("ZSCAN", "z", cursor, "COUNT", "50")
        calls += 1
        for m, s in zip(items[::2], items[1::2]):
            seen[m] = s
        # churn: members come and go between calls (the m<i> of the test never do)
        r.cmd("ZADD", "z", str(calls % 300), "churn%d" % calls)
        r.cmd("ZREM", "z", "churn%d" % (calls - 1))
        if cursor == b"0":
            break
    assert 10 < calls < 200
    for i in range(1000):
        assert seen[("m%d" % i).encode()] == str(i % 300).encode()
    _, items = r.cmd("ZSCAN", "z", "0", "MATCH", "m99*", "COUNT", "10000")
    assert sorted(items[::2]) == sorted(b"m99" + x for x in [b""] + [str(i).encode() for i in range(10)])


def test_zscan_of_a_skiplist_with_tied_scores_returns_count_sized_batches(r):
    # Redis scans the zset's dict, not the score order: COUNT bounds each reply even when
    # every member has the same score, and the cursor still visits every member.
    r.cmd("ZADD", "z", *[x for i in range(5000) for x in ("7", "m%d" % i)])
    cursor, items = r.cmd("ZSCAN", "z", "0", "COUNT", "10")
    assert cursor != b"0" and 0 < len(items) // 2 < 100
    seen = {m: s for m, s in zip(items[::2], items[1::2])}
    while cursor != b"0":
        cursor, items = r.cmd("ZSCAN", "z", cursor, "COUNT", "10")
        assert len(items) // 2 < 100
        seen.update(zip(items[::2], items[1::2]))
    assert len(seen) == 5000 and set(seen.values()) == {b"7"}


def zset_state(c, dbs=(0, 2)):
    out = {}
    for db in dbs:
        c.cmd("SELECT", db)
        for k in c.cmd("KEYS", "*"):
            # A skiplist that shrank loads back as a listpack (as in Redis): its encoding is
            # the loader's choice.
            encoding = c.cmd("OBJECT", "ENCODING", k) if k != b"shrunk" else None
            out[(db, k)] = (encoding, c.cmd("ZRANGE", k, "0", "-1", "WITHSCORES"), c.cmd("PTTL", k) > 0)
    c.cmd("SELECT", 0)
    return out


def fill(c):
    c.cmd(*SMALL)
    c.cmd(*BIG)
    c.cmd(*BIGLEX)
    c.cmd("ZADD", "ttl", "1", "x")
    c.cmd("PEXPIRE", "ttl", "100000000")
    c.cmd("ZADD", "shrunk", *[x for i in range(130) for x in (str(i), "s%d" % i)])
    c.cmd("ZPOPMIN", "shrunk", "120")  # a skiplist of 10, written as a listpack when compressed
    c.cmd("SELECT", 2)
    c.cmd("ZADD", "db2", "2.5", "y", "-inf", "z")
    c.cmd("SELECT", 0)


def test_sorted_sets_survive_save_and_restart(nodes, data_dir):
    a = nodes(*shards(2), data_dir=data_dir)
    c = a.conn()
    fill(c)
    expected = zset_state(c)
    assert expected[(0, b"big")][0] == b"skiplist" and expected[(0, b"z")][0] == b"listpack"
    assert c.cmd("SAVE") == "OK"
    assert a.shutdown("NOSAVE") == 0
    c = nodes(*shards(1), data_dir=data_dir).conn()
    assert zset_state(c) == expected


@needs_redis
@pytest.mark.parametrize("compression", ["yes", "no"])
def test_redis_dumps_load_and_come_back_identical(nodes, data_dir, compression):
    dumps_exchanged_with_redis(nodes, data_dir, fill, zset_state, args=("--rdbcompression", compression))


def zset_workload(c):
    """Every sorted-set write, on listpacks and skiplists, with no-op forms between."""
    fill(c)
    c.cmd("ZADD", "z", "INCR", "2.5", "a")
    c.cmd("ZADD", "z", "GT", "CH", "0", "b", "100", "c")
    c.cmd("ZADD", "z", "XX", "1", "nobody")  # changes nothing
    c.cmd("ZINCRBY", "big", "0.1", "m007")
    c.cmd("ZINCRBY", "fresh", "3", "m")
    c.cmd("ZREM", "z", "d", "nobody")
    c.cmd("ZPOPMIN", "big", "5")
    c.cmd("ZPOPMAX", "z")
    c.cmd("ZPOPMAX", "fresh", "10")
    c.cmd("ZREMRANGEBYRANK", "big", "10", "19")
    c.cmd("ZREMRANGEBYSCORE", "big", "(3", "4")
    c.cmd("ZREMRANGEBYLEX", "biglex", "[w000", "[w099")
    c.cmd("ZRANDMEMBER", "big", "-5")
    c.cmd("ZADD", "grow", *[x for i in range(140) for x in (str(i % 7), "g%d" % i)])
    c.cmd("ZADD", "{k}a", "1", "x", "2", "y")
    c.cmd("ZADD", "{k}b", "3", "y", "4", "w")
    c.cmd("ZUNIONSTORE", "{k}u", "2", "{k}a", "{k}b", "WEIGHTS", "2", "3", "AGGREGATE", "MAX")
    c.cmd("ZINTERSTORE", "{k}i", "2", "{k}a", "{k}b")
    c.cmd("ZDIFFSTORE", "{k}d", "2", "{k}a", "{k}b")
    c.cmd("ZMPOP", "2", "{k}none", "{k}b", "MAX", "COUNT", "1")
    c.cmd("ZUNIONSTORE", "dst1", "2", "big", "z", "WEIGHTS", "1", "2")  # keys on both shards
    c.cmd("ZINTERSTORE", "dst2", "2", "big", "big")
    c.cmd("ZMPOP", "3", "dst1x", "dst2", "big", "MAX", "COUNT", "3")  # keys on both shards
    c.cmd("BZPOPMIN", "big", "0")
    c.cmd("BZMPOP", "0", "1", "big", "MAX", "COUNT", "2")
    za, zb = keys_on_two_shards("bz")
    c.cmd("ZADD", zb, "1", "x", "2", "y", "3", "z", "4", "w")
    c.cmd("BZMPOP", "0", "2", za, zb, "MIN", "COUNT", "2")  # keys on both shards
    c.cmd("BZPOPMAX", za, zb, "0")
    for d in ("d0", "d1"):  # on either shard of `big`
        c.cmd("ZRANGESTORE", d, "big", "0", "30", "REV")
        c.cmd("ZRANGESTORE", d + "x", "big", "5", "1")  # nothing: no key


@needs_redis
def test_sorted_set_writes_reach_a_redis_replica_exactly(nodes):
    master = nodes("--save", "", "--enable-debug-command", "yes", *shards(2))
    m = master.conn()
    m.cmd(*SMALL)  # before the replica: arrives in the full resync's dump
    replica = nodes("--save", "", "--enable-debug-command", "yes", "--replicaof", "127.0.0.1", str(master.port),
                    binary=REDIS_SERVER)
    rc = replica.conn()
    wait_until(lambda: link_up(rc), timeout=20, message="the replica's link")
    rc.cmd("CONFIG", "RESETSTAT")
    zset_workload(m)
    # A pop served from a wait reaches the replica as the ZPOPMAX it was.
    waiting = master.conn()
    waiting.send_raw(encode("BZPOPMAX", "wake", "0"))
    wait_until(lambda: blocked_count(master) == 1, message="one blocked client")
    m.cmd("ZADD", "wake", "1", "a", "2", "b")
    assert waiting.read() == [b"wake", b"b", b"2"]
    za, zb = keys_on_two_shards("wake")  # a wait over both shards, served later
    waiting.send_raw(encode("BZMPOP", "0", "2", za, zb, "MAX", "COUNT", "5"))
    wait_until(lambda: blocked_count(master) == 1, message="one blocked client over two shards")
    m.cmd("ZADD", zb, "1", "a", "2", "b")
    assert waiting.read() == [zb.encode(), [[b"b", b"2"], [b"a", b"1"]]]
    assert m.cmd("WAIT", "1", "10000") == 1
    wait_until(lambda: rc.cmd("DEBUG", "DIGEST") == m.cmd("DEBUG", "DIGEST"), timeout=10,
               message="the replica's digest")
    assert zset_state(rc) == zset_state(m)
    # ZMPOP and BZMPOP reach it as the ZPOPMIN/ZPOPMAX Redis 7.0 rewrites them into.
    stats = info(rc, "commandstats")
    assert "cmdstat_zmpop" not in stats and "cmdstat_bzmpop" not in stats and "cmdstat_zpopmax" in stats


@needs_redis
def test_sorted_sets_reach_a_valkeyper_replica_of_redis(nodes):
    master = nodes("--save", "", "--enable-debug-command", "yes", binary=REDIS_SERVER)
    m = master.conn()
    m.cmd(*BIG)
    replica = nodes("--save", "", "--enable-debug-command", "yes", *shards(2), "--replicaof", "127.0.0.1",
                    str(master.port))
    rc = replica.conn()
    wait_until(lambda: link_up(rc), timeout=20, message="the replica's link")
    zset_workload(m)
    wait_until(lambda: rc.cmd("DEBUG", "DIGEST") == m.cmd("DEBUG", "DIGEST"), timeout=10,
               message="the replica's digest")
    assert zset_state(rc) == zset_state(m)
