import Testing
@testable import Server

/// Every public row describes itself completely (COMMAND INFO and DOCS read nothing else);
/// the differential test compares the descriptions with redis-server's.
@Suite struct CommandRowsTests {
    let table = CommandTable.shared

    var publicRows: [CommandSpec] {
        table.publicCommands.flatMap { [$0] + $0.subcommands }
    }

    @Test func everyPublicRowHasAVersionAndACLCategories() {
        for spec in publicRows {
            #expect(!spec.since.isEmpty, "\(spec.name) has no since")
            #expect(!spec.acl.isEmpty, "\(spec.name) has no ACL categories")
            #expect(spec.acl.contains(.fast) != spec.acl.contains(.slow), "\(spec.name): exactly one of @fast, @slow")
        }
    }

    /// Readers share their keys' intent locks: only commands that never write, so not
    /// PFCOUNT (readonly in Redis, but it caches its count in the value and propagates) nor
    /// the read-only scripts (they hold their worker while calling other shards). KEYS is a
    /// reader, but its whole-shard requests are never shared (IntentLocks).
    @Test func onlyPureReadersShareLocks() {
        func readOnly(_ name: String) -> Bool { table.routes[Int(table.index(of: name)!)].readOnly }
        for name in ["get", "mget", "exists", "touch", "sinter", "zunion", "sort_ro", "hgetall", "keys"] {
            #expect(readOnly(name), "\(name) should share locks")
        }
        for name in ["pfcount", "eval_ro", "evalsha_ro", "fcall_ro", "set", "del", "mset", "exec"] {
            #expect(!readOnly(name), "\(name) must not share locks")
        }
    }

    @Test func everyCommandWithKeysHasKeySpecs() {
        for spec in publicRows where spec.firstKey > 0 || spec.flags.contains(.movableKeys) {
            #expect(!spec.keySpecs.isEmpty, "\(spec.name) has keys but no key specs")
        }
    }

    @Test func keyArgumentsNameAnExistingKeySpec() {
        func check(_ args: [CommandArgument], _ spec: CommandSpec) {
            for a in args {
                if a.kind == .key {
                    #expect((a.keySpecIndex ?? -1) >= 0 && a.keySpecIndex! < spec.keySpecs.count,
                            "\(spec.name): key argument \(a.name)")
                }
                check(a.children, spec)
            }
        }
        for spec in publicRows { check(spec.arguments, spec) }
    }

    @Test func groupsHaveChildrenAndValuesHaveNone() {
        func check(_ args: [CommandArgument], _ name: String) {
            for a in args {
                let isGroup = a.kind == .oneof || a.kind == .block
                #expect(isGroup == !a.children.isEmpty, "\(name): argument \(a.name)")
                check(a.children, name)
            }
        }
        for spec in publicRows { check(spec.arguments, spec.name) }
    }
}

/// Internal parts are typed values resolved when the table is built: a part without its
/// row, or two rows with one name, stop the table from being built (at start-up).
@Suite struct InternalCommandTests {
    @Test func everyPartResolvesToItsOwnRow() {
        let table = CommandTable.shared
        var seen = Set<UInt16>()
        for part in InternalCommand.allCases {
            let index = table.index(of: part)
            #expect(table.specs[Int(index)].name == part.name)
            #expect(table.specs[Int(index)].flags.contains(.internal))
            #expect(seen.insert(index).inserted)
        }
        let internalRows = table.specs.filter { $0.flags.contains(.internal) }.map(\.name)
        #expect(Set(internalRows) == Set(InternalCommand.allCases.map(\.name)))
    }

    @Test func clientsCannotNameAPart() {
        for part in InternalCommand.allCases {
            let bytes = Array(part.name.utf8)
            #expect(bytes.withUnsafeBytes { CommandTable.shared.lookup($0) } == nil, "\(part.name)")
        }
    }

    @Test func aMissingPartFailsTheTable() {
        let withoutLoad = CommandTable.families.map { family in
            family.filter { $0.name != InternalCommand.load.name }
        }
        #expect(throws: CommandTable.RowError.missingInternalPart("__load")) {
            try CommandTable(families: withoutLoad)
        }
    }

    @Test func aDuplicateNameFailsTheTable() {
        #expect(throws: CommandTable.RowError.duplicateName("get")) {
            try CommandTable(families: CommandTable.families + [StringCommands.specs.filter { $0.name == "get" }])
        }
    }

    @Test func propagationAndMultiBehaviourComeFromTheRows() {
        let table = CommandTable.shared
        for part in [InternalCommand.detach, .attach, .xreadgroup] {
            #expect(table.propagation[Int(table.index(of: part))] == .marked)
        }
        for part in [InternalCommand.swapdb, .flushdb, .flushall] {
            #expect(table.propagation[Int(table.index(of: part))] == .alwaysMarked)
        }
        #expect(table.propagation[Int(table.index(of: "set")!)] == .asItself)
        #expect(table.propagation[Int(table.index(of: "get")!)] == Propagation.none)
        let atOnce = table.specs.indices.filter { table.routes[$0].transactionControl }.map { table.specs[$0].name }
        #expect(Set(atOnce) == ["multi", "exec", "discard", "watch", "quit", "reset"])
    }
}
