import Testing
@testable import Server

/// ScriptKeyScan: a script whose calls can only name its declared keys needs no undo log on
/// the single-shard path; anything else (or anything the scan cannot follow) must say no.
@Suite struct ScriptKeyScanTests {
    func onlyDeclared(_ body: String) -> Bool {
        Array(body.utf8).withUnsafeBytes { ScriptKeyScan.touchesOnlyDeclaredKeys($0, table: CommandTable.shared) }
    }

    @Test func declaredKeysAtKeyPositions() {
        #expect(onlyDeclared("local v = redis.call('GET', KEYS[1]) redis.call('INCR', KEYS[1]) "
                             + "redis.call('EXPIRE', KEYS[1], 100) return v"))
        #expect(onlyDeclared("return redis.pcall(\"set\", KEYS[2], ARGV[1], 'PX', tonumber(ARGV[2]))"))
        #expect(onlyDeclared("#!lua flags=no-writes\nreturn redis.call('mget', KEYS[1], KEYS[2])"))
        #expect(onlyDeclared("-- redis.call('get', ARGV[1]) in a comment\nreturn #KEYS"))
        #expect(onlyDeclared("--[==[ call(ARGV[1]) ]==] return redis.call('ping')"))
        #expect(onlyDeclared("return 1 + 2"))
    }

    @Test func anythingElseSaysNo() {
        for body in [
            "return redis.call('get', ARGV[1])",                       // an undeclared key
            "local k = KEYS[1] return redis.call('get', k)",           // a key through a variable
            "for i = 1, #KEYS do redis.call('del', KEYS[i]) end",      // not a literal index
            "local c = redis.call return c('get', KEYS[1])",           // an alias
            "return redis['call']('get', KEYS[1])",                    // computed access
            "return pcall(redis.call, 'get', ARGV[1])",
            "KEYS[1] = ARGV[1] return redis.call('get', KEYS[1])",     // KEYS rewritten
            "table.insert(KEYS, 'x') return redis.call('get', KEYS[2])",
            "return loadstring('return 1')()",
            "return redis.call(ARGV[1], KEYS[1])",                     // the command unknown
            "return redis.call('del', KEYS[1], unpack(ARGV))",         // keys expanded at run time
            "return redis.call('object', 'encoding', KEYS[1])",        // a container
            "return redis.call('get', KEYS[1]:sub(1, 3))",
            "return redis.call('get', 'literal')",
            "return redis.call('get', 'unterminated",
        ] {
            #expect(!onlyDeclared(body), "\(body)")
        }
    }
}
