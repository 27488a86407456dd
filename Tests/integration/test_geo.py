"""Geo commands (Redis 7.0's geo.c) against redis-server 7.0: GEOADD, GEOPOS, GEODIST, GEOHASH,
GEOSEARCH(STORE), GEORADIUS(BYMEMBER)(_RO) replies byte for byte in RESP2 and RESP3, their
errors, randomized point sets searched with every option, the STORE forms with keys on one
shard and on two, and what replicas receive (GEOADD goes out as the ZADD Redis rewrites it to)."""
import random
import socket

import pytest

from support.differential import paired, same
from support.replication import link_up
from support.slots import keys_on_two_shards
from support.waiting import wait_until


@pytest.fixture
def both(server, redis_port):
    with paired(server, redis_port) as conns:
        yield conns


SICILY = ("GEOADD", "Sicily", "13.361389", "38.115556", "Palermo", "15.087269", "37.502669", "Catania")

BASICS = [
    SICILY,
    ("GEOADD", "Sicily", "CH", "13.3614", "38.115556", "Palermo", "1", "2", "x"),
    ("GEOADD", "Sicily", "NX", "0", "0", "x", "3", "4", "y"), ("GEOADD", "Sicily", "XX", "CH", "5", "6", "y", "7", "8", "w"),
    ("GEOADD", "Sicily", "NX", "XX", "1", "2", "y"), ("GEOADD", "Sicily", "1", "2"), ("GEOADD", "Sicily", "GT", "1", "2", "y"),
    ("GEOADD", "Sicily", "200", "100", "z"), ("GEOADD", "Sicily", "1", "abc", "z"), ("GEOADD", "Sicily", "1", "85.06", "z"),
    ("GEOADD", "Sicily", "-180", "-85.05112878", "corner"), ("GEOADD", "Sicily", "180", "85.05112878", "corner2"),
    ("GEOADD", "Sicily", "1", "2", "m", "1000", "2", "n"), ("EXISTS", "n"), ("GEOADD", "Sicily", "nan", "2", "m"),
    ("GEOADD", "Sicily", " 1", "2", "m"), ("GEOADD", "Sicily", "1e1", "2e-1", "e"), ("GEOADD", "Sicily"),
    ("ZRANGE", "Sicily", "0", "-1", "WITHSCORES"),
    ("GEODIST", "Sicily", "Palermo", "Catania"), ("GEODIST", "Sicily", "Palermo", "Catania", "km"),
    ("GEODIST", "Sicily", "Palermo", "Catania", "MI"), ("GEODIST", "Sicily", "Palermo", "Catania", "ft"),
    ("GEODIST", "Sicily", "Palermo", "Catania", "foo"), ("GEODIST", "Sicily", "Palermo", "nope"),
    ("GEODIST", "nokey", "a", "b"), ("GEODIST", "nokey", "a", "b", "foo"), ("GEODIST", "Sicily", "a", "b", "c", "d"),
    ("GEODIST", "Sicily", "Palermo", "Palermo"), ("GEODIST", "Sicily", "corner", "corner2"),
    ("GEOHASH", "Sicily", "Palermo", "Catania", "nope", "corner", "corner2", "e"), ("GEOHASH", "nokey", "a"),
    ("GEOPOS", "Sicily", "Palermo", "Catania", "nope", "corner", "corner2", "e"), ("GEOPOS", "nokey", "a", "b"),
    ("ZADD", "Sicily", "-5", "neg", "1e300", "huge", "4503599627370496", "big", "0", "zero", "inf", "inf"),
    ("GEOPOS", "Sicily", "neg", "huge", "big", "zero", "inf"), ("GEOHASH", "Sicily", "neg", "huge", "big", "zero"),
    ("GEODIST", "Sicily", "neg", "huge"),
    ("GEORADIUS", "Sicily", "15", "37", "200", "km", "WITHDIST"),
    ("GEORADIUS", "Sicily", "15", "37", "200", "km", "WITHCOORD", "WITHDIST", "WITHHASH"),
    ("GEORADIUS", "Sicily", "15", "37", "200", "km", "WITHDIST", "DESC"), ("GEORADIUS", "Sicily", "15", "37", "200", "km", "COUNT", "1"),
    ("GEORADIUS", "Sicily", "15", "37", "200", "km", "COUNT", "1", "ANY"), ("GEORADIUS", "Sicily", "15", "37", "200", "km", "ANY"),
    ("GEORADIUS", "Sicily", "15", "37", "200", "km", "COUNT", "0"), ("GEORADIUS", "Sicily", "15", "37", "200", "km", "COUNT", "x"),
    ("GEORADIUS", "Sicily", "15", "37", "200", "km", "COUNT"), ("GEORADIUS", "Sicily", "15", "37", "-1", "km"),
    ("GEORADIUS", "Sicily", "15", "37", "abc", "km"), ("GEORADIUS", "Sicily", "15", "37", "200", "xx"),
    ("GEORADIUS", "Sicily", "x", "37", "200", "km"), ("GEORADIUS", "Sicily", "181", "37", "200", "km"),
    ("GEORADIUS", "Sicily", "15", "37", "200", "km", "STORE", "dst", "WITHDIST"),
    ("GEORADIUS", "Sicily", "15", "37", "200", "km", "STORE", "dst"), ("ZRANGE", "dst", "0", "-1", "WITHSCORES"),
    ("GEORADIUS", "Sicily", "15", "37", "200", "km", "STOREDIST", "dst"), ("ZRANGE", "dst", "0", "-1", "WITHSCORES"),
    ("GEORADIUS", "Sicily", "15", "37", "200", "km", "STORE", "dst", "STOREDIST", "dst2"), ("ZRANGE", "dst2", "0", "-1", "WITHSCORES"),
    ("GEORADIUS", "Sicily", "15", "37", "1", "m", "STORE", "dst"), ("EXISTS", "dst"),
    ("GEORADIUS", "nokey", "15", "37", "1", "m", "STORE", "dst2"), ("EXISTS", "dst2"),
    ("GEORADIUS", "Sicily", "15", "37", "200", "km", "STORE"),
    ("GEORADIUS_RO", "Sicily", "15", "37", "200", "km", "STORE", "dst"), ("GEORADIUS_RO", "Sicily", "15", "37", "200", "km", "WITHDIST"),
    ("GEORADIUSBYMEMBER", "Sicily", "Palermo", "200", "km", "WITHDIST"), ("GEORADIUSBYMEMBER", "Sicily", "nope", "200", "km"),
    ("GEORADIUSBYMEMBER", "nokey", "nope", "abc", "km", "WITHDIST"), ("GEORADIUSBYMEMBER", "nokey", "nope", "abc", "km", "STORE", "d"),
    ("GEORADIUSBYMEMBER", "Sicily", "Palermo", "200", "km", "STORE", "bym"), ("ZRANGE", "bym", "0", "-1", "WITHSCORES"),
    ("GEORADIUSBYMEMBER_RO", "Sicily", "Palermo", "200", "km", "WITHCOORD", "COUNT", "1", "DESC"),
    ("GEOSEARCH", "Sicily", "FROMMEMBER", "Palermo", "BYRADIUS", "200", "km", "WITHDIST", "ASC"),
    ("GEOSEARCH", "Sicily", "FROMLONLAT", "15", "37", "BYBOX", "400", "400", "km", "WITHDIST", "WITHCOORD"),
    ("GEOSEARCH", "Sicily", "FROMLONLAT", "15", "37", "BYBOX", "400", "-400", "km"),
    ("GEOSEARCH", "Sicily", "FROMLONLAT", "15", "37", "BYBOX", "x", "y", "km"),
    ("GEOSEARCH", "Sicily", "FROMLONLAT", "15", "37", "BYBOX", "4", "y", "km"),
    ("GEOSEARCH", "Sicily", "FROMLONLAT", "15", "37", "BYBOX", "4", "4", "kms"),
    ("GEOSEARCH", "Sicily", "FROMLONLAT", "15", "37", "BYRADIUS", "200", "km", "BYBOX", "1", "1", "km"),
    ("GEOSEARCH", "Sicily", "BYRADIUS", "200", "km"), ("GEOSEARCH", "Sicily", "FROMLONLAT", "15", "37"),
    ("GEOsearch", "Sicily", "FROMLONLAT", "15", "37", "count", "2"),
    ("GEOSEARCH", "Sicily", "FROMMEMBER", "Palermo", "FROMLONLAT", "1", "2", "BYRADIUS", "10", "km"),
    ("GEOSEARCH", "Sicily", "FROMMEMBER", "nope", "BYRADIUS", "10", "km"),
    ("GEOSEARCH", "nokey", "FROMMEMBER", "Palermo", "BYRADIUS", "10", "km"),
    ("GEOSEARCH", "Sicily", "FROMLONLAT", "15", "37", "BYRADIUS", "200", "km", "STORE", "x"),
    ("GEOSEARCH", "Sicily", "FROMLONLAT", "15", "37", "BYRADIUS", "200", "km", "ANY"),
    ("GEOSEARCH", "Sicily", "FROMLONLAT", "15", "37", "BYRADIUS", "200", "km", "STOREDIST"),
    ("GEOSEARCHSTORE", "dst", "Sicily", "FROMLONLAT", "15", "37", "BYRADIUS", "200", "km", "STOREDIST"),
    ("ZRANGE", "dst", "0", "-1", "WITHSCORES"),
    ("GEOSEARCHSTORE", "dst", "Sicily", "FROMLONLAT", "15", "37", "BYRADIUS", "200", "km", "WITHDIST"),
    ("GEOSEARCHSTORE", "dst", "Sicily", "FROMLONLAT", "15", "37", "BYRADIUS", "200", "km", "STORE", "x"),
    ("GEOSEARCHSTORE", "dst", "nokey", "FROMMEMBER", "a", "BYRADIUS", "200", "km"), ("EXISTS", "dst"),
    ("SET", "str", "x"), ("GEOADD", "str", "1", "2", "a"), ("GEOPOS", "str", "a"), ("GEOHASH", "str", "a"),
    ("GEODIST", "str", "a", "b"), ("GEODIST", "str", "a", "b", "foo"), ("GEOSEARCH", "str", "x"),
    ("GEORADIUS", "str", "x", "y", "z", "w"), ("GEORADIUSBYMEMBER", "str", "x", "y", "z"),
    ("GEOSEARCHSTORE", "dst", "str", "FROMMEMBER", "a", "BYRADIUS", "200", "km"),
    ("GEOPOS", "Sicily"), ("GEOSEARCH", "Sicily", "FROMLONLAT", "15", "37", "BYRADIUS", "200"),
]


