"""client-output-buffer-limit as in Redis 7.0: a client whose pending replies reach the hard
limit, or stay over the soft limit for more than its seconds, is logged ("scheduled to be
closed ASAP for overcoming of output buffer limits") and dropped without its pending output;
CLIENT LIST reports pending output as obl (Redis's 16 KB static buffer), oll and omem (the
reply list), and only omem counts against the limits. Every test runs the same steps against
redis-server 7.0 and ValKeyper; CONFIG SET replies are compared byte for byte."""
import re
import select
import signal
import socket
import time

import pytest

from support.info import info
from support.marks import needs_redis
from support.replication import link_up
from support.resp import Conn
from support.waiting import wait_until

pytestmark = needs_redis

VALUE = b"v" * 100          # a GET reply is 108 bytes
PIPELINE = b"GET k\r\n" * 300000


@pytest.fixture
def servers(make_server, make_redis):
    return {"redis": make_redis(), "valkeyper": make_server("--threads", "2", "--shards", "2")}


def client_line(control, client_id):
    """The CLIENT LIST fields of one client, or None once it is gone."""
    for line in control.cmd("CLIENT", "LIST").decode().splitlines():
        fields = dict(f.split("=", 1) for f in line.split(" "))
        if fields["id"] == str(client_id):
            return fields
    return None


class Flooder:
    """A connection that pipelines GETs and never reads its replies (a small receive buffer,
    so that the replies soon pile up in the server)."""

    def __init__(self, port):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        self.sock.connect(("127.0.0.1", port))
        self.sock.sendall(b"CLIENT ID\r\n")
        reply = b""
        while not reply.endswith(b"\r\n"):
            reply += self.sock.recv(1)
        self.id = int(reply[1:-2])
        self.sock.setblocking(False)
        self.queue = memoryview(b"")
        self.closed = False

    def push(self, data):
        self.queue = memoryview(bytes(self.queue) + data)

    @property
    def idle(self):
        return len(self.queue) == 0

    def pump(self, wait=0.05):
        """Sends what the socket takes of the queued bytes, waiting up to `wait` for room."""
        if self.closed or self.idle:
            return
        _, writable, _ = select.select([], [self.sock], [], wait)
        if not writable:
            return
        try:
            self.queue = self.queue[self.sock.send(self.queue[:1 << 16]):]
        except (BrokenPipeError, ConnectionResetError):
            self.closed = True

    def close(self):
        self.sock.close()


def log_of(server):
    return server.output()


def test_hard_limit_drops_a_client_that_does_not_read(servers):
    """The reported case: limit `normal 1mb 1mb 0`, a client pipelining 300k GETs without
    reading was kept with 28 MB queued. Redis drops it; so must we, logging the same line."""
    for name, s in servers.items():
        control = s.conn()
        assert control.cmd("CONFIG", "SET", "client-output-buffer-limit", "normal 1mb 1mb 0") == "OK"
        assert control.cmd("SET", "k", VALUE) == "OK"
        flood = Flooder(s.port)
        flood.push(PIPELINE)

        def dropped():
            flood.pump()
            return client_line(control, flood.id) is None
        wait_until(dropped, timeout=20, message=name + " to drop the client over its limit")
        wait_until(lambda: "scheduled to be closed ASAP for overcoming of output buffer limits." in log_of(s),
                   message=name + " to log the drop")
        line = [l for l in log_of(s).splitlines() if "overcoming of output buffer limits" in l][0]
        assert re.search(r" # Client id=%d addr=127\.0\.0\.1:\d+ .* cmd=get user=default redir=-1 resp=2 "
                         r"scheduled to be closed ASAP for overcoming of output buffer limits\.$" % flood.id, line), line
        omem = int(re.search(r" omem=(\d+) ", line).group(1))
        assert omem >= 1 << 20, line
        flood.close()
        assert control.cmd("GET", "k") == VALUE     # the server goes on serving


