public import Foundation
import Yams

/// Everything `config/broker.yaml` sets. Flags given to `causeway broker` override it.
public struct BrokerConfiguration: Sendable {
    public var host = "127.0.0.1"
    public var port = 9092
    /// The host clients are told to connect to (Metadata, FindCoordinator).
    public var advertisedHost = "127.0.0.1"
    /// The port clients are told to connect to; the bound port when nil (Kafka's
    /// advertised.listeners, for a broker behind a proxy or a port mapping).
    public var advertisedPort: Int?
    /// Prometheus `/metrics`; 0 is any free port, -1 turns it off.
    public var metricsPort = 9644
    /// Where partition logs and committed offsets are kept.
    public var dataDirectory = URL(fileURLWithPath: ".causeway/broker")
    /// Keep everything in memory only (tests, throwaway demos).
    public var inMemory = false
    public var autoCreateTopics = true
    public var defaultPartitions = 3
    public var maxFrameBytes = 100 << 20
    public var clusterID = "causeway"
    /// How often group sessions are checked for expiry and the flush/retention policies run.
    public var maintenanceIntervalMs = 250
    package var storage = StorageOptions()

    public init() {}

    public var segmentBytes: Int {
        get { storage.segmentBytes }
        set { storage.segmentBytes = newValue }
    }
    public var flushIntervalMs: Int {
        get { storage.flushIntervalMs }
        set { storage.flushIntervalMs = newValue }
    }
    public var retentionMs: Int64? {
        get { storage.retentionMs }
        set { storage.retentionMs = newValue }
    }
    public var retentionBytes: Int64? {
        get { storage.retentionBytes }
        set { storage.retentionBytes = newValue }
    }
}

/// A broker config file that cannot be used, with the line at fault.
public struct BrokerConfigurationError: Error, CustomStringConvertible {
    public var description: String
}

extension BrokerConfiguration {
    /// Reads a config file: `${env:VAR}` is replaced by the variable's value first, then
    /// every key must be one this broker knows.
    public static func load(path: String, environment: [String: String] = ProcessInfo.processInfo.environment) throws -> BrokerConfiguration {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw BrokerConfigurationError(description: "\(path): cannot read: \(error.localizedDescription)")
        }
        return try parse(text, source: path, environment: environment)
    }

    static func substitute(_ text: String, source: String, environment: [String: String]) throws -> String {
        var result = ""
        var rest = Substring(text)
        while let start = rest.range(of: "${env:") {
            result += rest[..<start.lowerBound]
            guard let end = rest[start.upperBound...].firstIndex(of: "}") else {
                throw BrokerConfigurationError(description: "\(source): unterminated ${env:…}")
            }
            let name = String(rest[start.upperBound..<end])
            guard let value = environment[name] else {
                throw BrokerConfigurationError(description: "\(source): environment variable \(name) is not set")
            }
            result += value
            rest = rest[rest.index(after: end)...]
        }
        return result + rest
    }

    public static func parse(_ yaml: String, source: String = "broker.yaml", environment: [String: String] = [:]) throws -> BrokerConfiguration {
        var configuration = BrokerConfiguration()
        let root: Node?
        do {
            root = try Yams.compose(yaml: yaml)
        } catch {
            throw BrokerConfigurationError(description: "\(source): not valid YAML: \(error)")
        }
        guard let root else { return configuration }
        guard let mapping = root.mapping else {
            throw BrokerConfigurationError(description: "\(source):\(root.mark?.line ?? 1): the file must be a mapping of keys to values")
        }
        for (keyNode, value) in mapping {
            let key = keyNode.string ?? ""
            let line = keyNode.mark?.line ?? 0
            // ${env:VAR} is replaced inside values only, so comments may mention it.
            guard let scalar = value.scalar else {
                throw BrokerConfigurationError(description: "\(source):\(line): \(key): expected a single value")
            }
            let raw = try substitute(scalar.string, source: "\(source):\(line)", environment: environment)
            let isNull = raw == scalar.string && value.null != nil
            func fail(_ expected: String) -> BrokerConfigurationError {
                BrokerConfigurationError(description: "\(source):\(line): \(key): expected \(expected), got '\(raw)'")
            }
            func int() throws -> Int {
                guard let number = Int(raw.trimmingCharacters(in: .whitespaces)) else { throw fail("an integer") }
                return number
            }
            func bool() throws -> Bool {
                switch raw.lowercased() {
                case "true", "yes", "on": return true
                case "false", "no", "off": return false
                default: throw fail("true or false")
                }
            }
            func string() throws -> String { raw }
            func optionalInt() throws -> Int? {
                if isNull { return nil }
                return try int()
            }
            switch key {
            case "host": configuration.host = try string()
            case "port": configuration.port = try int()
            case "advertised_host": configuration.advertisedHost = try string()
            case "advertised_port": configuration.advertisedPort = try optionalInt()
            case "metrics_port": configuration.metricsPort = try int()
            case "data_dir": configuration.dataDirectory = URL(fileURLWithPath: try string())
            case "storage":
                switch try string() {
                case "disk": configuration.inMemory = false
                case "memory": configuration.inMemory = true
                default: throw fail("disk or memory")
                }
            case "auto_create_topics": configuration.autoCreateTopics = try bool()
            case "default_partitions":
                configuration.defaultPartitions = try int()
                guard configuration.defaultPartitions >= 1 else { throw fail("at least 1") }
            case "max_frame_bytes": configuration.maxFrameBytes = try int()
            case "cluster_id": configuration.clusterID = try string()
            case "segment_bytes": configuration.segmentBytes = try int()
            case "flush_interval_ms": configuration.flushIntervalMs = try int()
            case "retention_ms": configuration.retentionMs = try optionalInt().map(Int64.init)
            case "retention_bytes": configuration.retentionBytes = try optionalInt().map(Int64.init)
            case "maintenance_interval_ms": configuration.maintenanceIntervalMs = try int()
            default:
                throw BrokerConfigurationError(description: "\(source):\(line): unknown key '\(key)'")
            }
        }
        return configuration
    }
}
