/// What a command row tells clients about itself beyond how it runs: ACL categories, tips
/// and key specifications (COMMAND INFO, GETKEYS, LIST FILTERBY ACLCAT) and the argument
/// tree of COMMAND DOCS, as Redis 7.0's src/commands/*.json describe them.

/// ACL categories, declared in Redis's order (COMMAND INFO lists a command's in this order).
enum ACLCategory: String, CaseIterable, Sendable {
    case keyspace, read, write, set, sortedset, list, hash, string, bitmap, hyperloglog, geo, stream, pubsub,
         admin, fast, slow, blocking, dangerous, connection, transaction, scripting
}

/// One key specification: keys from argument `index` (or after `keyword`, searched from
/// `index`), up to `lastKey` (relative to the first key; negative counts from the end), every `keyStep`.
struct KeySpec: Sendable {
    let flags: [String]
    let index: Int
    let lastKey: Int
    let keyStep: Int
    let notes: String?
    /// Keys start after this keyword (XREAD's `STREAMS`) instead of at `index`.
    let keyword: String?
    /// > 1: keeps the first 1/limit of the range (XREAD: the keys, not the IDs).
    let limit: Int
    /// Keys counted by an argument (find_keys "keynum": ZUNION's numkeys): the count at
    /// `index + keyCountAt`, the keys from `index + firstKeyAt`, every `keyStep`.
    var keyCountAt: Int? = nil
    var firstKeyAt = 1
    /// begin_search and find_keys of type "unknown" (SORT's pattern keys, its STORE key).
    var unknown = false

    init(_ flags: [String], index: Int, lastKey: Int = 0, keyStep: Int = 1, notes: String? = nil,
         keyword: String? = nil, limit: Int = 0) {
        self.flags = flags
        self.index = index
        self.lastKey = lastKey
        self.keyStep = keyStep
        self.notes = notes
        self.keyword = keyword
        self.limit = limit
    }

    /// A key specification whose keys cannot be found from the arguments' positions.
    init(_ flags: [String], unknown: Bool, notes: String? = nil) {
        self.init(flags, index: 0, notes: notes)
        self.unknown = unknown
    }

    /// A key specification whose keys are counted by an argument (find_keys "keynum").
    init(_ flags: [String], index: Int, keyCountAt: Int, firstKeyAt: Int, keyStep: Int = 1, notes: String? = nil) {
        self.init(flags, index: index, keyStep: keyStep, notes: notes)
        self.keyCountAt = keyCountAt
        self.firstKeyAt = firstKeyAt
    }
}

/// One argument of a command in COMMAND DOCS: a value, a literal token, or a group
/// (`oneof`, `block`) of arguments.
struct CommandArgument: Sendable {
    enum Kind: String, Sendable {
        case string, integer, double, key, pattern, unixTime = "unix-time", pureToken = "pure-token", oneof, block
    }

    struct Flags: OptionSet, Sendable {
        let rawValue: UInt8
        static let optional = Flags(rawValue: 1)
        static let multiple = Flags(rawValue: 2)
        static let multipleToken = Flags(rawValue: 4)

        static let names: [(Flags, String)] = [(.optional, "optional"), (.multiple, "multiple"),
                                                (.multipleToken, "multiple_token")]
    }

    let name: String
    let kind: Kind
    var token: String? = nil
    /// For keys: which key specification finds this argument.
    var keySpecIndex: Int? = nil
    var flags: Flags = []
    var children: [CommandArgument] = []

    var optional: CommandArgument { adding(.optional) }
    var multiple: CommandArgument { adding(.multiple) }
    var multipleToken: CommandArgument { adding(.multipleToken) }

    /// The argument found by key specification `index` (SORT's BY and GET patterns).
    func withKeySpec(_ index: Int) -> CommandArgument {
        var copy = self
        copy.keySpecIndex = index
        return copy
    }

    private func adding(_ extra: Flags) -> CommandArgument {
        var copy = self
        copy.flags.formUnion(extra)
        return copy
    }

    static func key(_ name: String, spec: Int = 0, token: String? = nil) -> CommandArgument {
        CommandArgument(name: name, kind: .key, token: token, keySpecIndex: spec)
    }
    static func string(_ name: String, token: String? = nil) -> CommandArgument {
        CommandArgument(name: name, kind: .string, token: token)
    }
    static func integer(_ name: String, token: String? = nil) -> CommandArgument {
        CommandArgument(name: name, kind: .integer, token: token)
    }
    static func double(_ name: String, token: String? = nil) -> CommandArgument {
        CommandArgument(name: name, kind: .double, token: token)
    }
    static func pattern(_ name: String, token: String? = nil) -> CommandArgument {
        CommandArgument(name: name, kind: .pattern, token: token)
    }
    static func unixTime(_ name: String, token: String? = nil) -> CommandArgument {
        CommandArgument(name: name, kind: .unixTime, token: token)
    }
    /// A literal word; its name is the word in lower case unless given.
    static func token(_ token: String, name: String? = nil) -> CommandArgument {
        CommandArgument(name: name ?? token.lowercased(), kind: .pureToken, token: token)
    }
    static func oneOf(_ name: String, token: String? = nil, _ children: [CommandArgument]) -> CommandArgument {
        CommandArgument(name: name, kind: .oneof, token: token, children: children)
    }
    static func block(_ name: String, token: String? = nil, _ children: [CommandArgument]) -> CommandArgument {
        CommandArgument(name: name, kind: .block, token: token, children: children)
    }
}
