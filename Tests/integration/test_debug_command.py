"""DEBUG and enable-debug-command as in Redis 7.0: refused by default (the option is `no`),
allowed with `yes`, or with `local` from 127.0.0.1 only; the option cannot be changed at
run time; DEBUG HELP is Redis's text. Replies are compared byte for byte with redis-server."""
from support.marks import needs_redis
from support.resp import Conn, encode
from support.waiting import wait_until

pytestmark = needs_redis

NOT_ALLOWED = (b'-ERR DEBUG command not allowed. If the enable-debug-command option is set to "local", you can '
               b'run it from a local connection, otherwise you need to set this option in the configuration file, '
               b'and then restart the server.\r\n')


def replies(port, commands, source=None):
    """The exact bytes of each reply to `commands`, sent as one pipeline."""
    c = Conn(port, source=source)
    c.send_raw(b"".join(encode(*cmd) for cmd in commands))
    out = [c.read_raw() for _ in commands]
    c.close()
    return out


def same_replies(servers, commands, source=None):
    got = [replies(s.port, commands, source) for s in servers]
    assert got[1] == got[0], commands
    return got[0]


def test_debug_is_refused_by_default(make_server, make_redis):
    servers = (make_redis(), make_server())
    got = same_replies(servers, [("DEBUG", "SLEEP", "0"), ("DEBUG", "HELP"), ("debug", "digest"), ("DEBUG",),
                                 ("DEBUG", "NOSUCH"), ("CONFIG", "GET", "enable-debug-command"),
                                 ("CONFIG", "SET", "enable-debug-command", "yes"),
                                 ("CONFIG", "SET", "enable-debug-command", "local"),
                                 ("MULTI",), ("DEBUG", "SLEEP", "0"), ("SET", "k", "v"), ("EXEC",), ("GET", "k")])
    assert got[0] == NOT_ALLOWED and got[1] == NOT_ALLOWED and got[2] == NOT_ALLOWED
    assert got[3] == b"-ERR wrong number of arguments for 'debug' command\r\n"   # arity is checked first
    assert got[5] == b"*2\r\n$20\r\nenable-debug-command\r\n$2\r\nno\r\n"
    assert got[6] == (b"-ERR CONFIG SET failed (possibly related to argument 'enable-debug-command') - "
                      b"can't set immutable config\r\n")
    assert got[11] == b"-EXECABORT Transaction discarded because of previous errors.\r\n"
    assert got[12] == b"$-1\r\n"
    # INFO counts the refusals (and the arity error) as rejected calls, as Redis does.
    lines = [[line for line in s.conn().cmd("INFO", "commandstats").decode().split("\r\n")
              if line.startswith("cmdstat_debug:")] for s in servers]
    assert lines[0] == ["cmdstat_debug:calls=0,usec=0,usec_per_call=0.00,rejected_calls=6,failed_calls=0"]
    assert lines[1] == lines[0]


def test_refusal_comes_before_authentication(make_server, make_redis):
    args = ("--requirepass", "pw")
    got = same_replies((make_redis(*args), make_server(*args)),
                       [("DEBUG", "SLEEP", "0"), ("PING",), ("AUTH", "pw"), ("DEBUG", "SLEEP", "0")])
    assert got == [NOT_ALLOWED, b"-NOAUTH Authentication required.\r\n", b"+OK\r\n", NOT_ALLOWED]


def test_debug_allowed_with_yes(make_server, make_redis):
    args = ("--enable-debug-command", "yes")
    servers = (make_redis(*args), make_server(*args))
    got = same_replies(servers, [("DEBUG", "SLEEP", "0"), ("DEBUG", "SET-ACTIVE-EXPIRE", "1"),
                                 ("DEBUG", "DIGEST"), ("DEBUG", "HELP"), ("DEBUG", "HELP", "x"),
                                 ("CONFIG", "GET", "enable-debug-command")])
    assert got[0] == b"+OK\r\n"
    assert got[2] == b"+" + b"0" * 40 + b"\r\n"
    assert got[3].startswith(b"*106\r\n+DEBUG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:\r\n")
    assert got[3].endswith(b"+HELP\r\n+    Prints this help.\r\n")
    assert got[4] == b"-ERR unknown subcommand or wrong number of arguments for 'HELP'. Try DEBUG HELP.\r\n"


