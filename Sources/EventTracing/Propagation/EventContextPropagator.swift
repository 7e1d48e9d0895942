public import Instrumentation

/// Moves trace context, baggage and the correlation ID between a `ServiceContext` and the
/// headers of a message or request: `traceparent`, `tracestate`, `baggage` and
/// `correlation-id`.
///
/// Bootstrap it as the instrument (or let a `Tracer` delegate its `extract`/`inject` to
/// it), then use the carriers of this module:
///
/// ```swift
/// var context = ServiceContext.topLevel
/// propagator.extract(record.headers, into: &context, using: MessageHeadersExtractor())
/// propagator.inject(context, into: &outgoing.headers, using: MessageHeadersInjector())
/// ```
///
/// Extraction follows W3C Trace Context Level 2 (https://www.w3.org/TR/trace-context-2/):
/// an invalid `traceparent` drops both headers ("If the vendor failed to parse
/// `traceparent`, it MUST NOT attempt to parse `tracestate`", §3.3), while an invalid
/// `tracestate` only drops itself. The correlation ID is read from the `correlation-id`
/// header, else from the baggage entry `correlation.id`, else created (when
/// `createsCorrelationID` is true).
public struct EventContextPropagator: Instrument {
    /// Whether extraction creates a correlation ID when the carrier has none.
    public var createsCorrelationID: Bool

    /// The header names this propagator reads and writes.
    public enum HeaderName {
        /// W3C Trace Context §3.2.1.
        public static let traceparent = "traceparent"
        /// W3C Trace Context §3.3.1.
        public static let tracestate = "tracestate"
        /// W3C Baggage §3.1.
        public static let baggage = "baggage"
        /// Causeway's correlation header.
        public static let correlationID = CorrelationID.headerName
    }

    /// Creates a propagator; `createsCorrelationID` makes every extracted context carry a
    /// correlation ID, new when none came in.
    public init(createsCorrelationID: Bool = true) {
        self.createsCorrelationID = createsCorrelationID
    }

    /// Reads `traceparent`, `tracestate`, `baggage` and `correlation-id` from `carrier`
    /// into `context`: ``ServiceContext/spanContext`` (remote), ``ServiceContext/baggage``
    /// and ``ServiceContext/correlationID``. Values already in `context` are replaced only
    /// by valid incoming ones.
    public func extract<Carrier, Extract: Extractor>(
        _ carrier: Carrier,
        into context: inout ServiceContext,
        using extractor: Extract
    ) where Extract.Carrier == Carrier {
        var values = context.eventTracing
        if let header = extractor.extract(key: HeaderName.traceparent, from: carrier),
            let parent = TraceParent(header)
        {
            let traceState =
                extractor.extract(key: HeaderName.tracestate, from: carrier).flatMap { TraceState($0) } ?? TraceState()
            values.spanContext = SpanContext(
                traceID: parent.traceID,
                spanID: parent.parentID,
                flags: parent.flags,
                traceState: traceState,
                isRemote: true
            )
        }

        var baggage: Baggage?
        if let header = extractor.extract(key: HeaderName.baggage, from: carrier) {
            let parsed = Baggage(header)
            if !parsed.isEmpty {
                baggage = parsed
                values.baggage = parsed
            }
        }

        let correlationID =
            extractor.extract(key: HeaderName.correlationID, from: carrier).flatMap(CorrelationID.init)
            ?? baggage?[CorrelationID.baggageKey].flatMap(CorrelationID.init)
        if let correlationID {
            values.correlationID = correlationID
        } else if createsCorrelationID, values.correlationID == nil {
            values.correlationID = CorrelationID.generate()
        }
        context.eventTracing = values
    }

    /// Writes the span context of `context` as `traceparent` (version 00) and `tracestate`
    /// (within 512 characters), and its baggage, with the correlation ID as the
    /// `correlation.id` entry, as `baggage`; the correlation ID also as `correlation-id`.
    /// Headers with nothing to carry are not written.
    public func inject<Carrier, Inject: Injector>(
        _ context: ServiceContext,
        into carrier: inout Carrier,
        using injector: Inject
    ) where Inject.Carrier == Carrier {
        let values = context.eventTracing
        if let spanContext = values.spanContext {
            injector.inject(spanContext.traceParent.headerValue, forKey: HeaderName.traceparent, into: &carrier)
            // §3.3.2: empty tracestate headers are accepted but "SHOULD [be avoided]".
            if !spanContext.traceState.isEmpty {
                let value = spanContext.traceState.headerValue()
                if !value.isEmpty { injector.inject(value, forKey: HeaderName.tracestate, into: &carrier) }
            }
        }

        var baggage = values.baggage ?? Baggage()
        if let correlationID = values.correlationID {
            injector.inject(correlationID.rawValue, forKey: HeaderName.correlationID, into: &carrier)
            // A token key and any value: setting cannot fail here.
            if let updated = try? baggage.setting(correlationID.rawValue, forKey: CorrelationID.baggageKey) {
                baggage = updated
            }
        }
        if !baggage.isEmpty {
            let value = baggage.headerValue
            if !value.isEmpty { injector.inject(value, forKey: HeaderName.baggage, into: &carrier) }
        }
    }
}
