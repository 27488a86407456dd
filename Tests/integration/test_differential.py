"""Differential test: the same random command streams go to ValKeyper (2 shards) and to
the real redis-server 7.0, and every reply must be the same bytes.

Each seed drives one stream of string, hash, list, set, sorted-set and generic key commands (plus
connection, CLIENT and COMMAND GETKEYS calls) over a small key space: hash-tagged, binary, empty and long
keys, in db 0 and 1. Arguments are valid and invalid (arity, integers, options, overflow,
ranges). The stream switches between RESP2 and RESP3 and between two connections, and
sends some bursts as pipelines. Every third seed turns active expiry off and adds TTLs of a
few ms, then waits for them to run out, so both servers hold expired keys not yet deleted.
At the end the keyspaces and the keyspace hit/miss/expired counters must match.

Only what is legitimately nondeterministic is normalized: TTLs (a key is set a moment
apart on the two servers), idle times, RANDOMKEY's and HRANDFIELD's picks (checked against
the hash), SCAN's and HSCAN's cursors and page boundaries (a full scan's set of keys or
pairs is compared), the order of KEYS, CONFIG GET and of a hashtable-encoded hash's fields
(HGETALL, HKEYS, HVALS compared as multisets) and of a set's members (SMEMBERS, SINTER...,
SPOP and SRANDMEMBER of the whole set), and the connection id in HELLO.

Times are chosen so that no outcome depends on when a command runs: relative TTLs are
distinct multiples of 1000 s and absolute ones sit 500 s off that grid, so GT/LT never
compare two deadlines a few milliseconds apart; deadlines in the past delete at once.

Further tests compare random CONFIG SET/GET calls, COMMAND INFO of every command, and the
string size limit under a configured proto-max-bulk-len.

Run more seeds locally with DIFF_SEEDS=first:last (e.g. DIFF_SEEDS=100:400); with
DIFF_KEEP_GOING=1 a stream goes on after a mismatch and lists them all.
"""
import collections
import os
import random
import re
import time

import pytest

from support.info import info
from support.resp import Conn, encode
from support.waiting import wait_until

COMMANDS_PER_SEED = 3000
TTL_TOLERANCE_MS = 250   # two servers set a key this far apart, at most
IDLE_TOLERANCE_S = 2
HISTORY = 40   # commands shown before a mismatch
SERVER_ARGS = ("--enable-debug-command", "yes")  # DEBUG SET-ACTIVE-EXPIRE, as redis-server below
KEEP_GOING = os.environ.get("DIFF_KEEP_GOING") == "1"


def seeds():
    spec = os.environ.get("DIFF_SEEDS")
    if spec:
        first, last = (int(x) for x in spec.split(":"))
        return list(range(first, last + 1))
    return [1, 2, 3, 4, 5, 6]


# MARK: the generator

KEYS = [b"a", b"b", b"c", b"n", b"f", b"s", b"{t}1", b"{t}2", b"{t}3", b"{u}1", b"{u}2",
        b"bin\x00key", b"\xff\xfe\x80", b"sp ace", b"crlf\r\nkey", b"L" * 60,
        b"k*", b"k?", b"k[ab]", b"k\\x", b"", b"long:" + b"K" * 400]

GEO_KEYS = [b"geo:1", b"geo:2", b"{t}geo"]

SET_MEMBERS = [b"1", b"2", b"-5", b"007", b"-0", b"a", b"", b"\x00\xff", b"9223372036854775807",
               b"-9223372036854775808", b"70000", b"m:%d", b"%d", b"M" * 64]

HASH_FIELDS = [b"f", b"g", b"h", b"1", b"-5", b"007", b"", b"\x00\xff", b"field:%d", b"F" * 64, b"G" * 65]

PATTERNS = [b"*", b"k*", b"{t}*", b"?", b"[ab]", b"[^ab]", b"[a-c]", b"k\\*", b"*key*", b"\xff*",
            b"", b"k[", b"k[ab", b"{*}*", b"*\x00*", b"L*L", b"??", b"k\\\\x", b"[!a]", b"*[0-9]"]

INT_VALUES = [0, 1, -1, 7, 42, 9999, 10000, -10000, 123456789, 2**63 - 1, -2**63, 2**63, -2**63 - 1,
              10**19, 2**62]
ODD_NUMBERS = [b"007", b"+1", b" 1", b"1 ", b"0x10", b"1e3", b"3.14", b"-0", b"0.1", b"-1.5e-3", b"inf",
               b"-inf", b"nan", b"1e400", b"1e-400", b".5", b"5.", b"00", b"-", b"+", b"1,5", b"1e308",
               b"-1e308", b"0.30000000000000004", b"123456789012345678901234567890", b"1\x00"]
FLOAT_INCREMENTS = [b"1", b"-1", b"0.5", b"1.5", b"-2.25", b"1e3", b"1e308", b"-1e308", b"inf", b"-inf",
                    b"nan", b"abc", b"", b" 1", b"1 ", b"5e-324", b"0x10", b"1e-20", b"3.0e2", b"+0.1",
                    b"10.00", b"-0.0"]
INT_ARGUMENTS = [b"abc", b"", b"1.5", b" 1", b"1 ", b"+3", b"-0", b"0x1", b"007",
                 b"9223372036854775807", b"-9223372036854775808", b"9223372036854775808",
                 b"-9223372036854775809", b"18446744073709551616", b"2147483647", b"2147483648",
                 b"-2147483649", b"1e3"]
# Sorted sets: few members and scores so that ties, updates and GT/LT outcomes happen.
ZMEMBERS = [b"a", b"b", b"c", b"m1", b"m2", b"m10", b"", b"\x00z", b"7", b"-3", b"x" * 64, b"y" * 65]
ZSCORES = [b"1", b"2", b"-1", b"0", b"1.5", b"inf", b"-inf", b"+inf", b"0.1", b"1e3", b"-0", b"3", b"2.5",
           b"1e20", b"-12345"]
ZBAD_SCORES = [b"x", b"nan", b"", b" 1", b"(1", b"1e400", b"0x10"]
ZRANGE_BOUNDS = [b"-inf", b"+inf", b"(1", b"1", b"2", b"(2", b"0", b"-1", b"1.5", b"(inf", b"inf", b"3", b"(-inf",
                 b"x", b"nan", b"", b"(", b"-0"]
# Member ranges are only defined on sets whose scores are all equal (Redis's answer otherwise
# depends on its skiplist's random levels): these keys only ever get score 0.
LEX_KEYS = [b"lex", b"{t}lex"]
ZLEX_BOUNDS = [b"-", b"+", b"[a", b"(a", b"[m1", b"(m2", b"[c", b"(b", b"[", b"(", b"a", b"+x", b"[\x00z", b"[zzz"]
HUGE_TIMES = [b"9223372036854775807", b"9223372036854775", b"9223372036854776", b"-9223372036854775808",
              b"-9223372036854775", b"0", b"-1", b"-100"]


def word(text, r):
    """An option or command name in a random case: names are case-insensitive."""
    choice = r.random()
    if choice < 0.6:
        return text.upper().encode()
    if choice < 0.8:
        return text.lower().encode()
    return bytes(c ^ 32 if chr(c).isalpha() and r.random() < 0.5 else c for c in text.encode())