@pytest.mark.parametrize("protocol", ["2", "3"])
def test_commands_and_errors_match_redis(both, protocol):
    for c in both:
        c.cmd("HELLO", protocol)
    same(both, *BASICS)


def random_points(rng, n, around=None):
    points = []
    for i in range(n):
        if around and rng.random() < 0.9:
            lon = max(-180, min(180, around[0] + rng.uniform(-3, 3)))
            lat = max(-85, min(85, around[1] + rng.uniform(-3, 3)))
        else:
            lon, lat = rng.uniform(-180, 180), rng.uniform(-85.05, 85.05)
        points.append(("%.6f" % lon, "%.6f" % lat, "m%d" % i))
    return points


def random_queries(rng, key, members, centres, count):
    """GEOSEARCH and GEORADIUS queries with every option mixed in."""
    units = ["m", "km", "ft", "mi", "KM"]
    queries = []
    for _ in range(count):
        lon, lat = rng.choice(centres)
        unit = rng.choice(units)
        scale = {"m": 1, "km": 1000, "ft": 0.3048, "mi": 1609.34, "KM": 1000}[unit]
        radius = "%.3f" % (rng.choice([1e3, 5e4, 2e5, 1e6, 5e6]) * rng.random() / scale)
        opts = []
        if rng.random() < 0.5:
            opts.append(rng.choice(["ASC", "DESC"]))
        if rng.random() < 0.4:
            opts += ["COUNT", str(rng.randint(1, 50))]
            # ANY returns the first found: compared as is, the scan order is the same.
            if rng.random() < 0.3:
                opts.append("ANY")
        with_opts = [o for o in ("WITHCOORD", "WITHDIST", "WITHHASH") if rng.random() < 0.5]
        form = rng.randrange(4)
        if form == 0:
            args = ["GEOSEARCH", key, "FROMLONLAT", lon, lat, "BYRADIUS", radius, unit]
        elif form == 1:
            args = ["GEOSEARCH", key, "FROMMEMBER", rng.choice(members), "BYBOX", radius,
                    "%.3f" % (float(radius) * rng.uniform(0.2, 3)), unit]
        elif form == 2:
            args = ["GEORADIUS", key, lon, lat, radius, unit]
        else:
            args = ["GEORADIUSBYMEMBER_RO", key, rng.choice(members), radius, unit]
        opts += with_opts
        queries.append(tuple(args + opts))
    return queries


