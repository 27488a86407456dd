import Testing
@testable import Server

@Suite struct OutputBufferLimitTests {
    /// Redis's checkClientOutputBufferLimits: the soft limit counts only after more than its
    /// seconds (whole seconds) over it; going under it forgets when it was first reached.
    @Test func softLimitNeedsMoreThanItsSeconds() {
        let limit = OutputBufferLimit(hardBytes: 0, softBytes: 100, softSeconds: 2)
        var since: Int64 = 0
        #expect(!limit.reached(usage: 100, nowSeconds: 1000, softSince: &since))
        #expect(since == 1000)
        #expect(!limit.reached(usage: 500, nowSeconds: 1002, softSince: &since))
        #expect(limit.reached(usage: 100, nowSeconds: 1003, softSince: &since))
        #expect(!limit.reached(usage: 99, nowSeconds: 1004, softSince: &since))
        #expect(since == 0)
        #expect(!limit.reached(usage: 100, nowSeconds: 1005, softSince: &since))
    }

    @Test func softLimitOfZeroSecondsStillWaitsForTheNextSecond() {
        let limit = OutputBufferLimit(hardBytes: 0, softBytes: 1, softSeconds: 0)
        var since: Int64 = 0
        #expect(!limit.reached(usage: 1, nowSeconds: 7, softSince: &since))
        #expect(!limit.reached(usage: 1, nowSeconds: 7, softSince: &since))
        #expect(limit.reached(usage: 1, nowSeconds: 8, softSince: &since))
    }

    @Test func hardLimitIsImmediateAndZeroDisables() {
        var since: Int64 = 0
        #expect(OutputBufferLimit(hardBytes: 10, softBytes: 0, softSeconds: 0).reached(usage: 10, nowSeconds: 1, softSince: &since))
        #expect(!OutputBufferLimit(hardBytes: 10, softBytes: 0, softSeconds: 0).reached(usage: 9, nowSeconds: 1, softSince: &since))
        #expect(!OutputBufferLimit(hardBytes: 0, softBytes: 0, softSeconds: 0).reached(usage: .max, nowSeconds: 1, softSince: &since))
    }

    @Test func parsesEveryClassOfAStoredValue() {
        let value = "normal 1 2 3 slave 268435456 67108864 60 pubsub 33554432 8388608 60"
        #expect(OutputBufferLimit.parse(value, for: .normal) == OutputBufferLimit(hardBytes: 1, softBytes: 2, softSeconds: 3))
        #expect(OutputBufferLimit.parse(value, for: .replica)
                == OutputBufferLimit(hardBytes: 268435456, softBytes: 67108864, softSeconds: 60))
        #expect(OutputBufferLimit.parse(value, for: .pubsub)
                == OutputBufferLimit(hardBytes: 33554432, softBytes: 8388608, softSeconds: 60))
    }

    /// obl holds up to 16 KB; the rest is counted in 16 KB blocks with their list overhead.
    @Test func replyMemoryModel() {
        #expect((ReplyMemory(pending: 0).bufferedBytes, ReplyMemory(pending: 0).blocks) == (0, 0))
        #expect((ReplyMemory(pending: 16384).bufferedBytes, ReplyMemory(pending: 16384).blocks) == (16384, 0))
        let over = ReplyMemory(pending: 16385)
        #expect((over.bufferedBytes, over.blocks, over.listBytes) == (16384, 1, 16424))
        #expect(ReplyMemory(pending: 16384 * 3 + 1).blocks == 3)
    }

    /// Redis reads soft seconds with strtoll into a C int.
    @Test func softSecondsAsRedisReadsThem() {
        #expect(parseSoftSeconds("60") == 60)
        #expect(parseSoftSeconds("+3") == 3)
        #expect(parseSoftSeconds("") == 0)
        #expect(parseSoftSeconds("\t5") == 5)
        #expect(parseSoftSeconds("4294967297") == 1)
        #expect(parseSoftSeconds("2147483648") == nil)
        #expect(parseSoftSeconds("10x") == nil)
        #expect(parseSoftSeconds("-1") == nil)
    }

    /// Redis's memtoull saturates a number past 64 bits and wraps when the unit multiplies.
    @Test func memoryValuesAsRedisReadsThem() {
        #expect(parseMemory("1mb") == 1 << 20)
        #expect(parseMemory("18446744073709551616") == .max)
        #expect(parseMemory("18446744073709551615kb") == UInt64.max &* 1024)
        #expect(parseMemory("-1") == nil)
        #expect(parseMemory("+1") == nil)
        #expect(parseMemory(String(repeating: "1", count: 128)) == nil)
    }
}
