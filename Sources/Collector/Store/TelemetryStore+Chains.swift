package import Foundation
import GRDB
import Synchronization
package import Telemetry

/// A chain search (`/api/chains`): every given field must match.
package struct ChainQuery: Sendable {
    package var correlationID: String?
    /// A service with a span in the chain.
    package var service: String?
    /// A topic one of the chain's hops went through.
    package var topic: String?
    package var status: ChainStatus?
    package var minDurationNanos: Int64?
    /// Bounds on the chain's start.
    package var startNanos: Int64?
    package var endNanos: Int64?
    package var limit: Int = 20

    package init() {}
}

/// A finalized chain as stored: the API's JSON of it and the spans it holds.
package struct StoredChain: Sendable {
    package var chainID: String
    /// `ChainJSON.detail` of the chain.
    package var json: Data
    package var spans: [(traceID: String, spanID: String)]
}

extension TelemetryStore {
    /// Chains (issue 5): one row per finalized chain, replaced when the chain is finalized
    /// again, with its hops, missing parts and spans in their own tables for the filters.
    static func registerChainMigration(_ migrator: inout DatabaseMigrator) {
        migrator.registerMigration("v2-chains") { db in
            try db.execute(sql: """
                CREATE TABLE chains (
                    chain_id TEXT PRIMARY KEY,
                    correlation_id TEXT,
                    root_service TEXT,
                    root_operation TEXT,
                    start_ns INTEGER NOT NULL,
                    end_ns INTEGER NOT NULL,
                    duration_ns INTEGER NOT NULL,
                    status TEXT NOT NULL,
                    span_count INTEGER NOT NULL,
                    hop_count INTEGER NOT NULL,
                    error_count INTEGER NOT NULL,
                    missing_count INTEGER NOT NULL,
                    dead_letter_hops INTEGER NOT NULL,
                    finalized_early INTEGER NOT NULL,
                    revision INTEGER NOT NULL,
                    body BLOB NOT NULL
                ) WITHOUT ROWID;
                CREATE INDEX chains_correlation ON chains(correlation_id) WHERE correlation_id IS NOT NULL;
                CREATE INDEX chains_start ON chains(start_ns);
                CREATE INDEX chains_end ON chains(end_ns);
                CREATE INDEX chains_duration ON chains(duration_ns);
                CREATE INDEX chains_status_start ON chains(status, start_ns);
                CREATE TABLE chain_hops (
                    chain_id TEXT NOT NULL,
                    position INTEGER NOT NULL,
                    producer_trace_id TEXT NOT NULL,
                    producer_span_id TEXT NOT NULL,
                    producer_service TEXT,
                    topic TEXT,
                    dead_letter INTEGER NOT NULL,
                    PRIMARY KEY (chain_id, position)
                ) WITHOUT ROWID;
                CREATE INDEX chain_hops_topic ON chain_hops(topic) WHERE topic IS NOT NULL;
                CREATE TABLE chain_deliveries (
                    chain_id TEXT NOT NULL,
                    hop INTEGER NOT NULL,
                    trace_id TEXT NOT NULL,
                    span_id TEXT NOT NULL,
                    service TEXT,
                    consumer_group TEXT,
                    queue_wait_ns INTEGER,
                    attempt INTEGER NOT NULL,
                    error INTEGER NOT NULL
                );
                CREATE INDEX chain_deliveries_chain ON chain_deliveries(chain_id, hop);
                CREATE TABLE chain_missing (
                    chain_id TEXT NOT NULL,
                    kind TEXT NOT NULL,
                    trace_id TEXT NOT NULL,
                    span_id TEXT NOT NULL,
                    target_trace_id TEXT,
                    target_span_id TEXT,
                    topic TEXT
                );
                CREATE INDEX chain_missing_chain ON chain_missing(chain_id);
                CREATE TABLE chain_spans (
                    trace_id TEXT NOT NULL,
                    span_id TEXT NOT NULL,
                    chain_id TEXT NOT NULL,
                    PRIMARY KEY (trace_id, span_id)
                ) WITHOUT ROWID;
                CREATE INDEX chain_spans_chain ON chain_spans(chain_id);
                CREATE TABLE chain_services (
                    service TEXT NOT NULL,
                    chain_id TEXT NOT NULL,
                    PRIMARY KEY (service, chain_id)
                ) WITHOUT ROWID;
                CREATE INDEX chain_services_chain ON chain_services(chain_id);
                """)
        }
    }

