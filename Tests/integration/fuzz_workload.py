"""The write mix of the replication fuzz test: random commands over a small key space.

Every write command ValKeyper has (strings, generic key commands, streams and consumer
groups, sorted sets, lists), MULTI/EXEC blocks mixing them (some under WATCH), pipelines, and reads that make
the master expire keys lazily, across databases 0-15 with keys from a small pool so that
commands collide on the same keys, across shards and across types. TTLs are either short
(under 3 s, so keys expire during the run) or long (an hour or more, so they survive to the
final comparison); `short_deadline_ms` is the latest short deadline handed out, after which
no short TTL is left.

Besides the hot keys, each client writes fresh keys ("u:<client>:<n>") that nothing else
touches, deletes some later and changes the TTL of others: a write a replica lost or applied
in the wrong database stays visible there to the end, where on a hot key the next write
would hide it.

A generator belongs to one client; its choices come from its own seeded RNG. What it learns
from replies (stream IDs, its database after an EXEC) only steers later choices."""
import collections
import time

from support.resp import Error

DATABASES = 16
STRING_KEYS = ["a", "b", "c", "d", "n1", "n2", "f", "{t}1", "{t}2", "{t}3", "{u}1", "{u}2"]
STREAM_KEYS = ["s1", "s2", "{t}s", "{u}s"]
ZSET_KEYS = ["z1", "z2", "{t}z", "{t}z2", "{u}z"]
LIST_KEYS = ["l1", "l2", "{t}l", "{t}l2", "{u}l"]
LIST_ELEMENTS = ["a", "b", "c", "1", "-2", "", "y" * 80]
ZMEMBERS = ["m%d" % i for i in range(12)] + ["x" * 70]
GROUPS = ["g1", "g2"]
CONSUMERS = ["c1", "c2", "c3"]
FIELDS = ["f", "g", "h"]
SHORT_TTL_MS = (50, 3000)
LONG_TTL_MS = (3_600_000, 7_200_000)

# Errors that only a malformed command gets: the generator must never send one, so seeing
# one means the generator or the server's parser is wrong.
MALFORMED = ("ERR syntax error", "ERR unknown", "ERR wrong number of arguments", "ERR Protocol error")

BLOCK_MS = (1, 30)   # XREADGROUP ... BLOCK: short, so a client never waits long


def now_ms():
    return int(time.time() * 1000)


class SharedState:
    """What all clients of one run share: recent stream IDs (for XDEL/XACK/XCLAIM) and the
    latest short deadline."""

    def __init__(self):
        self.ids = collections.deque(maxlen=400)   # (db, key, id)
        self.short_deadline_ms = 0

    def note_deadline(self, ms):
        if ms > self.short_deadline_ms:
            self.short_deadline_ms = ms


