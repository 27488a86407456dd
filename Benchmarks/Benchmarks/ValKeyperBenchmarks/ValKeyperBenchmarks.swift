import Benchmark
import RESP
import Shards
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

// Hot-path micro-benchmarks: request parsing, a ring hop between threads, and the keyspace
// (KeyTable / Shard) with 16-byte keys. Each benchmark runs `scaledIterations` operations
// per measured iteration, so the reported time is per 1,000 operations (scaling .kilo).

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .cpuTotal, .throughput, .mallocCountTotal],
        scalingFactor: .kilo,
        maxDuration: .seconds(3),
        maxIterations: 10_000
    )
    parserBenchmarks()
    ringBenchmarks()
    keyspaceBenchmarks()
}

// MARK: RESP

/// `SET key:000000000042 <32-byte value>` as a client sends it.
let setFrame: [UInt8] = {
    var out: [UInt8] = Array("*3\r\n$3\r\nSET\r\n$16\r\n".utf8)
    out += Array("key:000000000042".utf8) + Array("\r\n$32\r\n".utf8)
    out += Array(repeating: UInt8(ascii: "v"), count: 32) + [13, 10]
    return out
}()

let pipeline16: [UInt8] = Array((0..<16).map { _ in setFrame }.joined())

/// Parses every frame in `bytes`, returning the number of arguments seen (kept alive).
@inline(never)
func parseAll(_ parser: inout RequestParser, _ bytes: UnsafeRawBufferPointer) -> Int {
    var offset = 0, arguments = 0
    while offset < bytes.count {
        var consumed = 0
        let outcome = parser.parse(UnsafeRawBufferPointer(rebasing: bytes[offset...]), consumed: &consumed)
        guard outcome == .command else { fatalError("unexpected \(outcome)") }
        arguments += parser.argumentCount
        offset += consumed
    }
    return arguments
}

func parserBenchmarks() {
    Benchmark("RESP parse SET") { benchmark in
        var parser = RequestParser()
        setFrame.withUnsafeBytes { frame in
            benchmark.startMeasurement()
            for _ in benchmark.scaledIterations { blackHole(parseAll(&parser, frame)) }
            benchmark.stopMeasurement()
        }
    }

    Benchmark("RESP parse 16-command pipeline") { benchmark in
        var parser = RequestParser()
        pipeline16.withUnsafeBytes { frames in
            benchmark.startMeasurement()
            for _ in benchmark.scaledIterations { blackHole(parseAll(&parser, frames)) }
            benchmark.stopMeasurement()
        }
    }

    Benchmark("RESP encode bulk reply") { benchmark in
        var out = ByteBuffer(capacity: 64 * 1024)
        let value = [UInt8](repeating: UInt8(ascii: "v"), count: 32)
        value.withUnsafeBytes { v in
            benchmark.startMeasurement()
            for _ in benchmark.scaledIterations {
                out.writeBulk(v)
                if out.count > 60_000 { out.clear() }
            }
            benchmark.stopMeasurement()
        }
        blackHole(out.count)
    }
}

// MARK: Rings

/// An OS thread that echoes every value from `requests` back on `responses`, spinning,
/// until `stop` is set: the other side of a worker-to-worker hop.
final class EchoThread: @unchecked Sendable {
    let requests = SPSCRing<Int>(capacity: 1024)
    let responses = SPSCRing<Int>(capacity: 1024)
    let stop = Atomic<Bool>(false)
    private var thread = pthread_t()

    func start() {
        let me = Unmanaged.passRetained(self).toOpaque()
        pthread_create(&thread, nil, { arg in
            let echo = Unmanaged<EchoThread>.fromOpaque(arg!).takeRetainedValue()
            echo.run()
            return nil
        }, me)
    }

    private func run() {
        while !stop.load(ordering: .relaxed) {
            guard let v = requests.pop() else { continue }
            while case .full = responses.push(v) {}
        }
    }

    func join() {
        stop.store(true, ordering: .relaxed)
        pthread_join(thread, nil)
    }
}

/// An OS thread that pops and counts everything pushed to `ring` (one-way hops).
final class DrainThread: @unchecked Sendable {
    let ring = SPSCRing<Int>(capacity: 1024)
    let received = Atomic<Int>(0)
    let stop = Atomic<Bool>(false)
    private var thread = pthread_t()

    func start() {
        let me = Unmanaged.passRetained(self).toOpaque()
        pthread_create(&thread, nil, { arg in
            let drain = Unmanaged<DrainThread>.fromOpaque(arg!).takeRetainedValue()
            drain.run()
            return nil
        }, me)
    }

    private func run() {
        var n = 0
        while !stop.load(ordering: .relaxed) {
            if ring.pop() != nil { n += 1; received.store(n, ordering: .releasing) }
        }
    }

