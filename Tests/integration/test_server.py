"""Server commands: INFO, CONFIG, COMMAND, FUNCTION. Expected bytes are Redis 7.0.15's."""
import os
import re

from support.info import parse_info
from support.marks import needs_redis
from support.processes import REDIS_SERVER, ServerProcess
from support.resp import Map
from support.waiting import wait_until


def sections(text):
    return re.findall(r"^# (\w+)\r$", text.decode(), re.M)


# ---------------------------------------------------------------- INFO

def test_info_default_sections(r):
    text = r.cmd("INFO")
    assert sections(text) == ["Server", "Clients", "Memory", "Persistence", "Stats", "Replication", "CPU",
                              "Modules", "Errorstats", "Cluster", "Keyspace"]
    # a blank line between sections, CRLF everywhere
    assert b"\r\n\r\n# Clients\r\n" in text and b"\n" not in text.replace(b"\r\n", b"")
    f = parse_info(text)
    assert f["redis_version"] == "7.0.15"
    assert re.match(r"^\d+\.\d+\.\d+$", f["valkeyper_version"])
    assert f["redis_mode"] == "standalone" and f["role"] == "master"
    assert int(f["process_id"]) > 0 and len(f["run_id"]) == 40
    assert f["maxmemory_policy"] == "noeviction"
    assert int(f["connected_clients"]) >= 1
    assert f["cluster_enabled"] == "0"
    assert f["mem_allocator"] == "libc" or re.match(r"^jemalloc-\d+\.\d+\.\d+$", f["mem_allocator"])
    assert f["used_cpu_sys"].count(".") == 1 and len(f["used_cpu_sys"].split(".")[1]) == 6


def test_info_all_and_multiple_sections(r):
    text = r.cmd("INFO", "all")
    assert sections(text) == ["Server", "Clients", "Memory", "Persistence", "Stats", "Replication", "CPU",
                              "Modules", "Commandstats", "Errorstats", "Latencystats", "Cluster", "Keyspace"]
    assert sections(r.cmd("INFO", "everything")) == sections(text)
    # several sections come back in Redis's order, not the order asked
    assert sections(r.cmd("INFO", "keyspace", "SERVER", "clients")) == ["Server", "Clients", "Keyspace"]
    assert sections(r.cmd("INFO", "default", "commandstats"))[-5:] == \
        ["Modules", "Commandstats", "Errorstats", "Cluster", "Keyspace"]
    assert r.raw("INFO", "nosuch") == b"$0\r\n\r\n"
    assert sections(r.cmd("INFO", "nosuch", "cpu")) == ["CPU"]
    assert r.raw("INFO", "cluster") == b"$30\r\n# Cluster\r\ncluster_enabled:0\r\n\r\n"


def test_info_keyspace_counts_every_shard(r):
    for i in range(100):
        r.cmd("SET", "key:%d" % i, "v")
    r.cmd("SELECT", "2")
    for i in range(7):
        r.cmd("SET", "other:%d" % i, "v", "EX", "100")
    f = parse_info(r.cmd("INFO", "keyspace"))
    assert f["db0"] == "keys=100,expires=0,avg_ttl=0"
    assert f["db2"] == "keys=7,expires=7,avg_ttl=0"
    assert "db1" not in f


def test_info_stats_and_clients(server):
    c = server.conn()
    c.cmd("CONFIG", "RESETSTAT")
    c.cmd("SET", "a", "1")
    c.cmd("GET", "a")
    c.cmd("GET", "missing")
    f = parse_info(c.cmd("INFO", "stats"))
    assert f["keyspace_hits"] == "1" and f["keyspace_misses"] == "1"
    assert int(f["total_commands_processed"]) >= 3
    assert int(f["total_net_input_bytes"]) > 0
    others = [server.conn() for _ in range(4)]
    # A connection counts once the server has accepted it, which may be just after connect() returns.
    wait_until(lambda: int(parse_info(c.cmd("INFO", "clients"))["connected_clients"]) >= 5,
               message="the new connections to be accepted")
    for o in others:
        o.close()