class Generator:
    def __init__(self, seed, base_seconds, short_ttls=False):
        self.r = random.Random(seed)
        self.base = base_seconds   # absolute times: base + k*1000 s, 500 s off the relative grid
        self.used_steps = set()
        self.expiring = None       # ms until the last command's short TTL runs out, if it set one
        self.short_ttls = short_ttls
        self.builders = [
            (12, self.set_), (5, self.get), (2, self.setnx), (2, self.setex), (2, self.getset),
            (2, self.getdel), (3, self.getex), (3, self.mget), (3, self.mset), (2, self.msetnx),
            (3, self.append), (2, self.strlen), (3, self.getrange), (3, self.setrange),
            (4, self.incr), (3, self.incrbyfloat),
            (3, self.del_), (3, self.exists), (1, self.touch), (3, self.type_), (5, self.expire),
            (5, self.ttl), (2, self.persist), (2, self.keys), (2, self.scan), (1, self.randomkey),
            (3, self.rename), (3, self.copy), (2, self.move), (1, self.swapdb), (3, self.object),
            (1, self.dbsize), (0.2, self.flush), (2, self.select), (1, self.connection),
            (6, self.hset), (1, self.hsetnx), (3, self.hget), (2, self.hmget), (2, self.hgetall), (2, self.hdel),
            (1, self.hexists), (1, self.hlen), (1, self.hstrlen), (2, self.hincrby), (2, self.hincrbyfloat),
            (1, self.hrandfield), (1, self.hscan),
            (5, self.sadd), (2, self.srem), (1, self.scard), (2, self.sismember), (1, self.smismember),
            (2, self.smembers), (3, self.set_algebra), (2, self.set_store), (1, self.sintercard), (2, self.smove),
            (1, self.whole_set_sample),
            (0.5, self.hello), (0.3, self.unknown), (0.5, self.client), (0.2, self.auth), (0.3, self.getkeys),
            # sorted sets
            (5, self.zadd), (0.3, self.zadd_many), (2, self.zincrby), (2, self.zrem), (1, self.zcard),
            (2, self.zscore), (1, self.zmscore), (2, self.zcount), (1, self.zlexcount), (2, self.zrank),
            (4, self.zrange), (2, self.zremrange), (2, self.zpop), (2, self.zadd_lex), (3, self.zsetop),
            # bitmaps
            (3, self.setbit), (2, self.getbit), (2, self.bitcount), (2, self.bitpos), (2, self.bitop),
            (2, self.bitfield),
            # HyperLogLog
            (3, self.pfadd), (2, self.pfcount), (1, self.pfmerge),
            # lists
            (6, self.lpush), (3, self.lpop), (1, self.llen), (2, self.lindex), (2, self.lset), (3, self.lrange),
            (1, self.ltrim), (2, self.lrem), (2, self.linsert), (2, self.lpos), (2, self.lmove), (1, self.lmpop),
            # geo (keys of their own: no member of another command's sorted set ties on distance)
            (3, self.geoadd), (1, self.geo_read), (3, self.geosearch),
        ]
        if short_ttls:
            # Which expired keys Redis deletes on the way depends on its lookup order (MSETNX
            # stops at the first existing key, RANDOMKEY deletes the ones it happens to pick):
            # DBSIZE, which counts expired keys not yet deleted, is left out.
            self.builders = [b for b in self.builders if b[1] != self.dbsize]
            self.builders.append((4, self.short_ttl))
        self.total_weight = sum(w for w, _ in self.builders)

    # Argument pieces

    def key(self):
        return self.r.choice(KEYS)

    def keys_(self, low=1, high=4):
        return [self.key() for _ in range(self.r.randint(low, high))]

    def value(self):
        r = self.r
        kind = r.random()
        if kind < 0.35:
            return str(r.choice(INT_VALUES) if r.random() < 0.3 else r.randint(-1000, 1000)).encode()
        if kind < 0.5:
            return r.choice(ODD_NUMBERS)
        if kind < 0.55:
            return self.float_text()
        if kind < 0.85:
            return r.choice([b"", b"hello", b"x" * 44, b"x" * 45, b"y" * r.randint(1, 100), b"v%d" % r.randint(0, 99),
                             b"line\r\nbreak", b"\x00", b"z" * r.randint(100, 3000)])
        return bytes(r.randrange(256) for _ in range(r.randint(1, 12)))

    def float_text(self):
        """A float as clients write them: short decimals, exponents, 17 significant digits."""
        r = self.r
        x = r.uniform(-1000, 1000) * 10 ** r.randint(-20, 20)
        return r.choice([b"%.3f" % r.uniform(-100, 100), repr(x).encode(), b"%.17g" % x, b"%e" % x,
                         b"%d.5" % r.randint(-10, 10), b"%.1f" % r.uniform(-5, 5)])

    def integer(self, low, high):
        """Mostly a number in [low, high], sometimes an invalid or extreme integer argument."""
        if self.r.random() < 0.12:
            return self.r.choice(INT_ARGUMENTS)
        return b"%d" % self.r.randint(low, high)

    def step(self):
        """A multiple of 1000 never used before in this stream: deadlines stay seconds apart."""
        while True:
            k = self.r.randint(1, 200000)
            if k not in self.used_steps:
                self.used_steps.add(k)
                return k

    def time_arg(self, unit):
        """A time argument for `unit` in ex, px (relative) or exat, pxat (absolute)."""
        r = self.r
        choice = r.random()
        if choice < 0.08:
            return r.choice(HUGE_TIMES)
        if choice < 0.12:
            return r.choice(INT_ARGUMENTS)
        if choice < 0.2:   # already past (or not positive)
            past = r.choice([1, 2, 1000, self.base - 10**6]) if unit in ("exat", "pxat") else r.choice([0, -1, -5])
            return b"%d" % (past * 1000 if unit == "pxat" else past)
        seconds = 1000 * self.step()
        if unit in ("exat", "pxat"):
            seconds += self.base
        return b"%d" % (seconds * 1000 if unit in ("px", "pxat") else seconds)

    def expire_option(self):
        unit = self.r.choice(["ex", "px", "exat", "pxat"])
        return [word(unit, self.r), self.time_arg(unit)]

    def shuffled(self, groups):
        self.r.shuffle(groups)
        return [a for g in groups for a in g]

    # String commands

    def set_(self):
        r = self.r
        options = []
        if r.random() < 0.3:
            options.append([word(r.choice(["nx", "xx"]), r)])
        if r.random() < 0.25:
            options.append([word("get", r)])
        if r.random() < 0.35:
            options.append(self.expire_option())
        elif r.random() < 0.15:
            options.append([word("keepttl", r)])
        if r.random() < 0.05:   # conflicting, repeated or unknown options
            options.append(r.choice([[b"NX"], [b"XX"], [b"KEEPTTL"], [b"GET"], self.expire_option(), [b"EX"],
                                     [b"PERSIST"], [b"bogus"], [b"PX"]]))
        return [word("set", r), self.key(), self.value()] + self.shuffled(options)

    def get(self):
        return [word("get", self.r), self.key()]

    def setnx(self):
        return [word("setnx", self.r), self.key(), self.value()]

    def setex(self):
        r = self.r
        name = r.choice(["setex", "psetex"])
        return [word(name, r), self.key(), self.time_arg("ex" if name == "setex" else "px"), self.value()]

    def getset(self):
        return [word("getset", self.r), self.key(), self.value()]

    def getdel(self):
        return [word("getdel", self.r), self.key()]

    def getex(self):
        r = self.r
        options = []
        if r.random() < 0.5:
            options.append(self.expire_option())
        elif r.random() < 0.5:
            options.append([word("persist", r)])
        if r.random() < 0.08:
            options.append(r.choice([[b"PERSIST"], self.expire_option(), [b"KEEPTTL"], [b"NX"], [b"EX"]]))
        return [word("getex", r), self.key()] + self.shuffled(options)

    def mget(self):
        return [word("mget", self.r)] + self.keys_(1, 6)

    def mset(self):
        r = self.r
        args = [word(r.choice(["mset", "mset", "msetnx"]), r)]
        for k in self.keys_(1, 4):
            args += [k, self.value()]
        if r.random() < 0.05:
            args.append(self.key())   # an odd pair count
        return args

    def msetnx(self):
        r = self.r
        args = [word("msetnx", r)]
        for k in self.keys_(1, 3):
            args += [k, self.value()]
        return args

    def append(self):
        return [word("append", self.r), self.key(), self.value()]

    def strlen(self):
        return [word("strlen", self.r), self.key()]

    def getrange(self):
        r = self.r
        return [word(r.choice(["getrange", "substr"]), r), self.key(), self.integer(-70, 70), self.integer(-70, 70)]

    def setrange(self):
        r = self.r
        choice = r.random()
        if choice < 0.8:
            offset = self.integer(-2, 70)
        elif choice < 0.9:
            offset = self.integer(0, 5000)
        else:
            offset = r.choice([b"536870912", b"536870911", b"4611686018427387904"])
        if offset == b"536870911":
            value = r.choice([b"ab", b"abc"])   # one byte past the limit (a single byte would allocate 512 MB)
        else:
            value = r.choice([b"", b"Z", b"hello", b"\x00\xff", b"w" * 50, b"q" * r.randint(1, 2000)])
        return [word("setrange", r), self.key(), offset, value]

    def incr(self):
        r = self.r
        name = r.choice(["incr", "decr", "incrby", "decrby"])
        args = [word(name, r), self.key()]
        if name.endswith("by"):
            args.append(self.integer(-100, 100) if r.random() < 0.8 else
                        b"%d" % r.choice([2**63 - 1, -2**63, 2**62, -2**62]))
        return args

    def incrbyfloat(self):
        r = self.r
        increment = r.choice(FLOAT_INCREMENTS) if r.random() < 0.4 else self.float_text()
        return [word("incrbyfloat", r), self.key(), increment]

    # Hash commands

    def field(self):
        f = self.r.choice(HASH_FIELDS)
        return f % self.r.randint(0, 300) if b"%d" in f else f

    def hset(self):
        r = self.r
        name = r.choice(["hset", "hset", "hmset"])
        args = [word(name, r), self.key()]
        for _ in range(r.choice([1, 1, 2, 3, 40, 150])):
            args += [self.field(), self.value()]
        return args

    def hsetnx(self):
        return [word("hsetnx", self.r), self.key(), self.field(), self.value()]

    def hget(self):
        return [word("hget", self.r), self.key(), self.field()]

    def hmget(self):
        return [word("hmget", self.r), self.key()] + [self.field() for _ in range(self.r.randint(1, 5))]

    def hgetall(self):
        return [word(self.r.choice(["hgetall", "hkeys", "hvals"]), self.r), self.key()]

    def hdel(self):
        return [word("hdel", self.r), self.key()] + [self.field() for _ in range(self.r.randint(1, 30))]

    def hexists(self):
        return [word("hexists", self.r), self.key(), self.field()]

    def hlen(self):
        return [word("hlen", self.r), self.key()]

    def hstrlen(self):
        return [word("hstrlen", self.r), self.key(), self.field()]

    def hincrby(self):
        r = self.r
        return [word("hincrby", r), self.key(), self.field(),
                self.integer(-100, 100) if r.random() < 0.8 else b"%d" % r.choice([2**63 - 1, -2**63])]

    def hincrbyfloat(self):
        r = self.r
        increment = r.choice(FLOAT_INCREMENTS) if r.random() < 0.4 else self.float_text()
        return [word("hincrbyfloat", r), self.key(), self.field(), increment]

    def hrandfield(self):
        r = self.r
        args = [word("hrandfield", r), self.key()]
        if r.random() < 0.7:
            args.append(b"%d" % r.randint(-20, 20) if r.random() < 0.9 else
                        r.choice([b"abc", b"", b"1.5", b"+3", b"-0", b"007", b"9223372036854775807",
                                  b"-9223372036854775809", b"18446744073709551616", b"2147483648"]))
            if r.random() < 0.5:
                args.append(word("withvalues", r) if r.random() < 0.9 else b"bogus")
            if r.random() < 0.1:
                # Counts past the range: refused. (A huge negative count without WITHVALUES is
                # accepted and makes Redis build that many replies: never sent.)
                args[2:] = [r.choice([b"-9223372036854775808", b"4611686018427387904", b"-4611686018427387904"]),
                            b"WITHVALUES"]
        return args

    def hscan(self):
        r = self.r
        options = []
        if r.random() < 0.4:
            options.append([word("match", r), r.choice([b"*", b"f*", b"field:1*", b"?", b"[fg]", b""])])
        if r.random() < 0.4:
            options.append([word("count", r), self.integer(1, 30)])
        if r.random() < 0.05:
            options.append(r.choice([[b"COUNT"], [b"TYPE", b"hash"], [b"COUNT", b"0"]]))
        # Only cursors that read as 0 or are refused: where a scan that starts elsewhere
        # begins depends on the table's layout.
        cursor = b"0" if r.random() < 0.95 else r.choice([b"abc", b"", b"+0", b" 0", b"18446744073709551616"])
        return [word("hscan", r), self.key(), cursor] + self.shuffled(options)

    # Set commands

    # Bitmaps

    def bit_offset(self):
        r = self.r
        if r.random() < 0.1:
            return r.choice([b"-1", b"x", b"4294967296", b"4294967295" if r.random() < 0.1 else b"70000"])
        return b"%d" % r.randint(0, 600)

    def setbit(self):
        return [word("setbit", self.r), self.key(), self.bit_offset(), self.r.choice([b"0", b"1", b"1", b"2", b"x"])]

    def getbit(self):
        return [word("getbit", self.r), self.key(), self.bit_offset()]

    def bit_range(self, bits):
        span = 700 if bits else 90
        return [self.integer(-span, span), self.integer(-span, span)]

    def bitcount(self):
        r = self.r
        args = [word("bitcount", r), self.key()]
        if r.random() < 0.7:
            bits = r.random() < 0.5
            args += self.bit_range(bits)
            if r.random() < 0.7:
                args.append(word("bit" if bits else "byte", r) if r.random() < 0.95 else b"bits")
        return args

    def bitpos(self):
        r = self.r
        args = [word("bitpos", r), self.key(), r.choice([b"0", b"1", b"1", b"0", b"2"])]
        n = r.randrange(4)
        bits = n == 3 and r.random() < 0.6
        args += self.bit_range(bits)[:min(n, 2)]
        if n == 3:
            args.append(word("bit" if bits else "byte", r))
        return args

    def bitop(self):
        r = self.r
        op = r.choice(["and", "or", "xor", "not", "not", "nand"])
        sources = [self.key()] if op == "not" and r.random() < 0.9 else self.keys_(1, 4)
        return [word("bitop", r), word(op, r), self.key()] + sources

    def bitfield(self):
        r = self.r
        args = [word(r.choice(["bitfield", "bitfield", "bitfield_ro"]), r), self.key()]
        for _ in range(r.randint(0, 4)):
            if r.random() < 0.25:
                args += [word("overflow", r), word(r.choice(["wrap", "sat", "fail", "fail"]), r)]
            kind = r.choice("iiuu") + str(r.choice([1, 3, 8, 8, 16, 31, 63, 64, 65]))
            offset = b"#%d" % r.randint(0, 6) if r.random() < 0.3 else self.bit_offset()
            op = r.choice(["get", "set", "incrby"])
            args += [word(op, r), kind.encode(), offset]
            if op != "get":
                args.append(self.integer(-300, 300) if r.random() < 0.7 else b"%d" % r.randint(-2 ** 63, 2 ** 63 - 1))
        return args

    def pfadd(self):
        r = self.r
        n = r.choice([0, 1, 1, 3, 10, 60, 400])
        return [word("pfadd", r), self.key()] + [b"e%d" % r.randint(0, 5000) for _ in range(n)]

    def pfcount(self):
        return [word("pfcount", self.r)] + self.keys_(1, 3)

    def pfmerge(self):
        r = self.r
        return [word("pfmerge", r), self.key()] + (self.keys_(1, 3) if r.random() < 0.9 else [])
    def geo_point(self):
        r = self.r
        if r.random() < 0.03:
            return [r.choice([b"181", b"x", b"-180", b"180", b"nan"]), r.choice([b"85.06", b"0", b"-85.05112878", b"y"])]
        return [b"%.6f" % r.uniform(-20, 20), b"%.6f" % r.uniform(-20, 20)]

    def geo_key(self):
        return self.r.choice(GEO_KEYS) if self.r.random() < 0.97 else self.key()

    def geoadd(self):
        r = self.r
        args = [word("geoadd", r), self.r.choice(GEO_KEYS)] + [word(f, r) for f in ("NX", "XX", "CH") if r.random() < 0.1]
        for _ in range(r.choice([1, 2, 5, 40, 200])):
            args += self.geo_point() + [b"g%d" % r.randint(0, 400)]
        return args

    def geo_read(self):
        r = self.r
        members = [b"g%d" % r.randint(0, 420) for _ in range(r.randint(1, 5))]
        kind = r.choice(["geopos", "geohash", "geodist"])
        if kind == "geodist":
            return [word(kind, r), self.geo_key()] + members[:1] + [b"g%d" % r.randint(0, 400)] + (
                [word(r.choice(["m", "km", "mi", "ft", "yd"]), r)] if r.random() < 0.5 else [])
        return [word(kind, r), self.geo_key()] + members

    def geosearch(self):
        r = self.r
        unit = r.choice(["m", "km", "mi", "ft"])
        size = b"%.2f" % (r.uniform(0, 3000) / {"m": 0.001, "km": 1, "mi": 1.60934, "ft": 0.0003048}[unit])
        store = r.random() < 0.25
        args = [word("geosearchstore", r), r.choice(GEO_KEYS)] if store else [word("geosearch", r)]
        args.append(self.r.choice(GEO_KEYS))
        args += [word("frommember", r), b"g%d" % r.randint(0, 420)] if r.random() < 0.4 else [word("fromlonlat", r)] + self.geo_point()
        if r.random() < 0.5:
            args += [word("byradius", r), size, word(unit, r)]
        else:
            args += [word("bybox", r), size, b"%.2f" % (float(size) * r.uniform(0.1, 2)), word(unit, r)]
        if r.random() < 0.5:
            args.append(word(r.choice(["asc", "desc"]), r))
        if r.random() < 0.4:
            args += [word("count", r), self.integer(1, 30)] + ([word("any", r)] if r.random() < 0.3 else [])
        if store:
            args += [word("storedist", r)] if r.random() < 0.4 else []
        else:
            args += [word(o, r) for o in ("withcoord", "withdist", "withhash") if r.random() < 0.4]
        return args

    def member(self):
        m = self.r.choice(SET_MEMBERS)
        return m % self.r.randint(-300, 300) if b"%d" in m else m

    def sadd(self):
        return [word("sadd", self.r), self.key()] + [self.member() for _ in range(self.r.choice([1, 1, 2, 5, 40, 600]))]

    def srem(self):
        return [word("srem", self.r), self.key()] + [self.member() for _ in range(self.r.randint(1, 30))]

    def scard(self):
        return [word("scard", self.r), self.key()]

    def sismember(self):
        return [word("sismember", self.r), self.key(), self.member()]

    def smismember(self):
        return [word("smismember", self.r), self.key()] + [self.member() for _ in range(self.r.randint(1, 5))]

    def smembers(self):
        return [word("smembers", self.r), self.key()]

    def set_algebra(self):
        return [word(self.r.choice(["sinter", "sunion", "sdiff"]), self.r)] + self.keys_(1, 4)

    def set_store(self):
        return [word(self.r.choice(["sinterstore", "sunionstore", "sdiffstore"]), self.r), self.key()] + self.keys_(1, 3)

    def sintercard(self):
        r = self.r
        keys = self.keys_(1, 3)
        args = [word("sintercard", r), b"%d" % len(keys) if r.random() < 0.9 else r.choice([b"0", b"9", b"x"])] + keys
        if r.random() < 0.4:
            args += [word("limit", r), self.integer(0, 30) if r.random() < 0.9 else b"-1"]
        return args

    def smove(self):
        return [word("smove", self.r), self.key(), self.key(), self.member()]

    def whole_set_sample(self):
        """SPOP and SRANDMEMBER of at least the whole set: deterministic up to order."""
        r = self.r
        return [word(r.choice(["spop", "srandmember"]), r), self.key(), r.choice([b"100000", b"0"])]

    # Generic key commands

    def del_(self):
        return [word(self.r.choice(["del", "unlink"]), self.r)] + self.keys_(1, 5)

    def exists(self):
        keys = self.keys_(1, 5)
        if self.r.random() < 0.4:
            keys += keys[:2]   # duplicates count twice
        return [word("exists", self.r)] + keys

    def touch(self):
        return [word("touch", self.r)] + self.keys_(1, 4)

    def type_(self):
        return [word("type", self.r), self.key()]

    def expire(self):
        r = self.r
        name = r.choice(["expire", "pexpire", "expireat", "pexpireat"])
        unit = {"expire": "ex", "pexpire": "px", "expireat": "exat", "pexpireat": "pxat"}[name]
        args = [word(name, r), self.key(), self.time_arg(unit)]
        if r.random() < 0.5:
            args.append(word(r.choice(["nx", "xx", "gt", "lt"]), r))
            if r.random() < 0.2:
                args.append(word(r.choice(["nx", "xx", "gt", "lt", "bogus"]), r))
        return args

    def ttl(self):
        r = self.r
        return [word(r.choice(["ttl", "pttl", "expiretime", "pexpiretime"]), r), self.key()]

    def persist(self):
        return [word("persist", self.r), self.key()]

    def pattern(self):
        """A fixed pattern, or one built of key fragments and glob syntax."""
        r = self.r
        if r.random() < 0.6:
            return r.choice(PATTERNS)
        pieces = [b"*", b"?", b"k", b"{", b"}", b"[ab]", b"[^a]", b"[a-c]", b"[c-a]", b"\\", b"\\*", b"[", b"]",
                  b"t", b"1", b"[\\]]", b"[!k]", b"e", b"\x00", b"\xff", b" ", b"[^]", b"[]", b"[a-]", b"-"]
        return b"".join(r.choice(pieces) for _ in range(r.randint(1, 6)))

    def keys(self):
        return [word("keys", self.r), self.pattern()]

    def scan(self):
        r = self.r
        options = []
        if r.random() < 0.5:
            options.append([word("match", r), self.pattern()])
        if r.random() < 0.5:
            options.append([word("count", r), self.integer(1, 30)])
        if r.random() < 0.2:
            # Redis 7.0's SCAN TYPE none also returns expired keys it meets (their lookup
            # says "none"), a quirk left alone: "none" only when no expired key is stored.
            types = [b"string", b"STRING", b"list", b"bogus"] + ([] if self.short_ttls else [b"none"])
            options.append([word("type", r), r.choice(types)])
        if r.random() < 0.05:
            options.append(r.choice([[b"COUNT"], [b"MATCH"], [b"bogus", b"1"], [b"COUNT", b"0"]]))
        cursor = b"0" if r.random() < 0.95 else r.choice([b"abc", b" 0", b"0 ", b"", b"-", b"+0", b"1.0",
                                                          b"18446744073709551616"])
        return [word("scan", r), cursor] + self.shuffled(options)

    def randomkey(self):
        return [word("randomkey", self.r)]

    def rename(self):
        r = self.r
        src = self.key()
        dst = src if r.random() < 0.1 else self.key()
        return [word(r.choice(["rename", "renamenx"]), r), src, dst]

    def copy(self):
        r = self.r
        src = self.key()
        dst = src if r.random() < 0.1 else self.key()
        options = []
        if r.random() < 0.4:
            options.append([word("db", r), r.choice([b"0", b"1", b"1", b"16", b"-1", b"abc", b"2147483648"])])
        if r.random() < 0.4:
            options.append([word("replace", r)])
        if r.random() < 0.05:
            options.append(r.choice([[b"DB"], [b"bogus"], [b"REPLACE"]]))
        return [word("copy", r), src, dst] + self.shuffled(options)

    def move(self):
        r = self.r
        return [word("move", r), self.key(), r.choice([b"0", b"1", b"1", b"16", b"-1", b"abc", b"4294967296"])]

    def swapdb(self):
        r = self.r
        dbs = [b"0", b"1", b"0", b"1", b"15", b"16", b"-1", b"abc", b"2147483648"]
        return [word("swapdb", r), r.choice(dbs), r.choice(dbs)]

    def object(self):
        r = self.r
        sub = r.choice(["encoding"] * 6 + ["refcount"] * 2 + ["idletime", "freq", "help", "bogus"])
        if sub == "help":
            return [word("object", r), word("help", r)]
        return [word("object", r), word(sub, r), self.key()]

    def dbsize(self):
        return [word("dbsize", self.r)]

    def flush(self):
        r = self.r
        args = [word(r.choice(["flushdb", "flushdb", "flushall"]), r)]
        if r.random() < 0.3:
            args.append(r.choice([b"ASYNC", b"sync", b"bogus"]))
        return args

    def select(self):
        r = self.r
        return [word("select", r), r.choice([b"0", b"1", b"0", b"1", b"15", b"16", b"-1", b"abc", b"2147483648"])]

    def connection(self):
        r = self.r
        return r.choice([
            [word("ping", r)], [word("ping", r), self.value()], [word("echo", r), self.value()],
            [word("client", r), word("setname", r), r.choice([b"name1", b"", b"bad name", b"n\n"])],
            [word("client", r), word("getname", r)],
        ])

    def client(self):
        """CLIENT subcommands with deterministic replies (not ID, INFO, LIST, REPLY, PAUSE), no
        kill that could match a real connection, and Redis 7.0's (no SETINFO: 7.2)."""
        r = self.r
        word_ = r.choice([b"on", b"OFF", b"yes", b"no", b"x", b"", b"1", b"99999", b"-1", b"abc", b"timeout", b"error"])
        return [word("client", r)] + r.choice([
            [word("no-evict", r), word_], [word("no-evict", r)], [word("getredir", r)], [word("trackinginfo", r)],
            [word("caching", r), word_], [word("unblock", r), word_], [word("unblock", r), b"99999", word_],
            [word("unblock", r), b"1", b"timeout", b"extra"], [word("unpause", r)], [word("help", r)],
            [word("kill", r), b"127.0.0.1:1"], [word("kill", r), b"ID", word_], [word("kill", r), b"ADDR", b"127.0.0.1:1"],
            [word("kill", r), b"LADDR", b"10.0.0.1:1", b"SKIPME", word_], [word("kill", r), b"TYPE", b"bogus"],
            [word("kill", r), b"USER", b"nobody"], [word("kill", r), b"ID"], [word("kill", r), b"BOGUS", b"1"],
            [word("list", r), b"TYPE", b"bogus"], [word("list", r), b"ID", word_], [word("list", r), b"bogus"],
            [word("bogus", r)], [word("setname", r)], [word("getname", r), b"extra"],
        ])

    def auth(self):
        r = self.r
        return [word("auth", r)] + r.choice([[], [b"pw"], [b"default", b"pw"], [b"nobody", b"pw"], [b"a", b"b", b"c"]])

    def getkeys(self):
        """COMMAND GETKEYS: key positions of the implemented commands, valid or not."""
        r = self.r
        return [word("command", r), word("getkeys", r)] + r.choice([
            [b"GET", b"k"], [b"SET", b"a", b"b", b"EX", b"10"], [b"MSET", b"a", b"1", b"b", b"2"], [b"MSET", b"a"],
            [b"DEL"], [b"DEL", b"a", b"b", b"a"], [b"COPY", b"a", b"b", b"DB", b"1"], [b"PING"], [b"NOSUCH", b"a"],
            [b"RENAME", b"a"], [b"OBJECT", b"ENCODING", b"k"], [b"object", b"help"], [b"EXPIRE", b"k", b"10"],
            [b"MGET", b"a", b"b"], [b"GETEX", b"k", b"EX", b"1"], [b"SCAN", b"0"], [b"MSETNX", b"a", b"b"], [],
            [b"KEYS", b"*"], [b"client", b"kill", b"x"], [b"config", b"get", b"x"], [b"swapdb", b"0", b"1"],
            [b"SINTERCARD", b"2", b"a", b"b", b"LIMIT", b"1"], [b"SINTERCARD", b"0", b"a"], [b"SINTERCARD", b"3", b"a"],
            [b"SUNIONSTORE", b"d", b"a", b"b"], [b"SMOVE", b"a", b"b", b"m"],
        ])

    def hello(self):
        r = self.r
        args = [word("hello", r), r.choice([b"2", b"3", b"3", b"4", b"abc"])]
        if r.random() < 0.2:
            args += [word("setname", r), r.choice([b"viahello", b"bad name"])]
        return args

    def unknown(self):
        # Printable keys only: ValKeyper quotes binary arguments of an unknown command
        # differently (Dispatch.swift's writeUnknownCommand; a known gap).
        printable = [k for k in KEYS if all(32 <= c < 127 for c in k)]
        return [self.r.choice([b"NOSUCH", b"foo"])] + [self.r.choice(printable) for _ in range(self.r.randint(0, 3))]

    def short_ttl(self):
        """A TTL of a few ms; the stream waits for it to run out before going on, so that
        both servers see the key expired (active expiry is off: it stays until looked up)."""
        r = self.r
        ms = r.randint(1, 3)
        self.expiring = ms
        return r.choice([
            [word("psetex", r), self.key(), b"%d" % ms, self.value()],
            [word("set", r), self.key(), self.value(), word("px", r), b"%d" % ms] + r.choice([[], [b"NX"], [b"XX"], [b"GET"]]),
            [word("pexpire", r), self.key(), b"%d" % ms] + r.choice([[], [b"NX"], [b"XX"], [b"GT"], [b"LT"]]),
            [word("getex", r), self.key(), word("px", r), b"%d" % ms],
        ])

    # Whole commands

    def pipeline(self):
        """A few commands to send at once. Commands whose check needs more commands
        (SCAN, RANDOMKEY, OBJECT IDLETIME) are left to single runs."""
        commands = []
        size = self.r.randint(2, 30)
        while len(commands) < size:
            args = self.command()
            name = name_of(args)
            if self.expiring or name in ("scan", "randomkey", "hscan", "hrandfield") or (name == "object" and b"idletime" in (a.lower() for a in args)):
                self.expiring = None
                continue
            commands.append(args)
            if needs_lookup(args):
                commands.append([b"EXISTS", args[1]])
        return commands

    # Sorted sets

    def zmember(self):
        r = self.r
        return r.choice(ZMEMBERS) if r.random() < 0.8 else b"m%d" % r.randint(0, 200)

    def zscore_arg(self):
        return self.r.choice(ZBAD_SCORES) if self.r.random() < 0.05 else self.r.choice(ZSCORES)

    def zadd(self):
        r = self.r
        flags = [f for f in (b"NX", b"XX", b"GT", b"LT", b"CH", b"INCR") if r.random() < 0.12]
        r.shuffle(flags)
        pairs = []
        for _ in range(1 if b"INCR" in flags and r.random() < 0.9 else r.randint(1, 4)):
            pairs += [self.zscore_arg(), self.zmember()]
        return [word("zadd", r), self.key()] + [word(f.decode(), r) for f in flags] + pairs

    def zadd_lex(self):
        r = self.r
        flags = [word(f, r) for f in ("NX", "XX", "CH") if r.random() < 0.1]
        args = [word("zadd", r), r.choice(LEX_KEYS)] + flags
        for _ in range(r.randint(1, 20) if r.random() < 0.9 else 130):
            args += [b"0", self.zmember()]
        return args

    def zadd_many(self):
        """Enough members (or one long enough) to cross into a skiplist, or to stop just short."""
        r = self.r
        n = r.choice([127, 128, 129, 140])
        args = [b"ZADD", self.key()]
        for i in range(n):
            args += [b"%d" % r.randint(-5, 5), b"m%d" % i]
        return args

    def zincrby(self):
        r = self.r
        return [word("zincrby", r), self.key(), r.choice(FLOAT_INCREMENTS) if r.random() < 0.3 else self.zscore_arg(),
                self.zmember()]

    def zrem(self):
        return [word("zrem", self.r), self.key()] + [self.zmember() for _ in range(self.r.randint(1, 4))]

    def zcard(self):
        return [word("zcard", self.r), self.key()]

    def zscore(self):
        return [word("zscore", self.r), self.key(), self.zmember()]

    def zmscore(self):
        return [word("zmscore", self.r), self.key()] + [self.zmember() for _ in range(self.r.randint(1, 4))]

    def zcount(self):
        r = self.r
        return [word("zcount", r), self.key(), r.choice(ZRANGE_BOUNDS), r.choice(ZRANGE_BOUNDS)]

    def zlexcount(self):
        r = self.r
        return [word("zlexcount", r), r.choice(LEX_KEYS), r.choice(ZLEX_BOUNDS), r.choice(ZLEX_BOUNDS)]

    def zrank(self):
        r = self.r
        return [word(r.choice(["zrank", "zrevrank"]), r), self.key(), self.zmember()]

    def zrange(self):
        r = self.r
        form = r.choice(["zrange", "zrange", "zrange", "zrevrange", "zrangebyscore", "zrevrangebyscore",
                         "zrangebylex", "zrevrangebylex"])
        kind = r.choice(["rank", "score", "lex"]) if form == "zrange" else \
            "score" if "score" in form else "lex" if "lex" in form else "rank"
        bounds = {"rank": lambda: self.integer(-5, 5), "score": lambda: r.choice(ZRANGE_BOUNDS),
                  "lex": lambda: r.choice(ZLEX_BOUNDS)}[kind]
        args = [word(form, r), r.choice(LEX_KEYS) if kind == "lex" else self.key(), bounds(), bounds()]
        options = []
        if form == "zrange" and kind != "rank":
            options.append([word("by" + kind, r)])
        if form == "zrange" and r.random() < 0.3:
            options.append([word("rev", r)])
        if r.random() < 0.4:
            options.append([word("withscores", r)])
        if r.random() < 0.3:
            options.append([word("limit", r), self.integer(-1, 4), self.integer(-1, 5)])
        r.shuffle(options)
        for o in options:
            args += o
        return args

    def zremrange(self):
        r = self.r
        kind = r.choice(["rank", "score", "lex"])
        bounds = {"rank": lambda: self.integer(-5, 5), "score": lambda: r.choice(ZRANGE_BOUNDS),
                  "lex": lambda: r.choice(ZLEX_BOUNDS)}[kind]
        return [word("zremrangeby" + kind, r), r.choice(LEX_KEYS) if kind == "lex" else self.key(), bounds(), bounds()]

    def zsetop(self):
        """Set operations, stores and ZMPOP over keys of one or both shards."""
        r = self.r
        n = r.randint(1, 3)
        keys = [self.key() for _ in range(n)]
        count = self.integer(n, n) if r.random() < 0.9 else r.choice([b"0", b"-1", b"x", b"%d" % (n + 2)])
        form = r.choice(["zunion", "zinter", "zdiff", "zunionstore", "zinterstore", "zdiffstore", "zintercard",
                         "zrangestore", "zmpop"])
        if form == "zrangestore":
            return [word(form, r), self.key(), self.key(), self.integer(-3, 3), self.integer(-3, 3)]
        if form == "zmpop":
            args = [word(form, r), count] + keys + [word(r.choice(["min", "max"]), r)]
            if r.random() < 0.5:
                args += [word("count", r), self.integer(0, 4)]
            return args
        args = [word(form, r)] + ([self.key()] if form.endswith("store") else []) + [count] + keys
        if form in ("zunion", "zinter", "zunionstore", "zinterstore") and r.random() < 0.4:
            args += [word("weights", r)] + [r.choice([b"1", b"2", b"0.5", b"-1", b"0", b"inf"]) for _ in keys]
        if form in ("zunion", "zinter", "zunionstore", "zinterstore") and r.random() < 0.4:
            args += [word("aggregate", r), word(r.choice(["sum", "min", "max"]), r)]
        if form in ("zunion", "zinter", "zdiff") and r.random() < 0.5:
            args.append(word("withscores", r))
        if form == "zintercard" and r.random() < 0.5:
            args += [word("limit", r), self.integer(0, 3)]
        return args

    def zpop(self):
        r = self.r
        args = [word(r.choice(["zpopmin", "zpopmax"]), r), self.key()]
        if r.random() < 0.6:
            args.append(self.integer(-1, 5))
        return args

    # Lists: elements from a small pool so that LREM, LPOS and LINSERT find them.

    def element(self):
        r = self.r
        return r.choice([b"a", b"b", b"1", b"-7", b"300000", b"", b"x" * r.randint(50, 300)]) if r.random() < 0.7 \
            else self.value()

    def lpush(self):
        r = self.r
        name = r.choice(["lpush", "rpush", "lpush", "rpush", "lpushx", "rpushx"])
        return [word(name, r), self.key()] + [self.element() for _ in range(r.choice([1, 1, 2, 5, 40, 300]))]

    def lpop(self):
        r = self.r
        args = [word(r.choice(["lpop", "rpop"]), r), self.key()]
        if r.random() < 0.5:
            args.append(self.integer(0, 6))
        return args

    def llen(self):
        return [word("llen", self.r), self.key()]

    def lindex(self):
        return [word("lindex", self.r), self.key(), self.integer(-40, 40)]

    def lset(self):
        return [word("lset", self.r), self.key(), self.integer(-40, 40), self.element()]

    def lrange(self):
        return [word("lrange", self.r), self.key(), self.integer(-50, 50), self.integer(-50, 50)]

    def ltrim(self):
        return [word("ltrim", self.r), self.key(), self.integer(-20, 20), self.integer(-20, 400)]

    def lrem(self):
        return [word("lrem", self.r), self.key(), self.integer(-3, 3), self.element()]

    def linsert(self):
        r = self.r
        return [word("linsert", r), self.key(), word(r.choice(["before", "after", "before", "after", "middle"]), r),
                self.element(), self.element()]

    def lpos(self):
        r = self.r
        args = [word("lpos", r), self.key(), self.element()]
        for option, low, high in (("rank", -3, 3), ("count", 0, 4), ("maxlen", 0, 30)):
            if r.random() < 0.35:
                args += [word(option, r), self.integer(low, high)]
        return args

    def lmove(self):
        r = self.r
        if r.random() < 0.3:
            return [word("rpoplpush", r), self.key(), self.key()]
        sides = ["left", "right", "left", "right", "up"]
        return [word("lmove", r), self.key(), self.key(), word(r.choice(sides), r), word(r.choice(sides), r)]

    def lmpop(self):
        r = self.r
        n = r.randint(1, 3)
        keys = [self.key() for _ in range(n)]
        count = self.integer(n, n) if r.random() < 0.9 else r.choice([b"0", b"-1", b"x", b"%d" % (n + 2)])
        args = [word("lmpop", r), count] + keys + [word(r.choice(["left", "right"]), r)]
        if r.random() < 0.5:
            args += [word("count", r), self.integer(0, 4)]
        return args

    def command(self):
        pick = self.r.uniform(0, self.total_weight)
        for weight, build in self.builders:
            pick -= weight
            if pick <= 0:
                break
        args = build()
        # Wrong arity and stray arguments (not where a shorter form would be CLIENT LIST or COMMAND).
        # Nor where a shorter form picks at random (SPOP or SRANDMEMBER without a count).
        if self.r.random() < 0.03 and build not in (self.unknown, self.client, self.getkeys, self.whole_set_sample):
            if len(args) > 1 and self.r.random() < 0.5:
                args = args[:-1]
            else:
                # Never a small positive number: after a bare EX/PX it would make a TTL that
                # runs out during the stream, at a different moment on each server.
                args = args + [self.r.choice([b"extra", b"0", b"-1", self.key()])]
        return args


