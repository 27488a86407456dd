"""Randomized replication consistency: a ValKeyper master with several shards takes a random
mix of every write command from several clients while its replicas are disturbed at random
moments; once the writes stop, every replica must reach the master's offset and hold the
same data, and the master's dump loaded into a fresh redis-server 7.0 must too.

Topology: the master (2-4 shards, sometimes more shards than threads), a ValKeyper replica
and a redis-server replica of it, and behind the ValKeyper replica a chained ValKeyper
replica and a chained redis-server replica (the chained ones move between the two masters).
Events: replication links killed from either side, REPLICAOF NO ONE with writes of the
replica's own and back, SIGKILL and restart (after a SAVE, plain, or with the dump deleted),
SIGSTOP for a moment, BGSAVE on the master (fuzz_cluster.py). The writes: fuzz_workload.py.

"Same data" is checked three ways: DEBUG DIGEST of the whole dataset (Redis's own digest,
so ValKeyper and redis-server compare), per key (type, DEBUG DIGEST-VALUE, PEXPIRETIME: the
exact deadline, as replicas get absolute ones), and per stream XINFO STREAM FULL (groups,
pending entries, consumers, counters: what the digest leaves out) without the servers' own
clocks (a consumer's seen-time). A replica's groups may differ in entries-read and lag, which
Redis 7.0 itself does not replicate exactly; the dump must match in those too.

VALKEYPER_FUZZ_SECONDS sets how long the writes go on (default 45), VALKEYPER_FUZZ_SEED the
seed (random otherwise; a failure prints it); VALKEYPER_FUZZ_KEEP=1 leaves the servers of a
failed run running for inspection. The seed decides the shapes, the command mix
of each client and the events; thread timing is the machine's. It runs once in `make test`:
in the pass with two shards (VALKEYPER_TEST_SHARDS unset), not in the one-shard pass."""
import collections
import os
import random
import shutil
import signal
import tempfile
import threading
import time
import traceback

import pytest

from fuzz_cluster import Node, dataset, diff, loosen, stuck_state
from fuzz_workload import Generator, SharedState, malformed, now_ms, out_of_step
from support.processes import REDIS_SERVER
from support.resp import Conn

SECONDS = float(os.environ.get("VALKEYPER_FUZZ_SECONDS", "45"))
SEED = int(os.environ.get("VALKEYPER_FUZZ_SEED") or random.SystemRandom().randrange(1, 1 << 31))
CLIENTS = 4
SYNC_TIMEOUT = 90   # seconds for the replicas to catch up once the writes stop
MEMORY_LIMIT = 128 << 20   # bytes a ValKeyper node may use at the end (see check_memory)

pytestmark = [
    pytest.mark.skipif(REDIS_SERVER is None, reason="needs Debian's redis-server 7.0"),
    pytest.mark.skipif(os.environ.get("VALKEYPER_TEST_SHARDS") == "1",
                       reason="the fuzz test runs once, in the multi-shard pass"),
]


def short(value, limit=300):
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


class Writer(threading.Thread):
    """One client sending its generator's steps to the master until told to stop."""

    def __init__(self, run, index):
        super().__init__(daemon=True)
        self.run_state = run
        self.name = "client%d" % index
        self.generator = Generator(random.Random("%d/%s" % (run.seed, self.name)), run.shared, self.name)
        self.history = collections.deque(maxlen=12)
        self.steps = 0
        self.failure = None

    def run(self):
        try:
            c = Conn(self.run_state.master.port, timeout=30)
            while not self.run_state.stop.is_set():
                how, commands = self.generator.step()
                if how == "one":
                    replies = [c.cmd(*commands[0])]
                else:
                    replies = c.pipeline(commands)
                self.history.append((commands, replies))
                self.steps += 1
                for command, reply in zip(commands, replies):
                    bad = malformed(reply)
                    if bad:
                        raise AssertionError("%s: %r got %r" % (self.name, command, bad))
                wrong = out_of_step(commands, replies)
                if wrong:
                    raise AssertionError("%s: replies out of step with their commands: %s" % (self.name, wrong))
                self.generator.observe(commands, replies)
            c.close()
        except Exception as e:
            self.failure = traceback.format_exc()
            if isinstance(e, TimeoutError) and self.run_state.master.alive():
                # No reply for the socket's whole timeout: record what the master is doing.
                self.failure += "\nthe master, after the timeout:\n" + stuck_state(self.run_state.master)
            self.run_state.stop.set()


