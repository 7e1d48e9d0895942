import Foundation
import Yams

/// Where the demo's services find the broker and the collector (config/demo.yaml).
public struct DemoSettings: Sendable {
    /// `host:port` of the Kafka brokers: the built-in one or a real cluster.
    public var bootstrapServers = ["127.0.0.1:9092"]
    /// The collector's OTLP/HTTP base URL; spans and logs go to `/v1/traces` and `/v1/logs`.
    public var collectorEndpoint = "http://127.0.0.1:4318"
    /// The collector's query API, where the scenario reads the chains back.
    public var collectorQueryURL = "http://127.0.0.1:8686"
    /// Where the order service listens for `POST /orders`.
    public var orderHost = "127.0.0.1"
    public var orderPort = 8000
    /// Partitions of each topic the demo creates.
    public var partitions: Int32 = 3
    /// How often the services send their spans and logs.
    public var exportInterval: Duration = .milliseconds(500)

    // What `causeway demo` runs in its own process beside the services.

    /// The built-in broker's port; 0 picks any free port.
    public var brokerPort = 9092
    /// The built-in broker's Prometheus /metrics port; 0 picks any free port, -1 turns it off.
    public var brokerMetricsPort = 9644
    /// The built-in collector's ports (OTLP/HTTP, Zipkin, query API); 0 picks any free port.
    public var collectorOTLPPort = 4318
    public var collectorZipkinPort = 9411
    public var collectorHTTPPort = 8686
    /// The stitcher's idle window in the demo: short, so that chains are final soon after
    /// the last service is done.
    public var chainIdleWindow: Duration = .seconds(2)
    /// Where the demo keeps the broker's log, the collector's store and the services' JSON logs.
    public var dataDirectory = "./.causeway/demo"

    public init() {}

    /// Reads a demo.yaml; keys not given keep their defaults, unknown keys are an error
    /// that names them.
    public static func load(path: String) throws -> DemoSettings {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw DemoSettingsError(message: "\(path): cannot read: \(error.localizedDescription)")
        }
        do {
            return try parse(text)
        } catch let error as DemoSettingsError {
            throw DemoSettingsError(message: "\(path): \(error.message)")
        }
    }

    static func parse(_ text: String) throws -> DemoSettings {
        var settings = DemoSettings()
        let node: Node?
        do {
            node = try Yams.compose(yaml: text)
        } catch {
            throw DemoSettingsError(message: "not YAML: \(error)")
        }
        guard let node else { return settings }
        guard let mapping = node.mapping else { throw DemoSettingsError(message: "the top level must be a mapping") }
        for (keyNode, value) in mapping {
            let key = keyNode.string ?? ""
            switch key {
            case "bootstrap_servers":
                if let list = value.sequence { settings.bootstrapServers = list.compactMap(\.string) } else if let one = value.string {
                    settings.bootstrapServers = one.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
                }
                guard !settings.bootstrapServers.isEmpty else { throw DemoSettingsError(message: "bootstrap_servers is empty") }
            case "collector_endpoint": settings.collectorEndpoint = try string(value, key)
            case "collector_query_url": settings.collectorQueryURL = try string(value, key)
            case "order_host": settings.orderHost = try string(value, key)
            case "order_port": settings.orderPort = try port(value, key)
            case "partitions":
                guard let count = value.int, (1...1000).contains(count) else { throw DemoSettingsError(message: "partitions must be from 1 to 1000, got \(value.string ?? "?")") }
                settings.partitions = Int32(count)
            case "export_interval": settings.exportInterval = try duration(value, key)
            case "broker_port": settings.brokerPort = try port(value, key)
            case "broker_metrics_port":
                guard let port = value.int, (-1...65535).contains(port) else {
                    throw DemoSettingsError(message: "broker_metrics_port must be a port from 0 to 65535 or -1, got \(value.string ?? "?")")
                }
                settings.brokerMetricsPort = port
            case "collector_otlp_port": settings.collectorOTLPPort = try port(value, key)
            case "collector_zipkin_port": settings.collectorZipkinPort = try port(value, key)
            case "collector_http_port": settings.collectorHTTPPort = try port(value, key)
            case "chain_idle_window": settings.chainIdleWindow = try duration(value, key)
            case "data_dir": settings.dataDirectory = try string(value, key)
            default: throw DemoSettingsError(message: "unknown key \"\(key)\"")
            }
        }
        return settings
    }

    private static func string(_ node: Node, _ key: String) throws -> String {
        guard let text = node.string, !text.isEmpty else { throw DemoSettingsError(message: "\(key) must be a non-empty string") }
        return text
    }

    private static func port(_ node: Node, _ key: String) throws -> Int {
        guard let port = node.int, (0...65535).contains(port) else {
            throw DemoSettingsError(message: "\(key) must be a port from 0 to 65535, got \(node.string ?? "?")")
        }
        return port
    }

    /// `500ms`, `2s`, `1m`.
    private static func duration(_ node: Node, _ key: String) throws -> Duration {
        let text = node.string ?? ""
        for (suffix, scale) in [("ms", 1), ("s", 1000), ("m", 60_000)] where text.hasSuffix(suffix) {
            if let value = Int(text.dropLast(suffix.count)), value >= 0 { return .milliseconds(value * scale) }
        }
        throw DemoSettingsError(message: "\(key) must be a duration such as 500ms, 2s or 1m, got \"\(text)\"")
    }
}

/// A demo.yaml that cannot be used, with the key at fault.
public struct DemoSettingsError: Error, CustomStringConvertible {
    public var message: String
    public var description: String { message }
}