class Generator:
    def __init__(self, rng, shared, client_name):
        self.r = rng
        self.shared = shared
        self.name = client_name
        self.db = 0
        self.fresh_count = 0
        self.fresh_keys = collections.deque(maxlen=64)   # (db, key) this client created
        self.builders = [
            (14, self.set_), (3, self.setex), (2, self.psetex), (2, self.setnx), (2, self.getset),
            (2, self.getdel), (3, self.getex), (3, self.append), (3, self.setrange), (6, self.counter),
            (3, self.incrbyfloat), (4, self.mset), (2, self.msetnx),
            (4, self.delete), (6, self.expire), (2, self.persist), (3, self.rename), (3, self.copy),
            (2, self.move), (1, self.swapdb), (1, self.flushdb), (0.05, self.flushall),
            (10, self.xadd), (2, self.xtrim), (2, self.xdel), (3, self.xgroup), (5, self.xreadgroup),
            (3, self.xack), (3, self.xclaim), (2, self.xautoclaim), (1, self.xsetid),
            (8, self.zadd), (2, self.zincrby), (2, self.zrem), (2, self.zpop), (1, self.zremrange),
            (1, self.zstore), (1, self.zmpop), (1, self.bzpop),
            (8, self.lpush), (3, self.lpop), (2, self.ledit), (2, self.lmove), (1, self.lmpop), (1, self.blpop),
            (8, self.read), (8, self.fresh),
        ]
        self.total = sum(w for w, _ in self.builders)

    # MARK: the next step

    def step(self):
        """The next thing to send: a list of commands and how to send them ("one", "pipeline"
        or "multi")."""
        r = self.r
        roll = r.random()
        if roll < 0.03:
            # Pipelined transactions: a cross-shard one may share its lock request with the
            # next ones (lock groups).
            return "multi", [c for _ in range(r.randint(2, 4)) for c in self.transaction()]
        if roll < 0.08:
            return "multi", self.transaction()
        if roll < 0.16:
            return "pipeline", [self.command() for _ in range(r.randint(2, 8))]
        if roll < 0.24:
            db = self.pick_db()
            return "one", [["SELECT", str(db)]]
        return "one", [self.command()]

    def command(self):
        x = self.r.random() * self.total
        for weight, build in self.builders:
            x -= weight
            if x < 0:
                return build()
        return self.builders[0][1]()

    def transaction(self):
        """MULTI, 1-6 commands (a SELECT among them now and then), EXEC; under WATCH 1 in 5."""
        r = self.r
        commands = []
        if r.random() < 0.2:
            commands.append(["WATCH"] + [self.any_key() for _ in range(r.randint(1, 3))])
        commands.append(["MULTI"])
        for _ in range(r.randint(1, 6)):
            if r.random() < 0.1:
                commands.append(["SELECT", str(self.pick_db())])
            else:
                commands.append(self.queued_command())
        commands.append(["EXEC"])
        return commands

    def queued_command(self):
        """A command for MULTI: anything but a blocking read (it would not block there)."""
        while True:
            c = self.command()
            if not (c[0] == "XREADGROUP" and "BLOCK" in c) and c[0] not in ("BZPOPMIN", "BZPOPMAX", "BZMPOP", "BLPOP",
                                                                          "BRPOP", "BLMPOP", "BLMOVE", "BRPOPLPUSH"):
                return c

    def observe(self, commands, replies):
        """Learns stream IDs and the connection's database from the replies of one step."""
        for c, reply in zip(commands, replies):
            if c[0] == "SELECT" and reply == "OK":
                self.db = int(c[1])
            elif c[0] == "XADD" and isinstance(reply, bytes):
                self.shared.ids.append((self.db, c[1], reply))
            elif c[0] == "EXEC" and isinstance(reply, list):
                queued = commands[commands.index(["MULTI"]) + 1:-1]
                db = self.db
                for q, qr in zip(queued, reply):
                    if q[0] == "SELECT" and qr == "OK":
                        db = int(q[1])
                    elif q[0] == "XADD" and isinstance(qr, bytes):
                        self.shared.ids.append((db, q[1], qr))
                self.db = db

    # MARK: arguments

    def pick_db(self):
        r = self.r
        return r.randint(0, 3) if r.random() < 0.7 else r.randint(0, DATABASES - 1)

    def string_key(self):
        return self.r.choice(STREAM_KEYS if self.r.random() < 0.04 else STRING_KEYS)

    def stream_key(self):
        return self.r.choice(STRING_KEYS if self.r.random() < 0.04 else STREAM_KEYS)

    def any_key(self):
        return self.r.choice(STRING_KEYS + STREAM_KEYS + ZSET_KEYS + LIST_KEYS)

    def list_key(self):
        return self.r.choice(STRING_KEYS if self.r.random() < 0.03 else LIST_KEYS)

    def zset_key(self):
        return self.r.choice(STRING_KEYS if self.r.random() < 0.03 else ZSET_KEYS)

    def value(self):
        r = self.r
        roll = r.random()
        if roll < 0.35:
            return str(r.randint(-1000, 1000))
        if roll < 0.45:
            return r.choice(["1.5", "-0.25", "3.0e2", "0", "9223372036854775807", "-9223372036854775808"])
        if roll < 0.9:
            return "v%d" % r.randint(0, 99)
        if roll < 0.97:
            return "x" * r.randint(30, 300)
        return bytes(r.randint(0, 255) for _ in range(r.randint(0, 12)))

    def ttl_ms(self):
        r = self.r
        if r.random() < 0.8:
            ms = r.randint(*SHORT_TTL_MS)
            self.shared.note_deadline(now_ms() + ms + 1000)
            return ms
        return r.randint(*LONG_TTL_MS)

    def ttl_option(self, keepttl=False, persist=False):
        """EX/PX/EXAT/PXAT with a short or long TTL (rarely a deadline already past)."""
        r = self.r
        forms = ["EX", "PX", "EXAT", "PXAT"] + (["KEEPTTL"] if keepttl else []) + (["PERSIST"] if persist else [])
        form = r.choice(forms)
        if form in ("KEEPTTL", "PERSIST"):
            return [form]
        if form in ("EXAT", "PXAT") and r.random() < 0.05:
            return [form, "1"]   # in the past: the key goes at once
        ms = self.ttl_ms()
        if form == "EX":
            return ["EX", str(max(1, ms // 1000))]
        if form == "PX":
            return ["PX", str(ms)]
        if form == "EXAT":
            return ["EXAT", str((now_ms() + ms) // 1000 + 1)]
        return ["PXAT", str(now_ms() + ms)]

    # MARK: strings

    def set_(self):
        r = self.r
        c = ["SET", self.string_key(), self.value()]
        roll = r.random()
        if roll < 0.15:
            c.append("NX")
        elif roll < 0.3:
            c.append("XX")
        if r.random() < 0.2:
            c.append("GET")
        if r.random() < 0.5:
            c += self.ttl_option(keepttl=True)
        return c

    def setex(self):
        return ["SETEX", self.string_key(), str(max(1, self.ttl_ms() // 1000)), self.value()]

    def psetex(self):
        return ["PSETEX", self.string_key(), str(self.ttl_ms()), self.value()]

    def setnx(self):
        return ["SETNX", self.string_key(), self.value()]

    def getset(self):
        return ["GETSET", self.string_key(), self.value()]

    def getdel(self):
        return ["GETDEL", self.string_key()]

    def getex(self):
        c = ["GETEX", self.string_key()]
        if self.r.random() < 0.8:
            c += self.ttl_option(persist=True)
        return c

    def append(self):
        return ["APPEND", self.string_key(), self.value()]

    def setrange(self):
        return ["SETRANGE", self.string_key(), str(self.r.randint(0, 40)), self.value()]

    def counter(self):
        r = self.r
        name = r.choice(["INCR", "DECR", "INCRBY", "DECRBY"])
        c = [name, r.choice(["n1", "n2", "{t}1", "{u}1", "a"]) if r.random() < 0.8 else self.string_key()]
        if name in ("INCRBY", "DECRBY"):
            c.append(str(r.choice([1, 2, 7, -3, 100, -1000, 9223372036854775807])))
        return c

    def incrbyfloat(self):
        return ["INCRBYFLOAT", self.r.choice(["f", "n1", "n2", "b"]),
                self.r.choice(["1.5", "-0.25", "1e3", "3", "-7", "0.1", "2.5e-3"])]

    def key_value_pairs(self):
        c = []
        for _ in range(self.r.randint(1, 4)):
            c += [self.string_key(), self.value()]
        return c

    def mset(self):
        return ["MSET"] + self.key_value_pairs()

    def msetnx(self):
        return ["MSETNX"] + self.key_value_pairs()

    # MARK: generic key commands

    def delete(self):
        return [self.r.choice(["DEL", "UNLINK"])] + [self.any_key() for _ in range(self.r.randint(1, 4))]

    def expire(self):
        r = self.r
        name = r.choice(["EXPIRE", "PEXPIRE", "EXPIREAT", "PEXPIREAT"])
        ms = self.ttl_ms()
        if r.random() < 0.05:
            ms = -r.randint(1, 5000)   # a deadline in the past deletes the key
        at = now_ms() + ms
        arg = {"EXPIRE": max(1, ms // 1000) if ms > 0 else ms // 1000, "PEXPIRE": ms,
               "EXPIREAT": at // 1000 + (1 if ms > 0 else 0), "PEXPIREAT": at}[name]
        c = [name, self.any_key(), str(arg)]
        c += r.choice([[], [], ["NX"], ["XX"], ["GT"], ["LT"], ["XX", "GT"], ["XX", "LT"]])
        return c

    def persist(self):
        return ["PERSIST", self.any_key()]

    def rename(self):
        return [self.r.choice(["RENAME", "RENAMENX"]), self.any_key(), self.any_key()]

    def copy(self):
        r = self.r
        c = ["COPY", self.any_key(), self.any_key()]
        if r.random() < 0.5:
            c += ["DB", str(self.pick_db())]
        if r.random() < 0.5:
            c.append("REPLACE")
        return c

    def move(self):
        return ["MOVE", self.any_key(), str(self.pick_db())]

    def swapdb(self):
        return ["SWAPDB", str(self.pick_db()), str(self.pick_db())]

    # Flushes stay rare (about a dozen FLUSHDB and one or two FLUSHALL in a minute): each one
    # also wipes the evidence of a write a replica got wrong. Other calls just read.

    def flushdb(self):
        if self.r.random() < 0.004:
            return ["FLUSHDB"] + self.r.choice([[], ["SYNC"], ["ASYNC"]])
        return ["DBSIZE"]

    def flushall(self):
        if self.r.random() < 0.01:
            return ["FLUSHALL"] + self.r.choice([[], ["SYNC"], ["ASYNC"]])
        return ["DBSIZE"]

    # MARK: streams

    def stream_id(self, key=None):
        """An ID seen on `key` in this database (or any), else a made-up one."""
        r = self.r
        known = [i for (db, k, i) in list(self.shared.ids) if db == self.db and (key is None or k == key)]
        if known and r.random() < 0.85:
            return r.choice(known)
        return "%d-%d" % (now_ms() - r.randint(0, 5000), r.randint(0, 2))

    def trim_arguments(self):
        r = self.r
        c = []
        approx = r.random() < 0.5
        if r.random() < 0.7:
            c += ["MAXLEN"] + (["~"] if approx else r.choice([[], ["="]])) + [str(r.randint(0, 30))]
        else:
            c += ["MINID"] + (["~"] if approx else r.choice([[], ["="]])) + [
                "%d" % (now_ms() - r.randint(0, 8000))]
        if approx and r.random() < 0.3:
            c += ["LIMIT", str(r.randint(0, 20))]
        return c

    def xadd(self):
        r = self.r
        key = self.stream_key()
        c = ["XADD", key]
        if r.random() < 0.05:
            c.append("NOMKSTREAM")
        if r.random() < 0.3:
            c += self.trim_arguments()
        roll = r.random()
        if roll < 0.85:
            c.append("*")
        elif roll < 0.95:
            c.append("%d-*" % (now_ms() + r.randint(-100, 100)))
        else:
            c.append("%d-%d" % (now_ms() + r.randint(-100, 100), r.randint(0, 5)))
        fields = FIELDS[:r.randint(1, 3)] if r.random() < 0.8 else [r.choice(FIELDS + ["z"])]
        for f in fields:
            c += [f, self.value()]
        return c

    def xtrim(self):
        return ["XTRIM", self.stream_key()] + self.trim_arguments()

    def xdel(self):
        key = self.stream_key()
        return ["XDEL", key] + [self.stream_id(key) for _ in range(self.r.randint(1, 3))]

    def xgroup(self):
        r = self.r
        key, group = self.stream_key(), r.choice(GROUPS)
        sub = r.choice(["CREATE", "CREATE", "SETID", "DESTROY", "CREATECONSUMER", "DELCONSUMER"])
        if sub in ("CREATE", "SETID"):
            c = ["XGROUP", sub, key, group, r.choice(["$", "0", self.stream_id(key)])]
            if sub == "CREATE" and r.random() < 0.5:
                c.append("MKSTREAM")
            if r.random() < 0.3:
                c += ["ENTRIESREAD", str(r.randint(0, 20))]
            return c
        if sub == "DESTROY":
            if r.random() < 0.5:   # keep groups around long enough to have pending entries
                return ["XINFO", "GROUPS", key]
            return ["XGROUP", "DESTROY", key, group]
        return ["XGROUP", sub, key, group, r.choice(CONSUMERS)]

    def xreadgroup(self):
        r = self.r
        keys = list({self.stream_key() for _ in range(r.randint(1, 2))})
        c = ["XREADGROUP", "GROUP", r.choice(GROUPS), r.choice(CONSUMERS)]
        if r.random() < 0.7:
            c += ["COUNT", str(r.randint(1, 5))]
        if r.random() < 0.1:
            c += ["BLOCK", str(r.randint(*BLOCK_MS))]
        if r.random() < 0.15:
            c.append("NOACK")
        c.append("STREAMS")
        c += keys
        c += [">" if r.random() < 0.85 else "0" for _ in keys]
        return c

    def xack(self):
        key = self.stream_key()
        return ["XACK", key, self.r.choice(GROUPS)] + [self.stream_id(key) for _ in range(self.r.randint(1, 3))]

    def xclaim(self):
        r = self.r
        key = self.stream_key()
        c = ["XCLAIM", key, r.choice(GROUPS), r.choice(CONSUMERS), str(r.choice([0, 0, 10, 1000]))]
        c += [self.stream_id(key) for _ in range(r.randint(1, 3))]
        if r.random() < 0.2:
            c += ["IDLE", str(r.randint(0, 5000))]
        elif r.random() < 0.2:
            c += ["TIME", str(now_ms() - r.randint(0, 5000))]
        if r.random() < 0.2:
            c += ["RETRYCOUNT", str(r.randint(0, 5))]
        if r.random() < 0.2:
            c.append("FORCE")
        if r.random() < 0.3:
            c.append("JUSTID")
        if r.random() < 0.1:
            c += ["LASTID", self.stream_id(key)]
        return c

    def xautoclaim(self):
        r = self.r
        key = self.stream_key()
        c = ["XAUTOCLAIM", key, r.choice(GROUPS), r.choice(CONSUMERS), str(r.choice([0, 0, 10, 1000])),
             r.choice(["0-0", "0", self.stream_id(key)])]
        if r.random() < 0.5:
            c += ["COUNT", str(r.randint(1, 10))]
        if r.random() < 0.3:
            c.append("JUSTID")
        return c

    def xsetid(self):
        r = self.r
        key = self.stream_key()
        c = ["XSETID", key, "%d-%d" % (now_ms() + r.randint(0, 100), r.randint(0, 3))]
        if r.random() < 0.3:
            c += ["ENTRIESADDED", str(r.randint(0, 100000))]
            if r.random() < 0.5:
                c += ["MAXDELETEDID", self.stream_id(key)]
        return c

    # MARK: fresh keys (written once, deleted or given a TTL once: nothing heals a lost write)

    # MARK: sorted sets

    def zscore(self):
        r = self.r
        return r.choice(["0", "1", "-1", "1.5", "2.25", "100", "-inf", "inf", str(r.randint(-50, 50))])

    def zadd(self):
        r = self.r
        flags = [f for f in ("NX", "XX", "GT", "CH") if r.random() < 0.1]
        if "NX" in flags and "GT" in flags:
            flags.remove("GT")
        if r.random() < 0.1:
            return ["ZADD", self.zset_key()] + flags + ["INCR", self.zscore(), r.choice(ZMEMBERS)]
        pairs = []
        for _ in range(r.randint(1, 5) if r.random() < 0.95 else 140):
            pairs += [self.zscore(), r.choice(ZMEMBERS) if r.random() < 0.9 else "n%d" % r.randint(0, 300)]
        return ["ZADD", self.zset_key()] + flags + pairs

    def zincrby(self):
        return ["ZINCRBY", self.zset_key(), self.zscore(), self.r.choice(ZMEMBERS)]

    def zrem(self):
        return ["ZREM", self.zset_key()] + self.r.sample(ZMEMBERS, self.r.randint(1, 3))

    def zpop(self):
        r = self.r
        return [r.choice(["ZPOPMIN", "ZPOPMAX"]), self.zset_key()] + ([str(r.randint(1, 4))] if r.random() < 0.5 else [])

    def zremrange(self):
        r = self.r
        return r.choice([["ZREMRANGEBYRANK", self.zset_key(), "0", str(r.randint(0, 3))],
                         ["ZREMRANGEBYSCORE", self.zset_key(), "-inf", str(r.randint(-10, 10))]])

    def zstore(self):
        """Sets built from sets, their keys on one shard or on several."""
        r = self.r
        keys = r.sample(ZSET_KEYS, 2)
        return r.choice([
            ["ZUNIONSTORE", self.zset_key(), "2"] + keys + ["WEIGHTS", "1", "2"],
            ["ZINTERSTORE", self.zset_key(), "2"] + keys + ["AGGREGATE", r.choice(["MIN", "MAX", "SUM"])],
            ["ZDIFFSTORE", self.zset_key(), "2"] + keys,
            ["ZRANGESTORE", self.zset_key(), keys[0], "0", str(r.randint(0, 5))],
        ])

    def zmpop(self):
        r = self.r
        keys = r.sample(ZSET_KEYS, r.randint(1, 3))
        return ["ZMPOP", str(len(keys))] + keys + [r.choice(["MIN", "MAX"]), "COUNT", str(r.randint(1, 3))]

    def bzpop(self):
        """A blocking pop that waits a moment at most (its keys on one shard)."""
        r = self.r
        keys = r.choice([["{t}z"], ["{t}z", "{t}z2"], ["{u}z"], ["z1"], ["z2"]])
        timeout = "0.0%d" % r.randint(1, 3)
        if r.random() < 0.5:
            return [r.choice(["BZPOPMIN", "BZPOPMAX"])] + keys + [timeout]
        return ["BZMPOP", timeout, str(len(keys))] + keys + [r.choice(["MIN", "MAX"])]

    # MARK: lists

    def lpush(self):
        r = self.r
        return [r.choice(["LPUSH", "RPUSH", "LPUSHX", "RPUSHX"]), self.list_key()] + \
            [r.choice(LIST_ELEMENTS) for _ in range(r.choice([1, 1, 3, 50]))]

    def lpop(self):
        r = self.r
        return [r.choice(["LPOP", "RPOP"]), self.list_key()] + ([str(r.randint(0, 4))] if r.random() < 0.5 else [])

    def ledit(self):
        r = self.r
        key, e = self.list_key(), r.choice(LIST_ELEMENTS)
        return r.choice([["LSET", key, str(r.randint(-3, 3)), e], ["LREM", key, str(r.randint(-2, 2)), e],
                         ["LINSERT", key, r.choice(["BEFORE", "AFTER"]), r.choice(LIST_ELEMENTS), e],
                         ["LTRIM", key, str(r.randint(-5, 2)), str(r.randint(-3, 30))]])

    def lmove(self):
        """LMOVE/RPOPLPUSH, their keys on one shard or two."""
        r = self.r
        if r.random() < 0.3:
            return ["RPOPLPUSH", self.list_key(), self.list_key()]
        return ["LMOVE", self.list_key(), self.list_key(), r.choice(["LEFT", "RIGHT"]), r.choice(["LEFT", "RIGHT"])]

    def lmpop(self):
        r = self.r
        keys = r.sample(LIST_KEYS, r.randint(1, 3))
        return ["LMPOP", str(len(keys))] + keys + [r.choice(["LEFT", "RIGHT"]), "COUNT", str(r.randint(1, 3))]

    def blpop(self):
        """A blocking list pop that waits a moment at most (its keys on one shard or several)."""
        r = self.r
        keys = r.choice([["{t}l"], ["{t}l", "{t}l2"], ["{u}l"], ["l1"], ["l2"], ["l1", "{u}l", "l2"], ["{t}l", "{u}l"]])
        timeout = "0.0%d" % r.randint(1, 3)
        roll = r.random()
        if roll < 0.4:
            return [r.choice(["BLPOP", "BRPOP"])] + keys + [timeout]
        if roll < 0.7:
            return ["BLMPOP", timeout, str(len(keys))] + keys + [r.choice(["LEFT", "RIGHT"]), "COUNT", "2"]
        return ["BLMOVE", keys[0], r.choice(LIST_KEYS), r.choice(["LEFT", "RIGHT"]), r.choice(["LEFT", "RIGHT"]), timeout]

    def fresh_key(self):
        self.fresh_count += 1
        key = "u:%s:%d" % (self.name, self.fresh_count)
        self.fresh_keys.append((self.db, key))
        return key

    def fresh(self):
        """A write to keys no other command touches: the hot keys above are rewritten all
        the time, which hides a write a replica lost or applied in the wrong database."""
        r = self.r
        mine = [k for db, k in self.fresh_keys if db == self.db]
        roll = r.random()
        if roll < 0.45 or not mine:
            c = ["SET", self.fresh_key(), self.value()]
            if r.random() < 0.3:
                c += ["EX", str(r.randint(*LONG_TTL_MS) // 1000)]
            return c
        if roll < 0.65:
            return ["MSET", self.fresh_key(), self.value(), self.fresh_key(), self.value()]
        if roll < 0.9:
            return ["DEL"] + r.sample(mine, min(len(mine), r.randint(1, 3)))
        return r.choice([["PEXPIRE", r.choice(mine), str(r.randint(*LONG_TTL_MS))], ["PERSIST", r.choice(mine)]])

    # MARK: reads (the master expires what they find past its deadline, and propagates DEL)

    def read(self):
        r = self.r
        key = self.any_key()
        return r.choice([
            ["GET", key], ["EXISTS", key, self.any_key()], ["TTL", key], ["PTTL", key], ["TYPE", key],
            ["MGET", key, self.any_key(), self.any_key()], ["STRLEN", key], ["SCAN", "0", "COUNT", "100"],
            ["KEYS", "*"], ["XLEN", key], ["XRANGE", key, "-", "+", "COUNT", "5"], ["XPENDING", key, r.choice(GROUPS)],
            ["RANDOMKEY"], ["DBSIZE"], ["EXPIRETIME", key], ["OBJECT", "ENCODING", key],
            ["LRANGE", key, "0", "-1"], ["LLEN", key], ["LINDEX", key, "0"], ["LPOS", key, "a"],
        ])


def out_of_step(commands, replies):
    """A reply that cannot belong to its command (replies arriving out of order or twice),
    described; None if every reply fits."""
    in_multi = False
    for c, reply in zip(commands, replies):
        name = c[0]
        if isinstance(reply, Error) and not in_multi:
            continue
        if in_multi and name != "EXEC":
            fits = reply == "QUEUED" or isinstance(reply, Error)
        elif name in ("SELECT", "MULTI", "WATCH", "SET", "MSET", "SETEX", "PSETEX", "SWAPDB", "FLUSHDB",
                      "FLUSHALL", "RENAME") and "GET" not in c:
            fits = reply == "OK" or (name == "SET" and reply is None)
        elif name == "EXEC":
            fits = reply is None or isinstance(reply, (list, Error))
        elif name in ("INCR", "DECR", "INCRBY", "DECRBY", "APPEND", "SETRANGE", "DEL", "UNLINK", "EXISTS",
                      "MSETNX", "SETNX", "RENAMENX", "COPY", "MOVE", "PERSIST", "XDEL", "XTRIM", "XACK", "XLEN",
                      "TTL", "PTTL", "EXPIRETIME", "STRLEN", "DBSIZE") or name.endswith("EXPIRE") or \
                name.endswith("EXPIREAT"):
            fits = isinstance(reply, int) and not isinstance(reply, bool)
        elif name in ("XREADGROUP", "XAUTOCLAIM", "XCLAIM", "MGET", "KEYS", "SCAN", "XRANGE"):
            fits = reply is None or isinstance(reply, list)
        else:
            fits = True
        if name == "MULTI":
            in_multi = True
        elif name == "EXEC":
            in_multi = False
        if not fits:
            return "%r got %r" % (c, reply)
    return None


def malformed(reply):
    """The text of an error reply no well-formed command gets, else None."""
    if isinstance(reply, Error) and str(reply).startswith(MALFORMED):
        return str(reply)
    return None
