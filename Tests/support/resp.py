"""A minimal RESP2/RESP3 client for tests that must see replies exactly as sent."""
import socket


class Error(Exception):
    """An error reply (-ERR ...). str(e) is the message without the leading '-'."""


class Verbatim(str):
    pass


class Double(float):
    pass


class Push(list):
    pass


class RespSet(list):
    """RESP3 set (~), kept as a list to keep order for comparison."""


class Map(dict):
    pass


NULL = None


def encode(*args):
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        if isinstance(a, str):
            a = a.encode()
        elif isinstance(a, int):
            a = str(a).encode()
        elif isinstance(a, float):
            a = repr(a).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


class Conn:
    def __init__(self, port, host="127.0.0.1", timeout=10, source=None):
        """`source`: the local address to connect from (e.g. 127.0.0.2, not local for Redis)."""
        self.sock = socket.create_connection((host, port), timeout=timeout,
                                             source_address=(source, 0) if source else None)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""
        self.log = None

    def close(self):
        self.sock.close()

    def send_raw(self, data):
        self.sock.sendall(data)

    def _fill(self):
        chunk = self.sock.recv(1 << 20)
        if not chunk:
            raise ConnectionError("connection closed by server")
        self.buf += chunk

    def _line(self):
        while b"\r\n" not in self.buf:
            self._fill()
        line, self.buf = self.buf.split(b"\r\n", 1)
        if self.log is not None:
            self.log.append(line + b"\r\n")
        return line

    def _exact(self, n):
        while len(self.buf) < n + 2:
            self._fill()
        if self.log is not None:
            self.log.append(self.buf[:n + 2])
        data, self.buf = self.buf[:n], self.buf[n + 2:]
        return data

    def read_raw(self):
        """The exact bytes of the next reply."""
        self.log = []
        try:
            self.read()
            return b"".join(self.log)
        finally:
            self.log = None

    def read(self):
        line = self._line()
        t, rest = line[:1], line[1:]
        if t == b"+":
            return rest.decode(errors="surrogateescape")
        if t == b"-":
            return Error(rest.decode(errors="surrogateescape"))
        if t == b":":
            return int(rest)
        if t == b"$":
            n = int(rest)
            return None if n < 0 else self._exact(n)
        if t == b"*":
            n = int(rest)
            return None if n < 0 else [self.read() for _ in range(n)]
        if t == b"_":
            return None
        if t == b",":
            return Double(float(rest.replace(b"inf", b"inf")))
        if t == b"#":
            return rest == b"t"
        if t == b"%":
            n = int(rest)
            m = Map()
            for _ in range(n):
                k = self.read()
                m[k if not isinstance(k, list) else tuple(k)] = self.read()
            return m
        if t == b"~":
            return RespSet(self.read() for _ in range(int(rest)))
        if t == b"=":
            data = self._exact(int(rest))
            return Verbatim(data[4:].decode())
        if t == b">":
            return Push(self.read() for _ in range(int(rest)))
        if t == b"(":
            return int(rest)
        raise AssertionError("unexpected reply type %r in %r" % (t, line))

    def cmd(self, *args):
        """Send a command and return its reply; error replies are returned as Error, not raised."""
        self.send_raw(encode(*args))
        return self.read()

    def raw(self, *args):
        """Send a command and return the exact reply bytes."""
        self.send_raw(encode(*args))
        return self.read_raw()

    def pipeline(self, commands):
        self.send_raw(b"".join(encode(*c) for c in commands))
        return [self.read() for _ in commands]

    def is_closed(self, timeout=5):
        """True if the server closes the connection (after any pending replies)."""
        self.sock.settimeout(timeout)
        try:
            while True:
                chunk = self.sock.recv(65536)
                if not chunk:
                    return True
        except (ConnectionResetError, BrokenPipeError):
            return True
        except socket.timeout:
            return False
