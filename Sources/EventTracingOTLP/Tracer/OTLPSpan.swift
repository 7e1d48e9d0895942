import EventTracing
import Synchronization
import Telemetry
public import Tracing

/// A span started by ``OTLPTracer``. When it ends, a sampled span becomes an OTLP span in
/// the tracer's batch processor; a span that was not sampled records nothing and only
/// carries its context onward.
public final class OTLPSpan: Tracing.Span {
    /// The context the span was started in, with ``ServiceContext/spanContext`` replaced
    /// by the span's own, so that children and injected headers continue from it.
    public let context: ServiceContext
    /// Whether the span records what is set on it and is exported when it ends.
    public let isRecording: Bool

    let spanContext: SpanContext
    let parentSpanID: SpanContext.SpanID?
    let parentIsRemote: Bool
    let kind: Telemetry.SpanKind
    let startTimeUnixNano: UInt64
    let limits: OTLPSpanLimits
    let onEnd: @Sendable (Telemetry.Span) -> Void
    private let state: Mutex<State>

    /// Everything that changes after the start, owned by the mutex: spans are set from any
    /// task, and a `Span` must be a `Sendable` reference.
    struct State {
        var name: String
        var attributes: SpanAttributes = [:]
        /// Keys in the order they were first set, because the limit keeps the first ones.
        var attributeOrder: [String] = []
        var droppedAttributes: UInt32 = 0
        var events: [Telemetry.SpanEvent] = []
        var droppedEvents: UInt32 = 0
        var links: [Telemetry.SpanLink] = []
        var droppedLinks: UInt32 = 0
        var status = Telemetry.SpanStatus()
        var ended = false
    }

    init(
        name: String,
        context: ServiceContext,
        spanContext: SpanContext,
        parent: SpanContext?,
        kind: Telemetry.SpanKind,
        startTimeUnixNano: UInt64,
        isRecording: Bool,
        limits: OTLPSpanLimits,
        onEnd: @escaping @Sendable (Telemetry.Span) -> Void
    ) {
        var context = context
        context.spanContext = spanContext
        self.context = context
        self.spanContext = spanContext
        self.parentSpanID = parent?.spanID
        self.parentIsRemote = parent?.isRemote ?? false
        self.kind = kind
        self.startTimeUnixNano = startTimeUnixNano
        self.isRecording = isRecording
        self.limits = limits
        self.onEnd = onEnd
        self.state = Mutex(State(name: name))
    }

    /// The span's name; renaming is allowed until it ends.
    public var operationName: String {
        get { state.withLock { $0.name } }
        set { state.withLock { if !$0.ended { $0.name = newValue } } }
    }

    /// The span's attributes. Keys beyond the limit are not kept and are counted as dropped.
    public var attributes: SpanAttributes {
        get { state.withLock { $0.attributes } }
        set {
            guard isRecording else { return }
            let limit = limits.attributeCount
            state.withLock { state in
                guard !state.ended else { return }
                // `span.attributes[key] = value` hands back the whole set each time, so
                // the common case — every key known or fitting — stores it as it is and
                // only appends the new keys to the order.
                var newKeys: [String] = []
                var knownKeys = 0
                newValue.forEach { key, _ in
                    if state.attributes.get(key) == nil { newKeys.append(key) } else { knownKeys += 1 }
                }
                if knownKeys < state.attributeOrder.count {
                    state.attributeOrder.removeAll { newValue.get($0) == nil }
                }
                let room = max(0, limit - state.attributeOrder.count)
                if newKeys.count <= room {
                    state.attributes = newValue
                    state.attributeOrder.append(contentsOf: newKeys.count > 1 ? newKeys.sorted() : newKeys)
                    return
                }
                // A dictionary has no order, so keys new in one assignment are kept in key order.
                newKeys.sort()
                var kept = newValue
                for key in newKeys[room...] {
                    kept.set(key, value: nil)
                    state.droppedAttributes &+= 1
                }
                state.attributes = kept
                state.attributeOrder.append(contentsOf: newKeys[..<room])
            }
        }
    }

    /// Sets the status. "When span status is set to Ok it SHOULD be considered final and
    /// any further attempts to change it SHOULD be ignored", and the description is kept
    /// only for errors (OTel trace API, "Set Status").
    public func setStatus(_ status: Tracing.SpanStatus) {
        guard isRecording else { return }
        state.withLock { state in
            guard !state.ended, state.status.code != .ok else { return }
            switch status.code {
            case .ok: state.status = Telemetry.SpanStatus(code: .ok)
            case .error: state.status = Telemetry.SpanStatus(code: .error, message: status.message ?? "")
            }
        }
    }

