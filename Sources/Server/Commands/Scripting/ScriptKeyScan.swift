/// Whether a script can only ever name its declared keys: every redis.call / redis.pcall
/// in its body has a literal command name and, at each of that command's key positions,
/// `KEYS[<number>]`; nothing else reaches `redis.call` (no alias, no `redis[...]`, no
/// `loadstring`, `getfenv`, `_G`, `rawget`) and KEYS is only ever read as `KEYS[<number>]`
/// or `#KEYS`. Such a script, run on its declared keys' shard, cannot touch another shard,
/// so its run needs no undo log (ScriptRun: the single-shard path stays as cheap as before).
///
/// Conservative: anything it does not recognise answers false, which only costs the undo
/// log. A wrong true would cost correctness only in part: a write followed by a call on
/// another shard then answers the old error instead of a rerun (ScriptRun.undoIncomplete).
enum ScriptKeyScan {
    private enum Token: Equatable {
        case name(String)
        case string([UInt8])
        case number
        case symbol(String)
        case other
    }

    static func touchesOnlyDeclaredKeys(_ body: UnsafeRawBufferPointer, table: CommandTable) -> Bool {
        guard let tokens = tokenize(body) else { return false }
        var i = 0
        while i < tokens.count {
            guard case .name(let word) = tokens[i] else {
                if case .string(let s) = tokens[i], contains(s, "call") { return false }  // redis["call"]
                i += 1
                continue
            }
            switch word {
            case "_G", "getfenv", "setfenv", "loadstring", "load", "rawget", "rawset", "dofile", "loadfile",
                 "require", "module", "debug":
                return false
            case "KEYS":
                let counted = i > 0 && tokens[i - 1] == .symbol("#")
                if counted { i += 1; continue }
                guard i + 3 < tokens.count, tokens[i + 1] == .symbol("["), tokens[i + 2] == .number,
                      tokens[i + 3] == .symbol("]") else { return false }
                if i + 4 < tokens.count && tokens[i + 4] == .symbol("=") { return false }  // KEYS[1] = ...
                i += 4
            case "redis":
                guard i + 2 < tokens.count, tokens[i + 1] == .symbol("."), case .name(let function) = tokens[i + 2] else {
                    return false
                }
                if function == "call" || function == "pcall" {
                    guard let next = checkCall(tokens, open: i + 3, table: table) else { return false }
                    i = next
                } else {
                    if function.contains("call") { return false }
                    i += 3
                }
            default:
                if word.contains("call") { return false }  // anything else named so
                i += 1
            }
        }
        return true
    }

    /// `( 'cmd', args... )` at `open`: the command's key arguments are all `KEYS[n]`.
    /// Returns the index after the closing parenthesis, or nil.
    private static func checkCall(_ tokens: [Token], open: Int, table: CommandTable) -> Int? {
        guard open < tokens.count, tokens[open] == .symbol("(") else { return nil }
        // Split the arguments at top-level commas.
        var args: [Range<Int>] = []
        var depth = 0
        var start = open + 1
        var i = open + 1
        while i < tokens.count {
            switch tokens[i] {
            case .symbol("("), .symbol("{"), .symbol("["): depth += 1
            case .symbol(")") where depth == 0:
                if i > start { args.append(start..<i) }
                return checkArguments(tokens, args, table: table) ? i + 1 : nil
            case .symbol(")"), .symbol("}"), .symbol("]"): depth -= 1
            case .symbol(",") where depth == 0:
                args.append(start..<i)
                start = i + 1
            default: break
            }
            i += 1
        }
        return nil
    }

    private static func checkArguments(_ tokens: [Token], _ args: [Range<Int>], table: CommandTable) -> Bool {
        guard let first = args.first, first.count == 1, case .string(let name) = tokens[first.lowerBound] else {
            return false
        }
        // Keys are checked only for commands found; an unknown one fails at run time.
        let index: UInt16? = name.withUnsafeBytes { table.lookup($0) }
        guard let index else { return true }
        let spec = table.specs[Int(index)]
        let route = table.routes[Int(index)]
        if route.kind == .container || spec.flags.contains(.movableKeys) { return false }
        guard route.kind == .keyed, route.firstKey > 0 else { return true }
        // The last argument may expand to several values (a call, `...`): the key positions
        // are then known only if they end at a fixed one before it.
        let last = args[args.count - 1]
        let expands = tokens[last.upperBound - 1] == .symbol(")") || tokens[last.upperBound - 1] == .symbol("...")
        if expands && (route.lastKey < 0 || Int(route.lastKey) >= args.count - 1) { return false }
        let lastKey = min(route.lastKeyIndex(argumentCount: args.count), args.count - 1)
        var k = Int(route.firstKey)
        while k <= lastKey {
            let a = args[k]
            guard a.count == 4, tokens[a.lowerBound] == .name("KEYS"), tokens[a.lowerBound + 1] == .symbol("["),
                  tokens[a.lowerBound + 2] == .number, tokens[a.lowerBound + 3] == .symbol("]") else { return false }
            k += max(1, Int(route.step))
        }
        return true
    }

