import Foundation
import Hummingbird
import HummingbirdCore
import Telemetry

/// A query parameter that failed validation; the answer is a 400 naming it.
struct QueryParameterFault: Error {
    var parameter: String
    var reason: String

    var message: String { "parameter '\(parameter)': \(reason)" }
}

/// Reads and validates query parameters, treating an empty value as absent (Jaeger's UI
/// sends empty fields).
struct QueryParameters {
    var values: [(key: String, value: String)]

    init(_ uri: URI) {
        values = uri.queryParameters.map { (String($0.key), String($0.value)) }
    }

    func string(_ name: String) -> String? {
        values.last { $0.key == name && !$0.value.isEmpty }?.value
    }

    func all(_ name: String) -> [String] {
        values.filter { $0.key == name && !$0.value.isEmpty }.map(\.value)
    }

    func integer(_ name: String, in range: ClosedRange<Int64>) throws(QueryParameterFault) -> Int64? {
        guard let text = string(name) else { return nil }
        guard let value = Int64(text), range.contains(value) else {
            throw QueryParameterFault(parameter: name, reason: "expected an integer from \(range.lowerBound) to \(range.upperBound), got \"\(text)\"")
        }
        return value
    }

    /// Microseconds since the Unix epoch, as Jaeger's API takes them, in nanoseconds.
    func microsecondsAsNanos(_ name: String) throws(QueryParameterFault) -> Int64? {
        guard let micros = try integer(name, in: 0...(Int64.max / 1000)) else { return nil }
        return micros * 1000
    }

    /// A Go-style duration (`1ms`, `1.5s`, `1h30m`, `250us`), in nanoseconds.
    func duration(_ name: String) throws(QueryParameterFault) -> Int64? {
        guard let text = string(name) else { return nil }
        guard let nanos = Self.parseDuration(text) else {
            throw QueryParameterFault(parameter: name, reason: "expected a duration such as 1ms, 1.5s or 2m, got \"\(text)\"")
        }
        return nanos
    }

    static func parseDuration(_ text: String) -> Int64? {
        let units: [(String, Double)] = [("ns", 1), ("us", 1e3), ("µs", 1e3), ("μs", 1e3), ("ms", 1e6), ("s", 1e9), ("m", 60e9), ("h", 3600e9)]
        var rest = Substring(text)
        var total = 0.0
        guard !rest.isEmpty else { return nil }
        while !rest.isEmpty {
            let number = rest.prefix { $0.isNumber || $0 == "." }
            guard !number.isEmpty, let value = Double(number) else { return nil }
            rest = rest.dropFirst(number.count)
            guard let unit = units.first(where: { rest.hasPrefix($0.0) && !(($0.0 == "m") && rest.hasPrefix("ms")) }) else { return nil }
            rest = rest.dropFirst(unit.0.count)
            total += value * unit.1
        }
        guard total < Double(Int64.max) else { return nil }
        return Int64(total)
    }

    /// A trace ID of 1 to 32 hex digits, as 32 lowercase digits.
    static func traceID(_ text: String, parameter: String) throws(QueryParameterFault) -> String {
        guard (1...32).contains(text.count), text.allSatisfy(\.isHexDigit) else {
            throw QueryParameterFault(parameter: parameter, reason: "expected a trace ID of up to 32 hex digits, got \"\(text)\"")
        }
        let padded = String(repeating: "0", count: 32 - text.count) + text.lowercased()
        guard padded != String(repeating: "0", count: 32) else {
            throw QueryParameterFault(parameter: parameter, reason: "an all-zero trace ID is not valid")
        }
        return padded
    }

    /// A span ID of 1 to 16 hex digits, as 16 lowercase digits.
    static func spanID(_ text: String, parameter: String) throws(QueryParameterFault) -> String {
        guard (1...16).contains(text.count), text.allSatisfy(\.isHexDigit) else {
            throw QueryParameterFault(parameter: parameter, reason: "expected a span ID of up to 16 hex digits, got \"\(text)\"")
        }
        return String(repeating: "0", count: 16 - text.count) + text.lowercased()
    }

    static let spanKinds: [String: SpanKind] = [
        "unspecified": .unspecified, "internal": .internal, "server": .server, "client": .client, "producer": .producer, "consumer": .consumer,
    ]

    static func spanKindName(_ kind: SpanKind) -> String {
        spanKinds.first { $0.value == kind }?.key ?? "unspecified"
    }

    /// A severity name (`INFO`, `warn`, `ERROR3`) or number (1–24), as the least severity number.
    func severity(_ name: String) throws(QueryParameterFault) -> Int32? {
        guard let text = string(name) else { return nil }
        if let number = Int32(text), (1...24).contains(number) { return number }
        let upper = text.uppercased()
        let bases: [(String, Int32)] = [("TRACE", 1), ("DEBUG", 5), ("INFO", 9), ("WARN", 13), ("WARNING", 13), ("ERROR", 17), ("FATAL", 21)]
        for (base, value) in bases.sorted(by: { $0.0.count > $1.0.count }) where upper.hasPrefix(base) {
            let suffix = upper.dropFirst(base.count)
            if suffix.isEmpty { return value }
            if let step = Int32(suffix), (1...4).contains(step) { return value + step - 1 }
        }
        throw QueryParameterFault(parameter: name, reason: "expected a severity name (TRACE, DEBUG, INFO, WARN, ERROR, FATAL) or number 1-24, got \"\(text)\"")
    }
}
