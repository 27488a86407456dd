"""Waiting for replicas: the link, the offsets, the data."""
import time

from .dataset import assert_same_keyspace, keyspace, same_keyspace, ttl_presence
from .info import info
from .processes import REDIS_SERVER, ServerProcess, shards
from .waiting import wait_until


def redis_master(port=None, data_dir=None, save=""):
    """A redis-server 7.0 master (diskless sync without delay: syncs start at once)."""
    return ServerProcess("--save", save, "--repl-diskless-sync-delay", "0", "--enable-debug-command", "yes",
                         binary=REDIS_SERVER, port=port, data_dir=data_dir)


def replicas_of_both_kinds(nodes, master):
    """A 2-shard ValKeyper replica and a redis-server replica of `master` (started with the
    `nodes` fixture), once both links are up."""
    replicas = [nodes("--save", "", *shards(2), "--replicaof", "127.0.0.1", str(master.port)),
                nodes("--save", "", "--replicaof", "127.0.0.1", str(master.port), binary=REDIS_SERVER)]
    for r in replicas:
        wait_until(lambda: link_up(r), timeout=20, message="replica link up")
    return replicas


def link_up(replica):
    """The replica's link to its master is up (`replica`: a server process or a connection)."""
    conn = replica.conn() if hasattr(replica, "conn") else replica
    return info(conn, "replication").get("master_link_status") == "up"


def synced(master_conn, replica_conn):
    """The link is up and the replica has applied everything the master has produced."""
    r = info(replica_conn, "replication")
    if r.get("master_link_status") != "up":
        return False
    return int(r["slave_repl_offset"]) == int(info(master_conn, "replication")["master_repl_offset"])


def wait_synced(master_conn, replica_conn, timeout=20):
    wait_until(lambda: synced(master_conn, replica_conn), timeout=timeout, message="the replica to catch up")


def assert_same_data(master_conn, replica_conn):
    """Keys and values equal; TTLs the same deadline (PTTLs read a moment apart)."""
    expected = keyspace(master_conn, clock="PTTL")   # the master first, then the replica
    assert_same_keyspace(keyspace(replica_conn, clock="PTTL"), expected, ttl_slack_ms=3000)


def wait_same_data(master_conn, replica_conn, timeout=10):
    """Awaits the master's data on the replica, comparing the data itself and not only the
    offsets, which say that the stream was applied but not what it did."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return assert_same_data(master_conn, replica_conn)
        except AssertionError:
            if time.monotonic() > deadline:
                raise  # showing the difference
        time.sleep(0.01)


def same_data(master, replica, dbs=range(4)):
    """The same keys, values and presence of a TTL in `dbs` of two server processes."""
    expected = ttl_presence(keyspace(master.conn(), dbs, clock="PTTL"))   # the master first
    return same_keyspace(ttl_presence(keyspace(replica.conn(), dbs, clock="PTTL")), expected)


def wait_in_sync(master, replica, dbs=range(4)):
    """WAIT for the one replica's acknowledgement, then its data equal to the master's."""
    m = master.conn()
    assert m.cmd("WAIT", "1", "10000") == 1
    wait_until(lambda: same_data(master, replica, dbs), timeout=10, message="replica data equal to the master's")
