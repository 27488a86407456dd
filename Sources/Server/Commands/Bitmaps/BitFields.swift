import RESP
import Shards

/// BITFIELD and BITFIELD_RO (bitfieldGeneric of Redis 7.0): signed (i1..i64) and unsigned
/// (u1..u63) integers at any bit offset, big-endian bit order as SETBIT; every operation is
/// parsed (and the key looked up once, grown to the farthest write) before any runs.
enum BitFields {
    enum Overflow { case wrap, sat, fail }
    enum Opcode { case get, set, incrby }

    struct Operation {
        var opcode: Opcode
        var offset: Int
        var bits: Int
        var signed: Bool
        var value: Int
        var overflow: Overflow
    }

    static let typeError: StaticString =
        "ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is."

    /// `i<bits>` or `u<bits>` (getBitfieldTypeFromArgument).
    private static func type(_ arg: UnsafeRawBufferPointer) -> (signed: Bool, bits: Int)? {
        guard arg.count >= 2, arg[0] == UInt8(ascii: "i") || arg[0] == UInt8(ascii: "u"),
              let bits = parseStrictInt(arg, from: 1, to: arg.count) else { return nil }
        let signed = arg[0] == UInt8(ascii: "i")
        guard bits >= 1, bits <= (signed ? 64 : 63) else { return nil }
        return (signed, bits)
    }

    static func bitfield(_ ctx: ShardContext, _ args: Arguments, _ out: inout ByteBuffer, readOnly: Bool) {
        var ops: [Operation] = []
        var overflow = Overflow.wrap
        var writes = false
        var highestWrite = 0
        var j = 2
        while j < args.count {
            let remaining = args.count - j - 1
            let name = args[j]
            let opcode: Opcode
            if argIs(name, "get") && remaining >= 2 {
                opcode = .get
            } else if argIs(name, "set") && remaining >= 3 {
                opcode = .set
            } else if argIs(name, "incrby") && remaining >= 3 {
                opcode = .incrby
            } else if argIs(name, "overflow") && remaining >= 1 {
                let kind = args[j + 1]
                if argIs(kind, "wrap") { overflow = .wrap }
                else if argIs(kind, "sat") { overflow = .sat }
                else if argIs(kind, "fail") { overflow = .fail }
                else { out.writeError("ERR Invalid OVERFLOW type specified"); return }
                j += 2
                continue
            } else {
                out.writeError(Errors.syntax)
                return
            }
            guard case let (signed, bits)? = type(args[j + 1]) else { out.writeError(typeError); return }
            guard let offset = BitmapCommands.bitOffset(args[j + 2], bits: bits) else {
                out.writeError(BitmapCommands.offsetError)
                return
            }
            var value = 0
            if opcode != .get {
                writes = true
                highestWrite = max(highestWrite, offset + bits - 1)
                guard let v = args.integer(j + 3) else { out.writeError(Errors.notInteger); return }
                value = v
            }
            ops.append(Operation(opcode: opcode, offset: offset, bits: bits, signed: signed, value: value, overflow: overflow))
            j += opcode == .get ? 3 : 4
        }

        var entry: Entry?
        var grew = false
        if !writes {
            if let e = ctx.shard.lookupForRead(db: ctx.db, key: args[1]) {
                guard e.kind == .string else { out.writeError(Errors.wrongType); return }
                entry = e
            }
        } else {
            guard !readOnly else { out.writeError("ERR BITFIELD_RO only supports the GET subcommand"); return }
            guard let target = BitmapCommands.stringForBitWrite(ctx, args[1], lastByte: highestWrite >> 3, &out) else {
                return
            }
            entry = target.entry
            grew = target.grew
        }

        out.writeArrayHeader(ops.count)
        var noted = grew  // a grown string was reported as changed already
        var changes = 0   // Redis's: writes that changed a value, or any write after growing
        for op in ops {
            guard op.opcode != .get else {
                out.writeInteger(get(op, from: entry?.value ?? UnsafeRawBufferPointer(start: nil, count: 0)))
                continue
            }
            let e = entry!
            let bytes = UnsafeMutableRawBufferPointer(start: e.valuePointer, count: e.valueLength)
            let old = read(UnsafeRawBufferPointer(bytes), offset: op.offset, bits: op.bits)
            guard case let (stored, reply)? = op.signed ? signedResult(op, old: old) : unsignedResult(op, old: old) else {
                out.writeNull(ctx.resp)
                continue
            }
            if stored != old {
                if !noted {
                    ctx.shard.noteModified(db: ctx.db, key: args[1])
                    noted = true
                }
                write(stored, to: bytes, offset: op.offset, bits: op.bits)
            }
            if grew || stored != old { changes += 1 }
            out.writeInteger(reply)
        }
        if changes > 0 { ctx.notify(KeyspaceEvent.string, "setbit", args[1]) }
    }

