"""The servers of the replication fuzz test and what happens to them.

A ValKeyper master, ValKeyper and redis-server replicas of it, and replicas of a ValKeyper
replica (a chain). Each node keeps its data directory and port across restarts, so a
replica killed with SIGKILL comes back as Redis's would: from its dump if it has one (a
SAVE, or for redis-server the RDB of its last full sync) with the replication id and offset
in it, then a partial resync if the master's backlog still covers that offset. Events: the
link killed from either side (partial resync), REPLICAOF NO ONE with writes of its own and
back (full resync), SIGKILL and restart with or without a fresh dump, SIGSTOP for a moment,
a chained replica moved between masters, BGSAVE on the master.

`dataset` reads a server's whole keyspace for the comparison: per key its type, Redis's
value digest, its absolute deadline, and for streams what the digest leaves out (consumer
groups, pending entries, consumers, the stream's counters)."""
import os
import shutil
import subprocess

from fuzz_workload import DATABASES
from support.info import info
from support.processes import BINARY, REDIS_SERVER, ServerProcess
from support.resp import Error


class Node(ServerProcess):
    """A server of the cluster: it keeps its data directory and port across restarts
    (`start()` again after `sigkill()`); a replica follows `upstream`, which may change."""

    def __init__(self, name, kind, root, args=(), upstream=None):
        self.name, self.kind = name, kind
        self.upstream = upstream   # the node it replicates from; None for the master
        data_dir = os.path.join(root, name)
        os.makedirs(data_dir)
        super().__init__("--save", "", "--enable-debug-command", "yes", *args, data_dir=data_dir, start=False,
                         binary=BINARY if kind == "valkeyper" else REDIS_SERVER)

    def __repr__(self):
        return "%s(%s :%d)" % (self.name, self.kind, self.port)

    def arguments(self):
        replicaof = ["--replicaof", "127.0.0.1", str(self.upstream.port)] if self.upstream else []
        return [*self.args, *replicaof]

    def info(self, section="replication"):
        return info(self, section)

    def offset(self):
        return int(self.info()["master_repl_offset"])


def stuck_state(node):
    """What a ValKeyper node that left a client without a reply is doing: its DEBUG LOCKS
    (each worker's locks, waiting commands and operations in flight) and, with gdb, every
    thread's stack (a worker spinning shows there; one idle in epoll_wait points at the
    locks)."""
    parts = []
    try:
        c = node.conn(timeout=5)
        try:
            parts.append("DEBUG LOCKS:\n" + c.cmd("DEBUG", "LOCKS").decode(errors="replace"))
        finally:
            c.close()
    except Exception as e:
        parts.append("DEBUG LOCKS failed: %r" % e)
    gdb = shutil.which("gdb")
    if gdb and node.proc is not None and node.proc.poll() is None:
        try:
            stacks = subprocess.run([gdb, "-p", str(node.proc.pid), "-batch", "-ex", "thread apply all bt 12"],
                                    capture_output=True, text=True, timeout=60).stdout
            parts.append("threads:\n" + "\n".join(l for l in stacks.splitlines() if l.startswith(("Thread", "#"))))
        except Exception as e:
            parts.append("gdb failed: %r" % e)
    return "\n".join(parts)


# MARK: reading a whole keyspace

# XINFO STREAM FULL fields that are this server's own: when it last saw a consumer act
# (Redis does not replicate it).
OWN_CLOCKS = (b"seen-time", b"active-time")
# Fields Redis 7.0 itself does not replicate exactly: a replica learns a group's last ID from
# XREADGROUP's XCLAIM ... LASTID, which leaves entries-read unknown there (nil, or the count
# at XGROUP CREATE), while the master counts; lag follows from it. Nor does it replicate a
# consumer that XREADGROUP ... 0 (its history) creates while it delivers nothing: consumers
# with nothing pending are left out too. A dump keeps all of them exact.
NOT_REPLICATED = (b"entries-read", b"lag")
# Nor does it replicate what reading a consumer's history (XREADGROUP ... 0) does to the
# entries it delivers again: their delivery time and count move on the master only (Redis's
# streamReplyWithRangeFromConsumerPEL propagates nothing). A later XCLAIM or XAUTOCLAIM
# sends both absolutely, but an entry whose last delivery was such a read (or a COPY of its
# stream made meanwhile) keeps the difference. Which entries are pending, and for which
# consumer, must still match.

STREAM_SECTIONS = (b"groups", b"consumers")


def stream_fields(value, leave_out):
    """XINFO STREAM FULL as nested dicts (groups by name, consumers by name), without the
    fields named in `leave_out`."""
    if isinstance(value, list) and value and len(value) % 2 == 0 and \
            all(isinstance(value[j], bytes) for j in range(0, len(value), 2)):
        out = {}
        for name, v in zip(value[0::2], value[1::2]):
            if name in leave_out:
                continue
            if name in STREAM_SECTIONS and isinstance(v, list):
                v = {dict(zip(g[0::2], g[1::2])).get(b"name"): stream_fields(g, leave_out) for g in v}
            out[name] = v
        return out
    return value


