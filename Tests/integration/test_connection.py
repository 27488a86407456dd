"""Connection commands: CLIENT (across workers), HELLO, RESET, SELECT, AUTH, QUIT.

Expected bytes are Redis 7.0.15's."""
import re
import time

from support.resp import Conn, Error, Map, encode
from support.waiting import wait_until

LINE = re.compile(
    r"^id=(\d+) addr=(\S+) laddr=(\S+) fd=(\d+) name=(\S*) age=(\d+) idle=(\d+) flags=([A-Za-z]+) db=(\d+) "
    r"sub=0 psub=0 ssub=0 multi=-1 qbuf=(\d+) qbuf-free=(\d+) argv-mem=(\d+) multi-mem=0 rbs=(\d+) rbp=(\d+) "
    r"obl=(\d+) oll=0 omem=0 tot-mem=(\d+) events=(rw?) cmd=(\S+) user=default redir=-1 resp=([23])$")


def parse_list(text):
    """CLIENT LIST text -> {id: {field: value}}."""
    assert text.endswith(b"\n")
    out = {}
    for line in text.decode().split("\n")[:-1]:
        assert LINE.match(line), line
        fields = dict(kv.split("=", 1) for kv in line.split(" "))
        out[int(fields["id"])] = fields
    return out


def err(reply):
    assert isinstance(reply, Error), reply
    return str(reply)


# ---------------------------------------------------------------- CLIENT basics

def test_client_id_and_names(r, server):
    cid = r.cmd("CLIENT", "ID")
    assert isinstance(cid, int) and cid > 0
    assert r.raw("CLIENT", "GETNAME") == b"$-1\r\n"
    assert r.raw("CLIENT", "SETNAME", "worker-1") == b"+OK\r\n"
    assert r.raw("CLIENT", "GETNAME") == b"$8\r\nworker-1\r\n"
    for bad in ["a b", "a\nb", "caf\xe9", "\x01"]:
        assert r.raw("CLIENT", "SETNAME", bad) == \
            b"-ERR Client names cannot contain spaces, newlines or special characters.\r\n"
    assert r.cmd("CLIENT", "GETNAME") == b"worker-1"
    assert r.raw("CLIENT", "SETNAME", "") == b"+OK\r\n"
    assert r.raw("CLIENT", "GETNAME") == b"$-1\r\n"
    other = server.conn()
    assert other.cmd("CLIENT", "ID") > cid


def test_client_errors(r):
    assert r.raw("CLIENT") == b"-ERR wrong number of arguments for 'client' command\r\n"
    assert r.raw("CLIENT", "SETNAME") == b"-ERR wrong number of arguments for 'client|setname' command\r\n"
    assert r.raw("CLIENT", "foo") == b"-ERR unknown subcommand 'foo'. Try CLIENT HELP.\r\n"
    assert r.raw("CLIENT", "REPLY", "foo") == b"-ERR syntax error\r\n"
    assert r.raw("CLIENT", "NO-EVICT", "maybe") == b"-ERR syntax error\r\n"
    assert r.raw("CLIENT", "LIST", "TYPE", "foo") == b"-ERR Unknown client type 'foo'\r\n"
    assert r.raw("CLIENT", "LIST", "ID", "abc") == b"-ERR Invalid client ID\r\n"
    assert r.raw("CLIENT", "LIST", "ID") == b"-ERR syntax error\r\n"
    assert r.raw("CLIENT", "LIST", "foo") == b"-ERR syntax error\r\n"
    assert r.raw("CLIENT", "KILL", "1.2.3.4:5") == b"-ERR No such client\r\n"
    assert r.raw("CLIENT", "KILL", "ID", "0") == b"-ERR client-id should be greater than 0\r\n"
    assert r.raw("CLIENT", "KILL", "ID", "abc") == b"-ERR client-id should be greater than 0\r\n"
    assert r.raw("CLIENT", "KILL", "ID", "99999") == b":0\r\n"
    assert r.raw("CLIENT", "KILL", "TYPE", "foo") == b"-ERR Unknown client type 'foo'\r\n"
    assert r.raw("CLIENT", "KILL", "USER", "bob") == b"-ERR No such user 'bob'\r\n"
    assert r.raw("CLIENT", "KILL", "SKIPME", "maybe") == b"-ERR syntax error\r\n"
    assert r.raw("CLIENT", "KILL", "foo", "bar") == b"-ERR syntax error\r\n"
    assert r.raw("CLIENT", "KILL", "ID", "1", "SKIPME") == b"-ERR syntax error\r\n"


