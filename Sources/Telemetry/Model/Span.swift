/// What a span represents (`Span.SpanKind`). A struct rather than an enum because
/// protobuf enums are open: an unknown number from a newer SDK is kept, not refused.
public struct SpanKind: RawRepresentable, Hashable, Sendable {
    public var rawValue: Int32
    @inlinable public init(rawValue: Int32) { self.rawValue = rawValue }

    public static let unspecified = SpanKind(rawValue: 0)
    public static let `internal` = SpanKind(rawValue: 1)
    public static let server = SpanKind(rawValue: 2)
    public static let client = SpanKind(rawValue: 3)
    public static let producer = SpanKind(rawValue: 4)
    public static let consumer = SpanKind(rawValue: 5)

    /// The proto enum name (`SPAN_KIND_SERVER`), or `nil` for an unknown number.
    public var protoName: String? {
        switch rawValue {
        case 0: "SPAN_KIND_UNSPECIFIED"
        case 1: "SPAN_KIND_INTERNAL"
        case 2: "SPAN_KIND_SERVER"
        case 3: "SPAN_KIND_CLIENT"
        case 4: "SPAN_KIND_PRODUCER"
        case 5: "SPAN_KIND_CONSUMER"
        default: nil
        }
    }
}

/// A span status code (`Status.StatusCode`); open like every protobuf enum.
public struct StatusCode: RawRepresentable, Hashable, Sendable {
    public var rawValue: Int32
    @inlinable public init(rawValue: Int32) { self.rawValue = rawValue }

    public static let unset = StatusCode(rawValue: 0)
    public static let ok = StatusCode(rawValue: 1)
    public static let error = StatusCode(rawValue: 2)

    /// The proto enum name (`STATUS_CODE_ERROR`), or `nil` for an unknown number.
    public var protoName: String? {
        switch rawValue {
        case 0: "STATUS_CODE_UNSET"
        case 1: "STATUS_CODE_OK"
        case 2: "STATUS_CODE_ERROR"
        default: nil
        }
    }
}

/// A span's status: a code and, for errors, a developer-facing message.
public struct SpanStatus: Hashable, Sendable {
    public var code: StatusCode
    public var message: String

    public init(code: StatusCode = .unset, message: String = "") {
        self.code = code
        self.message = message
    }
}

/// A timestamped annotation on a span (`Span.Event`).
public struct SpanEvent: Hashable, Sendable {
    public var timeUnixNano: UInt64
    public var name: String
    public var attributes: [KeyValue]
    public var droppedAttributesCount: UInt32

    public init(
        timeUnixNano: UInt64 = 0, name: String = "", attributes: [KeyValue] = [],
        droppedAttributesCount: UInt32 = 0
    ) {
        self.timeUnixNano = timeUnixNano
        self.name = name
        self.attributes = attributes
        self.droppedAttributesCount = droppedAttributesCount
    }
}

/// A pointer from a span to another span, possibly in another trace (`Span.Link`).
/// Consumer spans link to the span that created the message they process.
public struct SpanLink: Hashable, Sendable {
    public var traceID: TraceID
    public var spanID: SpanID
    public var traceState: String
    public var attributes: [KeyValue]
    public var droppedAttributesCount: UInt32
    /// W3C trace flags in bits 0–7; bits 8–9 say whether the link's context was remote.
    public var flags: UInt32

    public init(
        traceID: TraceID, spanID: SpanID, traceState: String = "", attributes: [KeyValue] = [],
        droppedAttributesCount: UInt32 = 0, flags: UInt32 = 0
    ) {
        self.traceID = traceID
        self.spanID = spanID
        self.traceState = traceState
        self.attributes = attributes
        self.droppedAttributesCount = droppedAttributesCount
        self.flags = flags
    }
}

/// One operation (`opentelemetry.proto.trace.v1.Span`).
public struct Span: Hashable, Sendable {
    public var traceID: TraceID
    public var spanID: SpanID
    /// The W3C `tracestate` header value, as received.
    public var traceState: String
    /// `nil` for a root span.
    public var parentSpanID: SpanID?
    /// W3C trace flags in bits 0–7; bits 8–9 say whether the parent was remote.
    public var flags: UInt32
    public var name: String
    public var kind: SpanKind
    public var startTimeUnixNano: UInt64
    public var endTimeUnixNano: UInt64
    public var attributes: [KeyValue]
    public var droppedAttributesCount: UInt32
    public var events: [SpanEvent]
    public var droppedEventsCount: UInt32
    public var links: [SpanLink]
    public var droppedLinksCount: UInt32
    public var status: SpanStatus

    public init(
        traceID: TraceID, spanID: SpanID, traceState: String = "", parentSpanID: SpanID? = nil,
        flags: UInt32 = 0, name: String, kind: SpanKind = .internal, startTimeUnixNano: UInt64,
        endTimeUnixNano: UInt64, attributes: [KeyValue] = [], droppedAttributesCount: UInt32 = 0,
        events: [SpanEvent] = [], droppedEventsCount: UInt32 = 0, links: [SpanLink] = [],
        droppedLinksCount: UInt32 = 0, status: SpanStatus = SpanStatus()
    ) {
        self.traceID = traceID
        self.spanID = spanID
        self.traceState = traceState
        self.parentSpanID = parentSpanID
        self.flags = flags
        self.name = name
        self.kind = kind
        self.startTimeUnixNano = startTimeUnixNano
        self.endTimeUnixNano = endTimeUnixNano
        self.attributes = attributes
        self.droppedAttributesCount = droppedAttributesCount
        self.events = events
        self.droppedEventsCount = droppedEventsCount
        self.links = links
        self.droppedLinksCount = droppedLinksCount
        self.status = status
    }

    /// End minus start, zero when the clock ran backwards.
    @inlinable
    public var durationNanos: UInt64 {
        endTimeUnixNano >= startTimeUnixNano ? endTimeUnixNano - startTimeUnixNano : 0
    }
}
