/// Redis's protected mode (networking.c, clientAcceptHandler): while `protected-mode` is on
/// and no password is set, only clients on 127.0.0.1 or ::1 are served; anyone else gets
/// this text and the connection is closed at once. Checked when a connection is accepted,
/// so CONFIG SET of protected-mode or requirepass applies to new connections.
enum ProtectedMode {
    /// Redis 7.0.15's text, to the byte (its "Setup a an" included).
    static let denial: StaticString = "-DENIED Redis is running in protected mode because protected mode is enabled and no password is set for the default user. In this mode connections are only accepted from the loopback interface. If you want to connect from external computers to Redis you may adopt one of the following solutions: 1) Just disable protected mode sending the command 'CONFIG SET protected-mode no' from the loopback interface by connecting to Redis from the same host the server is running, however MAKE SURE Redis is not publicly accessible from internet if you do so. Use CONFIG REWRITE to make this change permanent. 2) Alternatively you can just disable the protected mode by editing the Redis configuration file, and setting the protected mode option to 'no', and then restarting the server. 3) If you started the server manually just for testing, restart it with the '--protected-mode no' option. 4) Setup a an authentication password for the default user. NOTE: You only need to do one of the above things in order for the server to start accepting connections from the outside.\r\n"

    /// True when a connection from `peer` ("ip:port") must be refused.
    static func refuses(peer: String) -> Bool {
        LiveConfig.protectedMode.load(ordering: .relaxed) && !LiveConfig.passwordRequired.load(ordering: .relaxed)
            && !PeerAddress.isLocal(peer)
    }
}
