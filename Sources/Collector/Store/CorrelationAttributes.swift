import Telemetry

/// Reads a record's correlation ID from the configured attributes: the record's own first,
/// then its resource's, each in the configured order.
struct CorrelationAttributes: Sendable {
    var keys: [String]

    func value(record: [KeyValue], resource: [KeyValue]?) -> String? {
        for attributes in [record, resource ?? []] {
            for key in keys {
                if let value = attributes[key: key], let text = value.correlationText { return text }
            }
        }
        return nil
    }
}

extension AnyValue {
    /// The value as the text a query compares with: strings as they are, numbers and
    /// booleans as written in JSON.
    var correlationText: String? {
        switch self {
        case .string(let text): text.isEmpty ? nil : text
        case .int(let value): String(value)
        case .double(let value): String(value)
        case .bool(let value): value ? "true" : "false"
        default: nil
        }
    }
}