    /// v2 keyed every chain table by the chain ID, the root's random trace ID, so each
    /// chain dirtied a random page in each of six tables and their chain-ID indexes: with
    /// the stitcher on, the store wrote WAL pages for most of its time. From v4 a chain has
    /// a sequential integer key (`chains.chain_key`, its rowid) that the other tables use,
    /// so a chain's rows append; only the chain ID's and the spans' own indexes stay random.
    static func registerChainKeyMigration(_ migrator: inout DatabaseMigrator) {
        migrator.registerMigration("v4-chain-keys") { db in
            try db.execute(sql: """
                CREATE TABLE chains_v4 (
                    chain_key INTEGER PRIMARY KEY,
                    chain_id TEXT NOT NULL,
                    correlation_id TEXT,
                    root_service TEXT,
                    root_operation TEXT,
                    start_ns INTEGER NOT NULL,
                    end_ns INTEGER NOT NULL,
                    duration_ns INTEGER NOT NULL,
                    status TEXT NOT NULL,
                    span_count INTEGER NOT NULL,
                    hop_count INTEGER NOT NULL,
                    error_count INTEGER NOT NULL,
                    missing_count INTEGER NOT NULL,
                    dead_letter_hops INTEGER NOT NULL,
                    finalized_early INTEGER NOT NULL,
                    revision INTEGER NOT NULL,
                    body BLOB NOT NULL
                );
                INSERT INTO chains_v4 (chain_id, correlation_id, root_service, root_operation, start_ns, end_ns, duration_ns, status,
                        span_count, hop_count, error_count, missing_count, dead_letter_hops, finalized_early, revision, body)
                    SELECT chain_id, correlation_id, root_service, root_operation, start_ns, end_ns, duration_ns, status,
                        span_count, hop_count, error_count, missing_count, dead_letter_hops, finalized_early, revision, body
                    FROM chains ORDER BY start_ns;
                CREATE UNIQUE INDEX chains_v4_id ON chains_v4(chain_id);
                CREATE TABLE chain_hops_v4 (
                    chain_key INTEGER NOT NULL,
                    position INTEGER NOT NULL,
                    producer_trace_id TEXT NOT NULL,
                    producer_span_id TEXT NOT NULL,
                    producer_service TEXT,
                    topic TEXT,
                    dead_letter INTEGER NOT NULL,
                    PRIMARY KEY (chain_key, position)
                ) WITHOUT ROWID;
                INSERT INTO chain_hops_v4
                    SELECT c.chain_key, h.position, h.producer_trace_id, h.producer_span_id, h.producer_service, h.topic, h.dead_letter
                    FROM chain_hops h JOIN chains_v4 c ON c.chain_id = h.chain_id;
                CREATE TABLE chain_deliveries_v4 (
                    chain_key INTEGER NOT NULL,
                    hop INTEGER NOT NULL,
                    trace_id TEXT NOT NULL,
                    span_id TEXT NOT NULL,
                    service TEXT,
                    consumer_group TEXT,
                    queue_wait_ns INTEGER,
                    attempt INTEGER NOT NULL,
                    error INTEGER NOT NULL
                );
                INSERT INTO chain_deliveries_v4
                    SELECT c.chain_key, d.hop, d.trace_id, d.span_id, d.service, d.consumer_group, d.queue_wait_ns, d.attempt, d.error
                    FROM chain_deliveries d JOIN chains_v4 c ON c.chain_id = d.chain_id ORDER BY c.chain_key, d.rowid;
                CREATE TABLE chain_missing_v4 (
                    chain_key INTEGER NOT NULL,
                    kind TEXT NOT NULL,
                    trace_id TEXT NOT NULL,
                    span_id TEXT NOT NULL,
                    target_trace_id TEXT,
                    target_span_id TEXT,
                    topic TEXT
                );
                INSERT INTO chain_missing_v4
                    SELECT c.chain_key, m.kind, m.trace_id, m.span_id, m.target_trace_id, m.target_span_id, m.topic
                    FROM chain_missing m JOIN chains_v4 c ON c.chain_id = m.chain_id ORDER BY c.chain_key, m.rowid;
                CREATE TABLE chain_spans_v4 (
                    trace_id TEXT NOT NULL,
                    span_id TEXT NOT NULL,
                    chain_key INTEGER NOT NULL,
                    PRIMARY KEY (trace_id, span_id)
                ) WITHOUT ROWID;
                INSERT INTO chain_spans_v4
                    SELECT s.trace_id, s.span_id, c.chain_key FROM chain_spans s JOIN chains_v4 c ON c.chain_id = s.chain_id;
                CREATE TABLE chain_services_v4 (
                    service TEXT NOT NULL,
                    chain_key INTEGER NOT NULL,
                    PRIMARY KEY (service, chain_key)
                ) WITHOUT ROWID;
                INSERT INTO chain_services_v4
                    SELECT s.service, c.chain_key FROM chain_services s JOIN chains_v4 c ON c.chain_id = s.chain_id;
                DROP TABLE chains;
                DROP TABLE chain_hops;
                DROP TABLE chain_deliveries;
                DROP TABLE chain_missing;
                DROP TABLE chain_spans;
                DROP TABLE chain_services;
                DROP INDEX chains_v4_id;
                ALTER TABLE chains_v4 RENAME TO chains;
                ALTER TABLE chain_hops_v4 RENAME TO chain_hops;
                ALTER TABLE chain_deliveries_v4 RENAME TO chain_deliveries;
                ALTER TABLE chain_missing_v4 RENAME TO chain_missing;
                ALTER TABLE chain_spans_v4 RENAME TO chain_spans;
                ALTER TABLE chain_services_v4 RENAME TO chain_services;
                CREATE UNIQUE INDEX chains_id ON chains(chain_id);
                CREATE INDEX chains_correlation ON chains(correlation_id) WHERE correlation_id IS NOT NULL;
                CREATE INDEX chains_start ON chains(start_ns);
                CREATE INDEX chains_end ON chains(end_ns);
                CREATE INDEX chains_duration ON chains(duration_ns);
                CREATE INDEX chains_status_start ON chains(status, start_ns);
                CREATE INDEX chain_hops_topic ON chain_hops(topic, chain_key) WHERE topic IS NOT NULL;
                CREATE INDEX chain_deliveries_chain ON chain_deliveries(chain_key, hop);
                CREATE INDEX chain_missing_chain ON chain_missing(chain_key);
                CREATE INDEX chain_spans_chain ON chain_spans(chain_key);
                CREATE INDEX chain_services_chain ON chain_services(chain_key);
                """)
        }
    }

