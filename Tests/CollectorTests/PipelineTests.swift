import Collector
import Foundation
import Logging
import ServiceLifecycle
import Synchronization
import Telemetry
import Testing

@Suite struct PipelineTests {
    @Test func aStalledConsumerDoesNotHoldUpTheOthers() async throws {
        let stalled = StalledConsumer()
        let recorder = RecordingConsumer()
        let pipeline = TelemetryPipeline(consumers: [(stalled, true, true), (recorder, true, true)], limitBytes: 1 << 20, logger: quietLogger)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await pipeline.run() }
            for _ in 0..<5 { #expect(pipeline.submit(Samples.traces, bytes: 100) == .accepted) }
            let count = try await eventually { recorder.spanCount >= 10 ? recorder.spanCount : nil }
            #expect(count == 10)
            stalled.release()
            group.cancelAll()
        }
    }

    @Test func gracefulShutdownDeliversEverythingAccepted() async throws {
        let slow = RecordingConsumer(delay: .milliseconds(5))
        let pipeline = TelemetryPipeline(consumers: [(slow, true, true)], limitBytes: 1 << 20, logger: quietLogger)
        let group = ServiceGroup(services: [pipeline], logger: quietLogger)
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            for _ in 0..<20 { #expect(pipeline.submit(Samples.logs, bytes: 10) == .accepted) }
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
        }
        #expect(slow.logCount == 40)
        #expect(slow.wasShutDown)
        #expect(pipeline.submit(Samples.logs, bytes: 10) == .closed)
        #expect(pipeline.queuedBytes == 0)
    }

    @Test func batchesOverTheLimitAreRefusedUntilDelivered() async throws {
        let stalled = StalledConsumer()
        let pipeline = TelemetryPipeline(consumers: [(stalled, true, true)], limitBytes: 150, logger: quietLogger)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await pipeline.run() }
            #expect(pipeline.submit(Samples.traces, bytes: 100) == .accepted)
            #expect(pipeline.submit(Samples.traces, bytes: 100) == .full)
            #expect(pipeline.queuedBytes == 100)
            stalled.release()
            _ = try await eventually { pipeline.queuedBytes == 0 ? true : nil }
            #expect(pipeline.submit(Samples.traces, bytes: 100) == .accepted)
            group.cancelAll()
        }
    }
}

