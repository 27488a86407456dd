/// A connection's peer as "ip:port" (IPv6 as "ip:port" or "[ip]:port"), and Redis's idea
/// of a local client.
enum PeerAddress {
    /// The IP part: everything before the last ':', without brackets.
    static func ip(of peer: String) -> Substring {
        guard let colon = peer.lastIndex(of: ":") else { return Substring(peer) }
        var ip = peer[..<colon]
        if ip.first == "[" && ip.last == "]" { ip = ip.dropFirst().dropLast() }
        return ip
    }

    /// Redis 7.0's islocalClient and protected-mode test compare the address text with
    /// "127.0.0.1" and "::1" exactly: 127.0.0.2 is not local for Redis, nor for us.
    static func isLocal(_ peer: String) -> Bool {
        let address = ip(of: peer)
        return address == "127.0.0.1" || address == "::1"
    }
}