    /// v4 stored a chain as about forty B-tree entries: a `chains` row with six indexes,
    /// and rows with their own indexes for each hop, delivery, missing part, span and
    /// service. With the stitcher on, those inserts (and the WAL pages they dirtied) were
    /// most of the collector's cost. From v5 a chain is one row with three indexes that
    /// carries its services, topics, spans and message edges as columns, plus one
    /// `chain_traces` entry per trace it spans (its own ID included, which is its root's
    /// trace), for lookups by chain ID and trace ID: the IDs are random, so each index on
    /// them dirties a page per chain, and one such index serves both. Filters on a service
    /// or topic scan the rows in start order, as the span search does.
    static func registerChainRowMigration(_ migrator: inout DatabaseMigrator) {
        migrator.registerMigration("v5-chain-rows") { db in
            try db.execute(sql: """
                CREATE TABLE chains_v5 (
                    chain_key INTEGER PRIMARY KEY,
                    chain_id BLOB NOT NULL,
                    correlation_id TEXT,
                    start_ns INTEGER NOT NULL,
                    end_ns INTEGER NOT NULL,
                    duration_ns INTEGER NOT NULL,
                    status TEXT NOT NULL,
                    services TEXT NOT NULL,
                    topics TEXT NOT NULL,
                    spans BLOB NOT NULL,
                    edges BLOB NOT NULL,
                    body BLOB NOT NULL
                );
                CREATE TABLE chain_traces (
                    trace_id BLOB NOT NULL,
                    chain_key INTEGER NOT NULL,
                    PRIMARY KEY (trace_id, chain_key)
                ) WITHOUT ROWID;
                """)
            for key in try Int64.fetchAll(db, sql: "SELECT chain_key FROM chains ORDER BY chain_key") {
                guard let row = try Row.fetchOne(db, sql: """
                    SELECT chain_id, correlation_id, start_ns, end_ns, duration_ns, status, body FROM chains WHERE chain_key = ?
                    """, arguments: [key]),
                    let chainID = TraceID(hex: row[0] as String)
                else { continue }
                var edges = ChainEdges()
                for hop in try Row.fetchAll(db, sql: "SELECT position, producer_service, topic FROM chain_hops WHERE chain_key = ? ORDER BY position", arguments: [key]) {
                    let deliveries = try Row.fetchAll(db, sql: "SELECT service, queue_wait_ns FROM chain_deliveries WHERE chain_key = ? AND hop = ?", arguments: [key, hop[0] as Int64])
                    edges.hops.append(ChainEdges.Hop(producerService: hop[1], topic: hop[2], deliveries: deliveries.map { ChainEdges.Delivery(service: $0[0], queueWaitNanos: $0[1]) }))
                }
                let spans = try Row.fetchAll(db, sql: "SELECT trace_id, span_id FROM chain_spans WHERE chain_key = ?", arguments: [key])
                    .compactMap { row -> SpanRef? in
                        guard let trace = TraceID(hex: row[0] as String), let span = SpanID(hex: row[1] as String) else { return nil }
                        return SpanRef(traceID: trace, spanID: span)
                    }
                let services = try String.fetchAll(db, sql: "SELECT service FROM chain_services WHERE chain_key = ?", arguments: [key])
                var rows = ChainRows(capacity: 1)
                rows.append(
                    id: chainID, correlationID: row[1], startNanos: row[2], endNanos: row[3], durationNanos: row[4], status: row[5],
                    services: services, spans: spans, edges: edges, body: Array(row[6] as Data))
                try rows.withBytes { bytes in try insertChainRow(rows.rows[0], bytes, into: "chains_v5", db) }
            }
            try db.execute(sql: """
                DROP TABLE chains;
                DROP TABLE chain_hops;
                DROP TABLE chain_deliveries;
                DROP TABLE chain_missing;
                DROP TABLE chain_spans;
                DROP TABLE chain_services;
                ALTER TABLE chains_v5 RENAME TO chains;
                CREATE INDEX chains_correlation ON chains(correlation_id) WHERE correlation_id IS NOT NULL;
                CREATE INDEX chains_start ON chains(start_ns);
                CREATE INDEX chains_status_start ON chains(status, start_ns);
                """)
        }
    }

    /// From v6 `chain_traces` holds each chain's own ID only. An entry per trace of the
    /// chain was a random-key insert, and so a page written at commit, for every trace
    /// (five a chain on realistic chains, 1–3 µs a span): a chain is now found by another of
    /// its traces through that trace's stored spans, whose times bound the chains that can
    /// hold them (see `chain(id:)`).
    static func registerChainIDMigration(_ migrator: inout DatabaseMigrator) {
        migrator.registerMigration("v6-chain-ids") { db in
            try db.execute(sql: """
                DELETE FROM chain_traces
                WHERE trace_id IS NOT (SELECT chain_id FROM chains WHERE chains.chain_key = chain_traces.chain_key)
                """)
        }
    }

    /// From v7 `chain_stats` keeps the longest duration of any chain stored, so that a search
    /// for the chain holding a span (`chain(id:)`) has a lower bound on the chain's start as
    /// well as an upper one: the chain ended no earlier than the span, and so started no
    /// earlier than the span's end less the longest duration. Without it, a trace whose chain
    /// is not stored (still open) read every chain that started before it.
    static func registerChainStatsMigration(_ migrator: inout DatabaseMigrator) {
        migrator.registerMigration("v7-chain-stats") { db in
            try db.execute(sql: """
                CREATE TABLE chain_stats (
                    id INTEGER PRIMARY KEY CHECK (id = 1),
                    max_duration_ns INTEGER NOT NULL
                );
                INSERT INTO chain_stats (id, max_duration_ns) SELECT 1, coalesce(max(duration_ns), 0) FROM chains;
                """)
        }
    }

    /// From v8 `chain_names` lists every service and topic any stored chain has had, so that
    /// a chain search filtered on a name no chain has (a typo, a service that never sent a
    /// message) answers at once: the filters match inside each row's `services` and
    /// `topics` columns, which a search for a name that is nowhere reads in full. Names are
    /// kept when their chains are removed, as `services` keeps the span services. Names come
    /// from senders (a reply topic per request is common), so the list holds at most
    /// `maxChainNames`; past that `chain_stats.names_complete` is 0 and searches scan.
    static func registerChainNamesMigration(_ migrator: inout DatabaseMigrator) {
        migrator.registerMigration("v8-chain-names") { db in
            try db.execute(sql: """
                CREATE TABLE chain_names (
                    kind INTEGER NOT NULL,
                    name TEXT NOT NULL,
                    PRIMARY KEY (kind, name)
                ) WITHOUT ROWID;
                ALTER TABLE chain_stats ADD COLUMN names_complete INTEGER NOT NULL DEFAULT 1;
                """)
            var names = Set<ChainName>()
            let rows = try Row.fetchCursor(db, sql: "SELECT services, topics FROM chains")
            while let row = try rows.next() {
                for (kind, column) in [(ChainName.Kind.service, row[0] as String), (.topic, row[1] as String)] {
                    for name in column.split(separator: "\u{1F}") { names.insert(ChainName(kind: kind, name: String(name))) }
                }
            }
            try addChainNames(names, db)
        }
    }

