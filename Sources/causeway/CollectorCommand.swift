import ArgumentParser
import Collector
import Logging

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// `causeway collector`: receive, store, query and export spans and logs.
struct CollectorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "collector",
        abstract: "Run the collector: OTLP/HTTP and Zipkin receivers, the store, the query API and exporters.",
        discussion: """
            Reads its settings from --config (the shape of config/collector.yaml); the flags \
            win over the file. Ports given as 0 mean any free port; once every server is \
            bound, one line "listening otlp=127.0.0.1:PORT zipkin=127.0.0.1:PORT \
            http=127.0.0.1:PORT" is printed. SIGTERM or SIGINT stop the servers, then \
            deliver everything accepted to the store and exporters before exiting.
            """
    )

    @Option(help: "The configuration file (see config/collector.yaml). Without it, the defaults.")
    var config: String?

    @Option(help: "The folder for the store and exporter queues (default ./.causeway).")
    var dataDir: String?

    @Option(help: "The OTLP/HTTP receiver's port (default 4318; 0 = any free port).")
    var otlpPort: Int?

    @Option(help: "The Zipkin receiver's port (default 9411; 0 = any free port).")
    var zipkinPort: Int?

    @Option(help: "The query API, /metrics and /healthz port (default 8686; 0 = any free port).")
    var httpPort: Int?

    @Option(help: "Also export traces and logs over OTLP/HTTP to this base URL (http://host:4318) or full /v1/traces URL.")
    var exportOtlp: String?

    @Option(help: "Also export traces as Zipkin v2 JSON to this /api/v2/spans URL.")
    var exportZipkin: String?

    @Flag(help: "Send --export-zipkin each finalized chain rewritten into one trace (consumers re-parented under their producer) instead of spans as received.")
    var stitchedExport = false

    func validate() throws {
        for (name, port) in [("--otlp-port", otlpPort), ("--zipkin-port", zipkinPort), ("--http-port", httpPort)] {
            if let port, !(0...65535).contains(port) {
                throw ValidationError("\(name) must be from 0 to 65535, got \(port)")
            }
        }
        if stitchedExport && exportZipkin == nil {
            throw ValidationError("--stitched-export applies to the Zipkin exporter: give --export-zipkin URL too")
        }
    }

    func run() async throws {
        var configuration: CollectorConfiguration
        do {
            configuration = try config.map { try CollectorConfiguration.load(path: $0) } ?? CollectorConfiguration()
        } catch let error as CollectorConfigurationError {
            throw CollectorStartupError(message: "\(config ?? "configuration"): \(error)")
        }
        if let dataDir { configuration.dataDirectory = dataDir }
        if let otlpPort { configuration.otlp?.port = otlpPort }
        if let zipkinPort { configuration.zipkin?.port = zipkinPort }
        if let httpPort { configuration.queryPort = httpPort }
        if let exportOtlp { configuration.addEndpointExporter(name: "otlphttp", endpoint: exportOtlp, traces: true, logs: true) }
        if let exportZipkin { configuration.addEndpointExporter(name: "zipkin", endpoint: exportZipkin, traces: true, logs: false, stitched: stitchedExport) }

        let registry = CollectorDaemon.bootstrapMetrics()
        var logger = Logger(label: "causeway.collector")
        logger.logLevel = .info
        let daemon: CollectorDaemon
        do {
            daemon = try CollectorDaemon(configuration: configuration, registry: registry, logger: logger)
        } catch {
            throw CollectorStartupError(message: "cannot start: \(error)")
        }
        try await daemon.runUntilTerminated { ports in
            print(ports.logLine)
            // stdout is a pipe when a script waits for this line: push it out now.
            fflush(nil)
        }
    }
}

/// Why the collector did not start: printed as `Error: …`, exit status 1.
struct CollectorStartupError: Error, CustomStringConvertible {
    var message: String

    var description: String { message }
}