def test_client_help(r):
    lines = r.cmd("CLIENT", "HELP")
    assert lines[0] == "CLIENT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:"
    assert lines[-2:] == ["HELP", "    Prints this help."]
    assert "KILL <option> <value> [<option> <value> [...]]" in lines
    assert len(lines) == 48


def test_client_setinfo_and_modes(r):
    assert r.raw("CLIENT", "SETINFO", "LIB-NAME", "redis-py") == b"+OK\r\n"
    assert r.raw("CLIENT", "SETINFO", "lib-ver", "5.0.1") == b"+OK\r\n"
    assert r.raw("CLIENT", "SETINFO", "lib-name", "a b") == \
        b"-ERR lib-name cannot contain spaces, newlines or special characters.\r\n"
    assert r.raw("CLIENT", "SETINFO", "foo", "x") == b"-ERR Unrecognized option 'foo'\r\n"
    assert r.raw("CLIENT", "NO-EVICT", "on") == b"+OK\r\n"
    assert b" flags=e " in r.cmd("CLIENT", "INFO")
    assert r.raw("CLIENT", "NO-EVICT", "off") == b"+OK\r\n"
    # NO-TOUCH is Redis 7.2's: 7.0 does not know it.
    assert r.raw("CLIENT", "NO-TOUCH", "ON") == b"-ERR unknown subcommand 'NO-TOUCH'. Try CLIENT HELP.\r\n"
    assert b" flags=N " in r.cmd("CLIENT", "INFO")
    assert r.raw("CLIENT", "GETREDIR") == b":-1\r\n"
    assert r.raw("CLIENT", "UNPAUSE") == b"+OK\r\n"


def test_client_info_format(r):
    r.cmd("SELECT", "3")
    r.cmd("CLIENT", "SETNAME", "me")
    raw = r.raw("CLIENT", "INFO")
    body = raw.split(b"\r\n", 1)[1][:-2]
    assert raw.startswith(b"$%d\r\n" % len(body))
    fields = parse_list(body)
    (cid, f), = fields.items()
    assert cid == r.cmd("CLIENT", "ID")
    assert f["name"] == "me" and f["db"] == "3" and f["flags"] == "N" and f["cmd"] == "client|info"
    assert f["argv-mem"] == "10" and f["resp"] == "2" and f["events"] == "r"
    assert f["addr"] == "127.0.0.1:%d" % r.sock.getsockname()[1]
    assert f["laddr"] == "127.0.0.1:%d" % r.sock.getpeername()[1]


def test_client_list_sees_every_worker(server):
    conns = [server.conn() for _ in range(6)]
    ids = []
    for i, c in enumerate(conns):
        assert c.cmd("CLIENT", "SETNAME", "n%d" % i) == "OK"
        ids.append(c.cmd("CLIENT", "ID"))
    listing = parse_list(conns[0].cmd("CLIENT", "LIST"))
    for i, cid in enumerate(ids):
        assert listing[cid]["name"] == "n%d" % i
    assert listing[ids[0]]["cmd"] == "client|list"
    assert listing[ids[1]]["cmd"] == "client|id"
    # lines come in id order, as Redis lists clients in creation order
    assert list(listing) == sorted(listing)
    normal = parse_list(conns[1].cmd("CLIENT", "LIST", "TYPE", "normal"))
    assert set(ids) <= set(normal)
    assert conns[1].raw("CLIENT", "LIST", "TYPE", "pubsub") == b"$0\r\n\r\n"
    assert conns[1].raw("CLIENT", "LIST", "TYPE", "replica") == b"$0\r\n\r\n"
    picked = conns[2].cmd("CLIENT", "LIST", "ID", ids[4], 999999, ids[1])
    assert [int(line.split(b" ")[0][3:]) for line in picked.split(b"\n")[:-1]] == [ids[4], ids[1]]
    assert conns[2].raw("CLIENT", "LIST", "ID", 999999) == b"$0\r\n\r\n"
    for c in conns:
        c.close()