# MARK: running and comparing

class Parsed(Conn):
    """Parses a reply already read as bytes."""

    def __init__(self, data):
        self.buf = data
        self.log = None

    def _fill(self):
        raise AssertionError("truncated reply")


def parse(raw):
    return Parsed(raw).read()


def name_of(args):
    return args[0].decode(errors="replace").lower()


def needs_lookup(args):
    """Redis keeps a key SET with a deadline already past until it is next looked up (or
    active expiry finds it): DBSIZE may still count it. Such a SET is followed by EXISTS."""
    return name_of(args) == "set" and bool({a.lower() for a in args[3:]} & {b"exat", b"pxat"})


def shorten(reply, limit=600):
    if isinstance(reply, bytes) and len(reply) > limit:
        return reply[:limit] + b"... (%d bytes)" % len(reply)
    return reply


class Mismatch(AssertionError):
    pass


class Differ:
    """Sends commands to both servers over pairs of connections (one to each server) and
    compares the replies. Commands go over the current pair; `use` switches pairs, so
    per-connection state (SELECT, HELLO, names) and connections served by different
    ValKeyper workers are exercised."""

    def __init__(self, seed, pairs):
        self.seed = seed
        self.pairs = pairs
        self.current = 0
        self.count = 0
        self.mismatches = {}
        self.history = collections.deque(maxlen=2000)

    @property
    def redis(self):
        return self.pairs[self.current][0]

    @property
    def vk(self):
        return self.pairs[self.current][1]

    def use(self, pair):
        self.current = pair

    def both(self, args):
        return self.redis.raw(*args), self.vk.raw(*args)

    def recent(self, args):
        """The last commands that name one of `args`'s keys or change databases."""
        keys = set(args[1:]) & set(KEYS)
        shown = [h for h in self.history
                 if keys & set(h[2][1:]) or name_of(h[2]) in ("select", "swapdb", "flushdb", "flushall", "move", "copy")]
        return "".join("\n    #%d (connection %d) %r -> %r" % h for h in shown[-HISTORY:])

    def fail(self, args, expected, actual, why="replies differ"):
        expected, actual = shorten(expected), shorten(actual)
        if KEEP_GOING:   # exploring: list every mismatch of the stream (later ones may follow from earlier ones)
            name = name_of(args)
            self.mismatches[name] = self.mismatches.get(name, 0) + 1
            if self.mismatches[name] <= 3:
                print("seed %d #%d %s\n  %r\n  redis:     %r\n  valkeyper: %r\n  before (redis's replies):%s"
                      % (self.seed, self.count, why, args, expected, actual, self.recent(args)))
            return
        raise Mismatch("seed %d, command #%d: %s\n  command:   %r\n  redis:     %r\n  valkeyper: %r"
                       "\n  the commands before (with redis's replies):%s"
                       % (self.seed, self.count, why, args, expected, actual, self.recent(args)))

    def run(self, args):
        if name_of(args) == "scan" and len(args) >= 2:
            self.count += 1
            return self.full_scan(args)
        if name_of(args) == "hscan" and len(args) >= 3:
            self.count += 1
            return self.full_hscan(args)
        self.check(args, *self.both(args))
        if needs_lookup(args):
            self.run([b"EXISTS", args[1]])

    def run_pipelined(self, commands):
        """Sends the commands as one pipeline to each server, then compares reply by reply
        (ValKeyper must keep a pipeline's order across shards)."""
        payload = b"".join(encode(*c) for c in commands)
        replies = []
        for conn in (self.redis, self.vk):
            conn.send_raw(payload)
            replies.append([conn.read_raw() for _ in commands])
        for args, expected, actual in zip(commands, *replies):
            self.check(args, expected, actual)

    def check(self, args, expected, actual):
        self.count += 1
        self.history.append((self.count, self.current, args, expected))
        name = name_of(args)
        if expected == actual or expected.startswith(b"-") or actual.startswith(b"-"):
            if expected != actual:
                self.fail(args, expected, actual)
            return
        sub = name_of(args[1:]) if len(args) > 1 else ""
        if name in ("ttl", "pttl", "expiretime", "pexpiretime"):
            self.within(args, expected, actual, 1 if name in ("ttl", "expiretime") else TTL_TOLERANCE_MS)
        elif name == "object" and sub == "idletime":
            # A shared integer (0..9999) has one access time for every key holding it in Redis.
            self.vk.cmd("OBJECT", "REFCOUNT", args[2])   # the same lookups on both: same INFO stats
            if self.redis.cmd("OBJECT", "REFCOUNT", args[2]) != 2**31 - 1:
                self.within(args, expected, actual, IDLE_TOLERANCE_S)
        elif name == "keys":
            if sorted(parse(expected)) != sorted(parse(actual)):
                self.fail(args, expected, actual, "KEYS found different keys")
        elif name == "config" and sub == "get":
            # Redis gathers the matches in a dict: their order is its hash order.
            def pairs(raw):
                reply = parse(raw)
                items = list(reply.items()) if isinstance(reply, dict) else list(zip(reply[::2], reply[1::2]))
                return type(reply), sorted(items)
            if pairs(expected) != pairs(actual):
                self.fail(args, expected, actual, "CONFIG GET found different values")
        elif name == "randomkey":
            self.random_key(args, expected, actual)
        elif name in ("hgetall", "hkeys", "hvals", "smembers", "sinter", "sunion", "sdiff", "spop", "srandmember"):
            self.order_free(args, expected, actual)
        elif name == "hrandfield":
            self.random_fields(args, expected, actual)
        elif name == "hello":
            self.hello(args, expected, actual)
        else:
            self.fail(args, expected, actual)

    def within(self, args, expected, actual, tolerance):
        a, b = parse(expected), parse(actual)
        if not (isinstance(a, int) and isinstance(b, int) and a >= 0 and b >= 0 and abs(a - b) <= tolerance):
            self.fail(args, expected, actual, "not within %d" % tolerance)

    def random_key(self, args, expected, actual):
        a, b = parse(expected), parse(actual)
        if not (isinstance(a, bytes) and isinstance(b, bytes)):
            self.fail(args, expected, actual, "RANDOMKEY: one found a key, the other did not")
        # Each pick must be a key the other server has too.
        if self.vk.cmd("EXISTS", a) != 1 or self.redis.cmd("EXISTS", b) != 1:
            self.fail(args, expected, actual, "RANDOMKEY picked a key the other server lacks")

    def hello(self, args, expected, actual):
        def without_id(raw):
            return re.sub(rb"(\$2\r\nid\r\n:)\d+", rb"\1#", raw)
        if without_id(expected) != without_id(actual):
            self.fail(args, expected, actual)

    def order_free(self, args, expected, actual):
        """A hashtable's fields come in an order of its own: the same items, as a multiset."""
        def items(raw):
            reply = parse(raw)
            if isinstance(reply, dict):
                return "map", sorted(reply.items())
            if name_of(args) == "hgetall":
                return "array", sorted(zip(reply[::2], reply[1::2]))
            return type(reply).__name__, sorted(reply)   # a RESP3 set stays apart from an array
        if items(expected) != items(actual):
            self.fail(args, expected, actual, "different fields or values")

    def random_fields(self, args, expected, actual):
        """HRANDFIELD's picks: the same shape and count, each one a field (and value) of the
        hash, distinct for a positive count."""
        a, b = parse(expected), parse(actual)
        if len(args) == 2:
            if not (isinstance(a, bytes) and isinstance(b, bytes)):
                self.fail(args, expected, actual, "HRANDFIELD: one found a field, the other did not")
            elif self.vk.cmd("HEXISTS", args[1], a) != 1 or self.redis.cmd("HEXISTS", args[1], b) != 1:
                self.fail(args, expected, actual, "HRANDFIELD picked a field the other server lacks")
            return
        if not (isinstance(a, list) and isinstance(b, list) and len(a) == len(b)):
            self.fail(args, expected, actual, "HRANDFIELD: different shapes")
            return
        with_values = len(args) == 4
        nested = with_values and bool(b) and isinstance(b[0], list)
        if with_values and not nested:
            b = [list(p) for p in zip(b[::2], b[1::2])]
        self.vk.raw(b"HGETALL", args[1])   # the same lookups on both: same INFO stats
        whole = parse(self.redis.raw(b"HGETALL", args[1]))
        whole = dict(whole.items()) if isinstance(whole, dict) else dict(zip(whole[::2], whole[1::2]))
        picks = [p[0] for p in b] if with_values else b
        if any(p not in whole for p in picks) or (with_values and any(whole[f] != v for f, v in b)):
            self.fail(args, expected, actual, "HRANDFIELD returned what the hash does not hold")
        elif not args[2].startswith(b"-") and len(set(picks)) != len(picks):
            self.fail(args, expected, actual, "HRANDFIELD repeated a field for a positive count")

    def full_hscan(self, args):
        """Scans a hash to the end on both servers; the sets of pairs must match."""
        found = []
        calls = []
        for conn, label in ((self.redis, "redis"), (self.vk, "valkeyper")):
            items, first = set(), None
            cursor = args[2]
            calls.append(0)
            for _ in range(100000):
                calls[-1] += 1
                raw = conn.raw(args[0], args[1], cursor, *args[3:])
                first = first or raw
                if raw.startswith(b"-"):
                    break
                reply = parse(raw)
                assert isinstance(reply, list) and len(reply) == 2, "%s: bad HSCAN reply %r" % (label, raw)
                cursor, page = reply
                items.update(zip(page[::2], page[1::2]))
                if cursor == b"0":
                    break
            else:
                raise AssertionError("%s: HSCAN never ended" % label)
            found.append((first, items))
        # Each call is a lookup, and a hashtable's pages differ: even out the hit counts.
        behind = self.redis if calls[0] < calls[1] else self.vk
        for _ in range(abs(calls[0] - calls[1])):
            behind.raw(b"HLEN", args[1])
        (first_r, items_r), (first_v, items_v) = found
        if first_r.startswith(b"-") or first_v.startswith(b"-"):
            if first_r != first_v:
                self.fail(args, first_r, first_v)
        elif items_r != items_v:
            self.fail(args, sorted(items_r), sorted(items_v), "a full HSCAN found different pairs")

    def full_scan(self, args):
        """Scans to the end on both servers from the given cursor; the sets of keys must match."""
        found = []
        for conn, label in ((self.redis, "redis"), (self.vk, "valkeyper")):
            keys, first = set(), None
            cursor = args[1]
            for _ in range(100000):
                raw = conn.raw(args[0], cursor, *args[2:])
                first = first or raw
                if raw.startswith(b"-"):
                    break
                reply = parse(raw)
                assert isinstance(reply, list) and len(reply) == 2, "%s: bad SCAN reply %r" % (label, raw)
                cursor, page = reply
                keys.update(page)
                if cursor == b"0":
                    break
            else:
                raise AssertionError("%s: SCAN never ended" % label)
            found.append((first, keys))
        (first_r, keys_r), (first_v, keys_v) = found
        if first_r.startswith(b"-") or first_v.startswith(b"-"):
            if first_r != first_v:
                self.fail(args, first_r, first_v)
        elif keys_r != keys_v:
            self.fail(args, sorted(keys_r), sorted(keys_v), "a full SCAN found different keys")

    def same_keyspace(self, with_dbsize=True):
        """Both servers hold the same keys, values and TTLs (checked at the end of a stream)."""
        for db in (0, 1):
            self.run([b"SELECT", b"%d" % db])
            self.run([b"KEYS", b"*"])
            if with_dbsize:
                self.run([b"DBSIZE"])
            for key in KEYS:
                for name in (b"GET", b"PTTL", b"TYPE", b"HGETALL", b"OBJECT ENCODING"):
                    self.run(name.split() + [key])
                self.run([b"ZRANGE", key, b"0", b"-1", b"WITHSCORES"])
                self.run([b"LRANGE", key, b"0", b"-1"])
            for key in LEX_KEYS:
                self.run([b"ZRANGE", key, b"0", b"-1", b"WITHSCORES"])


