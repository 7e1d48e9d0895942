import Instrumentation
import Synchronization
import Testing
import Tracing

@testable import EventTracing

/// An in-memory `Tracer` that records every span it starts, with its parent, links,
/// attributes, events, status and end.
///
/// In ``Identity/eventTracingKey`` mode it keeps span identities under EventTracing's
/// `spanContext` key and propagates through ``EventContextPropagator``, as our OTLP SDK
/// does. In ``Identity/ownKey`` mode it behaves like a third-party tracer such as
/// swift-otel: identities under a key of its own, and its own `traceparent` handling, so
/// the messaging helpers must go through the tracer's `inject`/`extract` to work with it.
final class TestTracer: Tracer {
    enum Identity: Sendable {
        case eventTracingKey
        case ownKey
    }

    let identity: Identity
    private let started = Mutex<[TestSpan]>([])

    init(identity: Identity = .eventTracingKey) {
        self.identity = identity
    }

    /// Every span started so far, in start order.
    var spans: [TestSpan] { started.withLock { $0 } }

    /// The one span with this name.
    func span(named name: String) throws -> TestSpan {
        let matches = spans.filter { $0.operationName == name }
        return try #require(matches.count == 1 ? matches.first : nil, "\(matches.count) spans named \(name)")
    }

    /// The identity this tracer gives the span that `context` belongs to.
    func spanContext(in context: ServiceContext) -> SpanContext? {
        switch identity {
        case .eventTracingKey: context.spanContext
        case .ownKey: context[TestTracerSpanKey.self]
        }
    }

    func startSpan<Instant: TracerInstant>(
        _ operationName: String,
        context: @autoclosure () -> ServiceContext,
        ofKind kind: SpanKind,
        at instant: @autoclosure () -> Instant,
        function: String,
        file fileID: String,
        line: UInt
    ) -> TestSpan {
        var context = context()
        let parent = spanContext(in: context)
        let own = parent?.child() ?? SpanContext.newTrace(sampled: true)
        switch identity {
        case .eventTracingKey: context.spanContext = own
        case .ownKey: context[TestTracerSpanKey.self] = own
        }
        let span = TestSpan(operationName: operationName, kind: kind, context: context, identity: own, parent: parent)
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
            context[TestTracerSpanKey.self] = SpanContext(
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
            guard let own = context[TestTracerSpanKey.self] else { return }
            injector.inject(own.traceParent.headerValue, forKey: "traceparent", into: &carrier)
        }
    }

    func forceFlush() {}
}

/// Where an ``TestTracer/Identity/ownKey`` tracer keeps its span identities.
enum TestTracerSpanKey: ServiceContextKey {
    typealias Value = SpanContext
}

/// A span recorded by ``TestTracer``.
final class TestSpan: Span {
    struct State {
        var operationName: String
        var attributes: SpanAttributes = [:]
        var events: [SpanEvent] = []
        var errors: [String] = []
        var links: [SpanLink] = []
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

    func addEvent(_ event: SpanEvent) { state.withLock { $0.events.append(event) } }

    func recordError<Instant: TracerInstant>(
        _ error: any Error,
        attributes: SpanAttributes,
        at instant: @autoclosure () -> Instant
    ) {
        let description = String(describing: error)
        state.withLock { $0.errors.append(description) }
    }

    func addLink(_ link: SpanLink) { state.withLock { $0.links.append(link) } }

    func end<Instant: TracerInstant>(at instant: @autoclosure () -> Instant) {
        state.withLock { $0.endCount += 1 }
    }

    /// A string attribute, or `nil`.
    func string(_ name: String) -> String? {
        guard case .string(let value)? = attributes.get(name) else { return nil }
        return value
    }
}

/// Kafka-style record headers: an ordered list in which a name may repeat.
struct TestHeaders: MessageHeaders, Equatable {
    var fields: [Field] = []

    struct Field: Equatable, Sendable {
        var name: String
        var value: [UInt8]
    }

    init(_ fields: [(String, String)] = []) {
        self.fields = fields.map { Field(name: $0.0, value: Array($0.1.utf8)) }
    }

    func lastValue(forHeader name: String) -> [UInt8]? {
        fields.last(where: { $0.name == name })?.value
    }

    mutating func setHeader(_ name: String, to value: [UInt8]) {
        fields.removeAll(where: { $0.name == name })
        fields.append(Field(name: name, value: value))
    }

    /// Every value of the headers named `name`, as text.
    func values(_ name: String) -> [String] {
        fields.filter { $0.name == name }.map { String(decoding: $0.value, as: UTF8.self) }
    }
}
