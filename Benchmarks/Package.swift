// swift-tools-version: 6.1
// Micro-benchmarks for ValKeyper's hot paths, kept in their own package so that the main
// package's `swift build` / `swift test` never fetch or build the benchmark framework.
// Run from this directory: `swift package benchmark` (see README.md).
import PackageDescription

let package = Package(
    name: "ValKeyperBenchmarks",
    dependencies: [
        .package(name: "ValKeyper", path: ".."),
        // Only the MallocInterposer trait: the default set also pulls in a runtime
        // interposer package that is not needed here.
        .package(url: "https://github.com/ordo-one/benchmark", from: "1.38.1", traits: ["MallocInterposer"]),
    ],
    targets: [
        .executableTarget(
            name: "ValKeyperBenchmarks",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "RESP", package: "ValKeyper"),
                .product(name: "Shards", package: "ValKeyper"),
            ],
            path: "Benchmarks/ValKeyperBenchmarks",
            swiftSettings: [.unsafeFlags(["-enforce-exclusivity=unchecked"])],
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
    ]
)
