"""Follows a key back through a stream recorded by repl_stress.py: the writes that built its
final value, through SWAPDB, MOVE, COPY ... DB and RENAME (a tool, not a test).

    python3 Tests/integration/trace_stream.py <stream.log> <key> <db> [how many] [up to offset]"""
import ast
import sys


def records(path, up_to):
    db = None
    for line in open(path):
        off, t, rest = line.split(" ", 2)
        if int(off) > up_to:
            break
        args = ast.literal_eval(rest)
        if args[0].upper() == b"SELECT":
            db = int(args[1])
            continue
        yield int(off), float(t), db, args


def trace(path, key, db, limit, up_to):
    location = (db, key)
    out = []
    for off, t, d, args in reversed(list(records(path, up_to))):
        name = args[0].upper()
        tdb, tkey = location
        if name == b"SWAPDB":
            a, b = int(args[1]), int(args[2])
            if tdb in (a, b):
                location = (b if tdb == a else a, tkey)
                out.append((off, t, d, args, "swapped: was db %d" % location[0]))
            continue
        if name == b"FLUSHALL" or (name == b"FLUSHDB" and d == tdb):
            out.append((off, t, d, args, "flushed: stop"))
            break
        if name == b"MOVE" and args[1] == tkey and int(args[2]) == tdb:
            out.append((off, t, d, args, "moved in from db %d" % d))
            location = (d, tkey)
            continue
        if name == b"COPY" and args[2] == tkey:
            upper = [a.upper() for a in args]
            target = int(args[upper.index(b"DB") + 1]) if b"DB" in upper else d
            if target == tdb:
                out.append((off, t, d, args, "copied from db %d key %r (if it succeeded)" % (d, args[1])))
                location = (d, args[1])
                continue
        if name in (b"RENAME", b"RENAMENX") and args[2] == tkey and d == tdb:
            out.append((off, t, d, args, "renamed from %r" % args[1]))
            location = (d, args[1])
            continue
        if d == tdb and tkey in args[1:]:
            out.append((off, t, d, args, ""))
        if len(out) >= limit:
            break
    for off, t, d, args, note in reversed(out):
        text = repr([a.decode(errors="replace")[:12] for a in args])
        print(off, "%.6f" % t, "db", d, text[:260], note)


if __name__ == "__main__":
    trace(sys.argv[1], sys.argv[2].encode(), int(sys.argv[3]), int(sys.argv[4]) if len(sys.argv) > 4 else 60,
          int(sys.argv[5]) if len(sys.argv) > 5 else 1 << 62)
