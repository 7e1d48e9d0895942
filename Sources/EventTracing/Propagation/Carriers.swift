public import Instrumentation

/// The headers of a message, as a messaging client exposes them: Kafka record headers,
/// for instance. Values are bytes; the propagation headers are UTF-8 text. A name may
/// occur several times, and the last occurrence wins.
public protocol MessageHeaders: Sendable {
    /// The value of the last header named `name`, or `nil`.
    func lastValue(forHeader name: String) -> [UInt8]?
    /// Replaces every header named `name` with one header holding `value`.
    mutating func setHeader(_ name: String, to value: [UInt8])
}

/// Reads propagation headers from ``MessageHeaders``; a value that is not UTF-8 counts as
/// absent.
public struct MessageHeadersExtractor<Headers: MessageHeaders>: Extractor {
    /// Creates an extractor.
    public init() {}

    public func extract(key: String, from carrier: Headers) -> String? {
        guard let bytes = carrier.lastValue(forHeader: key) else { return nil }
        return String(validating: bytes, as: UTF8.self)
    }
}

/// Writes propagation headers into ``MessageHeaders`` as UTF-8.
public struct MessageHeadersInjector<Headers: MessageHeaders>: Injector {
    /// Creates an injector.
    public init() {}

    public func inject(_ value: String, forKey key: String, into carrier: inout Headers) {
        carrier.setHeader(key, to: Array(value.utf8))
    }
}

/// Reads HTTP header fields held as a dictionary; names match ASCII case-insensitively
/// (RFC 9110 §5.1).
public struct HTTPHeaderDictionaryExtractor: Extractor {
    /// Creates an extractor.
    public init() {}

    public func extract(key: String, from carrier: [String: String]) -> String? {
        if let exact = carrier[key] { return exact }
        return carrier.first(where: { HTTPFieldName.equal($0.key, key) })?.value
    }
}

/// Writes HTTP header fields into a dictionary, replacing a field of the same name in any
/// case.
public struct HTTPHeaderDictionaryInjector: Injector {
    /// Creates an injector.
    public init() {}

    public func inject(_ value: String, forKey key: String, into carrier: inout [String: String]) {
        for name in carrier.keys where name != key && HTTPFieldName.equal(name, key) {
            carrier.removeValue(forKey: name)
        }
        carrier[key] = value
    }
}

/// Reads HTTP header fields held as an ordered list of name-value pairs. Fields with the
/// same name are combined into one comma-separated value (RFC 9110 §5.3), which is how
/// W3C Trace Context §3.3.2 and W3C Baggage §3.3 want several `tracestate` or `baggage`
/// fields read, and which makes a duplicated `traceparent` invalid, as the W3C test
/// harness expects.
public struct HTTPHeaderFieldsExtractor: Extractor {
    /// Creates an extractor.
    public init() {}

    public func extract(key: String, from carrier: [(name: String, value: String)]) -> String? {
        var combined: String?
        for field in carrier where HTTPFieldName.equal(field.name, key) {
            if combined == nil {
                combined = field.value
            } else {
                combined! += "," + field.value
            }
        }
        return combined
    }
}

/// Writes HTTP header fields into an ordered list of name-value pairs, replacing every
/// field of the same name so that exactly one goes out.
public struct HTTPHeaderFieldsInjector: Injector {
    /// Creates an injector.
    public init() {}

    public func inject(_ value: String, forKey key: String, into carrier: inout [(name: String, value: String)]) {
        carrier.removeAll(where: { HTTPFieldName.equal($0.name, key) })
        carrier.append((name: key, value: value))
    }
}

enum HTTPFieldName {
    /// ASCII case-insensitive comparison, as header names require (RFC 9110 §5.1).
    static func equal(_ lhs: String, _ rhs: String) -> Bool {
        guard lhs.utf8.count == rhs.utf8.count else { return false }
        return zip(lhs.utf8, rhs.utf8).allSatisfy { lowercase($0) == lowercase($1) }
    }

    @inline(__always)
    static func lowercase(_ byte: UInt8) -> UInt8 {
        byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z") ? byte | 0x20 : byte
    }
}
