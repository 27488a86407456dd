import CShim
import Synchronization

/// One function of a library, as FUNCTION LIST shows it.
struct LibraryFunction: Sendable {
    let name: String
    let description: [UInt8]?
    let flags: ScriptEngine.Flags
}

/// A library loaded by FUNCTION LOAD: its whole code (shebang included, as DUMP and the
/// RDB keep it) and the functions it registered, in registration order.
struct FunctionLibrary: Sendable {
    let name: String
    let code: [UInt8]
    let functions: [LibraryFunction]
}

/// Every library at one moment. Immutable: a change makes a new catalog with the next
/// generation, so a worker that holds one reads it without a lock.
final class FunctionCatalog: Sendable {
    let generation: Int
    /// Libraries by name.
    let libraries: [String: FunctionLibrary]
    /// Every library's functions by lowercased name: function names are unique across
    /// libraries and found ignoring case (Redis's functionDictType), library names not.
    let functions: [String: LibraryFunction]

    init(generation: Int, libraries: [String: FunctionLibrary]) {
        self.generation = generation
        self.libraries = libraries
        var functions: [String: LibraryFunction] = [:]
        for library in libraries.values {
            for f in library.functions { functions[functionKey(f.name)] = f }
        }
        self.functions = functions
    }

    var functionCount: Int { functions.count }

    /// The libraries in a stable order (by name) for LIST, DUMP and the RDB.
    var ordered: [FunctionLibrary] { libraries.values.sorted { $0.name < $1.name } }
}

/// The libraries every worker runs (Redis 7.0's functions.c), one per server.
///
/// Each worker keeps its own Lua interpreter for functions (ScriptEngine), built from the
/// catalog of the generation it last saw; a change here bumps `generation`, and a worker
/// that sees a newer one at its next FCALL rebuilds its interpreter from the new catalog.
/// FCALL's hot path reads one atomic and a dictionary of its own: no lock. Changes
/// (LOAD, DELETE, FLUSH, RESTORE, a dump loaded) compile the library first in a scratch
/// interpreter (for its errors and its functions), then swap the catalog under the mutex.
final class FunctionRegistry: Sendable {
    static let shared = FunctionRegistry()

    private let current = Mutex<FunctionCatalog>(FunctionCatalog(generation: 0, libraries: [:]))
    private let changes = Atomic<Int>(0)

    /// The catalog's generation: a worker's interpreter built from an older one is stale.
    var generation: Int { changes.load(ordering: .acquiring) }

    var catalog: FunctionCatalog { current.withLock { $0 } }

    /// FUNCTION LOAD's time limit for a library's top-level code (LOAD_TIMEOUT_MS).
    static let loadTimeoutMs = 500

    // MARK: Compiling

    /// functionExtractLibMetaData + functionsVerifyName + the engine: the library's name
    /// and where its code starts (its shebang line's line feed, so lines stay the user's).
    static func metadata(_ code: [UInt8]) -> Result<(name: String, body: Int), ScriptError> {
        guard code.count >= 2, code[0] == UInt8(ascii: "#"), code[1] == UInt8(ascii: "!") else {
            return .failure(.init("ERR Missing library metadata"))
        }
        // Redis reads the code as a C string here: a NUL before the line feed ends it.
        guard let end = code.firstIndex(where: { $0 == UInt8(ascii: "\n") || $0 == 0 }), code[end] != 0 else {
            return .failure(.init("ERR Invalid library metadata"))
        }
        guard let parts = splitShebang(Array(code[0..<end])), let first = parts.first else {
            return .failure(.init("ERR Invalid library metadata"))
        }
        let engine = String(decoding: first.dropFirst(2), as: UTF8.self)
        var name: String?
        for part in parts.dropFirst() {
            if part.count >= 5, String(decoding: part[0..<5], as: UTF8.self).lowercased() == "name=" {
                if name != nil {
                    return .failure(.init("ERR Invalid metadata value, name argument was given multiple times"))
                }
                name = String(decoding: part[5...], as: UTF8.self)
                continue
            }
            return .failure(.init("ERR Invalid metadata value given: " + String(decoding: part, as: UTF8.self)))
        }
        guard let name else { return .failure(.init("ERR Library name was not given")) }
        guard validName(name) else {
            return .failure(.init("ERR Library names can only contain letters, numbers, or underscores(_) and must be at least one character long"))
        }
        guard engine.lowercased() == "lua" else { return .failure(.init("ERR Engine '\(engine)' not found")) }
        return .success((name, end))
    }

