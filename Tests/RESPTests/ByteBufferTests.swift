import Testing
import RESP

@Suite struct ByteBufferTests {
    @Test func startsEmptyWithAtLeastSixteenBytes() {
        let b = ByteBuffer(capacity: 1)
        #expect(b.isEmpty == true)
        #expect(b.count == 0)
        #expect(b.capacity == 16)
        #expect(b.freeSpace == 16)
    }

    @Test func growsByDoublingAndKeepsContents() {
        var b = ByteBuffer(capacity: 16)
        var expected: [UInt8] = []
        var capacities: [Int] = [b.capacity]
        for i in 0..<10_000 {
            let byte = UInt8(truncatingIfNeeded: i &* 31)
            b.append(byte)
            expected.append(byte)
            if b.capacity != capacities.last! { capacities.append(b.capacity) }
        }
        #expect(b.bytes == expected)
        #expect(capacities == [16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384])
    }

    @Test func reserveGrowsPastDoubleWhenAskedFor() {
        var b = ByteBuffer(capacity: 16)
        b.append("abc")
        b.reserve(1000)
        #expect(b.capacity == 1024)  // doubled until count + 1000 fits
        #expect(b.freeSpace >= 1000)
        #expect(b.bytes == Array("abc".utf8))
    }

    @Test func bulkAppendsAcrossGrowth() {
        var b = ByteBuffer(capacity: 16)
        let chunk = Array("0123456789abcdef0123".utf8)
        for _ in 0..<100 { b.append(chunk) }
        #expect(b.count == 2000)
        #expect(b.bytes == Array((0..<100).map { _ in chunk }.joined()))
        b.append(string: "é")
        #expect(b.bytes.suffix(2) == [0xC3, 0xA9])
        b.append([UInt8]())
        #expect(b.count == 2002)
    }

    @Test func discardFrontMovesTheRest() {
        var b = ByteBuffer()
        b.append("hello world")
        b.discardFront(6)
        #expect(b.bytes == Array("world".utf8))
        b.discardFront(0)
        #expect(b.bytes == Array("world".utf8))
        b.append("!")
        #expect(b.bytes == Array("world!".utf8))
        b.discardFront(6)
        #expect(b.count == 0)
        b.append("x")
        b.discardFront(100)  // more than held: just empties
        #expect(b.count == 0)
    }

    @Test func discardFrontAfterGrowthKeepsOrder() {
        var b = ByteBuffer(capacity: 16)
        for i in 0..<1000 { b.appendDecimal(i % 10) }
        b.discardFront(990)
        #expect(b.bytes == Array("0123456789".utf8))
    }

    @Test func clearAndShrinkIfEmpty() {
        var b = ByteBuffer(capacity: 16)
        b.reserve(100_000)
        let big = b.capacity
        b.append("x")
        b.shrinkIfEmpty(to: 256)
        #expect(b.capacity == big)  // not empty: kept
        b.clear()
        b.shrinkIfEmpty(to: 256)
        #expect(b.capacity == 256)
        b.shrinkIfEmpty(to: 128)
        #expect(b.capacity == 256)  // not oversized enough to bother
        b.append("still usable")
        #expect(b.bytes == Array("still usable".utf8))
    }

    @Test(arguments: [0, 1, 9, 10, 99, 100, -1, -9, -10, -99, -100, 12_345, 123_456_789, 999_999_999_999_999_999,
                      1_000_000_000_000_000_000, -1_000_000_000_000_000_000, Int.max, Int.max - 1, Int.min, Int.min + 1])
    func decimalText(_ value: Int) {
        var b = ByteBuffer()
        b.appendDecimal(value)
        #expect(String(decoding: b.bytes, as: UTF8.self) == String(value))
    }

    /// Every value below 20,000 either way, and each power of ten and its neighbours: odd
    /// and even digit counts, every two-digit pair at every position.
    @Test func decimalTextSweep() {
        var values = Array(-20_000...20_000)
        var power = 1
        while true {
            values += [power - 1, power, power + 1, -power + 1, -power, -power - 1]
            let (next, overflow) = power.multipliedReportingOverflow(by: 10)
            if overflow { break }
            power = next
        }
        var b = ByteBuffer()
        for value in values {
            b.clear()
            b.appendDecimal(value)
            if String(decoding: b.bytes, as: UTF8.self) != String(value) {
                Issue.record("\(value) written as \(String(decoding: b.bytes, as: UTF8.self))")
                return
            }
        }
    }
}

