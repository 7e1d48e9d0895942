import Telemetry
import Tracing

/// Turns swift-distributed-tracing attributes into OTLP `KeyValue`s under the limits.
enum AttributeConversion {
    /// The OTLP value of one attribute; `nil` for a case this SDK does not know, which is
    /// then left out (the enum asks its users to expect new cases).
    static func anyValue(_ attribute: SpanAttribute, maxLength: Int?) -> AnyValue? {
        switch attribute {
        case .int32(let value): return .int(Int64(value))
        case .int64(let value): return .int(value)
        case .double(let value): return .double(value)
        case .bool(let value): return .bool(value)
        case .string(let value): return .string(truncate(value, to: maxLength))
        case .int32Array(let values): return .array(values.map { .int(Int64($0)) })
        case .int64Array(let values): return .array(values.map { .int($0) })
        case .doubleArray(let values): return .array(values.map { .double($0) })
        case .boolArray(let values): return .array(values.map { .bool($0) })
        case .stringArray(let values): return .array(values.map { .string(truncate($0, to: maxLength)) })
        case .stringConvertible(let value): return .string(truncate(String(describing: value), to: maxLength))
        case .stringConvertibleArray(let values):
            return .array(values.map { .string(truncate(String(describing: $0), to: maxLength)) })
        default: return nil
        }
    }

    /// "If a string attribute value exceeds the limit, it MUST be truncated to the limit"
    /// (spec, "Attribute Limits"); counted in characters so that no character is split.
    static func truncate(_ value: String, to maxLength: Int?) -> String {
        guard let maxLength, value.count > maxLength else { return value }
        return String(value.prefix(maxLength))
    }

    /// Converts a whole attribute set, keeping at most `limit` entries in key order (the
    /// order a dictionary has none of, so that what is kept does not change from run to
    /// run); returns the attributes and how many were dropped.
    static func keyValues(_ attributes: SpanAttributes, limit: Int, maxLength: Int?) -> ([KeyValue], UInt32) {
        var pairs: [(String, SpanAttribute)] = []
        pairs.reserveCapacity(attributes.count)
        attributes.forEach { pairs.append(($0, $1)) }
        pairs.sort { $0.0 < $1.0 }
        var result: [KeyValue] = []
        result.reserveCapacity(min(pairs.count, limit))
        var dropped: UInt32 = 0
        for (key, attribute) in pairs {
            guard let value = anyValue(attribute, maxLength: maxLength) else { continue }
            if result.count < limit {
                result.append(KeyValue(key: key, value: value))
            } else {
                dropped &+= 1
            }
        }
        return (result, dropped)
    }
}
