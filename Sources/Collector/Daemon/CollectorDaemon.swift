import Foundation
import Hummingbird
package import Logging
import NIOCore
package import Prometheus
import ServiceLifecycle
package import UnixSignals
import Metrics
import Telemetry
import Yams

/// The collector: receivers, pipeline, store, exporters and the query API, run as one
/// swift-service-lifecycle group. Graceful shutdown stops the servers first (in-flight
/// requests finish), then drains the pipeline into the store and exporters.
package final class CollectorDaemon: Sendable {
    /// The ports the servers bound (useful when configured as 0).
    package struct BoundPorts: Sendable, Equatable {
        package var otlp: Int?
        package var zipkin: Int?
        package var http: Int

        /// The one log line scripts and tests parse.
        package var logLine: String {
            var parts: [String] = []
            if let otlp { parts.append("otlp=127.0.0.1:\(otlp)") }
            if let zipkin { parts.append("zipkin=127.0.0.1:\(zipkin)") }
            parts.append("http=127.0.0.1:\(http)")
            return "listening " + parts.joined(separator: " ")
        }
    }

    package let store: TelemetryStore
    package let pipeline: TelemetryPipeline
    /// The chain stitcher, unless the configuration turned it off.
    package let stitcher: StitchingConsumer?
    private let configuration: CollectorConfigurationSnapshot
    private let registry: PrometheusCollectorRegistry?
    private let logger: Logger

    /// Opens the store and builds the exporters; throws on a configuration fault before
    /// anything listens.
    ///
    /// - Parameters:
    ///   - registry: what `/metrics` shows (the registry bootstrapped into MetricsSystem).
    ///   - extraConsumers: further pipeline consumers taking both signals (the stitcher's place).
    package init(
        configuration: CollectorConfiguration, registry: PrometheusCollectorRegistry?, logger: Logger,
        extraConsumers: [any TelemetryConsumer] = []
    ) throws {
        let collectorDirectory = (configuration.dataDirectory as NSString).appendingPathComponent("collector")
        store = try TelemetryStore(
            directory: collectorDirectory,
            retention: .init(
                maxAgeSeconds: configuration.retentionMaxAgeSeconds, maxBytes: configuration.retentionMaxBytes,
                intervalSeconds: configuration.retentionIntervalSeconds),
            correlationAttributes: configuration.correlationAttributes,
            logger: logger)
        var consumers: [(consumer: any TelemetryConsumer, traces: Bool, logs: Bool)] = [
            (store, configuration.traces != nil, configuration.logs != nil)
        ]
        let traceExporters = Set(configuration.traces?.exporters ?? [])
        let logExporters = Set(configuration.logs?.exporters ?? [])
        var exporters: [(consumer: any TelemetryConsumer, traces: Bool, logs: Bool)] = []
        var stitchedExporters: [any TelemetryConsumer] = []
        for (name, node) in configuration.exporters where traceExporters.contains(name) || logExporters.contains(name) {
            let settings = try ExporterFactory.settings(name: name, configuration: node)
            // A stitched exporter gets chains from the recorder, not spans as received.
            let stitched = traceExporters.contains(name) && settings.stitched
            if stitched && configuration.stitcher == nil {
                throw ExporterConfigurationError(
                    name: name, line: node?.mark?.line, reason: "stitched: true needs the stitcher in the traces pipeline's processors")
            }
            let exporter = try ExporterFactory.make(
                name: name, configuration: node, dataDirectory: collectorDirectory, logger: logger)
            if stitched { stitchedExporters.append(exporter) }
            exporters.append((exporter, traceExporters.contains(name) && !stitched, logExporters.contains(name)))
        }
        // Shutdown goes through the consumers in order: the stitcher finalizes its open
        // chains, the recorder stores (and hands to stitched exporters) every one of them,
        // then the exporters drain.
        if let stitcherConfiguration = configuration.stitcher {
            let recorder = ChainRecorder(store: store, stitchedExporters: stitchedExporters, logger: logger)
            // Chains an earlier run held within the retention are taken back (read at
            // start, before the first span is stitched), so a restart does not split them.
            let retention = UInt64(stitcherConfiguration.retention.components.seconds) * 1_000_000_000
            let stitcher = StitchingConsumer(configuration: stitcherConfiguration, sink: recorder, restore: { [store, logger] take in
                let now = StitchingConsumer.wallClock()
                do {
                    let taken = try await store.chainsToRestore(
                        endingAfter: now - min(now, retention), spanLimit: stitcherConfiguration.maxRetainedSpans, deliver: take)
                    if taken.chains > 0 {
                        logger.info("stitcher took back the chains an earlier run stored within its retention", metadata: [
                            "chains": "\(taken.chains)", "spans": "\(taken.spans)",
                        ])
                    }
                } catch {
                    logger.warning("stitcher could not read the chains an earlier run stored; late spans of them start new chains", metadata: ["error": "\(error)"])
                }
            })
            consumers.append((stitcher, true, false))
            consumers.append((recorder, false, false))
            self.stitcher = stitcher
        } else {
            self.stitcher = nil
        }
        for consumer in extraConsumers { consumers.append((consumer, true, true)) }
        consumers += exporters
        pipeline = TelemetryPipeline(
            consumers: consumers, limitBytes: configuration.pipelineQueueLimitBytes,
            heapLimit: HeapLimit(softLimitBytes: configuration.memorySoftLimitBytes, checkInterval: configuration.memoryCheckInterval),
            logger: logger)
        self.configuration = CollectorConfigurationSnapshot(configuration)
        self.registry = registry
        self.logger = logger
    }

    /// Runs until cancelled or, on one of `signals`, shut down gracefully. `onListening`
    /// is called once, when every server is bound.
    package func run(gracefulShutdownSignals signals: [UnixSignal] = [], onListening: @escaping @Sendable (BoundPorts) async -> Void) async throws {
        let ports = PortCollector(expecting: configuration.serverCount, onListening: onListening)
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = [.init(service: pipeline)]
        if let otlp = configuration.otlp {
            let receiver = OTLPHTTPReceiver(
                pipeline: pipeline, configuration: otlp, retryAfterSeconds: configuration.retryAfterSeconds,
                acceptsTraces: configuration.otlpTraces, acceptsLogs: configuration.otlpLogs, logger: logger)
            services.append(.init(service: application(otlp.host, otlp.port, "otlp", ports) { try await receiver.respond(to: $0) }))
        }
        if let zipkin = configuration.zipkin {
            let receiver = ZipkinReceiver(pipeline: pipeline, configuration: zipkin, retryAfterSeconds: configuration.retryAfterSeconds, logger: logger)
            services.append(.init(service: application(zipkin.host, zipkin.port, "zipkin", ports) { try await receiver.respond(to: $0) }))
        }
        let query = QueryAPI(store: store, pipeline: pipeline, registry: registry, stitcher: stitcher)
        services.append(.init(service: application(configuration.queryHost, configuration.queryPort, "http", ports) { try await query.respond(to: $0) }))
        let group = ServiceGroup(
            configuration: ServiceGroupConfiguration(services: services, gracefulShutdownSignals: signals, logger: logger))
        do {
            try await group.run()
        } catch {
            await store.close()
            throw error
        }
        // The pipeline has drained into the store.
        await store.close()
    }

    private func application(
        _ host: String, _ port: Int, _ name: String, _ ports: PortCollector,
        _ respond: @escaping @Sendable (Request) async throws -> Response
    ) -> some Service {
        var serverLogger = Logger(label: logger.label, factory: { [handler = logger.handler] _ in DeferredMetadataLogHandler(wrapping: handler) })
        serverLogger[metadataKey: "server"] = "\(name)"
        if serverLogger.logLevel < .warning { serverLogger.logLevel = .warning }
        return Application(
            responder: CallbackResponder<BasicRequestContext> { request, _ in try await respond(request) },
            configuration: ApplicationConfiguration(address: .hostname(host, port: port)),
            onServerRunning: { channel in await ports.bound(name, channel.localAddress?.port ?? port) },
            logger: serverLogger)
    }
}

