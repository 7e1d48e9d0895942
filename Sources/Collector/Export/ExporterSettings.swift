import Foundation
import Yams

/// The body format a queued batch was encoded in; kept in each queue record so a batch
/// queued before a configuration change is still sent with the right `Content-Type`.
enum ExportBodyFormat: UInt8, Sendable {
    case otlpProtobuf = 1
    case otlpJSON = 2
    case zipkinJSON = 3

    var contentType: String {
        switch self {
        case .otlpProtobuf: "application/x-protobuf"
        case .otlpJSON, .zipkinJSON: "application/json"
        }
    }
}

/// Which signal a queued batch carries.
enum ExportSignal: UInt8, Sendable {
    case traces = 1
    case logs = 2
}

/// How an exporter retries a batch that failed for a reason that may pass, in the
/// OpenTelemetry Collector's `retry_on_failure` vocabulary (exporterhelper's BackOffConfig).
struct RetrySettings: Sendable, Equatable {
    var enabled = true
    var initialInterval: Duration = .seconds(5)
    var maxInterval: Duration = .seconds(30)
    /// `nil` retries forever. The OpenTelemetry Collector's default is 300 s; ours is
    /// forever, because the queue is on disk precisely so that an outage loses nothing.
    var maxElapsedTime: Duration?
    var multiplier: Double = 1.5
    var randomizationFactor: Double = 0.5

    /// The delay before retry number `retry` (1 for the first): exponential, capped at
    /// `maxInterval`, spread by ±`randomizationFactor` so that exporters that failed
    /// together do not retry together.
    func backoff(retry: Int, using generator: inout some RandomNumberGenerator) -> Duration {
        let initial = initialInterval.seconds
        var delay = initial * pow(multiplier, Double(max(0, retry - 1)))
        delay = min(delay, maxInterval.seconds)
        if randomizationFactor > 0 {
            let spread = delay * randomizationFactor
            delay = Double.random(in: (delay - spread)...(delay + spread), using: &generator)
        }
        return .nanoseconds(Int64((max(0, delay) * 1e9).rounded()))
    }
}

/// The size bounds of an exporter's on-disk queue (`sending_queue`).
struct QueueLimits: Sendable, Equatable {
    var maxBytes = 256 * 1024 * 1024
    /// The OpenTelemetry Collector's `queue_size`: at most this many batches.
    var maxBatches: Int?
    /// Requests in flight at once (`num_consumers`). The OpenTelemetry Collector's default
    /// is 10; ours is 1, which delivers in order and is plenty for a nearby backend.
    var consumers = 1
}

/// Everything one exporter needs, parsed and checked from its configuration section.
struct ExporterSettings: Sendable {
    var name: String
    /// `nil`: spans are not exported.
    var tracesURL: String?
    /// `nil`: log records are not exported (Zipkin, or an OTLP endpoint for traces only).
    var logsURL: String?
    var tracesFormat: ExportBodyFormat
    var logsFormat: ExportBodyFormat = .otlpProtobuf
    var gzip: Bool
    /// The gzip level (`compression_params.level`): 1 (fastest, the default: ISA-L's
    /// igzip) to 9 (smallest; 2–9 are libdeflate's levels, which mean what zlib's do). At
    /// zlib's usual 6, compressing was about 5 µs of the collector's CPU a span, as much as
    /// receiving and storing it; level 1 costs a fraction of that for bodies about a tenth
    /// larger (BENCHMARKS.md).
    var gzipLevel: Int32 = 1
    var headers: [(name: String, value: String)] = []
    var timeout: Duration = .seconds(10)
    var retry = RetrySettings()
    var queue = QueueLimits()
    /// How long `shutdown()` keeps delivering before it leaves the rest on disk.
    var drainTimeout: Duration = .seconds(5)
    /// A segment file is closed and a new one begun past this size.
    var segmentBytes = 16 * 1024 * 1024
    /// Spans are sent as stitched chains (each finalized chain rewritten into one trace by
    /// `StitchedExport`) instead of as received.
    var stitched = false
}

