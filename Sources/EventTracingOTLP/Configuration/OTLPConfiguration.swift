import Foundation
public import Logging
public import Telemetry

/// Everything ``OTLPTracing`` needs, usually read from the standard `OTEL_*` environment
/// variables with ``fromEnvironment(serviceName:serviceVersion:environment:logger:)``
/// (OTel spec, "Environment Variable Specification":
/// https://opentelemetry.io/docs/specs/otel/configuration/sdk-environment-variables/).
public struct OTLPConfiguration: Sendable {
    /// `service.name`; the fallback is `unknown_service:<executable name>`.
    public var serviceName: String?
    /// `service.version`, if the service knows it.
    public var serviceVersion: String?
    /// More resource attributes (`OTEL_RESOURCE_ATTRIBUTES`).
    public var resourceAttributes: [KeyValue] = []
    /// Where and how to export.
    public var exporter = OTLPExporterConfiguration()
    /// Which spans are recorded (`OTEL_TRACES_SAMPLER`, `OTEL_TRACES_SAMPLER_ARG`).
    public var sampler = OTLPSampler.parentBasedAlwaysOn
    /// Limits per span (`OTEL_SPAN_*_LIMIT`).
    public var spanLimits = OTLPSpanLimits()
    /// The span batch processor (`OTEL_BSP_*`).
    public var spanBatch = OTLPBatchConfiguration()
    /// The log record batch processor (`OTEL_BLRP_*`; its schedule delay defaults to 1 s).
    public var logBatch = OTLPBatchConfiguration(scheduleDelay: .seconds(1))
    /// `OTEL_SDK_DISABLED=true`: spans still propagate context, nothing is recorded or sent.
    public var isDisabled = false
    /// Whether spans are exported (`OTEL_TRACES_EXPORTER`: `otlp`, the default, or `none`).
    /// Without export, spans still propagate context but record nothing.
    public var exportsTraces = true
    /// Whether log records are exported (`OTEL_LOGS_EXPORTER`: `otlp`, the default, or `none`).
    public var exportsLogs = true

    /// The defaults of the spec: export to `http://localhost:4318`, protobuf, no gzip.
    public init(serviceName: String? = nil, serviceVersion: String? = nil) {
        self.serviceName = serviceName
        self.serviceVersion = serviceVersion
    }

    /// Reads the standard environment variables over the defaults. `serviceName` is used
    /// when neither `OTEL_SERVICE_NAME` nor `service.name` in `OTEL_RESOURCE_ATTRIBUTES`
    /// names the service. An invalid value is logged, naming the variable and the default
    /// used instead, and never stops the service. `environment` defaults to the process's.
    public static func fromEnvironment(
        serviceName: String? = nil,
        serviceVersion: String? = nil,
        environment: [String: String]? = nil,
        logger: Logger = Logger(label: "causeway.otlp")
    ) -> OTLPConfiguration {
        var reader = EnvironmentReader(environment: environment ?? ProcessInfo.processInfo.environment)
        let configuration = reader.read(serviceName: serviceName, serviceVersion: serviceVersion)
        for problem in reader.problems { logger.warning("\(problem)") }
        return configuration
    }

    /// The resource this configuration describes.
    public var resource: Resource {
        OTLPResource.detect(
            serviceName: serviceName ?? OTLPResource.defaultServiceName, serviceVersion: serviceVersion,
            extra: resourceAttributes)
    }
}

/// Parses the `OTEL_*` variables, collecting one message per invalid value.
struct EnvironmentReader {
    let environment: [String: String]
    var problems: [String] = []

    init(environment: [String: String]) { self.environment = environment }

