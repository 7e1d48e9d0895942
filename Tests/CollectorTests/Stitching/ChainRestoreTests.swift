import Foundation
import Synchronization
import NIOHTTP1
import Telemetry
import Testing

@testable import Collector

private typealias F = Fixture

/// A restart of the collector does not split a chain: the stitcher takes back the chains
/// an earlier run stored within its retention, and a late span joins them.
@Suite struct ChainRestoreTests {
    func store(_ directory: String? = nil) throws -> TelemetryStore {
        try TelemetryStore(
            directory: try directory ?? temporaryDirectory(), retention: .init(maxAgeSeconds: 3600 * 24 * 365 * 100, maxBytes: 1 << 30, intervalSeconds: 60),
            correlationAttributes: [], logger: quietLogger)
    }

    /// Every chain `chainsToRestore` delivers, batch after batch.
    func restorable(_ store: TelemetryStore, endingAfter cutoff: UInt64, spanLimit: Int = 1000, batchChains: Int = 1000) async throws -> [RestoredChain] {
        let batches = Mutex<[[RestoredChain]]>([])
        try await store.chainsToRestore(endingAfter: cutoff, spanLimit: spanLimit, batchChains: batchChains) { batch in
            batches.withLock { $0.append(batch) }
        }
        return batches.withLock { $0.flatMap { $0 } }
    }

    /// The linear chain without audit's consumer span, finalized with notification's
    /// message unconsumed, stored with its spans.
    func storedChainMissingAudit(_ store: TelemetryStore) async throws -> Chain {
        let requests = Array(F.linearChain().prefix(4))
        for request in requests { try await store.consume(request) }
        let chain = try #require(F.stitch(requests, finalizeAfter: 120 * F.second).first)
        #expect(chain.status == .hasMissingHops && chain.revision == 1 && chain.spans.count == 8)
        try await store.saveChain(chain)
        return chain
    }

    @Test func aLateSpanJoinsAChainAnEarlierRunStored() async throws {
        let store = try store()
        let earlier = try await storedChainMissingAudit(store)
        let restored = try await restorable(store, endingAfter: F.at(0))
        #expect(restored.map(\.id) == [earlier.id])
        #expect(restored.first?.revision == 1 && restored.first?.inProgress == false)
        #expect(restored.first?.startUnixNano == earlier.startUnixNano)
        #expect(restored.first?.spans.spanCount == 8)
        #expect(restored.first?.spans.resourceSpans.compactMap(\.resource?.serviceName) == ["order", "order", "inventory", "inventory", "payment", "payment", "notification", "notification"])

        let now = F.at(200) + 200 * F.second
        let audit = F.linearChain()[4]
        var stitcher = ChainStitcher(configuration: StitcherConfiguration())
        stitcher.restore(restored, now: now)
        #expect(stitcher.counters.chainsRestored == 1 && stitcher.counters.spansIngested == 0)
        #expect(stitcher.finalizeIdle(now: now + 100 * F.second).isEmpty, "a restored chain is not emitted again")
        _ = stitcher.ingest(audit, now: now + 100 * F.second)
        let late = try #require(stitcher.finalizeIdle(now: now + 200 * F.second).first)
        #expect(late.id == earlier.id)
        #expect(late.revision == 2)
        // The row it replaces is found by the ID and start it was stored with.
        #expect(late.replaces == [EmittedChain(id: earlier.id, startUnixNano: earlier.startUnixNano)])
        #expect(late.spans.count == 9)
        #expect(late.missing.isEmpty)
        #expect(late.status == .complete)
        try await store.saveChain(late)
        let rows = try await store.findChains(ChainQuery())
        #expect(rows.count == 1)
        #expect((try JSONSerialization.jsonObject(with: try #require(rows.first)) as? [String: Any])?["revision"] as? Int == 2)

        // Without the restore, audit's span is a chain of its own with an orphan link.
        var fresh = ChainStitcher(configuration: StitcherConfiguration())
        _ = fresh.ingest(audit, now: now)
        let alone = try #require(fresh.finalizeIdle(now: now + 100 * F.second).first)
        #expect(alone.id == ChainID(F.trace(5)) && alone.status == .hasMissingHops)
    }

    /// A chain stored while a message was inside its consume window (finalized at
    /// shutdown) is restored open and finalized again with its real status, once.
    @Test func aChainStoredInProgressIsFinalizedAgainWithItsStatus() async throws {
        let store = try store()
        let order = F.linearChain()[0]
        try await store.consume(order)
        var stitcher = ChainStitcher(configuration: StitcherConfiguration())
        _ = stitcher.ingest(order, now: F.at(200))
        let stopped = try #require(stitcher.finalizeAll(now: F.at(200) + F.second).first)
        #expect(stopped.status == .inProgress)
        try await store.saveChain(stopped)

        let restored = try await restorable(store, endingAfter: F.at(0))
        #expect(restored.first?.inProgress == true)
        var next = ChainStitcher(configuration: StitcherConfiguration())
        next.restore(restored, now: F.at(200) + 2 * F.second)
        let again = next.finalizeIdle(now: F.at(200) + 120 * F.second)
        #expect(again.map(\.id) == [stopped.id])
        #expect(again.first?.revision == 2)
        #expect(again.first?.status == .hasMissingHops)
        #expect(next.finalizeIdle(now: F.at(200) + 240 * F.second).isEmpty)
    }

