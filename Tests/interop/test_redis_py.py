"""redis-py, the most used Python client, against the real binary (RESP2 and RESP3)."""
import redis
import pytest

from support.marks import needs_jemalloc


@pytest.fixture(params=[2, 3], ids=["resp2", "resp3"])
def client(server, request):
    c = redis.Redis(port=server.port, protocol=request.param)
    c.flushall()
    yield c
    c.close()


def test_strings_and_keys(client):
    assert client.set("a", "1") is True
    assert client.get("a") == b"1"
    assert client.get("missing") is None
    assert client.set("a", "2", nx=True) is None
    assert client.set("b", "x", ex=100) is True
    assert 0 < client.ttl("b") <= 100
    assert client.exists("a", "b", "c") == 2
    assert client.delete("a", "b", "c") == 2
    assert client.dbsize() == 0


def test_pipeline_many_keys_across_shards(client):
    with client.pipeline(transaction=False) as p:
        for i in range(1000):
            p.set("k%d" % i, i)
        assert all(p.execute())
    with client.pipeline(transaction=False) as p:
        for i in range(1000):
            p.get("k%d" % i)
        assert p.execute() == [str(i).encode() for i in range(1000)]
    assert client.mget(["k1", "k2", "nope", "k3"]) == [b"1", b"2", None, b"3"]
    assert client.dbsize() == 1000


def test_hello_and_info(client):
    info = client.info("server")
    assert info["redis_version"].startswith("7.")
    assert "valkeyper_version" in info
    assert client.ping() is True
    assert client.echo("hi") == b"hi"


@needs_jemalloc
def test_info_memory_names_jemalloc(client):
    assert client.info("memory")["mem_allocator"].startswith("jemalloc-")


def test_config_get(client):
    assert client.config_get("maxclients") == {"maxclients": "10000"}
    assert client.config_get("port")["port"] == str(client.connection_pool.connection_kwargs["port"])


def test_errors_raise(client):
    client.set("s", "x")
    with pytest.raises(redis.ResponseError, match="wrong number of arguments"):
        client.execute_command("GET")
    with pytest.raises(redis.ResponseError, match="unknown command"):
        client.execute_command("NOSUCHCOMMAND", "x")


def test_hashes(client):
    assert client.hset("h", mapping={"a": "1", "b": "two"}) == 2
    assert client.hset("h", "c", "3") == 1
    assert client.hgetall("h") == {b"a": b"1", b"b": b"two", b"c": b"3"}
    assert client.hmget("h", ["a", "nope"]) == [b"1", None]
    assert client.hincrby("h", "a", 5) == 6
    assert client.hincrbyfloat("h", "f", 1.5) == 1.5
    assert client.hkeys("h") == [b"a", b"b", b"c", b"f"]
    assert client.hrandfield("h", 2, withvalues=True) is not None
    assert client.hexists("h", "b") and client.hstrlen("h", "b") == 3
    assert client.hdel("h", "a", "b") == 2 and client.hlen("h") == 2
    client.hset("big", mapping={"f%d" % i: i for i in range(1000)})
    assert dict(client.hscan_iter("big")) == {b"f%d" % i: b"%d" % i for i in range(1000)}
    assert client.object("encoding", "big") == b"hashtable"