def test_client_list_resp3_is_verbatim(r):
    r.cmd("HELLO", "3")
    raw = r.raw("CLIENT", "LIST")
    assert raw.startswith(b"=") and b"\r\ntxt:id=" in raw
    assert r.raw("CLIENT", "GETNAME") == b"_\r\n"


def test_client_kill_across_workers(server):
    killer = server.conn()
    victims = [server.conn() for _ in range(4)]
    ids = [v.cmd("CLIENT", "ID") for v in victims]
    # new form by id: victims live on both workers
    for v, cid in zip(victims[:2], ids[:2]):
        assert killer.raw("CLIENT", "KILL", "ID", cid) == b":1\r\n"
        assert v.is_closed()
    # old form by address
    host, port = victims[2].sock.getsockname()
    assert killer.raw("CLIENT", "KILL", "%s:%d" % (host, port)) == b"+OK\r\n"
    assert victims[2].is_closed()
    assert killer.raw("CLIENT", "KILL", "%s:%d" % (host, port)) == b"-ERR No such client\r\n"
    # ADDR filter, and LADDR that matches nothing
    host, port = victims[3].sock.getsockname()
    assert killer.raw("CLIENT", "KILL", "LADDR", "1.2.3.4:1", "ADDR", "%s:%d" % (host, port)) == b":0\r\n"
    assert killer.raw("CLIENT", "KILL", "ADDR", "%s:%d" % (host, port), "USER", "default") == b":1\r\n"
    assert victims[3].is_closed()
    assert killer.cmd("PING") == "PONG"
    listing = parse_list(killer.cmd("CLIENT", "LIST"))
    assert not set(ids) & set(listing)


def test_client_kill_skipme_and_self(server):
    me = server.conn()
    others = [server.conn() for _ in range(3)]
    my_id = me.cmd("CLIENT", "ID")
    # SKIPME yes (the default) spares the caller
    assert me.raw("CLIENT", "KILL", "ID", my_id) == b":0\r\n"
    assert me.cmd("PING") == "PONG"
    # TYPE normal kills every other normal connection, on every worker
    assert me.cmd("CLIENT", "KILL", "TYPE", "normal") >= 3
    for o in others:
        assert o.is_closed()
    assert me.cmd("PING") == "PONG"
    # killing oneself: the reply arrives, then the connection closes
    assert me.raw("CLIENT", "KILL", "ID", my_id, "SKIPME", "no") == b":1\r\n"
    assert me.is_closed()
    again = server.conn()
    host, port = again.sock.getsockname()
    assert again.raw("CLIENT", "KILL", "%s:%d" % (host, port)) == b"+OK\r\n"
    assert again.is_closed()


def test_client_reply_off_skip_on(r):
    r.cmd("SET", "k", "v")
    r.send_raw(b"CLIENT REPLY OFF\r\nGET k\r\nSET a b\r\nNOPE\r\nCLIENT REPLY ON\r\n")
    assert r.read_raw() == b"+OK\r\n"
    r.send_raw(b"CLIENT REPLY SKIP\r\nGET k\r\nECHO hi\r\n")
    assert r.read_raw() == b"$2\r\nhi\r\n"
    assert r.cmd("GET", "a") == b"b"
    # replies computed on another shard are dropped too
    keys = ["key:%d" % i for i in range(20)]
    r.send_raw(b"CLIENT REPLY OFF\r\n" + b"".join(b"GET %s\r\n" % k.encode() for k in keys) + b"CLIENT REPLY ON\r\n")
    assert r.read_raw() == b"+OK\r\n"
    assert r.cmd("PING") == "PONG"


