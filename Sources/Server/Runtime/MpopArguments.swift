import RESP

/// LMPOP's, BLMPOP's, ZMPOP's and BZMPOP's arguments after the timeout: numkeys, the keys,
/// the side (LEFT|RIGHT, MIN|MAX) and an optional COUNT, checked as lmpopGenericCommand and
/// zmpopGenericCommand check them, in their order and with their errors.
struct MpopArguments {
    var keys: Range<Int>
    /// What the family's `side` parser made of its word (lists: LEFT, sorted sets: MAX).
    var side: Bool
    /// 1 without COUNT.
    var count: Int

    /// numkeys at `countAt`; nil after writing the error. `side` writes its own error.
    static func parse(_ args: Arguments, countAt: Int, _ out: inout ByteBuffer,
                      side parseSide: (UnsafeRawBufferPointer, inout ByteBuffer) -> Bool?) -> MpopArguments? {
        guard let n = parseStrictInt(args[countAt]), n >= 1 else {
            out.writeError("ERR numkeys should be greater than 0")
            return nil
        }
        guard n < args.count - countAt - 1 else { out.writeError(Errors.syntax); return nil }
        let whereAt = countAt + 1 + n
        guard let side = parseSide(args[whereAt], &out) else { return nil }
        var count = -1
        var j = whereAt + 1
        while j < args.count {
            if count == -1 && argIs(args[j], "count") && j + 1 < args.count {
                guard let v = parseStrictInt(args[j + 1]), v >= 1 else {
                    out.writeError("ERR count should be greater than 0")
                    return nil
                }
                count = v
                j += 2
            } else {
                out.writeError(Errors.syntax)
                return nil
            }
        }
        return MpopArguments(keys: (countAt + 1)..<whereAt, side: side, count: max(count, 1))
    }
}
