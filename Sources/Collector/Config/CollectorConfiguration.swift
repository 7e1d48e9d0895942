package import Yams

/// The collector's settings: `config/collector.yaml` in the OpenTelemetry Collector's
/// shape (`receivers`, `processors`, `exporters`, `service.pipelines`) plus a `causeway`
/// section for what is Causeway's own (data directory, store, query API, correlation).
package struct CollectorConfiguration {
    /// One HTTP receiver: where it listens and what it accepts.
    package struct Receiver: Sendable, Equatable {
        package var host: String
        package var port: Int
        /// The largest body accepted, counted after decompression.
        package var maxRequestBodySize: Int
        /// When set, requests must carry `Authorization: Bearer <token>`.
        package var bearerToken: String?

        package init(host: String, port: Int, maxRequestBodySize: Int = 20 * 1024 * 1024, bearerToken: String? = nil) {
            self.host = host
            self.port = port
            self.maxRequestBodySize = maxRequestBodySize
            self.bearerToken = bearerToken
        }
    }

    /// The receivers and exporters of one signal (`service.pipelines.traces` or `.logs`).
    package struct Pipeline: Sendable, Equatable {
        package var receivers: [String]
        package var exporters: [String]

        package init(receivers: [String], exporters: [String]) {
            self.receivers = receivers
            self.exporters = exporters
        }
    }

    /// The OTLP/HTTP receiver, when configured.
    package var otlp: Receiver?
    /// The Zipkin v2 receiver, when configured.
    package var zipkin: Receiver?
    /// The most heap the collector should hold (`memory_limiter.limit_bytes`).
    package var memoryLimitBytes: Int = 512 * 1024 * 1024
    /// Headroom under `memoryLimitBytes` for requests being read and decoded; nil is a fifth
    /// of the limit. Data is refused above `memoryLimitBytes - spike`.
    package var memorySpikeLimitBytes: Int?
    /// How often the heap in use is read.
    package var memoryCheckInterval: Duration = .milliseconds(250)
    /// The level above which receivers refuse data: the bound on queued decoded batches
    /// and on the process's heap.
    package var memorySoftLimitBytes: Int {
        max(1, memoryLimitBytes - (memorySpikeLimitBytes ?? memoryLimitBytes / 5))
    }
    /// The bound on queued decoded batches: the soft limit less what the stitcher may hold
    /// (its state grows from the queued spans while they wait for the store, and the
    /// process's heap must hold both), but never under a quarter of the soft limit.
    package var pipelineQueueLimitBytes: Int {
        guard let stitcher else { return memorySoftLimitBytes }
        return max(memorySoftLimitBytes / 4, memorySoftLimitBytes - stitcher.footprintBoundBytes)
    }
    /// The `Retry-After` answered while the pipeline is full.
    package var retryAfterSeconds: Int = 1
    /// Every exporter section by name (`otlphttp/jaeger`), in file order, for ExporterFactory.
    package var exporters: [(name: String, node: Node?)] = []
    package var traces: Pipeline? = Pipeline(receivers: ["otlp", "zipkin"], exporters: [])
    package var logs: Pipeline? = Pipeline(receivers: ["otlp"], exporters: [])
    package var dataDirectory: String = "./.causeway"
    package var queryHost: String = "127.0.0.1"
    package var queryPort: Int = 8686
    /// Spans and logs older than this are removed.
    package var retentionMaxAgeSeconds: Int = 72 * 3600
    /// The store is trimmed, oldest first, once its data exceeds this many bytes.
    package var retentionMaxBytes: Int = 1024 * 1024 * 1024
    /// How often the retention sweep runs.
    package var retentionIntervalSeconds: Int = 60
    /// The chain stitcher's settings (`processors.stitcher`); nil when the traces pipeline
    /// does not list `stitcher` among its processors.
    package var stitcher: StitcherConfiguration? = StitcherConfiguration()
    /// Attributes, on the record or its resource, whose value is the correlation ID; the first present wins.
    package var correlationAttributes: [String] = ["messaging.message.conversation_id", "correlation.id", "correlation_id"]

    /// The defaults: OTLP on 127.0.0.1:4318, Zipkin on 127.0.0.1:9411, no exporters.
    package init() {
        otlp = Receiver(host: "127.0.0.1", port: 4318)
        zipkin = Receiver(host: "127.0.0.1", port: 9411)
    }

    /// Adds (or replaces) an exporter and puts it in the pipelines of the given signals.
    package mutating func addExporter(name: String, node: Node?, traces addToTraces: Bool, logs addToLogs: Bool) {
        exporters.removeAll { $0.name == name }
        exporters.append((name, node))
        if addToTraces {
            if traces == nil { traces = Pipeline(receivers: ["otlp", "zipkin"], exporters: []) }
            if !traces!.exporters.contains(name) { traces!.exporters.append(name) }
        }
        if addToLogs {
            if logs == nil { logs = Pipeline(receivers: ["otlp"], exporters: []) }
            if !logs!.exporters.contains(name) { logs!.exporters.append(name) }
        }
    }
}

/// A fault in the configuration file: the key's dotted path, its line and what is wrong.
package struct CollectorConfigurationError: Error, CustomStringConvertible, Equatable {
    package var key: String
    package var line: Int?
    package var reason: String

    package init(key: String, line: Int?, reason: String) {
        self.key = key
        self.line = line
        self.reason = reason
    }

    package var description: String {
        let place = line.map { "line \($0): " } ?? ""
        return "\(place)\(key.isEmpty ? "configuration" : key): \(reason)"
    }
}
