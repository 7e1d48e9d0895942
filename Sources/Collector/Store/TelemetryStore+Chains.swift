package import Foundation
import GRDB
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

    /// The tables holding a chain's rows, `chains` last: the others are found through it.
    static let chainTables = ["chain_hops", "chain_deliveries", "chain_missing", "chain_spans", "chain_services", "chains"]

    /// Deletes every row of the chains with these keys.
    static func deleteChains(_ db: Database, keys: [Int64]) throws {
        for start in stride(from: 0, to: keys.count, by: 500) {
            let part = Array(keys[start..<min(start + 500, keys.count)])
            let marks = databaseQuestionMarks(count: part.count)
            for table in chainTables {
                try db.execute(sql: "DELETE FROM \(table) WHERE chain_key IN (\(marks))", arguments: StatementArguments(part))
            }
        }
    }

    static func deleteChains(_ db: Database, endingBefore cutoff: Int64) throws {
        try deleteChains(db, keys: try Int64.fetchAll(db, sql: "SELECT chain_key FROM chains WHERE end_ns < ?", arguments: [cutoff]))
    }

    /// Stores a finalized chain, replacing the rows of the chains it supersedes and any
    /// earlier revision of itself.
    package func saveChain(_ chain: Chain) async throws {
        try await saveChains([chain])
    }

    /// Stores finalized chains in order, in one transaction (a commit per chain was most of
    /// the collector's cost with the stitcher on).
    package func saveChains(_ chains: [Chain]) async throws {
        let bodies = chains.map(ChainJSON.detailData)
        try await pool.write { db in
            for (chain, body) in zip(chains, bodies) { try Self.insertChain(chain, body: body, db) }
        }
    }

    private static func insertChain(_ chain: Chain, body: Data, _ db: Database) throws {
        let id = chain.id.description
        // One chain at a time through cached statements: this runs for every chain, and
        // preparing the statements each time was most of the cost of storing a chain. Most
        // chains are stored once, so a probe of the chain-ID index finds the earlier
        // revisions (and superseded chains) whose rows the six tables lose.
        let stored = try db.cachedStatement(sql: "SELECT chain_key FROM chains WHERE chain_id = ?")
        for gone in [id] + chain.supersedes.map(\.description) {
            guard let key = try Int64.fetchOne(stored, arguments: [gone]) else { continue }
            for table in chainTables {
                try db.cachedStatement(sql: "DELETE FROM \(table) WHERE chain_key = ?").execute(arguments: [key])
            }
        }
        try db.cachedStatement(sql: """
            INSERT INTO chains (chain_id, correlation_id, root_service, root_operation, start_ns, end_ns, duration_ns, status,
                span_count, hop_count, error_count, missing_count, dead_letter_hops, finalized_early, revision, body)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """).execute(arguments: [
                id, chain.correlationID, chain.rootService, chain.rootOperation, Int64(clamping: chain.startUnixNano),
                Int64(clamping: chain.endUnixNano), Int64(clamping: chain.endToEndNanos), chain.status.rawValue,
                chain.spans.count, chain.hops.count, chain.errorCount, chain.missing.count, chain.deadLetterHops,
                chain.finalizedEarly, chain.revision, body,
            ])
        let key = db.lastInsertedRowID
        let insertHop = try db.cachedStatement(sql: """
            INSERT INTO chain_hops (chain_key, position, producer_trace_id, producer_span_id, producer_service, topic, dead_letter)
            VALUES (?, ?, ?, ?, ?, ?, ?)
            """)
        let insertDelivery = try db.cachedStatement(sql: """
            INSERT INTO chain_deliveries (chain_key, hop, trace_id, span_id, service, consumer_group, queue_wait_ns, attempt, error)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
            """)
        for (position, hop) in chain.hops.enumerated() {
            try insertHop.execute(arguments: [
                key, position, hop.producer.traceID.hex, hop.producer.spanID.hex, hop.producerService, hop.topic, hop.isDeadLetter,
            ])
            for delivery in hop.deliveries {
                try insertDelivery.execute(arguments: [
                    key, position, delivery.consumer.traceID.hex, delivery.consumer.spanID.hex, delivery.service,
                    delivery.consumerGroup, delivery.queueWaitNanos, delivery.attempt, delivery.isError,
                ])
            }
        }
        let insertMissing = try db.cachedStatement(sql: """
            INSERT INTO chain_missing (chain_key, kind, trace_id, span_id, target_trace_id, target_span_id, topic) VALUES (?, ?, ?, ?, ?, ?, ?)
            """)
        for part in chain.missing {
            switch part {
            case .unconsumedMessage(let producer, let topic):
                try insertMissing.execute(arguments: [key, "unconsumed_message", producer.traceID.hex, producer.spanID.hex, nil, nil, topic])
            case .orphanLink(let consumer, let target):
                try insertMissing.execute(arguments: [
                    key, "orphan_link", consumer.traceID.hex, consumer.spanID.hex, target.traceID.hex, target.spanID.hex, nil,
                ])
            }
        }
        let insertSpan = try db.cachedStatement(sql: "INSERT OR REPLACE INTO chain_spans (trace_id, span_id, chain_key) VALUES (?, ?, ?)")
        for span in chain.spans {
            try insertSpan.execute(arguments: [span.traceID.hex, span.spanID.hex, key])
        }
        // Every span's service, an HTTP call inside a handler's included: the stitcher knows
        // them, where the spans table may not have the spans yet.
        let insertService = try db.cachedStatement(sql: "INSERT OR IGNORE INTO chain_services (service, chain_key) VALUES (?, ?)")
        for service in chain.services { try insertService.execute(arguments: [service, key]) }
    }

    /// The stored chains matching `query`, the most recent start first.
    package func findChains(_ query: ChainQuery) async throws -> [Data] {
        var conditions: [String] = []
        var arguments: StatementArguments = []
        if let value = query.correlationID { conditions.append("correlation_id = ?"); arguments += [value] }
        if let value = query.service {
            conditions.append("chain_key IN (SELECT chain_key FROM chain_services WHERE service = ?)"); arguments += [value]
        }
        if let value = query.topic {
            conditions.append("chain_key IN (SELECT chain_key FROM chain_hops WHERE topic = ?)"); arguments += [value]
        }
        if let value = query.status { conditions.append("status = ?"); arguments += [value.rawValue] }
        if let value = query.minDurationNanos { conditions.append("duration_ns >= ?"); arguments += [value] }
        if let value = query.startNanos { conditions.append("start_ns >= ?"); arguments += [value] }
        if let value = query.endNanos { conditions.append("start_ns <= ?"); arguments += [value] }
        let whereClause = conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND ")
        arguments += [query.limit]
        let filter = arguments
        return try await pool.read { db in
            try Data.fetchAll(db, sql: "SELECT body FROM chains \(whereClause) ORDER BY start_ns DESC, chain_id LIMIT ?", arguments: filter)
        }
    }

    /// The stored chain with this ID, or the one holding a span of this trace.
    package func chain(id: String) async throws -> StoredChain? {
        try await pool.read { db in
            var row = try Row.fetchOne(db, sql: "SELECT chain_key, chain_id, body FROM chains WHERE chain_id = ?", arguments: [id])
            if row == nil {
                row = try Row.fetchOne(db, sql: """
                    SELECT c.chain_key, c.chain_id, c.body FROM chain_spans s JOIN chains c ON c.chain_key = s.chain_key WHERE s.trace_id = ? LIMIT 1
                    """, arguments: [id])
            }
            guard let row else { return nil }
            let key: Int64 = row[0]
            let spans = try Row.fetchAll(db, sql: "SELECT trace_id, span_id FROM chain_spans WHERE chain_key = ?", arguments: [key])
                .map { (traceID: $0[0] as String, spanID: $0[1] as String) }
            return StoredChain(chainID: row[1], json: row[2], spans: spans)
        }
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
    /// Service-to-service call counts in Jaeger's dependency shape: messages from the chains
    /// (producer service → consumer service) plus parent → child spans of different
    /// services within a trace, for chains and spans starting in the window.
    package func dependencies(startNanos: Int64, endNanos: Int64) async throws -> [(parent: String, child: String, callCount: Int)] {
        var counts = try await spans.with { files throws(SpanStoreError) in try files.serviceCalls(startNanos: startNanos, endNanos: endNanos) }
        let messages = try await pool.read { db in
            try Row.fetchAll(db, sql: """
                SELECT h.producer_service, d.service, COUNT(*) FROM chains c
                JOIN chain_hops h ON h.chain_key = c.chain_key
                JOIN chain_deliveries d ON d.chain_key = h.chain_key AND d.hop = h.position
                WHERE c.start_ns >= ? AND c.start_ns <= ? AND h.producer_service IS NOT NULL AND d.service IS NOT NULL
                GROUP BY h.producer_service, d.service
                """, arguments: [startNanos, endNanos])
        }
        for row in messages {
            let parent: String = row[0], child: String = row[1], count: Int = row[2]
            counts[parent, default: [:]][child, default: 0] += count
        }
        return counts.flatMap { parent, children in children.map { (parent, $0.key, $0.value) } }
            .sorted { ($0.parent, $0.child) < ($1.parent, $1.child) }
    }

    /// The message edges of the chains starting in the window: producer service → topic
    /// (messages sent) and topic → consumer service (deliveries, with queue waits).
    package func messageEdges(startNanos: Int64?, endNanos: Int64?) async throws -> [MessageEdge] {
        var conditions: [String] = []
        var arguments: StatementArguments = []
        if let startNanos { conditions.append("c.start_ns >= ?"); arguments += [startNanos] }
        if let endNanos { conditions.append("c.start_ns <= ?"); arguments += [endNanos] }
        let window = conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND ")
        let filter = arguments
        return try await pool.read { db in
            var edges: [MessageEdge] = []
            for row in try Row.fetchAll(db, sql: """
                SELECT h.producer_service, h.topic, COUNT(*) FROM chains c JOIN chain_hops h ON h.chain_key = c.chain_key \(window)
                GROUP BY h.producer_service, h.topic ORDER BY h.producer_service, h.topic
                """, arguments: filter)
            {
                edges.append(MessageEdge(producerService: row[0], topic: row[1], consumerService: nil, messages: row[2], queueWaitsNanos: []))
            }
            var consumed: [String: MessageEdge] = [:]
            var order: [String] = []
            for row in try Row.fetchAll(db, sql: """
                SELECT h.topic, d.service, d.queue_wait_ns FROM chains c
                JOIN chain_hops h ON h.chain_key = c.chain_key
                JOIN chain_deliveries d ON d.chain_key = h.chain_key AND d.hop = h.position \(window)
                ORDER BY h.topic, d.service
                """, arguments: filter)
            {
                let topic: String? = row[0], service: String? = row[1], wait: Int64? = row[2]
                let key = (topic ?? "\u{0}") + "\u{1}" + (service ?? "\u{0}")
                if consumed[key] == nil {
                    consumed[key] = MessageEdge(producerService: nil, topic: topic, consumerService: service, messages: 0, queueWaitsNanos: [])
                    order.append(key)
                }
                consumed[key]!.messages += 1
                if let wait { consumed[key]!.queueWaitsNanos.append(wait) }
            }
            for key in order {
                var edge = consumed[key]!
                edge.queueWaitsNanos.sort()
                edges.append(edge)
            }
            return edges
        }
    }
}
