/// Bytes as Redis's sdscatrepr writes them into logs and files: in double quotes, with C
/// escapes for quotes, backslashes and control characters and \xHH for other bytes.
enum Repr {
    /// Whether `bytes` would not survive argument splitting bare (sdssplitargs, the config
    /// and manifest loaders): spaces, control or non-ASCII bytes, quotes or backslashes.
    static func needsQuotes(_ bytes: some Sequence<UInt8>) -> Bool {
        bytes.contains { $0 <= 32 || $0 >= 127 || $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "'") || $0 == UInt8(ascii: "\\") }
    }

    static func quoted(_ bytes: some Sequence<UInt8>) -> String {
        var out = "\""
        for b in bytes {
            switch b {
            case UInt8(ascii: "\\"): out += "\\\\"
            case UInt8(ascii: "\""): out += "\\\""
            case 10: out += "\\n"
            case 13: out += "\\r"
            case 9: out += "\\t"
            case 7: out += "\\a"
            case 8: out += "\\b"
            case 32..<127: out.unicodeScalars.append(Unicode.Scalar(b))
            default: out += "\\x" + (b < 16 ? "0" : "") + String(b, radix: 16)
            }
        }
        return out + "\""
    }
}