class Run:
    def __init__(self, seed, root):
        self.seed = seed
        self.root = root
        self.rng = random.Random("%d/events" % seed)
        self.shared = SharedState()
        self.stop = threading.Event()
        self.events = []
        self.started = time.monotonic()
        shape = random.Random("%d/shapes" % seed)
        threads, shards = shape.choice([(2, 2), (2, 4), (1, 3), (2, 3)])
        backlog = shape.choice(["1mb", "256kb", "16mb"])
        self.master = Node("master", "valkeyper", root, ["--threads", str(threads), "--shards", str(shards),
                                                         "--repl-backlog-size", backlog])
        vk_shape = shape.choice([(1, 1), (2, 2), (1, 2), (2, 3)])
        self.vk1 = Node("vk1", "valkeyper", root, ["--threads", str(vk_shape[0]), "--shards", str(vk_shape[1]),
                                                   "--repl-backlog-size", backlog], upstream=self.master)
        self.redis1 = Node("redis1", "redis", root, upstream=self.master)
        self.vk2 = Node("vk2", "valkeyper", root, ["--threads", "1", "--shards", str(shape.choice([1, 2]))],
                        upstream=self.vk1)
        self.redis2 = Node("redis2", "redis", root, upstream=self.vk1)
        self.replicas = [self.vk1, self.redis1, self.vk2, self.redis2]
        self.nodes = [self.master] + self.replicas
        self.shape = "master --threads %d --shards %d --repl-backlog-size %s, vk1 --threads %d --shards %d" % (
            threads, shards, backlog, vk_shape[0], vk_shape[1])
        self.writers = []

    def log(self, text):
        self.events.append("%7.3f %s" % (time.monotonic() - self.started, text))

    def report(self, problem):
        lines = ["seed %d: %s" % (self.seed, problem),
                 "replay: VALKEYPER_FUZZ_SEED=%d VALKEYPER_FUZZ_SECONDS=%g python3 -m pytest -q %s"
                 % (self.seed, SECONDS, "Tests/integration/test_replication_fuzz.py"),
                 "shape: " + self.shape, "data and logs kept in " + self.root, "events (last 40):"]
        lines += ["  " + e for e in self.events[-40:]]
        for n in self.nodes:
            if n.proc is not None and n.proc.poll() is not None:
                lines.append("%r exited with code %s:\n%s" % (n, n.proc.returncode, n.last_start_log()[-3000:]))
        for w in self.writers:
            lines.append("%s: %d steps, last ones:" % (w.name, w.steps))
            lines += ["  %s -> %s" % (short(c), short(r)) for c, r in list(w.history)[-4:]]
        return "\n".join(lines)

    # MARK: events

    def pause(self, low, high):
        """A bounded random pause: part of the workload, never a wait for a condition."""
        time.sleep(self.rng.uniform(low, high))

    def expect_ok(self, node, *command):
        reply = node.cmd(*command)
        self.log("%r %s -> %r" % (node, " ".join(command), reply))
        if reply != "OK" and not (command[0] == "REPLICAOF" and str(reply).startswith("OK")):
            raise AssertionError("%r answered %r to %s" % (node, reply, " ".join(command)))

    def event(self):
        r = self.rng
        kind = r.choices(["kill_link", "kill_replicas", "detach", "restart", "sigstop", "move", "bgsave"],
                         weights=[3, 2, 2, 3, 1, 1, 1])[0]
        node = r.choice(self.replicas)
        if kind == "kill_link":
            self.log("%r CLIENT KILL TYPE master -> %r" % (node, node.cmd("CLIENT", "KILL", "TYPE", "master")))
        elif kind == "kill_replicas":
            upstream = r.choice([self.master, self.vk1])
            self.log("%r CLIENT KILL TYPE replica -> %r" % (upstream, upstream.cmd("CLIENT", "KILL", "TYPE", "replica")))
        elif kind == "detach":
            self.expect_ok(node, "REPLICAOF", "NO", "ONE")
            c = node.conn()
            for i in range(r.randint(0, 5)):   # writes of its own, which the full resync must undo
                db = r.randint(0, 15)
                c.cmd("SELECT", str(db))
                c.cmd("SET", "own:%s:%d" % (node.name, i), "x")
                c.cmd("DEL", r.choice(["a", "b", "s1", "{t}1"]))
            c.close()
            self.pause(0.05, 1.0)
            self.expect_ok(node, "REPLICAOF", "127.0.0.1", str(node.upstream.port))
        elif kind == "restart":
            how = r.choice(["save", "plain", "no dump"])
            if how == "save":
                self.expect_ok(node, "SAVE")
            node.kill()
            if how == "no dump" and os.path.exists(os.path.join(node.dir, "dump.rdb")):
                os.unlink(os.path.join(node.dir, "dump.rdb"))
            self.log("%r killed (%s)" % (node, how))
            self.pause(0.0, 1.0)
            node.start()
            self.log("%r restarted" % node)
        elif kind == "sigstop":
            node.proc.send_signal(signal.SIGSTOP)
            self.log("%r SIGSTOP" % node)
            self.pause(0.1, 1.5)
            node.proc.send_signal(signal.SIGCONT)
            self.log("%r SIGCONT" % node)
        elif kind == "move":
            node = r.choice([self.vk2, self.redis2])
            node.upstream = self.master if node.upstream is self.vk1 else self.vk1
            self.expect_ok(node, "REPLICAOF", "127.0.0.1", str(node.upstream.port))
        elif kind == "bgsave":
            self.log("%r BGSAVE -> %r" % (self.master, self.master.cmd("BGSAVE")))

    # MARK: the end

    def wait_for(self, condition, what, timeout=SYNC_TIMEOUT):
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                raise AssertionError("timed out waiting for " + what())
            time.sleep(0.02)

    def replication_state(self):
        parts = []
        for n in self.nodes:
            i = n.info()
            parts.append("%r role %s offset %s link %s master_port %s" % (
                n, i["role"], i["master_repl_offset"], i.get("master_link_status", "-"), i.get("master_port", "-")))
        return "; ".join(parts)

    def reattach_all(self):
        for n in self.replicas:
            assert n.alive(), "%r died:\n%s" % (n, n.log_tail())
            if n.info().get("master_port") != str(n.upstream.port):
                self.expect_ok(n, "REPLICAOF", "127.0.0.1", str(n.upstream.port))
        self.wait_for(lambda: all(n.info().get("master_link_status") == "up" for n in self.replicas),
                      lambda: "every replica's link up: " + self.replication_state())

    def converged_snapshot(self):
        """The master's offset, digest and dataset once every replica reached that offset
        (taken again while the master's stream still moves: it deletes keys it finds
        expired, and pings its replicas every 10 s)."""
        deadline = time.monotonic() + SYNC_TIMEOUT
        while True:
            before = self.master.offset()
            expected = dataset(self.master)
            digest = self.master.cmd("DEBUG", "DIGEST")
            offset = self.master.offset()
            if offset == before:
                self.wait_for(lambda: all(n.offset() >= offset for n in self.replicas),
                              lambda: "every replica at the master's offset %d: %s" % (offset, self.replication_state()),
                              timeout=max(1, deadline - time.monotonic()))
                if all(n.offset() == offset for n in self.replicas) and self.master.offset() == offset:
                    return offset, digest, expected
            if time.monotonic() > deadline:
                raise AssertionError("the master's offset never held still with every replica at it: "
                                     + self.replication_state())

    def compare(self, node, digest, expected, exact=False):
        """Lines describing how `node` differs from the master (none if it does not); a
        replica may differ where Redis 7.0's replication does (`loosen`), a dump may not."""
        actual = dataset(node)
        node_digest = node.cmd("DEBUG", "DIGEST")
        if exact:
            lines = diff(self.master, expected, node, actual)
        else:
            lines = diff(self.master, loosen(expected), node, loosen(actual))
        if node_digest != digest:
            lines.insert(0, "DEBUG DIGEST %s on %r, %s on the master" % (node_digest, node, digest))
        return lines

    def check_replicas(self):
        problems = []
        for attempt in range(3):   # a last expiry on the master moves the target: take it again
            offset, digest, expected = self.converged_snapshot()
            problems = []
            for n in self.replicas:
                lines = self.compare(n, digest, expected)
                if lines:
                    problems.append("%r differs from the master at offset %d:\n  " % (n, offset) + "\n  ".join(lines))
            if not problems or self.master.offset() == offset:
                break
        self.log("compared at offset %d: %d keys" % (offset, len(expected)))
        return offset, digest, expected, problems

    def check_memory(self):
        """Memory stays in proportion to the data (a few thousand small keys and 16 MB of
        backlog at most): a leak per command shows after a minute of writes."""
        problems = []
        for n in self.nodes:
            if n.kind == "valkeyper":
                used = int(n.info("memory")["used_memory"])
                self.log("%r used_memory %d" % (n, used))
                if used > MEMORY_LIMIT:
                    problems.append("%r uses %d bytes of memory (limit %d)" % (n, used, MEMORY_LIMIT))
        return problems

    def check_dump(self, offset, digest, expected):
        """The master's SAVE, loaded by a fresh redis-server, holds the same data."""
        assert self.master.cmd("SAVE") == "OK"
        # (Its offset may have moved by a PING to its replicas; its data must not have.)
        assert self.master.cmd("DEBUG", "DIGEST") == digest, "the master's data changed during the final SAVE"
        reloaded = Node("reloaded", "redis", self.root)
        shutil.copy(os.path.join(self.master.dir, "dump.rdb"), os.path.join(reloaded.dir, "dump.rdb"))
        self.nodes.append(reloaded)
        reloaded.start()
        lines = self.compare(reloaded, digest, expected, exact=True)
        return ["the master's dump in %r differs:\n  " % reloaded + "\n  ".join(lines)] if lines else []