    /// From v9 no table is keyed by chain ID. `chain_traces` held each chain's own ID, a
    /// random key: once the store held many chains, each chain stored dirtied a leaf page of
    /// its own there, which the commit wrote to the WAL and the checkpoint wrote again (with
    /// 927,000 chains stored, 9,800 bytes written a chain against 3,900 without the table,
    /// and about twice the CPU). The row a new revision replaces is found by the ID and the
    /// start it was emitted with (`Chain.replaces`), through the start index; a chain asked
    /// for by ID is found through its trace's stored spans, as by any other of its traces.
    static func registerChainTracesDropMigration(_ migrator: inout DatabaseMigrator) {
        migrator.registerMigration("v9-no-chain-id-index") { db in
            try db.execute(sql: "DROP TABLE chain_traces")
        }
    }

    /// The most names `chain_names` holds.
    static let maxChainNames = 50_000

    /// Adds names to `chain_names`, or marks the list incomplete when they would take it past
    /// `maxChainNames`. False once it is incomplete.
    @discardableResult
    static func addChainNames(_ names: Set<ChainName>, _ db: Database) throws -> Bool {
        guard !names.isEmpty else { return true }
        guard try Bool.fetchOne(db, sql: "SELECT names_complete FROM chain_stats") ?? true else { return false }
        let listed = try Int.fetchOne(db, sql: "SELECT count(*) FROM chain_names") ?? 0
        guard listed + names.count <= maxChainNames else {
            try db.execute(sql: "UPDATE chain_stats SET names_complete = 0")
            return false
        }
        let insert = try db.cachedStatement(sql: "INSERT OR IGNORE INTO chain_names (kind, name) VALUES (?, ?)")
        for name in names { try insert.execute(arguments: [name.kind.rawValue, name.name]) }
        return true
    }

    /// What the store keeps of a chain: the fields queries filter on and its figures
    /// (`ChainBody`, from which the API's JSON is written), as its row's columns. The
    /// variable-length ones lie in the buffer of the `ChainRows` that made the row.
    struct ChainRow {
        var id: TraceID
        var correlationID: String?
        var startNanos: Int64
        var endNanos: Int64
        var durationNanos: Int64
        var status: String
        /// `separated` lists (text).
        var services: Range<Int>
        var topics: Range<Int>
        /// `ChainSpansColumn`, `ChainEdges` and `ChainBody` encodings.
        var spans: Range<Int>
        var edges: Range<Int>
        var body: Range<Int>
    }

    /// The rows of one write, their variable-length columns laid end to end in one buffer:
    /// five arrays a chain, each allocated and zeroed, and the body's list of names, were
    /// a fifth of encoding a chain.
    struct ChainRows {
        private(set) var rows: [ChainRow] = []
        private var writer: ChainBody.BodyWriter
        /// The chain's distinct topics, in hop order; kept for its room.
        private var topicList: [String] = []

        init(capacity: Int) {
            rows.reserveCapacity(capacity)
            // About 600 bytes a chain of four hops.
            writer = ChainBody.BodyWriter(version: ChainBody.version, capacity: 1024 * capacity)
        }

        /// Encoded straight from the chain: copying its hops into `ChainEdges` first, and
        /// binding the columns through GRDB's arguments, were most of storing a chain.
        /// Borrowed, and not captured by a closure: either way the chain was copied (a
        /// retain of every string and array in it).
        mutating func append(_ chain: borrowing Chain) {
            let (bodyStart, columns) = appendColumns(services: chain.services, spans: chain.spans, hops: chain.hops)
            ChainBody.encode(chain, with: &writer)
            rows.append(ChainRow(
                id: chain.id.traceID, correlationID: chain.correlationID, startNanos: Int64(clamping: chain.startUnixNano),
                endNanos: Int64(clamping: chain.endUnixNano), durationNanos: Int64(clamping: chain.endToEndNanos),
                status: chain.status.rawValue, services: columns.services, topics: columns.topics, spans: columns.spans,
                edges: columns.edges, body: bodyStart..<writer.columns.position))
        }

        /// A row from a store of before v5, whose body is kept as it was.
        mutating func append(
            id: TraceID, correlationID: String?, startNanos: Int64, endNanos: Int64, durationNanos: Int64, status: String,
            services: [String], spans: [SpanRef], edges: ChainEdges, body: [UInt8]
        ) {
            let (bodyStart, columns) = appendColumns(services: services, spans: spans, hops: edges.hops)
            writer.columns.bytes(body)
            rows.append(ChainRow(
                id: id, correlationID: correlationID, startNanos: startNanos, endNanos: endNanos, durationNanos: durationNanos,
                status: status, services: columns.services, topics: columns.topics, spans: columns.spans, edges: columns.edges,
                body: bodyStart..<writer.columns.position))
        }

        /// Writes a row's services, topics, spans and edges columns; returns where each lies,
        /// and where the body, written next, starts.
        private mutating func appendColumns(
            services: [String], spans: [SpanRef], hops: [some EdgeHop]
        ) -> (bodyStart: Int, (services: Range<Int>, topics: Range<Int>, spans: Range<Int>, edges: Range<Int>)) {
            TelemetryStore.topics(hops, into: &topicList)
            var start = writer.columns.position
            writer.columns.separated(services)
            let serviceRange = written(since: &start)
            writer.columns.separated(topicList)
            let topics = written(since: &start)
            ChainSpansColumn.encode(spans, into: &writer.columns)
            let spanRange = written(since: &start)
            ChainEdges.encode(hops, into: &writer.columns)
            let edges = written(since: &start)
            return (start, (serviceRange, topics, spanRange, edges))
        }

