"""Background writers: a thread that keeps writing while a test disturbs the server."""
import threading

from .resp import Conn


class Writer(threading.Thread):
    """Calls `step(conn, i)` for i = 0, 1, ... on a connection of its own until `stop()`;
    `done` counts the steps that returned. An exception ends the loop; `stop()` raises it."""

    def __init__(self, port, step):
        super().__init__(daemon=True)
        self.conn = Conn(port)
        self.step = step
        self.done = 0
        self.stopping = threading.Event()
        self.error = None

    def run(self):
        try:
            while not self.stopping.is_set():
                self.step(self.conn, self.done)
                self.done += 1
        except Exception as e:  # noqa: BLE001 - raised again by stop()
            self.error = e
        finally:
            self.conn.close()

    def stop(self, timeout=30, raise_error=True):
        self.stopping.set()
        self.join(timeout)
        assert not self.is_alive(), "the writer did not stop"
        if raise_error and self.error is not None:
            raise self.error

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, exc_type, exc, tb):
        self.stop(raise_error=exc_type is None)  # the test's own failure comes first