    /// sdssplitargs for the shebang line: words apart by blanks, quoted parts kept whole
    /// (a closing quote must end its word); nil for unbalanced quotes. Escapes inside
    /// double quotes are kept as written (a library name cannot use them anyway).
    private static func splitShebang(_ line: [UInt8]) -> [[UInt8]]? {
        var parts: [[UInt8]] = []
        var word: [UInt8] = []
        var inWord = false
        var quote: UInt8 = 0
        var closed = false
        let blanks: Set<UInt8> = [32, 9, 13, 10, 0]
        for b in line {
            if closed {
                guard blanks.contains(b) else { return nil }
                closed = false
                parts.append(word); word = []; inWord = false
                continue
            }
            if quote != 0 {
                if b == quote { quote = 0; closed = true } else { word.append(b) }
                continue
            }
            if blanks.contains(b) {
                if inWord { parts.append(word); word = []; inWord = false }
            } else if b == UInt8(ascii: "\"") || b == UInt8(ascii: "'") {
                quote = b
                inWord = true
            } else {
                word.append(b)
                inWord = true
            }
        }
        if quote != 0 { return nil }
        if inWord { parts.append(word) }
        return parts
    }

    static func validName(_ name: String) -> Bool {
        !name.isEmpty && name.utf8.allSatisfy { b in
            (b >= 97 && b <= 122) || (b >= 65 && b <= 90) || (b >= 48 && b <= 57) || b == 95
        }
    }

    /// Runs the library's code in `lua` (a scratch interpreter, or a worker's own) and
    /// returns it with the functions it registered.
    /// `quiet`: a library loaded once already (a worker's rebuild), whose redis.log lines
    /// were logged then.
    static func run(_ code: [UInt8], name: String, body: Int, in lua: OpaquePointer, timeoutMs: Int,
                    quiet: Bool = false) -> Result<FunctionLibrary, ScriptError> {
        let collected = FunctionCollector()
        var error = vk_buf()
        defer { vk_buf_free(&error) }
        let status = code.withUnsafeBufferPointer { c in
            vk_lua_load_library(lua, UnsafeRawPointer(c.baseAddress! + body).assumingMemoryBound(to: CChar.self),
                                c.count - body, timeoutMs, quiet ? 1 : 0, registeredHook, Unmanaged.passUnretained(collected).toOpaque(), &error)
        }
        guard status == 0 else {
            let text = error.data.map { String(decoding: UnsafeRawBufferPointer(start: $0, count: error.len), as: UTF8.self) } ?? ""
            return .failure(.init("ERR " + text))
        }
        return .success(FunctionLibrary(name: name, code: code, functions: collected.functions))
    }

    /// Compiles a library in an interpreter of its own, for its errors and its functions.
    static func compile(_ code: [UInt8], timeoutMs: Int) -> Result<FunctionLibrary, ScriptError> {
        let meta: (name: String, body: Int)
        switch metadata(code) {
        case .failure(let e): return .failure(e)
        case .success(let m): meta = m
        }
        guard let lua = ScriptEngine.newInterpreter() else { return .failure(.init("ERR Lua interpreter unavailable")) }
        defer { vk_lua_destroy(lua) }
        return run(code, name: meta.name, body: meta.body, in: lua, timeoutMs: timeoutMs)
    }

    // MARK: Changes

    /// Swaps in the catalog `change` makes from the current one, or returns its error.
    private func update(_ change: ([String: FunctionLibrary]) -> Result<[String: FunctionLibrary], ScriptError>) -> ScriptError? {
        current.withLock { catalog in
            switch change(catalog.libraries) {
            case .failure(let e): return e
            case .success(let libraries):
                catalog = FunctionCatalog(generation: catalog.generation + 1, libraries: libraries)
                changes.store(catalog.generation, ordering: .releasing)
                ScriptsAcrossShards.shared.forgetAll()  // a function may have changed: learn anew
                return nil
            }
        }
    }

    /// The first of `library`'s functions that another library already has (ignoring case).
    private static func collision(_ library: FunctionLibrary, in libraries: [String: FunctionLibrary]) -> String? {
        for other in libraries.values where other.name != library.name {
            let taken = Set(other.functions.map { functionKey($0.name) })
            for f in library.functions where taken.contains(functionKey(f.name)) { return f.name }
        }
        return nil
    }

    /// FUNCTION LOAD (functionsCreateWithLibraryCtx): the library's name, or Redis's error.
    func load(_ code: [UInt8], replace: Bool, timeoutMs: Int) -> Result<String, ScriptError> {
        let name: String
        switch Self.metadata(code) {
        case .failure(let e): return .failure(e)
        case .success(let m): name = m.name
        }
        if !replace && catalog.libraries[name] != nil { return .failure(.init("ERR Library '\(name)' already exists")) }
        let library: FunctionLibrary
        switch Self.compile(code, timeoutMs: timeoutMs) {
        case .failure(let e): return .failure(e)
        case .success(let l): library = l
        }
        let error = update { libraries in
            if !replace && libraries[name] != nil { return .failure(.init("ERR Library '\(name)' already exists")) }
            if let f = Self.collision(library, in: libraries) { return .failure(.init("ERR Function \(f) already exists")) }
            var next = libraries
            next[name] = library
            return .success(next)
        }
        return error.map { .failure($0) } ?? .success(name)
    }

