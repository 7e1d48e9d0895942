import Foundation
import GRDB
import Synchronization
import Telemetry
import Testing

@testable import Collector

private typealias F = Fixture

/// The chain tables of the store, written directly.
@Suite struct ChainStoreTests {
    func store() throws -> TelemetryStore {
        try TelemetryStore(
            directory: try temporaryDirectory(), retention: .init(maxAgeSeconds: 3600, maxBytes: 1 << 30, intervalSeconds: 60),
            correlationAttributes: [], logger: quietLogger)
    }

    func ids(_ bodies: [Data]) throws -> [String] {
        try bodies.map { try #require((try JSONSerialization.jsonObject(with: $0) as? [String: Any])?["chainID"] as? String) }
    }

    @Test func chainSupersedingAnotherReplacesItsRowsAndSpanMapping() async throws {
        let store = try store()
        // A chain is found by a trace other than its ID through that trace's stored spans.
        for request in F.linearChain() { try await store.consume(request) }
        let first = try #require(F.stitch(F.linearChain()).first)
        try await store.saveChain(first)
        var second = first
        second.id = ChainID(F.trace(9))
        second.supersedes = [first.id]
        second.replaces = [EmittedChain(id: first.id, startUnixNano: first.startUnixNano)]
        second.revision = 2
        try await store.saveChain(second)
        #expect(try ids(try await store.findChains(ChainQuery())) == [F.trace(9).hex])
        #expect(try ids(try await store.findChains({ var q = ChainQuery(); q.topic = "payments"; return q }())) == [F.trace(9).hex])
        let byTrace = try #require(try await store.chain(id: F.trace(3).hex))
        #expect(byTrace.chainID == F.trace(9).hex)
        #expect(byTrace.spans.count == 9)
        #expect(try await store.chain(id: F.trace(1).hex)?.chainID == F.trace(9).hex)
    }

    /// No chain ID is indexed (v9): each of a chain's traces, its own ID too, finds it through
    /// the trace's stored spans, among chains before and after it, and a stored trace that
    /// no chain holds finds none.
    @Test func chainIsFoundByAnotherTraceThroughThatTracesStoredSpans() async throws {
        let store = try store()
        for request in F.linearChain() { try await store.consume(request) }
        let lone = F.request("audit", [F.span(60, 1, "audit write", 50, 60)])
        try await store.consume(lone)
        let chain = try #require(F.stitch(F.linearChain()).first)
        for shift in [-2, 0, 2] as [Int64] {
            var copy = chain
            if shift != 0 {
                copy.id = ChainID(TraceID(high: 7, low: UInt64(shift + 10)))
                copy.startUnixNano = UInt64(Int64(copy.startUnixNano) + shift * Int64(F.second))
                copy.endUnixNano = UInt64(Int64(copy.endUnixNano) + shift * Int64(F.second))
                copy.spans = [SpanRef(traceID: TraceID(high: 7, low: 99), spanID: SpanID(1))]
            }
            try await store.saveChain(copy)
        }
        for member in 1...5 as ClosedRange<UInt64> {
            #expect(try await store.chain(id: F.trace(member).hex)?.chainID == chain.id.description, "trace \(member)")
        }
        #expect(try await store.chain(id: F.trace(60).hex) == nil)
        #expect(try await store.chain(id: F.trace(61).hex) == nil)
    }

    /// The search by another trace starts no earlier than the trace's spans' end less the
    /// longest chain stored: a chain that began an hour before the span it holds is found,
    /// and the bound is that longest duration, kept when shorter chains follow.
    @Test func longChainIsFoundByATraceAtItsEnd() async throws {
        let store = try store()
        let hour = 3_600 * F.second
        try await store.consume(F.request("audit", [F.span(61, 1, "audit write", 0, 10)]))
        var long = try #require(F.stitch(F.linearChain()).first)
        long.startUnixNano = F.at(0) - hour
        long.spans.append(SpanRef(traceID: F.trace(61), spanID: SpanID(1)))
        var short = try #require(F.stitch([F.request("s", [F.span(62, 1, "a", 0, 1)])]).first)
        short.startUnixNano = F.at(0) + F.second
        try await store.saveChains([long])
        try await store.saveChains([short])
        #expect(try await store.chain(id: F.trace(61).hex)?.chainID == long.id.description)
        let longest = try await store.pool.read { db in try Int64.fetchOne(db, sql: "SELECT max_duration_ns FROM chain_stats") }
        #expect(longest == Int64(long.endUnixNano - long.startUnixNano))
    }

    /// A first revision probes for an earlier row only when it started before the store
    /// opened, as one an earlier run of the collector stored does: saving it again after a
    /// restart replaces that row rather than adding a second.
    @Test func firstRevisionThatStartedBeforeTheStoreOpenedReplacesAnEarlierRunsRow() async throws {
        let store = try store()
        let chain = try #require(F.stitch(F.linearChain()).first)
        #expect(chain.revision == 1 && chain.supersedes.isEmpty)
        #expect(chain.startUnixNano < store.openedUnixNanos)
        try await store.saveChain(chain)
        try await store.saveChain(chain)
        #expect(try ids(try await store.findChains(ChainQuery())) == [chain.id.description])
    }

    /// No index on chain IDs (v9): a revision finds the row it replaces by the ID and start
    /// that row was stored with, also when a late root moved the chain's ID and start
    /// earlier; the stitched export reads that row's spans the same way.
    @Test func revisionReplacesTheRowItWasEmittedAsFoundByItsStart() async throws {
        let store = try store()
        var stitcher = ChainStitcher()
        let requests = F.linearChain()
        for request in requests.dropFirst() { _ = stitcher.ingest(request, now: F.at(200)) }
        let first = try #require(stitcher.finalizeIdle(now: F.at(200) + 31 * F.second).first)
        try await store.saveChains([first])
        _ = stitcher.ingest(requests[0], now: F.at(200) + 300 * F.second)
        let second = try #require(stitcher.finalizeIdle(now: F.at(200) + 331 * F.second).first)
        #expect(second.id != first.id && second.startUnixNano < first.startUnixNano)
        #expect(second.replaces == [EmittedChain(id: first.id, startUnixNano: first.startUnixNano)])
        let sent = try await store.storedSpans(replacedBy: second)
        #expect(sent.map(\.id) == [first.id] && sent.first?.spans == first.spans)
        try await store.saveChains([second])
        #expect(try ids(try await store.findChains(ChainQuery())) == [second.id.description])
        // A revision naming a start its row was not stored with replaces nothing.
        var third = second
        third.revision = 3
        third.replaces = [EmittedChain(id: second.id, startUnixNano: second.startUnixNano + 1)]
        third.startUnixNano = store.openedUnixNanos
        try await store.saveChains([third])
        #expect(try await store.findChains(ChainQuery()).count == 2)
    }

    /// The service filter covers every span's service from the chain itself, so it holds
    /// while the spans are still queued for the store (none are stored here).
    @Test func chainIsFoundByTheServiceOfEachOfItsSpansBeforeTheSpansAreStored() async throws {
        let store = try store()
        let chain = try #require(F.stitch(F.linearChain()).first)
        #expect(chain.services == ["audit", "inventory", "notification", "order", "payment"])
        try await store.saveChain(chain)
        for service in chain.services {
            var query = ChainQuery()
            query.service = service
            #expect(try ids(try await store.findChains(query)) == [chain.id.description], "\(service)")
        }
    }

    /// Services and topics are one column each: a name never matches a part of another.
    @Test func serviceAndTopicFiltersMatchWholeNamesOnly() async throws {
        let store = try store()
        let chain = try #require(F.stitch(F.linearChain()).first)
        try await store.saveChain(chain)
        for (service, topic) in [("pay", nil), ("payments", nil), (nil, "pay"), (nil, "ments")] as [(String?, String?)] {
            var query = ChainQuery()
            query.service = service
            query.topic = topic
            #expect(try await store.findChains(query).isEmpty, "\(service ?? "-") \(topic ?? "-")")
        }
    }

    /// A write's names are gathered once each, by kind, past the few compared before hashing.
    @Test func aWritesNamesAreGatheredOnceEachByKind() {
        var seen = ChainNamesSeen()
        for round in 0..<3 {
            for number in 0..<40 { seen.insert("topic-\(number)", .topic) }
            seen.insert("orders", .service)
            seen.insert("orders", .topic)
            seen.insert(String(repeating: "long-service-name-", count: round + 1).uppercased().lowercased(), .service)
        }
        #expect(seen.all.count == 40 + 2 + 3)
        #expect(seen.all.contains(ChainName(kind: .service, name: "orders")))
        #expect(seen.all.contains(ChainName(kind: .topic, name: "orders")))
        #expect(seen.all.contains(ChainName(kind: .topic, name: "topic-39")))
    }

    /// A search on a service or topic no chain has answers from `chain_names`, which holds
    /// every name of the chains written, across a restart, and which the migration fills
    /// from the rows a store already holds.
    @Test func namesOfStoredChainsAreListedForTheSearchAcrossRestartsAndTheMigration() async throws {
        let directory = try temporaryDirectory()
        let retention = TelemetryStore.Retention(maxAgeSeconds: 3600, maxBytes: 1 << 30, intervalSeconds: 60)
        func open() throws -> TelemetryStore { try TelemetryStore(directory: directory, retention: retention, correlationAttributes: [], logger: quietLogger) }
        func names(_ store: TelemetryStore) async throws -> [String] {
            try await store.pool.read { db in try String.fetchAll(db, sql: "SELECT kind || ':' || name FROM chain_names ORDER BY kind, name") }
        }
        func found(_ store: TelemetryStore, service: String? = nil, topic: String? = nil) async throws -> [String] {
            var query = ChainQuery()
            query.service = service
            query.topic = topic
            return try ids(try await store.findChains(query))
        }
        let chain = try #require(F.stitch(F.linearChain()).first)
        let expected = chain.services.map { "0:" + $0 } + Array(Set(chain.hops.compactMap(\.topic))).sorted().map { "1:" + $0 }
        do {
            let store = try open()
            try await store.saveChains([chain, chain])
            #expect(try await names(store) == expected)
            #expect(try await found(store, service: "nobody").isEmpty)
            #expect(try await found(store, service: "payment", topic: "nowhere").isEmpty)
        }
        do {
            let store = try open()
            #expect(try await found(store, service: "payment", topic: "payments") == [chain.id.description])
            // As a store written before v8: its rows and no names.
            try await store.pool.write { db in
                try db.execute(sql: """
                    DROP TABLE chain_names; ALTER TABLE chain_stats DROP COLUMN names_complete;
                    DELETE FROM grdb_migrations WHERE identifier = 'v8-chain-names'
                    """)
            }
        }
        let migrated = try open()
        #expect(try await names(migrated) == expected)
        #expect(try await found(migrated, topic: "payments") == [chain.id.description])
    }

    /// Names come from senders, so the list is bounded: names that would take it past
    /// `maxChainNames` mark it incomplete instead, and searches then read the rows, finding
    /// chains whose names were never listed.
    @Test func namesPastTheBoundMarkTheListIncompleteAndSearchesReadTheRows() async throws {
        let store = try store()
        let chain = try #require(F.stitch(F.linearChain()).first)
        try await store.saveChains([chain])
        let many = Set((0..<TelemetryStore.maxChainNames).map { ChainName(kind: .topic, name: "reply-\($0)") })
        let added = try await store.pool.write { db in try TelemetryStore.addChainNames(many, db) }
        #expect(!added)
        #expect(try await store.pool.read { db in try Int.fetchOne(db, sql: "SELECT names_complete FROM chain_stats") } == 0)
        var other = chain
        other.id = ChainID(TraceID(high: 8, low: 1))
        other.services = ["newcomer"]
        try await store.saveChains([other])
        var query = ChainQuery()
        query.service = "newcomer"
        #expect(try ids(try await store.findChains(query)) == [other.id.description])
        query.service = "nobody"
        #expect(try await store.findChains(query).isEmpty)
        #expect(store.chainNames.withLock { $0.full && $0.known.isEmpty })
        #expect(try await store.pool.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM chain_names WHERE name = 'newcomer'") } == 0)
    }

    /// The row's binary columns give back what was written, absent names and waits included.
    @Test func edgeAndSpanColumnsRoundTrip() throws {
        var edges = ChainEdges()
        edges.hops = [
            .init(producerService: "orders", topic: "örders", deliveries: [.init(service: "billing", queueWaitNanos: 50), .init(service: nil, queueWaitNanos: nil), .init(service: "", queueWaitNanos: -3)]),
            .init(producerService: nil, topic: nil, deliveries: []),
        ]
        #expect(ChainEdges(encoded: edges.encoded) == edges)
        #expect(ChainEdges(encoded: edges.encoded.dropLast(3)).hops.count == 1, "a cut hop is left out, not misread")
        let spans = [SpanRef(traceID: TraceID(high: .max, low: 1), spanID: SpanID(0x0102_0304_0506_0708)), SpanRef(traceID: F.trace(2), spanID: SpanID(9))]
        #expect(ChainSpansColumn.decode(ChainSpansColumn.encode(spans)) == spans)
    }

    /// The body column keeps every figure the API's JSON is written from: read back, a
    /// chain writes the same JSON as before it was stored, with hops with and without
    /// consumers, both kinds of missing part, absent fields and extreme numbers.
    @Test func bodyColumnRoundTripsEveryFigure() throws {
        var chains = F.chainsOfEveryShape()
        #expect(chains.count == 3)
        let linear = try #require(chains.firstIndex { $0.hops.count > 1 && $0.hops.allSatisfy { !$0.deliveries.isEmpty } })
        chains[linear].isOpen = true
        chains[linear].finalizedEarly = true
        chains[linear].hops[0].offset = .min
        chains[linear].hops[0].partition = .max
        chains[linear].hops[0].deliveries[0].queueWaitNanos = -5
        chains[linear].endUnixNano = .max
        for chain in chains {
            var expected = chain
            expected.supersedes = []
            expected.services = []
            // Version 1 is what rows stored before hold; they are read as ever.
            let bodies = [ChainBody.encode(chain, version: 1), ChainBody.encode(chain)]
            for body in bodies {
                #expect(ChainBody.decode(body, spans: chain.spans) == expected)
                #expect(try ChainBody.json(body, spans: chain.spans) == ChainJSON.detailData(chain))
                for length in 0..<body.count {
                    #expect(ChainBody.decode(body.prefix(length), spans: chain.spans) == nil, "a cut body is refused, not misread")
                }
                #expect(body.count * 2 < ChainJSON.detailData(chain).count)
            }
            #expect(bodies[1][0] == ChainBody.version && bodies[1].count < bodies[0].count)
        }
        // A JSON body (rows stored before) is served as it is; bytes that are neither are an error.
        let json = ChainJSON.detailData(chains[0])
        #expect(try ChainBody.json(json, spans: []) == json)
        #expect(throws: ChainBodyUnreadable.self) { try ChainBody.json(Data([9, 9, 9]), spans: []) }
    }

    /// Version 2 bodies refer back to names and trace IDs written before, and count what
    /// follows: references past what was written and counts past the bytes left are refused,
    /// as is any body with its bytes changed into something else, without a crash or a loop.
    @Test func aBrokenVersion2BodyIsRefusedNotMisread() {
        let chain = F.chainsOfEveryShape()[0]
        let body = ChainBody.encode(chain)
        // version, chain ID, then the correlation ID's name: a reference to the 100th name.
        #expect(ChainBody.decode([2] + [UInt8](repeating: 7, count: 16) + [101], spans: []) == nil)
        // A valid head (no names but the status, flags, revision, start, end, error count),
        // then a critical path of a trillion positions.
        let head: [UInt8] = [2] + [UInt8](repeating: 7, count: 16) + [0, 0, 0, 1, 8] + Array("complete".utf8) + [0, 0] + [UInt8](repeating: 1, count: 8) + [0, 0]
        #expect(ChainBody.decode(head + [0, 0, 0, 0], spans: []) != nil, "the head is valid")
        #expect(ChainBody.decode(head + [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x0F], spans: []) == nil)
        for position in body.indices.dropFirst() {
            for value: UInt8 in [0, 1, 0x7F, 0x80, 0xFF] {
                var changed = body
                changed[position] = value
                _ = ChainBody.decode(changed, spans: chain.spans)
            }
        }
    }

    @Test func ageSweepRemovesChainsEndedBeforeTheCutoff() async throws {
        let store = try store()
        try await store.saveChain(try #require(F.stitch(F.linearChain()).first))
        await store.sweep(now: F.at(130) + 3599 * F.second)
        #expect(try await store.findChains(ChainQuery()).count == 1)
        await store.sweep(now: F.at(130) + 3601 * F.second)
        #expect(try await store.findChains(ChainQuery()).isEmpty)
        #expect(try await store.chain(id: F.trace(3).hex) == nil)
    }

    @Test func sizeSweepRemovesTheOldestChainsToo() async throws {
        let store = try TelemetryStore(
            directory: try temporaryDirectory(), retention: .init(maxAgeSeconds: 1 << 40, maxBytes: 256 * 1024, intervalSeconds: 60),
            correlationAttributes: [], logger: quietLogger)
        let chain = try #require(F.stitch(F.linearChain()).first)
        for n in 0..<400 {
            var copy = chain
            copy.id = ChainID(TraceID(high: 7, low: UInt64(n + 1)))
            copy.startUnixNano += UInt64(n) * 1_000_000_000
            copy.endUnixNano += UInt64(n) * 1_000_000_000
            try await store.saveChain(copy)
        }
        #expect(try await store.usedBytes() > 256 * 1024)
        await store.sweep(now: F.at(130))
        #expect(try await store.usedBytes() <= 256 * 1024)
        var all = ChainQuery()
        all.limit = 1000
        let kept = try ids(try await store.findChains(all))
        #expect(kept.contains(TraceID(high: 7, low: 400).hex))
        #expect(!kept.contains(TraceID(high: 7, low: 1).hex))
    }

    /// The stitcher's back-pressure: past `maxBacklog` unwritten chains `waitForRoom` holds
    /// the stitcher until the recorder has written half, and never once it has stopped.
    @Test func recorderHoldsTheStitcherWhileItsBacklogIsFull() async throws {
        let recorder = ChainRecorder(store: try store(), maxBacklog: 2, logger: quietLogger)
        let chain = try #require(F.stitch(F.linearChain()).first)
        await recorder.waitForRoom()  // empty: returns at once
        for _ in 0..<3 { recorder.chainFinalized(chain) }
        let released = Mutex(false)
        let waiting = Task {
            await recorder.waitForRoom()
            released.withLock { $0 = true }
        }
        try await Task.sleep(for: .milliseconds(200))
        #expect(!released.withLock { $0 }, "three chains are over a backlog of two")
        let writer = Task { try await recorder.run() }
        await waiting.value
        #expect(released.withLock { $0 })
        await recorder.shutdown()
        try await writer.value
        for _ in 0..<5 { recorder.chainFinalized(chain) }
        await recorder.waitForRoom()  // stopped: never holds
    }

    /// Chains handed over in one array and more than a write takes are all stored, in
    /// order, a write's worth at a time.
    @Test func recorderStoresEveryChainOfABurstLargerThanAWrite() async throws {
        let store = try store()
        let recorder = ChainRecorder(store: store, maxChainsPerWrite: 3, logger: quietLogger)
        let chain = try #require(F.stitch(F.linearChain()).first)
        let burst = (1...8).map { n in
            var copy = chain
            copy.id = ChainID(TraceID(high: 7, low: UInt64(n)))
            copy.startUnixNano += UInt64(n) * F.second
            copy.endUnixNano += UInt64(n) * F.second
            return copy
        }
        recorder.chainsFinalized(burst)
        recorder.chainFinalized(chain)
        let writer = Task { try await recorder.run() }
        await recorder.shutdown()
        try await writer.value
        var query = ChainQuery()
        query.limit = 20
        #expect(try ids(try await store.findChains(query)).sorted() == (burst + [chain]).map(\.id.description).sorted())
    }

    /// A store from before v4 (chain tables keyed by chain ID) keeps its chains: found by ID,
    /// by trace, by service and topic, with their spans and edges, and replaced whole by a
    /// chain that supersedes them.
    @Test func aStoreFromBeforeChainKeysIsMigratedWithItsChains() async throws {
        let directory = try temporaryDirectory()
        let old = F.trace(7).hex, body = Data(#"{"chainID":"\#(F.trace(7).hex)"}"#.utf8)
        do {
            let pool = try DatabasePool(path: (directory as NSString).appendingPathComponent("store.sqlite"))
            try TelemetryStore.migrator.migrate(pool, upTo: "v3-spans-rowid")
            try await pool.write { db in
                try db.execute(
                    sql: """
                        INSERT INTO chains VALUES (?, 'order-1', 'orders', 'send', 100, 900, 800, 'complete', 2, 1, 0, 1, 0, 0, 1, ?);
                        INSERT INTO chain_hops VALUES (?, 0, ?, '00000000000000a1', 'orders', 'payments', 0);
                        INSERT INTO chain_deliveries VALUES (?, 0, ?, '00000000000000b1', 'billing', 'billing-group', 50, 1, 0);
                        INSERT INTO chain_missing VALUES (?, 'orphan_link', ?, '00000000000000b1', ?, '00000000000000c1', NULL);
                        INSERT INTO chain_spans VALUES (?, '00000000000000a1', ?), (?, '00000000000000b1', ?);
                        INSERT INTO chain_services VALUES ('orders', ?), ('billing', ?);
                        """,
                    arguments: [old, body, old, old, old, F.trace(8).hex, old, F.trace(8).hex, F.trace(9).hex, old, old, F.trace(8).hex, old, old, old])
            }
        }
        let store = try TelemetryStore(
            directory: directory, retention: .init(maxAgeSeconds: 3600, maxBytes: 1 << 30, intervalSeconds: 60),
            correlationAttributes: [], logger: quietLogger)
        // v6 keeps the chain's own ID only: trace 8 is found through its stored span.
        #expect(try await store.chain(id: F.trace(8).hex) == nil)
        // v9 finds a chain by its own ID through its trace's spans too.
        try await store.consume(F.request("orders", [
            Span(traceID: F.trace(7), spanID: SpanID(0xa1), name: "orders send", kind: .producer, startTimeUnixNano: 100, endTimeUnixNano: 150)
        ]))
        try await store.consume(F.request("billing", [
            Span(traceID: F.trace(8), spanID: SpanID(0xb1), name: "billing process", kind: .consumer, startTimeUnixNano: 200, endTimeUnixNano: 300)
        ]))
        #expect(try await store.chain(id: old)?.chainID == old)
        let migrated = try #require(try await store.chain(id: F.trace(8).hex))
        #expect(migrated.chainID == old)
        #expect(migrated.json == body)
        #expect(migrated.spans.map(\.spanID).sorted() == ["00000000000000a1", "00000000000000b1"])
        var byTopic = ChainQuery(), byService = ChainQuery()
        byTopic.topic = "payments"
        byService.service = "billing"
        #expect(try await store.findChains(byTopic) == [body])
        #expect(try await store.findChains(byService) == [body])
        let edges = try await store.messageEdges(startNanos: nil, endNanos: nil)
        #expect(edges.map(\.messages) == [1, 1])
        #expect(edges.last?.queueWaitsNanos == [50])

        var newer = try #require(F.stitch(F.linearChain()).first)
        newer.supersedes = [ChainID(F.trace(7))]
        newer.replaces = [EmittedChain(id: ChainID(F.trace(7)), startUnixNano: 100)]
        try await store.saveChain(newer)
        #expect(try await store.chain(id: old) == nil)
        #expect(try await store.chain(id: F.trace(8).hex) == nil)
        #expect(try await store.findChains(byService).isEmpty)
    }
}
