import Collector
import Foundation
import GRDB
import Telemetry
import Testing

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
            Samples.traces.forEachSpanRequest { _, span, body in if span.pointee.spanID == Samples.producerSpan { found = Array(body) } }
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
