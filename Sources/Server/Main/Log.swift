#if canImport(Glibc)
import Glibc
#endif

/// Redis-style log lines ("pid:M 26 Nov 2026 14:00:00.000 * text") on stdout or the logfile.
/// Cold paths only: start-up, shutdown, errors.
enum Log {
    enum Level: Int {
        case debug = 0, verbose, notice, warning, nothing

        /// The `loglevel` value's level (notice for anything else).
        init(name: String) {
            switch name {
            case "debug": self = .debug
            case "verbose": self = .verbose
            case "warning": self = .warning
            case "nothing": self = .nothing
            default: self = .notice
            }
        }
    }

    /// Set by LiveConfig.publish: CONFIG SET changes it while every thread may log.
    static var level: Level { Level(rawValue: LiveConfig.logLevel.load(ordering: .relaxed)) ?? .notice }
    /// Where lines go: written once by start-up (the logfile), before any other thread exists.
    nonisolated(unsafe) static var fd: Int32 = 1

    static func notice(_ text: String) { write(.notice, "*", text) }
    static func warning(_ text: String) { write(.warning, "#", text) }
    static func verbose(_ text: String) { write(.verbose, "-", text) }
    static func debug(_ text: String) { write(.debug, ".", text) }

    private static func write(_ l: Level, _ mark: String, _ text: String) {
        guard l.rawValue >= level.rawValue else { return }
        var tv = timeval()
        gettimeofday(&tv, nil)
        var t = tv.tv_sec
        var tmv = tm()
        localtime_r(&t, &tmv)
        var buffer = [CChar](repeating: 0, count: 64)
        strftime(&buffer, 64, "%d %b %Y %H:%M:%S", &tmv)
        let stamp = buffer.withUnsafeBufferPointer { String(cString: $0.baseAddress!) } + "." + String(format3(Int(tv.tv_usec) / 1000))
        let line = "\(getpid()):M \(stamp) \(mark) \(text)\n"
        _ = line.withCString { Glibc.write(fd, $0, strlen($0)) }
    }

    private static func format3(_ v: Int) -> String {
        v < 10 ? "00\(v)" : v < 100 ? "0\(v)" : "\(v)"
    }
}
