"""A replication divergence hunter (a tool, not a test): a ValKeyper master takes the fuzz
workload (fuzz_workload.py) from many clients, with no disturbances; a redis-server replica
and a raw stream recorder follow it. At the end the replica is compared with the master key
by key, and for every divergent key the recorder's stream and the clients' replies are
printed, so the stream's order can be compared with the order the clients were told.

    python3 Tests/integration/repl_stress.py [--seconds 30] [--clients 8] [--rounds 1]
        [--seed N] [--families zadd,zpop,...] [--threads 2] [--shards 4] [--keep]

The recorder (`StreamRecorder`) is a replica in Python: PSYNC ? -1, the RDB payload saved to
a file, then every command of the stream with its offset, written to `stream.log` (with
`clients.log`, every client's steps, and `explain.txt`) when a round diverges.
`--families zadd,zstore,...` keeps only those builders of fuzz_workload.Generator (their
method names, without a trailing underscore). Tests/integration/trace_stream.py follows a
key back through a recorded stream (SWAPDB, MOVE, COPY, RENAME). What it found: writes over
keys past their deadline sent without the DEL (SET ... KEEPTTL), pops that ran while an
operation held their key (commands without key positions): about one round in eight with
the whole mix, 30 s and 8 clients; one in six with the sorted-set commands alone."""
import argparse
import os
import random
import socket
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.dirname(__file__))

from fuzz_cluster import dataset, diff, loosen  # noqa: E402
from fuzz_workload import Generator, SharedState, now_ms  # noqa: E402
from support.info import info  # noqa: E402
from support.processes import BINARY, REDIS_SERVER, ServerProcess  # noqa: E402
from support.resp import Conn, Error  # noqa: E402


class StreamRecorder(threading.Thread):
    """Follows a master as a replica and logs every command of its stream with its offset."""

    def __init__(self, port, path):
        super().__init__(daemon=True)
        self.port, self.path = port, path
        self.offset = 0
        self.start_offset = 0
        self.stop = threading.Event()
        self.failure = None
        self.entries = []   # (offset, time, command as a list of bytes)
        self.ready = threading.Event()

    def run(self):
        try:
            self.follow()
        except Exception as e:   # noqa: BLE001
            if not self.stop.is_set():
                self.failure = repr(e)
        finally:
            self.ready.set()

    def follow(self):
        s = socket.create_connection(("127.0.0.1", self.port))
        s.settimeout(0.2)
        buf = bytearray()

        def fill():
            while True:
                try:
                    chunk = s.recv(1 << 20)
                except socket.timeout:
                    if self.stop.is_set():
                        raise EOFError("stopped")
                    continue
                if not chunk:
                    raise EOFError("closed")
                buf.extend(chunk)
                return

        def line():
            while b"\r\n" not in buf:
                fill()
            i = buf.index(b"\r\n")
            text = bytes(buf[:i])
            del buf[:i + 2]
            return text

        def exact(n):
            while len(buf) < n:
                fill()
            data = bytes(buf[:n])
            del buf[:n]
            return data

        s.sendall(b"*3\r\n$8\r\nREPLCONF\r\n$14\r\nlistening-port\r\n$1\r\n1\r\n")
        assert line() == b"+OK"
        s.sendall(b"*3\r\n$8\r\nREPLCONF\r\n$4\r\ncapa\r\n$6\r\npsync2\r\n")
        assert line() == b"+OK"
        s.sendall(b"*3\r\n$5\r\nPSYNC\r\n$1\r\n?\r\n$2\r\n-1\r\n")
        while True:
            first = line()
            if first:
                break
        assert first.startswith(b"+FULLRESYNC"), first
        self.offset = self.start_offset = int(first.split()[2])
        while True:   # newlines while the master prepares the payload
            while buf[:1] == b"\n":
                del buf[:1]
            if buf:
                break
            fill()
        header = line()
        assert header.startswith(b"$") and not header.startswith(b"$EOF"), header
        rdb = exact(int(header[1:]))
        with open(self.path + ".rdb", "wb") as f:
            f.write(rdb)
        self.ready.set()
        last_ack = time.monotonic()
        while True:
            if time.monotonic() - last_ack > 1:
                text = str(self.offset).encode()
                s.sendall(b"*3\r\n$8\r\nREPLCONF\r\n$3\r\nACK\r\n$%d\r\n%s\r\n" % (len(text), text))
                last_ack = time.monotonic()
            start = self.offset
            used = 0

            def take_line():
                nonlocal used
                text = line()
                used += len(text) + 2
                return text

            head = take_line()
            assert head.startswith(b"*"), (start, head)
            args = []
            for _ in range(int(head[1:])):
                bulk = take_line()
                assert bulk.startswith(b"$"), (start, bulk)
                n = int(bulk[1:])
                args.append(exact(n + 2)[:n])
                used += n + 2
            self.offset = start + used
            self.entries.append((start, time.time(), args))

    def write(self):
        with open(self.path, "w") as f:
            for offset, t, args in self.entries:
                f.write("%d %.6f %r\n" % (offset, t, args))


