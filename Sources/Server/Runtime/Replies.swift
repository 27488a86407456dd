import RESP

/// Redis 7's shared error replies, word for word.
enum Errors {
    static let wrongType: StaticString = "WRONGTYPE Operation against a key holding the wrong kind of value"
    static let syntax: StaticString = "ERR syntax error"
    static let notInteger: StaticString = "ERR value is not an integer or out of range"
    static let notFloat: StaticString = "ERR value is not a valid float"
    static let overflow: StaticString = "ERR increment or decrement would overflow"
    static let noSuchKey: StaticString = "ERR no such key"
    static let dbIndexOutOfRange: StaticString = "ERR DB index is out of range"
    static let invalidDBIndex: StaticString = "ERR invalid DB index"
    static let diskError: StaticString = "MISCONF Redis is configured to save RDB snapshots, but it's currently unable to persist to disk. Commands that may modify the data set are disabled, because this instance is configured to report errors during writes if RDB snapshotting fails (stop-writes-on-bgsave-error option). Please check the Redis logs for details about the RDB error."
}

/// An error message that quotes arguments as Redis's addReplyErrorFormat does with `%s`
/// and `%.128s`: byte for byte (not decoded as UTF-8), up to the first NUL (C strings).
struct ErrorText {
    private(set) var bytes: [UInt8]

    init(_ text: String) { bytes = Array(text.utf8) }

    mutating func append(_ text: String) { bytes.append(contentsOf: text.utf8) }

    mutating func append(bytes more: [UInt8]) { bytes.append(contentsOf: more) }

    /// `%s` (or `%.<limit>s`) of an argument.
    mutating func append(argument a: UnsafeRawBufferPointer, limit: Int = .max) {
        for byte in a.prefix(limit) {
            if byte == 0 { break }
            bytes.append(byte)
        }
    }
}

extension ByteBuffer {
    mutating func writeError(_ text: ErrorText) {
        text.bytes.withUnsafeBytes { writeError(bytes: $0) }
    }

    /// `before` + the argument as `%s` + `after`.
    mutating func writeError(quoting argument: UnsafeRawBufferPointer, _ before: String, _ after: String) {
        var text = ErrorText(before)
        text.append(argument: argument)
        text.append(after)
        writeError(text)
    }
}

/// Redis's addReplySubcommandSyntaxError: "... for '%.128s'. Try %s HELP." (command in upper case).
func writeSubcommandSyntaxError(_ args: Arguments, _ out: inout ByteBuffer) {
    var text = ErrorText("ERR unknown subcommand or wrong number of arguments for '")
    text.append(argument: args[1], limit: 128)
    text.append("'. Try \(args.string(0).uppercased()) HELP.")
    out.writeError(text)
}

/// Argument parsing helpers shared by the command families.
extension Arguments {
    /// The argument as a 64-bit integer (Redis's string2ll rules), or nil.
    func integer(_ i: Int) -> Int? { parseStrictInt(self[i]) }
}