def test_commandstats_and_errorstats(server):
    c = server.conn()
    c.cmd("CONFIG", "RESETSTAT")
    for i in range(40):
        c.cmd("SET", "k%d" % i, "v")       # keys on both shards
    c.cmd("GET", "k1")
    c.cmd("GET")                           # rejected: arity
    c.cmd("CLIENT", "LIST")
    c.cmd("NOPE")                          # unknown: an error, not a command
    c.cmd("SET", "k1", "v", "BAD")         # fails while running
    c.cmd("SELECT", "99")
    text = c.cmd("INFO", "commandstats").decode()
    stats = dict(re.findall(r"^cmdstat_(\S+?):(.*)\r$", text, re.M))
    pattern = r"^calls=(\d+),usec=(\d+),usec_per_call=(\d+\.\d\d),rejected_calls=(\d+),failed_calls=(\d+)$"
    for name, line in stats.items():
        assert re.match(pattern, line), (name, line)

    def field(name, i):
        return int(re.match(pattern, stats[name]).group(i))
    assert field("set", 1) == 41 and field("set", 5) == 1
    assert field("get", 1) == 1 and field("get", 4) == 1
    assert field("client|list", 1) == 1
    assert field("select", 5) == 1
    assert "nope" not in stats
    errors = parse_info(c.cmd("INFO", "errorstats"))
    assert errors == {"errorstat_ERR": "count=4"}
    assert parse_info(c.cmd("INFO", "stats"))["total_error_replies"] == "4"
    assert c.raw("CONFIG", "RESETSTAT") == b"+OK\r\n"
    assert parse_info(c.cmd("INFO", "errorstats")) == {}
    # As Redis counts them: a call once it has run (RESETSTAT's own survives the reset, and the
    # INFO above counts; the INFO below does not see itself).
    assert sorted(re.findall(r"^cmdstat_(\S+?):", c.cmd("INFO", "commandstats").decode(), re.M)) == \
        ["config|resetstat", "info"]


def test_errorstats_prefixes(r):
    r.cmd("CONFIG", "RESETSTAT")
    r.cmd("HELLO", "9")
    r.cmd("AUTH", "bob", "x")
    r.cmd("AUTH", "bob", "x")
    errors = parse_info(r.cmd("INFO", "errorstats"))
    assert errors == {"errorstat_NOPROTO": "count=1", "errorstat_WRONGPASS": "count=2"}


@needs_redis
def test_errorstats_keep_a_prefix_as_its_bytes(make_server, make_redis):
    """A script's error_reply may start with any bytes: errorstats names the prefix with
    them as they came (not replaced by U+FFFD), '#', ':', CR and LF aside, as redis-server."""
    replies = []
    for server in (make_server(), make_redis("--save", "")):
        c = server.conn()
        c.cmd("CONFIG", "RESETSTAT")
        c.raw("EVAL", b"return redis.error_reply('\xff\xfeBAD oops')", "0")
        c.raw("EVAL", b"return redis.error_reply('A:B#C oops')", "0")
        c.raw("GET")
        replies.append(c.raw("INFO", "errorstats"))
    assert replies[0] == replies[1]
    assert b"errorstat_\xff\xfeBAD:count=1\r\n" in replies[0]


def test_info_memory(r):
    f = parse_info(r.cmd("INFO", "memory"))
    for k in ["used_memory", "used_memory_rss", "used_memory_peak", "total_system_memory", "maxmemory"]:
        assert int(f[k]) >= 0
    assert int(f["used_memory_peak"]) >= int(f["used_memory"]) > 0
    assert re.match(r"^\d+(\.\d\d[KMGT])?B?$", f["used_memory_human"]) or f["used_memory_human"].endswith(("K", "M", "G"))
    r.cmd("CONFIG", "SET", "maxmemory", "100mb")
    f = parse_info(r.cmd("INFO", "memory"))
    assert f["maxmemory"] == "104857600" and f["maxmemory_human"] == "100.00M"
    r.cmd("CONFIG", "SET", "maxmemory", "0")


# ---------------------------------------------------------------- CONFIG

