import EventTracing
import EventTracingOTLP
import Foundation
import Logging
import Synchronization
import Testing
import Tracing

// Services traced with our own SDK for the stitcher's scenarios: each has an `OTLPTracing`
// exporting to the collector under test, and its spans are started by the EventTracing
// messaging helpers and the EventTracingHTTP middleware and client. Only the clock is the
// test's, so that every queue wait and end-to-end figure is known exactly.

/// A time the test chose, in Unix nanoseconds.
struct ScriptedInstant: TracerInstant {
    var nanosecondsSinceEpoch: UInt64

    static func < (lhs: ScriptedInstant, rhs: ScriptedInstant) -> Bool {
        lhs.nanosecondsSinceEpoch < rhs.nanosecondsSinceEpoch
    }
}

/// Our SDK's `OTLPTracer` with the start and end of each span taken from a plan: the
/// helpers start spans at `DefaultTracerClock.now` and end them when their body returns,
/// so without this the waits would be whatever the machine's scheduling made them.
///
/// Spans are planned by operation name, first planned first used, so a scenario says
/// `plan("send orders", 0, 3)` before the call that starts that span.
final class ScriptedClockTracer: Tracer {
    typealias Span = ScriptedSpan

    let inner: OTLPTracer
    private let planned = Mutex<[String: [(start: UInt64, end: UInt64)]]>([:])

    init(_ inner: OTLPTracer) { self.inner = inner }

    func plan(_ operationName: String, start: UInt64, end: UInt64) {
        planned.withLock { $0[operationName, default: []].append((start, end)) }
    }

    func startSpan<Instant: TracerInstant>(
        _ operationName: String,
        context: @autoclosure () -> ServiceContext,
        ofKind kind: SpanKind,
        at instant: @autoclosure () -> Instant,
        function: String,
        file fileID: String,
        line: UInt
    ) -> ScriptedSpan {
        let times = planned.withLock { plans -> (start: UInt64, end: UInt64)? in
            guard var queue = plans[operationName], !queue.isEmpty else { return nil }
            let first = queue.removeFirst()
            plans[operationName] = queue
            return first
        }
        guard let times else {
            Issue.record("no time planned for a span named \(operationName)")
            let now = instant().nanosecondsSinceEpoch
            let span = inner.startSpan(operationName, context: context(), ofKind: kind, at: ScriptedInstant(nanosecondsSinceEpoch: now), function: function, file: fileID, line: line)
            return ScriptedSpan(inner: span, end: now)
        }
        let span = inner.startSpan(
            operationName, context: context(), ofKind: kind, at: ScriptedInstant(nanosecondsSinceEpoch: times.start),
            function: function, file: fileID, line: line)
        return ScriptedSpan(inner: span, end: times.end)
    }

    func forceFlush() { inner.forceFlush() }

    func extract<Carrier, Extract: Extractor>(_ carrier: Carrier, into context: inout ServiceContext, using extractor: Extract)
    where Extract.Carrier == Carrier {
        inner.extract(carrier, into: &context, using: extractor)
    }

    func inject<Carrier, Inject: Injector>(_ context: ServiceContext, into carrier: inout Carrier, using injector: Inject)
    where Inject.Carrier == Carrier {
        inner.inject(context, into: &carrier, using: injector)
    }
}

/// An `OTLPSpan` that ends at its planned time whenever it is ended.
final class ScriptedSpan: Tracing.Span {
    let inner: OTLPSpan
    let plannedEnd: UInt64

    init(inner: OTLPSpan, end: UInt64) {
        self.inner = inner
        self.plannedEnd = end
    }

    var context: ServiceContext { inner.context }
    var isRecording: Bool { inner.isRecording }

    var operationName: String {
        get { inner.operationName }
        set { inner.operationName = newValue }
    }

    var attributes: SpanAttributes {
        get { inner.attributes }
        set { inner.attributes = newValue }
    }

    func setStatus(_ status: SpanStatus) { inner.setStatus(status) }
    func addEvent(_ event: SpanEvent) { inner.addEvent(event) }
    func addLink(_ link: SpanLink) { inner.addLink(link) }

    func recordError<Instant: TracerInstant>(_ error: any Error, attributes: SpanAttributes, at instant: @autoclosure () -> Instant) {
        inner.recordError(error, attributes: attributes, at: instant())
    }

    func end<Instant: TracerInstant>(at instant: @autoclosure () -> Instant) {
        inner.end(at: ScriptedInstant(nanosecondsSinceEpoch: plannedEnd))
    }
}

/// One service: its SDK instance and its tracer. Spans are exported when the scenario
/// calls ``flush()``, so they reach the collector in the order the scenario sends them.
struct SDKService: Sendable {
    let name: String
    let otel: OTLPTracing
    let tracer: ScriptedClockTracer

