/// The commands that rebuild a value, in RESP, as Redis 7.0's rewriteAppendOnlyFileRio
/// writes them into an AOF base with `aof-use-rdb-preamble no` (aof.c).
public struct RewriteCommands {
    /// Redis's AOF_REWRITE_ITEMS_PER_CMD: the most elements one variadic command adds.
    public static let itemsPerCommand = 64

    public var bytes: [UInt8] = []

    public init() {}

    /// `*<n>\r\n`: a command of `n` arguments follows.
    public mutating func array(_ n: Int) {
        bytes.append(UInt8(ascii: "*"))
        appendDecimal(Int64(n))
        bytes.append(13); bytes.append(10)
    }

    public mutating func bulk(_ b: UnsafeRawBufferPointer) {
        bytes.append(UInt8(ascii: "$"))
        appendDecimal(Int64(b.count))
        bytes.append(13); bytes.append(10)
        bytes.append(contentsOf: b)
        bytes.append(13); bytes.append(10)
    }

    public mutating func bulk(_ b: [UInt8]) { b.withUnsafeBytes { bulk($0) } }

    public mutating func bulk(_ s: StaticString) {
        bulk(UnsafeRawBufferPointer(start: s.utf8Start, count: s.utf8CodeUnitCount))
    }

    /// rioWriteBulkLongLong.
    public mutating func bulk(_ v: Int64) { bulk(Array(String(v).utf8)) }

    /// rioWriteBulkDouble ("%.17g").
    public mutating func bulk(score: Double) { ZScore.withText(score) { bulk($0) } }

    /// rioWriteBulkStreamID ("<ms>-<seq>").
    public mutating func bulk(_ id: StreamID) { bulk(Array(id.description.utf8)) }

    private mutating func appendDecimal(_ v: Int64) {
        if v < 0 { bytes.append(UInt8(ascii: "-")) }
        var m = v.magnitude
        var reversed: [UInt8] = []
        repeat {
            reversed.append(UInt8(48 + m % 10))
            m /= 10
        } while m > 0
        bytes.append(contentsOf: reversed.reversed())
    }

    /// A variadic command over `total` items of `width` arguments each (RPUSH, SADD, ZADD,
    /// HMSET), split as Redis splits it: a new command every `itemsPerCommand` items, its
    /// argument count fixed by what is left. Call `item()` before writing each item.
    public struct Batch {
        let name: StaticString
        let key: [UInt8]
        let width: Int
        var left: Int
        var inCommand = 0

        public init(_ name: StaticString, key: UnsafeRawBufferPointer, items: Int, width: Int) {
            self.name = name
            self.key = Array(key)
            self.width = width
            self.left = items
        }

        public mutating func item(_ out: inout RewriteCommands) {
            if inCommand == 0 {
                out.array(2 + min(left, RewriteCommands.itemsPerCommand) * width)
                out.bulk(name)
                out.bulk(key)
            }
            inCommand += 1
            if inCommand == RewriteCommands.itemsPerCommand { inCommand = 0 }
            left -= 1
        }
    }
}
