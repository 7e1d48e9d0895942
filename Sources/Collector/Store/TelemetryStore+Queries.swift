import Foundation
import GRDB
package import Telemetry

/// A trace search, in Jaeger's terms.
package struct TraceQuery: Sendable {
    package var service: String?
    package var operation: String?
    /// Every key must be present on a span (its attributes, its resource's, or the special
    /// `error`, `span.kind`, `otel.status_code`) with this value as text.
    package var tags: [String: String] = [:]
    package var startNanos: Int64?
    package var endNanos: Int64?
    package var minDurationNanos: Int64?
    package var maxDurationNanos: Int64?
    package var limit: Int = 20

    package init() {}
}

/// A log search: every given field must match.
package struct LogQuery: Sendable {
    package var correlationID: String?
    package var traceID: String?
    package var spanID: String?
    package var service: String?
    /// The least severity number returned.
    package var minimumSeverity: Int32?
    package var startNanos: Int64?
    package var endNanos: Int64?
    package var limit: Int = 100

    package init() {}
}

/// A span that links to another: the source of a backlink.
package struct SpanReference: Sendable, Equatable {
    package var traceID: String
    package var spanID: String
    package var service: String
    package var operation: String
    package var startNanos: Int64
}

extension TelemetryStore {
    /// Every service seen, sorted.
    package func services() async throws -> [String] {
        try await pool.read { db in try String.fetchAll(db, sql: "SELECT name FROM services ORDER BY name") }
    }

    /// The operations of a service with their span kinds, sorted by name.
    package func operations(service: String, kind: SpanKind? = nil) async throws -> [(name: String, kind: SpanKind)] {
        try await pool.read { db in
            var sql = "SELECT name, kind FROM operations WHERE service = ?"
            var arguments: StatementArguments = [service]
            if let kind {
                sql += " AND kind = ?"
                arguments += [Int(kind.rawValue)]
            }
            sql += " ORDER BY name, kind"
            return try Row.fetchAll(db, sql: sql, arguments: arguments).map { row in
                (name: row[0] as String, kind: SpanKind(rawValue: Int32(row[1] as Int)))
            }
        }
    }

    /// The IDs of the traces with at least one span matching every condition, the most
    /// recent first.
    package func findTraceIDs(_ query: TraceQuery) async throws -> [String] {
        try await spans.with { files throws(SpanStoreError) in try files.findTraceIDs(query) }.map(\.hex)
    }

    static func matches(_ request: ExportTraceServiceRequest, tags: [String: String]) -> Bool {
        for resourceSpans in request.resourceSpans {
            let resource = resourceSpans.resource?.attributes ?? []
            for scopeSpans in resourceSpans.scopeSpans {
                for span in scopeSpans.spans {
                    let all = tags.allSatisfy { key, expected in
                        switch key {
                        case "error":
                            return (span.status.code == .error ? "true" : "false") == expected
                                || span.attributes[key: key]?.correlationText == expected
                        case "span.kind":
                            return span.kind.protoName.map { $0.replacingOccurrences(of: "SPAN_KIND_", with: "").lowercased() } == expected.lowercased()
                        case "otel.status_code":
                            return span.status.code.protoName?.replacingOccurrences(of: "STATUS_CODE_", with: "") == expected.uppercased()
                        default:
                            return (span.attributes[key: key] ?? resource[key: key])?.correlationText == expected
                        }
                    }
                    if all { return true }
                }
            }
        }
        return false
    }

    /// Every stored span of the traces, merged into one request in start order; empty
    /// when none is stored.
    package func traces(_ traceIDs: [String]) async throws -> ExportTraceServiceRequest {
        let wanted = Set(traceIDs.compactMap { TraceID(hex: $0) })
        guard !wanted.isEmpty else { return ExportTraceServiceRequest() }
        let stored = try await spans.with { files throws(SpanStoreError) in try files.spans(of: wanted) }
        var merged = ExportTraceServiceRequest()
        for span in stored {
            guard let single = try? ExportTraceServiceRequest(protobuf: span.body) else { continue }
            merged.resourceSpans.append(contentsOf: single.resourceSpans)
        }
        return merged
    }

    /// The spans that link to `spanID` of `traceID`.
    package func backlinks(traceID: String, spanID: String) async throws -> [SpanReference] {
        guard let target = StoredSpanKey(hex: traceID, spanID) else { return [] }
        return try await spans.with { files throws(SpanStoreError) in try files.backlinks(to: target) }
    }

    /// The logs matching `query`, oldest first, as one request.
    package func logs(_ query: LogQuery) async throws -> ExportLogsServiceRequest {
        var conditions: [String] = []
        var arguments: StatementArguments = []
        if let value = query.correlationID { conditions.append("correlation_id = ?"); arguments += [value] }
        if let value = query.traceID { conditions.append("trace_id = ?"); arguments += [value] }
        if let value = query.spanID { conditions.append("span_id = ?"); arguments += [value] }
        if let value = query.service { conditions.append("service = ?"); arguments += [value] }
        if let value = query.minimumSeverity { conditions.append("severity >= ?"); arguments += [Int(value)] }
        if let value = query.startNanos { conditions.append("time_ns >= ?"); arguments += [value] }
        if let value = query.endNanos { conditions.append("time_ns <= ?"); arguments += [value] }
        let whereClause = conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND ")
        arguments += [query.limit]
        let filter = arguments
        // The most recent `limit` records, then given back oldest first.
        let bodies = try await pool.read { db in
            try Data.fetchAll(db, sql: "SELECT body FROM (SELECT body, time_ns, id FROM logs \(whereClause) ORDER BY time_ns DESC, id DESC LIMIT ?) ORDER BY time_ns, id", arguments: filter)
        }
        var merged = ExportLogsServiceRequest()
        for body in bodies {
            guard let single = try? ExportLogsServiceRequest(protobuf: Array(body)) else { continue }
            // Consecutive records of one resource and scope share their entry.
            if let last = merged.resourceLogs.last, let incoming = single.resourceLogs.first,
                last.resource == incoming.resource, last.schemaURL == incoming.schemaURL,
                let lastScope = last.scopeLogs.last, let incomingScope = incoming.scopeLogs.first,
                lastScope.scope == incomingScope.scope, lastScope.schemaURL == incomingScope.schemaURL
            {
                let index = merged.resourceLogs.count - 1
                merged.resourceLogs[index].scopeLogs[merged.resourceLogs[index].scopeLogs.count - 1].logRecords.append(contentsOf: incomingScope.logRecords)
            } else {
                merged.resourceLogs.append(contentsOf: single.resourceLogs)
            }
        }
        return merged
    }
}