def test_replicas_converge_under_random_writes_and_disturbances():
    root = tempfile.mkdtemp(prefix="valkeyper-fuzz-")
    run = Run(SEED, root)
    print("replication fuzz: seed %d, %g s, %s" % (SEED, SECONDS, run.shape))
    ok = False
    try:
        for n in run.nodes:
            n.start()
        run.writers = [Writer(run, i) for i in range(CLIENTS)]
        for w in run.writers:
            w.start()
        end = time.monotonic() + SECONDS
        while time.monotonic() < end and not run.stop.is_set():
            run.pause(0.1, 1.5)
            run.event()
        run.stop.set()
        for w in run.writers:
            w.join(60)
            assert not w.is_alive(), run.report("%s still running after the stop" % w.name)
        failures = [w.failure for w in run.writers if w.failure]
        assert not failures, run.report("a client failed:\n" + "\n".join(failures))
        run.log("writes stopped after %d steps" % sum(w.steps for w in run.writers))
        assert run.master.alive(), run.report("the master died:\n" + run.master.log_tail())

        run.reattach_all()
        # No short TTL is left after its deadline (SCAN then deletes what active expiry missed).
        run.wait_for(lambda: now_ms() > run.shared.short_deadline_ms, lambda: "short TTLs to run out")
        offset, digest, expected, problems = run.check_replicas()
        if not problems:
            problems = run.check_dump(offset, digest, expected)
        assert not problems, run.report("\n".join(problems))
        problems = run.check_memory()
        assert not problems, run.report("\n".join(problems))
        assert len(expected) > 0, run.report("nothing left to compare")
        print("\n".join(run.events[-len(run.nodes):]))
        ok = True
    except Exception as e:
        if isinstance(e, AssertionError) and "seed %d:" % SEED in str(e):
            raise
        raise AssertionError(run.report(traceback.format_exc())) from e
    finally:
        run.stop.set()
        if not ok and os.environ.get("VALKEYPER_FUZZ_KEEP") == "1":
            print("kept running for inspection: %r" % run.nodes)
        else:
            for n in run.nodes:
                n.kill()
        if ok:
            shutil.rmtree(root, ignore_errors=True)
