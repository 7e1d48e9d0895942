import Foundation
package import GRDB
package import Logging
import Metrics
package import Telemetry

/// The embedded store: SQLite (WAL) under `DATA_DIR/collector/store.sqlite`.
///
/// Each span is kept whole, as the protobuf of a one-span `ExportTraceServiceRequest`
/// (its resource and scope included, encoded once per group by `forEachSpanRequest`),
/// beside the columns queries filter on; logs likewise.
/// So the query API gives back every field that was received.
package final class TelemetryStore: TelemetryConsumer {
    package let name = "store"
    let pool: DatabasePool
    let correlation: CorrelationAttributes
    private let logger: Logger
    private let retention: Retention
    private let stop = AsyncStream<Void>.makeStream()
    private let spanRows = Gauge(label: "causeway_store_rows", dimensions: [("table", "spans")])
    private let logRows = Gauge(label: "causeway_store_rows", dimensions: [("table", "logs")])
    private let storeBytes = Gauge(label: "causeway_store_bytes")
    private let writtenSpans = Counter(label: "causeway_store_written_spans_total")
    private let writtenLogs = Counter(label: "causeway_store_written_logs_total")

    /// How long data is kept and how large the store may grow.
    package struct Retention: Sendable {
        package var maxAgeSeconds: Int
        package var maxBytes: Int
        package var intervalSeconds: Int

        package init(maxAgeSeconds: Int, maxBytes: Int, intervalSeconds: Int) {
            self.maxAgeSeconds = maxAgeSeconds
            self.maxBytes = maxBytes
            self.intervalSeconds = intervalSeconds
        }
    }

    /// Opens (creating if needed) the store in `directory`.
    package init(directory: String, retention: Retention, correlationAttributes: [String], logger: Logger) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        var configuration = Configuration()
        configuration.label = "causeway-store"
        configuration.prepareDatabase { db in
            // WAL is DatabasePool's default; NORMAL is durable across application crashes
            // in WAL mode and much cheaper than FULL.
            try db.execute(sql: "PRAGMA synchronous = NORMAL")
            if !db.configuration.readonly {
                // The writer's index pages stay cached rather than being read back from
                // the file for every insert; 32 MiB (readers keep SQLite's 2 MB default).
                try db.execute(sql: "PRAGMA cache_size = -32768")
                try db.execute(sql: "PRAGMA wal_autocheckpoint = 16384")
                try db.execute(sql: "PRAGMA journal_size_limit = 134217728")
            }
        }
        pool = try DatabasePool(path: (directory as NSString).appendingPathComponent("store.sqlite"), configuration: configuration)
        self.retention = retention
        self.correlation = CorrelationAttributes(keys: correlationAttributes)
        self.logger = logger
        try Self.migrator.migrate(pool)
    }

    package static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.execute(sql: """
                CREATE TABLE spans (
                    trace_id TEXT NOT NULL,
                    span_id TEXT NOT NULL,
                    parent_span_id TEXT,
                    service TEXT NOT NULL,
                    operation TEXT NOT NULL,
                    kind INTEGER NOT NULL,
                    start_ns INTEGER NOT NULL,
                    duration_ns INTEGER NOT NULL,
                    status INTEGER NOT NULL,
                    correlation_id TEXT,
                    body BLOB NOT NULL,
                    PRIMARY KEY (trace_id, span_id)
                ) WITHOUT ROWID;
                CREATE INDEX spans_service_start ON spans(service, start_ns);
                CREATE INDEX spans_service_operation_start ON spans(service, operation, start_ns);
                CREATE INDEX spans_start ON spans(start_ns);
                CREATE INDEX spans_duration ON spans(duration_ns);
                CREATE INDEX spans_status ON spans(status);
                CREATE INDEX spans_correlation ON spans(correlation_id) WHERE correlation_id IS NOT NULL;
                CREATE TABLE span_links (
                    source_trace_id TEXT NOT NULL,
                    source_span_id TEXT NOT NULL,
                    target_trace_id TEXT NOT NULL,
                    target_span_id TEXT NOT NULL,
                    start_ns INTEGER NOT NULL
                );
                CREATE INDEX span_links_target ON span_links(target_trace_id, target_span_id);
                CREATE INDEX span_links_source ON span_links(source_trace_id, source_span_id);
                CREATE INDEX span_links_start ON span_links(start_ns);
                CREATE TABLE logs (
                    id INTEGER PRIMARY KEY,
                    time_ns INTEGER NOT NULL,
                    trace_id TEXT,
                    span_id TEXT,
                    service TEXT NOT NULL,
                    severity INTEGER NOT NULL,
                    correlation_id TEXT,
                    body BLOB NOT NULL
                );
                CREATE INDEX logs_trace ON logs(trace_id) WHERE trace_id IS NOT NULL;
                CREATE INDEX logs_span ON logs(span_id) WHERE span_id IS NOT NULL;
                CREATE INDEX logs_correlation ON logs(correlation_id) WHERE correlation_id IS NOT NULL;
                CREATE INDEX logs_time ON logs(time_ns);
                CREATE INDEX logs_severity ON logs(severity, time_ns);
                CREATE INDEX logs_service ON logs(service, time_ns);
                CREATE TABLE services (name TEXT PRIMARY KEY) WITHOUT ROWID;
                CREATE TABLE operations (
                    service TEXT NOT NULL,
                    name TEXT NOT NULL,
                    kind INTEGER NOT NULL,
                    PRIMARY KEY (service, name, kind)
                ) WITHOUT ROWID;
                """)
        }
        registerChainMigration(&migrator)
        // v1 kept spans WITHOUT ROWID, ordered by their random trace IDs with each span's
        // whole body in the key's B-tree: every insert landed on a random page, so the
        // writer spent its time reading and splitting pages. Spans now append in rowid
        // order, and a narrow unique index finds them by ID. v1's index on duration alone
        // is gone: trace search always names a service, so (service, start) narrows it, and
        // a duration index dirtied one more random page per span, about 40 % of the
        // writer's cost. So is the index on a link's source, which no query reads.
        migrator.registerMigration("v3-spans-rowid") { db in
            try db.execute(sql: """
                CREATE TABLE spans_by_rowid (
                    id INTEGER PRIMARY KEY,
                    trace_id TEXT NOT NULL,
                    span_id TEXT NOT NULL,
                    parent_span_id TEXT,
                    service TEXT NOT NULL,
                    operation TEXT NOT NULL,
                    kind INTEGER NOT NULL,
                    start_ns INTEGER NOT NULL,
                    duration_ns INTEGER NOT NULL,
                    status INTEGER NOT NULL,
                    correlation_id TEXT,
                    body BLOB NOT NULL
                );
                INSERT INTO spans_by_rowid (trace_id, span_id, parent_span_id, service, operation, kind, start_ns, duration_ns, status, correlation_id, body)
                    SELECT trace_id, span_id, parent_span_id, service, operation, kind, start_ns, duration_ns, status, correlation_id, body
                    FROM spans ORDER BY start_ns;
                DROP TABLE spans;
                ALTER TABLE spans_by_rowid RENAME TO spans;
                CREATE UNIQUE INDEX spans_id ON spans(trace_id, span_id);
                CREATE INDEX spans_service_start ON spans(service, start_ns);
                CREATE INDEX spans_service_operation_start ON spans(service, operation, start_ns);
                CREATE INDEX spans_start ON spans(start_ns);
                CREATE INDEX spans_status ON spans(status);
                CREATE INDEX spans_correlation ON spans(correlation_id) WHERE correlation_id IS NOT NULL;
                DROP INDEX span_links_source;
                """)
        }
        registerChainKeyMigration(&migrator)
        return migrator
    }

    // MARK: TelemetryConsumer

    package func consume(_ traces: ExportTraceServiceRequest) async throws {
        try await consume([traces])
    }

    package func consume(_ logs: ExportLogsServiceRequest) async throws {
        try await consume([logs])
    }

    /// Batches arriving within this time are written in one transaction.
    package var deliveryLinger: Duration? { .milliseconds(250) }

    /// Writes the batches in one transaction: with indexes on random trace IDs every insert
    /// dirties its own index pages, and each commit writes the dirty pages to the WAL, so
    /// fewer, larger commits write each page once for many spans.
    package func consume(_ batches: [ExportTraceServiceRequest]) async throws {
        let correlation = self.correlation
        let written = try await pool.write { db -> Int in
            var written = 0
            var services: Set<String> = []
            var operations: Set<OperationKey> = []
            let insertSpan = try db.cachedStatement(sql: """
                INSERT OR IGNORE INTO spans (trace_id, span_id, parent_span_id, service, operation, kind, start_ns, duration_ns, status, correlation_id, body)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """)
            let insertLink = try db.cachedStatement(sql: """
                INSERT INTO span_links (source_trace_id, source_span_id, target_trace_id, target_span_id, start_ns) VALUES (?, ?, ?, ?, ?)
                """)
            for traces in batches { try traces.forEachSpanRequest { resourceSpans, span, body in
                let service = resourceSpans.resource?.serviceName ?? "unknown_service"
                services.insert(service)
                let traceID = span.traceID.hex
                let spanID = span.spanID.hex
                let start = Int64(clamping: span.startTimeUnixNano)
                try insertSpan.execute(arguments: [
                    traceID, spanID, span.parentSpanID.map(\.hex), service, span.name, Int(span.kind.rawValue),
                    start, Int64(clamping: span.durationNanos), Int(span.status.code.rawValue),
                    correlation.value(record: span.attributes, resource: resourceSpans.resource?.attributes),
                    Data(body),
                ])
                // A span sent twice (a client retrying) is kept once, links included.
                guard db.changesCount > 0 else { return }
                written += 1
                operations.insert(OperationKey(service: service, name: span.name, kind: span.kind.rawValue))
                for link in span.links {
                    try insertLink.execute(arguments: [traceID, spanID, link.traceID.hex, link.spanID.hex, start])
                }
            } }
            let insertService = try db.cachedStatement(sql: "INSERT OR IGNORE INTO services (name) VALUES (?)")
            for service in services { try insertService.execute(arguments: [service]) }
            let insertOperation = try db.cachedStatement(sql: "INSERT OR IGNORE INTO operations (service, name, kind) VALUES (?, ?, ?)")
            for operation in operations {
                try insertOperation.execute(arguments: [operation.service, operation.name, Int(operation.kind)])
            }
            return written
        }
        writtenSpans.increment(by: written)
    }

    /// Writes the batches in one transaction, as for spans.
    package func consume(_ batches: [ExportLogsServiceRequest]) async throws {
        let correlation = self.correlation
        let written = try await pool.write { db -> Int in
            var written = 0
            var services: Set<String> = []
            let insert = try db.cachedStatement(sql: """
                INSERT INTO logs (time_ns, trace_id, span_id, service, severity, correlation_id, body) VALUES (?, ?, ?, ?, ?, ?, ?)
                """)
            for logs in batches { try logs.forEachLogRecordRequest { resourceLogs, record, body in
                let service = resourceLogs.resource?.serviceName ?? "unknown_service"
                services.insert(service)
                let time = record.timeUnixNano != 0 ? record.timeUnixNano : record.observedTimeUnixNano
                try insert.execute(arguments: [
                    Int64(clamping: time),
                    record.traceID.flatMap { $0.isValid ? $0.hex : nil },
                    record.spanID.flatMap { $0.isValid ? $0.hex : nil },
                    service, Int(record.severityNumber.rawValue),
                    correlation.value(record: record.attributes, resource: resourceLogs.resource?.attributes),
                    Data(body),
                ])
                written += 1
            } }
            let insertService = try db.cachedStatement(sql: "INSERT OR IGNORE INTO services (name) VALUES (?)")
            for service in services { try insertService.execute(arguments: [service]) }
            return written
        }
        writtenLogs.increment(by: written)
    }

    package func run() async throws {
        let interval = Duration.seconds(retention.intervalSeconds)
        await withTaskGroup(of: Void.self) { group in
            let stopped = stop.stream
            group.addTask { for await _ in stopped {} }
            group.addTask {
                while !Task.isCancelled {
                    await self.sweep()
                    try? await Task.sleep(for: interval)
                }
            }
            await group.next()
            group.cancelAll()
        }
    }

    package func shutdown() async {
        stop.continuation.finish()
    }

    // MARK: Retention

    /// Removes data older than the maximum age, then the oldest data while the store is
    /// over its size, and records the store's size.
    package func sweep(now: UInt64 = UInt64(Date().timeIntervalSince1970 * 1_000_000_000)) async {
        do {
            let (maxAge, overflow) = Int64(retention.maxAgeSeconds).multipliedReportingOverflow(by: 1_000_000_000)
            let cutoff = overflow ? Int64.min : Int64(clamping: now).subtractingReportingOverflow(maxAge).partialValue
            try await pool.write { db in
                try db.execute(sql: "DELETE FROM spans WHERE start_ns < ?", arguments: [cutoff])
                try db.execute(sql: "DELETE FROM span_links WHERE start_ns < ?", arguments: [cutoff])
                try db.execute(sql: "DELETE FROM logs WHERE time_ns < ?", arguments: [cutoff])
                try Self.deleteChains(db, endingBefore: cutoff)
            }
            // Trim the oldest rows, at least a tenth at a time, until under the size limit.
            for _ in 0..<10 {
                let used = try await usedBytes()
                guard used > retention.maxBytes else { break }
                let fraction = max(0.1, 1 - Double(retention.maxBytes) / Double(used))
                try await pool.write { db in
                    let spans = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM spans") ?? 0
                    let spanOffset = max(Int(Double(spans) * fraction), 1) - 1
                    if spans > 0, let edge = try Int64.fetchOne(db, sql: "SELECT start_ns FROM spans ORDER BY start_ns LIMIT 1 OFFSET ?", arguments: [spanOffset]) {
                        try db.execute(sql: "DELETE FROM spans WHERE start_ns <= ?", arguments: [edge])
                        try db.execute(sql: "DELETE FROM span_links WHERE start_ns <= ?", arguments: [edge])
                    }
                    let logs = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM logs") ?? 0
                    let logOffset = max(Int(Double(logs) * fraction), 1) - 1
                    if logs > 0, let edge = try Int64.fetchOne(db, sql: "SELECT time_ns FROM logs ORDER BY time_ns LIMIT 1 OFFSET ?", arguments: [logOffset]) {
                        try db.execute(sql: "DELETE FROM logs WHERE time_ns <= ?", arguments: [edge])
                    }
                }
            }
            let (spans, logs, bytes) = try await pool.read { db in
                (try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM spans") ?? 0,
                 try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM logs") ?? 0,
                 try Self.usedBytes(db))
            }
            spanRows.record(spans)
            logRows.record(logs)
            storeBytes.record(bytes)
        } catch {
            logger.error("retention sweep failed", metadata: ["error": "\(error)"])
        }
    }

    /// Bytes of the database in use (free pages, which SQLite reuses, not counted).
    package func usedBytes() async throws -> Int {
        try await pool.read { db in try Self.usedBytes(db) }
    }

    private static func usedBytes(_ db: Database) throws -> Int {
        let pageSize = try Int.fetchOne(db, sql: "PRAGMA page_size") ?? 4096
        let pages = try Int.fetchOne(db, sql: "PRAGMA page_count") ?? 0
        let free = try Int.fetchOne(db, sql: "PRAGMA freelist_count") ?? 0
        return (pages - free) * pageSize
    }
}

struct OperationKey: Hashable {
    var service: String
    var name: String
    var kind: Int32
}
