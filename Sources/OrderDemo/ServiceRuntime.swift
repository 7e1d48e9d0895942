public import EventTracing
public import EventTracingOTLP
public import KafkaClient
public import Logging

/// What every demo service runs on: its own tracer and log export (so that each has its
/// own `service.name`, even when the four share a process), JSON logs, and a Kafka
/// client.
public struct ServiceRuntime: Sendable {
    public let name: String
    public let tracing: OTLPTracing
    public let logger: Logger
    public let cluster: KafkaCluster
    public let producer: KafkaProducer

    /// - Parameter logOutput: Where the JSON log lines go (`nil`: none; the records still
    ///   go to the collector).
    public init(name: String, settings: DemoSettings, logOutput: JSONLogHandler.Output?) throws {
        var otlp = OTLPConfiguration(serviceName: name, serviceVersion: nil)
        let base = settings.collectorEndpoint.hasSuffix("/") ? String(settings.collectorEndpoint.dropLast()) : settings.collectorEndpoint
        otlp.exporter.tracesEndpoint = base + "/v1/traces"
        otlp.exporter.logsEndpoint = base + "/v1/logs"
        otlp.exporter.compression = .gzip
        otlp.spanBatch.scheduleDelay = settings.exportInterval
        otlp.logBatch.scheduleDelay = settings.exportInterval
        let tracing = OTLPTracing(configuration: otlp)
        self.name = name
        self.tracing = tracing
        self.logger = Logger(label: name) { label in
            JSONLogHandler(label: label, serviceName: name, output: logOutput, recordSink: tracing.logs, instrument: tracing.tracer)
        }
        var client = KafkaClientConfiguration(bootstrapServers: settings.bootstrapServers, clientID: name)
        client.requestTimeout = .seconds(30)
        cluster = try KafkaCluster(configuration: client, logger: logger)
        producer = KafkaProducer(cluster: cluster, tracer: tracing.tracer)
    }

    /// Runs `body` with the span and log export loops beside it. When `body` returns or
    /// throws (or the task is cancelled), what is still buffered is sent and the Kafka
    /// connections close.
    public func run(_ body: @escaping @Sendable () async throws -> Void) async throws {
        let export = Task { try await tracing.service.run() }
        do {
            try await body()
        } catch {
            await shutdown(export)
            throw error
        }
        await shutdown(export)
    }

    private func shutdown(_ export: Task<Void, any Error>) async {
        // Drained outside the cancelled task, so that the last exports are not cancelled too.
        await Task.detached { [tracing] in await tracing.service.shutdown() }.value
        export.cancel()
        _ = await export.result
        await cluster.shutdown()
    }
}