def loosen(space):
    """A dataset with what replication legitimately leaves different taken out."""
    return {k: v[:3] + (without_redelivery(stream_fields_strip(v[3], NOT_REPLICATED)),) for k, v in space.items()}


def without_redelivery(fields):
    """Stream details with each pending entry's delivery time and count left out: a group's
    entries as [id, consumer], a consumer's as [id]."""
    if not isinstance(fields, dict):
        return fields
    groups = {}
    for name, g in fields.get(b"groups", {}).items():
        g = dict(g)
        if isinstance(g.get(b"pending"), list):
            g[b"pending"] = [p[:2] for p in g[b"pending"]]
        consumers = {}
        for cname, c in g.get(b"consumers", {}).items():
            c = dict(c)
            if isinstance(c.get(b"pending"), list):
                c[b"pending"] = [p[:1] for p in c[b"pending"]]
            consumers[cname] = c
        if b"consumers" in g:
            g[b"consumers"] = consumers
        groups[name] = g
    if b"groups" in fields:
        fields = dict(fields)
        fields[b"groups"] = groups
    return fields


def stream_fields_strip(fields, names):
    if not isinstance(fields, dict):
        return fields
    out = {}
    for k, v in fields.items():
        if k in names:
            continue
        if k == b"consumers":
            v = {c: x for c, x in v.items() if x.get(b"pel-count") != 0}
        if k in STREAM_SECTIONS:
            v = {g: stream_fields_strip(x, names) for g, x in v.items()}
        out[k] = v
    return out


def nested_diff(a, b, path=""):
    """Where two nested dicts differ, as 'path: a vs b' strings."""
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for k in sorted(set(a) | set(b), key=repr):
            name = k.decode(errors="replace") if isinstance(k, bytes) else repr(k)
            out += nested_diff(a.get(k), b.get(k), path + "/" + name)
        return out
    return [] if a == b else ["%s: %r vs %r" % (path or "/", a, b)]


def dataset(node):
    """{(db, key): (type, value digest, PEXPIRETIME, stream details or None)} over every
    database, read with SCAN (which also lets a master delete what is past its deadline)."""
    c = node.conn(timeout=30)
    space = {}
    try:
        for db in range(DATABASES):
            assert c.cmd("SELECT", str(db)) == "OK"
            keys, cursor = set(), b"0"
            while True:
                reply = c.cmd("SCAN", cursor, "COUNT", "1000")
                if isinstance(reply, Error):
                    raise AssertionError("%r: SCAN: %s" % (node, reply))
                cursor, batch = reply
                keys.update(batch)
                if cursor == b"0":
                    break
            keys = sorted(keys)
            replies = c.pipeline([cmd for k in keys for cmd in (("TYPE", k), ("DEBUG", "DIGEST-VALUE", k),
                                                                  ("PEXPIRETIME", k))])
            streams = [k for k, t in zip(keys, replies[0::3]) if t == "stream"]
            details = dict(zip(streams, c.pipeline([("XINFO", "STREAM", k, "FULL", "COUNT", "0") for k in streams])))
            for i, k in enumerate(keys):
                kind, digest, deadline = replies[3 * i:3 * i + 3]
                space[(db, k)] = (kind, digest[0] if isinstance(digest, list) else digest, deadline,
                                  stream_fields(details[k], OWN_CLOCKS) if k in details else None)
    finally:
        c.close()
    return space


def show_value(node, db, key):
    """A short description of a key's value on `node`, for a diff."""
    c = node.conn()
    try:
        c.cmd("SELECT", str(db))
        kind = c.cmd("TYPE", key)
        if kind == "string":
            value = c.cmd("GET", key)
            text = repr(value if len(value) <= 80 else value[:80] + b"...")
        elif kind == "stream":
            text = "len %s, first %r, last %r" % (c.cmd("XLEN", key), c.cmd("XRANGE", key, "-", "+", "COUNT", "2"),
                                                 c.cmd("XREVRANGE", key, "+", "-", "COUNT", "2"))
        else:
            text = ""
        return "%s %s pexpiretime %s" % (kind, text, c.cmd("PEXPIRETIME", key))
    finally:
        c.close()


def diff(expected_node, expected, actual_node, actual, limit=20):
    """Lines describing how `actual` differs from `expected`, key by key."""
    lines = []
    for k in sorted(set(expected) | set(actual)):
        a, b = expected.get(k), actual.get(k)
        if a == b:
            continue
        db, key = k
        if len(lines) >= limit:
            lines.append("... (more)")
            break
        where = "db %d key %r" % (db, key)
        if b is None:
            lines.append("%s: only on %r: %s" % (where, expected_node, show_value(expected_node, db, key)))
        elif a is None:
            lines.append("%s: only on %r: %s" % (where, actual_node, show_value(actual_node, db, key)))
        else:
            parts = []
            for name, x, y in zip(("type", "digest", "pexpiretime"), a, b):
                if x != y:
                    parts.append("%s %r vs %r" % (name, x, y))
            parts += ["stream %s" % d for d in nested_diff(a[3], b[3])][:6]
            lines.append("%s: %s\n    %r: %s\n    %r: %s" % (where, "; ".join(parts), expected_node,
                                                            show_value(expected_node, db, key), actual_node,
                                                            show_value(actual_node, db, key)))
    return lines