    /// Adds an event, or counts it as dropped beyond the limit.
    public func addEvent(_ event: Tracing.SpanEvent) {
        guard isRecording else { return }
        let (attributes, dropped) = AttributeConversion.keyValues(
            event.attributes, limit: limits.attributesPerEvent, maxLength: limits.attributeValueLength)
        let converted = Telemetry.SpanEvent(
            timeUnixNano: event.nanosecondsSinceEpoch, name: event.name, attributes: attributes,
            droppedAttributesCount: dropped)
        let limit = limits.eventCount
        state.withLock { state in
            guard !state.ended else { return }
            if state.events.count < limit {
                state.events.append(converted)
            } else {
                state.droppedEvents &+= 1
            }
        }
    }

    /// Records an error as an `exception` event with `exception.type` and
    /// `exception.message` (OTel semantic conventions, "Exceptions on spans"). The status
    /// is left to the caller, as the spec asks.
    public func recordError<Instant: TracerInstant>(
        _ error: any Error,
        attributes: SpanAttributes,
        at instant: @autoclosure () -> Instant
    ) {
        guard isRecording else { return }
        var all = attributes
        all.set("exception.type", value: .string(String(reflecting: type(of: error))))
        all.set("exception.message", value: .string(String(describing: error)))
        addEvent(Tracing.SpanEvent(name: "exception", at: instant(), attributes: all))
    }

    /// Links this span to another span context, typically the context that created a
    /// message this span processes. A context without a span context is ignored.
    public func addLink(_ link: Tracing.SpanLink) {
        guard isRecording, let linked = link.context.spanContext else { return }
        let (attributes, dropped) = AttributeConversion.keyValues(
            link.attributes, limit: limits.attributesPerLink, maxLength: limits.attributeValueLength)
        let converted = Telemetry.SpanLink(
            traceID: TraceID(high: linked.traceID.high, low: linked.traceID.low),
            spanID: Telemetry.SpanID(linked.spanID.value),
            traceState: linked.traceState.description,
            attributes: attributes,
            droppedAttributesCount: dropped,
            flags: Self.otlpFlags(linked.flags, isRemote: linked.isRemote)
        )
        let limit = limits.linkCount
        state.withLock { state in
            guard !state.ended else { return }
            if state.links.count < limit {
                state.links.append(converted)
            } else {
                state.droppedLinks &+= 1
            }
        }
    }

    /// Ends the span; only the first call counts.
    public func end<Instant: TracerInstant>(at instant: @autoclosure () -> Instant) {
        let endTime = instant().nanosecondsSinceEpoch
        let finished: State? = state.withLock { state in
            guard !state.ended else { return nil }
            state.ended = true
            return state
        }
        guard isRecording, let finished else { return }
        let (attributes, droppedByConversion) = Self.orderedKeyValues(finished, maxLength: limits.attributeValueLength)
        onEnd(
            Telemetry.Span(
                traceID: TraceID(high: spanContext.traceID.high, low: spanContext.traceID.low),
                spanID: Telemetry.SpanID(spanContext.spanID.value),
                traceState: spanContext.traceState.description,
                parentSpanID: parentSpanID.map { Telemetry.SpanID($0.value) },
                flags: Self.otlpFlags(spanContext.flags, isRemote: parentIsRemote),
                name: finished.name,
                kind: kind,
                startTimeUnixNano: startTimeUnixNano,
                endTimeUnixNano: endTime,
                attributes: attributes,
                droppedAttributesCount: finished.droppedAttributes &+ droppedByConversion,
                events: finished.events,
                droppedEventsCount: finished.droppedEvents,
                links: finished.links,
                droppedLinksCount: finished.droppedLinks,
                status: finished.status
            )
        )
    }

    private static func orderedKeyValues(_ state: State, maxLength: Int?) -> ([KeyValue], UInt32) {
        var result: [KeyValue] = []
        result.reserveCapacity(state.attributeOrder.count)
        var unconvertible: UInt32 = 0
        for key in state.attributeOrder {
            if let attribute = state.attributes.get(key),
                let value = AttributeConversion.anyValue(attribute, maxLength: maxLength)
            {
                result.append(KeyValue(key: key, value: value))
            } else {
                unconvertible &+= 1
            }
        }
        return (result, unconvertible)
    }

    /// OTLP span flags: the W3C flags in bits 0–7; bit 8 (`SPAN_FLAGS_CONTEXT_HAS_IS_REMOTE_MASK`)
    /// says bit 9 (`SPAN_FLAGS_CONTEXT_IS_REMOTE_MASK`) is known (trace.proto, `SpanFlags`).
    static func otlpFlags(_ flags: TraceFlags, isRemote: Bool?) -> UInt32 {
        var result = UInt32(flags.rawValue)
        if let isRemote {
            result |= 0x100
            if isRemote { result |= 0x200 }
        }
        return result
    }
}