        /// What was written since `start`, which moves to its end.
        private func written(since start: inout Int) -> Range<Int> {
            defer { start = writer.columns.position }
            return start..<writer.columns.position
        }

        /// The buffer the rows' ranges are in.
        func withBytes<T>(_ body: (UnsafeRawBufferPointer) throws -> T) rethrows -> T {
            try writer.columns.withWritten(body)
        }
    }

    /// The distinct topics of these hops, in hop order, in place of what `topics` held (its
    /// room is kept: a write reuses one array for all its chains).
    fileprivate static func topics(_ hops: [some EdgeHop], into topics: inout [String]) {
        topics.removeAll(keepingCapacity: true)
        hops.forEachInPlace { hop in if let topic = hop.pointee.topic, !topics.contains(topic) { topics.append(topic) } }
    }

    /// A list of names as one column, each between separators (U+001F), so that
    /// `instr(column, separated(name))` finds a name and never a part of one.
    static func separated(_ names: some Sequence<String>) -> String {
        var column = "\u{1F}"
        for name in names {
            column += name
            column += "\u{1F}"
        }
        return column
    }

    /// Inserts through SQLite's own binding calls: GRDB's arguments box each value.
    /// - Parameter bytes: the buffer of the `ChainRows` that made the row.
    private static func insertChainRow(_ row: ChainRow, _ bytes: UnsafeRawBufferPointer, into table: String = "chains", _ db: Database) throws {
        let insert = try db.cachedStatement(sql: """
            INSERT INTO \(table) (chain_id, correlation_id, start_ns, end_ns, duration_ns, status, services, topics, spans, edges, body)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """)
        let id = row.id.bytes
        try db.run(insert) { bind in
            bind.blob(1, id)
            bind.text(2, row.correlationID)
            bind.integer(3, row.startNanos)
            bind.integer(4, row.endNanos)
            bind.integer(5, row.durationNanos)
            bind.text(6, row.status)
            bind.text(7, UnsafeRawBufferPointer(rebasing: bytes[row.services]))
            bind.text(8, UnsafeRawBufferPointer(rebasing: bytes[row.topics]))
            bind.blob(9, UnsafeRawBufferPointer(rebasing: bytes[row.spans]))
            bind.blob(10, UnsafeRawBufferPointer(rebasing: bytes[row.edges]))
            bind.blob(11, UnsafeRawBufferPointer(rebasing: bytes[row.body]))
        }
    }

    /// Deletes the chains with these keys.
    static func deleteChains(_ db: Database, keys: [Int64]) throws {
        let deleteChain = try db.cachedStatement(sql: "DELETE FROM chains WHERE chain_key = ?")
        for key in keys { try deleteChain.execute(arguments: [key]) }
    }

    static func deleteChains(_ db: Database, endingBefore cutoff: Int64) throws {
        // A chain ends after it starts, so the start index narrows the search.
        try deleteChains(db, keys: try Int64.fetchAll(db, sql: "SELECT chain_key FROM chains WHERE start_ns < ? AND end_ns < ?", arguments: [cutoff, cutoff]))
    }

    /// Stores a finalized chain, replacing the rows of the chains it supersedes and any
    /// earlier revision of itself.
    package func saveChain(_ chain: Chain) async throws {
        try await saveChains([chain])
    }

    /// Whether storing `chain` may replace stored rows. A chain re-finalized, or merged from
    /// chains emitted before, does: `Chain.replaces` names them. A first revision that
    /// started after the store opened has none, and skips the search; one that started
    /// before may have been stored by an earlier run that did not hand it back at start.
    package func mayReplaceRows(_ chain: Chain) -> Bool {
        !chain.replaces.isEmpty || storedByAnEarlierRun(chain)
    }

    /// A chain whose own ID's row, if any, an earlier run stored without this one knowing
    /// its start: found among the rows that started while this chain ran.
    private func storedByAnEarlierRun(_ chain: Chain) -> Bool {
        chain.startUnixNano < openedUnixNanos && !chain.replaces.contains { $0.id == chain.id }
    }

    /// The keys of the stored rows `chain` replaces: each chain it names in `replaces`, by
    /// its start and ID (the start index leads to the few rows that started then), and its
    /// own ID's row from an earlier run, among the rows that started within the chain.
    private func replacedKeys(_ chain: Chain, _ db: Database) throws -> [Int64] {
        var keys: [Int64] = []
        if !chain.replaces.isEmpty {
            let exact = try db.cachedStatement(sql: "SELECT chain_key FROM chains WHERE start_ns = ? AND chain_id = ?")
            for emitted in chain.replaces {
                keys += try Int64.fetchAll(exact, arguments: [Int64(clamping: emitted.startUnixNano), Data(emitted.id.traceID.bytes)])
            }
        }
        if storedByAnEarlierRun(chain) {
            let within = try db.cachedStatement(sql: "SELECT chain_key FROM chains WHERE start_ns >= ? AND start_ns <= ? AND chain_id = ?")
            keys += try Int64.fetchAll(
                within, arguments: [Int64(clamping: chain.startUnixNano), Int64(clamping: chain.endUnixNano), Data(chain.id.traceID.bytes)])
        }
        return keys
    }