    @Test func restoringStopsAtTheSpanLimitAndSkipsChainsEndedBeforeTheCutoff() async throws {
        let store = try store()
        _ = try await storedChainMissingAudit(store)
        #expect(try await restorable(store, endingAfter: F.at(131)).isEmpty)
        #expect(try await restorable(store, endingAfter: F.at(0), spanLimit: 1).count == 1, "a chain is taken whole")
    }

    /// A chain some of whose spans are no longer stored is left as it was stored.
    @Test func aChainWithSpansNoLongerStoredIsNotTakenBack() async throws {
        let store = try store()
        let requests = Array(F.linearChain().prefix(4))
        // Only the first two hops' spans are stored.
        for request in requests.prefix(2) { try await store.consume(request) }
        let chain = try #require(F.stitch(requests, finalizeAfter: 120 * F.second).first)
        try await store.saveChain(chain)
        #expect(try await restorable(store, endingAfter: F.at(0)).isEmpty)
    }

    @Test func chainsAreDeliveredInBatchesEachWithItsOwnSpans() async throws {
        let store = try store()
        let earlier = try await storedChainMissingAudit(store)
        let invoice = F.request("billing", [F.span(40, 1, "invoices send", kind: .producer, 140, 147, topic: "invoices")])
        try await store.consume(invoice)
        let other = try #require(F.stitch([invoice], finalizeAfter: 120 * F.second).first)
        try await store.saveChain(other)
        let batches = Mutex<[[RestoredChain]]>([])
        let taken = try await store.chainsToRestore(endingAfter: F.at(0), spanLimit: 1000, batchChains: 1) { batch in
            batches.withLock { $0.append(batch) }
        }
        #expect(taken.chains == 2 && taken.spans == 9)
        // Newest end first.
        #expect(batches.withLock { $0.map { $0.map(\.id) } } == [[other.id], [earlier.id]])
        #expect(batches.withLock { $0.map { $0.map(\.spans.spanCount) } } == [[1], [8]])
    }

    /// The same through two runs of the collector on one data directory: the late span
    /// sent to the second run joins the chain the first stored, as revision 2.
    @Test func aRestartedCollectorJoinsALateSpanToTheChainTheFirstRunStored() async throws {
        let data = try temporaryDirectory()
        // Spans dated now: the restore takes the chains that ended within the retention.
        let shift = UInt64(Date().timeIntervalSince1970 * 1e9) - F.at(200)
        let requests = F.linearChain().map { Self.shifted($0, by: shift) }
        func configure(_ configuration: inout CollectorConfiguration) {
            configuration.dataDirectory = data
            configuration.stitcher?.idleWindow = .milliseconds(200)
            configuration.stitcher?.unconsumedWindow = .milliseconds(200)
        }
        try await withCollector(configure) { collector in
            for request in requests.prefix(4) {
                #expect(try await fetchReply(collector.otlp + "/v1/traces", body: request.protobufBytes(), headers: protobufHeaders).status == 200)
            }
            // Finalized and stored: the list reads finalized chains from the store only.
            let listed = try await eventually { () async throws -> [String: Any]? in
                let reply = try await fetchReply(.GET, collector.http + "/api/chains?service=order")
                return (try reply.json()["data"] as? [[String: Any]])?.first { $0["spanCount"] as? Int == 8 && $0["open"] as? Bool == false }
            }
            #expect(listed["status"] as? String == "has_missing_hops")
        }
        try await withCollector(configure) { collector in
            #expect(try await fetchReply(collector.otlp + "/v1/traces", body: requests[4].protobufBytes(), headers: protobufHeaders).status == 200)
            let joined = try await eventually { try await Self.chain(collector).flatMap { $0["revision"] as? Int == 2 ? $0 : nil } }
            #expect(joined["spanCount"] as? Int == 9)
            #expect(joined["status"] as? String == "complete")
            #expect((joined["missing"] as? [Any])?.isEmpty == true)
            let audit = try await fetchReply(.GET, collector.http + "/api/chains/\(F.trace(5).hex)")
            #expect(((try audit.json()["data"] as? [[String: Any]])?.first?["chainID"] as? String) == F.trace(1).hex)
        }
    }

    @Sendable static func chain(_ collector: CollectorUnderTest) async throws -> [String: Any]? {
        let reply = try await fetchReply(.GET, collector.http + "/api/chains/\(F.trace(1).hex)")
        return reply.status == 200 ? (try reply.json()["data"] as? [[String: Any]])?.first : nil
    }

    static func shifted(_ request: ExportTraceServiceRequest, by offset: UInt64) -> ExportTraceServiceRequest {
        var request = request
        for r in request.resourceSpans.indices {
            for s in request.resourceSpans[r].scopeSpans.indices {
                for i in request.resourceSpans[r].scopeSpans[s].spans.indices {
                    request.resourceSpans[r].scopeSpans[s].spans[i].startTimeUnixNano += offset
                    request.resourceSpans[r].scopeSpans[s].spans[i].endTimeUnixNano += offset
                }
            }
        }
        return request
    }
}