    /// FUNCTION DELETE: false when there is no such library.
    func delete(_ name: String) -> Bool {
        update { libraries in
            guard libraries[name] != nil else { return .failure(.init("ERR Library not found")) }
            var next = libraries
            next[name] = nil
            return .success(next)
        } == nil
    }

    func flush() {
        _ = update { _ in .success([:]) }
    }

    enum RestorePolicy { case flush, append, replace }

    /// Compiles the libraries of a payload or dump as one set (duplicates among them are
    /// errors, as loading into a fresh context is in Redis).
    /// In payload order (Redis goes by its hash table's; the first collision it reports may differ).
    static func compileAll(_ codes: [[UInt8]]) -> Result<[FunctionLibrary], ScriptError> {
        var libraries: [String: FunctionLibrary] = [:]
        var ordered: [FunctionLibrary] = []
        for code in codes {
            switch compile(code, timeoutMs: 0) {
            case .failure(let e): return .failure(e)
            case .success(let library):
                if libraries[library.name] != nil { return .failure(.init("ERR Library '\(library.name)' already exists")) }
                if let f = collision(library, in: libraries) { return .failure(.init("ERR Function \(f) already exists")) }
                libraries[library.name] = library
                ordered.append(library)
            }
        }
        return .success(ordered)
    }

    /// FUNCTION RESTORE's join (libraryJoin) of already compiled libraries.
    func restore(_ restored: [FunctionLibrary], policy: RestorePolicy) -> ScriptError? {
        update { libraries in
            var next = policy == .flush ? [:] : libraries
            for library in restored where next[library.name] != nil {
                if policy == .append { return .failure(.init("ERR Library \(library.name) already exists")) }
                next[library.name] = nil
            }
            for library in restored {
                if let f = Self.collision(library, in: next) { return .failure(.init("ERR Function \(f) already exists")) }
            }
            for library in restored { next[library.name] = library }
            return .success(next)
        }
    }

    /// A dump's libraries replace every library (a load empties the server first, as
    /// Redis's emptyData does for the functions too); throws on a library that fails.
    /// DEBUG RELOAD NOFLUSH keeps the others: `.replace` with MERGE, else `.append`, whose
    /// collision fails the load as Redis's does.
    func replaceAll(withDumped codes: [[UInt8]], policy: RestorePolicy = .flush) throws {
        if codes.isEmpty && (policy != .flush || catalog.libraries.isEmpty) { return }
        switch Self.compileAll(codes) {
        case .failure(let e): throw RDBError(offset: 0, message: "Failed loading library: \(e.text)")
        case .success(let libraries):
            if let e = restore(libraries, policy: policy) {
                throw RDBError(offset: 0, message: "Failed loading library: \(e.text)")
            }
        }
    }
}

/// A function's name as looked up: ASCII lowercase (names are letters, digits and `_`).
func functionKey(_ name: String) -> String {
    String(decoding: name.utf8.map { $0 >= 65 && $0 <= 90 ? $0 + 32 : $0 }, as: UTF8.self)
}

/// FCALL's hot path: no intermediate array when the name has no capitals (the usual case;
/// a name of up to 15 bytes is then a small string, no allocation at all).
func functionKey(_ name: UnsafeRawBufferPointer) -> String {
    guard name.contains(where: { $0 >= 65 && $0 <= 90 }) else { return String(decoding: name, as: UTF8.self) }
    return String(decoding: name.map { $0 >= 65 && $0 <= 90 ? $0 + 32 : $0 }, as: UTF8.self)
}

/// vk_lua_load_library's report of one registered function.
private let registeredHook: vk_lua_register_hook = { context, name, nameLength, desc, descLength, flags in
    guard let context, let name else { return }
    let collected = Unmanaged<FunctionCollector>.fromOpaque(context).takeUnretainedValue()
    collected.functions.append(LibraryFunction(
        name: String(decoding: UnsafeRawBufferPointer(start: name, count: nameLength), as: UTF8.self),
        description: desc.map { Array(UnsafeRawBufferPointer(start: $0, count: descLength)) },
        flags: ScriptEngine.Flags(rawValue: UInt8(flags))))
}

/// The functions a library registered while it loads.
private final class FunctionCollector { var functions: [LibraryFunction] = [] }
