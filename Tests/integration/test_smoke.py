"""Basic round trips: the harness itself and the first commands."""
from support.resp import Error


def test_ping_echo(r):
    assert r.raw("PING") == b"+PONG\r\n"
    assert r.raw("PING", "hi") == b"$2\r\nhi\r\n"
    assert r.raw("ECHO", "x") == b"$1\r\nx\r\n"


def test_set_get_across_shards(r):
    for i in range(200):
        assert r.cmd("SET", "key:%d" % i, "v%d" % i) == "OK"
    for i in range(200):
        assert r.cmd("GET", "key:%d" % i) == b"v%d" % i
    assert r.cmd("DBSIZE") == 200
    assert r.cmd("DEL", *["key:%d" % i for i in range(0, 200, 2)], "missing") == 100
    assert r.cmd("DBSIZE") == 100


def test_pipeline_replies_in_order(r):
    cmds = []
    for i in range(500):
        cmds.append(("SET", "p%d" % i, str(i)))
        cmds.append(("GET", "p%d" % i))
        cmds.append(("PING",))
    replies = r.pipeline(cmds)
    for i in range(500):
        assert replies[3 * i] == "OK"
        assert replies[3 * i + 1] == str(i).encode()
        assert replies[3 * i + 2] == "PONG"


def test_unknown_command(r):
    assert r.raw("NOPE", "a", "b") == b"-ERR unknown command 'NOPE', with args beginning with: 'a' 'b' \r\n"
    e = r.cmd("GET")
    assert isinstance(e, Error) and str(e) == "ERR wrong number of arguments for 'get' command"


def test_unknown_command_quotes_bytes_as_redis(r):
    # Bytes as sent (no UTF-8 repair), cut at NUL, 128 bytes at most, as redis-server 7.0.15.
    assert r.raw("nope", b"a\xffb", b"x\x00yzw") == \
        b"-ERR unknown command 'nope', with args beginning with: 'a\xffb' 'x' \r\n"
    assert r.raw("CLIENT", b"f\xfeoo") == b"-ERR unknown subcommand 'f\xfeoo'. Try CLIENT HELP.\r\n"
    assert r.raw("nope", "q" * 300) == \
        b"-ERR unknown command 'nope', with args beginning with: '" + b"q" * 128 + b"' \r\n"