    /// The rows of these chains, whether each may replace stored rows, and the service and
    /// topic names among them not yet known to be in `chain_names`. Read in place: mapping
    /// the chains copied each (a retain of every string and array in it).
    private func chainRows(_ chains: [Chain]) -> (rows: ChainRows, replacing: [Bool], newNames: Set<ChainName>) {
        var rows = ChainRows(capacity: chains.count), replacing: [Bool] = []
        var names = ChainNamesSeen()
        replacing.reserveCapacity(chains.count)
        let listing = !chainNames.withLock(\.full)
        chains.forEachInPlace { chain in
            rows.append(chain.pointee)
            replacing.append(mayReplaceRows(chain.pointee))
            guard listing else { return }
            for service in chain.pointee.services { names.insert(service, .service) }
            chain.pointee.hops.forEachInPlace { hop in
                if let topic = hop.pointee.topic { names.insert(topic, .topic) }
            }
        }
        let newNames = chainNames.withLock { names.all.subtracting($0.known) }
        return (rows, replacing, newNames)
    }

    /// Stores finalized chains in order, in one transaction (a commit per chain was most of
    /// the collector's cost with the stitcher on).
    package func saveChains(_ chains: [Chain]) async throws {
        let (rows, replacing, newNames) = chainRows(chains)
        let listed = try await pool.write { db in
            try rows.withBytes { bytes in
                // By position: iterating the chains copied each (a retain of every array in it).
                for position in chains.indices {
                    if replacing[position] { try Self.deleteChains(db, keys: try self.replacedKeys(chains[position], db)) }
                    try Self.insertChainRow(rows.rows[position], bytes, db)
                }
            }
            // Never lowered when chains are removed: a bound too wide only reads more rows.
            if let longest = rows.rows.map(\.durationNanos).max() {
                try db.cachedStatement(sql: "UPDATE chain_stats SET max_duration_ns = max(max_duration_ns, ?)").execute(arguments: [longest])
            }
            return try Self.addChainNames(newNames, db)
        }
        // Known once committed: a failed write leaves them to be inserted with the next.
        chainNames.withLock { state in
            if listed {
                state.known.formUnion(newNames)
            } else {
                state = ([], true)
            }
        }
    }

    /// The stored chains matching `query` as the API's JSON, the most recent start first.
    package func findChains(_ query: ChainQuery) async throws -> [Data] {
        var conditions: [String] = []
        var arguments: StatementArguments = []
        if let value = query.correlationID { conditions.append("correlation_id = ?"); arguments += [value] }
        if let value = query.service { conditions.append("instr(services, ?) > 0"); arguments += [Self.separated([value])] }
        if let value = query.topic { conditions.append("instr(topics, ?) > 0"); arguments += [Self.separated([value])] }
        if let value = query.status { conditions.append("status = ?"); arguments += [value.rawValue] }
        if let value = query.minDurationNanos { conditions.append("duration_ns >= ?"); arguments += [value] }
        if let value = query.startNanos { conditions.append("start_ns >= ?"); arguments += [value] }
        if let value = query.endNanos { conditions.append("start_ns <= ?"); arguments += [value] }
        let whereClause = conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND ")
        arguments += [query.limit]
        let filter = arguments
        let names = [query.service.map { ChainName(kind: .service, name: $0) }, query.topic.map { ChainName(kind: .topic, name: $0) }].compactMap { $0 }
        return try await pool.read { db in
            // A name no chain ever had matches nothing; the search below would read every row.
            if !names.isEmpty, try Bool.fetchOne(db, sql: "SELECT names_complete FROM chain_stats") ?? false {
                let named = try db.cachedStatement(sql: "SELECT 1 FROM chain_names WHERE kind = ? AND name = ?")
                for name in names where try Int.fetchOne(named, arguments: [name.kind.rawValue, name.name]) == nil { return [] }
            }
            return try Row.fetchAll(db, sql: "SELECT body, spans FROM chains \(whereClause) ORDER BY start_ns DESC, chain_id LIMIT ?", arguments: filter)
                .map { try ChainBody.json($0[0] as Data, spans: ChainSpansColumn.decode($0[1] as Data)) }
        }
    }

    /// The stored chain holding a span of this trace that started last: given a chain ID,
    /// that chain, since a chain's ID is the trace of its root span.
    ///
    /// The trace's stored spans bound the search: a chain holding one of them started no
    /// later than the latest of them, ended no earlier than the earliest end, and so started
    /// no earlier than that end less the longest chain stored (`chain_stats`). The rows in
    /// that window are read newest start first and checked for the trace in their spans
    /// column. A trace whose spans are no longer stored (spans and chains are trimmed by the
    /// same age and fraction, but separately) finds no chain; the chain search still lists it.
    package func chain(id: String) async throws -> StoredChain? {
        guard let traceID = TraceID(hex: id) else { return nil }
        let key = Data(traceID.bytes)
        guard let bounds = try await spans.with({ files throws(SpanStoreError) in try files.timeBounds(of: traceID) }) else { return nil }
        return try await pool.read { db in
            // instr finds the trace's 16 bytes in the 24-byte span records; the decode confirms
            // they are a record's trace ID.
            let longest = try Int64.fetchOne(db, sql: "SELECT max_duration_ns FROM chain_stats") ?? 0
            let (difference, overflow) = bounds.earliestEnd.subtractingReportingOverflow(max(0, longest))
            let earliestStart = overflow ? Int64.min : difference
            let rows = try Row.fetchCursor(db, sql: """
                SELECT chain_id, body, spans FROM chains
                WHERE start_ns <= ? AND start_ns >= ? AND end_ns >= ? AND instr(spans, ?) > 0 ORDER BY start_ns DESC
                """, arguments: [bounds.latestStart, earliestStart, bounds.earliestEnd, key])
            while let row = try rows.next() {
                let spans = ChainSpansColumn.decode(row[2] as Data)
                if spans.contains(where: { $0.traceID == traceID }) { return try Self.storedChain(row, spans: spans) }
            }
            return nil
        }
    }

    /// The spans of the stored rows `chain` replaces, by chain ID (rows not stored are left
    /// out): what the stitched export sent for them, read before the new revision replaces them.
    package func storedSpans(replacedBy chain: Chain) async throws -> [(id: ChainID, spans: [SpanRef])] {
        try await pool.read { db in
            let statement = try db.cachedStatement(sql: "SELECT chain_id, spans FROM chains WHERE chain_key = ?")
            return try self.replacedKeys(chain, db).compactMap { key in
                guard let row = try Row.fetchOne(statement, arguments: [key]), let id = TraceID(bytes: row[0] as Data) else { return nil }
                return (ChainID(id), ChainSpansColumn.decode(row[1] as Data))
            }
        }
    }