    func join() {
        stop.store(true, ordering: .relaxed)
        pthread_join(thread, nil)
    }
}

nonisolated(unsafe) var echo: EchoThread?
nonisolated(unsafe) var drain: DrainThread?

func ringBenchmarks() {
    // Round trip: push to another thread and wait for its reply (two hops, both rings).
    Benchmark("Ring round trip between two threads", closure: { benchmark in
        guard let echo else { return }
        for i in benchmark.scaledIterations {
            while case .full = echo.requests.push(i) {}
            while echo.responses.pop() == nil {}
        }
    }, setup: {
        echo = EchoThread()
        echo!.start()
    }, teardown: {
        echo?.join()
        echo = nil
    })

    // One-way hops, pipelined as a worker batches them: push all, wait until all are popped.
    Benchmark("Ring one-way hop (pipelined)", closure: { benchmark in
        guard let drain else { return }
        let base = drain.received.load(ordering: .acquiring)
        for i in benchmark.scaledIterations {
            while case .full = drain.ring.push(i) {}
        }
        let target = base + benchmark.scaledIterations.count
        while drain.received.load(ordering: .acquiring) < target {}
    }, setup: {
        drain = DrainThread()
        drain!.start()
    }, teardown: {
        drain?.join()
        drain = nil
    })
}

// MARK: Keyspace

let keyCount = 100_000

/// 16-byte keys: "key:" plus 12 digits.
let keys: [[UInt8]] = (0..<keyCount).map { i in
    let digits = String(i)
    return Array(("key:" + String(repeating: "0", count: 12 - digits.count) + digits).utf8)
}
let value32 = [UInt8](repeating: UInt8(ascii: "x"), count: 32)

/// Visits keys in a scattered order, as real traffic would, not in insertion order.
@inline(__always) func keyIndex(_ i: Int) -> Int { (i &* 7919) % keyCount }

nonisolated(unsafe) var shard: Shard?

func keyspaceBenchmarks() {
    let fill: @Sendable () async throws -> Void = {
        let s = Shard(index: 0, databases: 16)
        s.now = 1_700_000_000_000
        value32.withUnsafeBytes { v in
            for k in keys { k.withUnsafeBytes { _ = s.setString(db: 0, key: $0, value: v, expireAt: 0) } }
        }
        shard = s
    }
    let release: @Sendable () async throws -> Void = { shard = nil }

    Benchmark("Shard GET hit (16-byte keys, 100k keys)", closure: { benchmark in
        guard let shard else { return }
        var found = 0
        for i in benchmark.scaledIterations {
            keys[keyIndex(i)].withUnsafeBytes { k in
                if let e = shard.lookupForRead(db: 0, key: k) { found &+= e.valueLength }
            }
        }
        blackHole(found)
    }, setup: fill, teardown: release)

    Benchmark("Shard GET miss (16-byte keys, 100k keys)", closure: { benchmark in
        guard let shard else { return }
        var found = 0
        var missing = Array("nokey:0000000000".utf8)
        for i in benchmark.scaledIterations {
            missing[15] = UInt8(48 + i % 10)
            missing.withUnsafeBytes { k in if shard.lookup(db: 0, key: k) != nil { found += 1 } }
        }
        blackHole(found)
    }, setup: fill, teardown: release)

    Benchmark("Shard SET overwrite (16-byte keys, 32-byte values)", closure: { benchmark in
        guard let shard else { return }
        value32.withUnsafeBytes { v in
            for i in benchmark.scaledIterations {
                keys[keyIndex(i)].withUnsafeBytes { _ = shard.setString(db: 0, key: $0, value: v, expireAt: 0) }
            }
        }
    }, setup: fill, teardown: release)

    Benchmark("Shard SET new key + DEL (16-byte keys)", closure: { benchmark in
        guard let shard else { return }
        var fresh = Array("new:000000000000".utf8)
        value32.withUnsafeBytes { v in
            for i in benchmark.scaledIterations {
                fresh[15] = UInt8(48 + i % 10)
                fresh[14] = UInt8(48 + (i / 10) % 10)
                fresh.withUnsafeBytes { k in
                    _ = shard.setString(db: 0, key: k, value: v, expireAt: 0)
                    _ = shard.delete(db: 0, key: k)
                }
            }
        }
    }, setup: fill, teardown: release)

    Benchmark("KeyTable find (16-byte keys, 100k keys)", closure: { benchmark in
        guard let shard else { return }
        // Through the shard's table path without lazy-expiry bookkeeping: hash + probe only.
        var hits = 0
        for i in benchmark.scaledIterations {
            keys[keyIndex(i)].withUnsafeBytes { k in
                if shard.lookup(db: 0, key: k, hash: KeyTable.hash(k)) != nil { hits &+= 1 }
            }
        }
        blackHole(hits)
    }, setup: fill, teardown: release)
}
