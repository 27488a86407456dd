"""The fixtures every integration test module may use: servers started from the real
valkeyper-server binary (and Debian's redis-server 7.0) on free ports. Helpers live in the
`support` package next to this file."""
import shutil
import tempfile

import pytest

from support.processes import BINARY, REDIS_SERVER, TEST_SHARDS, ServerProcess, shards
from support.replication import redis_master


@pytest.fixture(scope="module")
def server(request):
    """One server per test module: two shards so cross-shard paths are exercised, or as many
    as VALKEYPER_TEST_SHARDS says (`make test` also runs the suite on one shard, the default
    on two cores, where transactions take their lock-free inline path). A module's
    SERVER_ARGS are added (e.g. `--enable-debug-command yes` where tests use DEBUG)."""
    s = ServerProcess(*shards(TEST_SHARDS), *getattr(request.module, "SERVER_ARGS", ()))
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


def _starter(**defaults):
    """A fixture body: a function that starts server processes, each stopped after the test
    (also one that failed to start)."""
    started = []

    def start(*args, wait=True, **kw):
        s = ServerProcess(*args, start=False, **{**defaults, **kw})
        started.append(s)
        s.start(wait=wait)
        return s
    yield start
    for s in started:
        s.stop()


@pytest.fixture
def make_server():
    """Starts valkeyper-server processes (`make_server(*args, data_dir=...)`), stopped after
    the test."""
    yield from _starter()


@pytest.fixture
def make_redis():
    """Starts redis-server 7.0 processes (stopped after the test); skips without one."""
    if REDIS_SERVER is None:
        pytest.skip("needs Debian's redis-server 7.0")
    yield from _starter(binary=REDIS_SERVER)


@pytest.fixture(scope="module")
def redis_port():
    """A real redis-server 7.0 on a free port, for differential tests (one per test module)."""
    assert REDIS_SERVER, "redis-server is missing: install it with scripts/setup.sh --test"
    s = ServerProcess("--save", "", "--enable-debug-command", "yes", binary=REDIS_SERVER)
    yield s.port
    s.stop()


@pytest.fixture
def master():
    """A redis-server 7.0 master (diskless sync without delay)."""
    if REDIS_SERVER is None:
        pytest.skip("needs Debian's redis-server 7.0")
    m = redis_master()
    yield m
    m.stop()


@pytest.fixture
def nodes(tmp_path):
    """Starts servers with their logs apart from their data: `nodes(*args, data_dir=None,
    binary=BINARY, wait=True)`, each on `data_dir` or a directory of its own under tmp_path.
    Any still running at the end are killed (SIGKILL: a test that wants a clean exit asks
    for one)."""
    started = []

    def start(*args, data_dir=None, binary=BINARY, wait=True):
        if data_dir is None:
            data_dir = tmp_path / ("node%d" % len(started))
            data_dir.mkdir(exist_ok=True)
        n = ServerProcess(*args, binary=binary, data_dir=data_dir, logs_apart=True, start=False)
        started.append(n)  # before waiting, so a server that fails to start is cleaned up too
        n.start(wait=wait)
        return n
    yield start
    for n in started:
        n.kill()
        n.remove_logs()


@pytest.fixture
def data_dir():
    """A data directory the test chooses for its servers, so that a restart sees the dump."""
    d = tempfile.mkdtemp(prefix="vk-persist-")
    yield d
    shutil.rmtree(d, ignore_errors=True)
