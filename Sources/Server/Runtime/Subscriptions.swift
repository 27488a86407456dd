import RESP
import Shards

/// The three pub/sub namespaces of Redis 7.0: channels (SUBSCRIBE), patterns (PSUBSCRIBE)
/// and shard channels (SSUBSCRIBE, a namespace of its own on a standalone server).
enum SubscriptionKind: UInt8 {
    case channel = 0, pattern, shardChannel

    /// The confirmation's first element, subscribing and unsubscribing.
    var subscribeWord: StaticString { ["subscribe", "psubscribe", "ssubscribe"][Int(rawValue)] }
    var unsubscribeWord: StaticString { ["unsubscribe", "punsubscribe", "sunsubscribe"][Int(rawValue)] }
}

/// A set of byte strings that remembers the order they came in (a client's subscriptions;
/// UNSUBSCRIBE without arguments answers them in this order).
struct OrderedByteSet {
    private(set) var items: [[UInt8]] = []
    private var positions: [[UInt8]: Int] = [:]

    var count: Int { items.count }
    var isEmpty: Bool { items.isEmpty }
    func contains(_ item: [UInt8]) -> Bool { positions[item] != nil }

    /// Adds `item`; false if it was there.
    mutating func insert(_ item: [UInt8]) -> Bool {
        guard positions[item] == nil else { return false }
        positions[item] = items.count
        items.append(item)
        return true
    }

    /// Removes `item`; false if it was not there.
    mutating func remove(_ item: [UInt8]) -> Bool {
        guard let at = positions.removeValue(forKey: item) else { return false }
        items.remove(at: at)
        for i in at..<items.count { positions[items[i]] = i }
        return true
    }
}

/// What one client is subscribed to (Redis's c->pubsub_channels, pubsub_patterns and
/// pubsubshard_channels).
struct ClientSubscriptions {
    var sets: [OrderedByteSet] = [OrderedByteSet(), OrderedByteSet(), OrderedByteSet()]

    subscript(kind: SubscriptionKind) -> OrderedByteSet {
        get { sets[Int(kind.rawValue)] }
        set { sets[Int(kind.rawValue)] = newValue }
    }

    /// The count a (P)SUBSCRIBE confirmation carries (clientSubscriptionsCount: channels and
    /// patterns) or an SSUBSCRIBE one (clientShardSubscriptionsCount).
    func confirmationCount(_ kind: SubscriptionKind) -> Int {
        kind == .shardChannel ? sets[2].count : sets[0].count + sets[1].count
    }

    var total: Int { sets[0].count + sets[1].count + sets[2].count }
}

/// One worker's subscribers: each name with its local clients, in the order they subscribed.
/// Only this worker's thread touches it; a PUBLISH elsewhere reaches it as a ring message.
struct SubscriptionTable {
    private(set) var byKind: [[[UInt8]: [Client]]] = [[:], [:], [:]]

    subscript(kind: SubscriptionKind) -> [[UInt8]: [Client]] { byKind[Int(kind.rawValue)] }

    /// Every (client, name) pair of the worker: nonzero means PUBLISH must ask this worker.
    private(set) var pairs = 0

    mutating func add(_ c: Client, _ name: [UInt8], _ kind: SubscriptionKind) {
        byKind[Int(kind.rawValue)][name, default: []].append(c)
        pairs += 1
    }

    mutating func remove(_ c: Client, _ name: [UInt8], _ kind: SubscriptionKind) {
        let k = Int(kind.rawValue)
        guard var list = byKind[k][name], let at = list.firstIndex(where: { $0 === c }) else { return }
        list.remove(at: at)
        byKind[k][name] = list.isEmpty ? nil : list
        pairs -= 1
    }
}

extension Worker {
    /// Subscribes `c` to `name`; false if it already was (the confirmation is sent anyway).
    @discardableResult
    func subscribe(_ c: Client, _ name: [UInt8], _ kind: SubscriptionKind) -> Bool {
        if c.subscriptions == nil { c.subscriptions = ClientSubscriptions() }
        guard c.subscriptions![kind].contains(name) == false else { return false }
        _ = c.subscriptions![kind].insert(name)
        subscriptions.add(c, name, kind)
        publishSubscriptionCount()
        return true
    }

    @discardableResult
    func unsubscribe(_ c: Client, _ name: [UInt8], _ kind: SubscriptionKind) -> Bool {
        guard c.subscriptions?[kind].remove(name) == true else { return false }
        subscriptions.remove(c, name, kind)
        publishSubscriptionCount()
        return true
    }

    /// Drops every subscription of `c` (RESET, disconnection) without confirmations.
    func unsubscribeAll(_ c: Client) {
        guard let subs = c.subscriptions else { return }
        for kind in [SubscriptionKind.channel, .pattern, .shardChannel] {
            for name in subs[kind].items { subscriptions.remove(c, name, kind) }
        }
        c.subscriptions = nil
        c.inPubSubMode = false
        if c.outputClass == .pubsub { c.outputClass = .normal }
        publishSubscriptionCount()
    }

    /// Other workers read this count before sending a PUBLISH here. Stored before the
    /// subscribing client's confirmation can leave, so a PUBLISH that client causes after
    /// reading it (seq-cst on both sides) sees it.
    func publishSubscriptionCount() {
        stats.subscriptions.store(subscriptions.pairs, ordering: .sequentiallyConsistent)
    }

    /// Redis's CLIENT_PUBSUB flag: set by a subscribe, cleared once nothing is left; it also
    /// makes the client's output limited as the pubsub class.
    func updatePubSubMode(_ c: Client) {
        let subscribed = (c.subscriptions?.total ?? 0) > 0
        c.inPubSubMode = subscribed
        if subscribed {
            if c.outputClass == .normal { c.outputClass = .pubsub }
        } else {
            if c.outputClass == .pubsub { c.outputClass = .normal }
            c.subscriptions = nil
        }
    }
}