def test_debug_local_allows_only_127_0_0_1(make_server, make_redis):
    """`local` is Redis's islocalClient: the address must be 127.0.0.1 (or ::1); another
    loopback address such as 127.0.0.2 is not local. Protected mode is off here, so that
    127.0.0.2 may connect at all."""
    args = ("--enable-debug-command", "local", "--protected-mode", "no")
    servers = (make_redis(*args), make_server(*args))
    commands = [("DEBUG", "SLEEP", "0"), ("CONFIG", "GET", "enable-debug-command")]
    assert same_replies(servers, commands)[0] == b"+OK\r\n"
    assert same_replies(servers, commands, source="127.0.0.2")[0] == NOT_ALLOWED


def fill_every_type(c, keys=300):
    c.pipeline([("SET", "s%d" % i, "v%d" % i) for i in range(keys)]
               + [("HSET", "h%d" % i, "f", i, "g", "x" * i) for i in range(keys // 10)]
               + [("RPUSH", "l%d" % i, *range(i + 1)) for i in range(keys // 10)]
               + [("SADD", "set%d" % i, *range(i + 1)) for i in range(keys // 10)]
               + [("ZADD", "z%d" % i, i, "m", i + 1, "n") for i in range(keys // 10)]
               + [("XADD", "x", "*", "f", i) for i in range(keys // 10)]
               + [("SELECT", "3"), ("SET", "in3", "v"), ("EXPIRE", "in3", "1000"), ("SELECT", "0")])


def test_debug_reload_keeps_the_data_as_redis(make_server, make_redis, tmp_path):
    """DEBUG RELOAD saves, empties and loads the dump back (every type, every database, TTLs
    kept), answering as redis-server; NOSAVE loads the dump as it was; NOFLUSH MERGE adds
    the dump to what is in memory; NOFLUSH alone refuses keys already there; options are
    checked as Redis checks them."""
    for d in ("r", "v"):
        (tmp_path / d).mkdir()
    servers = (make_redis("--enable-debug-command", "yes", "--dir", str(tmp_path / "r")),
               make_server("--enable-debug-command", "yes", "--dir", str(tmp_path / "v")))
    for s in servers:
        c = s.conn()
        fill_every_type(c)
        digest = c.cmd("DEBUG", "DIGEST")
        assert c.raw("DEBUG", "RELOAD") == b"+OK\r\n"
        assert c.cmd("DEBUG", "DIGEST") == digest
        assert c.cmd("SELECT", "3") == "OK" and 0 < c.cmd("TTL", "in3") <= 1000 and c.cmd("SELECT", "0") == "OK"
        # NOSAVE: what changed since the save is lost.
        c.cmd("SET", "later", "1")
        c.cmd("DEL", "s1")
        assert c.cmd("DEBUG", "RELOAD", "NOSAVE") == "OK"
        assert c.cmd("DEBUG", "DIGEST") == digest
        # NOFLUSH MERGE: keys only in memory stay, the dump's replace the rest.
        c.cmd("SET", "only-here", "1")
        c.cmd("SET", "s2", "changed")
        assert c.cmd("DEBUG", "RELOAD", "NOSAVE", "NOFLUSH", "MERGE") == "OK"
        assert c.cmd("GET", "only-here") == b"1" and c.cmd("GET", "s2") == b"v2"
        c.close()
    # NOFLUSH without MERGE meeting a key already in memory: Redis panics ("Duplicated key
    # found in RDB file"); here the load completes and the reply is Redis's load error.
    vk = servers[1].conn()
    assert vk.raw("DEBUG", "RELOAD", "NOSAVE", "NOFLUSH") == b"-ERR Error trying to load the RDB dump, check server logs.\r\n"
    vk.close()
    same_replies(servers, [("DEBUG", "RELOAD", "NOSAVE", "BOGUS"), ("DEBUG", "RELOAD", "MERGE", "x"),
                           ("DBSIZE",), ("DEBUG", "RELOAD", "nosave", "merge"), ("DBSIZE",)])


def test_debug_reload_drops_keys_that_expired_since_the_save(make_server, tmp_path):
    s = make_server("--enable-debug-command", "yes", "--dir", str(tmp_path))
    c = s.conn()
    c.cmd("SET", "short", "v", "PX", "100")
    c.cmd("SET", "long", "v", "EX", "100")
    assert c.cmd("SAVE") == "OK"
    c.cmd("DEBUG", "SET-ACTIVE-EXPIRE", "0")
    wait_until(lambda: c.cmd("PTTL", "short") < 0)
    assert c.cmd("DEBUG", "RELOAD", "NOSAVE") == "OK"
    assert c.cmd("DBSIZE") == 1 and c.cmd("EXISTS", "long") == 1


def test_debug_error_replies_the_string_as_redis(make_server, make_redis):
    """DEBUG ERROR <string> (clients' test suites fake LOADING, READONLY, OOM with it): the
    string is the whole error line, CR and LF made spaces; wrong arities get the subcommand
    error; the raw reply counts in neither errorstats nor failed_calls, also inside MULTI."""
    args = ("--enable-debug-command", "yes")
    servers = (make_redis(*args), make_server(*args))
    got = same_replies(servers, [("CONFIG", "RESETSTAT"), ("DEBUG", "ERROR", "LOADING fake message"),
                                 ("DEBUG", "ERROR", "READONLY You can't write against a read only replica."),
                                 ("DEBUG", "ERROR", "a\r\nb\nc"), ("DEBUG", "ERROR", ""), ("debug", "error", "x\x00y"),
                                 ("DEBUG", "ERROR"), ("DEBUG", "ERROR", "a", "b"),
                                 ("MULTI",), ("DEBUG", "ERROR", "OOM inside"), ("EXEC",),
                                 ("INFO", "errorstats")])
    assert got[1] == b"-LOADING fake message\r\n"
    assert got[3] == b"-a  b c\r\n" and got[4] == b"-\r\n"
    assert got[10] == b"*1\r\n-OOM inside\r\n"
    assert got[11] == b"$37\r\n# Errorstats\r\nerrorstat_ERR:count=2\r\n\r\n"
    # The two arity errors fail; the raw replies do not (usec left out).
    counts = [[",".join(f for f in line.split(",") if not f.startswith("usec"))
               for line in s.conn().cmd("INFO", "commandstats").decode().split("\r\n")
               if line.startswith("cmdstat_debug:")] for s in servers]
    assert counts[0] == ["cmdstat_debug:calls=8,rejected_calls=0,failed_calls=2"]
    assert counts[1] == counts[0]


def test_debug_object_as_redis(make_server, make_redis):
    """DEBUG OBJECT: Redis's fields in its order, the same encoding, refcount, serialized
    length and quicklist figures as redis-server for the same values (the address and the
    LRU clock differ by nature); an in-place INCR keeps the address; a missing key is
    Redis's error."""
    servers = (make_redis("--enable-debug-command", "yes"), make_server("--enable-debug-command", "yes"))
    got = []
    for s in servers:
        c = s.conn()
        c.cmd("SET", "int", "20000")
        c.cmd("SET", "shared", "5")
        c.cmd("SET", "str", "x" * 100)
        c.cmd("RPUSH", "list", *range(1000))
        c.cmd("HSET", "hash", "f", "v")
        c.cmd("CONFIG", "SET", "list-compress-depth", "1")
        c.cmd("RPUSH", "zlist", *["element-%d" % (i % 10) for i in range(5000)])
        before = c.cmd("DEBUG", "OBJECT", "int").split()[1]
        c.cmd("INCR", "int")
        assert c.cmd("DEBUG", "OBJECT", "int").split()[1] == before
        lines = [c.cmd("DEBUG", "OBJECT", k) for k in ("int", "shared", "str", "list", "hash", "zlist")]
        got.append([[f for f in line.split() if not f.startswith(("at:", "lru:", "lru_seconds_idle:"))] for line in lines])
        assert c.raw("DEBUG", "OBJECT", "nokey") == b"-ERR no such key\r\n"
        c.close()
    assert got[1] == got[0]


def test_debug_quicklist_packed_threshold_as_redis(make_server, make_redis):
    """DEBUG QUICKLIST-PACKED-THRESHOLD <size> (upstream's plain-node list tests): a memory
    value with Redis's units, 0 restores 1 GB, over 4 GB - 1 MB is Redis's error. Elements
    at or over the threshold get a list node of their own: the same ql_nodes in DEBUG
    OBJECT as redis-server, and the same values back."""
    args = ("--enable-debug-command", "yes")
    servers = (make_redis(*args), make_server(*args))
    same_replies(servers, [("DEBUG", "QUICKLIST-PACKED-THRESHOLD", "5b"), ("DEBUG", "QUICKLIST-PACKED-THRESHOLD", "1kb"),
                           ("DEBUG", "QUICKLIST-PACKED-THRESHOLD", "4gb"), ("DEBUG", "QUICKLIST-PACKED-THRESHOLD", "-1"),
                           ("DEBUG", "QUICKLIST-PACKED-THRESHOLD", "12x"), ("DEBUG", "QUICKLIST-PACKED-THRESHOLD", "0")])
    nodes = []
    for s in servers:
        c = s.conn()
        c.cmd("DEBUG", "QUICKLIST-PACKED-THRESHOLD", "10b")
        c.cmd("RPUSH", "l", "a", "b", "x" * 10, "c", "d", "y" * 20, "e")
        c.cmd("LPUSH", "l", "z" * 10)
        assert c.cmd("LRANGE", "l", "0", "-1") == [b"z" * 10, b"a", b"b", b"x" * 10, b"c", b"d", b"y" * 20, b"e"]
        nodes.append([f for f in c.cmd("DEBUG", "OBJECT", "l").split() if f.startswith("ql_nodes:")])
        c.cmd("DEBUG", "QUICKLIST-PACKED-THRESHOLD", "0")
        c.close()
    assert nodes[1] == nodes[0] and nodes[0] != ["ql_nodes:1"]


def test_debug_locks_reports_every_worker(make_server):
    """DEBUG LOCKS (ValKeyper's own): a line per worker with its shard, its waiting commands
    and numbered requests, then its lock table; nothing held once the work is done."""
    s = make_server("--enable-debug-command", "yes", "--threads", "2", "--shards", "2")
    c = Conn(s.port)
    assert c.cmd("MSET", "a", "1", "b", "2", "c", "3", "d", "4") == "OK"   # across both shards
    report = c.cmd("DEBUG", "LOCKS").decode()
    lines = report.split("\n")
    heads = [l for l in lines if l.startswith("worker ")]
    assert [h.split(":")[0] for h in heads] == ["worker 0 shard 0", "worker 1 shard 1"], report
    for h in heads:
        assert "waiting commands 0," in h and "grants not acted on 0," in h, report
    assert lines.count("  requests 0, whole-shard held 0, whole-shard queued 0, keys 0") == 2, report
    assert str(c.cmd("DEBUG", "LOCKS", "x")) == "ERR unknown subcommand or wrong number of arguments for 'LOCKS'. Try DEBUG HELP."
    c.close()
