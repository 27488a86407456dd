"""Starts the real valkeyper-server binary on a free port for each test module."""
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "integration"))
from resp import Conn, encode  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
BINARY = os.environ.get("VALKEYPER_BIN", os.path.join(ROOT, ".build", "release", "valkeyper-server"))
REDIS_SERVER = shutil.which("redis-server")
needs_redis = pytest.mark.skipif(REDIS_SERVER is None, reason="needs Debian's redis-server 7.0")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(condition, timeout=10.0, interval=0.01, message="condition"):
    """Polls `condition` until it is truthy; fails the test after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for " + message)
        time.sleep(interval)


def connections_on_two_workers(port):
    """Two connections served by different worker threads of a two-worker server started with
    `--enable-debug-command yes`: the second still answers while the first sleeps in DEBUG
    SLEEP. Worker 0 accepts every connection and hands them out in turn, so while it sleeps
    nothing is answered: then the newer connection becomes the one that sleeps."""
    first = Conn(port)
    for _ in range(8):
        first.send_raw(encode("DEBUG", "SLEEP", "0.5"))
        second = Conn(port, timeout=0.25)
        try:
            answered = second.cmd("PING") == "PONG"
        except socket.timeout:
            answered = False
        assert first.read() == "OK"
        if answered:
            second.sock.settimeout(10)
            return first, second
        first.close()
        first = Conn(port)
        second.close()
    raise AssertionError("no two connections landed on different workers")


def answers_ping(port):
    """True once a server on `port` accepts a connection and answers PING (or asks for a
    password first)."""
    try:
        c = Conn(port, timeout=1)
        reply = c.cmd("PING")
        c.close()
        return reply == "PONG" or str(reply).startswith("NOAUTH")
    except OSError:
        return False


class Server:
    binary = BINARY
    fixed_args = ()

    def __init__(self, *args, cwd=None):
        self.dir = cwd or tempfile.mkdtemp(prefix="valkeyper-test-")
        for attempt in range(5):
            self.port = free_port()
            self.log = open(os.path.join(self.dir, "server.log"), "w+")
            self.proc = subprocess.Popen([self.binary, "--port", str(self.port), "--dir", self.dir, *self.fixed_args,
                                          *args], stdout=self.log, stderr=subprocess.STDOUT)
            try:
                wait_until(self._ready, message="server to accept connections")
                return
            except AssertionError as e:
                # The free port was taken meanwhile (by a client's ephemeral port, for a server
                # bound to 0.0.0.0): try another one.
                if "Address already in use" not in str(e) or attempt == 4:
                    raise
                self.log.close()

    def _ready(self):
        if self.proc.poll() is not None:
            self.log.seek(0)
            raise AssertionError("server exited early:\n" + self.log.read())
        return answers_ping(self.port)

    def conn(self):
        return Conn(self.port)

    def alive(self):
        return self.proc.poll() is None

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()

    def output(self):
        with open(os.path.join(self.dir, "server.log")) as f:
            return f.read()


class RedisServer(Server):
    """Debian's redis-server 7.0 on a free port, the reference of differential tests."""
    binary = REDIS_SERVER
    fixed_args = ("--bind", "127.0.0.1", "--save", "", "--appendonly", "no")


@pytest.fixture(scope="module")
def server(request):
    """One server per test module: two shards so cross-shard paths are exercised, or as many
    as VALKEYPER_TEST_SHARDS says (`make test` also runs the suite on one shard, the default
    on two cores, where transactions take their lock-free inline path). A module's
    SERVER_ARGS are added (e.g. `--enable-debug-command yes` where tests use DEBUG)."""
    n = os.environ.get("VALKEYPER_TEST_SHARDS", "2")
    s = Server("--threads", n, "--shards", n, *getattr(request.module, "SERVER_ARGS", ()))
    yield s
    assert s.alive(), "server died during the module:\n" + s.output()
    s.stop()


@pytest.fixture
def r(server):
    """A fresh connection to an empty server."""
    c = server.conn()
    c.cmd("FLUSHALL")
    yield c
    c.close()


def _starter(kind):
    """A fixture body: a function that starts `kind` servers, all stopped after the test."""
    started = []

    def start(*args):
        s = kind(*args)
        started.append(s)
        return s
    yield start
    for s in started:
        s.stop()


@pytest.fixture
def make_server():
    yield from _starter(Server)


@pytest.fixture
def make_redis():
    """Starts redis-server 7.0 processes (stopped after the test); skips without one."""
    if REDIS_SERVER is None:
        pytest.skip("needs Debian's redis-server 7.0")
    yield from _starter(RedisServer)


@pytest.fixture(scope="module")
def redis_port():
    """A real redis-server 7.0 on a free port, for differential tests (one per test module)."""
    assert REDIS_SERVER, "redis-server is missing: install it with scripts/setup.sh --test"
    s = RedisServer("--enable-debug-command", "yes")
    yield s.port
    s.stop()
