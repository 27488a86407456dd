#if canImport(Glibc)
import Glibc
#endif

/// Reading and checking one AOF file in command (RESP) format, as Redis 7.0's
/// loadSingleAppendOnlyFile reads it: `*<argc>` lines, `$<len>` lines, the bytes and two
/// bytes of CRLF; `#` lines are annotations (timestamps). The check runs on the main thread
/// at start-up; the commands it finds are replayed afterwards through normal dispatch
/// (AOFReplay).
enum AOFFile {
    enum Outcome: Equatable {
        /// Every command is whole: replay all of them.
        case complete
        /// The file ends inside a command (or a MULTI without EXEC); with aof-load-truncated
        /// the file was cut at the last whole command.
        case truncated(validUpTo: Int)
        /// Refused: the lines to log (start-up exits with code 1).
        case failed([String])
    }

    struct Scan {
        var outcome: Outcome
        /// The commands to replay, annotations left out.
        var commands: [UInt8]
        var commandCount = 0
    }

    /// Scans `bytes` (the file `name`). `knownCommand` says whether a command name exists
    /// (Redis refuses an unknown one: "Unknown command ... reading the append only file").
    static func scan(_ bytes: [UInt8], name: String, knownCommand: (String) -> Bool) -> Scan {
        var scan = Scan(outcome: .complete, commands: [])
        var position = 0
        // Where the last whole command ends, in the file and in `commands` (and before an open MULTI).
        var validUpTo = 0, validCommands = 0, validCount = 0
        var validBeforeMulti = 0, commandsBeforeMulti = 0, countBeforeMulti = 0
        var inMulti = false
        let end = bytes.count
        // fgets: the next line (through '\n', or what is left at the end of the file).
        func line() -> Range<Int>? {
            guard position < end else { return nil }
            let start = position
            while position < end && bytes[position] != UInt8(ascii: "\n") { position += 1 }
            if position < end { position += 1 }
            return start..<position
        }
        func number(_ r: Range<Int>) -> Int? {
            // atoi/strtol: optional sign, digits, anything after ignored.
            var i = r.lowerBound + 1
            var negative = false
            if i < r.upperBound && (bytes[i] == UInt8(ascii: "-") || bytes[i] == UInt8(ascii: "+")) {
                negative = bytes[i] == UInt8(ascii: "-")
                i += 1
            }
            var value = 0
            var digits = 0
            while i < r.upperBound, bytes[i] >= 48, bytes[i] <= 57, value < Int.max / 20 {
                value = value * 10 + Int(bytes[i] - 48)
                i += 1
                digits += 1
            }
            return negative ? -value : value
        }
        let formatError = ["Bad file format reading the append only file \(name): make a backup of your AOF file, then use ./redis-check-aof --fix <filename.manifest>"]
        reading: while true {
            let commandStart = position
            guard let header = line() else { break reading }
            if bytes[header.lowerBound] == UInt8(ascii: "#") { continue }
            guard bytes[header.lowerBound] == UInt8(ascii: "*") else { return Scan(outcome: .failed(formatError), commands: []) }
            if header.count == 1 { return truncated(scan, validUpTo: validUpTo, commands: validCommands, count: validCount) }
            let argc = number(header) ?? 0
            if argc < 1 { return Scan(outcome: .failed(formatError), commands: []) }
            var commandName = ""
            for j in 0..<argc {
                guard let lengthLine = line() else { return truncated(scan, validUpTo: validUpTo, commands: validCommands, count: validCount) }
                guard bytes[lengthLine.lowerBound] == UInt8(ascii: "$") else { return Scan(outcome: .failed(formatError), commands: []) }
                let length = number(lengthLine) ?? 0
                if length < 0 { return Scan(outcome: .failed(formatError), commands: []) }
                guard end - position >= length + 2 else { return truncated(scan, validUpTo: validUpTo, commands: validCommands, count: validCount) }
                if j == 0 { commandName = String(decoding: bytes[position..<(position + length)], as: UTF8.self) }
                position += length + 2   // the CRLF is read, not checked (as Redis)
            }
            guard knownCommand(commandName.lowercased()) else {
                return Scan(outcome: .failed(["Unknown command '\(commandName)' reading the append only file \(name)"]), commands: [])
            }
            switch commandName.lowercased() {
            case "multi":
                if !inMulti { (validBeforeMulti, commandsBeforeMulti, countBeforeMulti) = (validUpTo, validCommands, validCount) }
                inMulti = true
            case "exec", "discard":
                inMulti = false
            default:
                break
            }
            scan.commands.append(contentsOf: bytes[commandStart..<position])
            scan.commandCount += 1
            (validUpTo, validCommands, validCount) = (position, scan.commands.count, scan.commandCount)
        }
        if inMulti {
            Log.warning("Revert incomplete MULTI/EXEC transaction in AOF file \(name)")
            return truncated(scan, validUpTo: validBeforeMulti, commands: commandsBeforeMulti, count: countBeforeMulti)
        }
        return scan
    }

    /// The file ends early: the commands up to `validUpTo` are kept if aof-load-truncated
    /// allows it (the caller decides and truncates the file).
    private static func truncated(_ scan: Scan, validUpTo: Int, commands: Int, count: Int) -> Scan {
        Scan(outcome: .truncated(validUpTo: validUpTo), commands: Array(scan.commands.prefix(commands)), commandCount: count)
    }

    // MARK: Files

    /// The whole file, or nil with errno set.
    static func read(_ path: String) -> [UInt8]? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { return nil }
        var bytes = [UInt8](repeating: 0, count: Int(st.st_size))
        var done = 0
        while done < bytes.count {
            let n = bytes.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress! + done, $0.count - done) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            done += n
        }
        if done < bytes.count { bytes.removeLast(bytes.count - done) }
        return bytes
    }

    static func size(_ path: String) -> Int64 {
        var st = stat()
        return stat(path, &st) == 0 ? Int64(st.st_size) : 0
    }

    /// The file starts as an RDB does ("REDIS"): a base with the RDB preamble.
    static func isRDB(_ path: String) -> Bool {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var magic = [UInt8](repeating: 0, count: 5)
        return Glibc.read(fd, &magic, 5) == 5 && magic.elementsEqual("REDIS".utf8)
    }

    static func exists(_ path: String) -> Bool {
        var st = stat()
        return stat(path, &st) == 0
    }

    static func writeAll(_ fd: Int32, _ bytes: [UInt8]) -> Bool {
        bytes.withUnsafeBytes { writeAll(fd, $0) }
    }

    static func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer) -> Bool {
        var done = 0
        while done < bytes.count {
            let n = Glibc.write(fd, bytes.baseAddress! + done, bytes.count - done)
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { return false }
            done += n
        }
        return true
    }

    static func fsyncDirectory(_ path: String) {
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { return }
        _ = fsync(fd)
        close(fd)
    }
}