class Writer(threading.Thread):
    def __init__(self, port, seed, index, shared, stop, families):
        super().__init__(daemon=True)
        self.port, self.stop = port, stop
        self.name = "client%d" % index
        self.generator = Generator(random.Random("%d/%s" % (seed, self.name)), shared, self.name)
        if families:
            keep = [(w, b) for w, b in self.generator.builders if b.__name__.rstrip("_") in families]
            assert keep, families
            self.generator.builders = keep
            self.generator.total = sum(w for w, _ in keep)
        self.log = []   # (sent, received, commands, replies)
        self.failure = None

    def run(self):
        try:
            c = Conn(self.port, timeout=30)
            while not self.stop.is_set():
                how, commands = self.generator.step()
                sent, db = time.time(), self.generator.db
                replies = [c.cmd(*commands[0])] if how == "one" else c.pipeline(commands)
                self.log.append((sent, time.time(), db, commands, replies))
                self.generator.observe(commands, replies)
            c.close()
        except Exception as e:   # noqa: BLE001
            self.failure = repr(e)


def key_matches(command, key):
    return any(a == key or (isinstance(a, str) and a.encode() == key) for a in command[1:])


def explain(key, recorder, writers, out):
    out.write("== stream records naming %r (last 200)\n" % key)
    for offset, t, args in [e for e in recorder.entries if key in e[2][1:]][-200:]:
        out.write("  %d %.6f %r\n" % (offset, t, args))
    out.write("== client commands naming %r\n" % key)
    rows = []
    for w in writers:
        for sent, received, db, commands, replies in w.log:
            if any(key_matches(c, key) for c in commands):
                rows.append((sent, received, w.name, db, commands, replies))
    for sent, received, name, db, commands, replies in sorted(rows, key=lambda r: r[0])[-200:]:
        out.write("  %.6f-%.6f %s db %d %r -> %r\n" % (sent, received, name, db, commands, replies))


def write_clients(writers, path):
    """Every step of every client, in the order they were sent: send and reply times, the
    client's database when it sent the step, the commands and their replies."""
    rows = sorted(((sent, received, w.name, db, commands, replies) for w in writers
                   for sent, received, db, commands, replies in w.log), key=lambda r: r[0])
    with open(path, "w") as f:
        for sent, received, name, db, commands, replies in rows:
            f.write("%.6f %.6f %s db %d %r -> %r\n" % (sent, received, name, db, commands, replies))


def one_round(seed, seconds, clients, families, threads, shards, keep):
    root = tempfile.mkdtemp(prefix="valkeyper-stress-")
    for d in ("master", "redis"):
        os.makedirs(os.path.join(root, d))
    master = ServerProcess("--threads", str(threads), "--shards", str(shards), "--save", "",
                           "--enable-debug-command", "yes", "--repl-backlog-size", "64mb",
                           data_dir=os.path.join(root, "master"))
    replica = ServerProcess("--save", "", "--enable-debug-command", "yes", "--replicaof", "127.0.0.1",
                            str(master.port), binary=REDIS_SERVER, data_dir=os.path.join(root, "redis"))
    recorder = StreamRecorder(master.port, os.path.join(root, "stream.log"))
    recorder.start()
    recorder.ready.wait(10)
    shared, stop = SharedState(), threading.Event()
    writers = [Writer(master.port, seed, i, shared, stop, families) for i in range(clients)]
    for w in writers:
        w.start()
    time.sleep(seconds)
    stop.set()
    for w in writers:
        w.join(30)
    problems = [w.failure for w in writers if w.failure]
    while now_ms() < shared.short_deadline_ms:
        time.sleep(0.05)
    for attempt in range(50):
        dataset(master)   # lets the master delete what expired
        offset = int(info(master, "replication")["master_repl_offset"])
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            r_off = int(info(replica, "replication").get("slave_repl_offset", -1))
            if r_off >= offset and recorder.offset >= offset:
                break
            time.sleep(0.05)
        expected, actual = dataset(master), dataset(replica)
        now_offset = int(info(master, "replication")["master_repl_offset"])
        if now_offset == offset:
            break
    lines = diff(master, loosen(expected), replica, loosen(actual))
    steps = sum(len(w.log) for w in writers)
    print("seed %d: %d steps, offset %d (recorder %d, %d records%s), %d keys, %d differences%s" % (
        seed, steps, offset, recorder.offset, len(recorder.entries),
        ", failed: " + recorder.failure if recorder.failure else "", len(expected), len(lines),
        (", failures: %r" % problems) if problems else ""), flush=True)
    if lines:
        recorder.write()
        write_clients(writers, os.path.join(root, "clients.log"))
        with open(os.path.join(root, "explain.txt"), "w") as out:
            out.write("\n".join(lines) + "\n")
            for k in sorted(set(expected) ^ set(actual) | {k for k in expected if expected.get(k) != actual.get(k)}):
                out.write("\n-- db %d key %r\n" % k)
                explain(k[1], recorder, writers, out)
        print("\n".join(lines[:10]))
        print("details in %s/explain.txt" % root)
    recorder.stop.set()
    if not (lines and keep):
        master.kill() if hasattr(master, "kill") else master.stop()
        replica.kill() if hasattr(replica, "kill") else replica.stop()
    return bool(lines)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--seconds", type=float, default=30)
    p.add_argument("--clients", type=int, default=8)
    p.add_argument("--rounds", type=int, default=1)
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--families", default="")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--shards", type=int, default=4)
    p.add_argument("--keep", action="store_true")
    a = p.parse_args()
    families = set(f for f in a.families.split(",") if f)
    print("binary", BINARY)
    failed = 0
    for i in range(a.rounds):
        seed = a.seed if a.seed is not None else random.SystemRandom().randrange(1, 1 << 31)
        failed += one_round(seed, a.seconds, a.clients, families, a.threads, a.shards, a.keep)
    print("%d of %d rounds diverged" % (failed, a.rounds))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
