import EventTracing
import Telemetry
public import Tracing

/// A swift-distributed-tracing `Tracer` that records spans as OTLP spans and hands the
/// sampled ones, when they end, to a batch processor that exports them to the collector.
///
/// Get one from ``OTLPTracing`` and bootstrap it:
/// `InstrumentationSystem.bootstrap(otel.tracer)`. Propagation (`inject`/`extract`) is
/// EventTracing's ``EventContextPropagator``: `traceparent`, `tracestate`, `baggage` and
/// `correlation-id`.
public struct OTLPTracer: Tracer {
    public typealias Span = OTLPSpan

    let sampler: OTLPSampler
    let limits: OTLPSpanLimits
    let propagator: EventContextPropagator
    let processor: BatchProcessor<Telemetry.Span>?

    init(
        sampler: OTLPSampler,
        limits: OTLPSpanLimits,
        propagator: EventContextPropagator,
        processor: BatchProcessor<Telemetry.Span>?
    ) {
        self.sampler = sampler
        self.limits = limits
        self.propagator = propagator
        self.processor = processor
    }

    /// Starts a span: a child of `context`'s span context when it has one (remote or
    /// local), otherwise the root of a new trace whose random trace ID sets the W3C
    /// `random` flag (Trace Context Level 2 §3.2.2.5.2).
    public func startSpan<Instant: TracerInstant>(
        _ operationName: String,
        context: @autoclosure () -> ServiceContext,
        ofKind kind: Tracing.SpanKind,
        at instant: @autoclosure () -> Instant,
        function: String,
        file fileID: String,
        line: UInt
    ) -> OTLPSpan {
        let context = context()
        let parent = context.spanContext.flatMap { $0.traceID.isValid && $0.spanID.isValid ? $0 : nil }
        let spanContext: SpanContext
        let sampled: Bool
        if let parent {
            // "sampling decisions are not taken for a disabled SDK": an SDK without a
            // processor records nothing, but the context still flows on.
            sampled = processor != nil && sampler.shouldSample(traceID: parent.traceID, parent: parent)
            spanContext = parent.child(sampled: sampled)
        } else {
            let traceID = SpanContext.TraceID.random()
            sampled = processor != nil && sampler.shouldSample(traceID: traceID, parent: nil)
            spanContext = SpanContext(
                traceID: traceID, spanID: .random(), flags: sampled ? [.sampled, .random] : .random)
        }
        let processor = self.processor
        return OTLPSpan(
            name: operationName,
            context: context,
            spanContext: spanContext,
            parent: parent,
            kind: Self.otlpKind(kind),
            startTimeUnixNano: instant().nanosecondsSinceEpoch,
            isRecording: sampled,
            limits: limits,
            onEnd: { span in processor?.enqueue(span) }
        )
    }

    /// Asks the span processor to export what it holds, without waiting for it.
    public func forceFlush() {
        guard let processor else { return }
        Task { await processor.forceFlush() }
    }

    /// Reads `traceparent`, `tracestate`, `baggage` and `correlation-id` into `context`.
    public func extract<Carrier, Extract: Extractor>(
        _ carrier: Carrier,
        into context: inout ServiceContext,
        using extractor: Extract
    ) where Extract.Carrier == Carrier {
        propagator.extract(carrier, into: &context, using: extractor)
    }

    /// Writes `traceparent`, `tracestate`, `baggage` and `correlation-id` from `context`.
    public func inject<Carrier, Inject: Injector>(
        _ context: ServiceContext,
        into carrier: inout Carrier,
        using injector: Inject
    ) where Inject.Carrier == Carrier {
        propagator.inject(context, into: &carrier, using: injector)
    }

    static func otlpKind(_ kind: Tracing.SpanKind) -> Telemetry.SpanKind {
        switch kind {
        case .server: .server
        case .client: .client
        case .producer: .producer
        case .consumer: .consumer
        case .internal: .internal
        }
    }
}
