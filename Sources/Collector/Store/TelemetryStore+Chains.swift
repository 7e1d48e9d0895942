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

    static let chainTables = ["chains", "chain_hops", "chain_deliveries", "chain_missing", "chain_spans", "chain_services"]

    static func deleteChains(_ db: Database, ids: [String]) throws {
        guard !ids.isEmpty else { return }
        let marks = databaseQuestionMarks(count: ids.count)
        for table in chainTables {
            try db.execute(sql: "DELETE FROM \(table) WHERE chain_id IN (\(marks))", arguments: StatementArguments(ids))
        }
    }

    static func deleteChains(_ db: Database, endingBefore cutoff: Int64) throws {
        let ids = try String.fetchAll(db, sql: "SELECT chain_id FROM chains WHERE end_ns < ?", arguments: [cutoff])
        for start in stride(from: 0, to: ids.count, by: 500) {
            try deleteChains(db, ids: Array(ids[start..<min(start + 500, ids.count)]))
        }
    }

    /// Stores a finalized chain, replacing the rows of the chains it supersedes and any
    /// earlier revision of itself.
    package func saveChain(_ chain: Chain) async throws {
        try await saveChains([chain])
    }

    /// Stores finalized chains in order, in one transaction (a commit per chain was most of
    /// the collector's cost with the stitcher on).
    package func saveChains(_ chains: [Chain]) async throws {
        let bodies = try chains.map { try ChainJSON.data(ChainJSON.detail($0)) }
        try await pool.write { db in
            for (chain, body) in zip(chains, bodies) { try Self.insertChain(chain, body: body, db) }
        }
    }

    private static func insertChain(_ chain: Chain, body: Data, _ db: Database) throws {
        let id = chain.id.description
        // One id at a time through cached statements: this runs for every chain, and
        // preparing the statements each time was most of the cost of storing a chain. Most
        // chains are stored once, so one probe of the chains table decides whether the
        // six tables need deleting from (a chain's rows are written all together).
        let stored = try db.cachedStatement(sql: "SELECT 1 FROM chains WHERE chain_id = ?")
        for gone in [id] + chain.supersedes.map(\.description) where try Bool.fetchOne(stored, arguments: [gone]) != nil {
            for table in chainTables {
                try db.cachedStatement(sql: "DELETE FROM \(table) WHERE chain_id = ?").execute(arguments: [gone])
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
        var services = Set([chain.rootService].compactMap { $0 })
        let insertHop = try db.cachedStatement(sql: """
            INSERT INTO chain_hops (chain_id, position, producer_trace_id, producer_span_id, producer_service, topic, dead_letter)
            VALUES (?, ?, ?, ?, ?, ?, ?)
            """)
        let insertDelivery = try db.cachedStatement(sql: """
            INSERT INTO chain_deliveries (chain_id, hop, trace_id, span_id, service, consumer_group, queue_wait_ns, attempt, error)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
            """)
        for (position, hop) in chain.hops.enumerated() {
            try insertHop.execute(arguments: [
                id, position, hop.producer.traceID.hex, hop.producer.spanID.hex, hop.producerService, hop.topic, hop.isDeadLetter,
            ])
            if let service = hop.producerService { services.insert(service) }
            for delivery in hop.deliveries {
                try insertDelivery.execute(arguments: [
                    id, position, delivery.consumer.traceID.hex, delivery.consumer.spanID.hex, delivery.service,
                    delivery.consumerGroup, delivery.queueWaitNanos, delivery.attempt, delivery.isError,
                ])
                if let service = delivery.service { services.insert(service) }
            }
        }
        let insertMissing = try db.cachedStatement(sql: """
            INSERT INTO chain_missing (chain_id, kind, trace_id, span_id, target_trace_id, target_span_id, topic) VALUES (?, ?, ?, ?, ?, ?, ?)
            """)
        for part in chain.missing {
            switch part {
            case .unconsumedMessage(let producer, let topic):
                try insertMissing.execute(arguments: [id, "unconsumed_message", producer.traceID.hex, producer.spanID.hex, nil, nil, topic])
            case .orphanLink(let consumer, let target):
                try insertMissing.execute(arguments: [
                    id, "orphan_link", consumer.traceID.hex, consumer.spanID.hex, target.traceID.hex, target.spanID.hex, nil,
                ])
            }
        }
        let insertSpan = try db.cachedStatement(sql: "INSERT OR REPLACE INTO chain_spans (trace_id, span_id, chain_id) VALUES (?, ?, ?)")
        for span in chain.spans {
            try insertSpan.execute(arguments: [span.traceID.hex, span.spanID.hex, id])
        }
        // Services of spans outside the hops (an HTTP call inside a handler), as far as stored.
        let traceServices = try db.cachedStatement(sql: "SELECT DISTINCT service FROM spans WHERE trace_id = ?")
        for traceID in chain.traceIDs {
            services.formUnion(try String.fetchAll(traceServices, arguments: [traceID.hex]))
        }
        let insertService = try db.cachedStatement(sql: "INSERT OR IGNORE INTO chain_services (service, chain_id) VALUES (?, ?)")
        for service in services { try insertService.execute(arguments: [service, id]) }
    }

    /// The stored chains matching `query`, the most recent start first.
    package func findChains(_ query: ChainQuery) async throws -> [Data] {
        var conditions: [String] = []
        var arguments: StatementArguments = []
        if let value = query.correlationID { conditions.append("correlation_id = ?"); arguments += [value] }
        if let value = query.service {
            conditions.append("chain_id IN (SELECT chain_id FROM chain_services WHERE service = ?)"); arguments += [value]
        }
        if let value = query.topic {
            conditions.append("chain_id IN (SELECT chain_id FROM chain_hops WHERE topic = ?)"); arguments += [value]
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
            var row = try Row.fetchOne(db, sql: "SELECT chain_id, body FROM chains WHERE chain_id = ?", arguments: [id])
            if row == nil {
                row = try Row.fetchOne(db, sql: """
                    SELECT c.chain_id, c.body FROM chain_spans s JOIN chains c ON c.chain_id = s.chain_id WHERE s.trace_id = ? LIMIT 1
                    """, arguments: [id])
            }
            guard let row else { return nil }
            let chainID: String = row[0]
            let spans = try Row.fetchAll(db, sql: "SELECT trace_id, span_id FROM chain_spans WHERE chain_id = ?", arguments: [chainID])
                .map { (traceID: $0[0] as String, spanID: $0[1] as String) }
            return StoredChain(chainID: chainID, json: row[1], spans: spans)
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
        try await pool.read { db in
            var counts: [String: [String: Int]] = [:]
            let messages = try Row.fetchAll(db, sql: """
                SELECT h.producer_service, d.service, COUNT(*) FROM chains c
                JOIN chain_hops h ON h.chain_id = c.chain_id
                JOIN chain_deliveries d ON d.chain_id = h.chain_id AND d.hop = h.position
                WHERE c.start_ns >= ? AND c.start_ns <= ? AND h.producer_service IS NOT NULL AND d.service IS NOT NULL
                GROUP BY h.producer_service, d.service
                """, arguments: [startNanos, endNanos])
            let calls = try Row.fetchAll(db, sql: """
                SELECT p.service, c.service, COUNT(*) FROM spans c
                JOIN spans p ON p.trace_id = c.trace_id AND p.span_id = c.parent_span_id
                WHERE c.start_ns >= ? AND c.start_ns <= ? AND p.service != c.service
                GROUP BY p.service, c.service
                """, arguments: [startNanos, endNanos])
            for row in messages + calls {
                let parent: String = row[0], child: String = row[1], count: Int = row[2]
                counts[parent, default: [:]][child, default: 0] += count
            }
            return counts.flatMap { parent, children in children.map { (parent, $0.key, $0.value) } }
                .sorted { ($0.parent, $0.child) < ($1.parent, $1.child) }
        }
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
                SELECT h.producer_service, h.topic, COUNT(*) FROM chains c JOIN chain_hops h ON h.chain_id = c.chain_id \(window)
                GROUP BY h.producer_service, h.topic ORDER BY h.producer_service, h.topic
                """, arguments: filter)
            {
                edges.append(MessageEdge(producerService: row[0], topic: row[1], consumerService: nil, messages: row[2], queueWaitsNanos: []))
            }
            var consumed: [String: MessageEdge] = [:]
            var order: [String] = []
            for row in try Row.fetchAll(db, sql: """
                SELECT h.topic, d.service, d.queue_wait_ns FROM chains c
                JOIN chain_hops h ON h.chain_id = c.chain_id
                JOIN chain_deliveries d ON d.chain_id = h.chain_id AND d.hop = h.position \(window)
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