extension Duration {
    var seconds: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) + Double(attoseconds) / 1e18
    }
}

/// Reads one mapping of an exporter's section, remembering where it is so that every
/// fault names the key path and the line.
struct ConfigurationSection {
    let exporter: String
    /// `""` at the top, `retry_on_failure.` inside that mapping.
    let path: String
    let node: Node?
    private let pairs: [(key: String, keyNode: Node, value: Node)]

    init(exporter: String, path: String = "", node: Node?, allowed: Set<String>) throws {
        self.exporter = exporter
        self.path = path
        self.node = node
        guard let node, node.null == nil else {
            pairs = []
            return
        }
        guard let mapping = node.mapping else {
            throw ExporterConfigurationError(
                name: exporter, line: node.mark?.line,
                reason: "\(path.isEmpty ? "the section" : String(path.dropLast())) must be a mapping of keys to values")
        }
        var pairs: [(String, Node, Node)] = []
        for (keyNode, value) in mapping {
            guard let key = keyNode.string else {
                throw ExporterConfigurationError(name: exporter, line: keyNode.mark?.line, reason: "\(path)keys must be strings")
            }
            guard allowed.contains(key) else {
                throw ExporterConfigurationError(
                    name: exporter, line: keyNode.mark?.line,
                    reason: "unknown key '\(path)\(key)'; expected one of \(allowed.sorted().map { path + $0 }.joined(separator: ", "))")
            }
            pairs.append((key, keyNode, value))
        }
        self.pairs = pairs
    }

    func value(_ key: String) -> Node? {
        guard let value = pairs.last(where: { $0.key == key })?.value, value.null == nil else { return nil }
        return value
    }

    func fault(_ key: String, _ node: Node?, _ reason: String) -> ExporterConfigurationError {
        ExporterConfigurationError(name: exporter, line: node?.mark?.line ?? self.node?.mark?.line, reason: "\(path)\(key): \(reason)")
    }

    func string(_ key: String) throws -> String? {
        guard let node = value(key) else { return nil }
        guard let scalar = node.scalar else { throw fault(key, node, "expected a single value") }
        return scalar.string
    }

    func url(_ key: String) throws -> String? {
        guard let text = try string(key) else { return nil }
        guard let url = URL(string: text), let scheme = url.scheme?.lowercased(), scheme == "http" || scheme == "https",
            let host = url.host, !host.isEmpty
        else { throw fault(key, value(key), "expected an http:// or https:// URL with a host, got '\(text)'") }
        return text
    }

    func bool(_ key: String) throws -> Bool? {
        guard let node = value(key) else { return nil }
        guard let bool = node.bool else { throw fault(key, node, "expected true or false, got '\(node.string ?? "?")'") }
        return bool
    }

    func number(_ key: String) throws -> Double? {
        guard let node = value(key) else { return nil }
        guard let number = node.float, number.isFinite else {
            throw fault(key, node, "expected a number, got '\(node.string ?? "?")'")
        }
        return number
    }

    func positiveInteger(_ key: String) throws -> Int? {
        guard let node = value(key) else { return nil }
        guard let number = node.int, number > 0 else {
            throw fault(key, node, "expected a whole number above 0, got '\(node.string ?? "?")'")
        }
        return number
    }

    /// A Go-style duration as the OpenTelemetry Collector writes them: `10s`, `500ms`,
    /// `1m30s`, `2h`; a bare `0` means zero.
    func duration(_ key: String) throws -> Duration? {
        guard let node = value(key) else { return nil }
        let text = node.string ?? ""
        guard let duration = Self.parseDuration(text) else {
            throw fault(key, node, "expected a duration such as 10s, 500ms or 1m30s, got '\(text)'")
        }
        return duration
    }

