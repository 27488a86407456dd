"""The wire protocol and bad input: inline commands, malformed frames, split frames,
big and binary values, many connections, maxclients. Expected bytes are Redis 7.0.15's."""
import resource
import socket
import time

from support.info import info
from support.resp import encode
from support.waiting import wait_until

# Enough descriptors for the many-connections test, for this process and the server it starts.
_soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
if _soft != resource.RLIM_INFINITY and _soft < 12000:
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(12000, _hard) if _hard != resource.RLIM_INFINITY else 12000, _hard))


def used_memory(c):
    return int(info(c, "memory")["used_memory"])


def protocol_error(server, data, expected):
    """Sends `data` on a fresh connection: the error comes back, the connection closes,
    and the server goes on serving others."""
    c = server.conn()
    c.send_raw(data)
    assert c.read_raw() == expected
    assert c.is_closed()
    assert server.conn().cmd("PING") == "PONG"


# ---------------------------------------------------------------- inline commands

def test_inline_commands(r):
    r.send_raw(b"PING\r\n")
    assert r.read_raw() == b"+PONG\r\n"
    r.send_raw(b"SET k hello\n")                  # a bare LF ends a line too
    assert r.read_raw() == b"+OK\r\n"
    r.send_raw(b"   GET    k   \r\n")
    assert r.read_raw() == b"$5\r\nhello\r\n"
    r.send_raw(b"SET q \"a b\\x41\\n\"\r\nGET q\r\n")
    assert r.read_raw() == b"+OK\r\n"
    assert r.read_raw() == b"$5\r\na bA\n\r\n"
    r.send_raw(b"SET s 'it\\'s'\r\nGET s\r\n")
    assert r.read_raw() == b"+OK\r\n"
    assert r.read_raw() == b"$4\r\nit's\r\n"
    r.send_raw(b"ECHO \"\"\r\n")
    assert r.read_raw() == b"$0\r\n\r\n"
    r.send_raw(b"\r\n\r\n   \r\nPING\r\n")        # empty lines are skipped
    assert r.read_raw() == b"+PONG\r\n"
    r.send_raw(b"ECHO hello world\r\n")
    assert r.read_raw() == b"-ERR wrong number of arguments for 'echo' command\r\n"
    r.send_raw(b"NOPE a b\r\n")
    assert r.read_raw() == b"-ERR unknown command 'NOPE', with args beginning with: 'a' 'b' \r\n"
    # inline and multibulk mix on one connection
    r.send_raw(b"PING\r\n" + encode("ECHO", "x") + b"PING x\r\n")
    assert [r.read_raw() for _ in range(3)] == [b"+PONG\r\n", b"$1\r\nx\r\n", b"$1\r\nx\r\n"]


def test_inline_unbalanced_quotes(server):
    protocol_error(server, b"SET k \"abc\r\n", b"-ERR Protocol error: unbalanced quotes in request\r\n")
    protocol_error(server, b"SET 'a'b c\r\n", b"-ERR Protocol error: unbalanced quotes in request\r\n")
    # the replies before the bad line still arrive
    c = server.conn()
    c.send_raw(b"PING\r\nECHO 'x\r\nPING\r\n")
    assert c.read_raw() == b"+PONG\r\n"
    assert c.read_raw() == b"-ERR Protocol error: unbalanced quotes in request\r\n"
    assert c.is_closed()


def read_until_closed(c):
    """Every byte the server sends until it closes the connection."""
    data = c.buf
    c.sock.settimeout(10)
    while True:
        chunk = c.sock.recv(65536)
        if not chunk:
            return data
        data += chunk


