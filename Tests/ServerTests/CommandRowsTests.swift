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
