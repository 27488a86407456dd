/// The registry of value types: adding a type is its folder plus one line in `all`.
/// Everything keyed by RDB type (the RDB reader and writer, a snapshot's records, a
/// replica's full-sync load) finds the type here instead of switching over types.
public enum ValueTypes {
    public static let all: [any ValueType.Type] = [
        Stream.self,
        Hash.self,
        SortedSet.self,
        SetValue.self,
        ListValue.self,
    ]

    /// The type reading RDB type byte `rdbType`, or nil for one no registered type reads.
    public static func type(forRDB rdbType: UInt8) -> (any ValueType.Type)? { byRDBType[Int(rdbType)] }

    private static let byRDBType: [(any ValueType.Type)?] = {
        var table = [(any ValueType.Type)?](repeating: nil, count: 256)
        for t in all {
            for code in t.rdbTypesRead {
                precondition(table[Int(code)] == nil, "RDB type \(code) registered twice")
                table[Int(code)] = t
            }
        }
        return table
    }()

    /// Decodes a snapshot copy (`snapshotEncoding()`) of RDB type `rdbType`.
    public static func decodeSnapshot(rdbType: UInt8, _ encoding: UnsafeRawBufferPointer) throws -> any ValueType {
        guard let t = type(forRDB: rdbType) else {
            throw RDBPlainError(offset: 0, message: "No value type reads RDB type \(rdbType)")
        }
        var source = RDBPlainSource(encoding)
        return try t.readRDB(type: rdbType, from: &source)
    }
}