    /// A row of `chain_id, body, spans` with its spans column decoded.
    private static func storedChain(_ row: Row, spans: [SpanRef]) throws -> StoredChain? {
        guard let chainID = TraceID(bytes: row[0] as Data) else { return nil }
        return StoredChain(
            chainID: chainID.hex, json: try ChainBody.json(row[1] as Data, spans: spans),
            spans: spans.map { (traceID: $0.traceID.hex, spanID: $0.spanID.hex) })
    }

    /// Every stored log record of these spans, oldest first.
    package func logs(spans: [(traceID: String, spanID: String)]) async throws -> ExportLogsServiceRequest {
        let wanted = Set(spans.map { $0.traceID + "/" + $0.spanID })
        let traceIDs = Array(Set(spans.map(\.traceID)))
        guard !traceIDs.isEmpty else { return ExportLogsServiceRequest() }
        let rows = try await pool.read { db in
            try Row.fetchAll(
                db,
                sql: "SELECT trace_id, span_id, body FROM logs WHERE trace_id IN (\(databaseQuestionMarks(count: traceIDs.count))) ORDER BY time_ns, id",
                arguments: StatementArguments(traceIDs))
        }
        var merged = ExportLogsServiceRequest()
        for row in rows {
            let traceID: String = row[0]
            let spanID: String? = row[1]
            guard let spanID, wanted.contains(traceID + "/" + spanID) else { continue }
            let body: Data = row[2]
            guard let single = try? ExportLogsServiceRequest(protobuf: Array(body)) else { continue }
            merged.resourceLogs.append(contentsOf: single.resourceLogs)
        }
        return merged
    }

    /// Every stored span among these, start order.
    package func spans(_ spans: [(traceID: String, spanID: String)]) async throws -> ExportTraceServiceRequest {
        let wanted = Set(spans.map { $0.traceID + "/" + $0.spanID })
        let all = try await traces(Array(Set(spans.map(\.traceID))).sorted())
        var result = ExportTraceServiceRequest()
        for resourceSpans in all.resourceSpans {
            var kept = resourceSpans
            kept.scopeSpans = resourceSpans.scopeSpans.map { scope in
                var scope = scope
                scope.spans = scope.spans.filter { wanted.contains($0.traceID.hex + "/" + $0.spanID.hex) }
                return scope
            }.filter { !$0.spans.isEmpty }
            if !kept.scopeSpans.isEmpty { result.resourceSpans.append(kept) }
        }
        return result
    }
}

/// One edge of the service graph: a service producing to a topic, or a topic consumed by a
/// service (then with its queue waits).
package struct MessageEdge: Sendable, Equatable {
    package var producerService: String?
    package var topic: String?
    package var consumerService: String?
    package var messages: Int
    /// Queue waits of the deliveries, ascending (consumer edges only).
    package var queueWaitsNanos: [Int64]
}

extension TelemetryStore {
    /// The message edges of the chains starting in the window, read from their rows.
    private func chainEdges(startNanos: Int64?, endNanos: Int64?) async throws -> [ChainEdges] {
        var conditions: [String] = []
        var arguments: StatementArguments = []
        if let startNanos { conditions.append("start_ns >= ?"); arguments += [startNanos] }
        if let endNanos { conditions.append("start_ns <= ?"); arguments += [endNanos] }
        let window = conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND ")
        let filter = arguments
        return try await pool.read { db in
            try Data.fetchAll(db, sql: "SELECT edges FROM chains \(window)", arguments: filter).map(ChainEdges.init(encoded:))
        }
    }

    /// Service-to-service call counts in Jaeger's dependency shape: messages from the chains
    /// (producer service → consumer service) plus parent → child spans of different
    /// services within a trace, for chains and spans starting in the window.
    package func dependencies(startNanos: Int64, endNanos: Int64) async throws -> [(parent: String, child: String, callCount: Int)] {
        var counts = try await spans.with { files throws(SpanStoreError) in try files.serviceCalls(startNanos: startNanos, endNanos: endNanos) }
        for edges in try await chainEdges(startNanos: startNanos, endNanos: endNanos) {
            for hop in edges.hops {
                guard let parent = hop.producerService else { continue }
                for delivery in hop.deliveries {
                    guard let child = delivery.service else { continue }
                    counts[parent, default: [:]][child, default: 0] += 1
                }
            }
        }
        return counts.flatMap { parent, children in children.map { (parent, $0.key, $0.value) } }
            .sorted { ($0.parent, $0.child) < ($1.parent, $1.child) }
    }

    /// The message edges of the chains starting in the window: producer service → topic
    /// (messages sent), then topic → consumer service (deliveries, with queue waits), each
    /// group in name order (a missing name first).
    package func messageEdges(startNanos: Int64?, endNanos: Int64?) async throws -> [MessageEdge] {
        struct Pair: Hashable { var first: String?, second: String? }
        var sent: [Pair: Int] = [:]
        var consumed: [Pair: MessageEdge] = [:]
        for edges in try await chainEdges(startNanos: startNanos, endNanos: endNanos) {
            for hop in edges.hops {
                sent[Pair(first: hop.producerService, second: hop.topic), default: 0] += 1
                for delivery in hop.deliveries {
                    let pair = Pair(first: hop.topic, second: delivery.service)
                    var edge = consumed[pair] ?? MessageEdge(producerService: nil, topic: hop.topic, consumerService: delivery.service, messages: 0, queueWaitsNanos: [])
                    edge.messages += 1
                    if let wait = delivery.queueWaitNanos { edge.queueWaitsNanos.append(wait) }
                    consumed[pair] = edge
                }
            }
        }
        func ordered(_ lhs: Pair, _ rhs: Pair) -> Bool { (lhs.first ?? "", lhs.second ?? "") < (rhs.first ?? "", rhs.second ?? "") }
        var result = sent.keys.sorted(by: ordered).map {
            MessageEdge(producerService: $0.first, topic: $0.second, consumerService: nil, messages: sent[$0]!, queueWaitsNanos: [])
        }
        for pair in consumed.keys.sorted(by: ordered) {
            var edge = consumed[pair]!
            edge.queueWaitsNanos.sort()
            result.append(edge)
        }
        return result
    }
}

