public import Instrumentation

extension ServiceContext {
    /// The span context this context continues: the remote parent extracted from an
    /// incoming message, or the current span of a `Tracer` that stores it here.
    public var spanContext: SpanContext? {
        get { self[SpanContextKey.self] }
        set { self[SpanContextKey.self] = newValue }
    }

    /// The W3C baggage that travels with this context.
    public var baggage: Baggage? {
        get { self[BaggageKey.self] }
        set { self[BaggageKey.self] = newValue }
    }

    /// The correlation ID of the business transaction this context belongs to.
    public var correlationID: CorrelationID? {
        get { self[CorrelationIDKey.self] }
        set { self[CorrelationIDKey.self] = newValue }
    }

    /// The correlation ID, creating and storing one when there is none: for work that
    /// starts a transaction without an incoming message, such as a timer or a CLI.
    public mutating func ensureCorrelationID() -> CorrelationID {
        if let existing = correlationID { return existing }
        let created = CorrelationID.generate()
        correlationID = created
        return created
    }
}

enum SpanContextKey: ServiceContextKey {
    typealias Value = SpanContext
    static var nameOverride: String? { "event-tracing.span-context" }
}

enum BaggageKey: ServiceContextKey {
    typealias Value = Baggage
    static var nameOverride: String? { "event-tracing.baggage" }
}

enum CorrelationIDKey: ServiceContextKey {
    typealias Value = CorrelationID
    static var nameOverride: String? { "event-tracing.correlation-id" }
}