@Suite struct ReplyEncoderTests {
    func encoded(_ body: (inout ByteBuffer) -> Void) -> String {
        var b = ByteBuffer()
        body(&b)
        return String(decoding: b.bytes, as: UTF8.self)
    }

    @Test func simpleValues() {
        #expect(encoded { $0.writeOK() } == "+OK\r\n")
        #expect(encoded { $0.writeSimple("PONG") } == "+PONG\r\n")
        #expect(encoded { $0.writeSimple(string: "QUEUED") } == "+QUEUED\r\n")
        #expect(encoded { $0.writeInteger(0) } == ":0\r\n")
        #expect(encoded { $0.writeInteger(-42) } == ":-42\r\n")
        #expect(encoded { $0.writeInteger(Int.min) } == ":-9223372036854775808\r\n")
    }

    @Test func errors() {
        #expect(encoded { $0.writeError("ERR syntax error") } == "-ERR syntax error\r\n")
        #expect(encoded { $0.writeError(string: "ERR bad\r\nthing\n") } == "-ERR bad  thing \r\n")
    }

    @Test func bulks() {
        #expect(encoded { $0.writeBulk(string: "hello") } == "$5\r\nhello\r\n")
        #expect(encoded { $0.writeBulk(string: "") } == "$0\r\n\r\n")
        #expect(encoded { $0.writeBulk([0x61, 0x0D, 0x0A]) } == "$3\r\na\r\n\r\n")
        #expect(encoded { $0.writeBulkDecimal(-17) } == "$3\r\n-17\r\n")
        #expect(encoded { $0.writeBulkDecimal(Int.max) } == "$19\r\n9223372036854775807\r\n")
        let big = String(repeating: "v", count: 100_000)
        #expect(encoded { $0.writeBulk(string: big) } == "$100000\r\n" + big + "\r\n")
    }

    @Test func nullsDifferByProtocol() {
        #expect(encoded { $0.writeNull(.resp2) } == "$-1\r\n")
        #expect(encoded { $0.writeNull(.resp3) } == "_\r\n")
        #expect(encoded { $0.writeNullArray(.resp2) } == "*-1\r\n")
        #expect(encoded { $0.writeNullArray(.resp3) } == "_\r\n")
    }

    @Test func aggregatesDifferByProtocol() {
        #expect(encoded { $0.writeArrayHeader(3) } == "*3\r\n")
        #expect(encoded { $0.writeArrayHeader(0) } == "*0\r\n")
        #expect(encoded { $0.writeMapHeader(2, .resp2) } == "*4\r\n")
        #expect(encoded { $0.writeMapHeader(2, .resp3) } == "%2\r\n")
        #expect(encoded { $0.writeMapHeader(0, .resp2) } == "*0\r\n")
        #expect(encoded { $0.writeSetHeader(3, .resp2) } == "*3\r\n")
        #expect(encoded { $0.writeSetHeader(3, .resp3) } == "~3\r\n")
    }

    @Test func scalarsDifferByProtocol() {
        #expect(encoded { $0.writeBool(true, .resp2) } == ":1\r\n")
        #expect(encoded { $0.writeBool(false, .resp2) } == ":0\r\n")
        #expect(encoded { $0.writeBool(true, .resp3) } == "#t\r\n")
        #expect(encoded { $0.writeBool(false, .resp3) } == "#f\r\n")
        #expect(encoded { $0.writeDouble(text: "3.14", .resp2) } == "$4\r\n3.14\r\n")
        #expect(encoded { $0.writeDouble(text: "3.14", .resp3) } == ",3.14\r\n")
        #expect(encoded { $0.writeDouble(text: "inf", .resp3) } == ",inf\r\n")
        #expect(encoded { $0.writeVerbatim("abcd", .resp2) } == "$4\r\nabcd\r\n")
        #expect(encoded { $0.writeVerbatim("abcd", .resp3) } == "=8\r\ntxt:abcd\r\n")
    }

    @Test func aMapReplyEndToEnd() {
        let resp2 = encoded { b in
            b.writeMapHeader(1, .resp2); b.writeBulk(string: "k"); b.writeNull(.resp2)
        }
        let resp3 = encoded { b in
            b.writeMapHeader(1, .resp3); b.writeBulk(string: "k"); b.writeNull(.resp3)
        }
        #expect(resp2 == "*2\r\n$1\r\nk\r\n$-1\r\n")
        #expect(resp3 == "%1\r\n$1\r\nk\r\n_\r\n")
    }
}