/// A service or topic name some stored chain has had (`chain_names`).
struct ChainName: Hashable, Sendable {
    enum Kind: Int { case service = 0, topic = 1 }
    var kind: Kind
    var name: String
}

/// The distinct service and topic names of a write's chains. Most chains name the same
/// few, so the first `recentBound` are compared before any is hashed: hashing every name
/// of every chain was a tenth of storing chains.
struct ChainNamesSeen {
    private(set) var all = Set<ChainName>()
    private var recent: [ChainName] = []
    private static let recentBound = 32

    mutating func insert(_ name: String, _ kind: ChainName.Kind) {
        if recent.contains(where: { $0.kind == kind && $0.name.isSameText(as: name) }) { return }
        let named = ChainName(kind: kind, name: name)
        if all.insert(named).inserted, recent.count < Self.recentBound { recent.append(named) }
    }
}

/// A chain an earlier run of the collector stored, for the stitcher to take back at start
/// (`ChainStitcher.restore`).
package struct RestoredChain: Sendable {
    package var id: ChainID
    /// The start its row was stored with (`start_ns`), which finds the row again
    /// (`Chain.replaces`).
    package var startUnixNano: UInt64
    package var revision: Int
    /// Stored while a message was still inside its consume window: restored open, so that
    /// it is finalized again with its real status.
    package var inProgress: Bool
    /// The chain's stored spans, each under its resource.
    package var spans: ExportTraceServiceRequest
}

extension TelemetryStore {
    /// The chains stored that ended at `cutoff` or later, newest end first, with their
    /// spans, until `spanLimit` spans are gathered: what the stitcher held in memory when an
    /// earlier run stopped (within its retention), so that a span arriving after a restart
    /// joins its chain instead of starting a new one with an orphan link. Handed to
    /// `deliver` `batchChains` chains at a time, so that only a batch's spans are read and
    /// decoded at once (all of them at once took a restart with 250,000 spans to take back
    /// to 505 MiB resident). Rows stored with a JSON body (before the binary body), and
    /// chains with spans no longer stored, are left out. Returns how many chains and spans
    /// were delivered.
    @discardableResult
    package func chainsToRestore(
        endingAfter cutoff: UInt64, spanLimit: Int, batchChains: Int = 1000, deliver: ([RestoredChain]) async -> Void
    ) async throws -> (chains: Int, spans: Int) {
        let end = Int64(clamping: cutoff)
        let found: [(chain: RestoredChain, spans: [SpanRef])] = try await pool.read { db in
            let longest = try Int64.fetchOne(db, sql: "SELECT max_duration_ns FROM chain_stats") ?? 0
            let (difference, overflow) = end.subtractingReportingOverflow(max(0, longest))
            let rows = try Row.fetchCursor(db, sql: """
                SELECT body, spans, start_ns FROM chains WHERE start_ns >= ? AND end_ns >= ? ORDER BY end_ns DESC
                """, arguments: [overflow ? Int64.min : difference, end])
            var found: [(chain: RestoredChain, spans: [SpanRef])] = []
            var spanCount = 0
            while spanCount < spanLimit, let row = try rows.next() {
                let spans = ChainSpansColumn.decode(row[1] as Data)
                guard let chain = ChainBody.decode(row[0] as Data, spans: spans) else { continue }
                found.append((
                    RestoredChain(
                        id: chain.id, startUnixNano: UInt64(clamping: row[2] as Int64), revision: chain.revision, inProgress: chain.status == .inProgress,
                        spans: ExportTraceServiceRequest()),
                    spans
                ))
                spanCount += spans.count
            }
            return found
        }
        var delivered = (chains: 0, spans: 0)
        var first = 0
        while first < found.count {
            let batch = found[first..<min(first + max(1, batchChains), found.count)]
            first = batch.endIndex
            var chainOf: [SpanRef: Int] = [:]
            for (position, entry) in zip(batch.indices, batch) {
                for span in entry.spans { chainOf[span] = position - batch.startIndex }
            }
            var restored = batch.map(\.chain)
            let traceIDs = Set(chainOf.keys.map(\.traceID))
            let stored = try await spans.with { files throws(SpanStoreError) in try files.spans(of: traceIDs) }
            for span in stored {
                guard let single = try? ExportTraceServiceRequest(protobuf: span.body) else { continue }
                for resourceSpans in single.resourceSpans {
                    for scopeSpans in resourceSpans.scopeSpans {
                        for one in scopeSpans.spans {
                            guard let position = chainOf[SpanRef(traceID: one.traceID, spanID: one.spanID)] else { continue }
                            var kept = resourceSpans
                            kept.scopeSpans = [ScopeSpans(scope: scopeSpans.scope, spans: [one], schemaURL: scopeSpans.schemaURL)]
                            restored[position].spans.resourceSpans.append(kept)
                        }
                    }
                }
            }
            // A chain some of whose spans were trimmed (the store's size bound) would be
            // finalized again with parts missing that were there: leave it as stored.
            restored = zip(restored, batch).filter { $0.spans.spanCount == $1.spans.count }.map(\.0)
            delivered.chains += restored.count
            delivered.spans += restored.reduce(0) { $0 + $1.spans.spanCount }
            if !restored.isEmpty { await deliver(restored) }
        }
        return delivered
    }
}