def test_client_list_reports_obl_oll_omem(servers):
    """Unlimited: the replies pile up in omem (blocks counted in oll); obl never exceeds the
    16 KB static buffer; once the client reads everything they are back to zero."""
    for name, s in servers.items():
        control = s.conn()
        assert control.cmd("CONFIG", "SET", "client-output-buffer-limit", "normal 0 0 0") == "OK"
        assert control.cmd("SET", "k", VALUE) == "OK"
        flood = Flooder(s.port)
        flood.push(PIPELINE[:len(PIPELINE) // 3])    # 100k GETs: 10.8 MB of replies

        def piled_up():
            flood.pump()
            fields = client_line(control, flood.id)
            return fields if fields and int(fields["omem"]) > 4 << 20 else None
        fields = wait_until(piled_up, timeout=20, message=name + " to queue replies")
        obl, oll, omem = int(fields["obl"]), int(fields["oll"]), int(fields["omem"])
        assert obl <= 16384 and oll >= 1 and omem >= oll * 16384, fields
        # INFO's client_recent_max_output_buffer is omem too (Redis updates it from its cron).
        wait_until(lambda: int(info(control, "clients")["client_recent_max_output_buffer"]) >= omem,
                   message=name + " to report the output buffer in INFO")
        # Read everything: the counters fall back to zero.
        flood.sock.setblocking(True)
        flood.sock.sendall(flood.queue)
        expected, got = 100000 * 108, b""
        while len(got) < expected:
            got += flood.sock.recv(1 << 20)
        assert len(got) == expected, (name, len(got), got[-1000:])
        fields = client_line(control, flood.id)
        assert (fields["obl"], fields["oll"], fields["omem"]) == ("0", "0", "0"), fields
        flood.close()


def test_soft_limit_needs_more_than_its_seconds(servers):
    """`normal 0 512kb 2`: over the soft limit the client stays; it is dropped by a reply
    added more than 2 whole seconds after it first went over, never sooner."""
    for name, s in servers.items():
        control = s.conn()
        assert control.cmd("CONFIG", "SET", "client-output-buffer-limit", "normal 0 512kb 2") == "OK"
        assert control.cmd("SET", "k", VALUE) == "OK"
        started = time.monotonic()
        flood = Flooder(s.port)
        flood.push(PIPELINE[:len(PIPELINE) // 3])     # 100k GETs: 10.8 MB of replies, more than the kernel holds

        def over_soft_limit():
            flood.pump()
            fields = client_line(control, flood.id)
            assert fields is not None, name + " dropped the client as soon as it passed the soft limit"
            return int(fields["omem"]) >= 512 * 1024
        wait_until(over_soft_limit, timeout=20, message=name + " to queue over the soft limit")

        def dropped():
            if flood.idle:
                flood.push(b"GET k\r\n")    # one more reply now and then: each one is checked
            flood.pump(wait=0.1)
            return client_line(control, flood.id) is None
        wait_until(dropped, timeout=20, message=name + " to drop the client after the soft limit's seconds")
        assert time.monotonic() - started > 2.0, name
        # Dropped by a new reply ("scheduled to be closed ASAP") or by the cron ("closed").
        wait_until(lambda: re.search(r" # Client id=%d .* (scheduled to be closed ASAP|closed) for overcoming of "
                                     r"output buffer limits\.\n" % flood.id, log_of(s)),
                   message=name + " to log the drop")
        flood.close()


def test_a_reply_over_the_hard_limit_drops_the_client_unanswered(servers):
    """A single 2 MB reply against `normal 1mb 0 0`: Redis drops the client with its pending
    replies (even the PONG before it): nothing at all reaches the client. ValKeyper does the
    same, except that when the key lives on another worker's shard, the PONG may have been
    written before the GET's reply came back; the big reply itself never goes out."""
    received = []
    for s in servers.values():
        control = s.conn()
        assert control.cmd("CONFIG", "SET", "client-output-buffer-limit", "normal 1mb 0 0") == "OK"
        assert control.cmd("SET", "big", b"x" * (2 << 20)) == "OK"
        c = Conn(s.port)
        c.send_raw(b"PING\r\nGET big\r\nPING\r\n")
        data = b""
        while True:
            chunk = c.sock.recv(1 << 20)
            if not chunk:
                break
            data += chunk
        received.append(data)
        assert control.cmd("PING") == "PONG"
    assert received[0] == b""
    assert received[1] in (b"", b"+PONG\r\n")


CONFIG_CASES = [
    "normal 1mb 1mb 0", "NORMAL 1k 2K 3 pubsub 1 1 1", "replica 1 2 3", "Replica 1 1 1", "slave 10gb 1gb 60",
    "pubsub 5 5 5 normal 0 0 0", "master 0 0 0", "foo 1 2 3", "normal 1 2", "normal 1 2 3 pubsub", "",
    "normal 0 0 abc", "normal 0 0 10x", "normal 0 0 +3", "normal 0 0 03", "normal 0 0 -0", "normal 0 0 -1",
    "normal 0 0 4294967297", "normal 0 0 2147483648", "normal 0 0 9223372036854775807",
    "normal 0 0 99999999999999999999", "normal 0 0 ", "normal   ", "normal 0 0 \t5", " normal 0 0 0",
    "normal 0 0 0 ", "normal  0 0 0", "normal -1 0 0", "normal +1 0 0", "normal 1.5mb 0 0", "normal 0x10 0 0",
    "normal 00 0 0", "normal 1B 0 0", "normal 1Gb 0 0", "normal 18446744073709551615 0 0",
    "normal 18446744073709551616 0 0", "normal 18446744073709551615kb 0 0", "normal " + "1" * 130 + " 0 0",
    "normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60",
]


def test_config_set_same_as_redis(servers):
    """Every value Redis 7.0 takes (or refuses, with which words) is taken the same way, and
    CONFIG GET shows the same limits afterwards."""
    redis, vk = servers["redis"].conn(), servers["valkeyper"].conn()
    for value in CONFIG_CASES:
        for name in ("client-output-buffer-limit", "maxmemory"):
            if name == "maxmemory":
                value = value.split(" ")[1] if value.count(" ") >= 3 else value
            replies = [c.raw("CONFIG", "SET", name, value) for c in (redis, vk)]
            assert replies[1] == replies[0], (name, value)
            current = [c.raw("CONFIG", "GET", name) for c in (redis, vk)]
            assert current[1] == current[0], (name, value)
    for c in (redis, vk):
        assert c.cmd("CONFIG", "SET", "maxmemory", "0") == "OK"


def test_replica_soft_limit_follows_the_same_rule(make_server, make_redis):
    """The replica class: a replica that stops reading is dropped once its stream stays over
    the soft limit for more than the soft seconds, by a redis-server master and a ValKeyper
    master alike, each logging Redis's line."""
    for master in (make_redis(), make_server("--threads", "2", "--shards", "2")):
        m = master.conn()
        replica = make_redis("--replicaof", "127.0.0.1", str(master.port))
        wait_until(lambda: link_up(replica), timeout=20, message="replica link up")
        assert m.cmd("CONFIG", "SET", "client-output-buffer-limit", "replica 0 256kb 2") == "OK"
        replica.proc.send_signal(signal.SIGSTOP)
        try:
            started = time.monotonic()
            value = "x" * 10000
            i = 0

            def dropped():
                nonlocal i
                for _ in range(20):
                    m.cmd("SET", "big%d" % (i % 50), value)
                    i += 1
                return info(m, "replication")["connected_slaves"] == "0"
            wait_until(dropped, timeout=30, message="the master to drop its stopped replica")
            assert time.monotonic() - started > 2.0
            assert "for overcoming of output buffer limits." in master.output()
            assert m.cmd("PING") == "PONG"
        finally:
            replica.proc.send_signal(signal.SIGCONT)