    mutating func read(serviceName: String?, serviceVersion: String?) -> OTLPConfiguration {
        var configuration = OTLPConfiguration(serviceName: serviceName, serviceVersion: serviceVersion)
        configuration.isDisabled = bool("OTEL_SDK_DISABLED", default: false)
        configuration.exportsTraces = exporterSelection("OTEL_TRACES_EXPORTER")
        configuration.exportsLogs = exporterSelection("OTEL_LOGS_EXPORTER")

        if let raw = value("OTEL_RESOURCE_ATTRIBUTES") {
            if let attributes = Self.keyValueList(raw) {
                var others: [KeyValue] = []
                for (key, value) in attributes {
                    switch key {
                    case "service.name": configuration.serviceName = value
                    case "service.version" where serviceVersion == nil: configuration.serviceVersion = value
                    default: others.append(KeyValue(key, .string(value)))
                    }
                }
                configuration.resourceAttributes = others
            } else {
                // "If any invalid value is encountered, the whole OTEL_RESOURCE_ATTRIBUTES
                // SHOULD be discarded and an error reported" (Resource SDK spec).
                problems.append(
                    "OTEL_RESOURCE_ATTRIBUTES is not a list of key=value pairs with percent-encoded values; ignoring it all")
            }
        }
        // OTEL_SERVICE_NAME "takes precedence over service.name defined with
        // OTEL_RESOURCE_ATTRIBUTES".
        if let name = value("OTEL_SERVICE_NAME") { configuration.serviceName = name }

        var exporter = OTLPExporterConfiguration()
        if let base = url("OTEL_EXPORTER_OTLP_ENDPOINT", default: "http://localhost:4318") {
            exporter.setBaseEndpoint(base)
        }
        // Per-signal endpoints are "used as is" (OTLP Exporter spec, "Endpoint URLs for OTLP/HTTP").
        if let traces = url("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", default: exporter.tracesEndpoint) {
            exporter.tracesEndpoint = traces
        }
        if let logs = url("OTEL_EXPORTER_OTLP_LOGS_ENDPOINT", default: exporter.logsEndpoint) {
            exporter.logsEndpoint = logs
        }
        exporter.headers = headers("OTEL_EXPORTER_OTLP_HEADERS")
        exporter.tracesHeaders = headers("OTEL_EXPORTER_OTLP_TRACES_HEADERS")
        exporter.logsHeaders = headers("OTEL_EXPORTER_OTLP_LOGS_HEADERS")
        exporter.compression = compression("OTEL_EXPORTER_OTLP_COMPRESSION") ?? .none
        exporter.wireProtocol = wireProtocol("OTEL_EXPORTER_OTLP_PROTOCOL") ?? .httpProtobuf
        exporter.timeout = milliseconds("OTEL_EXPORTER_OTLP_TIMEOUT", default: 10_000) ?? .seconds(10)
        // Per-signal settings win over the common ones (OTLP Exporter spec, "Configuration Options").
        for (signal, keyPath) in [("TRACES", \OTLPExporterConfiguration.tracesOverrides), ("LOGS", \.logsOverrides)] {
            let common = exporter
            exporter[keyPath: keyPath] = OTLPExporterConfiguration.SignalOverrides(
                wireProtocol: wireProtocol("OTEL_EXPORTER_OTLP_\(signal)_PROTOCOL", default: common.wireProtocol),
                compression: compression("OTEL_EXPORTER_OTLP_\(signal)_COMPRESSION", default: common.compression),
                timeout: value("OTEL_EXPORTER_OTLP_\(signal)_TIMEOUT") == nil
                    ? nil
                    : milliseconds("OTEL_EXPORTER_OTLP_\(signal)_TIMEOUT", default: Int(OTLPRetryPolicy.nanoseconds(common.timeout) / 1_000_000)))
        }
        configuration.exporter = exporter

        configuration.sampler = sampler()

        var limits = OTLPSpanLimits()
        let generalCount = integer("OTEL_ATTRIBUTE_COUNT_LIMIT", default: 128)
        let generalLength = integer("OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT", default: nil)
        limits.attributeCount = integer("OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT", default: generalCount) ?? 128
        limits.attributeValueLength = integer("OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT", default: generalLength)
        limits.eventCount = integer("OTEL_SPAN_EVENT_COUNT_LIMIT", default: 128) ?? 128
        limits.linkCount = integer("OTEL_SPAN_LINK_COUNT_LIMIT", default: 128) ?? 128
        limits.attributesPerEvent = integer("OTEL_EVENT_ATTRIBUTE_COUNT_LIMIT", default: 128) ?? 128
        limits.attributesPerLink = integer("OTEL_LINK_ATTRIBUTE_COUNT_LIMIT", default: 128) ?? 128
        configuration.spanLimits = limits

        configuration.spanBatch = batch(prefix: "OTEL_BSP_", scheduleDelayMilliseconds: 5_000)
        configuration.logBatch = batch(prefix: "OTEL_BLRP_", scheduleDelayMilliseconds: 1_000)
        return configuration
    }