def keyspace_stats(conn):
    """Lookups that found a key, that did not, and keys expired: the same commands must
    count the same."""
    fields = info(conn, "stats")
    return {name: fields[name] for name in ("keyspace_hits", "keyspace_misses", "expired_keys")}


@pytest.mark.parametrize("seed", seeds())
def test_same_replies_as_redis(server, redis_port, seed):
    """Every third seed runs with active expiry off and TTLs of a few ms, to compare how
    commands treat keys that have expired but are still stored."""
    pairs = [(Conn(redis_port), server.conn()) for _ in range(2)]
    redis, vk = pairs[0]
    short_ttls = seed % 3 == 0
    try:
        base = int(time.time()) + 500
        differ = Differ(seed, pairs)
        for c in (redis, vk):
            assert c.cmd("FLUSHALL") == "OK"
            assert c.cmd("DEBUG", "SET-ACTIVE-EXPIRE", "0" if short_ttls else "1") == "OK"
            assert c.cmd("CONFIG", "RESETSTAT") == "OK"
        # Half the seeds start in RESP3; HELLO in the stream switches back and forth.
        differ.run([b"HELLO", b"3" if seed % 2 == 0 else b"2"])
        generator = Generator(seed, base, short_ttls)
        while differ.count < COMMANDS_PER_SEED:
            if generator.r.random() < 0.1:
                differ.use(generator.r.randrange(len(pairs)))
            if generator.r.random() < 0.05:
                differ.run_pipelined(generator.pipeline())
                continue
            differ.run(generator.command())
            if generator.expiring:
                until = time.monotonic() + generator.expiring / 1000 + 0.002
                wait_until(lambda: time.monotonic() > until, interval=0.001, message="a short TTL to run out")
                generator.expiring = None
        differ.same_keyspace(with_dbsize=not short_ttls)
        assert not differ.mismatches, "mismatches by command: %r" % differ.mismatches
        if not short_ttls:   # (which expired keys Redis deletes on the way is not deterministic)
            assert keyspace_stats(vk) == keyspace_stats(redis), "INFO stats differ (seed %d)" % seed
    finally:
        for c in (redis, vk):
            c.cmd("DEBUG", "SET-ACTIVE-EXPIRE", "1")
        for pair in pairs:
            for c in pair:
                c.close()