@pytest.mark.parametrize("seed", [1, 2])
def test_random_points_searched_like_redis(both, seed):
    rng = random.Random(seed)
    centres = [("13.361389", "38.115556"), ("-122.4", "37.7"), ("179.9", "0.5"), ("-179.95", "-10"),
               ("0", "84.9"), ("10", "-84.5"), ("0", "0")]
    points = []
    for c in centres:
        points += random_points(rng, 400, around=(float(c[0]), float(c[1])))
    points = [(lon, lat, "m%d" % i) for i, (lon, lat, _) in enumerate(points)]
    redis, vk = both
    for i in range(0, len(points), 500):
        cmd = ["GEOADD", "pts"] + [x for p in points[i:i + 500] for x in p]
        assert redis.raw(*cmd) == vk.raw(*cmd)
    members = [p[2] for p in points]
    protocol = rng.choice(["2", "3"])
    for c in both:
        c.cmd("HELLO", protocol)
    same(both, ("ZRANGE", "pts", "0", "-1", "WITHSCORES"), ("GEOPOS", "pts", *members[:300]),
         ("GEOHASH", "pts", *members[:300]), *[("GEODIST", "pts", rng.choice(members), rng.choice(members), u)
                                               for u in ("m", "km", "mi", "ft") for _ in range(50)])
    same(both, *random_queries(rng, "pts", members, centres + [(p[0], p[1]) for p in points[::97]], 1500))


