"""Protected mode as in Redis 7.0: with `protected-mode yes` (the default) and no password,
a client that is not on 127.0.0.1 or ::1 gets Redis's -DENIED text and the connection is
closed; `requirepass` or `protected-mode no` lifts it, CONFIG SET of either applies to new
connections. Whatever the bind address: Redis 7.0 compares the peer address with
"127.0.0.1" and "::1" only, so 127.0.0.2 is refused too.

Two kinds of non-local client: 127.0.0.2 (needs nothing), and a real non-loopback address
(10.255.255.1) in a private network namespace holding the server, with `--bind 0.0.0.0`
(needs root; skipped with the reason otherwise). Replies and INFO counters are compared
with redis-server 7.0 under the same conditions."""
import ctypes
import os
import shutil
import socket
import subprocess

import pytest

from support.info import info
from support.marks import needs_redis
from support.processes import BINARY, REDIS_SERVER, ServerProcess
from support.resp import Conn

pytestmark = needs_redis

DENIED = (b"-DENIED Redis is running in protected mode because protected mode is enabled and no password is set "
          b"for the default user. In this mode connections are only accepted from the loopback interface. If you "
          b"want to connect from external computers to Redis you may adopt one of the following solutions: "
          b"1) Just disable protected mode sending the command 'CONFIG SET protected-mode no' from the loopback "
          b"interface by connecting to Redis from the same host the server is running, however MAKE SURE Redis is "
          b"not publicly accessible from internet if you do so. Use CONFIG REWRITE to make this change permanent. "
          b"2) Alternatively you can just disable the protected mode by editing the Redis configuration file, and "
          b"setting the protected mode option to 'no', and then restarting the server. 3) If you started the "
          b"server manually just for testing, restart it with the '--protected-mode no' option. 4) Setup a an "
          b"authentication password for the default user. NOTE: You only need to do one of the above things in "
          b"order for the server to start accepting connections from the outside.\r\n")

REMOTE = "10.255.255.1"


def greeting(conn):
    """What the server sends before any command, until it closes the connection or goes
    quiet (a served client gets nothing: then the connection must still be open)."""
    conn.sock.settimeout(0.5)
    data = b""
    try:
        while True:
            chunk = conn.sock.recv(65536)
            if not chunk:
                return data, True
            data += chunk
    except socket.timeout:
        return data, False


def assert_denied(conn):
    assert greeting(conn) == (DENIED, True)


def stats(conn):
    fields = info(conn, "stats")
    return int(fields["total_connections_received"]), int(fields["rejected_connections"])


# MARK: 127.0.0.2, on the host

@pytest.mark.parametrize("extra", [(), ("--bind", "0.0.0.0")])
def test_127_0_0_2_is_not_local(make_server, make_redis, extra):
    for s in (make_redis(*extra), make_server(*extra)):
        local = s.conn()
        before = stats(local)
        assert_denied(Conn(s.port, source="127.0.0.2"))
        # Refused connections count as rejected, not as received, as in Redis.
        assert stats(local) == (before[0], before[1] + 1)
        assert local.cmd("SET", "x", "1") == "OK"   # 127.0.0.1 is served


def test_config_set_lifts_protected_mode_for_new_connections(make_server, make_redis):
    for s in (make_redis(), make_server()):
        local = s.conn()
        assert local.cmd("CONFIG", "SET", "protected-mode", "no") == "OK"
        remote = Conn(s.port, source="127.0.0.2")
        assert remote.raw("SET", "x", "1") == b"+OK\r\n"
        assert local.cmd("CONFIG", "SET", "protected-mode", "yes") == "OK"
        assert remote.raw("GET", "x") == b"$1\r\n1\r\n"   # connections already accepted stay
        assert_denied(Conn(s.port, source="127.0.0.2"))
        # A password lifts it too: the client is served, and must authenticate.
        assert local.cmd("CONFIG", "SET", "requirepass", "pw") == "OK"
        with_password = Conn(s.port, source="127.0.0.2")
        assert greeting(with_password) == (b"", False)
        assert with_password.raw("SET", "x", "2") == b"-NOAUTH Authentication required.\r\n"
        assert with_password.raw("AUTH", "pw") == b"+OK\r\n"
        assert local.raw("AUTH", "pw") == b"+OK\r\n"
        assert local.cmd("CONFIG", "SET", "requirepass", "") == "OK"
        assert_denied(Conn(s.port, source="127.0.0.2"))


@pytest.mark.parametrize("args", [("--protected-mode", "no"), ("--requirepass", "pw")])
def test_started_without_protection(make_server, make_redis, args):
    replies = []
    for s in (make_redis(*args), make_server(*args)):
        remote = Conn(s.port, source="127.0.0.2")
        replies.append(remote.raw("PING"))
    assert replies[0] in (b"+PONG\r\n", b"-NOAUTH Authentication required.\r\n")
    assert replies[1] == replies[0]


