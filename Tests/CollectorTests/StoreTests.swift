import Collector
import Foundation
import GRDB
import Telemetry
import Testing

@testable import Collector

@Suite struct StoreTests {
    func makeStore(maxAgeSeconds: Int = 3600, maxBytes: Int = 1 << 30) throws -> TelemetryStore {
        try TelemetryStore(
            directory: try temporaryDirectory(), retention: .init(maxAgeSeconds: maxAgeSeconds, maxBytes: maxBytes, intervalSeconds: 60),
            correlationAttributes: ["messaging.message.conversation_id", "correlation.id", "correlation_id"], logger: quietLogger)
    }

    @Test func aSpanSentTwiceIsStoredOnceWithItsLinksOnce() async throws {
        let store = try makeStore()
        try await store.consume(Samples.traces)
        try await store.consume(Samples.traces)
        #expect(try await store.traces([Samples.consumerTrace.hex]).spanCount == 1)
        #expect(try await store.backlinks(traceID: Samples.producerTrace.hex, spanID: Samples.producerSpan.hex).count == 1)
    }

    @Test func aStoreFromBeforeRowidSpansIsMigratedWithItsSpans() async throws {
        let directory = try temporaryDirectory()
        do {
            let pool = try DatabasePool(path: (directory as NSString).appendingPathComponent("store.sqlite"))
            try TelemetryStore.migrator.migrate(pool, upTo: "v2-chains")
            var found: [UInt8] = []
            Samples.traces.forEachSpanRequest { _, span, body in if span.pointee.spanID == Samples.producerSpan { found = body.protobuf } }
            let producer = found
            try await pool.write { db in
                try db.execute(
                    sql: """
                        INSERT INTO spans (trace_id, span_id, parent_span_id, service, operation, kind, start_ns, duration_ns, status, correlation_id, body)
                        VALUES (?, ?, NULL, 'order-service', 'send orders', 4, 1700000000000000000, 2000000, 1, 'order-42', ?)
                        """,
                    arguments: [Samples.producerTrace.hex, Samples.producerSpan.hex, Data(producer)])
            }
        }
        let store = try TelemetryStore(
            directory: directory, retention: .init(maxAgeSeconds: 3600, maxBytes: 1 << 30, intervalSeconds: 60),
            correlationAttributes: ["correlation.id"], logger: quietLogger)
        let migrated = try await store.traces([Samples.producerTrace.hex])
        #expect(migrated.resourceSpans.first?.scopeSpans.first?.spans == [Samples.producer])
        // The unique index keeps a migrated span from being stored a second time.
        try await store.consume(Samples.traces)
        #expect(try await store.traces([Samples.producerTrace.hex, Samples.consumerTrace.hex]).spanCount == 2)
    }

    @Test func retentionRemovesDataOlderThanTheMaximumAge() async throws {
        let store = try makeStore(maxAgeSeconds: 60)
        try await store.consume(Samples.traces)
        try await store.consume(Samples.logs)
        // Samples are from 2023-11-14; sweep as of one minute after them, then a day after.
        await store.sweep(now: 1_700_000_030_000_000_000)
        #expect(try await store.traces([Samples.producerTrace.hex]).spanCount == 1)
        await store.sweep(now: 1_700_086_400_000_000_000)
        #expect(try await store.traces([Samples.producerTrace.hex, Samples.consumerTrace.hex]).spanCount == 0)
        #expect(try await store.logs(LogQuery()).logRecordCount == 0)
        #expect(try await store.backlinks(traceID: Samples.producerTrace.hex, spanID: Samples.producerSpan.hex).isEmpty)
    }

    @Test func retentionTrimsTheOldestDataWhenOverTheSize() async throws {
        let store = try makeStore(maxAgeSeconds: 1 << 40, maxBytes: 256 * 1024)
        let padding = String(repeating: "x", count: 2048)
        for batch in 0..<200 {
            var traces = Samples.traces
            for r in traces.resourceSpans.indices {
                traces.resourceSpans[r].scopeSpans[0].spans[0].traceID = TraceID(high: UInt64(batch + 1), low: UInt64(r + 1))
                traces.resourceSpans[r].scopeSpans[0].spans[0].startTimeUnixNano += UInt64(batch) * 1_000_000_000
                traces.resourceSpans[r].scopeSpans[0].spans[0].attributes.append(KeyValue("padding", .string(padding)))
            }
            try await store.consume(traces)
        }
        #expect(try await store.usedBytes() > 256 * 1024)
        await store.sweep(now: 1_700_000_000_000_000_000)
        #expect(try await store.usedBytes() <= 256 * 1024)
        // The newest batch is kept, the oldest gone.
        #expect(try await store.traces([TraceID(high: 200, low: 1).hex]).spanCount == 1)
        #expect(try await store.traces([TraceID(high: 1, low: 1).hex]).spanCount == 0)
    }
}

/// `Database.run`: values bound through SQLite's C API, as the chain rows are.
@Suite struct SQLiteBindingsTests {
    @Test func valuesAreStoredAsBoundEmptyOnesNotAsNull() throws {
        let queue = try DatabaseQueue()
        try queue.write { db in
            try db.execute(sql: "CREATE TABLE t (b BLOB NOT NULL, s TEXT NOT NULL, o TEXT, i INTEGER NOT NULL)")
            let insert = try db.cachedStatement(sql: "INSERT INTO t VALUES (?, ?, ?, ?)")
            for (blob, text, optional, integer) in [([1, 0, 255] as [UInt8], "é\u{1F}x", "c" as String?, Int64.min), ([], "", nil, 7)] {
                try db.run(insert) { bind in
                    bind.blob(1, blob)
                    bind.text(2, text)
                    bind.text(3, optional)
                    bind.integer(4, integer)
                }
            }
            let rows = try Row.fetchAll(db, sql: "SELECT b, s, o, i, typeof(b), typeof(o) FROM t ORDER BY rowid")
            #expect(rows[0][0] as Data == Data([1, 0, 255]) && rows[0][1] as String == "é\u{1F}x" && rows[0][2] as String? == "c" && rows[0][3] as Int64 == .min)
            #expect(rows[1][0] as Data == Data() && rows[1][1] as String == "" && rows[1][2] as String? == nil && rows[1][3] as Int64 == 7)
            #expect(rows[1][4] as String == "blob" && rows[1][5] as String == "null")
        }
    }

    @Test func aFailedStepThrowsTheErrorWithItsStatement() throws {
        let queue = try DatabaseQueue()
        try queue.write { db in
            try db.execute(sql: "CREATE TABLE t (k INTEGER PRIMARY KEY)")
            let insert = try db.cachedStatement(sql: "INSERT INTO t VALUES (?)")
            try db.run(insert) { $0.integer(1, 1) }
            do {
                try db.run(insert) { $0.integer(1, 1) }
                Issue.record("a duplicate key was inserted")
            } catch let error as DatabaseError {
                #expect(error.resultCode == .SQLITE_CONSTRAINT)
                #expect(error.sql == "INSERT INTO t VALUES (?)")
            }
            // The statement is usable again after the failure.
            try db.run(insert) { $0.integer(1, 2) }
            #expect(try Int.fetchOne(db, sql: "SELECT count(*) FROM t") == 2)
        }
    }
}