    /// What SET or INCRBY stores (the low `bits` bits) and replies, or nil when it overflows
    /// under FAIL (nothing is written).
    private static func signedResult(_ op: Operation, old raw: UInt64) -> (UInt64, Int)? {
        var oldValue = Int64(bitPattern: raw)
        if op.bits < 64 && raw & (UInt64(1) << (op.bits - 1)) != 0 { oldValue |= Int64(bitPattern: UInt64.max << op.bits) }
        let result: Int64
        let reply: Int64
        if op.opcode == .incrby {
            let (overflowed, limit) = checkSigned(oldValue, Int64(op.value), bits: op.bits, op.overflow)
            if overflowed && op.overflow == .fail { return nil }
            result = overflowed ? limit : oldValue &+ Int64(op.value)
            reply = result
        } else {
            let (overflowed, limit) = checkSigned(Int64(op.value), 0, bits: op.bits, op.overflow)
            if overflowed && op.overflow == .fail { return nil }
            result = overflowed ? limit : Int64(op.value)
            reply = oldValue
        }
        return (lowBits(UInt64(bitPattern: result), op.bits), Int(reply))
    }

    private static func unsignedResult(_ op: Operation, old: UInt64) -> (UInt64, Int)? {
        let result: UInt64
        let reply: UInt64
        if op.opcode == .incrby {
            let (overflowed, limit) = checkUnsigned(old, Int64(op.value), bits: op.bits, op.overflow)
            if overflowed && op.overflow == .fail { return nil }
            result = overflowed ? limit : old &+ UInt64(bitPattern: Int64(op.value))
            reply = result
        } else {
            let value = UInt64(bitPattern: Int64(op.value))
            let (overflowed, limit) = checkUnsigned(value, 0, bits: op.bits, op.overflow)
            if overflowed && op.overflow == .fail { return nil }
            result = overflowed ? limit : value
            reply = old
        }
        return (lowBits(result, op.bits), Int(truncatingIfNeeded: reply))
    }

    private static func lowBits(_ v: UInt64, _ bits: Int) -> UInt64 { bits == 64 ? v : v & ((UInt64(1) << bits) - 1) }

    /// checkUnsignedBitfieldOverflow: whether value + incr leaves 0...max, and the value WRAP
    /// or SAT makes of it.
    static func checkUnsigned(_ value: UInt64, _ incr: Int64, bits: Int, _ overflow: Overflow) -> (Bool, UInt64) {
        let max: UInt64 = bits == 64 ? .max : (UInt64(1) << bits) - 1
        let maxIncr = Int64(bitPattern: max &- value)
        let minIncr = Int64(bitPattern: 0 &- value)
        let wrapped = (value &+ UInt64(bitPattern: incr)) & ~(bits == 64 ? 0 : UInt64.max << bits)
        if value > max || (incr > 0 && incr > maxIncr) {
            return (true, overflow == .wrap ? wrapped : max)
        }
        if incr < 0 && incr < minIncr {
            return (true, overflow == .wrap ? wrapped : 0)
        }
        return (false, 0)
    }

    /// checkSignedBitfieldOverflow: the same for min...max of a signed `bits`-bit integer.
    static func checkSigned(_ value: Int64, _ incr: Int64, bits: Int, _ overflow: Overflow) -> (Bool, Int64) {
        let max: Int64 = bits == 64 ? .max : (Int64(1) << (bits - 1)) - 1
        let min = -max - 1
        let maxIncr = Int64(bitPattern: UInt64(bitPattern: max) &- UInt64(bitPattern: value))
        let minIncr = min &- value
        func wrapped() -> Int64 {
            var c = UInt64(bitPattern: value) &+ UInt64(bitPattern: incr)
            if bits < 64 {
                let mask = UInt64.max << bits
                if c & (UInt64(1) << (bits - 1)) != 0 { c |= mask } else { c &= ~mask }
            }
            return Int64(bitPattern: c)
        }
        if value > max || (bits != 64 && incr > maxIncr) || (value >= 0 && incr > 0 && incr > maxIncr) {
            return (true, overflow == .wrap ? wrapped() : max)
        }
        if value < min || (bits != 64 && incr < minIncr) || (value < 0 && incr < 0 && incr < minIncr) {
            return (true, overflow == .wrap ? wrapped() : min)
        }
        return (false, 0)
    }

    /// GET: the integer at the operation's offset, zero past the string's end.
    private static func get(_ op: Operation, from value: UnsafeRawBufferPointer) -> Int {
        let raw = read(value, offset: op.offset, bits: op.bits)
        guard op.signed else { return Int(truncatingIfNeeded: raw) }
        var v = Int64(bitPattern: raw)
        if op.bits < 64 && raw & (UInt64(1) << (op.bits - 1)) != 0 { v |= Int64(bitPattern: UInt64.max << op.bits) }
        return Int(v)
    }

    /// The `bits` bits at bit `offset` as an unsigned integer (bits past the end read 0).
    static func read(_ bytes: UnsafeRawBufferPointer, offset: Int, bits: Int) -> UInt64 {
        var value: UInt64 = 0
        for i in 0..<bits {
            let o = offset + i
            let byte = o >> 3
            let bit: UInt64 = byte < bytes.count ? UInt64(bytes[byte] >> (7 - UInt8(o & 7))) & 1 : 0
            value = value << 1 | bit
        }
        return value
    }

    /// Writes the low `bits` bits of `value` at bit `offset` (the string reaches that far).
    static func write(_ value: UInt64, to bytes: UnsafeMutableRawBufferPointer, offset: Int, bits: Int) {
        for i in 0..<bits {
            let o = offset + i
            let mask = UInt8(1) << (7 - UInt8(o & 7))
            if value >> (bits - 1 - i) & 1 != 0 { bytes[o >> 3] |= mask } else { bytes[o >> 3] &= ~mask }
        }
    }
}
