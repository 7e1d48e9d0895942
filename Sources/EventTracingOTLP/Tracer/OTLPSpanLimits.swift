/// The limits the SDK applies to every span, so that a runaway loop cannot grow one
/// without bound. What is cut is counted in the span's `dropped*Count` fields.
///
/// Defaults and environment variables follow the OTel spec, "Span Limits"
/// (https://opentelemetry.io/docs/specs/otel/trace/sdk/#span-limits).
public struct OTLPSpanLimits: Hashable, Sendable {
    /// Attributes per span (`OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT`, default 128).
    public var attributeCount: Int = 128
    /// Characters kept of a string attribute value, or of each string in an array
    /// (`OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT`); `nil`, the default, keeps everything.
    public var attributeValueLength: Int? = nil
    /// Events per span (`OTEL_SPAN_EVENT_COUNT_LIMIT`, default 128).
    public var eventCount: Int = 128
    /// Links per span (`OTEL_SPAN_LINK_COUNT_LIMIT`, default 128).
    public var linkCount: Int = 128
    /// Attributes per event (`OTEL_EVENT_ATTRIBUTE_COUNT_LIMIT`, default 128).
    public var attributesPerEvent: Int = 128
    /// Attributes per link (`OTEL_LINK_ATTRIBUTE_COUNT_LIMIT`, default 128).
    public var attributesPerLink: Int = 128

    /// The spec's defaults.
    public init() {}
}
