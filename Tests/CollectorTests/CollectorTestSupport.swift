import AsyncHTTPClient
import Collector
import CompressNIO
import Foundation
import NIOHTTP1
import Logging
import NIOCore
import Prometheus
import Telemetry
import Testing

/// swift-metrics is bootstrapped once per process; every daemon in the tests reports here.
let testRegistry: PrometheusCollectorRegistry = CollectorDaemon.bootstrapMetrics()

var quietLogger: Logger {
    var logger = Logger(label: "collector-test")
    logger.logLevel = .critical
    return logger
}

/// A new empty folder under the system's temporary directory.
func temporaryDirectory() throws -> String {
    let path = (NSTemporaryDirectory() as NSString).appendingPathComponent("causeway-collector-\(UUID().uuidString)")
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

/// A configuration with every server on a free port and the data in a temporary folder.
///
/// The memory limiter reads the heap and resident size of the whole process, and this
/// test process runs many collectors at once: under the default 512 MiB limit a loaded run
/// refused a test's request with 429. Tests of the limiter set their own limit.
func testConfiguration() throws -> CollectorConfiguration {
    var configuration = CollectorConfiguration()
    configuration.memoryLimitBytes = 8 << 30
    configuration.otlp?.port = 0
    configuration.zipkin?.port = 0
    configuration.queryPort = 0
    configuration.dataDirectory = try temporaryDirectory()
    return configuration
}

/// A running collector for the duration of `body`.
func withCollector(
    _ configure: (inout CollectorConfiguration) -> Void = { _ in },
    extraConsumers: [any TelemetryConsumer] = [],
    _ body: @Sendable (CollectorUnderTest) async throws -> Void
) async throws {
    _ = testRegistry
    var configuration = try testConfiguration()
    configure(&configuration)
    let daemon = try CollectorDaemon(configuration: configuration, registry: testRegistry, logger: quietLogger, extraConsumers: extraConsumers)
    let (ports, continuation) = AsyncStream<CollectorDaemon.BoundPorts>.makeStream()
    try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask {
            try await daemon.run { continuation.yield($0) }
        }
        defer { group.cancelAll() }
        var iterator = ports.makeAsyncIterator()
        let bound = try #require(await iterator.next())
        try await body(CollectorUnderTest(ports: bound, daemon: daemon))
    }
}

struct CollectorUnderTest: Sendable {
    var ports: CollectorDaemon.BoundPorts
    var daemon: CollectorDaemon

    var otlp: String { "http://127.0.0.1:\(ports.otlp!)" }
    var zipkin: String { "http://127.0.0.1:\(ports.zipkin!)" }
    var http: String { "http://127.0.0.1:\(ports.http)" }
}

/// An answer, its body read whole.
struct Reply: Sendable {
    var status: Int
    var headers: [(String, String)]
    var body: [UInt8]

    func header(_ name: String) -> String? {
        headers.first { $0.0.lowercased() == name.lowercased() }?.1
    }

    var text: String { String(decoding: body, as: UTF8.self) }

    func json() throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(body)) as? [String: Any])
    }
}

func fetchReply(_ url: String, body: [UInt8]? = nil, headers: [(String, String)] = []) async throws -> Reply {
    try await fetchReply(.POST, url, body: body, headers: headers)
}

func fetchReply(
    _ method: HTTPMethod, _ url: String, body: [UInt8]? = nil, headers: [(String, String)] = []
) async throws -> Reply {
    var request = HTTPClientRequest(url: url)
    request.method = method
    for (name, value) in headers { request.headers.add(name: name, value: value) }
    if let body { request.body = .bytes(body) }
    let response = try await HTTPClient.shared.execute(request, timeout: .seconds(30))
    let bytes = try await response.body.collect(upTo: 64 << 20)
    return Reply(status: Int(response.status.code), headers: response.headers.map { ($0.name, $0.value) }, body: Array(bytes.readableBytesView))
}

