// swift-tools-version: 6.1
import PackageDescription

// Sanitizer builds (VALKEYPER_SANITIZE=1, with --sanitize=thread; `make tsan`) leave jemalloc
// out: the sanitizer's runtime, as swiftc links it, replaces malloc/free but not C++ operator
// new/delete, so with jemalloc linked, libstdc++ and the Swift runtime get memory from
// jemalloc's operator new, whose operator delete passes it to free, the sanitizer's, which
// aborts. The VALKEYPER_SANITIZE compile condition lets the tests of jemalloc's counters skip.
let sanitizerBuild = Context.environment["VALKEYPER_SANITIZE"] == "1"
let sanitizerDefine: [SwiftSetting] = sanitizerBuild ? [.define("VALKEYPER_SANITIZE")] : []
let allocator: [LinkerSetting] = sanitizerBuild ? [] : [.linkedLibrary("jemalloc")]

// Release builds drop dynamic exclusivity checks: the hot path's state is owned by
// one thread by construction (see docs/ARCHITECTURE.md), so the checks only cost.
let fast: [SwiftSetting] = [
    .unsafeFlags(["-enforce-exclusivity=unchecked"], .when(configuration: .release)),
]

let package = Package(
    name: "ValKeyper",
    products: [
        .executable(name: "valkeyper-server", targets: ["valkeyper-server"]),
        // For the separate Benchmarks/ package, which depends on this one by path.
        .library(name: "RESP", targets: ["RESP"]),
        .library(name: "Values", targets: ["Values"]),
        .library(name: "Shards", targets: ["Shards"]),
    ],
    targets: [
        // epoll, accept4, eventfd, the jemalloc and sanitizer probes: what Glibc's module lacks;
        // the Lua 5.1 interpreter scripts run in (vk_lua.c) with the cjson and bit libraries
        // Redis loads, and libcrypto's SHA1.
        .target(name: "CShim", linkerSettings: allocator + [.linkedLibrary("dl"), .linkedLibrary("lua5.1"),
                                                            .linkedLibrary("lua5.1-cjson"), .linkedLibrary("lua5.1-bitop"),
                                                            .linkedLibrary("crypto")]),
        .target(name: "RESP", swiftSettings: fast),
        // Value types (listpack, stream...): data structures and their RDB encodings, no keyspace.
        .target(name: "Values", dependencies: ["CShim", "RESP"], swiftSettings: fast),
        .target(name: "Shards", dependencies: ["CShim", "RESP", "Values"], swiftSettings: fast),
        .target(name: "Net", dependencies: ["CShim", "RESP"], swiftSettings: fast),
        .target(name: "Server", dependencies: ["CShim", "RESP", "Net", "Values", "Shards"], swiftSettings: fast),
        .executableTarget(name: "valkeyper-server", dependencies: ["Server"], swiftSettings: fast),
        // What every test target shares (the seeded generator, sample values).
        .target(name: "TestSupport", dependencies: ["Values"], path: "Tests/TestSupport",
                swiftSettings: sanitizerDefine),
        .testTarget(name: "RESPTests", dependencies: ["RESP", "TestSupport"]),
        .testTarget(name: "ValuesTests", dependencies: ["Values", "TestSupport"]),
        .testTarget(name: "ShardsTests", dependencies: ["Shards", "TestSupport"]),
        .testTarget(name: "ServerTests", dependencies: ["Server", "Values", "TestSupport"]),
    ]
)
