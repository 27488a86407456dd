"""LMPOP reaches replicas as the LPOP/RPOP key count it did (Redis's lmpopGenericCommand
rewrites it so), nothing when nothing was popped; inside MULTI too, and with its keys on two
shards. The stream expected is the one Redis's tcl suite asserts (unit/type/list, "LMPOP
propagate as pop with count command to replica")."""
from support.slots import keys_on_two_shards
from test_geo import RawReplica  # the hand-made replica reading the stream


def test_lmpop_propagates_as_the_pop_it_did(server):
    stream = RawReplica(server.port, acks=False)
    c = server.conn()
    c.cmd("FLUSHALL")
    for args in [
        ("LPUSH", "mylist{t}", "a", "b", "c"),
        ("LMPOP", "1", "mylist{t}", "left", "count", "1"),
        ("LMPOP", "1", "mylist{t}", "right", "count", "1"),
        ("LMPOP", "2", "mylist{t}", "mylist2{t}", "left", "count", "10"),
        ("LMPOP", "2", "mylist{t}", "mylist2{t}", "left", "count", "10"),   # nothing: not propagated
        ("RPUSH", "mylist2{t}", "1", "2", "3"),
        ("LMPOP", "2", "mylist{t}", "mylist2{t}", "left", "count", "2"),
        ("LMPOP", "2", "mylist{t}", "mylist2{t}", "right", "count", "1"),
        ("RPUSH", "mylist{t}", "a", "b", "c"),
        ("RPUSH", "mylist2{t}", "1", "2", "3"),
        ("LMPOP", "2", "mylist{t}", "mylist2{t}", "left", "count", "10"),
        ("LMPOP", "2", "mylist{t}", "mylist2{t}", "right", "count", "10"),
    ]:
        c.cmd(*args)
    assert c.cmd("MULTI") == "OK"
    c.cmd("RPUSH", "m{t}", "x", "y")
    c.cmd("LMPOP", "1", "m{t}", "RIGHT")
    assert c.cmd("EXEC") == [2, [b"m{t}", [b"y"]]]
    a, b = keys_on_two_shards("lmpop")
    c.cmd("RPUSH", b, "1", "2", "3")
    assert c.cmd("LMPOP", "2", a, b, "LEFT", "COUNT", "2") == [b.encode(), [b"1", b"2"]]
    c.cmd("SET", "end", "x")
    assert stream.commands_until(["SET", "end", "x"]) == [
        ["FLUSHALL"],
        ["LPUSH", "mylist{t}", "a", "b", "c"],
        ["LPOP", "mylist{t}", "1"],
        ["RPOP", "mylist{t}", "1"],
        ["LPOP", "mylist{t}", "1"],
        ["RPUSH", "mylist2{t}", "1", "2", "3"],
        ["LPOP", "mylist2{t}", "2"],
        ["RPOP", "mylist2{t}", "1"],
        ["RPUSH", "mylist{t}", "a", "b", "c"],
        ["RPUSH", "mylist2{t}", "1", "2", "3"],
        ["LPOP", "mylist{t}", "3"],
        ["RPOP", "mylist2{t}", "3"],
        ["MULTI"],
        ["RPUSH", "m{t}", "x", "y"],
        ["RPOP", "m{t}", "1"],
        ["EXEC"],
        ["RPUSH", b, "1", "2", "3"],
        ["LPOP", b, "2"],
        ["SET", "end", "x"]]