def test_inline_nul_waits_for_a_line_end_as_redis(server, make_redis):
    """Redis finds an inline line's end with strchr, which stops at a NUL: a line holding a
    NUL never ends, nothing runs (not even the commands after it), and once the pending
    request passes 64 KB it is refused as too big. Exactly what redis-server 7.0 does."""
    redis = make_redis()
    # 65537 bytes in all: the request is too big only once every byte is in, so the
    # server has read everything before it closes (no reset losing the reply).
    head = b"SET nk2 v\x00tail\r\nSET after 1\r\n"
    payload = head + b"PING\r\n" * ((65537 - len(head)) // 6)
    payload += b"x" * (65537 - len(payload))
    replies = []
    for s in (redis, server):
        s.conn().cmd("DEL", "nk2", "after")
        c = s.conn()
        c.send_raw(payload)
        replies.append(read_until_closed(c))
        assert s.conn().cmd("EXISTS", "nk2", "after") == 0
    assert replies[0] == b"-ERR Protocol error: too big inline request\r\n"
    assert replies[1] == replies[0]


def test_inline_quotes_and_escapes_same_as_redis(server, make_redis):
    """sdssplitargs: quotes, escapes (an escaped NUL is kept), separators; replies compared
    byte for byte with redis-server 7.0."""
    redis = make_redis()
    lines = [b"SET nk3 \"a\\x00b\"", b"STRLEN nk3", b"GET nk3", b"SET q \"\\x4a\\xzz\\n\\t\\\"\"", b"GET q",
             b"SET s 'it\\'s \\n'", b"GET s", b"ECHO \"\" ''", b"SET\ta\tb", b"GET a", b"ECHO a\x0bb",
             b"SET \"sp ace\" 1", b"EXISTS \"sp ace\"", b"   ", b"ECHO \"x\"\t", b"DEL nk3 q s a \"sp ace\""]
    for bad in (b"ECHO \"a\"b", b"ECHO 'a", b"ECHO \"a\\\""):
        replies = []
        for s in (redis, server):
            c = s.conn()
            c.send_raw(b"\r\n".join(lines) + b"\r\n" + bad + b"\r\n")
            replies.append(read_until_closed(c))
        assert replies[0].endswith(b"-ERR Protocol error: unbalanced quotes in request\r\n")
        assert replies[1] == replies[0], bad


# ---------------------------------------------------------------- malformed multibulk

def test_multibulk_counts(server):
    c = server.conn()
    c.send_raw(b"*-5\r\nPING\r\n*0\r\n*-1\r\n" + encode("PING"))   # non-positive counts are ignored
    assert c.read_raw() == b"+PONG\r\n"
    assert c.read_raw() == b"+PONG\r\n"
    protocol_error(server, b"*2147483648\r\n", b"-ERR Protocol error: invalid multibulk length\r\n")
    protocol_error(server, b"*3000000000\r\n", b"-ERR Protocol error: invalid multibulk length\r\n")
    protocol_error(server, b"*abc\r\n", b"-ERR Protocol error: invalid multibulk length\r\n")
    protocol_error(server, b"*+1\r\n", b"-ERR Protocol error: invalid multibulk length\r\n")
    protocol_error(server, b"*" + b"1" * 70000, b"-ERR Protocol error: too big mbulk count string\r\n")


def test_bulk_lengths(server):
    protocol_error(server, b"*1\r\n$-1\r\n", b"-ERR Protocol error: invalid bulk length\r\n")
    protocol_error(server, b"*1\r\n$abc\r\n", b"-ERR Protocol error: invalid bulk length\r\n")
    protocol_error(server, b"*2\r\n$4\r\nECHO\r\n$-0\r\n", b"-ERR Protocol error: invalid bulk length\r\n")
    protocol_error(server, b"*1\r\n$600000000\r\n", b"-ERR Protocol error: invalid bulk length\r\n")  # > proto-max-bulk-len
    protocol_error(server, b"*1\r\nx\r\n", b"-ERR Protocol error: expected '$', got 'x'\r\n")
    protocol_error(server, b"*2\r\n$4\r\nECHO\r\n:1\r\n", b"-ERR Protocol error: expected '$', got ':'\r\n")


def test_proto_max_bulk_len_is_configurable(make_server):
    s = make_server("--proto-max-bulk-len", "1mb")
    c = s.conn()
    c.send_raw(b"*2\r\n$4\r\nECHO\r\n$1048577\r\n")
    assert c.read_raw() == b"-ERR Protocol error: invalid bulk length\r\n"
    big = b"x" * (1 << 20)
    d = s.conn()
    assert d.cmd("ECHO", big) == big


# ---------------------------------------------------------------- framing

def test_frames_split_at_every_byte(r):
    frame = encode("SET", "split", "a\r\nb") + encode("GET", "split") + b"PING\r\n" + encode("ECHO", "")
    for byte in frame:
        r.send_raw(bytes([byte]))
    assert r.read_raw() == b"+OK\r\n"
    assert r.read_raw() == b"$4\r\na\r\nb\r\n"
    assert r.read_raw() == b"+PONG\r\n"
    assert r.read_raw() == b"$0\r\n\r\n"


def test_ten_megabyte_value_round_trips(r):
    value = bytes(range(256)) * (10 * 1024 * 1024 // 256)
    assert r.cmd("SET", "big", value) == "OK"
    assert r.cmd("GET", "big") == value
    assert r.cmd("ECHO", value) == value
    r.cmd("DEL", "big")


def test_huge_declared_bulk_is_not_allocated(server):
    c = server.conn()
    before = used_memory(c)
    hogs = []
    for _ in range(4):
        h = server.conn()
        h.send_raw(b"*2\r\n$3\r\nGET\r\n$500000000\r\nabc")
        hogs.append(h)
    assert c.cmd("PING") == "PONG"
    for h in hogs:   # still waiting for the rest of the bulk, nothing reserved for it
        assert not h.is_closed(timeout=0.2)
    assert used_memory(c) < before + 50 * 1024 * 1024
    for h in hogs:
        h.close()


def test_binary_keys_and_values(r):
    key = b"k\x00ey\r\nwith\xffbytes"
    value = b"\x00\r\n\x00\xfe\r\n"
    assert r.cmd("SET", key, value) == "OK"
    assert r.cmd("GET", key) == value
    assert r.cmd("GET", b"k") is None
    assert r.cmd("EXISTS", key) == 1
    assert r.raw("ECHO", b"\x00") == b"$1\r\n\x00\r\n"


def test_clients_closing_mid_frame(server):
    for partial in [b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$10\r\nabc", b"*2\r\n$3\r\nGET\r\n", b"*", b"SET k",
                    b"*1\r\n$4\r\nPI"]:
        s = socket.create_connection(("127.0.0.1", server.port))
        s.sendall(partial)
        s.close()
    c = server.conn()
    assert c.cmd("PING") == "PONG"
    assert c.cmd("EXISTS", "k") == 0
    # a reset connection with a pending reply
    s = socket.create_connection(("127.0.0.1", server.port))
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    s.sendall(encode("ECHO", "x" * 100000) * 20)
    s.close()
    assert c.cmd("PING") == "PONG"


def test_protocol_error_after_good_commands_in_pipeline(server):
    c = server.conn()
    c.send_raw(encode("SET", "pk", "1") + encode("GET", "pk") + b"*1\r\n$x\r\n" + encode("PING"))
    assert c.read_raw() == b"+OK\r\n"
    assert c.read_raw() == b"$1\r\n1\r\n"
    assert c.read_raw() == b"-ERR Protocol error: invalid bulk length\r\n"
    assert c.is_closed()


# ---------------------------------------------------------------- connections

def test_many_idle_connections(server):
    idle = []
    try:
        for _ in range(5000):
            s = socket.create_connection(("127.0.0.1", server.port))
            idle.append(s)
        c = server.conn()
        start = time.monotonic()
        for i in range(200):
            assert c.cmd("SET", "fast:%d" % i, "v") == "OK"
        elapsed = time.monotonic() - start
        assert elapsed < 5, elapsed
        wait_until(lambda: int(info_clients(c)) >= 5001, message="all connections registered")
        idle[1234].sendall(b"PING\r\n")
        assert idle[1234].recv(100) == b"+PONG\r\n"
    finally:
        for s in idle:
            s.close()
    wait_until(lambda: int(info_clients(server.conn())) < 100, message="idle connections gone")


def info_clients(c):
    return info(c, "clients")["connected_clients"]


def test_maxclients(make_server):
    s = make_server()
    admin = s.conn()
    assert admin.raw("CONFIG", "SET", "maxclients", "5") == b"+OK\r\n"
    conns = [admin] + [s.conn() for _ in range(4)]
    for c in conns:
        assert c.cmd("PING") == "PONG"
    sixth = socket.create_connection(("127.0.0.1", s.port))
    sixth.settimeout(5)
    data = b""
    while True:
        chunk = sixth.recv(100)
        if not chunk:
            break
        data += chunk
    assert data == b"-ERR max number of clients reached\r\n"
    assert "rejected_connections:1\r\n" in admin.cmd("INFO", "stats").decode()
    conns[4].close()
    wait_until(lambda: int(info_clients(admin)) == 4, message="a free slot")
    assert s.conn().cmd("PING") == "PONG"
    admin.cmd("CONFIG", "SET", "maxclients", "10000")


def test_pipelined_replies_stay_ordered_across_shards(r):
    cmds = []
    for i in range(300):
        cmds += [("SET", "o:%d" % i, str(i)), ("CLIENT", "ID"), ("GET", "o:%d" % i), ("INFO", "cluster")]
    replies = r.pipeline(cmds)
    cid = replies[1]
    for i in range(300):
        assert replies[4 * i:4 * i + 4] == ["OK", cid, str(i).encode(), b"# Cluster\r\ncluster_enabled:0\r\n"]


def test_resp3_types(r):
    assert r.raw("HELLO", "3").startswith(b"%7\r\n")
    assert r.raw("GET", "missing") == b"_\r\n"
    assert r.raw("CLIENT", "GETNAME") == b"_\r\n"
    assert r.raw("COMMAND", "INFO", "nope") == b"*1\r\n_\r\n"
    assert r.raw("CONFIG", "GET", "hz") == b"%1\r\n$2\r\nhz\r\n$2\r\n10\r\n"
    assert r.raw("COMMAND", "DOCS", "nope") == b"%0\r\n"
    assert r.raw("INFO", "nosuch") == b"=4\r\ntxt:\r\n"
    assert r.raw("HELLO", "2").startswith(b"*14\r\n")
    assert r.raw("GET", "missing") == b"$-1\r\n"
