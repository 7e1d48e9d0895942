import EventTracing
import Foundation
import Instrumentation
import Logging
import OTel
import ServiceContextModule
import ServiceLifecycle
import Synchronization
import Telemetry
import Testing
import Tracing

// A small "service" instrumented with EventTracing's messaging helpers, run on swift-otel's
// tracer instead of ours: the helpers promise to work with any swift-distributed-tracing
// `Tracer`. What swift-otel exports goes to a local recording collector and is read back
// with Telemetry's protobuf decoder, so the assertions are about the wire, not about
// either library's in-memory view.

@Suite("EventTracing on swift-otel's tracer")
struct SwiftOTelInteropTests {
    @Test func sendSpanWritesExactlyOneTraceparentNamingSwiftOTelsProducerSpan() async throws {
        let run = try await runService()
        #expect(run.sent.setCount(of: "traceparent") == 1)
        let traceParent = try #require(run.sent.value(of: "traceparent").flatMap { TraceParent($0) })
        let producer = try #require(run.spans.first { $0.kind == .producer })
        #expect(producer.name == "send orders")
        #expect(traceParent.traceID.bytes == producer.traceID.bytes)
        #expect(traceParent.parentID.bytes == producer.spanID.bytes)
        #expect(traceParent.flags.contains(.sampled))
    }

    @Test func processSpanLinksToTheProducerSpanInANewTraceByDefault() async throws {
        let run = try await runService(parenting: .link)
        let producer = try #require(run.spans.first { $0.kind == .producer })
        let consumer = try #require(run.spans.first { $0.kind == .consumer })
        #expect(consumer.name == "process orders")
        #expect(consumer.parentSpanID == nil)
        #expect(consumer.traceID != producer.traceID)
        let link = try #require(consumer.links.first)
        #expect(consumer.links.count == 1)
        #expect(link.traceID == producer.traceID)
        #expect(link.spanID == producer.spanID)
    }

    @Test func processSpanIsAChildOfTheProducerSpanWhenParentingIsAskedFor() async throws {
        let run = try await runService(parenting: .parent)
        let producer = try #require(run.spans.first { $0.kind == .producer })
        let consumer = try #require(run.spans.first { $0.kind == .consumer })
        #expect(consumer.traceID == producer.traceID)
        #expect(consumer.parentSpanID == producer.spanID)
        #expect(consumer.links.contains { $0.traceID == producer.traceID && $0.spanID == producer.spanID })
    }

    @Test func correlationIDTravelsFromSendToProcess() async throws {
        let run = try await runService()
        let sent = try #require(run.sent.value(of: "correlation-id"))
        #expect(run.sent.setCount(of: "correlation-id") == 1)
        #expect(Baggage(try #require(run.sent.value(of: "baggage")))["correlation.id"] == sent)
        #expect(run.correlationIDInProcess == sent)
        for span in run.spans {
            #expect(span.attributes.first { $0.key == "messaging.message.conversation_id" }?.value == .string(sent))
        }
    }

    @Test func jsonLogLineInsideTheProcessSpanCarriesItsCorrelationID() async throws {
        let run = try await runService()
        let line = try #require(run.logLines.first)
        #expect(run.logLines.count == 1)
        #expect(line["message"] as? String == "order received")
        #expect(line["correlation_id"] as? String == run.sent.value(of: "correlation-id"))
    }

    @Test func jsonLogLineInsideTheProcessSpanCarriesSwiftOTelsTraceAndSpanID() async throws {
        let run = try await runService()
        let consumer = try #require(run.spans.first { $0.kind == .consumer })
        let line = try #require(run.logLines.first)
        // swift-otel keeps its span under its own key; JSONLogHandler reads it back
        // through the tracer's `inject`.
        #expect(line["trace_id"] as? String == consumer.traceID.hex)
        #expect(line["span_id"] as? String == consumer.spanID.hex)
    }
}

/// What one run of the service left behind.
struct ServiceRun {
    var sent: RecordedHeaders
    var spans: [Telemetry.Span]
    var correlationIDInProcess: String?
    var logLines: [[String: Any]]
}

/// Kafka-like record headers that also count how often each header was set, so a second
/// `traceparent` written over the first (by the tracer and by us) shows.
struct RecordedHeaders: MessageHeaders {
    private var fields: [(name: String, value: [UInt8])] = []
    private var sets: [String: Int] = [:]

    func lastValue(forHeader name: String) -> [UInt8]? {
        fields.last { $0.name == name }?.value
    }

    mutating func setHeader(_ name: String, to value: [UInt8]) {
        fields.removeAll { $0.name == name }
        fields.append((name, value))
        sets[name, default: 0] += 1
    }

    func setCount(of name: String) -> Int { sets[name, default: 0] }

    func value(of name: String) -> String? {
        lastValue(forHeader: name).map { String(decoding: $0, as: UTF8.self) }
    }
}

/// Collects the JSON lines of a `JSONLogHandler`.
final class LineSink: Sendable {
    private let lines = Mutex<[[UInt8]]>([])

    func append(_ line: [UInt8]) { lines.withLock { $0.append(line) } }

    func objects() throws -> [[String: Any]] {
        try lines.withLock { $0 }.map { line in
            try #require(JSONSerialization.jsonObject(with: Data(line)) as? [String: Any])
        }
    }
}

/// Starts swift-otel's tracing backend exporting OTLP/HTTP protobuf to a recording
/// collector, sends one message with `withSendSpan`, processes it with `withProcessSpan`
/// (logging one JSON line inside), then shuts the backend down gracefully, which flushes
/// its batch processor, and returns what went out.
func runService(parenting: MessageParenting = .link) async throws -> ServiceRun {
    let collector = try await RecordingCollector.start()
    var configuration = OTel.Configuration.default
    configuration.serviceName = "interop-service"
    configuration.diagnosticLogger = .custom(Logger(label: "swift-otel", factory: { _ in SwiftLogNoOpLogHandler() }))
    configuration.metrics.enabled = false
    configuration.logs.enabled = false
    configuration.traces.exporter = .otlp
    configuration.traces.otlpExporter.protocol = .httpProtobuf
    configuration.traces.otlpExporter.endpoint = collector.endpoint
    configuration.traces.otlpExporter.timeout = .seconds(2)
    let backend = try OTel.makeTracingBackend(configuration: configuration)
    let tracer = backend.factory
    let group = ServiceGroup(
        services: [backend.service], gracefulShutdownSignals: [],
        logger: Logger(label: "interop", factory: { _ in SwiftLogNoOpLogHandler() }))
    let running = Task { try await group.run() }

    let sink = LineSink()
    let logger = Logger(label: "orders") { label in
        JSONLogHandler(label: label, serviceName: "interop-service", output: .init { sink.append($0) }, instrument: tracer)
    }

    let sent = await withSendSpan(destination: "orders", headers: RecordedHeaders(), key: "order-42", tracer: tracer) {
        headers, _ in headers
    }
    let correlationID = await withProcessSpan(
        destination: "orders", headers: sent, consumerGroup: "billing", partition: 3, offset: 7,
        parenting: parenting, tracer: tracer
    ) { _ in
        logger.info("order received", metadata: ["order_id": "42"])
        return ServiceContext.current?.correlationID?.rawValue
    }

    await group.triggerGracefulShutdown()
    try await running.value
    try await collector.stop()
    return ServiceRun(
        sent: sent, spans: try collector.spans(), correlationIDInProcess: correlationID, logLines: try sink.objects())
}