def test_protected_configs_local_means_127_0_0_1(make_server, make_redis):
    """enable-protected-configs local uses the same test (Redis's islocalClient)."""
    args = ("--enable-protected-configs", "local", "--protected-mode", "no")
    for s in (make_redis(*args), make_server(*args)):
        remote = Conn(s.port, source="127.0.0.2")
        assert remote.raw("CONFIG", "SET", "dbfilename", "x.rdb") == (
            b"-ERR CONFIG SET failed (possibly related to argument 'dbfilename') - can't set protected config\r\n")
        assert s.conn().raw("CONFIG", "SET", "dbfilename", "x.rdb") == b"+OK\r\n"


# MARK: a non-loopback address, in a network namespace

CLONE_NEWNET = 0x40000000
NAMESPACE_SETUP = "ip link set lo up && ip addr add %s/32 dev lo && exec \"$@\"" % REMOTE


def namespace_problem():
    """Why a private network namespace with a non-loopback address cannot be made, or None."""
    if os.geteuid() != 0:
        return "needs root to create a network namespace"
    for tool in ("unshare", "ip"):
        if shutil.which(tool) is None:
            return "needs the '%s' command" % tool
    probe = subprocess.run(["unshare", "-n", "sh", "-c", NAMESPACE_SETUP, "sh", "true"],
                           capture_output=True, text=True)
    if probe.returncode != 0:
        return "cannot add %s in a network namespace: %s" % (REMOTE, probe.stderr.strip())
    return None


NAMESPACE_PROBLEM = namespace_problem()
needs_namespace = pytest.mark.skipif(NAMESPACE_PROBLEM is not None, reason=str(NAMESPACE_PROBLEM))
libc = ctypes.CDLL(None, use_errno=True)


class NamespacedServer(ServerProcess):
    """A server alone in a new network namespace where `lo` also holds 10.255.255.1; it
    vanishes with the process. Connections are made from inside the namespace (setns on
    this thread while the socket is created)."""

    def __init__(self, binary, *args):
        super().__init__("--save", "", *args, binary=binary, prefix=("unshare", "-n", "sh", "-c", NAMESPACE_SETUP, "sh"))

    def answers(self):
        try:
            return self.conn("127.0.0.1", timeout=1).cmd("PING") == "PONG"
        except OSError:
            return False

    def conn(self, address, timeout=10):
        """A connection from `address` to `address`, inside the server's namespace."""
        own = os.open("/proc/self/ns/net", os.O_RDONLY)
        theirs = os.open("/proc/%d/ns/net" % self.proc.pid, os.O_RDONLY)
        try:
            if libc.setns(theirs, CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), "setns into the server's namespace")
            try:
                return Conn(self.port, host=address, timeout=timeout, source=address)
            finally:
                if libc.setns(own, CLONE_NEWNET) != 0:
                    raise OSError(ctypes.get_errno(), "setns back")
        finally:
            os.close(own)
            os.close(theirs)


@pytest.fixture
def namespaced():
    started = []

    def start(binary, *args):
        s = NamespacedServer(binary, *args)
        started.append(s)
        return s
    yield start
    for s in started:
        s.stop()


@needs_namespace
def test_bind_all_refuses_a_remote_client(namespaced):
    """The reported case: `--bind 0.0.0.0`, no password; a client from a non-loopback address
    ran SET x 1 and got OK. Now it gets Redis's -DENIED text, nothing runs, and lifting
    protection with CONFIG SET lets the next connection in."""
    for binary in (REDIS_SERVER, BINARY):
        s = namespaced(binary, "--bind", "0.0.0.0")
        local = s.conn("127.0.0.1")
        assert local.cmd("CONFIG", "GET", "protected-mode") == [b"protected-mode", b"yes"]
        remote = s.conn(REMOTE)
        remote.send_raw(b"SET x 1\r\n")
        try:
            reply, closed = greeting(remote)
        except ConnectionResetError:
            reply, closed = None, True   # closed with the SET unread: the reset may drop the text
        assert closed and reply in (DENIED, None)
        assert local.cmd("EXISTS", "x") == 0
        assert_denied(s.conn(REMOTE))   # the exact text, to a client that sends nothing
        assert local.cmd("CONFIG", "SET", "protected-mode", "no") == "OK"
        assert s.conn(REMOTE).raw("SET", "x", "1") == b"+OK\r\n"
        assert local.cmd("CONFIG", "SET", "protected-mode", "yes") == "OK"
        assert_denied(s.conn(REMOTE))