/// The parts of the configuration the running daemon needs, as Sendable values.
private struct CollectorConfigurationSnapshot: Sendable {
    var otlp: CollectorConfiguration.Receiver?
    var zipkin: CollectorConfiguration.Receiver?
    var otlpTraces: Bool
    var otlpLogs: Bool
    var retryAfterSeconds: Int
    var queryHost: String
    var queryPort: Int

    init(_ configuration: CollectorConfiguration) {
        otlpTraces = configuration.traces?.receivers.contains("otlp") ?? false
        otlpLogs = configuration.logs?.receivers.contains("otlp") ?? false
        otlp = (otlpTraces || otlpLogs) ? configuration.otlp : nil
        zipkin = (configuration.traces?.receivers.contains("zipkin") ?? false) ? configuration.zipkin : nil
        retryAfterSeconds = configuration.retryAfterSeconds
        queryHost = configuration.queryHost
        queryPort = configuration.queryPort
    }

    var serverCount: Int { 1 + (otlp == nil ? 0 : 1) + (zipkin == nil ? 0 : 1) }
}

/// Gathers the bound ports and reports them once all servers are up.
private actor PortCollector {
    let expecting: Int
    let onListening: @Sendable (CollectorDaemon.BoundPorts) async -> Void
    var ports: [String: Int] = [:]

    init(expecting: Int, onListening: @escaping @Sendable (CollectorDaemon.BoundPorts) async -> Void) {
        self.expecting = expecting
        self.onListening = onListening
    }

    func bound(_ name: String, _ port: Int) async {
        ports[name] = port
        guard ports.count == expecting else { return }
        await onListening(CollectorDaemon.BoundPorts(otlp: ports["otlp"], zipkin: ports["zipkin"], http: ports["http"] ?? 0))
    }
}

extension CollectorDaemon {
    /// Makes swift-metrics report into a new Prometheus registry (once per process) and
    /// returns the registry for `/metrics`.
    package static func bootstrapMetrics() -> PrometheusCollectorRegistry {
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
        return registry
    }

    /// Runs until SIGTERM or SIGINT, then shuts down gracefully.
    package func runUntilTerminated(onListening: @escaping @Sendable (BoundPorts) async -> Void) async throws {
        try await run(gracefulShutdownSignals: [.sigterm, .sigint], onListening: onListening)
    }
}

extension CollectorConfiguration {
    /// Adds the exporter `name` with `endpoint: URL` as its only setting, as the
    /// `--export-otlp` and `--export-zipkin` flags do.
    /// `stitched` sets `stitched: true`, as `--stitched-export` does for the Zipkin exporter.
    package mutating func addEndpointExporter(name: String, endpoint: String, traces: Bool, logs: Bool, stitched: Bool = false) {
        var pairs = [(Node("endpoint"), Node(endpoint))]
        if stitched { pairs.append((Node("stitched"), Node("true"))) }
        let node = Node.mapping(Node.Mapping(pairs))
        addExporter(name: name, node: node, traces: traces, logs: logs)
    }
}