def test_store_forms_with_keys_on_two_shards(both):
    src, dst = keys_on_two_shards("geo")
    rng = random.Random(7)
    points = random_points(rng, 300, around=(2.35, 48.85))
    cmds = [("GEOADD", src, *[x for p in points for x in p])]
    for d in (dst, src + "x"):
        cmds += [
            ("SET", d, "old"), ("EXPIRE", d, "100"),
            ("GEORADIUS", src, "2.35", "48.85", "100", "km", "STORE", d), ("TTL", d), ("TYPE", d),
            ("ZRANGE", d, "0", "-1", "WITHSCORES"),
            ("GEORADIUS", src, "2.35", "48.85", "100", "km", "COUNT", "7", "DESC", "STOREDIST", d),
            ("ZRANGE", d, "0", "-1", "WITHSCORES"), ("OBJECT", "ENCODING", d),
            ("GEORADIUSBYMEMBER", src, "m3", "50", "mi", "STORE", d), ("ZRANGE", d, "0", "-1", "WITHSCORES"),
            ("GEOSEARCHSTORE", d, src, "FROMLONLAT", "2.35", "48.85", "BYBOX", "100", "50", "km", "STOREDIST"),
            ("ZRANGE", d, "0", "-1", "WITHSCORES"),
            ("GEOSEARCHSTORE", d, src, "FROMMEMBER", "m1", "BYRADIUS", "1000", "km", "COUNT", "3", "ANY"),
            ("ZRANGE", d, "0", "-1", "WITHSCORES"),
            ("GEOSEARCHSTORE", d, src, "FROMLONLAT", "100", "10", "BYRADIUS", "1", "km"), ("EXISTS", d),
            ("SET", d, "old"), ("GEORADIUS", src, "100", "10", "1", "km", "STORE", d), ("EXISTS", d),
            ("GEOSEARCHSTORE", d, "nokey", "FROMLONLAT", "100", "10", "BYRADIUS", "1", "km"),
            ("GEOSEARCHSTORE", d, src, "FROMMEMBER", "nope", "BYRADIUS", "1", "km"),
            ("GEORADIUS", src, "2.35", "48.85", "100", "km", "STORE", d, "WITHCOORD"),
            ("GEOSEARCHSTORE", d, src, "FROMLONLAT", "2.35", "48.85", "BYRADIUS", "1", "km", "WITHHASH"),
            ("SET", src + "s", "x"), ("GEOSEARCHSTORE", d, src + "s", "FROMLONLAT", "1", "1", "BYRADIUS", "1", "km"),
        ]
    cmds.append(("GEOSEARCHSTORE", src, src, "FROMLONLAT", "2.35", "48.85", "BYRADIUS", "10", "km"))
    cmds.append(("ZCARD", src))
    same(both, *cmds)


class RawReplica:
    """A hand-made replica: PSYNC, skip the payload, then read the stream's commands."""

    def __init__(self, port, acks):
        self.acks = acks
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=1)
        self.buf = b""
        for cmd in (["REPLCONF", "listening-port", "1"], ["REPLCONF", "capa", "eof", "capa", "psync2"]):
            self.send(cmd)
            assert self.line() == b"+OK"
        self.send(["PSYNC", "?", "-1"])
        assert self.line().lstrip(b"\n").startswith(b"+FULLRESYNC ")
        head = self.line().lstrip(b"\n")
        if head.startswith(b"$EOF:"):  # diskless: the payload ends with the 40-byte mark
            mark = head[5:]
            while mark not in self.buf:
                self.more()
            self.buf = self.buf[self.buf.index(mark) + len(mark):]
        else:
            self.take(int(head[1:]))
        if acks:
            self.send(["REPLCONF", "ACK", "0"])  # a diskless redis-server streams once the replica acks

    def more(self):
        """Reads on; every quiet second, acks again (a diskless master starts the stream at
        the first ack after it has seen the transfer end, which may be after ours)."""
        while True:
            try:
                chunk = self.sock.recv(65536)
                break
            except TimeoutError:
                if self.acks:
                    self.send(["REPLCONF", "ACK", "0"])
        assert chunk, "master closed the link"
        self.buf += chunk

    def send(self, words):
        self.sock.sendall(b"*%d\r\n" % len(words) + b"".join(b"$%d\r\n%s\r\n" % (len(w), w.encode()) for w in words))

    def line(self):
        while b"\r\n" not in self.buf:
            self.more()
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def take(self, n):
        while len(self.buf) < n:
            self.more()
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def commands_until(self, last):
        out = []
        while True:
            words = [self.take(int(self.line()[1:]) + 2)[:-2].decode() for _ in range(int(self.line()[1:]))]
            if words[0] in ("PING", "SELECT"):
                continue
            out.append(words)
            if words == last:
                return out