@Suite struct PipelineAdmissionTests {
    @Test func aRequestIsRefusedBeforeDecodingWhenItsDecodedSizeCannotFitByWhatEarlierOnesTook() async throws {
        let stalled = StalledConsumer()
        let size = Samples.traces.estimatedMemoryBytes
        let pipeline = TelemetryPipeline(consumers: [(stalled, true, true)], limitBytes: 3 * size, logger: quietLogger)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await pipeline.run() }
            // One request of a quarter of its decoded size: the protobuf ratio moves from 1 to 1.375.
            #expect(pipeline.submit(Samples.traces, receivedBytes: size / 4, .protobufSpans) == .accepted)
            // 1.5 sizes received would fit as received (2.5 of 3) but not as decoded (2.06 of 3)...
            #expect(pipeline.admission(forReceived: size * 3 / 2, .protobufSpans) == .full)
            // ...while JSON, whose ratio nothing has taught, is still judged by its received size.
            #expect(pipeline.admission(forReceived: size * 3 / 2, .jsonSpans) == .accepted)
            stalled.release()
            group.cancelAll()
        }
        pipeline.close()
    }

    @Test func aRequestIsRefusedBeforeDecodingWhenItsBytesCannotFit() async throws {
        let stalled = StalledConsumer()
        let pipeline = TelemetryPipeline(consumers: [(stalled, true, true)], limitBytes: 150, logger: quietLogger)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await pipeline.run() }
            #expect(pipeline.admission(forReceived: 1_000, .protobufSpans) == .accepted)
            #expect(pipeline.submit(Samples.traces, bytes: 100) == .accepted)
            #expect(pipeline.admission(forReceived: 10, .protobufSpans) == .accepted)
            #expect(pipeline.admission(forReceived: 60, .protobufSpans) == .full)
            stalled.release()
            group.cancelAll()
        }
        pipeline.close()
        #expect(pipeline.admission(forReceived: 1, .protobufSpans) == .closed)
    }

    @Test func batchesCountAtTheirDecodedSize() async throws {
        let stalled = StalledConsumer()
        let pipeline = TelemetryPipeline(consumers: [(stalled, true, true)], limitBytes: 1 << 30, logger: quietLogger)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await pipeline.run() }
            #expect(pipeline.submit(Samples.traces) == .accepted)
            #expect(pipeline.queuedBytes == Samples.traces.estimatedMemoryBytes)
            #expect(pipeline.queuedBytes > Samples.traces.protobufBytes().count)
            stalled.release()
            group.cancelAll()
        }
    }

    /// The warning names the rule that tripped and gives both figures.
    @Test func aHeapOverTheSoftLimitRefusesData() async throws {
        let recorder = RecordingConsumer()
        let lines = CapturedLog()
        // A soft limit of one byte: any heap at all is over it.
        let pipeline = TelemetryPipeline(
            consumers: [(recorder, true, true)], limitBytes: 1 << 30,
            heapLimit: HeapLimit(softLimitBytes: 1, checkInterval: .milliseconds(10)), logger: Logger(label: "test") { _ in lines })
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await pipeline.run() }
            _ = try await eventually { pipeline.admission(forReceived: 1, .protobufSpans) == .full ? true : nil }
            #expect(pipeline.submit(Samples.traces) == .full)
            group.cancelAll()
        }
        let warning = try #require(lines.entries.list.withLock { $0 }.first { $0.level == .warning })
        #expect(warning.message == "heap in use over the memory limiter's soft limit; refusing data")
        #expect(Set(warning.metadata.keys) == ["heap_bytes", "resident_bytes", "soft_limit_bytes"])
        #expect(warning.metadata["soft_limit_bytes"] == "1")
    }

    /// Far under the soft limit the resident memory alone (one read of /proc) settles it.
    @Test func aProcessFarUnderTheSoftLimitTakesData() async throws {
        let recorder = RecordingConsumer()
        let pipeline = TelemetryPipeline(
            consumers: [(recorder, true, true)], limitBytes: 1 << 30,
            heapLimit: HeapLimit(softLimitBytes: 1 << 40, checkInterval: .milliseconds(5)), logger: quietLogger)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await pipeline.run() }
            try await Task.sleep(for: .milliseconds(50))
            #expect(pipeline.submit(Samples.traces) == .accepted)
            group.cancelAll()
        }
    }
}

/// Counts what it is given.
final class RecordingConsumer: TelemetryConsumer {
    let name = "recorder"
    let delay: Duration?
    private let counts = Mutex<(spans: Int, logs: Int, shutDown: Bool)>((0, 0, false))

    init(delay: Duration? = nil) { self.delay = delay }

    var spanCount: Int { counts.withLock { $0.spans } }
    var logCount: Int { counts.withLock { $0.logs } }
    var wasShutDown: Bool { counts.withLock { $0.shutDown } }

    func consume(_ traces: ExportTraceServiceRequest) async throws {
        if let delay { try? await Task.sleep(for: delay) }
        counts.withLock { $0.spans += traces.spanCount }
    }

    func consume(_ logs: ExportLogsServiceRequest) async throws {
        if let delay { try? await Task.sleep(for: delay) }
        counts.withLock { $0.logs += logs.logRecordCount }
    }

    func run() async throws {}
    func shutdown() async { counts.withLock { $0.shutDown = true } }
}

/// A log handler that keeps what is logged, for tests that check a message.
struct CapturedLog: LogHandler {
    struct Entry: Sendable {
        var level: Logger.Level
        var message: String
        var metadata: [String: String]
    }

    final class Entries: Sendable {
        let list = Mutex<[Entry]>([])
    }

    let entries = Entries()
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(
        level: Logger.Level, message: Logger.Message, metadata: Logger.Metadata?, source: String, file: String,
        function: String, line: UInt
    ) {
        let merged = self.metadata.merging(metadata ?? [:]) { _, new in new }
        entries.list.withLock { $0.append(Entry(level: level, message: "\(message)", metadata: merged.mapValues { "\($0)" })) }
    }
}
