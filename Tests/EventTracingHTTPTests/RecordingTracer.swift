import EventTracing
import Instrumentation
import Synchronization
import Testing
import Tracing

/// An in-memory `Tracer` that records every span it starts.
///
/// In ``Identity/eventTracingKey`` mode it keeps span identities under EventTracing's
/// `spanContext` key and propagates through ``EventContextPropagator``, as our OTLP SDK
/// does. In ``Identity/ownKey`` mode it behaves like a third-party tracer such as
/// swift-otel: identities under a key of its own, and only `traceparent` in and out.
final class RecordingTracer: Tracer {
    enum Identity: Sendable {
        case eventTracingKey
        case ownKey
    }

    let identity: Identity
    private let started = Mutex<[RecordedSpan]>([])

    init(identity: Identity = .eventTracingKey) {
        self.identity = identity
    }

    /// Every span started so far, in start order.
    var spans: [RecordedSpan] { started.withLock { $0 } }

    /// The spans of one kind.
    func spans(ofKind kind: SpanKind) -> [RecordedSpan] {
        spans.filter { $0.kind == kind }
    }

    func startSpan<Instant: TracerInstant>(
        _ operationName: String,
        context: @autoclosure () -> ServiceContext,
        ofKind kind: SpanKind,
        at instant: @autoclosure () -> Instant,
        function: String,
        file fileID: String,
        line: UInt
    ) -> RecordedSpan {
        var context = context()
        let parent = identity == .eventTracingKey ? context.spanContext : context[OwnSpanKey.self]
        let own = parent?.child() ?? SpanContext.newTrace(sampled: true)
        switch identity {
        case .eventTracingKey: context.spanContext = own
        case .ownKey: context[OwnSpanKey.self] = own
        }
        let span = RecordedSpan(operationName: operationName, kind: kind, context: context, identity: own, parent: parent)
        started.withLock { $0.append(span) }
        return span
    }

    func extract<Carrier, Extract: Extractor>(
        _ carrier: Carrier,
        into context: inout ServiceContext,
        using extractor: Extract
    ) where Extract.Carrier == Carrier {
        switch identity {
        case .eventTracingKey:
            EventContextPropagator().extract(carrier, into: &context, using: extractor)
        case .ownKey:
            guard let header = extractor.extract(key: "traceparent", from: carrier),
                let parent = TraceParent(header)
            else { return }
            context[OwnSpanKey.self] = SpanContext(
                traceID: parent.traceID,
                spanID: parent.parentID,
                flags: parent.flags,
                isRemote: true
            )
        }
    }

    func inject<Carrier, Inject: Injector>(
        _ context: ServiceContext,
        into carrier: inout Carrier,
        using injector: Inject
    ) where Inject.Carrier == Carrier {
        switch identity {
        case .eventTracingKey:
            EventContextPropagator().inject(context, into: &carrier, using: injector)
        case .ownKey:
            guard let own = context[OwnSpanKey.self] else { return }
            injector.inject(own.traceParent.headerValue, forKey: "traceparent", into: &carrier)
        }
    }

    func forceFlush() {}
}

/// Where an ``RecordingTracer/Identity/ownKey`` tracer keeps its span identities.
enum OwnSpanKey: ServiceContextKey {
    typealias Value = SpanContext
}

/// A span recorded by ``RecordingTracer``.
final class RecordedSpan: Span {
    struct State {
        var operationName: String
        var attributes: SpanAttributes = [:]
        var errors: [String] = []
        var status: SpanStatus?
        var endCount = 0
    }

    let kind: SpanKind
    let context: ServiceContext
    /// The span's own identity.
    let identity: SpanContext
    /// The identity of its parent, `nil` for a root span.
    let parent: SpanContext?
    private let state: Mutex<State>

    init(operationName: String, kind: SpanKind, context: ServiceContext, identity: SpanContext, parent: SpanContext?) {
        self.kind = kind
        self.context = context
        self.identity = identity
        self.parent = parent
        self.state = Mutex(State(operationName: operationName))
    }

    var recorded: State { state.withLock { $0 } }

    var operationName: String {
        get { state.withLock { $0.operationName } }
        set { state.withLock { $0.operationName = newValue } }
    }

    var attributes: SpanAttributes {
        get { state.withLock { $0.attributes } }
        set { state.withLock { $0.attributes = newValue } }
    }

    var isRecording: Bool { state.withLock { $0.endCount == 0 } }

    func setStatus(_ status: SpanStatus) { state.withLock { $0.status = status } }

    func addEvent(_ event: SpanEvent) {}

    func recordError<Instant: TracerInstant>(
        _ error: any Error,
        attributes: SpanAttributes,
        at instant: @autoclosure () -> Instant
    ) {
        let description = String(describing: error)
        state.withLock { $0.errors.append(description) }
    }

    func addLink(_ link: SpanLink) {}

    func end<Instant: TracerInstant>(at instant: @autoclosure () -> Instant) {
        state.withLock { $0.endCount += 1 }
    }

    /// A string attribute, or `nil`.
    func string(_ name: String) -> String? {
        guard case .string(let value)? = attributes.get(name) else { return nil }
        return value
    }

    /// An integer attribute, or `nil`.
    func int(_ name: String) -> Int64? {
        guard case .int64(let value)? = attributes.get(name) else { return nil }
        return value
    }
}
