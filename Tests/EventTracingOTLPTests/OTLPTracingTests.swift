import EventTracing
@testable import EventTracingOTLP
import Logging
import ServiceLifecycle
import Telemetry
import Testing
import Tracing

@Suite("OTLPTracing end to end")
struct OTLPTracingTests {
    static func configuration(_ server: TestCollector) -> OTLPConfiguration {
        var configuration = OTLPConfiguration(serviceName: "order-service", serviceVersion: "1.4.2")
        configuration.exporter.setBaseEndpoint(server.baseURL)
        configuration.exporter.retry = OTLPRetryPolicy(
            maxAttempts: 2, initialBackoff: .milliseconds(10), maxBackoff: .milliseconds(20))
        return configuration
    }

    @Test("a span arrives at the collector with its IDs, parent, kind, attributes, events, links, status, resource and scope")
    func spanArrivesIntact() async throws {
        let server = try await TestCollector.start()
        let otel = OTLPTracing(configuration: Self.configuration(server))
        let parent = otel.tracer.startSpan("POST /orders", context: .topLevel, ofKind: .server)
        var creation = ServiceContext.topLevel
        otel.tracer.extract(
            ["traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"], into: &creation,
            using: DictionaryExtractor())
        let span = otel.tracer.startSpan("send orders", context: parent.context, ofKind: .producer)
        span.attributes["messaging.destination.name"] = "orders"
        span.attributes["messaging.kafka.offset"] = 42
        span.addEvent("queued")
        span.addLink(Tracing.SpanLink(context: creation, attributes: [:]))
        span.setStatus(Tracing.SpanStatus(code: .error, message: "broker down"))
        span.end()
        parent.end()
        await otel.service.shutdown()
        try await server.stop()

        let request = try #require(server.received.first).traces()
        let resourceSpans = try #require(request.resourceSpans.first)
        #expect(resourceSpans.resource?.serviceName == "order-service")
        #expect(resourceSpans.resource?.attributes[key: "service.version"] == .string("1.4.2"))
        #expect(resourceSpans.resource?.attributes[key: "telemetry.sdk.name"] == .string("causeway"))
        let scopeSpans = try #require(resourceSpans.scopeSpans.first)
        #expect(scopeSpans.scope?.name == "causeway.event-tracing")
        let spans = scopeSpans.spans
        let sent = try #require(spans.first { $0.name == "send orders" })
        let server_ = try #require(spans.first { $0.name == "POST /orders" })
        let own = try #require(span.context.spanContext)
        #expect(sent.traceID == TraceID(high: own.traceID.high, low: own.traceID.low))
        #expect(sent.spanID == SpanID(own.spanID.value))
        #expect(sent.parentSpanID == server_.spanID)
        #expect(sent.kind == .producer)
        #expect(server_.kind == .server)
        #expect(sent.attributes == [
            KeyValue("messaging.destination.name", "orders"), KeyValue("messaging.kafka.offset", .int(42)),
        ])
        #expect(sent.events.map(\.name) == ["queued"])
        #expect(sent.links.first?.spanID == SpanID(hex: "00f067aa0ba902b7"))
        #expect(sent.status == Telemetry.SpanStatus(code: .error, message: "broker down"))
        #expect(sent.startTimeUnixNano > 0 && sent.endTimeUnixNano >= sent.startTimeUnixNano)
    }

    @Test("log records are exported with the trace and span IDs of the current span")
    func logsCarryTraceContext() async throws {
        let server = try await TestCollector.start()
        let otel = OTLPTracing(configuration: Self.configuration(server))
        let span = otel.tracer.startSpan("work", context: .topLevel)
        otel.logs.emit(LogRecord(timeUnixNano: 1, severityNumber: .warn, body: "low stock"), context: span.context)
        span.end()
        await otel.service.shutdown()
        try await server.stop()
        let logsRequest = try #require(server.received.first { $0.uri == "/v1/logs" }).logs()
        let record = try #require(logsRequest.resourceLogs.first?.scopeLogs.first?.logRecords.first)
        let own = try #require(span.context.spanContext)
        #expect(record.body == .string("low stock"))
        #expect(record.traceID == TraceID(high: own.traceID.high, low: own.traceID.low))
        #expect(record.spanID == SpanID(own.spanID.value))
        #expect(record.flags == 0x03)
        #expect(logsRequest.resourceLogs.first?.resource?.serviceName == "order-service")
    }

    @Test("the service exports what is queued when the service group shuts down gracefully")
    func serviceFlushesOnGracefulShutdown() async throws {
        let server = try await TestCollector.start()
        let otel = OTLPTracing(configuration: Self.configuration(server))
        let group = ServiceGroup(services: [otel.service], logger: Logger(label: "test"))
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            for index in 0..<3 { otel.tracer.startSpan("job \(index)", context: .topLevel).end() }
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
        }
        try await server.stop()
        let spans = try server.received.filter { $0.uri == "/v1/traces" }.flatMap {
            try $0.traces().resourceSpans.flatMap { $0.scopeSpans.flatMap(\.spans) }
        }
        #expect(spans.map(\.name).sorted() == ["job 0", "job 1", "job 2"])
    }

    @Test("with logs export off, spans are still exported and log records are not")
    func logsExportOff() async throws {
        let server = try await TestCollector.start()
        var configuration = Self.configuration(server)
        configuration.exportsLogs = false
        let otel = OTLPTracing(configuration: configuration)
        otel.tracer.startSpan("kept", context: .topLevel).end()
        otel.logs.emit(LogRecord(timeUnixNano: 1, body: "not sent"))
        await otel.service.shutdown()
        try await server.stop()
        #expect(server.received.map(\.uri) == ["/v1/traces"])
    }

    @Test("a disabled SDK sends nothing but still propagates a context")
    func disabledSDK() async throws {
        let server = try await TestCollector.start()
        var configuration = Self.configuration(server)
        configuration.isDisabled = true
        let otel = OTLPTracing(configuration: configuration)
        let span = otel.tracer.startSpan("quiet", context: .topLevel)
        #expect(!span.isRecording)
        #expect(span.context.spanContext != nil)
        span.end()
        await otel.service.shutdown()
        try await server.stop()
        #expect(server.received.isEmpty)
    }
}