    static func parseDuration(_ text: String) -> Duration? {
        if text == "0" { return .zero }
        let units: [(String, Double)] = [("ns", 1), ("us", 1e3), ("µs", 1e3), ("ms", 1e6), ("s", 1e9), ("m", 60e9), ("h", 3600e9)]
        var rest = Substring(text)
        var nanos = 0.0
        guard !rest.isEmpty else { return nil }
        while !rest.isEmpty {
            let number = rest.prefix { $0.isNumber || $0 == "." }
            guard !number.isEmpty, let value = Double(number) else { return nil }
            rest = rest.dropFirst(number.count)
            let unitText = rest.prefix { !($0.isNumber || $0 == ".") }
            guard let unit = units.first(where: { $0.0 == unitText }) else { return nil }
            rest = rest.dropFirst(unitText.count)
            nanos += value * unit.1
        }
        guard nanos < 1e18 else { return nil }
        return .nanoseconds(Int64(nanos))
    }

    /// A size in bytes: a whole number, or one with `KiB`, `MiB`, `GiB` (or `KB`, `MB`, `GB`).
    func byteSize(_ key: String) throws -> Int? {
        guard let node = value(key) else { return nil }
        let text = (node.string ?? "").replacingOccurrences(of: " ", with: "")
        let units: [(String, Int)] = [
            ("KiB", 1 << 10), ("MiB", 1 << 20), ("GiB", 1 << 30), ("KB", 1_000), ("MB", 1_000_000), ("GB", 1_000_000_000), ("B", 1), ("", 1),
        ]
        for (suffix, scale) in units where text.hasSuffix(suffix) {
            if let number = Int(text.dropLast(suffix.count)), number > 0 { return number * scale }
        }
        throw fault(key, node, "expected a size such as 268435456, 512KiB or 256MiB, got '\(text)'")
    }

    func stringMap(_ key: String) throws -> [(name: String, value: String)] {
        guard let node = value(key) else { return [] }
        guard let mapping = node.mapping else { throw fault(key, node, "expected a mapping of names to values") }
        return try mapping.map { pair in
            guard let name = pair.key.string, let value = pair.value.scalar?.string else {
                throw fault(key, pair.key, "expected name: value pairs of text")
            }
            return (name, value)
        }
    }

    func section(_ key: String, allowed: Set<String>) throws -> ConfigurationSection {
        try ConfigurationSection(exporter: exporter, path: "\(path)\(key).", node: value(key), allowed: allowed)
    }
}

extension ExporterSettings {
    static let commonKeys: Set<String> = ["endpoint", "compression", "compression_params", "headers", "timeout", "retry_on_failure", "sending_queue", "stitched"]

    /// The `otlphttp` exporter's section (the OpenTelemetry Collector's otlphttpexporter keys).
    static func otlpHTTP(name: String, node: Node?) throws -> ExporterSettings {
        let section = try ConfigurationSection(
            exporter: name, node: node, allowed: commonKeys.union(["traces_endpoint", "logs_endpoint", "encoding"]))
        var tracesURL: String?
        var logsURL: String?
        if let endpoint = try section.url("endpoint") {
            let trimmed = endpoint.hasSuffix("/") ? String(endpoint.dropLast()) : endpoint
            // A full signal URL is taken as it is (DESIGN.md, "--export-otlp URL"); a base
            // URL gets the signal paths appended, as OTEL_EXPORTER_OTLP_ENDPOINT does.
            if trimmed.hasSuffix("/v1/traces") {
                tracesURL = trimmed
            } else if trimmed.hasSuffix("/v1/logs") {
                logsURL = trimmed
            } else {
                tracesURL = trimmed + "/v1/traces"
                logsURL = trimmed + "/v1/logs"
            }
        }
        if let traces = try section.url("traces_endpoint") { tracesURL = traces }
        if let logs = try section.url("logs_endpoint") { logsURL = logs }
        guard tracesURL != nil || logsURL != nil else {
            throw ExporterConfigurationError(
                name: name, line: node?.mark?.line, reason: "endpoint is required (or traces_endpoint / logs_endpoint)")
        }
        let format: ExportBodyFormat
        switch try section.string("encoding") ?? "proto" {
        case "proto": format = .otlpProtobuf
        case "json": format = .otlpJSON
        case let other: throw section.fault("encoding", section.value("encoding"), "expected proto or json, got '\(other)'")
        }
        var settings = ExporterSettings(
            name: name, tracesURL: tracesURL, logsURL: logsURL, tracesFormat: format, logsFormat: format, gzip: true)
        try settings.readCommon(section, defaultGzip: true)
        return settings
    }

