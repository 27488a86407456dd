/// An object whose value a snapshot copies as its RDB encoding at copy time, so later
/// writes cannot reach the copy.
public protocol SnapshotSerializable: AnyObject {
    /// The RDB type byte of `appendRDB`'s encoding.
    var rdbType: UInt8 { get }
    func appendRDB(to sink: inout RDBPlainSink)
}
