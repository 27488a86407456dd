import Testing
@testable import Server

/// The library metadata (Redis's functionExtractLibMetaData), a compile in a scratch
/// interpreter, and the FUNCTION DUMP payload read back.
@Suite struct FunctionRegistryTests {
    private func meta(_ text: String) -> String {
        switch FunctionRegistry.metadata(Array(text.utf8)) {
        case .success(let m): return "\(m.name)@\(m.body)"
        case .failure(let e): return e.text
        }
    }

    @Test func metadataAsRedisReadsIt() {
        #expect(meta("#!lua name=lib\nbody") == "lib@14")
        #expect(meta("#!LUA NAME=lib \r\nbody") == "lib@16")
        #expect(meta("#!lua name=\"quoted\"\n") == "quoted@19")
        #expect(meta("lua name=x\n") == "ERR Missing library metadata")
        #expect(meta("#!lua name=x") == "ERR Invalid library metadata")
        #expect(meta("#!lua name=a\0b\n") == "ERR Invalid library metadata")
        #expect(meta("#!lua name=\"open\n") == "ERR Invalid library metadata")
        #expect(meta("#!lua\n") == "ERR Library name was not given")
        #expect(meta("#!lua name=a name=b\n") == "ERR Invalid metadata value, name argument was given multiple times")
        #expect(meta("#!lua name=a x=1\n") == "ERR Invalid metadata value given: x=1")
        #expect(meta("#!lua name=a-b\n")
                == "ERR Library names can only contain letters, numbers, or underscores(_) and must be at least one character long")
        #expect(meta("#!js name=a\n") == "ERR Engine 'js' not found")
    }

    @Test func compileReportsFunctionsFlagsAndDescriptions() throws {
        let code = Array("""
            #!lua name=lib
            redis.register_function('plain', function() return 1 end)
            redis.register_function{function_name='ro', callback=function() return 2 end,
                                    flags={'no-writes', 'allow-stale'}, description='reads'}
            """.utf8)
        guard case .success(let library) = FunctionRegistry.compile(code, timeoutMs: 0) else {
            Issue.record("the library did not compile")
            return
        }
        #expect(library.name == "lib" && library.code == code)
        #expect(library.functions.map(\.name) == ["plain", "ro"])
        #expect(library.functions[0].flags.isEmpty && library.functions[0].description == nil)
        #expect(library.functions[1].flags == [.noWrites, .allowStale])
        #expect(library.functions[1].description == Array("reads".utf8))
        guard case .failure(let error) = FunctionRegistry.compile(Array("#!lua name=x\nreturn 1".utf8), timeoutMs: 0) else {
            Issue.record("a library without functions compiled")
            return
        }
        #expect(error.text == "ERR No functions registered")
    }

    @Test func dumpPayloadReadsBack() {
        let codes = [Array("#!lua name=a\nredis.register_function('f', function() return 1 end)".utf8),
                     Array(("#!lua name=b\n" + String(repeating: "-- compressible ", count: 20)).utf8)]
        let payload = RDBWriter.functionsPayload(codes)
        payload.withUnsafeBytes { p in
            #expect(RDBReader.dumpPayloadIsValid(p))
            guard case .success(let read) = RDBReader.functionPayload(p) else {
                Issue.record("the payload did not read back")
                return
            }
            #expect(read == codes)
        }
        #expect(RDBWriter.functionsPayload([]).count == 10)
    }
}