def test_config_get(r, server):
    assert r.raw("CONFIG", "GET", "maxmemory") == b"*2\r\n$9\r\nmaxmemory\r\n$1\r\n0\r\n"
    assert r.raw("CONFIG", "GET", "nosuch") == b"*0\r\n"
    assert r.cmd("CONFIG", "GET", "port") == [b"port", str(server.port).encode()]
    assert r.cmd("CONFIG", "GET", "dir") == [b"dir", os.path.realpath(server.dir).encode()]
    got = r.cmd("CONFIG", "GET", "maxmemory*", "hz", "HZ")
    pairs = dict(zip(got[::2], got[1::2]))
    assert pairs == {b"maxmemory": b"0", b"maxmemory-policy": b"noeviction", b"maxmemory-samples": b"5",
                     b"maxmemory-eviction-tenacity": b"10", b"maxmemory-clients": b"0", b"hz": b"10"}
    # an exact name is answered as typed; aliases are names too
    assert r.cmd("CONFIG", "GET", "SLAVE-READ-ONLY") == [b"SLAVE-READ-ONLY", b"yes"]
    all_pairs = r.cmd("CONFIG", "GET", "*")
    names = all_pairs[::2]
    assert len(names) == len(set(names)) and b"slave-read-only" in names and b"replica-read-only" in names
    assert r.raw("CONFIG", "GET") == b"-ERR wrong number of arguments for 'config|get' command\r\n"
    r.cmd("HELLO", "3")
    assert r.raw("CONFIG", "GET", "maxmemory") == b"%1\r\n$9\r\nmaxmemory\r\n$1\r\n0\r\n"


def test_config_set_types(make_server):
    s = make_server()
    r = s.conn()

    def check(name, value, shown):
        assert r.raw("CONFIG", "SET", name, value) == b"+OK\r\n", (name, value)
        assert r.cmd("CONFIG", "GET", name) == [name.encode(), shown.encode()]

    def fails(name, value, why):
        expected = "-ERR CONFIG SET failed (possibly related to argument '%s') - %s\r\n" % (name.lower(), why)
        assert r.raw("CONFIG", "SET", name, value) == expected.encode()

    check("maxmemory", "1kb", "1024")
    check("maxmemory", "2K", "2000")
    check("maxmemory", "1GB", "1073741824")
    check("maxmemory", "0", "0")
    fails("maxmemory", "-1", "argument must be a memory value")
    fails("maxmemory", "1x", "argument must be a memory value")
    check("maxclients", "50", "50")
    fails("maxclients", "0", "argument must be between 1 and 4294967295 inclusive")
    fails("maxclients", "-1", "argument must be between 1 and 4294967295 inclusive")
    fails("maxclients", "1.5", "argument couldn't be parsed into an integer")
    check("maxclients", "10000", "10000")
    fails("proto-max-bulk-len", "1k", "argument must be between 1048576 and 9223372036854775807 inclusive")
    check("proto-max-bulk-len", "2mb", "2097152")
    check("hz", "1000", "500")
    check("hz", "0", "1")
    check("hz", "10", "10")
    fails("hz", "abc", "argument couldn't be parsed into an integer")
    check("appendonly", "YES", "yes")
    check("appendonly", "no", "no")
    fails("appendonly", "maybe", "argument must be 'yes' or 'no'")
    check("maxmemory-policy", "ALLKEYS-LRU", "allkeys-lru")
    fails("maxmemory-policy", "foo", "argument(s) must be one of the following: volatile-lru, volatile-lfu, "
          "volatile-random, volatile-ttl, allkeys-lru, allkeys-lfu, allkeys-random, noeviction")
    fails("loglevel", "x", "argument(s) must be one of the following: debug, verbose, notice, warning")
    check("loglevel", "warning", "warning")
    check("save", "", "")
    check("save", "100 0", "100 0")
    fails("save", "1 2 3", "Invalid save parameters")
    fails("save", "0 1", "Invalid save parameters")
    check("notify-keyspace-events", "KEA", "AKE")
    check("notify-keyspace-events", "Ex$", "$xE")
    check("notify-keyspace-events", "", "")
    fails("notify-keyspace-events", "q", "Invalid event class character. Use 'Ag$lshzxeKEtmdn'.")
    check("client-output-buffer-limit", "normal 1mb 2 3",
          "normal 1048576 2 3 slave 268435456 67108864 60 pubsub 33554432 8388608 60")
    fails("client-output-buffer-limit", "foo 1 2 3", "Invalid client class specified in buffer limit configuration.")
    fails("client-output-buffer-limit", "normal 1 2", "Wrong number of arguments in buffer limit configuration.")
    fails("client-output-buffer-limit", "normal x 2 3",
          "Error in hard, soft or soft_seconds setting in buffer limit configuration.")
    check("slowlog-log-slower-than", "-1", "-1")
    fails("slowlog-log-slower-than", "-2", "argument must be between -1 and 9223372036854775807 inclusive")
    check("list-max-listpack-size", "-5", "-5")
    check("list-max-ziplist-size", "7", "7")
    assert r.cmd("CONFIG", "GET", "list-max-listpack-size") == [b"list-max-listpack-size", b"7"]
    check("hash-max-listpack-value", "1k", "1000")
    check("maxmemory-clients", "10%", "10%")
    fails("maxmemory-clients", "x", "argument must be a memory or percent value")
    # every parameter accepts its own current value back
    got = r.cmd("CONFIG", "GET", "*")
    for name, value in zip(got[::2], got[1::2]):
        reply = r.cmd("CONFIG", "SET", name, value)
        assert reply == "OK" or "immutable" in str(reply) or "protected" in str(reply), (name, value, reply)


