import CoreMetrics
import Logging
import NIOHTTP1
import Synchronization
import Testing

@testable import Collector

/// A metrics backend that keeps the last value of every metric, keyed `label{exporter}`.
final class RecordingMetrics: MetricsFactory {
    let values = Mutex<[String: Int64]>([:])

    func key(_ label: String, _ dimensions: [(String, String)]) -> String {
        label + "{" + dimensions.map { "\($0.0)=\($0.1)" }.joined(separator: ",") + "}"
    }

    subscript(_ label: String, exporter exporter: String) -> Int64? {
        values.withLock { $0[key(label, [("exporter", exporter)])] }
    }

    final class Handler: CounterHandler, RecorderHandler, TimerHandler {
        let owner: RecordingMetrics
        let key: String

        init(owner: RecordingMetrics, key: String) {
            self.owner = owner
            self.key = key
            owner.values.withLock { $0[key] = $0[key] ?? 0 }
        }

        func increment(by amount: Int64) { owner.values.withLock { $0[key, default: 0] += amount } }
        func reset() { owner.values.withLock { $0[key] = 0 } }
        func record(_ value: Int64) { owner.values.withLock { $0[key] = value } }
        func record(_ value: Double) { owner.values.withLock { $0[key] = Int64(value) } }
        func recordNanoseconds(_ duration: Int64) { owner.values.withLock { $0[key] = duration } }
    }

    func makeCounter(label: String, dimensions: [(String, String)]) -> any CounterHandler {
        Handler(owner: self, key: key(label, dimensions))
    }

    func makeRecorder(label: String, dimensions: [(String, String)], aggregate: Bool) -> any RecorderHandler {
        Handler(owner: self, key: key(label, dimensions))
    }

    func makeTimer(label: String, dimensions: [(String, String)]) -> any TimerHandler {
        Handler(owner: self, key: key(label, dimensions))
    }

    func destroyCounter(_ handler: any CounterHandler) {}
    func destroyRecorder(_ handler: any RecorderHandler) {}
    func destroyTimer(_ handler: any TimerHandler) {}
}

@Suite("Exporter metrics")
struct ExporterMetricsTests {
    @Test func deliveriesRetriesAndTheQueueAreCountedPerExporter() async throws {
        let sink = try await HTTPSink.start(script: [HTTPSink.Reply(status: .tooManyRequests)])
        let data = try ExporterFixture.temporaryDirectory()
        defer { ExporterFixture.remove(data) }
        let settings = try ExporterFixture.settings("otlphttp/tempo", "endpoint: http://127.0.0.1:\(sink.port)\n")
        let metrics = RecordingMetrics()
        let exporter = try QueuedHTTPExporter(
            settings: settings, directory: ExporterFactory.queueDirectory(name: settings.name, dataDirectory: data),
            logger: Logger(label: "test"), metricsFactory: metrics)
        try await exporter.consume(ExporterFixture.traces(1, spans: 3))
        try await exporter.consume(ExporterFixture.logs())
        #expect(metrics["causeway_exporter_queue_length", exporter: "otlphttp/tempo"] == 2)
        #expect((metrics["causeway_exporter_queue_bytes", exporter: "otlphttp/tempo"] ?? 0) > 0)
        try await withRunningExporter(exporter) {
            try await waitUntil { exporter.metrics.tally.snapshot.sentBatches == 2 }
        }
        #expect(metrics["causeway_exporter_sent_spans_total", exporter: "otlphttp/tempo"] == 3)
        #expect(metrics["causeway_exporter_sent_logs_total", exporter: "otlphttp/tempo"] == 1)
        #expect(metrics["causeway_exporter_failed_total", exporter: "otlphttp/tempo"] == 1)
        #expect(metrics["causeway_exporter_retried_total", exporter: "otlphttp/tempo"] == 1)
        #expect(metrics["causeway_exporter_dropped_total", exporter: "otlphttp/tempo"] == 0)
        #expect(metrics["causeway_exporter_queue_length", exporter: "otlphttp/tempo"] == 0)
        #expect(metrics["causeway_exporter_queue_bytes", exporter: "otlphttp/tempo"] == 0)
        try await sink.stop()
    }

    @Test func aFullQueueIsCountedAndFlagged() async throws {
        let data = try ExporterFixture.temporaryDirectory()
        defer { ExporterFixture.remove(data) }
        var settings = try ExporterFixture.settings("zipkin", "endpoint: http://127.0.0.1:9/api/v2/spans\nsending_queue:\n  queue_size: 1\n")
        settings.drainTimeout = .zero
        let metrics = RecordingMetrics()
        let exporter = try QueuedHTTPExporter(
            settings: settings, directory: ExporterFactory.queueDirectory(name: settings.name, dataDirectory: data),
            logger: Logger(label: "test"), metricsFactory: metrics)
        try await exporter.consume(ExporterFixture.traces(1))
        await #expect(throws: ExportQueueError.self) { try await exporter.consume(ExporterFixture.traces(2)) }
        await #expect(throws: ExportQueueError.self) { try await exporter.consume(ExporterFixture.traces(3)) }
        #expect(metrics["causeway_exporter_refused_total", exporter: "zipkin"] == 2)
        #expect(metrics["causeway_exporter_queue_full", exporter: "zipkin"] == 1)
        await exporter.shutdown()
    }
}
