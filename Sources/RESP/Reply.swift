/// Protocol version a connection speaks (HELLO 2 / HELLO 3).
public enum RESPVersion: UInt8, Sendable, BitwiseCopyable {
    case resp2 = 2
    case resp3 = 3
}

/// Reply encoding. Each function appends exactly one RESP value (or an aggregate header).
/// Types RESP2 lacks are written as Redis writes them for RESP2 clients.
extension ByteBuffer {
    @inlinable public mutating func writeOK() { append("+OK\r\n") }

    @inlinable public mutating func writeSimple(_ text: StaticString) {
        append(UInt8(ascii: "+")); append(text); append("\r\n")
    }

    public mutating func writeSimple(string: String) {
        append(UInt8(ascii: "+")); append(string: string); append("\r\n")
    }

    /// `message` is the whole error line without the leading '-', e.g. "ERR syntax error".
    @inlinable public mutating func writeError(_ message: StaticString) {
        append(UInt8(ascii: "-")); append(message); append("\r\n")
    }

    public mutating func writeError(string message: String) {
        var s = message
        s.withUTF8 { writeError(bytes: UnsafeRawBufferPointer($0)) }
    }

    /// An error line from raw bytes (arguments quoted as sent, not as UTF-8 text).
    public mutating func writeError(bytes message: UnsafeRawBufferPointer) {
        append(UInt8(ascii: "-"))
        // An error line may not contain CR or LF: Redis replaces them with spaces.
        reserve(message.count + 2)
        for byte in message { append(byte == 13 || byte == 10 ? 32 : byte) }
        append("\r\n")
    }

    @inlinable public mutating func writeInteger(_ value: Int) {
        reserve(24)
        append(UInt8(ascii: ":")); appendDecimal(value); append("\r\n")
    }

    @inlinable public mutating func writeBulk(_ bytes: UnsafeRawBufferPointer) {
        reserve(bytes.count + 24)
        append(UInt8(ascii: "$")); appendDecimal(bytes.count); append("\r\n")
        append(bytes); append("\r\n")
    }

    public mutating func writeBulk(string: String) {
        var s = string
        s.withUTF8 { writeBulk(UnsafeRawBufferPointer($0)) }
    }

    public mutating func writeBulk(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { writeBulk($0) }
    }

    /// A bulk string holding the decimal text of `value` (INCRBYFLOAT-style replies, CONFIG GET values).
    @inlinable public mutating func writeBulkDecimal(_ value: Int) {
        var scratch: (UInt64, UInt64, UInt64) = (0, 0, 0)
        withUnsafeMutableBytes(of: &scratch) { tmp in
            let n = writeDecimal(value, to: tmp.baseAddress!)
            writeBulk(UnsafeRawBufferPointer(rebasing: tmp[0..<n]))
        }
    }

    /// RESP2: `$-1`; RESP3: `_`.
    @inlinable public mutating func writeNull(_ version: RESPVersion) {
        if version == .resp3 { append("_\r\n") } else { append("$-1\r\n") }
    }

    /// A null in place of an array: RESP2 `*-1`, RESP3 `_`.
    @inlinable public mutating func writeNullArray(_ version: RESPVersion) {
        if version == .resp3 { append("_\r\n") } else { append("*-1\r\n") }
    }

    @inlinable public mutating func writeArrayHeader(_ count: Int) {
        reserve(24)
        append(UInt8(ascii: "*")); appendDecimal(count); append("\r\n")
    }

    /// A map of `count` pairs: RESP3 `%`, RESP2 a flat array of 2×count.
    @inlinable public mutating func writeMapHeader(_ count: Int, _ version: RESPVersion) {
        reserve(24)
        if version == .resp3 {
            append(UInt8(ascii: "%")); appendDecimal(count)
        } else {
            append(UInt8(ascii: "*")); appendDecimal(count * 2)
        }
        append("\r\n")
    }

    /// A set: RESP3 `~`, RESP2 an array.
    @inlinable public mutating func writeSetHeader(_ count: Int, _ version: RESPVersion) {
        reserve(24)
        append(UInt8(ascii: version == .resp3 ? "~" : "*")); appendDecimal(count); append("\r\n")
    }

    /// RESP3 `#t`/`#f`; RESP2 `:1`/`:0`.
    public mutating func writeBool(_ value: Bool, _ version: RESPVersion) {
        if version == .resp3 { append(value ? "#t\r\n" : "#f\r\n") } else { writeInteger(value ? 1 : 0) }
    }

    /// RESP3 `,<double>`; RESP2 a bulk string. `text` is already formatted as Redis formats it.
    public mutating func writeDouble(text: String, _ version: RESPVersion) {
        if version == .resp3 {
            append(UInt8(ascii: ",")); append(string: text); append("\r\n")
        } else {
            writeBulk(string: text)
        }
    }

    /// A verbatim text of bytes (`=` with `txt:` in RESP3, a bulk string in RESP2).
    public mutating func writeVerbatim(bytes text: [UInt8], _ version: RESPVersion) {
        if version == .resp3 {
            append(UInt8(ascii: "=")); appendDecimal(text.count + 4); append("\r\n")
            append(Array("txt:".utf8)); append(text); append("\r\n")
        } else {
            writeBulk(text)
        }
    }

    /// RESP3 verbatim string (`=len\r\ntxt:...`); RESP2 a bulk string.
    public mutating func writeVerbatim(_ text: String, _ version: RESPVersion) {
        if version == .resp3 {
            var body = Array("txt:".utf8); body.append(contentsOf: text.utf8)
            append(UInt8(ascii: "=")); appendDecimal(body.count); append("\r\n")
            append(body); append("\r\n")
        } else {
            writeBulk(string: text)
        }
    }
}