# ---------------------------------------------------------------- HELLO / RESET / SELECT / AUTH / QUIT

def hello_map(proto, cid):
    return {b"server": b"redis", b"version": b"7.0.15", b"proto": proto, b"id": cid,
            b"mode": b"standalone", b"role": b"master", b"modules": []}


def test_hello(r):
    cid = r.cmd("CLIENT", "ID")
    reply = r.cmd("HELLO")
    assert dict(zip(reply[::2], reply[1::2])) == hello_map(2, cid)
    reply = r.cmd("HELLO", "3")
    assert isinstance(reply, Map) and reply == hello_map(3, cid)
    raw = r.raw("HELLO", "2", "SETNAME", "hi")
    assert raw.startswith(b"*14\r\n$6\r\nserver\r\n$5\r\nredis\r\n$7\r\nversion\r\n$6\r\n7.0.15\r\n$5\r\nproto\r\n:2\r\n")
    assert r.cmd("CLIENT", "GETNAME") == b"hi"
    assert r.raw("HELLO", "4") == b"-NOPROTO unsupported protocol version\r\n"
    assert r.raw("HELLO", "1") == b"-NOPROTO unsupported protocol version\r\n"
    assert r.raw("HELLO", "abc") == b"-ERR Protocol version is not an integer or out of range\r\n"
    assert r.raw("HELLO", "3", "setname") == b"-ERR Syntax error in HELLO option 'setname'\r\n"
    assert r.raw("HELLO", "3", "AUTH", "a") == b"-ERR Syntax error in HELLO option 'AUTH'\r\n"
    assert r.raw("HELLO", "3", "SETNAME", "a b") == \
        b"-ERR Client names cannot contain spaces, newlines or special characters.\r\n"
    assert r.raw("HELLO", "3", "AUTH", "bob", "pw") == \
        b"-WRONGPASS invalid username-password pair or user is disabled.\r\n"
    # none of the failed calls switched the protocol
    assert r.raw("PING") == b"+PONG\r\n"
    assert r.cmd("HELLO", "3", "AUTH", "default", "anything")[b"proto"] == 3


def test_resp3_replies(r):
    r.cmd("HELLO", "3")
    assert r.raw("GET", "missing") == b"_\r\n"
    assert r.raw("CONFIG", "GET", "maxmemory") == b"%1\r\n$9\r\nmaxmemory\r\n$1\r\n0\r\n"
    assert r.raw("INFO", "cluster") == b"=34\r\ntxt:# Cluster\r\ncluster_enabled:0\r\n\r\n"
    assert r.raw("CLIENT", "TRACKINGINFO") == \
        b"%3\r\n$5\r\nflags\r\n~1\r\n$3\r\noff\r\n$8\r\nredirect\r\n:-1\r\n$8\r\nprefixes\r\n*0\r\n"


def test_reset(r):
    r.cmd("HELLO", "3")
    r.cmd("SELECT", "5")
    r.cmd("SET", "in5", "x")
    r.cmd("CLIENT", "SETNAME", "named")
    r.cmd("CLIENT", "NO-EVICT", "on")
    assert r.raw("RESET") == b"+RESET\r\n"
    assert r.raw("GET", "missing") == b"$-1\r\n"   # back to RESP2
    assert r.raw("GET", "in5") == b"$-1\r\n"       # back to db 0
    assert r.raw("CLIENT", "GETNAME") == b"$-1\r\n"
    assert b" flags=N " in r.cmd("CLIENT", "INFO")
    r.send_raw(b"CLIENT REPLY OFF\r\nRESET\r\nPING\r\n")
    assert r.read_raw() == b"+RESET\r\n"           # RESET turns replies back on, its own included
    assert r.read_raw() == b"+PONG\r\n"
    assert r.raw("RESET", "x") == b"-ERR wrong number of arguments for 'reset' command\r\n"


