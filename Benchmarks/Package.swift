// swift-tools-version:6.1
import PackageDescription

// A package of its own so that swift-otel, which takes minutes to build cold, is paid for
// only by the interop test and the benchmarks, never by the main package or its CI.
let strictSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
    .enableUpcomingFeature("InternalImportsByDefault"),
]

let package = Package(
    name: "CausewayBenchmarks",
    platforms: [.macOS(.v15)],
    dependencies: [
        // `name:` lets the targets below say "Causeway" whatever the checkout's folder is called.
        .package(name: "Causeway", path: ".."),
        // Only the OTLP/HTTP exporter: the gRPC one would add grpc-swift to the build for nothing.
        .package(url: "https://github.com/swift-otel/swift-otel", from: "1.6.0", traits: ["OTLPHTTP"]),
        .package(url: "https://github.com/apple/swift-distributed-tracing", from: "1.2.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.100.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
    ],
    targets: [
        // `make bench-tracing`: our propagation, spans and JSON logs side by side with swift-otel's.
        .executableTarget(
            name: "EventTracingBench",
            dependencies: [
                .product(name: "EventTracing", package: "Causeway"),
                .product(name: "EventTracingOTLP", package: "Causeway"),
                .product(name: "Telemetry", package: "Causeway"),
                .product(name: "OTel", package: "swift-otel"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                .product(name: "Instrumentation", package: "swift-distributed-tracing"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strictSettings
        ),
        // `make interop-swift-otel`: EventTracing's helpers on top of swift-otel's tracer.
        .testTarget(
            name: "SwiftOTelInteropTests",
            dependencies: [
                .product(name: "EventTracing", package: "Causeway"),
                .product(name: "Telemetry", package: "Causeway"),
                .product(name: "OTel", package: "swift-otel"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                .product(name: "Instrumentation", package: "swift-distributed-tracing"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strictSettings
        ),
    ],
    swiftLanguageModes: [.v6]
)
