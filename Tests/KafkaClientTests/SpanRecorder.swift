import EventTracing
import Instrumentation
import Synchronization
import Tracing

/// A tracer that keeps every span it starts, with what the client put on it; identities
/// live under EventTracing's key, as in our OTLP SDK.
final class SpanRecorder: Tracer {
    private let started = Mutex<[Recorded]>([])

    var spans: [Recorded] { started.withLock { $0 } }

    func startSpan<Instant: TracerInstant>(
        _ operationName: String, context: @autoclosure () -> ServiceContext, ofKind kind: SpanKind,
        at instant: @autoclosure () -> Instant, function: String, file fileID: String, line: UInt
    ) -> Recorded {
        var context = context()
        let own = context.spanContext?.child() ?? SpanContext.newTrace(sampled: true)
        let parent = context.spanContext
        context.spanContext = own
        let span = Recorded(name: operationName, kind: kind, context: context, identity: own, parent: parent)
        started.withLock { $0.append(span) }
        return span
    }

    func extract<Carrier, Extract: Extractor>(_ carrier: Carrier, into context: inout ServiceContext, using extractor: Extract)
    where Extract.Carrier == Carrier {
        EventContextPropagator().extract(carrier, into: &context, using: extractor)
    }

    func inject<Carrier, Inject: Injector>(_ context: ServiceContext, into carrier: inout Carrier, using injector: Inject)
    where Inject.Carrier == Carrier {
        EventContextPropagator().inject(context, into: &carrier, using: injector)
    }

    func forceFlush() {}

    final class Recorded: Tracing.Span {
        struct State {
            var name: String
            var attributes: SpanAttributes = [:]
            var events: [String] = []
            var links: [SpanContext] = []
            var errors: [String] = []
        }

        let kind: SpanKind
        let context: ServiceContext
        let identity: SpanContext
        let parent: SpanContext?
        private let state: Mutex<State>

        init(name: String, kind: SpanKind, context: ServiceContext, identity: SpanContext, parent: SpanContext?) {
            self.kind = kind
            self.context = context
            self.identity = identity
            self.parent = parent
            state = Mutex(State(name: name))
        }

        var recorded: State { state.withLock { $0 } }
        var operationName: String {
            get { state.withLock { $0.name } }
            set { state.withLock { $0.name = newValue } }
        }
        var attributes: SpanAttributes {
            get { state.withLock { $0.attributes } }
            set { state.withLock { $0.attributes = newValue } }
        }
        var isRecording: Bool { true }
        func setStatus(_ status: SpanStatus) {}
        func addEvent(_ event: SpanEvent) { state.withLock { $0.events.append(event.name) } }
        func recordError<Instant: TracerInstant>(_ error: any Error, attributes: SpanAttributes, at instant: @autoclosure () -> Instant) {
            state.withLock { $0.errors.append("\(error)") }
        }
        func addLink(_ link: SpanLink) {
            if let target = link.context.spanContext { state.withLock { $0.links.append(target) } }
        }
        func end<Instant: TracerInstant>(at instant: @autoclosure () -> Instant) {}

        func string(_ name: String) -> String? {
            guard case .string(let value)? = attributes.get(name) else { return nil }
            return value
        }
    }
}
