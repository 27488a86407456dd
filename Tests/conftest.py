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
from resp import Conn  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
BINARY = os.environ.get("VALKEYPER_BIN", os.path.join(ROOT, ".build", "release", "valkeyper-server"))


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


def answers_ping(port):
    """True once a server on `port` accepts a connection and answers PING."""
    try:
        c = Conn(port, timeout=1)
        ok = c.cmd("PING") == "PONG"
        c.close()
        return ok
    except OSError:
        return False


class Server:
    def __init__(self, *args, cwd=None):
        self.port = free_port()
        self.dir = cwd or tempfile.mkdtemp(prefix="valkeyper-test-")
        self.log = open(os.path.join(self.dir, "server.log"), "w+")
        self.proc = subprocess.Popen([BINARY, "--port", str(self.port), "--dir", self.dir, *args],
                                     stdout=self.log, stderr=subprocess.STDOUT)
        wait_until(self._ready, message="server to accept connections")

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


@pytest.fixture(scope="module")
def server():
    """One server per test module: two shards so cross-shard paths are exercised, or as many
    as VALKEYPER_TEST_SHARDS says (`make test` also runs the suite on one shard, the default
    on two cores, where transactions take their lock-free inline path)."""
    n = os.environ.get("VALKEYPER_TEST_SHARDS", "2")
    s = Server("--threads", n, "--shards", n)
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


@pytest.fixture
def make_server():
    started = []

    def start(*args):
        s = Server(*args)
        started.append(s)
        return s
    yield start
    for s in started:
        s.stop()


@pytest.fixture(scope="module")
def redis_port():
    """A real redis-server 7.0 on a free port, for differential tests (one per test module)."""
    binary = shutil.which("redis-server")
    assert binary, "redis-server is missing: install it with scripts/setup.sh --test"
    port = free_port()
    directory = tempfile.mkdtemp(prefix="valkeyper-diff-redis-")
    log = open(os.path.join(directory, "redis.log"), "w+")
    proc = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                             "--appendonly", "no", "--dir", directory, "--enable-debug-command", "yes"],
                            stdout=log, stderr=subprocess.STDOUT)

    def ready():
        assert proc.poll() is None, "redis-server exited early"
        return answers_ping(port)
    wait_until(ready, message="redis-server to accept connections")
    yield port
    proc.terminate()
    proc.wait(10)
    log.close()