@pytest.mark.parametrize("seed", [11, 12, 13])
def test_same_replies_with_tiny_hash_limits(server, redis_port, seed):
    """hash-max-listpack-entries and -value of a few units: most hash writes cross a limit,
    so the listpack-to-hashtable conversions happen all through the stream; lists of nodes
    holding 1-3 elements or 4 KB, so pushes, LINSERT, LREM and trims split and drop nodes."""
    pairs = [(Conn(redis_port), server.conn()) for _ in range(2)]
    try:
        for c in pairs[0]:
            assert c.cmd("FLUSHALL") == "OK"
            assert c.cmd("CONFIG", "RESETSTAT") == "OK"
            assert c.cmd("CONFIG", "SET", "hash-max-listpack-entries", str(seed % 5)) == "OK"
            assert c.cmd("CONFIG", "SET", "hash-max-listpack-value", str(seed % 4 + 1)) == "OK"
            assert c.cmd("CONFIG", "SET", "list-max-listpack-size", str([1, 2, 3, -1][seed % 4])) == "OK"
        differ = Differ(seed, pairs)
        generator = Generator(seed, int(time.time()) + 500)
        while differ.count < COMMANDS_PER_SEED // 2:
            if generator.r.random() < 0.1:
                differ.use(generator.r.randrange(len(pairs)))
            differ.run(generator.command())
        differ.same_keyspace()
        assert keyspace_stats(pairs[0][1]) == keyspace_stats(pairs[0][0]), "INFO stats differ (seed %d)" % seed
    finally:
        for c in pairs[0]:
            c.cmd("CONFIG", "SET", "hash-max-listpack-entries", "512")
            c.cmd("CONFIG", "SET", "hash-max-listpack-value", "64")
            c.cmd("CONFIG", "SET", "list-max-listpack-size", "-2")
        for pair in pairs:
            for c in pair:
                c.close()