@Suite("OTLPLogSink as EventTracing's LogRecordSink")
struct OTLPLogSinkTests {
    struct PaymentDeclined: Error {}

    @Test("a structured record maps to an OTLP log record: severity, body, IDs, metadata, correlation ID, error")
    func structuredRecordMapping() throws {
        let traceID = SpanContext.TraceID(high: 7, low: 8)
        let record = StructuredLogRecord(
            timestampNanoseconds: 1_700_000_000_123_456_789, level: .notice, message: "order accepted",
            label: "orders", serviceName: "order-service",
            metadata: ["order.id": "17", "items": .array(["a", "b"]), "customer": .dictionary(["tier": "gold"])],
            traceID: traceID, spanID: SpanContext.SpanID(9), traceFlags: [.sampled, .random],
            correlationID: CorrelationID("corr-1"), error: PaymentDeclined())
        let mapped = OTLPLogSink.logRecord(record)
        #expect(mapped.timeUnixNano == 1_700_000_000_123_456_789)
        #expect(mapped.severityNumber == SeverityNumber(rawValue: 10))
        #expect(mapped.severityText == "NOTICE")
        #expect(mapped.body == .string("order accepted"))
        #expect(mapped.traceID == TraceID(high: 7, low: 8))
        #expect(mapped.spanID == SpanID(9))
        #expect(mapped.flags == 0x03)
        #expect(mapped.attributes[key: "order.id"] == .string("17"))
        #expect(mapped.attributes[key: "items"] == .array([.string("a"), .string("b")]))
        #expect(mapped.attributes[key: "customer"] == .keyValueList([KeyValue("tier", "gold")]))
        #expect(mapped.attributes[key: "logger.name"] == .string("orders"))
        #expect(mapped.attributes[key: "correlation.id"] == .string("corr-1"))
        #expect(mapped.attributes[key: "exception.message"] != nil)
    }

    @Test("swift-log levels map onto the OTLP severity ranges")
    func severities() {
        let expected: [(Logger.Level, Int32)] = [
            (.trace, 1), (.debug, 5), (.info, 9), (.notice, 10), (.warning, 13), (.error, 17), (.critical, 21),
        ]
        for (level, number) in expected {
            #expect(OTLPLogSink.severity(level).0.rawValue == number, "\(level)")
        }
    }

    @Test("records logged through JSONLogHandler with the sink reach the collector")
    func jsonLogHandlerToCollector() async throws {
        let server = try await TestCollector.start()
        let otel = OTLPTracing(configuration: OTLPTracingTests.configuration(server))
        let logger = Logger(label: "orders") { label in
            JSONLogHandler(label: label, serviceName: "order-service", output: nil, recordSink: otel.logs)
        }
        logger.info("order accepted", metadata: ["order.id": "17"])
        // The SDK's own logger is never exported: a failed export would feed itself.
        Logger(label: "causeway.otlp") { label in
            JSONLogHandler(label: label, serviceName: "order-service", output: nil, recordSink: otel.logs)
        }.error("export failed")
        await otel.service.shutdown()
        try await server.stop()
        let logs = try #require(server.received.first { $0.uri == "/v1/logs" }).logs()
        let records = logs.resourceLogs.flatMap { $0.scopeLogs.flatMap(\.logRecords) }
        #expect(records.map(\.body) == [.string("order accepted")])
        #expect(records.first?.attributes[key: "order.id"] == .string("17"))
    }
}
