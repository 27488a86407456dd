"""COMMAND INFO and COMMAND DOCS against redis-server 7.0: for every command and subcommand
ValKeyper implements, what clients read from the table (arity, flags, key range, ACL
categories, tips, key specs; DOCS group, since and the argument trees that redis-cli's hints
and client generators use) must equal the reference server's. Summaries and complexity texts
are our own words, so they are not compared.

What we deliberately differ in is listed below with the reason; anything else is drift.
"""
import pytest

from support.resp import Conn

# Commands Redis 7.0 lacks that we have on purpose.
NOT_IN_REDIS_7_0 = {
    "client|setinfo": "redis-py 5 sends CLIENT SETINFO on connect; Redis 7.2 added it",
}

# Fields that differ on purpose: (command, field) -> reason.
DELIBERATE = {
}


def hello3(port):
    c = Conn(port)
    c.cmd("HELLO", "3")
    return c


@pytest.fixture(scope="module")
def both(server, redis_port):
    conns = (hello3(redis_port), hello3(server.port))
    yield conns
    for c in conns:
        c.close()


def flatten_info(entries):
    """COMMAND INFO replies by full name, subcommands included."""
    out = {}
    for e in entries:
        if e is None:
            continue
        name = e[0].decode() if isinstance(e[0], bytes) else e[0]
        out[name] = e
        out.update(flatten_info(e[9]))
    return out


def text(v):
    return v.decode() if isinstance(v, bytes) else v


def normalize(value):
    """Maps, sets and byte strings as plain comparable Python values."""
    if isinstance(value, dict):
        return {text(k): normalize(v) for k, v in value.items()}
    if isinstance(value, list):
        return [normalize(v) for v in value]
    return text(value)


def info_fields(entry):
    return {
        "arity": entry[1],
        "flags": sorted(text(f) for f in entry[2]),
        "first_key": entry[3], "last_key": entry[4], "step": entry[5],
        "acl_categories": [text(c) for c in entry[6]],
        "tips": [text(t) for t in entry[7]],
        "key_specs": normalize(entry[8]),
    }


def argument_tree(args):
    """The parts of DOCS arguments that hints and generators read (not summaries or since)."""
    tree = []
    for a in args or []:
        a = normalize(a)
        node = {k: a[k] for k in ("name", "type", "token", "key_spec_index") if k in a}
        node["flags"] = sorted(a.get("flags", []))
        if "arguments" in a:
            node["arguments"] = argument_tree(a["arguments"])
        tree.append(node)
    return tree


def docs_fields(doc):
    doc = {text(k): v for k, v in doc.items()}
    return {"group": text(doc.get("group")), "since": text(doc.get("since")),
            "arguments": argument_tree(doc.get("arguments"))}


def flatten_docs(docs):
    out = {}
    for name, doc in docs.items():
        name = text(name)
        out[name] = doc
        subs = {text(k): v for k, v in doc.items()}.get(b"subcommands") or {text(k): v for k, v in doc.items()}.get(
            "subcommands")
        if subs:
            out.update(flatten_docs(subs))
    return out


def ours_and_theirs(both, subcommand):
    redis, vk = both
    ours = vk.cmd("COMMAND", subcommand)
    theirs = redis.cmd("COMMAND", subcommand)
    return ours, theirs


def test_command_info_matches_redis(both):
    ours, theirs = ours_and_theirs(both, "INFO")
    ours, theirs = flatten_info(ours), flatten_info(theirs)
    assert len(ours) > 120
    drift = []
    for name in sorted(ours):
        if name in NOT_IN_REDIS_7_0:
            assert name not in theirs, name + " is in Redis 7.0 now: compare it"
            continue
        assert name in theirs, name + " is not a Redis 7.0 command"
        mine, ref = info_fields(ours[name]), info_fields(theirs[name])
        for field in mine:
            if mine[field] != ref[field] and (name, field) not in DELIBERATE:
                drift.append((name, field, mine[field], ref[field]))
    assert not drift, "\n".join("%s %s: ours %r, redis %r" % d for d in drift)


def test_command_docs_matches_redis(both):
    ours, theirs = ours_and_theirs(both, "DOCS")
    ours, theirs = flatten_docs(ours), flatten_docs(theirs)
    assert len(ours) > 120
    drift = []
    for name in sorted(ours):
        if name in NOT_IN_REDIS_7_0:
            continue
        mine, ref = docs_fields(ours[name]), docs_fields(theirs[name])
        for field in mine:
            if mine[field] != ref[field] and (name, "docs " + field) not in DELIBERATE:
                drift.append((name, field, mine[field], ref[field]))
    assert not drift, "\n".join("%s %s:\n  ours  %r\n  redis %r" % d for d in drift)


def test_every_command_has_docs_and_info(both):
    """COMMAND DOCS and COMMAND INFO describe the same commands, as COMMAND LIST names them."""
    _, vk = both
    listed = sorted(text(n) for n in vk.cmd("COMMAND", "LIST"))
    info = flatten_info(vk.cmd("COMMAND", "INFO"))
    docs = flatten_docs(vk.cmd("COMMAND", "DOCS"))
    assert sorted(info) == listed
    assert sorted(docs) == listed
    assert vk.cmd("COMMAND", "COUNT") == len(vk.cmd("COMMAND"))


def test_summaries_are_our_own_words(both):
    """Summaries are written for ValKeyper, not copied from Redis's documentation."""
    ours, theirs = ours_and_theirs(both, "DOCS")
    ours, theirs = flatten_docs(ours), flatten_docs(theirs)

    def summary(doc):
        doc = {text(k): v for k, v in doc.items()}
        return text(doc.get("summary", "")).rstrip(".").lower()

    copied = [name for name in ours if name in theirs and summary(ours[name]) == summary(theirs[name])]
    assert all(summary(doc) for doc in ours.values())
    assert not copied, copied
