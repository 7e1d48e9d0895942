import Foundation
import Logging
import Telemetry
import Yams

@testable import Collector

/// Sample telemetry and exporters on a fresh data directory, with intervals tiny enough
/// that retries cost milliseconds.
enum ExporterFixture {
    static func traces(_ seed: UInt64 = 1, spans: Int = 2) -> ExportTraceServiceRequest {
        let resource = Resource(attributes: [KeyValue("service.name", "orders"), KeyValue("host.name", .string("box-\(seed)"))])
        let spanList = (0..<UInt64(spans)).map { index in
            Span(
                traceID: TraceID(high: 0xAB00 + seed, low: 0xCD00 + seed), spanID: SpanID(0x1000 + seed * 16 + index),
                parentSpanID: index == 0 ? nil : SpanID(0x1000 + seed * 16), name: "send order_events", kind: .producer,
                startTimeUnixNano: 1_700_000_000_000_000_000 + index * 1000, endTimeUnixNano: 1_700_000_000_000_500_000 + index * 1000,
                attributes: [KeyValue("messaging.system", "kafka"), KeyValue("attempt", .int(Int64(index)))])
        }
        return ExportTraceServiceRequest(resourceSpans: [
            ResourceSpans(resource: resource, scopeSpans: [ScopeSpans(scope: InstrumentationScope(name: "test"), spans: spanList)])
        ])
    }

    static func logs(_ seed: UInt64 = 1) -> ExportLogsServiceRequest {
        let record = LogRecord(
            timeUnixNano: 1_700_000_000_000_000_000 + seed, severityNumber: SeverityNumber(rawValue: 9), severityText: "INFO",
            body: .string("order \(seed) placed"), attributes: [KeyValue("correlation.id", .string("c-\(seed)"))],
            traceID: TraceID(high: 1, low: seed), spanID: SpanID(seed))
        return ExportLogsServiceRequest(resourceLogs: [
            ResourceLogs(
                resource: Resource(attributes: [KeyValue("service.name", "orders")]),
                scopeLogs: [ScopeLogs(scope: InstrumentationScope(name: "test"), logRecords: [record])])
        ])
    }

    static func temporaryDirectory() throws -> String {
        let path = NSTemporaryDirectory() + "causeway-exporter-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    static func remove(_ directory: String) {
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// The settings of exporter `name` from `yaml`, with retries in milliseconds unless
    /// the YAML says otherwise.
    static func settings(_ name: String, _ yaml: String) throws -> ExporterSettings {
        var settings = try ExporterFactory.settings(name: name, configuration: try Yams.compose(yaml: yaml))
        if !yaml.contains("initial_interval") {
            settings.retry.initialInterval = .milliseconds(5)
            settings.retry.maxInterval = .milliseconds(20)
        }
        settings.drainTimeout = .milliseconds(200)
        settings.timeout = .seconds(5)
        return settings
    }

    static func exporter(_ settings: ExporterSettings, dataDirectory: String) throws -> QueuedHTTPExporter {
        try QueuedHTTPExporter(
            settings: settings, directory: ExporterFactory.queueDirectory(name: settings.name, dataDirectory: dataDirectory),
            logger: Logger(label: "test"))
    }

    static func segmentFiles(_ settings: ExporterSettings, dataDirectory: String) throws -> [String] {
        let directory = ExporterFactory.queueDirectory(name: settings.name, dataDirectory: dataDirectory)
        return try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.hasSuffix(".seg") }.sorted()
            .map { directory + "/" + $0 }
    }
}

/// Runs `body` with the exporter's delivery loop going, then shuts the exporter down.
func withRunningExporter(
    _ exporter: QueuedHTTPExporter, _ body: () async throws -> Void
) async throws {
    let delivery = Task { try await exporter.run() }
    do {
        try await body()
    } catch {
        await exporter.shutdown()
        _ = await delivery.result
        throw error
    }
    await exporter.shutdown()
    _ = await delivery.result
}
