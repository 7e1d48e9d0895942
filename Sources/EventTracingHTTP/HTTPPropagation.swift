import EventTracing
import Instrumentation
import Tracing

/// The tracer that starts the HTTP spans and the instrument that moves their context.
///
/// The trace context goes through the tracer's own `extract`/`inject`, because a tracer
/// may keep its span identity under a key of its own (swift-otel does); the correlation
/// ID and the baggage go through ``EventContextPropagator``, which also writes
/// `traceparent` when the tracer wrote none (a `NoOpTracer` passing an extracted context
/// through unchanged).
struct HTTPPropagation {
    let tracer: any Tracer
    let instrument: any Instrument

    /// `tracer`, or the active one (a `withTracer` scope or the bootstrapped tracer) when
    /// `nil`, looked up now so that a task-local tracer is honoured per request.
    init(tracer: (any Tracer)?) {
        let chosen = tracer ?? InstrumentationSystem.tracer
        self.tracer = chosen
        // Without a tracer, the bootstrapped instrument (an EventContextPropagator, say)
        // still moves the context.
        self.instrument = chosen is NoOpTracer ? InstrumentationSystem.instrument : chosen
    }

    /// Reads an incoming request's headers into a new top-level context: ours first, so
    /// that the correlation ID, the baggage and a remote ``SpanContext`` are always there,
    /// then the tracer's, for the keys only it knows.
    func extract<Carrier, Extract: Extractor>(
        _ carrier: Carrier,
        using extractor: Extract
    ) -> ServiceContext where Extract.Carrier == Carrier {
        var context = ServiceContext.topLevel
        // A request without a correlation ID is the edge of the system: one starts here.
        EventContextPropagator(createsCorrelationID: true).extract(carrier, into: &context, using: extractor)
        instrument.extract(carrier, into: &context, using: extractor)
        return context
    }

    /// The header fields that carry `context`: first what the tracer writes, then the
    /// correlation ID and the baggage, and our `traceparent` and `tracestate` only when the
    /// tracer wrote no `traceparent`. Each name appears once.
    func fields(for context: ServiceContext) -> [(name: String, value: String)] {
        var fields: [(name: String, value: String)] = []
        instrument.inject(context, into: &fields, using: HTTPHeaderFieldsInjector())
        var ours = context
        if fields.contains(where: { HTTPName.equal($0.name, EventContextPropagator.HeaderName.traceparent) }) {
            ours.spanContext = nil
        }
        EventContextPropagator(createsCorrelationID: false).inject(ours, into: &fields, using: HTTPHeaderFieldsInjector())
        return fields
    }

    /// A span's context with the correlation ID and baggage of the context it was started
    /// in, for tracers that do not carry the parent context's values into the span's.
    static func ensuring(valuesOf parent: ServiceContext, in spanContext: ServiceContext) -> ServiceContext {
        var result = spanContext
        if result.correlationID == nil { result.correlationID = parent.correlationID }
        if result.baggage == nil { result.baggage = parent.baggage }
        return result
    }
}

enum HTTPName {
    /// ASCII case-insensitive comparison, as header names require (RFC 9110 §5.1).
    static func equal(_ lhs: String, _ rhs: String) -> Bool {
        guard lhs.utf8.count == rhs.utf8.count else { return false }
        return zip(lhs.utf8, rhs.utf8).allSatisfy { lowercase($0) == lowercase($1) }
    }

    private static func lowercase(_ byte: UInt8) -> UInt8 {
        byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z") ? byte | 0x20 : byte
    }
}