def test_config_set_errors_and_atomicity(r):
    assert r.raw("CONFIG", "SET", "a") == b"-ERR wrong number of arguments for 'config|set' command\r\n"
    assert r.raw("CONFIG", "SET", "a", "b", "c") == b"-ERR syntax error\r\n"
    assert r.raw("CONFIG", "SET", "foo", "1") == b"-ERR Unknown option or number of arguments for CONFIG SET - 'foo'\r\n"
    assert r.raw("CONFIG", "SET", "hz", "5", "foo", "1") == \
        b"-ERR Unknown option or number of arguments for CONFIG SET - 'foo'\r\n"
    assert r.raw("CONFIG", "SET", "databases", "5") == \
        b"-ERR CONFIG SET failed (possibly related to argument 'databases') - can't set immutable config\r\n"
    assert r.raw("CONFIG", "SET", "databases", "5", "foo", "1") == \
        b"-ERR CONFIG SET failed (possibly related to argument 'databases') - can't set immutable config\r\n"
    assert r.raw("CONFIG", "SET", "dir", "/tmp") == \
        b"-ERR CONFIG SET failed (possibly related to argument 'dir') - can't set protected config\r\n"
    assert r.raw("CONFIG", "SET", "hz", "5", "HZ", "6") == \
        b"-ERR CONFIG SET failed (possibly related to argument 'HZ') - duplicate parameter\r\n"
    assert r.raw("CONFIG", "SET", "replica-read-only", "no", "slave-read-only", "no") == \
        b"-ERR CONFIG SET failed (possibly related to argument 'slave-read-only') - duplicate parameter\r\n"
    # all or nothing: the good pair before the bad one is not applied
    assert r.raw("CONFIG", "SET", "maxmemory", "1k", "maxmemory-policy", "bad").startswith(
        b"-ERR CONFIG SET failed (possibly related to argument 'maxmemory-policy') - argument(s) must be")
    assert r.cmd("CONFIG", "GET", "maxmemory") == [b"maxmemory", b"0"]
    assert r.raw("CONFIG", "SET", "maxmemory", "1k", "maxmemory-policy", "allkeys-lru") == b"+OK\r\n"
    assert r.cmd("CONFIG", "GET", "maxmemory", "maxmemory-policy") == \
        [b"maxmemory", b"1000", b"maxmemory-policy", b"allkeys-lru"]
    r.cmd("CONFIG", "SET", "maxmemory", "0", "maxmemory-policy", "noeviction")
    assert r.raw("CONFIG", "FOO") == b"-ERR unknown subcommand 'FOO'. Try CONFIG HELP.\r\n"
    assert r.raw("CONFIG") == b"-ERR wrong number of arguments for 'config' command\r\n"


def test_config_protected_dir(make_server, tmp_path):
    s = make_server("--enable-protected-configs", "yes")
    r = s.conn()
    assert r.raw("CONFIG", "SET", "dir", str(tmp_path)) == b"+OK\r\n"
    assert r.cmd("CONFIG", "GET", "dir") == [b"dir", os.path.realpath(str(tmp_path)).encode()]
    assert r.raw("CONFIG", "SET", "dir", "/nonexistent/x") == \
        b"-ERR CONFIG SET failed (possibly related to argument 'dir') - No such file or directory\r\n"
    assert r.raw("CONFIG", "SET", "dbfilename", "a/b") == \
        b"-ERR CONFIG SET failed (possibly related to argument 'dbfilename') - dbfilename can't be a path, just a filename\r\n"
    assert r.raw("CONFIG", "SET", "dbfilename", "my.rdb") == b"+OK\r\n"


