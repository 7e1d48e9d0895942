import EventTracing
@testable import EventTracingOTLP
import Logging
import Synchronization
import Telemetry
import Tracing

/// What a processor's export hook received, in order.
final class Exported<Item: Sendable>: Sendable {
    private let batches = Mutex<[[Item]]>([])

    var all: [[Item]] { batches.withLock { $0 } }
    var items: [Item] { all.flatMap { $0 } }

    func append(_ batch: [Item]) { batches.withLock { $0.append(batch) } }

    /// Waits until `count` items were exported, or `timeout` passed.
    /// Returns as soon as `count` items are in; the generous timeout only matters when
    /// something is broken, since the test run shares two cores with every other suite.
    func wait(for count: Int, timeout: Duration = .seconds(15)) async -> [Item] {
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        while clock.now < deadline, items.count < count {
            try? await Task.sleep(for: .milliseconds(2))
        }
        return items
    }
}

/// A tracer whose batch processor hands its batches to `exported`.
struct TracerUnderTest {
    let tracer: OTLPTracer
    let processor: BatchProcessor<Telemetry.Span>
    let exported = Exported<Telemetry.Span>()

    init(
        sampler: OTLPSampler = .parentBasedAlwaysOn, limits: OTLPSpanLimits = OTLPSpanLimits(),
        batch: OTLPBatchConfiguration = OTLPBatchConfiguration()
    ) {
        let exported = self.exported
        processor = BatchProcessor(configuration: batch) { exported.append($0) }
        tracer = OTLPTracer(
            sampler: sampler, limits: limits, propagator: EventContextPropagator(createsCorrelationID: false),
            processor: processor)
    }

    /// Every span ended so far.
    func finished() async -> [Telemetry.Span] {
        await processor.forceFlush()
        return exported.items
    }
}

/// A `[String: String]` header carrier for inject and extract.
struct DictionaryInjector: Injector {
    func inject(_ value: String, forKey key: String, into carrier: inout [String: String]) {
        carrier[key] = value
    }
}

struct DictionaryExtractor: Extractor {
    func extract(key: String, from carrier: [String: String]) -> String? { carrier[key] }
}

/// Collects the messages logged through its handler.
final class LogLines: Sendable {
    private let lines = Mutex<[String]>([])
    var all: [String] { lines.withLock { $0 } }

    var handler: some LogHandler { Handler(sink: self) }

    private struct Handler: LogHandler {
        let sink: LogLines
        var logLevel: Logger.Level = .trace
        var metadata: Logger.Metadata = [:]
        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }
        func log(event: LogEvent) {
            sink.lines.withLock { $0.append(event.message.description) }
        }
    }
}
