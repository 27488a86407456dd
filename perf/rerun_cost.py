#!/usr/bin/env python3
"""Cost of a script's first run that reaches an undeclared key of another shard (issue 16):
abandoned on its declared key's shard, undone, run again under locks on every shard.

Usage: perf/rerun_cost.py [--bin PATH] [-n SCRIPTS] [--callgrind]

Starts valkeyper-server with --threads 2 --shards 2 (under callgrind with --callgrind, whose
counters are zeroed and dumped around each phase) and runs N EVALs of distinct bodies
(distinct, so none is learned) one after the other, in three phases:
  single    INCR of the declared key only (the single-shard path, nothing abandoned)
  abandoned INCR of the declared key, then of an undeclared key of the other shard: every
            run is abandoned after its first write, undone and run again across shards
  direct    the same body flagged allow-cross-slot-keys: straight to the multi-shard path
  learned   one such body, N times: abandoned once, then straight to the multi-shard path
Prints microseconds per script (wall clock, one client, no pipelining) and, with
--callgrind, server instructions per script (all threads, idle loops included: the
multi-shard phases wait for other threads, so their counts grow with wall time). abandoned -
direct is what the abandoned run costs on top of the multi-shard run; the first three
phases compile a script per run, learned does not."""
import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "Tests"))
from support.processes import free_port  # noqa: E402
from support.resp import Conn  # noqa: E402
from support.slots import slot  # noqa: E402


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin", default=os.path.join(ROOT, ".build/release/valkeyper-server"))
    parser.add_argument("-n", type=int, default=2000)
    parser.add_argument("--callgrind", action="store_true")
    opts = parser.parse_args()
    port = free_port()
    work = tempfile.mkdtemp(prefix="rerun-cost-")
    binary = opts.bin
    cmd = [binary, "--port", str(port), "--dir", work, "--save", "", "--threads", "2", "--shards", "2"]
    if opts.callgrind:
        binary = os.path.join(work, "valkeyper-server")
        subprocess.run(["objcopy", "--strip-debug", opts.bin, binary], check=True)  # see perf/callgrind
        cmd = ["valgrind", "--tool=callgrind", "--callgrind-out-file=%s/cg.out" % work, "--dump-instr=no",
               "--collect-systime=no", "--separate-threads=no", binary] + cmd[1:]
    server = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(600):
            try:
                conn = Conn(port)
                if conn.cmd("PING") == "PONG":
                    break
            except OSError:
                time.sleep(0.1)
        a = "{home}:k"
        far = next("{far%d}" % i for i in range(100) if slot("{far%d}" % i) % 2 != slot(a) % 2)
        bodies = {
            "single": "redis.call('incr', KEYS[1]) return 1 --%s %d",
            "abandoned": "redis.call('incr', KEYS[1]) return redis.call('incr', ARGV[1]) --%s %d",
            "direct": "#!lua flags=allow-cross-slot-keys\n"
                      "redis.call('incr', KEYS[1]) return redis.call('incr', ARGV[1]) --%s %d",
            # One body, learned at its first run: the multi-shard run every later run pays.
            "learned": "redis.call('incr', KEYS[1]) return redis.call('incr', ARGV[1]) --%s",
        }
        dump = 0
        for phase, body in bodies.items():
            if opts.callgrind:
                subprocess.run(["callgrind_control", "-z", str(server.pid)], capture_output=True)
            start = time.perf_counter()
            for i in range(opts.n):
                conn.cmd("EVAL", body % ((phase, i) if phase != "learned" else phase), "1", a, far)
            elapsed = time.perf_counter() - start
            line = "%-10s %7.1f us/script" % (phase, elapsed / opts.n * 1e6)
            if opts.callgrind:
                subprocess.run(["callgrind_control", "-d", phase, str(server.pid)], capture_output=True)
                dump += 1
                path = "%s/cg.out.%d" % (work, dump)
                for _ in range(100):
                    if os.path.exists(path) and os.path.getsize(path) > 0:
                        break
                    time.sleep(0.1)
                total = next(int(l.split()[1]) for l in open(path) if l.startswith(("summary:", "totals:")))
                line += "  %9.0f Ir/script" % (total / opts.n)
            print(line, flush=True)
    finally:
        server.terminate()
        server.wait(60)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