def test_replicas_receive_what_redis_sends(server):
    """GEOADD reaches replicas as the ZADD it runs as (lower-case `zadd`, only when it changed
    something); the store forms as themselves: the stream redis-server 7.0 sends for the same
    commands (read from one with a raw replica)."""
    stream = RawReplica(server.port, acks=False)
    c = server.conn()
    c.cmd("FLUSHALL")
    src, dst = keys_on_two_shards("geor")
    cmds = [("GEOADD", "g", "13.361389", "38.115556", "Palermo"),
            ("GEOADD", "g", "NX", "13.361389", "38.115556", "Palermo"),
            ("GEOADD", "g", "XX", "CH", "13.5", "38.115556", "Palermo", "1", "1", "new"),
            ("GEOADD", "g", "1", "100", "bad"),
            ("GEORADIUS", "g", "15", "37", "200", "km", "STORE", "g2"),
            ("GEORADIUS", "g", "15", "37", "200", "km"),
            ("GEORADIUS", "g", "15", "37", "1", "m", "STORE", "none"),
            ("GEOSEARCHSTORE", "g3", "g", "FROMMEMBER", "Palermo", "BYRADIUS", "500", "km", "STOREDIST"),
            ("GEOADD", src, "1", "2", "a"), ("GEORADIUS", src, "1", "2", "10", "km", "STORE", dst),
            ("SET", "end", "x")]
    for cmd in cmds:
        c.raw(*cmd)
    got = stream.commands_until(["SET", "end", "x"])
    assert got == [
        ["FLUSHALL"],
        ["zadd", "g", "3479099956230698", "Palermo"],
        ["zadd", "g", "XX", "CH", "3479100629809192", "Palermo", "3377822707026402", "new"],
        ["GEORADIUS", "g", "15", "37", "200", "km", "STORE", "g2"],
        ["GEOSEARCHSTORE", "g3", "g", "FROMMEMBER", "Palermo", "BYRADIUS", "500", "km", "STOREDIST"],
        ["zadd", src, "3378080408407459", "a"],
        ["GEORADIUS", src, "1", "2", "10", "km", "STORE", dst],
        ["SET", "end", "x"]]


@pytest.mark.parametrize("kind", ["valkeyper", "redis"])
def test_geo_writes_reach_replicas(server, make_server, make_redis, kind):
    replica = make_server() if kind == "valkeyper" else make_redis()
    r = replica.conn()
    m = server.conn()
    m.cmd("FLUSHALL")
    assert r.cmd("REPLICAOF", "127.0.0.1", str(server.port)) == "OK"
    wait_until(lambda: link_up(r), message="the replica's link")
    src, dst = keys_on_two_shards("georep")
    m.cmd("GEOADD", src, *[x for p in random_points(random.Random(3), 200, around=(10, 10)) for x in p])
    m.cmd("GEORADIUS", src, "10", "10", "200", "km", "STOREDIST", dst)
    m.cmd("GEOSEARCHSTORE", src + "b", src, "FROMLONLAT", "10", "10", "BYBOX", "100", "100", "km")
    m.cmd("GEORADIUSBYMEMBER", src, "m1", "50", "km", "STORE", src + "c")
    keys = [src, dst, src + "b", src + "c"]
    expected = [m.raw("ZRANGE", k, "0", "-1", "WITHSCORES") for k in keys]
    assert all(e.startswith(b"*") and e != b"*0\r\n" for e in expected)
    wait_until(lambda: [r.raw("ZRANGE", k, "0", "-1", "WITHSCORES") for k in keys] == expected,
               message="the replica's geo sets equal to the master's")