def test_config_set_proto_max_bulk_len_applies_to_open_connections(make_server):
    s = make_server()
    conns = [s.conn() for _ in range(4)]     # on both workers
    assert conns[0].raw("CONFIG", "SET", "proto-max-bulk-len", "1mb") == b"+OK\r\n"
    for c in conns[1:]:
        c.send_raw(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$2000000\r\n")
        assert c.read_raw() == b"-ERR Protocol error: invalid bulk length\r\n"
        assert c.is_closed()


def test_config_resetstat_rewrite_help(r):
    assert r.raw("CONFIG", "RESETSTAT") == b"+OK\r\n"
    assert r.raw("CONFIG", "REWRITE") == b"-ERR The server is running without a config file\r\n"
    assert r.cmd("CONFIG", "HELP") == [
        "CONFIG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "GET <pattern>",
        "    Return parameters matching the glob-like <pattern> and their values.",
        "SET <directive> <value>",
        "    Set the configuration <directive> to <value>.",
        "RESETSTAT",
        "    Reset statistics reported by the INFO command.",
        "REWRITE",
        "    Rewrite the configuration file.",
        "HELP",
        "    Prints this help.",
    ]


def test_config_rewrite_with_file(tmp_path):
    conf = tmp_path / "valkeyper.conf"
    conf.write_text("# my settings\nhz 20\nmaxmemory 1mb\nhz 30\nsave 100 1\nsave 200 2\n")
    s = ServerProcess("--threads", "2", "--shards", "2", config_file=conf, data_dir=tmp_path)
    try:
        r = s.conn()
        assert r.cmd("CONFIG", "GET", "hz") == [b"hz", b"30"]
        assert r.cmd("CONFIG", "GET", "save") == [b"save", b"100 1 200 2"]
        assert r.cmd("INFO", "server").decode().count("config_file:%s\r\n" % conf) == 1
        r.cmd("CONFIG", "SET", "hz", "15", "maxmemory-policy", "allkeys-lru", "save", "60 5")
        assert r.raw("CONFIG", "REWRITE") == b"+OK\r\n"
        text = conf.read_text()
        assert text.startswith("# my settings\n")
        assert "hz 15\n" in text and "hz 20" not in text and "hz 30" not in text
        assert "maxmemory 1mb\n" in text  # rewriteConfigFormatMemory's units
        assert "maxmemory-policy allkeys-lru\n" in text
        assert "save 60 5\n" in text and "save 100 1" not in text
    finally:
        s.stop()
    # the rewritten file starts a server with the same settings
    s = ServerProcess(config_file=conf, data_dir=tmp_path)
    try:
        r = s.conn()
        assert r.cmd("CONFIG", "GET", "hz", "maxmemory-policy") == [b"hz", b"15", b"maxmemory-policy", b"allkeys-lru"]
    finally:
        s.stop()


@needs_redis
def test_config_rewrite_writes_values_as_redis_does(tmp_path):
    """The lines CONFIG REWRITE appends for the same CONFIG SETs, on redis-server and here:
    strings through sdscatrepr, sizes in units, after a blank line and the signature; a
    second rewrite keeps the one signature."""
    settings = [("maxmemory", "1mb"), ("maxmemory-policy", "allkeys-lru"), ("masterauth", 'x"y z'),
                ("masteruser", "bob"), ("notify-keyspace-events", "KEA"), ("client-query-buffer-limit", "3000000"),
                ("repl-backlog-size", "2mb"), ("hz", "15"),
                ("client-output-buffer-limit", "replica 512mb 128mb 120")]
    texts = {}
    for name, binary in (("redis", REDIS_SERVER), ("valkeyper", None)):
        server_dir = tmp_path / name
        server_dir.mkdir()
        conf = server_dir / "server.conf"
        conf.write_text("# mine\n")
        extra = {"binary": binary} if binary else {}
        s = ServerProcess(config_file=conf, data_dir=server_dir, **extra)
        try:
            r = s.conn()
            for option, value in settings:
                assert r.raw("CONFIG", "SET", option, value) == b"+OK\r\n", option
            assert r.raw("CONFIG", "REWRITE") == b"+OK\r\n"
            text = conf.read_text()
            assert r.raw("CONFIG", "SET", "hz", "16", "maxmemory-samples", "7") == b"+OK\r\n"
            assert r.raw("CONFIG", "REWRITE") == b"+OK\r\n"
            again = conf.read_text()
        finally:
            s.stop()
        assert text.startswith("# mine\n\n# Generated by CONFIG REWRITE\n"), text
        assert 'dir "%s"\n' % os.path.realpath(server_dir) in text
        names = {option for option, _ in settings}
        texts[name] = sorted(line for line in text.splitlines() if line.split(" ")[0] in names)
        # The new option goes after the earlier rewrite's lines, under its one signature.
        assert again.count("# Generated by CONFIG REWRITE") == 1 and "hz 16\n" in again and "hz 15" not in again
        assert again.index("\nmaxmemory-samples 7\n") > again.index("# Generated by CONFIG REWRITE"), again
    assert texts["valkeyper"] == texts["redis"]
    assert 'masterauth "x\\"y z"' in texts["redis"] and "maxmemory 1mb" in texts["redis"]


# ---------------------------------------------------------------- COMMAND

def test_command_info(r):
    assert r.raw("COMMAND", "INFO", "get") == (
        b"*1\r\n*10\r\n$3\r\nget\r\n:2\r\n*2\r\n+readonly\r\n+fast\r\n:1\r\n:1\r\n:1\r\n*3\r\n+@read\r\n+@string\r\n"
        b"+@fast\r\n*0\r\n*1\r\n*6\r\n$5\r\nflags\r\n*2\r\n+RO\r\n+access\r\n$12\r\nbegin_search\r\n*4\r\n$4\r\ntype\r\n"
        b"$5\r\nindex\r\n$4\r\nspec\r\n*2\r\n$5\r\nindex\r\n:1\r\n$9\r\nfind_keys\r\n*4\r\n$4\r\ntype\r\n$5\r\nrange\r\n"
        b"$4\r\nspec\r\n*6\r\n$7\r\nlastkey\r\n:0\r\n$7\r\nkeystep\r\n:1\r\n$5\r\nlimit\r\n:0\r\n*0\r\n")
    assert r.raw("COMMAND", "INFO", "nope") == b"*1\r\n$-1\r\n"
    assert r.raw("COMMAND", "INFO", "config|get") == (
        b"*1\r\n*10\r\n$10\r\nconfig|get\r\n:-3\r\n*4\r\n+admin\r\n+noscript\r\n+loading\r\n+stale\r\n:0\r\n:0\r\n:0\r\n"
        b"*3\r\n+@admin\r\n+@slow\r\n+@dangerous\r\n*0\r\n*0\r\n*0\r\n")
    info = r.cmd("COMMAND", "INFO", "client")[0]
    assert info[0] == b"client" and info[1] == -2
    assert b"client|list" in [sub[0] for sub in info[9]]
    everything = r.cmd("COMMAND")
    assert len(everything) == r.cmd("COMMAND", "COUNT") == len(r.cmd("COMMAND", "INFO"))
    names = [c[0] for c in everything]
    assert b"get" in names and b"config" in names and not [n for n in names if n.startswith(b"__")]
    for entry in everything:   # what redis-cli 7's help integration requires of each entry
        assert isinstance(entry[0], bytes) and isinstance(entry[1], int) and isinstance(entry[3], int)
    r.cmd("HELLO", "3")
    raw = r.raw("COMMAND", "INFO", "get")
    assert raw.startswith(b"*1\r\n*10\r\n$3\r\nget\r\n:2\r\n~2\r\n+readonly\r\n+fast\r\n") and raw.endswith(b"~0\r\n")


def test_command_docs_list_count_getkeys(r):
    docs = r.cmd("COMMAND", "DOCS", "get", "nope", "config")
    docs = dict(zip(docs[::2], docs[1::2]))
    assert set(docs) == {b"get", b"config"}
    get = dict(zip(docs[b"get"][::2], docs[b"get"][1::2]))
    assert get[b"group"] == b"string" and get[b"summary"]
    config = dict(zip(docs[b"config"][::2], docs[b"config"][1::2]))
    assert b"config|get" in config[b"subcommands"][::2]
    assert r.raw("COMMAND", "DOCS", "nope") == b"*0\r\n"
    assert len(r.cmd("COMMAND", "DOCS")) == 2 * r.cmd("COMMAND", "COUNT")
    listing = r.cmd("COMMAND", "LIST")
    assert b"get" in listing and b"config|get" in listing and b"client|kill" in listing
    assert sorted(r.cmd("COMMAND", "LIST", "FILTERBY", "PATTERN", "config*")) == \
        [b"config", b"config|get", b"config|help", b"config|resetstat", b"config|rewrite", b"config|set"]
    assert b"get" in r.cmd("COMMAND", "LIST", "FILTERBY", "ACLCAT", "read")
    assert r.raw("COMMAND", "LIST", "FILTERBY", "ACLCAT", "nope") == b"*0\r\n"
    assert r.raw("COMMAND", "LIST", "FILTERBY", "MODULE", "x") == b"*0\r\n"
    assert r.raw("COMMAND", "LIST", "FILTERBY", "x", "y") == b"-ERR syntax error\r\n"
    assert r.raw("COMMAND", "LIST", "foo") == b"-ERR syntax error\r\n"
    assert r.raw("COMMAND", "COUNT", "x") == b"-ERR wrong number of arguments for 'command|count' command\r\n"
    assert r.raw("COMMAND", "GETKEYS", "set", "a", "b") == b"*1\r\n$1\r\na\r\n"
    assert r.raw("COMMAND", "GETKEYS", "del", "a", "b", "c") == b"*3\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n"
    assert r.raw("COMMAND", "GETKEYSANDFLAGS", "get", "a") == b"*1\r\n*2\r\n$1\r\na\r\n*2\r\n+RO\r\n+access\r\n"
    assert r.raw("COMMAND", "GETKEYS", "get") == b"-ERR wrong number of arguments for 'command|getkeys' command\r\n"
    assert r.raw("COMMAND", "GETKEYS", "nope", "a") == b"-ERR Invalid command specified\r\n"
    assert r.raw("COMMAND", "GETKEYS", "set", "a") == b"-ERR Invalid number of arguments specified for command\r\n"
    assert r.raw("COMMAND", "GETKEYS", "config", "get", "x") == b"-ERR The command has no key arguments\r\n"
    assert r.raw("COMMAND", "GETKEYS", "ping", "x") == b"-ERR The command has no key arguments\r\n"
    assert r.raw("COMMAND", "FOO") == b"-ERR unknown subcommand 'FOO'. Try COMMAND HELP.\r\n"
    help_lines = r.cmd("COMMAND", "HELP")
    assert help_lines[0] == "COMMAND <subcommand> [<arg> [value] [opt] ...]. Subcommands are:"
    assert help_lines[-1] == "    Prints this help." and len(help_lines) == 21


# ---------------------------------------------------------------- FUNCTION

def test_function_flush(r):
    assert r.raw("FUNCTION", "FLUSH") == b"+OK\r\n"
    assert r.raw("FUNCTION", "FLUSH", "ASYNC") == b"+OK\r\n"
    assert r.raw("FUNCTION", "FLUSH", "sync") == b"+OK\r\n"
    assert r.raw("FUNCTION", "FLUSH", "foo") == b"-ERR FUNCTION FLUSH only supports SYNC|ASYNC option\r\n"
    assert r.raw("FUNCTION", "FLUSH", "sync", "async") == \
        b"-ERR unknown subcommand or wrong number of arguments for 'FLUSH'. Try FUNCTION HELP.\r\n"
    assert r.raw("FUNCTION") == b"-ERR wrong number of arguments for 'function' command\r\n"
    assert r.raw("FUNCTION", "FOO") == b"-ERR unknown subcommand 'FOO'. Try FUNCTION HELP.\r\n"
    assert r.cmd("FUNCTION", "HELP")[0] == "FUNCTION <subcommand> [<arg> [value] [opt] ...]. Subcommands are:"


def render_argument(arg):
    """redis-cli 7's cliAddArgument: how it turns a COMMAND DOCS argument into hint text."""
    a = dict(zip(arg[::2], arg[1::2]))
    kind, flags = a[b"type"].decode(), a.get(b"flags", [])
    token = a.get(b"token", b"").decode()
    if kind == "oneof":
        body = "|".join(render_argument(x) for x in a[b"arguments"])
    elif kind == "block":
        body = " ".join(render_argument(x) for x in a[b"arguments"])
    elif kind == "pure-token":
        body = ""
    else:
        body = a[b"name"].decode()
    if token and kind != "pure-token":
        token += " "
    text = ("[" if "optional" in flags else "") + token + body
    if "multiple" in flags:
        text += " [" + body + " ...]"
    return text + ("]" if "optional" in flags else "")


def test_command_docs_arguments_give_redis_cli_hints(r):
    def hint(*names):
        docs = r.cmd("COMMAND", "DOCS", names[0])
        doc = dict(zip(docs[1][::2], docs[1][1::2]))
        for sub in names[1:]:
            subs = doc[b"subcommands"]
            doc = dict(zip(subs[subs.index(sub.encode()) + 1][::2], subs[subs.index(sub.encode()) + 1][1::2]))
        for arg in doc.get(b"arguments", []):   # every argument has what redis-cli asserts on
            assert b"name" in arg and b"type" in arg
        return " ".join(render_argument(a) for a in doc.get(b"arguments", []))
    assert hint("set") == ("key value [NX|XX] [GET] [EX seconds|PX milliseconds|EXAT unix-time-seconds|"
                           "PXAT unix-time-milliseconds|KEEPTTL]")
    assert hint("get") == "key"
    assert hint("del") == "key [key ...]"
    assert hint("ping") == "[message]"
    assert hint("hello") == "[protover [AUTH username password] [SETNAME clientname]]"
    assert hint("config", "config|set") == "parameter value [parameter value ...]"
    assert hint("client", "client|list") == "[TYPE NORMAL|MASTER|REPLICA|PUBSUB] [ID client-id [client-id ...]]"
    assert hint("client", "client|id") == ""
    r.cmd("HELLO", "3")
    docs = r.cmd("COMMAND", "DOCS", "get")
    assert isinstance(docs, Map) and docs[b"get"][b"arguments"] == [
        {b"name": b"key", b"type": b"key", b"key_spec_index": 0}]


# ---------------------------------------------------------------- MODULE

def test_module_list_and_help_as_redis_without_modules(server, redis_port):
    """MODULE LIST (how clients detect modules) is an empty list on both protocols, MODULE
    HELP is Redis's text, and the argument errors are Redis's."""
    from support.differential import paired, same
    with paired(server, redis_port) as both:
        same(both, ("MODULE", "LIST"), ("module", "help"), ("MODULE", "LIST", "x"), ("MODULE",),
             ("MODULE", "HELP", "x"))
        for c in both:
            c.raw("HELLO", "3")   # its reply carries the connection's id
        same(both, ("MODULE", "LIST"), ("MODULE", "HELP"))


def test_getkeys_skips_key_specs_whose_keyword_is_absent(server, redis_port):
    """COMMAND GETKEYS(ANDFLAGS) of GEORADIUS(BYMEMBER) without STORE/STOREDIST names the
    source key only, as Redis's getKeysUsingKeySpecs skips a spec whose keyword is missing
    (redis-py's cluster CommandsParser asks it; it was "Invalid arguments" here). The last
    argument is never searched for the keyword."""
    from support.differential import paired, same
    radius = ("GEORADIUS", "Sicily", "15", "37", "200", "km")
    by_member = ("GEORADIUSBYMEMBER", "Sicily", "m", "200", "km")
    cases = [radius, radius + ("WITHCOORD",), radius + ("WITHCOORD", "STORE", "out"), radius + ("STOREDIST", "d"),
             radius + ("STORE", "a", "STOREDIST", "b"), radius + ("STORE",), radius + ("store", "a", "store", "b"),
             by_member, by_member + ("STORE", "out"), by_member + ("ASC",),
             ("XREAD", "COUNT", "2", "STREAMS", "s1", "s2", "0", "0"), ("XREAD", "COUNT", "2"),
             ("XREADGROUP", "GROUP", "g", "c", "STREAMS", "s", ">"), ("GET", "k")]
    with paired(server, redis_port) as both:
        for sub in ("GETKEYS", "GETKEYSANDFLAGS"):
            same(both, *[("COMMAND", sub) + args for args in cases])
