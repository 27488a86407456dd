"""What the stream tests share: Redis 7.0's error texts, replies as text, blocked clients."""
from .info import info
from .waiting import wait_until

WRONGTYPE = b"-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"
INVALID_ID = b"-ERR Invalid stream ID specified as stream command argument\r\n"
TOP_ITEM = b"-ERR The ID specified in XADD is equal or smaller than the target stream top item\r\n"


def text(v):
    """Replies with bulk strings decoded, for comparing with str literals."""
    if isinstance(v, bytes):
        return v.decode()
    if isinstance(v, list):
        return [text(x) for x in v]
    if isinstance(v, dict):
        return {text(k): text(x) for k, x in v.items()}
    return v


def cmd(c, *args):
    return text(c.cmd(*args))


def entry(id_, *fv):
    return [id_, list(fv)]


def blocked_count(server):
    """INFO's blocked_clients."""
    c = server.conn()
    try:
        return int(info(c, "clients")["blocked_clients"])
    finally:
        c.close()


def wait_blocked(server, n, exact=False):
    """Awaits INFO's blocked_clients reaching n (at least n unless `exact`)."""
    wait_until(lambda: blocked_count(server) == n if exact else blocked_count(server) >= n,
               message="%d blocked clients" % n)
