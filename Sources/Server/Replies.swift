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
}

/// Argument parsing helpers shared by the command families.
extension Arguments {
    /// The argument as a 64-bit integer (Redis's string2ll rules), or nil.
    func integer(_ i: Int) -> Int? { parseStrictInt(self[i]) }
}
