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
        var conditions: [String] = []
        var arguments: StatementArguments = []
        if let service = query.service { conditions.append("service = ?"); arguments += [service] }
        if let operation = query.operation { conditions.append("operation = ?"); arguments += [operation] }
        if let start = query.startNanos { conditions.append("start_ns >= ?"); arguments += [start] }
        if let end = query.endNanos { conditions.append("start_ns <= ?"); arguments += [end] }
        if let minimum = query.minDurationNanos { conditions.append("duration_ns >= ?"); arguments += [minimum] }
        if let maximum = query.maxDurationNanos { conditions.append("duration_ns <= ?"); arguments += [maximum] }
        let whereClause = conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND ")
        let tags = query.tags
        let limit = query.limit
        let filter = arguments
        return try await pool.read { db in
            var found: [String] = []
            var seen: Set<String> = []
            if tags.isEmpty {
                let rows = try Row.fetchCursor(db, sql: "SELECT trace_id FROM spans \(whereClause) ORDER BY start_ns DESC", arguments: filter)
                while let row = try rows.next(), found.count < limit {
                    let traceID: String = row[0]
                    if seen.insert(traceID).inserted { found.append(traceID) }
                }
            } else {
                let rows = try Row.fetchCursor(db, sql: "SELECT trace_id, body FROM spans \(whereClause) ORDER BY start_ns DESC", arguments: filter)
                while let row = try rows.next(), found.count < limit {
                    let traceID: String = row[0]
                    if seen.contains(traceID) { continue }
                    let body: Data = row[1]
                    guard let request = try? ExportTraceServiceRequest(protobuf: Array(body)) else { continue }
                    if Self.matches(request, tags: tags) {
                        seen.insert(traceID)
                        found.append(traceID)
                    }
                }
            }
            return found
        }
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
        guard !traceIDs.isEmpty else { return ExportTraceServiceRequest() }
        let bodies = try await pool.read { db in
            try Data.fetchAll(
                db,
                sql: "SELECT body FROM spans WHERE trace_id IN (\(databaseQuestionMarks(count: traceIDs.count))) ORDER BY start_ns, span_id",
                arguments: StatementArguments(traceIDs))
        }
        var merged = ExportTraceServiceRequest()
        for body in bodies {
            guard let single = try? ExportTraceServiceRequest(protobuf: Array(body)) else { continue }
            merged.resourceSpans.append(contentsOf: single.resourceSpans)
        }
        return merged
    }

    /// The spans that link to `spanID` of `traceID`.
    package func backlinks(traceID: String, spanID: String) async throws -> [SpanReference] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: """
                SELECT l.source_trace_id, l.source_span_id, COALESCE(s.service, ''), COALESCE(s.operation, ''), l.start_ns
                FROM span_links l LEFT JOIN spans s ON s.trace_id = l.source_trace_id AND s.span_id = l.source_span_id
                WHERE l.target_trace_id = ? AND l.target_span_id = ?
                ORDER BY l.start_ns, l.source_trace_id, l.source_span_id
                """, arguments: [traceID, spanID]).map { row in
                SpanReference(traceID: row[0], spanID: row[1], service: row[2], operation: row[3], startNanos: row[4])
            }
        }
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