def test_select(r):
    assert r.raw("SELECT", "1") == b"+OK\r\n"
    r.cmd("SET", "k", "db1")
    assert r.raw("SELECT", "15") == b"+OK\r\n"
    assert r.raw("GET", "k") == b"$-1\r\n"
    assert r.raw("SELECT", "16") == b"-ERR DB index is out of range\r\n"
    assert r.raw("SELECT", "-1") == b"-ERR DB index is out of range\r\n"
    assert r.raw("SELECT", "abc") == b"-ERR value is not an integer or out of range\r\n"
    assert r.raw("SELECT", "1.5") == b"-ERR value is not an integer or out of range\r\n"
    assert r.raw("SELECT", "01") == b"-ERR value is not an integer or out of range\r\n"
    assert r.raw("SELECT", "2147483648") == \
        b"-ERR value is out of range, value must between -2147483648 and 2147483647\r\n"
    assert r.raw("SELECT", "-2147483649") == \
        b"-ERR value is out of range, value must between -2147483648 and 2147483647\r\n"
    assert r.raw("SELECT") == b"-ERR wrong number of arguments for 'select' command\r\n"
    r.cmd("SELECT", "1")
    assert r.cmd("GET", "k") == b"db1"


def test_quit(server):
    c = server.conn()
    c.send_raw(b"PING\r\nQUIT\r\nPING\r\n")
    assert c.read_raw() == b"+PONG\r\n"
    assert c.read_raw() == b"+OK\r\n"
    assert c.is_closed()


def test_auth_without_password(r):
    assert r.raw("AUTH", "x") == (b"-ERR AUTH <password> called without any password configured for the default "
                                  b"user. Are you sure your configuration is correct?\r\n")
    assert r.raw("AUTH", "default", "whatever") == b"+OK\r\n"
    assert r.raw("AUTH", "bob", "x") == b"-WRONGPASS invalid username-password pair or user is disabled.\r\n"
    assert r.raw("AUTH", "a", "b", "c") == b"-ERR syntax error\r\n"


def test_requirepass(make_server):
    s = make_server()
    admin = s.conn()
    assert admin.raw("CONFIG", "SET", "requirepass", "s3cret") == b"+OK\r\n"
    assert admin.raw("PING") == b"+PONG\r\n"      # connected before: still authenticated
    c = s.conn()
    assert c.raw("PING") == b"-NOAUTH Authentication required.\r\n"
    assert c.raw("NOPE") == b"-ERR unknown command 'NOPE', with args beginning with: \r\n"
    assert c.raw("HELLO", "3") == (b"-NOAUTH HELLO must be called with the client already authenticated, otherwise "
                                   b"the HELLO AUTH <user> <pass> option can be used to authenticate the client and "
                                   b"select the RESP protocol version at the same time\r\n")
    assert c.raw("AUTH", "wrong") == b"-WRONGPASS invalid username-password pair or user is disabled.\r\n"
    assert c.raw("AUTH", "s3cret") == b"+OK\r\n"
    assert c.raw("PING") == b"+PONG\r\n"
    assert c.raw("RESET") == b"+RESET\r\n"
    assert c.raw("PING") == b"-NOAUTH Authentication required.\r\n"
    d = s.conn()
    assert d.cmd("HELLO", "3", "AUTH", "default", "s3cret")[b"proto"] == 3
    assert d.raw("PING") == b"+PONG\r\n"
    # clearing the password opens the server to everyone at once
    assert d.raw("CONFIG", "SET", "requirepass", "") == b"+OK\r\n"
    assert c.raw("PING") == b"+PONG\r\n"
    assert s.conn().raw("PING") == b"+PONG\r\n"
    d.cmd("CONFIG", "SET", "requirepass", "again")
    assert d.raw("PING") == b"+PONG\r\n"            # already authenticated connections stay so
    assert s.conn().raw("PING") == b"-NOAUTH Authentication required.\r\n"


