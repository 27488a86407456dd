#if canImport(Glibc)
import Glibc
#endif

/// Redis 7.0's AOF manifest (`<appendfilename>.manifest` in `<appenddirname>`): one line per
/// file, `file <name> seq <n> type b|h|i`, the base first, then history, then incr files in
/// sequence order. Read with aofLoadManifestFromFile's checks, written as aofInfoFormat writes.
struct AOFManifest: Equatable {
    struct FileInfo: Equatable {
        var name: String
        var seq: Int64
        var type: Character   // b, h, i
    }
    var base: FileInfo?
    var history: [FileInfo] = []
    var incr: [FileInfo] = []
    var currentBaseSeq: Int64 = 0
    var currentIncrSeq: Int64 = 0

    struct FormatError: Error {
        let line: Int?
        let text: String?
        let message: String
    }

    /// The manifest's text, as getAofManifestAsString builds it.
    var text: String {
        var s = ""
        for f in [base].compactMap({ $0 }) + history + incr {
            s += "file \(Self.quotedIfNeeded(f.name)) seq \(f.seq) type \(f.type)\n"
        }
        return s
    }

    /// sdscatrepr for names with spaces, quotes or unprintable bytes (sdsneedsrepr).
    private static func quotedIfNeeded(_ name: String) -> String {
        Repr.needsQuotes(name.utf8) ? Repr.quoted(name.utf8) : name
    }

    /// Parses a manifest, with the errors aofLoadManifestFromFile reports.
    static func parse(_ text: String) throws(FormatError) -> AOFManifest {
        var m = AOFManifest()
        var maxSeq: Int64 = 0
        var lineNumber = 0
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        // A final newline ends the last line; it does not start an empty one.
        let count = text.hasSuffix("\n") ? lines.count - 1 : lines.count
        if count <= 0 || text.isEmpty { throw FormatError(line: nil, text: nil, message: "Found an empty AOF manifest") }
        for raw in lines.prefix(count) {
            lineNumber += 1
            if raw.hasPrefix("#") { continue }
            if raw.utf8.count > 1024 { throw FormatError(line: nil, text: nil, message: "The AOF manifest file contains too long line") }
            let line = raw.trimmingCharacters(" \t\r\n")
            guard !line.isEmpty, let words = StartupOptions.splitArgs(line), words.count >= 6, words.count % 2 == 0 else {
                throw FormatError(line: lineNumber, text: line, message: "Invalid AOF manifest file format")
            }
            var name: String?
            var seq: Int64 = 0
            var type: Character?
            for i in stride(from: 0, to: words.count, by: 2) {
                switch words[i].lowercased() {
                case "file":
                    name = words[i + 1]
                    if words[i + 1].contains("/") {
                        throw FormatError(line: lineNumber, text: line, message: "File can't be a path, just a filename")
                    }
                case "seq": seq = atoll(words[i + 1])
                case "type": type = words[i + 1].first
                default: break   // forward compatibility, as Redis
                }
            }
            guard let name, !name.isEmpty, seq != 0, let type else {
                throw FormatError(line: lineNumber, text: line, message: "Invalid AOF manifest file format")
            }
            let info = FileInfo(name: name, seq: seq, type: type)
            switch type {
            case "b":
                if m.base != nil { throw FormatError(line: lineNumber, text: line, message: "Found duplicate base file information") }
                m.base = info
                m.currentBaseSeq = seq
            case "h":
                m.history.append(info)
            case "i":
                if seq <= maxSeq { throw FormatError(line: lineNumber, text: line, message: "Found a non-monotonic sequence number") }
                m.incr.append(info)
                m.currentIncrSeq = seq
                maxSeq = seq
            default:
                throw FormatError(line: lineNumber, text: line, message: "Unknown AOF file type")
            }
        }
        return m
    }

    /// A new base file (the previous one, if any, becomes history), named as
    /// getNewBaseFileNameAndMarkPreAsHistory names it.
    mutating func newBase(appendFilename: String, rdbPreamble: Bool) -> String {
        if var old = base {
            old.type = "h"
            history.insert(old, at: 0)
        }
        currentBaseSeq += 1
        let name = "\(appendFilename).\(currentBaseSeq).base.\(rdbPreamble ? "rdb" : "aof")"
        base = FileInfo(name: name, seq: currentBaseSeq, type: "b")
        return name
    }

    /// A new incr file (getNewIncrAofName).
    mutating func newIncr(appendFilename: String) -> String {
        currentIncrSeq += 1
        let name = "\(appendFilename).\(currentIncrSeq).incr.aof"
        incr.append(FileInfo(name: name, seq: currentIncrSeq, type: "i"))
        return name
    }

    /// Writes the manifest atomically: a temp file, fsynced, renamed over the manifest, and
    /// the directory fsynced (persistAofManifest). Returns an error text or nil.
    static func write(_ manifest: AOFManifest, directory: String, appendFilename: String) -> String? {
        let temp = "\(directory)/temp-\(appendFilename).manifest"
        let final = "\(directory)/\(appendFilename).manifest"
        let fd = open(temp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { return "Can't open the AOF manifest file \(temp): \(String(cString: strerror(errno)))" }
        let bytes = Array(manifest.text.utf8)
        let ok = AOFFile.writeAll(fd, bytes) && fsync(fd) == 0
        let code = errno
        close(fd)
        guard ok else { return "Error writing the AOF manifest file \(temp): \(String(cString: strerror(code)))" }
        guard rename(temp, final) == 0 else {
            return "Error trying to rename the temporary AOF manifest file \(temp) into \(final): \(String(cString: strerror(errno)))"
        }
        AOFFile.fsyncDirectory(directory)
        return nil
    }
}
