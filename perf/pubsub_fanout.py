#!/usr/bin/env python3
"""Pub/sub fan-out load: SUBSCRIBERS connections subscribe to one channel, one publisher
pipelines PUBLISH (BATCH at a time, waiting for the replies) for SECONDS; prints one line
"published delivered_per_s published_per_s" where delivered counts the messages the
subscribers read (bytes read / the size of one message). One thread, selectors."""
import selectors
import socket
import sys
import time


def encode(*args):
    out = b"*%d\r\n" % len(args)
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out += b"$%d\r\n%s\r\n" % (len(a), a)
    return out


def main(port, subscribers, seconds, batch=50, size=32):
    sel = selectors.DefaultSelector()
    subs = []
    for _ in range(subscribers):
        s = socket.create_connection(("127.0.0.1", port))
        s.sendall(encode("SUBSCRIBE", "fanout"))
        subs.append(s)
    confirm = len(b"*3\r\n$9\r\nsubscribe\r\n$6\r\nfanout\r\n:1\r\n")
    for s in subs:
        got = 0
        while got < confirm:
            got += len(s.recv(confirm - got))
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ)
    payload = b"x" * size
    message = len(b"*3\r\n$7\r\nmessage\r\n$6\r\nfanout\r\n$%d\r\n%s\r\n" % (size, payload))
    pub = socket.create_connection(("127.0.0.1", port))
    pub.setblocking(False)
    request = encode("PUBLISH", "fanout", payload) * batch
    received = 0
    published = 0
    pending = b""
    replies_due = 0
    reply_buf = b""
    start = time.monotonic()
    deadline = start + seconds
    sel.register(pub, selectors.EVENT_READ)
    while True:
        now = time.monotonic()
        if replies_due == 0:
            if now >= deadline:
                break
            pending = request
            replies_due = batch
        if pending:
            try:
                n = pub.send(pending)
                pending = pending[n:]
            except BlockingIOError:
                pass
        for key, _ in sel.select(timeout=0.01):
            s = key.fileobj
            try:
                data = s.recv(1 << 20)
            except BlockingIOError:
                continue
            if s is pub:
                reply_buf += data
                lines = reply_buf.count(b"\r\n")
                replies_due -= lines
                published += lines
                reply_buf = reply_buf[reply_buf.rfind(b"\r\n") + 2:] if lines else reply_buf
            else:
                received += len(data)
    elapsed = time.monotonic() - start
    # Drain what is still on its way (bounded).
    expected = published * subscribers * message
    drain_deadline = time.monotonic() + 10
    while received < expected and time.monotonic() < drain_deadline:
        for key, _ in sel.select(timeout=0.1):
            if key.fileobj is pub:
                continue
            try:
                received += len(key.fileobj.recv(1 << 20))
            except BlockingIOError:
                pass
    total = time.monotonic() - start
    print("%d %.0f %.0f" % (published, received / message / total, published / elapsed))


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]))
