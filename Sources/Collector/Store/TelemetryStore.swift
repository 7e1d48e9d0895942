import Foundation
package import GRDB
import Synchronization
package import Logging
import Metrics
package import Telemetry

/// The embedded store under `DATA_DIR/collector/`: spans in append-only segment files
/// (`spans/`, see `SpanSegments`), everything else in SQLite (WAL, `store.sqlite`): logs,
/// services and operations, and the stitcher's chains.
///
/// Each span and log record is kept whole, as the protobuf of a one-record export request
/// (its resource and scope included, encoded once per group by `forEachSpanRequest`),
/// beside the fields queries filter on. So the query API gives back every field that was
/// received.
package final class TelemetryStore: TelemetryConsumer {
    package let name = "store"
    let pool: DatabasePool
    let spans: SpanSegments
    let correlation: CorrelationAttributes
    private let logger: Logger
    /// When the store opened, in Unix nanoseconds: a chain that started later, in its first
    /// revision and superseding nothing cannot have been stored before (see `saveChains`).
    let openedUnixNanos = UInt64(Date().timeIntervalSince1970 * 1_000_000_000)
    private let retention: Retention
    /// The service and topic names of chains written since the store opened (`chain_names`
    /// holds them all): only new ones are inserted. Once the table is full, nothing.
    let chainNames = Mutex<(known: Set<ChainName>, full: Bool)>(([], false))
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

    /// Closes the database and releases the span directory's lock, once nothing writes any
    /// more: a store opened on the same directory next does not wait for this one's last
    /// reference to go (an in-flight request's task can hold one for a moment), and reads
    /// still running fail with an error. A collector run again in one process (the restart
    /// tests) failed now and then with "in use" or "database is locked" without it.
    package func close() async {
        do {
            try pool.close()
        } catch {
            logger.warning("store database not closed", metadata: ["error": "\(error)"])
        }
        await spans.releaseLock()
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
        var files = try SpanSegmentFiles(
            directory: (directory as NSString).appendingPathComponent("spans"), segmentBytes: Self.segmentBytes(retention),
            maxBytes: retention.maxBytes, logger: logger)
        try Self.moveSpanRows(from: pool, into: &files, logger: logger)
        spans = SpanSegments(files: files)
    }

    /// Segments are a sixteenth of the size limit (removing the oldest frees about 6 %),
    /// between 16 KiB and 64 MiB.
    static func segmentBytes(_ retention: Retention) -> Int {
        min(64 << 20, max(16 << 10, retention.maxBytes / 16))
    }

    /// Spans were SQLite rows before they moved to segment files: a store from then has
    /// its rows appended to the segments, in the order they were stored, and the tables
    /// dropped. A crash in between leaves the rows, which are moved again on the next
    /// start; reads show each span once.
    private static func moveSpanRows(from pool: DatabasePool, into files: inout SpanSegmentFiles, logger: Logger) throws {
        guard try pool.read({ db in try db.tableExists("spans") }) else { return }
        let moved = try pool.write { db -> Int in
            var links: [StoredSpanKey: [StoredSpanKey]] = [:]
            let linkRows = try Row.fetchCursor(db, sql: "SELECT source_trace_id, source_span_id, target_trace_id, target_span_id FROM span_links")
            while let row = try linkRows.next() {
                guard let source = StoredSpanKey(hex: row[0], row[1]), let target = StoredSpanKey(hex: row[2], row[3]) else { continue }
                links[source, default: []].append(target)
            }
            var moved = 0
            var buffer: [UInt8] = []
            var records: [(record: SpanSegmentFormat.Record, bodyOffset: Int)] = []
            let rows = try Row.fetchCursor(db, sql: """
                SELECT trace_id, span_id, parent_span_id, service, operation, kind, start_ns, duration_ns, status, body FROM spans ORDER BY rowid
                """)
            while let row = try rows.next() {
                guard let key = StoredSpanKey(hex: row[0], row[1]) else { continue }
                let parent: String? = row[2]
                let body: Data = row[9]
                let record = SpanSegmentFormat.Record(
                    key: key, parentSpanID: parent.flatMap { SpanID(hex: $0)?.value } ?? 0, startNanos: row[6], durationNanos: row[7],
                    status: UInt8(truncatingIfNeeded: row[8] as Int), kind: UInt8(truncatingIfNeeded: row[5] as Int),
                    service: row[3], operation: row[4], links: links[key] ?? [], bodyOffset: 0, bodyLength: body.count, length: 0)
                records.append((record, body.withUnsafeBytes { SpanSegmentFormat.appendRecord(record, body: $0, to: &buffer) }))
                moved += 1
                if buffer.count >= 4 << 20 {
                    try files.add(records, bytes: buffer)
                    buffer.removeAll(keepingCapacity: true)
                    records.removeAll(keepingCapacity: true)
                }
            }
            try files.add(records, bytes: buffer)
            try db.execute(sql: "DROP TABLE spans; DROP TABLE span_links")
            return moved
        }
        if moved > 0 { logger.notice("moved the store's spans from SQLite rows to segment files", metadata: ["spans": "\(moved)"]) }
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
        registerChainRowMigration(&migrator)
        registerChainIDMigration(&migrator)
        registerChainStatsMigration(&migrator)
        registerChainNamesMigration(&migrator)
        registerChainTracesDropMigration(&migrator)
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

    /// A span is stored as received (`forEachSpanRequest`), indexed by fields other than
    /// its attributes.
    package var attributeSkim: AttributeSkim? { .keepingNothing }

    /// Appends the batches' spans to the segments in one write, and the services and
    /// operations seen for the first time to SQLite.
    package func consume(_ batches: [ExportTraceServiceRequest]) async throws {
        let appended = try await spans.with { files throws(SpanStoreError) in try files.append(batches) }
        if !appended.services.isEmpty || !appended.operations.isEmpty {
            do {
                try await pool.write { db in
                    let insertService = try db.cachedStatement(sql: "INSERT OR IGNORE INTO services (name) VALUES (?)")
                    for service in appended.services { try insertService.execute(arguments: [service]) }
                    let insertOperation = try db.cachedStatement(sql: "INSERT OR IGNORE INTO operations (service, name, kind) VALUES (?, ?, ?)")
                    for operation in appended.operations {
                        try insertOperation.execute(arguments: [operation.service, operation.name, Int(operation.kind)])
                    }
                }
            } catch {
                // The spans are stored; the names are written with a later batch.
                try await spans.with { files in files.forgetNames(appended) }
                throw error
            }
        }
        writtenSpans.increment(by: appended.written)
    }

    /// Writes the batches in one transaction.
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

    /// Removes data older than the maximum age (span segments whose spans all are), then
    /// the oldest data (span segments, logs and chains alike) while the store is over its
    /// size, and records the store's size.
    package func sweep(now: UInt64 = UInt64(Date().timeIntervalSince1970 * 1_000_000_000)) async {
        do {
            let (maxAge, overflow) = Int64(retention.maxAgeSeconds).multipliedReportingOverflow(by: 1_000_000_000)
            let cutoff = overflow ? Int64.min : Int64(clamping: now).subtractingReportingOverflow(maxAge).partialValue
            try await spans.with { files throws(SpanStoreError) in try files.removeSegments(startingBefore: cutoff) }
            try await pool.write { db in
                try db.execute(sql: "DELETE FROM logs WHERE time_ns < ?", arguments: [cutoff])
                try Self.deleteChains(db, endingBefore: cutoff)
            }
            // Trim the oldest data, at least a tenth at a time, until under the size limit.
            for _ in 0..<10 {
                let used = try await usedBytes()
                guard used > retention.maxBytes else { break }
                let fraction = max(0.1, 1 - Double(retention.maxBytes) / Double(used))
                try await spans.with { files throws(SpanStoreError) in try files.removeOldest(fraction: fraction) }
                try await pool.write { db in
                    let logs = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM logs") ?? 0
                    let logOffset = max(Int(Double(logs) * fraction), 1) - 1
                    if logs > 0, let edge = try Int64.fetchOne(db, sql: "SELECT time_ns FROM logs ORDER BY time_ns LIMIT 1 OFFSET ?", arguments: [logOffset]) {
                        try db.execute(sql: "DELETE FROM logs WHERE time_ns <= ?", arguments: [edge])
                    }
                    let chains = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM chains") ?? 0
                    let chainOffset = max(Int(Double(chains) * fraction), 1) - 1
                    if chains > 0, let edge = try Int64.fetchOne(db, sql: "SELECT start_ns FROM chains ORDER BY start_ns LIMIT 1 OFFSET ?", arguments: [chainOffset]) {
                        try Self.deleteChains(db, keys: try Int64.fetchAll(db, sql: "SELECT chain_key FROM chains WHERE start_ns <= ?", arguments: [edge]))
                    }
                }
            }
            let (logs, bytes) = try await pool.read { db in
                (try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM logs") ?? 0, try Self.usedBytes(db))
            }
            let (spanCount, spanBytes) = try await spans.with { files in (files.spanCount, files.byteCount) }
            spanRows.record(spanCount)
            logRows.record(logs)
            storeBytes.record(bytes + spanBytes)
        } catch {
            logger.error("retention sweep failed", metadata: ["error": "\(error)"])
        }
    }

    /// Bytes in use: the span segments and the database (free pages, which SQLite
    /// reuses, not counted).
    package func usedBytes() async throws -> Int {
        let database = try await pool.read { db in try Self.usedBytes(db) }
        return try await spans.with { files in files.byteCount } + database
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