def test_randomkey_finds_the_live_key_among_expired(server, redis_port):
    """Expired keys still stored (active expiry off) do not hide the one live key."""
    for port_conn in (Conn(redis_port), server.conn()):
        c = port_conn
        try:
            assert c.cmd("FLUSHALL") == "OK"
            assert c.cmd("DEBUG", "SET-ACTIVE-EXPIRE", "0") == "OK"
            assert c.pipeline([("SET", "gone:%d" % i, "v", "PX", "1") for i in range(300)]) == ["OK"] * 300
            assert c.cmd("SET", "live", "v") == "OK"
            until = time.monotonic() + 0.005
            wait_until(lambda: time.monotonic() > until, interval=0.001, message="the TTLs to run out")
            assert c.cmd("DBSIZE") == 301
            assert c.cmd("RANDOMKEY") == b"live"
            assert c.cmd("DEL", "live") == 1
            assert c.cmd("RANDOMKEY") is None
            assert c.cmd("DBSIZE") == 0
        finally:
            c.cmd("DEBUG", "SET-ACTIVE-EXPIRE", "1")
            c.close()


def test_debug_digest_of_the_dataset_is_redis_own(server, redis_port):
    """DEBUG DIGEST folds each key's digest in through SHA-1 (Redis's xorDigest), database by
    database, and counts keys past their deadline that are still stored: the same data gives
    the same 40 digits on both servers, whichever shard holds each key."""
    digests = []
    for c in (Conn(redis_port), server.conn()):
        try:
            assert c.cmd("FLUSHALL") == "OK"
            steps = [c.cmd("DEBUG", "DIGEST")]
            c.cmd("SET", "a", "1")
            steps.append(c.cmd("DEBUG", "DIGEST"))
            for i in range(40):
                c.cmd("SET", "k%d" % i, "v%d" % i)
            c.cmd("SET", "n", "12345")
            c.cmd("SET", "ttl", "x", "EX", "1000")
            c.cmd("XADD", "s", "1-1", "f", "v", "n", "123")
            c.cmd("XADD", "s", "2-5", "g", "w")
            c.cmd("SELECT", "7")
            c.cmd("SET", "a", "1")
            c.cmd("SELECT", "0")
            steps.append(c.cmd("DEBUG", "DIGEST"))
            # Expired but not yet deleted (active expiry off, nothing looked up): still digested.
            assert c.cmd("DEBUG", "SET-ACTIVE-EXPIRE", "0") == "OK"
            c.cmd("SET", "gone", "v", "PX", "1")
            until = time.monotonic() + 0.005
            wait_until(lambda: time.monotonic() > until, interval=0.001, message="the TTL to run out")
            steps.append(c.cmd("DEBUG", "DIGEST"))
            steps.append(c.cmd("DEBUG", "DIGEST-VALUE", "gone", "a", "s", "missing"))
            digests.append(steps)
        finally:
            c.cmd("DEBUG", "SET-ACTIVE-EXPIRE", "1")
            c.cmd("FLUSHALL")
            c.close()
    assert digests[0][0] == "0" * 40
    assert digests[0][3] != digests[0][2]
    assert digests[1] == digests[0]


