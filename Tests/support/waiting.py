"""Awaiting a condition with a deadline (tests never sleep for a fixed time)."""
import time


def wait_until(condition, timeout=10.0, interval=0.01, message="condition"):
    """Polls `condition` until it is truthy and returns its value; fails the test after
    `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for " + message)
        time.sleep(interval)
