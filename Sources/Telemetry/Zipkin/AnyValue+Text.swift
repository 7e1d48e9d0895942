extension AnyValue {
    /// The value as the text a string-only format (Zipkin tags) carries.
    ///
    /// OpenTelemetry's Zipkin mapping: primitives in their usual form with booleans as
    /// `true`/`false`, arrays "serialized to string like a JSON list"
    /// (https://opentelemetry.io/docs/specs/otel/trace/sdk_exporters/zipkin/#attribute).
    /// Key-value lists are written as a JSON object for the same reason, bytes as base64
    /// (the proto3 JSON form), and an empty value as the empty string. Doubles use the
    /// shortest round-trip form, so `2.0` stays `2.0` and never becomes `2`.
    var text: String {
        switch self {
        case .empty: return ""
        case .string(let value): return value
        case .bool(let value): return value ? "true" : "false"
        case .int(let value): return String(value)
        case .double(let value): return JSONWriter.doubleText(value)
        case .bytes(let value): return Base64.encode(value)
        case .array, .keyValueList:
            var writer = JSONWriter(capacity: 64)
            writer.plainValue(self)
            return writer.string
        }
    }
}
