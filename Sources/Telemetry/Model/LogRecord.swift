/// A log severity (`SeverityNumber`): 1–4 TRACE, 5–8 DEBUG, 9–12 INFO, 13–16 WARN,
/// 17–20 ERROR, 21–24 FATAL. Open like every protobuf enum.
public struct SeverityNumber: RawRepresentable, Hashable, Comparable, Sendable {
    public var rawValue: Int32
    @inlinable public init(rawValue: Int32) { self.rawValue = rawValue }

    public static let unspecified = SeverityNumber(rawValue: 0)
    public static let trace = SeverityNumber(rawValue: 1)
    public static let debug = SeverityNumber(rawValue: 5)
    public static let info = SeverityNumber(rawValue: 9)
    public static let warn = SeverityNumber(rawValue: 13)
    public static let error = SeverityNumber(rawValue: 17)
    public static let fatal = SeverityNumber(rawValue: 21)

    private static let ranges = ["TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"]

    /// The proto enum name (`SEVERITY_NUMBER_INFO2`), or `nil` for an unknown number.
    public var protoName: String? {
        if rawValue == 0 { return "SEVERITY_NUMBER_UNSPECIFIED" }
        guard (1...24).contains(rawValue) else { return nil }
        let range = Self.ranges[Int(rawValue - 1) / 4]
        let step = Int(rawValue - 1) % 4
        return "SEVERITY_NUMBER_" + range + (step == 0 ? "" : String(step + 1))
    }

    /// Parses a proto enum name such as `SEVERITY_NUMBER_WARN3`.
    public init?(protoName: some StringProtocol) {
        for raw in Int32(0)...24 where SeverityNumber(rawValue: raw).protoName == String(protoName) {
            self.init(rawValue: raw)
            return
        }
        return nil
    }

    public static func < (lhs: SeverityNumber, rhs: SeverityNumber) -> Bool {
        lhs.rawValue < rhs.rawValue
    }
}

/// One log record (`opentelemetry.proto.logs.v1.LogRecord`).
public struct LogRecord: Hashable, Sendable {
    public var timeUnixNano: UInt64
    public var observedTimeUnixNano: UInt64
    public var severityNumber: SeverityNumber
    public var severityText: String
    /// `nil` when the record has no body at all.
    public var body: AnyValue?
    public var attributes: [KeyValue]
    public var droppedAttributesCount: UInt32
    /// W3C trace flags in bits 0–7.
    public var flags: UInt32
    /// `nil` when the record was not written inside a trace.
    public var traceID: TraceID?
    public var spanID: SpanID?
    public var eventName: String

    public init(
        timeUnixNano: UInt64 = 0, observedTimeUnixNano: UInt64 = 0,
        severityNumber: SeverityNumber = .unspecified, severityText: String = "",
        body: AnyValue? = nil, attributes: [KeyValue] = [], droppedAttributesCount: UInt32 = 0,
        flags: UInt32 = 0, traceID: TraceID? = nil, spanID: SpanID? = nil, eventName: String = ""
    ) {
        self.timeUnixNano = timeUnixNano
        self.observedTimeUnixNano = observedTimeUnixNano
        self.severityNumber = severityNumber
        self.severityText = severityText
        self.body = body
        self.attributes = attributes
        self.droppedAttributesCount = droppedAttributesCount
        self.flags = flags
        self.traceID = traceID
        self.spanID = spanID
        self.eventName = eventName
    }
}
