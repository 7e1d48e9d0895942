/// Why a payload could not be decoded, and where.
///
/// `path` uses the OTLP JSON field names whatever the format, so one fault reads the
/// same from protobuf and JSON: `resourceSpans[0].scopeSpans[1].spans[3].traceId`.
public struct TelemetryDecodingError: Error, Hashable, Sendable, CustomStringConvertible {
    /// Where the fault is; empty for the top level.
    public var path: String
    /// What is wrong there, phrased so the sender knows what to fix.
    public var reason: String

    public init(path: String = "", reason: String) {
        self.path = path
        self.reason = reason
    }

    public var description: String { path.isEmpty ? reason : "\(path): \(reason)" }

    /// The same error seen from the enclosing field: `field` or `field[index]` is put in
    /// front of the path. Only called on the way out of a failed decode.
    @usableFromInline
    func within(_ field: String, index: Int? = nil) -> TelemetryDecodingError {
        var prefix = field
        if let index { prefix += "[\(index)]" }
        if path.isEmpty { return TelemetryDecodingError(path: prefix, reason: reason) }
        let separator = path.first == "[" ? "" : "."
        return TelemetryDecodingError(path: prefix + separator + path, reason: reason)
    }
}

/// Limits every decoder applies to hostile input.
public enum DecodingLimits {
    /// How deep arrays and key-value lists may nest inside one `AnyValue`.
    public static let maxAnyValueDepth = 32
    /// How deep JSON may nest at all, counting every object and array.
    public static let maxJSONDepth = 64
}
