import EventTracing
public import Logging
public import ServiceLifecycle
public import Telemetry
public import Tracing

/// The SDK in one value: a ``OTLPTracer`` to bootstrap, a ``OTLPLogSink`` for log
/// records, and a swift-service-lifecycle ``service`` that runs the export loops and
/// flushes on shutdown.
///
/// ```swift
/// let otel = OTLPTracing(configuration: .fromEnvironment(serviceName: "order-service"))
/// InstrumentationSystem.bootstrap(otel.tracer)
/// let group = ServiceGroup(services: [otel.service, server], logger: logger)
/// try await group.run()
/// ```
public struct OTLPTracing: Sendable {
    /// The tracer to bootstrap with `InstrumentationSystem.bootstrap(_:)`.
    public let tracer: OTLPTracer
    /// Where log records go to be exported with the spans' resource.
    public let logs: OTLPLogSink
    /// Runs the export loops; add it to the `ServiceGroup` of the process.
    public let service: OTLPTracingService
    /// The resource sent with every span and log record.
    public let resource: Resource

    /// Sets up the tracer, the processors and the exporter. Nothing is sent until
    /// ``service`` runs.
    public init(configuration: OTLPConfiguration, logger: Logger = Logger(label: "causeway.otlp")) {
        let resource = configuration.resource
        self.resource = resource
        let scope = InstrumentationScope(name: "causeway.event-tracing", version: OTLPResource.sdkVersion)
        let propagator = EventContextPropagator()
        guard !configuration.isDisabled else {
            tracer = OTLPTracer(
                sampler: configuration.sampler, limits: configuration.spanLimits, propagator: propagator,
                processor: nil)
            logs = OTLPLogSink(processor: nil)
            service = OTLPTracingService(spanProcessor: nil, logProcessor: nil, exporter: nil)
            return
        }
        let exporter = OTLPHTTPExporter(configuration: configuration.exporter, logger: logger)
        let spanProcessor = BatchProcessor<Telemetry.Span>(
            configuration: configuration.spanBatch, dropReporter: (logger, "spans", "OTEL_BSP_MAX_QUEUE_SIZE")
        ) { spans in
            let request = ExportTraceServiceRequest(resourceSpans: [
                ResourceSpans(resource: resource, scopeSpans: [ScopeSpans(scope: scope, spans: spans)])
            ])
            _ = await exporter.export(request)
        }
        let logProcessor = BatchProcessor<LogRecord>(
            configuration: configuration.logBatch, dropReporter: (logger, "log records", "OTEL_BLRP_MAX_QUEUE_SIZE")
        ) { records in
            let request = ExportLogsServiceRequest(resourceLogs: [
                ResourceLogs(resource: resource, scopeLogs: [ScopeLogs(scope: scope, logRecords: records)])
            ])
            _ = await exporter.export(request)
        }
        let tracesProcessor = configuration.exportsTraces ? spanProcessor : nil
        let logsProcessor = configuration.exportsLogs ? logProcessor : nil
        tracer = OTLPTracer(
            sampler: configuration.sampler, limits: configuration.spanLimits, propagator: propagator,
            processor: tracesProcessor)
        logs = OTLPLogSink(processor: logsProcessor)
        service = OTLPTracingService(spanProcessor: tracesProcessor, logProcessor: logsProcessor, exporter: exporter)
    }
}

/// Takes log records to export over OTLP. Never waits: a record that finds the queue
/// full is dropped and counted.
public struct OTLPLogSink: Sendable {
    let processor: BatchProcessor<LogRecord>?

    /// Queues `record`. A record without a trace ID gets the trace and span IDs and
    /// flags of the span current in this task, so that logs and spans join up.
    public func emit(_ record: LogRecord, context: ServiceContext? = .current) {
        guard let processor else { return }
        var record = record
        if record.traceID == nil, let spanContext = context?.spanContext {
            record.traceID = TraceID(high: spanContext.traceID.high, low: spanContext.traceID.low)
            record.spanID = SpanID(spanContext.spanID.value)
            record.flags = UInt32(spanContext.flags.rawValue)
        }
        processor.enqueue(record)
    }

    /// Exports every queued record now.
    public func forceFlush() async {
        await processor?.forceFlush()
    }
}

/// The export loops of the span and log processors as a swift-service-lifecycle
/// `Service`: on graceful shutdown it stops taking items, exports what is queued and
/// closes the HTTP client.
public struct OTLPTracingService: Service {
    let spanProcessor: BatchProcessor<Telemetry.Span>?
    let logProcessor: BatchProcessor<LogRecord>?
    let exporter: OTLPHTTPExporter?

    /// Runs until graceful shutdown (or cancellation), then flushes and returns.
    public func run() async throws {
        await withTaskGroup(of: Void.self) { group in
            if let spanProcessor { group.addTask { await spanProcessor.run() } }
            if let logProcessor { group.addTask { await logProcessor.run() } }
            try? await gracefulShutdown()
            spanProcessor?.shutdown()
            logProcessor?.shutdown()
            await group.waitForAll()
        }
        await exporter?.shutdown()
    }

    /// Exports every queued span and log record now.
    public func forceFlush() async {
        await spanProcessor?.forceFlush()
        await logProcessor?.forceFlush()
    }

    /// Stops taking spans and log records, exports what is queued and closes the HTTP
    /// client: for programs that do not run a `ServiceGroup`. ``run()`` does the same on
    /// graceful shutdown.
    public func shutdown() async {
        await spanProcessor?.shutdownAndDrain()
        await logProcessor?.shutdownAndDrain()
        await exporter?.shutdown()
    }

    /// How many spans were dropped because the queue was full.
    public var droppedSpanCount: Int { spanProcessor?.droppedCount ?? 0 }
    /// How many log records were dropped because the queue was full.
    public var droppedLogRecordCount: Int { logProcessor?.droppedCount ?? 0 }
}
