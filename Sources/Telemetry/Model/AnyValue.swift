/// An OTLP attribute or log-body value (`opentelemetry.proto.common.v1.AnyValue`).
///
/// No case is `indirect`: arrays and key-value lists already live on the heap, so a
/// scalar attribute costs no allocation of its own.
public enum AnyValue: Hashable, Sendable {
    /// An `AnyValue` with no field set. OTLP allows it, and it round-trips as such.
    case empty
    case string(String)
    case bool(Bool)
    case int(Int64)
    case double(Double)
    case bytes([UInt8])
    case array([AnyValue])
    case keyValueList([KeyValue])
}

/// One attribute: a key and its value (`opentelemetry.proto.common.v1.KeyValue`).
public struct KeyValue: Hashable, Sendable {
    public var key: String
    public var value: AnyValue

    @inlinable
    public init(key: String, value: AnyValue) {
        self.key = key
        self.value = value
    }

    @inlinable
    public init(_ key: String, _ value: AnyValue) {
        self.init(key: key, value: value)
    }
}

extension AnyValue: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral,
    ExpressibleByFloatLiteral, ExpressibleByBooleanLiteral
{
    public init(stringLiteral value: String) { self = .string(value) }
    public init(integerLiteral value: Int64) { self = .int(value) }
    public init(floatLiteral value: Double) { self = .double(value) }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
}

extension Array where Element == KeyValue {
    /// The value of the first attribute with this key.
    public subscript(key key: String) -> AnyValue? {
        first(where: { $0.key == key })?.value
    }
}
