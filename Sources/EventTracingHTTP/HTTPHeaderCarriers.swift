public import HTTPTypes
public import Instrumentation
public import NIOHTTP1

// Carriers for the two header types of the HTTP stacks we integrate with: `HTTPFields`
// (swift-http-types, what Hummingbird 2 uses) and `HTTPHeaders` (NIOHTTP1, what
// AsyncHTTPClient's `HTTPClientRequest` uses).
//
// Reading combines every field of a name into one comma-separated value (RFC 9110 §5.3):
// W3C Trace Context §3.3.2 and W3C Baggage §3.3 want several `tracestate` or `baggage`
// fields read as one list, and a request with two `traceparent` fields then carries an
// invalid value and restarts the trace, as the W3C test harness expects
// (`test_traceparent_duplicated`). Writing replaces every field of the name, so exactly
// one goes out.

/// Reads header fields from swift-http-types' `HTTPFields`, such as a Hummingbird request's.
public struct HTTPFieldsExtractor: Extractor {
    /// Creates an extractor.
    public init() {}

    public func extract(key: String, from carrier: HTTPFields) -> String? {
        guard let name = HTTPField.Name(key) else { return nil }
        let values = carrier[values: name]
        switch values.count {
        case 0: return nil
        case 1: return values[0]
        default: return values.joined(separator: ",")
        }
    }
}

/// Writes header fields into swift-http-types' `HTTPFields`, replacing any of the same name.
public struct HTTPFieldsInjector: Injector {
    /// Creates an injector.
    public init() {}

    public func inject(_ value: String, forKey key: String, into carrier: inout HTTPFields) {
        guard let name = HTTPField.Name(key) else { return }
        carrier[name] = value
    }
}

/// Reads header fields from NIOHTTP1's `HTTPHeaders`, such as an AsyncHTTPClient request's.
public struct HTTPHeadersExtractor: Extractor {
    /// Creates an extractor.
    public init() {}

    public func extract(key: String, from carrier: HTTPHeaders) -> String? {
        let values = carrier[key]
        switch values.count {
        case 0: return nil
        case 1: return values[0]
        default: return values.joined(separator: ",")
        }
    }
}

/// Writes header fields into NIOHTTP1's `HTTPHeaders`, replacing any of the same name.
public struct HTTPHeadersInjector: Injector {
    /// Creates an injector.
    public init() {}

    public func inject(_ value: String, forKey key: String, into carrier: inout HTTPHeaders) {
        carrier.replaceOrAdd(name: key, value: value)
    }
}