# MARK: CONFIG SET / GET

# Parameters both servers have and that are safe to change under a running test (not the
# port, files, password, replication target, memory limit, idle timeout or maxclients,
# which Redis resizes its event loop for).
CONFIG_PARAMETERS = [
    "databases", "hz", "dynamic-hz", "tcp-keepalive", "tcp-backlog", "protected-mode", "proto-max-bulk-len",
    "client-query-buffer-limit", "maxmemory-policy", "maxmemory-clients", "maxmemory-samples",
    "maxmemory-eviction-tenacity", "lazyfree-lazy-eviction", "lazyfree-lazy-expire", "lazyfree-lazy-server-del",
    "lazyfree-lazy-user-del", "lazyfree-lazy-user-flush", "lfu-log-factor", "lfu-decay-time", "active-expire-effort",
    "activerehashing", "activedefrag", "jemalloc-bg-thread", "stop-writes-on-bgsave-error", "rdbcompression",
    "rdbchecksum", "rdb-del-sync-files", "aof-use-rdb-preamble", "no-appendfsync-on-rewrite",
    "auto-aof-rewrite-percentage", "auto-aof-rewrite-min-size", "appendfsync", "repl-backlog-size",
    "repl-backlog-ttl", "repl-timeout", "repl-ping-replica-period", "repl-diskless-sync", "repl-diskless-sync-delay",
    "repl-diskless-load", "replica-read-only", "replica-serve-stale-data", "replica-lazy-flush", "replica-priority",
    "min-replicas-to-write", "min-replicas-max-lag", "slowlog-log-slower-than", "slowlog-max-len",
    "latency-monitor-threshold", "latency-tracking", "busy-reply-threshold", "notify-keyspace-events",
    "list-max-listpack-size", "list-compress-depth", "hash-max-listpack-entries", "hash-max-listpack-value",
    "set-max-intset-entries", "zset-max-listpack-entries", "zset-max-listpack-value", "hll-sparse-max-bytes",
    "loglevel", "daemonize", "nosuch-parameter",
]
CONFIG_VALUES = [
    b"0", b"1", b"-1", b"-5", b"100", b"1000000", b"yes", b"no", b"YES", b"abc", b"", b" 1", b"+1", b"01", b"1.5",
    b"1k", b"1kb", b"2mb", b"1gb", b"1G", b"1b", b"1m", b"9223372036854775807", b"9223372036854775808",
    b"-9223372036854775808", b"18446744073709551615", b"4294967295", b"4294967296", b"2147483647", b"2147483648",
    b"0%", b"50%", b"100%", b"101%", b"-1%", b"%", b"5 %", b"05%", b"allkeys-lru", b"volatile-lfu",
    b"noeviction", b"KEA", b"Ex", b"g$", b"xyz", b"everysec", b"always", b"swapdb", b"disabled", b"on-empty-db",
    b"warning", b"debug", b"10 20", b"1000 64",
]


