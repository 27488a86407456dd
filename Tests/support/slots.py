"""Which shard a key lives on: Redis Cluster's hash slot (CRC16/XMODEM of the key, or of its
{hashtag}) modulo the shard count, as ValKeyper's KeyHash.slot does."""


def slot(key):
    data = key.encode() if isinstance(key, str) else key
    start = data.find(b"{")
    if start >= 0:
        end = data.find(b"}", start + 1)
        if end > start + 1:
            data = data[start + 1:end]
    crc = 0
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021 if crc & 0x8000 else crc << 1) & 0xFFFF
    return crc & 0x3FFF


def keys_on_two_shards(prefix, count=2, shards=2):
    """`count` keys starting with `prefix` that alternate between shard 0 and shard 1."""
    found, i = [], 0
    while len(found) < count:
        key = "%s:%d" % (prefix, i)
        if slot(key) % shards == len(found) % 2:
            found.append(key)
        i += 1
    return found


def key_on_each_shard(prefix, shards):
    """One name per shard, `prefix` followed by a number: the name of shard i at index i
    (a key, or a hash tag for keys of that shard)."""
    found, i = [None] * shards, 0
    while None in found:
        name = "%s%d" % (prefix, i)
        if found[slot(name) % shards] is None:
            found[slot(name) % shards] = name
        i += 1
    return found