    /// The `zipkin` exporter's section (the OpenTelemetry Collector's zipkinexporter keys).
    static func zipkin(name: String, node: Node?) throws -> ExporterSettings {
        let section = try ConfigurationSection(exporter: name, node: node, allowed: commonKeys.union(["format"]))
        guard let endpoint = try section.url("endpoint") else {
            throw ExporterConfigurationError(
                name: name, line: node?.mark?.line, reason: "endpoint is required (the full URL, such as http://localhost:9411/api/v2/spans)")
        }
        if let format = try section.string("format"), format != "json" {
            throw section.fault("format", section.value("format"), "only json is supported, got '\(format)'")
        }
        var settings = ExporterSettings(name: name, tracesURL: endpoint, logsURL: nil, tracesFormat: .zipkinJSON, gzip: false)
        try settings.readCommon(section, defaultGzip: false)
        return settings
    }

    private mutating func readCommon(_ section: ConfigurationSection, defaultGzip: Bool) throws {
        switch try section.string("compression") {
        case nil: gzip = defaultGzip
        case "gzip"?: gzip = true
        case "none"?, ""?: gzip = false
        case let other?:
            throw section.fault("compression", section.value("compression"), "expected gzip or none, got '\(other)'")
        }
        let compressionSection = try section.section("compression_params", allowed: ["level"])
        if let level = try compressionSection.positiveInteger("level") {
            guard level <= 9 else {
                throw compressionSection.fault("level", compressionSection.value("level"), "expected a gzip level from 1 (fastest) to 9 (smallest), got \(level)")
            }
            gzipLevel = Int32(level)
        }
        headers = try section.stringMap("headers")
        stitched = try section.bool("stitched") ?? false
        if let timeout = try section.duration("timeout") {
            guard timeout > .zero else { throw section.fault("timeout", section.value("timeout"), "must be above 0") }
            self.timeout = timeout
        }

        let retrySection = try section.section(
            "retry_on_failure",
            allowed: ["enabled", "initial_interval", "max_interval", "max_elapsed_time", "multiplier", "randomization_factor"])
        if let enabled = try retrySection.bool("enabled") { retry.enabled = enabled }
        if let initial = try retrySection.duration("initial_interval") { retry.initialInterval = initial }
        if let maximum = try retrySection.duration("max_interval") { retry.maxInterval = maximum }
        if let elapsed = try retrySection.duration("max_elapsed_time") { retry.maxElapsedTime = elapsed == .zero ? nil : elapsed }
        if let multiplier = try retrySection.number("multiplier") {
            guard multiplier >= 1 else {
                throw retrySection.fault("multiplier", retrySection.value("multiplier"), "must be at least 1")
            }
            retry.multiplier = multiplier
        }
        if let factor = try retrySection.number("randomization_factor") {
            guard (0...1).contains(factor) else {
                throw retrySection.fault("randomization_factor", retrySection.value("randomization_factor"), "must be between 0 and 1")
            }
            retry.randomizationFactor = factor
        }
        guard retry.maxInterval >= retry.initialInterval else {
            throw retrySection.fault("max_interval", retrySection.value("max_interval"), "must not be below initial_interval")
        }

        let queueSection = try section.section("sending_queue", allowed: ["max_bytes", "queue_size", "num_consumers"])
        if let maxBytes = try queueSection.byteSize("max_bytes") { queue.maxBytes = maxBytes }
        if let batches = try queueSection.positiveInteger("queue_size") { queue.maxBatches = batches }
        if let consumers = try queueSection.positiveInteger("num_consumers") {
            guard consumers <= 256 else {
                throw queueSection.fault("num_consumers", queueSection.value("num_consumers"), "at most 256, got \(consumers)")
            }
            queue.consumers = consumers
        }
    }
}