    init(_ name: String, otlp: String) {
        var configuration = OTLPConfiguration(serviceName: name)
        configuration.exporter.setBaseEndpoint(otlp)
        // A collector that refuses should fail the test now, not after minutes of backoff.
        configuration.exporter.retry = OTLPRetryPolicy(maxAttempts: 1, initialBackoff: .milliseconds(10), maxBackoff: .milliseconds(10))
        var logger = Logger(label: "sdk-\(name)")
        logger.logLevel = .critical
        otel = OTLPTracing(configuration: configuration, logger: logger)
        tracer = ScriptedClockTracer(otel.tracer)
        self.name = name
    }

    func flush() async { await otel.service.forceFlush() }
    func shutdown() async { await otel.service.shutdown() }
}

/// A message between services: only its headers matter to tracing.
struct Record: MessageHeaders, Equatable {
    var headers: [String: [UInt8]] = [:]

    init(_ headers: [String: String] = [:]) {
        self.headers = headers.mapValues { Array($0.utf8) }
    }

    func lastValue(forHeader name: String) -> [UInt8]? { headers[name] }
    mutating func setHeader(_ name: String, to value: [UInt8]) { headers[name] = value }
}

/// A span's identity as the API shows it: lowercase hex.
struct SpanRefHex: Equatable, Sendable, CustomStringConvertible {
    var traceID: String
    var spanID: String

    init(_ context: SpanContext) {
        traceID = context.traceID.description
        spanID = context.spanID.description
    }

    init(traceID: String, spanID: String) {
        self.traceID = traceID
        self.spanID = spanID
    }

    var json: [String: String] { ["traceID": traceID, "spanID": spanID] }
    var description: String { "\(traceID)/\(spanID)" }
}

/// Scenario time: milliseconds after a base instant.
struct Timeline: Sendable {
    var base: UInt64
    static let ms: UInt64 = 1_000_000

    /// 2023-11-14T22:13:20Z, the Python scenarios' T0.
    static let fixed = Timeline(base: 1_700_000_000_000_000_000)

    /// Now, to the millisecond: for scenarios whose windows run on the collector's clock.
    static var now: Timeline {
        Timeline(base: UInt64(Date().timeIntervalSince1970 * 1000) * ms)
    }

    func at(_ millis: UInt64) -> UInt64 { base + millis * Self.ms }
}

extension SDKService {
    /// Sends a message through `withSendSpan` in the ambient context, or in `context` (a
    /// new trace carrying only `correlationID` when that is given), and returns the
    /// message with the headers the helper wrote and the producer span's identity.
    func send(
        _ topic: String, _ start: UInt64, _ end: UInt64, at timeline: Timeline, correlationID: String? = nil,
        messageID: String? = nil, partition: Int32? = nil, update: @Sendable (any Tracing.Span) -> Void = { _ in }
    ) async -> (Record, SpanRefHex) {
        tracer.plan("send \(topic)", start: timeline.at(start), end: timeline.at(end))
        var context: ServiceContext?
        if let correlationID {
            var fresh = ServiceContext.topLevel
            fresh.correlationID = CorrelationID(correlationID)
            context = fresh
        }
        return await withSendSpan(
            destination: topic, headers: Record(), partition: partition, messageID: messageID, context: context, tracer: tracer
        ) { headers, span in
            update(span)
            return (headers, SpanRefHex(span.context.spanContext!))
        }
    }

    /// Processes `record` through `withProcessSpan` (linked to the producer context its
    /// headers carry); `body` runs inside the span, and a thrown error fails the span.
    @discardableResult
    func process(
        _ record: Record, topic: String, _ start: UInt64, _ end: UInt64, at timeline: Timeline, group: String? = nil,
        offset: Int64? = nil, messageID: String? = nil,
        _ body: (any Tracing.Span) async throws -> Void = { _ in }
    ) async -> SpanRefHex {
        tracer.plan("process \(topic)", start: timeline.at(start), end: timeline.at(end))
        let processed = Captured<SpanRefHex>()
        do {
            try await withProcessSpan(
                destination: topic, headers: record, consumerGroup: group ?? name, offset: offset, messageID: messageID,
                context: .topLevel, tracer: tracer
            ) { span in
                processed.value = SpanRefHex(span.context.spanContext!)
                try await body(span)
            }
        } catch {
            // The helper recorded the failure on the span; the scenario goes on.
        }
        return processed.value!
    }
}

/// What a handler failed with; its type becomes the span's `error.type`.
struct ProcessingFailed: Error {}

/// A value a closure hands back to the scenario (a span's identity, a message it sent).
final class Captured<Value: Sendable>: Sendable {
    private let storage = Mutex<Value?>(nil)

    init() {}

    var value: Value? {
        get { storage.withLock { $0 } }
        set { storage.withLock { $0 = newValue } }
    }
}
