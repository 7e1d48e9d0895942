// swift-tools-version:6.1
import PackageDescription

// Every public import is deliberate (see ../shared/STYLE.md).
let strictSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
    .enableUpcomingFeature("InternalImportsByDefault"),
]

let package = Package(
    name: "Causeway",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "Telemetry", targets: ["Telemetry"]),
        .library(name: "EventTracing", targets: ["EventTracing"]),
        .library(name: "EventTracingOTLP", targets: ["EventTracingOTLP"]),
        .library(name: "KafkaWire", targets: ["KafkaWire"]),
        .library(name: "KafkaClient", targets: ["KafkaClient"]),
        .executable(name: "causeway", targets: ["causeway"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-distributed-tracing", from: "1.2.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/adam-fowler/compress-nio", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.100.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.0"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.4.0"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
    ],
    targets: [
        // The span/log model and its codecs. Pure: no I/O, no Foundation.
        .target(
            name: "Telemetry",
            swiftSettings: strictSettings
        ),
        // What a service links: W3C trace context and baggage propagation, correlation IDs.
        // `Instrumentation` also brings the `ServiceContextModule` module.
        .target(
            name: "EventTracing",
            dependencies: [
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                .product(name: "Instrumentation", package: "swift-distributed-tracing"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSettings
        ),
        // The lean SDK a service links to send its spans and logs to the collector over
        // OTLP/HTTP: a Tracer, batch processors, the exporter, env-var configuration.
        .target(
            name: "EventTracingOTLP",
            dependencies: [
                "Telemetry",
                "EventTracing",
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                .product(name: "Instrumentation", package: "swift-distributed-tracing"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "CompressNIO", package: "compress-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: strictSettings
        ),
        // W3C trace context and correlation IDs over HTTP: a Hummingbird middleware for
        // incoming requests and AsyncHTTPClient helpers for outgoing ones.
        .target(
            name: "EventTracingHTTP",
            dependencies: [
                "EventTracing",
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: strictSettings
        ),
        // The Kafka wire protocol: primitives, headers, the API messages of the supported
        // subset, RecordBatch v2, CRC-32C. Pure: no I/O.
        .target(
            name: "KafkaWire",
            dependencies: [
                "CCRC32C",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "CompressNIO", package: "compress-nio"),
            ],
            swiftSettings: strictSettings
        ),
        // The Kafka client: cluster metadata and connections, a producer and a group
        // consumer that trace every message through EventTracing, retries, dead letters.
        .target(
            name: "KafkaClient",
            dependencies: [
                "KafkaWire",
                "EventTracing",
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                .product(name: "Instrumentation", package: "swift-distributed-tracing"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            swiftSettings: strictSettings
        ),
        // The built-in Kafka-wire-compatible broker: partition logs on disk, produce/fetch,
        // the classic group coordinator, committed offsets, metrics.
        .target(
            name: "Broker",
            dependencies: [
                "KafkaWire",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Yams", package: "Yams"),
            ],
            swiftSettings: strictSettings
        ),
        // The order demo: order, inventory, payment and notification services, and the
        // scenario driver that places orders and reads their chains back.
        .target(
            name: "OrderDemo",
            dependencies: [
                "KafkaClient",
                "EventTracing",
                "EventTracingOTLP",
                "EventTracingHTTP",
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Yams", package: "Yams"),
            ],
            swiftSettings: strictSettings
        ),
        // The collector daemon: receivers, pipeline, store, query API, exporters, config.
        .target(
            name: "Collector",
            dependencies: [
                "Telemetry",
                "KafkaWire",
                "CProcessMemory",
                "CLibDeflate",
                "CIgzip",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "GRDBSQLite", package: "GRDB.swift"),
                .product(name: "Yams", package: "Yams"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "CompressNIO", package: "compress-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
            ],
            swiftSettings: strictSettings
        ),
        // The C library's heap figures (mallinfo2, malloc_trim), for the collector's memory limiter.
        .target(name: "CProcessMemory"),
        // CRC-32C with the processor's instruction, for KafkaWire.
        .target(name: "CCRC32C"),
        // The system's libdeflate, for inflating gzip request bodies in one pass and the
        // exporters' gzip at levels 2-9.
        .systemLibrary(name: "CLibDeflate", path: "Sources/CLibDeflate", pkgConfig: "libdeflate", providers: [.apt(["libdeflate-dev"])]),
        // The system's ISA-L igzip, for the exporters' gzip at the fastest level.
        .systemLibrary(name: "CIgzip", path: "Sources/CIgzip", pkgConfig: "libisal", providers: [.apt(["libisal-dev"])]),
        .executableTarget(
            name: "causeway",
            dependencies: [
                "Telemetry",
                "Collector",
                "Broker",
                "KafkaWire",
                "KafkaClient",
                "OrderDemo",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                "EventTracingHTTP",
                "EventTracing",
                "EventTracingOTLP",
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "CompressNIO", package: "compress-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            swiftSettings: strictSettings
        ),
        // libFuzzer targets for the decoders. A plain `swift build` makes them replayers of
        // the files given as arguments; scripts/fuzz.sh builds them with
        // `-sanitize=fuzzer,address -DCAUSEWAY_FUZZ` (see `make fuzz`).
        .target(
            name: "TelemetryFuzzDriver"
        ),
        .target(
            name: "TelemetryFuzzChecks",
            dependencies: ["Telemetry"],
            swiftSettings: strictSettings
        ),
        .executableTarget(
            name: "TelemetryFuzzProtobuf",
            dependencies: ["Telemetry", "TelemetryFuzzChecks", "TelemetryFuzzDriver"],
            swiftSettings: strictSettings
        ),
        .executableTarget(
            name: "TelemetryFuzzJSON",
            dependencies: ["Telemetry", "TelemetryFuzzChecks", "TelemetryFuzzDriver"],
            swiftSettings: strictSettings
        ),
        // The broker's request decoder under libFuzzer (scripts/fuzz.sh), same driver shim.
        .executableTarget(
            name: "KafkaWireFuzzRequest",
            dependencies: ["KafkaWire", "TelemetryFuzzDriver", .product(name: "NIOCore", package: "swift-nio")],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "TelemetryTests",
            dependencies: ["Telemetry", "TelemetryFuzzChecks"],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "EventTracingHTTPTests",
            dependencies: [
                "EventTracingHTTP",
                "EventTracing",
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "KafkaWireTests",
            dependencies: ["KafkaWire", .product(name: "NIOCore", package: "swift-nio"), .product(name: "CompressNIO", package: "compress-nio")],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "KafkaClientTests",
            dependencies: [
                "KafkaClient",
                "KafkaWire",
                "Broker",
                "EventTracing",
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                .product(name: "Instrumentation", package: "swift-distributed-tracing"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "OrderDemoTests",
            dependencies: ["OrderDemo", .product(name: "NIOCore", package: "swift-nio")],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "BrokerTests",
            dependencies: [
                "Broker",
                "KafkaWire",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "CollectorTests",
            dependencies: [
                "Collector",
                "Telemetry",
                "KafkaWire",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "CompressNIO", package: "compress-nio"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Yams", package: "Yams"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "CompressNIO", package: "compress-nio"),
                .product(name: "Metrics", package: "swift-metrics"),
                // The stitcher's scenarios with spans from our own SDK (SDKChainScenarioTests).
                "EventTracing",
                "EventTracingOTLP",
                "EventTracingHTTP",
                .product(name: "Tracing", package: "swift-distributed-tracing"),
            ],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "EventTracingTests",
            dependencies: ["EventTracing"],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "EventTracingOTLPTests",
            dependencies: [
                "EventTracingOTLP",
                "Telemetry",
                "EventTracing",
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "CompressNIO", package: "compress-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: strictSettings
        ),
    ],
    swiftLanguageModes: [.v6]
)