def test_client_list_many_connections(server):
    conns = [server.conn() for _ in range(50)]
    ids = {c.cmd("CLIENT", "ID") for c in conns}
    listing = parse_list(conns[0].cmd("CLIENT", "LIST"))
    assert ids <= set(listing)
    for c in conns:
        c.close()
    wait_until(lambda: not ids & set(parse_list(server.conn().cmd("CLIENT", "LIST"))), message="closed clients gone")


def test_idle_timeout(make_server):
    s = make_server()
    admin = s.conn()
    idle = [s.conn() for _ in range(4)]   # on both workers
    for c in idle:
        c.cmd("PING")
    assert admin.raw("CONFIG", "SET", "timeout", "1") == b"+OK\r\n"
    for c in idle:
        assert c.is_closed(timeout=5)
    # a connection that keeps talking stays
    busy = s.conn()
    deadline = time.monotonic() + 2.5
    while time.monotonic() < deadline:
        assert busy.cmd("PING") == "PONG"
        time.sleep(0.2)
    assert busy.cmd("CONFIG", "SET", "timeout", "0") == "OK"


def test_ipv6_addresses_in_brackets(make_server, make_redis):
    """CLIENT INFO/LIST write an IPv6 peer as Redis's anetFormatAddr does: [ip]:port; CLIENT KILL
    ADDR takes the same text."""
    def addresses(port):
        c = Conn(port, host="::1")
        info = c.cmd("CLIENT", "INFO")
        info = info.decode() if isinstance(info, bytes) else info
        addr = re.search(r"\baddr=(\S+)", info).group(1)
        laddr = re.search(r"\bladdr=(\S+)", info).group(1)
        other = Conn(port, host="::1")
        killed = other.cmd("CLIENT", "KILL", "ADDR", addr)
        other.close()
        return addr, laddr, killed
    ours = make_server("--bind", "127.0.0.1 ::1")
    theirs = make_redis("--bind", "127.0.0.1 ::1")
    addr, laddr, killed = addresses(ours.port)
    raddr, rladdr, rkilled = addresses(theirs.port)
    assert addr.startswith("[::1]:") and raddr.startswith("[::1]:")
    assert laddr == "[::1]:%d" % ours.port and rladdr == "[::1]:%d" % theirs.port
    assert killed == rkilled == 1


def test_query_buffer_limit_closes_a_client_whose_input_piles_up(make_server, make_redis):
    """client-query-buffer-limit (1mb here): a client blocked in BLPOP keeps sending, its
    commands wait unrun, and once they pass the limit the server closes it, as Redis's
    readQueryFromClient does; none of them ran."""
    def run(port):
        admin = Conn(port)
        assert admin.cmd("CONFIG", "SET", "client-query-buffer-limit", "1mb") == "OK"
        c = Conn(port)
        c.send_raw(encode("BLPOP", "qbl:list", "0"))
        wait_until(lambda: b"blocked_clients:1\r\n" in admin.cmd("INFO", "clients"), message="the client to block")
        try:
            c.sock.sendall(encode("SET", "qbl:k", "x" * 1000) * 3000)  # about 3 MB
        except (BrokenPipeError, ConnectionResetError):
            pass  # closed while sending
        closed = c.is_closed(timeout=10)
        state = (closed, admin.cmd("EXISTS", "qbl:k"), admin.cmd("LLEN", "qbl:list"))
        admin.close()
        return state
    ours, theirs = run(make_server().port), run(make_redis().port)
    assert ours == theirs == (True, 0, 0)