func gzip(_ bytes: [UInt8]) throws -> [UInt8] {
    var buffer = ByteBuffer(bytes: bytes)
    let compressed = try buffer.compress(with: .gzip())
    return Array(compressed.readableBytesView)
}

/// Asks `probe` again until it returns a value: the pipeline stores asynchronously.
func eventually<T>(_ probe: () async throws -> T?) async throws -> T {
    for _ in 0..<400 {
        if let value = try await probe() { return value }
        try await Task.sleep(for: .milliseconds(25))
    }
    Issue.record("condition not reached")
    throw CancellationError()
}

let protobufHeaders = [("Content-Type", "application/x-protobuf")]

/// Spans of one producer/consumer pair: the consumer, in another trace, links to the producer.
enum Samples {
    static let producerTrace = TraceID(hex: "0af7651916cd43dd8448eb211c80319c")!
    static let producerSpan = SpanID(hex: "b7ad6b7169203331")!
    static let consumerTrace = TraceID(hex: "4bf92f3577b34da6a3ce929d0e0e4736")!
    static let consumerSpan = SpanID(hex: "00f067aa0ba902b7")!

    static func resource(_ service: String) -> Resource {
        Resource(attributes: [KeyValue("service.name", .string(service)), KeyValue("host.name", "test-host")])
    }

    static var producer: Span {
        Span(
            traceID: producerTrace, spanID: producerSpan, traceState: "congo=t61rcWkgMzE", flags: 1, name: "send orders", kind: .producer,
            startTimeUnixNano: 1_700_000_000_000_000_000, endTimeUnixNano: 1_700_000_000_002_000_000,
            attributes: [KeyValue("messaging.system", "kafka"), KeyValue("messaging.message.conversation_id", "order-42")],
            events: [SpanEvent(timeUnixNano: 1_700_000_000_001_000_000, name: "sent", attributes: [KeyValue("bytes", .int(42))])],
            status: SpanStatus(code: .ok))
    }

    static var consumer: Span {
        Span(
            traceID: consumerTrace, spanID: consumerSpan, name: "process orders", kind: .consumer,
            startTimeUnixNano: 1_700_000_000_010_000_000, endTimeUnixNano: 1_700_000_000_060_000_000,
            attributes: [KeyValue("messaging.system", "kafka"), KeyValue("correlation.id", "order-42")],
            links: [SpanLink(traceID: producerTrace, spanID: producerSpan, attributes: [KeyValue("link.kind", "message")])],
            status: SpanStatus(code: .error, message: "payment declined"))
    }

    static var traces: ExportTraceServiceRequest {
        ExportTraceServiceRequest(resourceSpans: [
            ResourceSpans(resource: resource("order-service"), scopeSpans: [ScopeSpans(scope: InstrumentationScope(name: "causeway", version: "0.1.0"), spans: [producer])]),
            ResourceSpans(resource: resource("inventory-service"), scopeSpans: [ScopeSpans(scope: InstrumentationScope(name: "causeway"), spans: [consumer])]),
        ])
    }

    static var logs: ExportLogsServiceRequest {
        ExportLogsServiceRequest(resourceLogs: [
            ResourceLogs(
                resource: Resource(attributes: [KeyValue("service.name", "order-service"), KeyValue("correlation_id", "order-42")]),
                scopeLogs: [
                    ScopeLogs(logRecords: [
                        LogRecord(
                            timeUnixNano: 1_700_000_000_000_500_000, observedTimeUnixNano: 1_700_000_000_000_600_000, severityNumber: .info,
                            severityText: "INFO", body: .string("order accepted"), attributes: [KeyValue("order.id", "42")],
                            traceID: producerTrace, spanID: producerSpan),
                        LogRecord(
                            timeUnixNano: 1_700_000_000_000_700_000, observedTimeUnixNano: 0, severityNumber: .error,
                            severityText: "ERROR", body: .string("payment declined"), attributes: []),
                    ])
                ])
        ])
    }
}
