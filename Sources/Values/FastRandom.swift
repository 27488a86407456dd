/// A fast non-cryptographic generator (wyrand) for the commands that pick at random
/// (SPOP, SRANDMEMBER, HRANDFIELD, ZRANDMEMBER, RANDOMKEY), as Redis uses random() there.
/// SystemRandomNumberGenerator costs a getrandom system call per draw, more than the
/// whole SPOP. Each shard keeps one, seeded once from the system generator; a fixed seed
/// gives tests a repeatable sequence.
public struct FastRandom: RandomNumberGenerator, Sendable {
    @usableFromInline var state: UInt64

    public init(seed: UInt64) { state = seed }

    public init() {
        var system = SystemRandomNumberGenerator()
        state = system.next()
    }

    @inlinable public mutating func next() -> UInt64 {
        state &+= 0xA076_1D64_78BD_642F
        let m = state.multipliedFullWidth(by: state ^ 0xE703_7ED1_A0B4_28DB)
        return m.high ^ m.low
    }

    /// A uniform integer in 0..<n (n > 0), by Lemire's multiply-shift with rejection.
    @inlinable public mutating func below(_ n: Int) -> Int {
        let bound = UInt64(n)
        var m = next().multipliedFullWidth(by: bound)
        if m.low < bound {
            let threshold = (0 &- bound) % bound
            while m.low < threshold { m = next().multipliedFullWidth(by: bound) }
        }
        return Int(m.high)
    }
}