    /// A set variable; the spec says an empty value means "unset".
    func value(_ name: String) -> String? {
        guard let raw = environment[name]?.trimmingASCIIWhitespace(), !raw.isEmpty else { return nil }
        return raw
    }

    mutating func bool(_ name: String, default defaultValue: Bool) -> Bool {
        guard let raw = value(name) else { return defaultValue }
        // "Any value not explicitly defined here as a true value, including unset and
        // empty values, MUST be interpreted as false", with a warning for values that are
        // not "false" either (spec, "Boolean value").
        switch raw.lowercased() {
        case "true": return true
        case "false": return false
        default:
            problems.append("\(name)=\(raw) is not true or false; using false")
            return false
        }
    }

    /// `otlp` or `none`; the spec's other exporters (`zipkin`, `console`) are not part of
    /// this SDK, so they fall back to `otlp` with a message.
    mutating func exporterSelection(_ name: String) -> Bool {
        guard let raw = value(name) else { return true }
        let names = raw.lowercased().split(separator: ",").map { String($0).trimmingASCIIWhitespace() }
        if names == ["none"] { return false }
        if names.allSatisfy({ $0 == "otlp" }) { return true }
        problems.append("\(name)=\(raw) is not supported (otlp or none); using otlp")
        return true
    }

    mutating func compression(
        _ name: String, default defaultValue: OTLPExporterConfiguration.Compression = .none
    ) -> OTLPExporterConfiguration.Compression? {
        guard let raw = value(name) else { return nil }
        if let compression = OTLPExporterConfiguration.Compression(rawValue: raw.lowercased()) { return compression }
        problems.append("\(name)=\(raw) is not gzip or none; using \(defaultValue.rawValue)")
        return nil
    }

    mutating func wireProtocol(
        _ name: String, default defaultValue: OTLPExporterConfiguration.WireProtocol = .httpProtobuf
    ) -> OTLPExporterConfiguration.WireProtocol? {
        guard let raw = value(name) else { return nil }
        if let wireProtocol = OTLPExporterConfiguration.WireProtocol(rawValue: raw) { return wireProtocol }
        problems.append("\(name)=\(raw) is not supported (http/protobuf or http/json); using \(defaultValue.rawValue)")
        return nil
    }

    mutating func integer(_ name: String, default defaultValue: Int?) -> Int? {
        guard let raw = value(name) else { return defaultValue }
        guard let parsed = Int(raw), parsed >= 0 else {
            problems.append("\(name)=\(raw) is not a non-negative integer; using \(defaultValue.map(String.init) ?? "no limit")")
            return defaultValue
        }
        return parsed
    }

    mutating func milliseconds(_ name: String, default defaultValue: Int) -> Duration? {
        guard let parsed = integer(name, default: defaultValue) else { return nil }
        return .milliseconds(parsed)
    }

    mutating func url(_ name: String, default defaultValue: String) -> String? {
        guard let raw = value(name) else { return nil }
        let lowered = raw.lowercased()
        guard lowered.hasPrefix("http://") || lowered.hasPrefix("https://"), raw.count > 8 else {
            problems.append("\(name)=\(raw) is not an http:// or https:// URL; using \(defaultValue)")
            return nil
        }
        return raw
    }

