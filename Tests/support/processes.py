"""One launcher for valkeyper-server and redis-server processes: a free port, a data
directory, log files, waiting until it answers, stopping, killing, signals, restarts."""
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

from .resp import Conn

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BINARY = os.environ.get("VALKEYPER_BIN", os.path.join(ROOT, ".build", "release", "valkeyper-server"))
REDIS_SERVER = shutil.which("redis-server")
# What every redis-server of the tests needs: loopback only, no AOF files in the data directory.
REDIS_ARGS = ("--bind", "127.0.0.1", "--appendonly", "no")
# How many workers and shards a test server gets unless a test says otherwise (`make test`
# runs the suite on two and on one).
TEST_SHARDS = os.environ.get("VALKEYPER_TEST_SHARDS", "2")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def shards(n):
    """The options for `n` workers each owning one shard."""
    return ("--threads", str(n), "--shards", str(n))


def answers_ping(port):
    """True once a server on `port` accepts a connection and answers PING (or asks for a
    password first)."""
    try:
        c = Conn(port, timeout=1)
        try:
            reply = c.cmd("PING")
        finally:
            c.close()
        return reply == "PONG" or str(reply).startswith("NOAUTH")
    except OSError:
        return False


def read_text(path):
    try:
        with open(path, "rb") as f:
            return f.read().decode(errors="replace")
    except FileNotFoundError:
        return ""


class ServerProcess:
    """A valkeyper-server (or, with binary=REDIS_SERVER, a redis-server) on `data_dir` (a new
    temporary directory by default) and a free port, or `port`. Its stdout and stderr go to
    `server.log` in the data directory; with `logs_apart`, to files `stdout` and `stderr` in
    a directory of their own, so the data directory holds only what the server writes. Each
    start appends a `==== start N` line to the log. `start()` again after a stop restarts it
    on the same port and data directory. A port taken meanwhile (a client's ephemeral port)
    is replaced by another unless the port was given."""

    START_MARK = "\n==== start "

    def __init__(self, *args, binary=BINARY, data_dir=None, port=None, config_file=None, logs_apart=False,
                 prefix=(), start=True, wait=True):
        self.binary, self.args, self.config_file, self.prefix = binary, list(args), config_file, list(prefix)
        self.dir = str(data_dir) if data_dir else tempfile.mkdtemp(prefix="valkeyper-test-")
        self.logs_apart = logs_apart
        self.log_dir = tempfile.mkdtemp(prefix="valkeyper-logs-") if logs_apart else self.dir
        self.log_path = os.path.join(self.log_dir, "stdout" if logs_apart else "server.log")
        self.stderr_path = os.path.join(self.log_dir, "stderr") if logs_apart else None
        self.port_given = port is not None
        self.port = port or free_port()
        self.proc = None
        self.starts = 0
        if start:
            self.start(wait=wait)

    def __repr__(self):
        return "%s(:%d)" % (os.path.basename(self.binary or "?"), self.port)

    # MARK: starting

    def arguments(self):
        """The options after --port and --dir (a subclass may compute them at each start)."""
        return self.args

    def command_line(self):
        conf = [str(self.config_file)] if self.config_file else []
        extra = list(REDIS_ARGS) if self.binary == REDIS_SERVER else []
        return [*self.prefix, self.binary, *conf, "--port", str(self.port), "--dir", self.dir, *extra,
                *self.arguments()]

    def spawn(self):
        """Starts the process without waiting for it to answer."""
        self.starts += 1
        with open(self.log_path, "ab") as log:
            log.write(("%s%d (port %d)\n" % (self.START_MARK, self.starts, self.port)).encode())
            log.flush()
            stderr = open(self.stderr_path, "ab") if self.stderr_path else subprocess.STDOUT
            try:
                self.proc = subprocess.Popen(self.command_line(), stdout=log, stderr=stderr)
            finally:
                if self.stderr_path:
                    stderr.close()

    def start(self, wait=True, timeout=30):
        self.spawn()
        if wait:
            self.wait_ready(timeout)

    def answers(self):
        return answers_ping(self.port)

    def wait_ready(self, timeout=30):
        """Awaits the first answer to PING; a server that exits first fails the test, unless it
        only found its port taken: then it starts again on another one (five tries)."""
        for attempt in range(5):
            deadline = time.monotonic() + timeout
            while self.proc.poll() is None:
                if self.answers():
                    return
                if time.monotonic() > deadline:
                    raise AssertionError("%r did not answer PING within %d s:\n%s" % (self, timeout, self.start_log()))
                time.sleep(0.01)
            log = self.start_log()
            if "Address already in use" not in log or self.port_given or attempt == 4:
                raise AssertionError("%r exited early (code %s):\n%s" % (self, self.proc.returncode, log[-3000:]))
            self.port = free_port()
            self.spawn()

    # MARK: stopping

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout=10):
        """SIGTERM (after SIGCONT, should it be stopped), then SIGKILL if it does not exit."""
        if self.alive():
            self.proc.send_signal(signal.SIGCONT)
            self.proc.terminate()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def kill(self):
        """SIGKILL (after SIGCONT, should it be stopped), as a crash would."""
        if self.alive():
            self.proc.send_signal(signal.SIGCONT)
            self.proc.kill()
        if self.proc is not None:
            self.proc.wait()

    def remove_logs(self):
        """Removes the log directory of `logs_apart` (the data directory is the test's)."""
        if self.logs_apart:
            shutil.rmtree(self.log_dir, ignore_errors=True)

    def wait_exit(self, timeout=30):
        return self.proc.wait(timeout)

    def shutdown(self, *args):
        """SHUTDOWN [args]: the server closes the connection and exits; returns the exit code."""
        c = self.conn()
        c.send_raw(b"".join([b"*%d\r\n" % (1 + len(args))] +
                            [b"$%d\r\n%s\r\n" % (len(a), a.encode()) for a in ("SHUTDOWN",) + args]))
        assert c.is_closed(timeout=30), "SHUTDOWN %s did not close the connection" % " ".join(args)
        c.close()
        return self.wait_exit()

    # MARK: talking to it

    def conn(self, timeout=10):
        return Conn(self.port, timeout=timeout)

    def cmd(self, *args):
        """One command on a connection of its own."""
        c = self.conn()
        try:
            return c.cmd(*args)
        finally:
            c.close()

    # MARK: logs

    def output(self):
        """Everything it wrote to stdout (with its stderr, unless `logs_apart`), every start."""
        return read_text(self.log_path)

    def errors(self):
        """Its stderr with `logs_apart`; otherwise the whole log."""
        return read_text(self.stderr_path) if self.stderr_path else self.output()

    def last_start_log(self):
        return self.output().rsplit(self.START_MARK, 1)[-1]

    def start_log(self):
        """What the latest start wrote (and all of stderr with `logs_apart`), for a failure."""
        return self.last_start_log() + (self.errors() if self.stderr_path else "")

    def log_tail(self, n=4000):
        return self.output()[-n:]