    private static func contains(_ s: [UInt8], _ word: String) -> Bool {
        String(decoding: s, as: UTF8.self).lowercased().contains(word)
    }

    // MARK: Lua tokens (enough to find calls and their arguments; nil on anything odd)

    private static func tokenize(_ body: UnsafeRawBufferPointer) -> [Token]? {
        let b = Array(body)
        var tokens: [Token] = []
        var i = 0
        func at(_ j: Int) -> UInt8 { j < b.count ? b[j] : 0 }
        // A long bracket `[==[` at j: its level, or nil.
        func longBracket(_ j: Int) -> Int? {
            guard at(j) == UInt8(ascii: "[") else { return nil }
            var level = 0
            while at(j + 1 + level) == UInt8(ascii: "=") { level += 1 }
            return at(j + 1 + level) == UInt8(ascii: "[") ? level : nil
        }
        // Skips a long bracket of `level` opened at j; the index after it, or nil.
        func skipLong(_ j: Int, _ level: Int) -> Int? {
            var k = j + level + 2
            while k < b.count {
                if b[k] == UInt8(ascii: "]") {
                    var e = 0
                    while at(k + 1 + e) == UInt8(ascii: "=") { e += 1 }
                    if e == level && at(k + 1 + e) == UInt8(ascii: "]") { return k + level + 2 }
                }
                k += 1
            }
            return nil
        }
        // A shebang line is not Lua.
        if at(0) == UInt8(ascii: "#") && at(1) == UInt8(ascii: "!") {
            while i < b.count && b[i] != UInt8(ascii: "\n") { i += 1 }
        }
        while i < b.count {
            let c = b[i]
            if c == 32 || c == 9 || c == 10 || c == 13 || c == 11 || c == 12 { i += 1; continue }
            if c == UInt8(ascii: "-") && at(i + 1) == UInt8(ascii: "-") {
                if let level = longBracket(i + 2) {
                    guard let end = skipLong(i + 2, level) else { return nil }
                    i = end
                } else {
                    while i < b.count && b[i] != 10 { i += 1 }
                }
                continue
            }
            if c == UInt8(ascii: "'") || c == UInt8(ascii: "\"") {
                var k = i + 1
                var s: [UInt8] = []
                while k < b.count && b[k] != c {
                    if b[k] == UInt8(ascii: "\\") { k += 1; s.append(at(k)) } else { s.append(b[k]) }
                    if b[k] == 10 { return nil }
                    k += 1
                }
                guard k < b.count else { return nil }
                // Escapes (\n, \65...) make the string not what it reads as: never a command name.
                tokens.append(s.contains(UInt8(ascii: "\\")) || b[(i + 1)..<k].contains(UInt8(ascii: "\\"))
                              ? .other : .string(s))
                i = k + 1
                continue
            }
            if let level = longBracket(i) {
                guard let end = skipLong(i, level) else { return nil }
                tokens.append(.other)  // a long string
                i = end
                continue
            }
            if (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c == 95 {
                var k = i
                while k < b.count, (b[k] >= 65 && b[k] <= 90) || (b[k] >= 97 && b[k] <= 122) || b[k] == 95
                    || (b[k] >= 48 && b[k] <= 57) { k += 1 }
                tokens.append(.name(String(decoding: b[i..<k], as: UTF8.self)))
                i = k
                continue
            }
            if c >= 48 && c <= 57 || (c == UInt8(ascii: ".") && at(i + 1) >= 48 && at(i + 1) <= 57) {
                var k = i
                while k < b.count, (b[k] >= 48 && b[k] <= 57) || (b[k] >= 65 && b[k] <= 90) || (b[k] >= 97 && b[k] <= 122)
                    || b[k] == UInt8(ascii: ".") || ((b[k] == UInt8(ascii: "+") || b[k] == UInt8(ascii: "-"))
                                                     && (b[k - 1] | 0x20) == UInt8(ascii: "e")) { k += 1 }
                tokens.append(.number)
                i = k
                continue
            }
            // Symbols: the multi-character ones first.
            let three = i + 2 < b.count ? String(decoding: b[i...(i + 2)], as: UTF8.self) : ""
            let two = i + 1 < b.count ? String(decoding: b[i...(i + 1)], as: UTF8.self) : ""
            if three == "..." { tokens.append(.symbol("...")); i += 3; continue }
            if ["==", "~=", "<=", ">=", ".."].contains(two) { tokens.append(.symbol(two)); i += 2; continue }
            guard c < 128 else { return nil }
            tokens.append(.symbol(String(UnicodeScalar(c))))
            i += 1
        }
        return tokens
    }
}