    mutating func headers(_ name: String) -> [(name: String, value: String)] {
        guard let raw = value(name) else { return [] }
        guard let pairs = Self.keyValueList(raw) else {
            problems.append("\(name) is not a list of key=value pairs with percent-encoded values; sending no headers from it")
            return []
        }
        return pairs.map { (name: $0.0, value: $0.1) }
    }

    mutating func sampler() -> OTLPSampler {
        let name = value("OTEL_TRACES_SAMPLER")?.lowercased() ?? "parentbased_always_on"
        func ratio() -> Double {
            guard let raw = value("OTEL_TRACES_SAMPLER_ARG") else { return 1 }
            guard let parsed = Double(raw), (0...1).contains(parsed) else {
                problems.append("OTEL_TRACES_SAMPLER_ARG=\(raw) is not a ratio between 0 and 1; using 1.0")
                return 1
            }
            return parsed
        }
        switch name {
        case "always_on": return .alwaysOn
        case "always_off": return .alwaysOff
        case "traceidratio": return OTLPSampler(root: .traceIDRatio(ratio()), parentBased: false)
        case "parentbased_always_on": return .parentBasedAlwaysOn
        case "parentbased_always_off": return OTLPSampler(root: .alwaysOff)
        case "parentbased_traceidratio": return OTLPSampler(root: .traceIDRatio(ratio()))
        default:
            problems.append("OTEL_TRACES_SAMPLER=\(name) is not supported; using parentbased_always_on")
            return .parentBasedAlwaysOn
        }
    }

    mutating func batch(prefix: String, scheduleDelayMilliseconds: Int) -> OTLPBatchConfiguration {
        let queue = integer(prefix + "MAX_QUEUE_SIZE", default: 2048) ?? 2048
        let delay = integer(prefix + "SCHEDULE_DELAY", default: scheduleDelayMilliseconds) ?? scheduleDelayMilliseconds
        var batchSize = integer(prefix + "MAX_EXPORT_BATCH_SIZE", default: 512) ?? 512
        // "MUST be less than or equal to OTEL_BSP_MAX_QUEUE_SIZE".
        if batchSize > queue {
            problems.append("\(prefix)MAX_EXPORT_BATCH_SIZE=\(batchSize) is larger than \(prefix)MAX_QUEUE_SIZE=\(queue); using \(queue)")
            batchSize = queue
        }
        return OTLPBatchConfiguration(
            maxQueueSize: max(1, queue), scheduleDelay: .milliseconds(delay), maxExportBatchSize: max(1, batchSize))
    }

    /// `key1=value1,key2=value2` with percent-encoded values, the format of
    /// `OTEL_RESOURCE_ATTRIBUTES` and `OTEL_EXPORTER_OTLP_HEADERS` (W3C Baggage's
    /// list syntax, without properties). `nil` when any member is malformed.
    static func keyValueList(_ raw: String) -> [(String, String)]? {
        var result: [(String, String)] = []
        for member in raw.split(separator: ",", omittingEmptySubsequences: false) {
            let trimmed = String(member).trimmingASCIIWhitespace()
            if trimmed.isEmpty { continue }
            guard let equals = trimmed.firstIndex(of: "=") else { return nil }
            let key = String(trimmed[..<equals]).trimmingASCIIWhitespace()
            let rawValue = String(trimmed[trimmed.index(after: equals)...]).trimmingASCIIWhitespace()
            guard !key.isEmpty, let value = percentDecoded(rawValue) else { return nil }
            result.append((key, value))
        }
        return result
    }

    /// Percent-decodes UTF-8; `nil` for a broken escape or invalid UTF-8.
    static func percentDecoded(_ value: String) -> String? {
        var bytes: [UInt8] = []
        var iterator = Array(value.utf8).makeIterator()
        while let byte = iterator.next() {
            guard byte == UInt8(ascii: "%") else {
                bytes.append(byte)
                continue
            }
            guard let high = iterator.next().flatMap(hexValue), let low = iterator.next().flatMap(hexValue) else {
                return nil
            }
            bytes.append(high << 4 | low)
        }
        return String(validating: bytes, as: UTF8.self)
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}