@pytest.mark.parametrize("seed", seeds()[:2] if not os.environ.get("DIFF_SEEDS") else seeds())
def test_config_set_get_same_as_redis(server, redis_port, seed):
    """Random CONFIG SET calls (valid and invalid values, several pairs, repeats) get the
    same replies, and CONFIG GET then shows the same values."""
    r = random.Random(seed)
    redis, vk = Conn(redis_port), server.conn()
    differ = Differ(seed, [(redis, vk)])
    saved = {c: dict(zip(*[iter(c.cmd("CONFIG", "GET", "*"))] * 2)) for c in (redis, vk)}
    try:
        for _ in range(1500):
            names = [r.choice(CONFIG_PARAMETERS) for _ in range(1 if r.random() < 0.85 else 2)]
            if r.random() < 0.03:
                names.append(names[0])
            args = [b"CONFIG", word("set", r)]
            for name in names:
                args += [name.upper().encode() if r.random() < 0.1 else name.encode(), r.choice(CONFIG_VALUES)]
            differ.run(args)
            differ.run([b"CONFIG", b"GET"] + [n.encode() for n in names])
    finally:
        for c, values in saved.items():
            for name in CONFIG_PARAMETERS:
                if name.encode() in values:
                    c.cmd("CONFIG", "SET", name, values[name.encode()])
        redis.close()
        vk.close()


# MARK: COMMAND INFO / GETKEYSANDFLAGS

# Redis 7.2 subcommands ValKeyper has too (redis-py 5 sends CLIENT SETINFO on connect).
NEWER_THAN_REDIS_7_0 = {b"client|setinfo"}


def command_info(conn, name):
    """COMMAND INFO of one command with its subcommands sorted by name (Redis lists them in
    its dict's order) and those newer than Redis 7.0 left out."""
    info = conn.cmd("COMMAND", "INFO", name)[0]
    if info is None:
        return None
    subs = sorted((s for s in info[9] if s[0] not in NEWER_THAN_REDIS_7_0), key=lambda s: s[0])
    return info[:9] + [subs]


@pytest.mark.parametrize("protocol", ["2", "3"])
def test_command_info_same_as_redis(server, redis_port, protocol):
    """Every command ValKeyper lists is described as Redis describes it: arity, flags, key
    positions, ACL categories, tips, key specs and subcommands (a container may have more
    subcommands in Redis: those ValKeyper lacks)."""
    redis, vk = Conn(redis_port), server.conn()
    try:
        for c in (redis, vk):
            c.cmd("HELLO", protocol)
        for name in vk.cmd("COMMAND", "LIST"):
            if name in NEWER_THAN_REDIS_7_0:
                continue
            expected, actual = command_info(redis, name), command_info(vk, name)
            assert expected is not None, "%r is not a Redis 7.0 command" % name
            assert actual[:9] == expected[:9], name
            ours = {s[0] for s in actual[9]}
            assert [s for s in expected[9] if s[0] in ours] == actual[9], name
        for args in (["SET", "k", "v"], ["SET", "k", "v", "get"], ["RENAME", "a", "b"], ["COPY", "a", "b", "DB", "1"],
                     ["MSET", "a", "1", "b", "2"], ["MSET", "a", "1", "b"], ["DEL", "a", "b", "a"], ["MSETNX", "a", "1"],
                     ["OBJECT", "ENCODING", "k"], ["GETEX", "k"], ["EXISTS", "k"], ["GETDEL", "k"], ["MGET", "a"],
                     ["SET", "k"], ["PING"], ["NOSUCH", "k"], ["CONFIG", "GET", "x"], ["RENAMENX", "a", "b"]):
            for sub in ("GETKEYS", "GETKEYSANDFLAGS"):
                assert vk.raw("COMMAND", sub, *args) == redis.raw("COMMAND", sub, *args), (sub, args)
    finally:
        redis.close()
        vk.close()


def test_string_limit_follows_proto_max_bulk_len(server, redis_port):
    """APPEND and SETRANGE may build strings up to proto-max-bulk-len as configured now."""
    redis, vk = Conn(redis_port), server.conn()
    differ = Differ(0, [(redis, vk)])
    limit = 1024 * 1024
    try:
        for c in (redis, vk):
            assert c.cmd("FLUSHALL") == "OK"
            assert c.cmd("CONFIG", "SET", "proto-max-bulk-len", "1mb") == "OK"
        for args in (["SETRANGE", "s", limit - 1, "a"], ["SETRANGE", "s", limit, "a"], ["SETRANGE", "s", limit - 1, "ab"],
                     ["APPEND", "s", "b"], ["STRLEN", "s"], ["SET", "t", "x" * 1000], ["APPEND", "t", "y" * (limit - 1000)],
                     ["APPEND", "t", "z"], ["APPEND", "t", ""], ["SETRANGE", "n", limit, "x"], ["STRLEN", "n"]):
            differ.run([str(a).encode() for a in args])
    finally:
        for c in (redis, vk):
            c.cmd("CONFIG", "SET", "proto-max-bulk-len", "512mb")
            c.cmd("FLUSHALL")
        redis.close()
        vk.close()


def test_reply_keeps_the_protocol_it_was_sent_in(server, redis_port):
    """A reply that ValKeyper gathers from every worker (CLIENT LIST, INFO) is written in
    the protocol of its command, even when a HELLO pipelined after it has run already."""
    redis, vk = Conn(redis_port), server.conn()
    differ = Differ(0, [(redis, vk)])
    try:
        for first, then in (("2", "3"), ("3", "2")):
            differ.run([b"HELLO", first.encode()])
            differ.run_pipelined([[b"CLIENT", b"LIST", b"ID", b"99999"], [b"HELLO", then.encode()],
                                  [b"CLIENT", b"LIST", b"ID", b"99999"], [b"HELLO", first.encode()]])
            for c in (redis, vk):   # INFO's text differs between the servers: only its type must not
                c.send_raw(encode("INFO", "keyspace") + encode("HELLO", then) + encode("HELLO", first))
                replies = [c.read_raw() for _ in range(3)]
                assert replies[0][:1] == (b"$" if first == "2" else b"="), replies[0]
    finally:
        redis.close()
        vk.close()
