public import Instrumentation

extension ServiceContext {
    /// The span context this context continues: the remote parent extracted from an
    /// incoming message, or the current span of a `Tracer` that stores it here.
    public var spanContext: SpanContext? {
        get { eventTracing.spanContext }
        set { eventTracing.spanContext = newValue }
    }

    /// The W3C baggage that travels with this context.
    public var baggage: Baggage? {
        get { eventTracing.baggage }
        set { eventTracing.baggage = newValue }
    }

    /// The correlation ID of the business transaction this context belongs to.
    public var correlationID: CorrelationID? {
        get { eventTracing.correlationID }
        set { eventTracing.correlationID = newValue }
    }

    /// All three under one key: a `ServiceContext` lookup hashes, casts and boxes, and
    /// propagation reads or writes the three together on every message.
    var eventTracing: EventTracingValues {
        get { self[EventTracingKey.self] ?? EventTracingValues() }
        set { self[EventTracingKey.self] = newValue.isEmpty ? nil : newValue }
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

/// What EventTracing keeps in a `ServiceContext`.
struct EventTracingValues: Sendable {
    var spanContext: SpanContext?
    var baggage: Baggage?
    var correlationID: CorrelationID?

    var isEmpty: Bool { spanContext == nil && baggage == nil && correlationID == nil }
}

enum EventTracingKey: ServiceContextKey {
    typealias Value = EventTracingValues
    static var nameOverride: String? { "event-tracing" }
}
