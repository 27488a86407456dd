/// The internal commands: the parts of operations that span shards (a fan-out's part on
/// every shard, a split command's part per key, the steps of RENAME across shards...).
/// Clients cannot name them. Their rows are declared with `CommandSpec(part:)`, so a row's
/// name comes from here, and the table resolves every case to its row once, when it is
/// built: code refers to a part by this type, never by a name looked up at run time.
enum InternalCommand: Int, CaseIterable, Sendable {
    case countExisting
    case keys, scan, randomkey, object, detach, copyOut, attach, swapdb
    case dbsize, flushdb, flushall
    case digest, digestValue, setActiveExpire
    case watch, unwatchAll, execHere
    case xread, xreadgroup, xreadgroupNow, xreadgroupCheck
    case snapshot, snapshotBegin, load
    case zrangeOut, zsetMulti, zfetch, bzpop
    case setMembers, setStore, lookupStats, smoveCheck
    case stringSources, bitopStore
    case pfGather, pfmergeStore
    case listMulti, listProbe, blockingListPop
    case geoOnShard, geoOut
    case sortHere, sortInOperation, sortGather, sortFetch, sortStore
    case migrateDump, migrateDelete
    case evalHere, evalLocked, evalRerunnable, evalEverywhere

    /// The row's name ("__" keeps it apart from every name a client can send).
    var name: String {
        switch self {
        case .countExisting: "__count_existing"
        case .keys: "__keys"
        case .scan: "__scan"
        case .randomkey: "__randomkey"
        case .object: "__object"
        case .detach: "__detach"
        case .copyOut: "__copyout"
        case .attach: "__attach"
        case .swapdb: "__swapdb"
        case .dbsize: "__dbsize"
        case .flushdb: "__flushdb"
        case .flushall: "__flushall"
        case .digest: "__digest"
        case .digestValue: "__digest_value"
        case .setActiveExpire: "__set_active_expire"
        case .watch: "__watch"
        case .unwatchAll: "__unwatch_all"
        case .execHere: "__exec"
        case .xread: "__xread"
        case .xreadgroup: "__xreadgroup"
        case .xreadgroupNow: "__xreadgroup_now"
        case .xreadgroupCheck: "__xreadgroup_check"
        case .snapshot: "__snapshot"
        case .snapshotBegin: "__snapshot_begin"
        case .load: "__load"
        case .zrangeOut: "__zrangeout"
        case .zsetMulti: "__zsetmulti"
        case .zfetch: "__zfetch"
        case .bzpop: "__bzpop"
        case .stringSources: "__string_sources"
        case .bitopStore: "__bitop_store"
        case .pfGather: "__pf_gather"
        case .pfmergeStore: "__pfmerge_store"
        case .geoOnShard: "__geo"
        case .geoOut: "__geoout"
        case .setMembers: "__smembers_of"
        case .setStore: "__sstore"
        case .lookupStats: "__lookup_stats"
        case .smoveCheck: "__smove_check"
        case .listMulti: "__listmulti"
        case .listProbe: "__lprobe"
        case .blockingListPop: "__blpop"
        case .sortHere: "__sort"
        case .sortInOperation: "__sortop"
        case .sortGather: "__sort_gather"
        case .sortFetch: "__sort_fetch"
        case .sortStore: "__sort_store"
        case .migrateDump: "__migrate_dump"
        case .migrateDelete: "__migrate_del"
        case .evalHere: "__eval"
        case .evalLocked: "__eval_locked"
        case .evalRerunnable: "__eval_rerunnable"
        case .evalEverywhere: "__eval_everywhere"
        }
    }
}
