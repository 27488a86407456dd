"""redis-benchmark smoke run: the tool users compare servers with must run cleanly."""
import csv
import io
import subprocess


def test_benchmark_smoke(server):
    c = server.conn()
    c.cmd("FLUSHALL")
    p = subprocess.run(["redis-benchmark", "-p", str(server.port), "-c", "20", "-n", "20000", "-P", "16",
                        "-r", "1000", "-t", "set,get,incr,mset,ping,hset", "--csv"],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    rows = {row["test"]: row for row in csv.DictReader(io.StringIO(p.stdout))}
    for name in ["SET", "GET", "PING_INLINE", "PING_MBULK", "HSET"]:
        assert name in rows, p.stdout
        assert float(rows[name]["rps"]) > 0
    assert c.cmd("DBSIZE") > 0
    assert c.cmd("HLEN", "myhash") > 0
    assert c.cmd("PING") == "PONG"
    c.close()
    assert server.alive()


def test_benchmark_sorted_sets(server):
    """redis-benchmark's ZADD and ZPOPMIN tests (its default run includes them)."""
    c = server.conn()
    c.cmd("FLUSHALL")
    p = subprocess.run(["redis-benchmark", "-p", str(server.port), "-c", "20", "-n", "20000", "-P", "16",
                        "-r", "1000", "-t", "zadd,zpopmin", "--csv"],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    rows = {row["test"]: row for row in csv.DictReader(io.StringIO(p.stdout))}
    for name in ["ZADD", "ZPOPMIN"]:
        assert name in rows, p.stdout
        assert float(rows[name]["rps"]) > 0
    assert c.cmd("TYPE", "myzset") == "zset" or c.cmd("EXISTS", "myzset") == 0
    c.close()
    assert server.alive()
