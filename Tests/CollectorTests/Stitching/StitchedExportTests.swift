import Synchronization
import Telemetry
import Testing

@testable import Collector

private typealias F = Fixture

@Suite struct StitchedExportTests {
    @Test func linearChainBecomesOneTreeUnderTheRootTrace() throws {
        let requests = F.linearChain()
        let chain = try #require(F.stitch(requests).first)
        let stitched = StitchedExport.rewrite(F.merge(requests), chainID: chain.id)
        let spans = stitched.resourceSpans.flatMap { $0.scopeSpans.flatMap(\.spans) }
        #expect(spans.count == 9)
        #expect(Set(spans.map(\.traceID)) == [F.trace(1)])
        let ids = Set(spans.map(\.spanID))
        let roots = spans.filter { $0.parentSpanID == nil }
        #expect(roots.map(\.spanID) == [SpanID(0x11)])
        #expect(spans.allSatisfy { $0.parentSpanID.map(ids.contains) ?? true })
        // Every span reaches the root: no cycles.
        let parentOf = Dictionary(uniqueKeysWithValues: spans.map { ($0.spanID, $0.parentSpanID) })
        for span in spans {
            var current: SpanID? = span.spanID
            var steps = 0
            while let id = current, steps < 20 { current = parentOf[id] ?? nil; steps += 1 }
            #expect(steps < 20)
        }
        let consumer = try #require(spans.first { $0.spanID == SpanID(0x21) })
        #expect(consumer.parentSpanID == SpanID(0x12))
        #expect(consumer.attributes[key: StitchedExport.originalTraceIDKey] == .string(F.trace(2).hex))
        #expect(consumer.attributes[key: StitchedExport.chainIDKey] == .string(F.trace(1).hex))
        let root = try #require(spans.first { $0.spanID == SpanID(0x11) })
        #expect(root.attributes[key: StitchedExport.originalTraceIDKey] == nil)
    }

    @Test func reparentedSpanKeepsItsOriginalParentAsAnAttribute() throws {
        let request = F.merge([
            F.request("order", [F.span(1, 1, "orders send", kind: .producer, 0, 10, topic: "orders")]),
            F.request("inventory", [F.span(2, 2, parent: 0x77, "orders process", kind: .consumer, 20, 30,
                                           linksTo: [(1, 1)])]),
        ])
        let spans = StitchedExport.rewrite(request, chainID: ChainID(F.trace(1)))
            .resourceSpans.flatMap { $0.scopeSpans.flatMap(\.spans) }
        let consumer = try #require(spans.first { $0.spanID == SpanID(2) })
        #expect(consumer.parentSpanID == SpanID(1))
        #expect(consumer.attributes[key: StitchedExport.originalParentSpanIDKey] == .string(SpanID(0x77).hex))
    }

    @Test func reFinalizedChainSendsOnlyTheSpansThatAreNewOrMoved() throws {
        let requests = F.linearChain()
        let chainID = ChainID(F.trace(1))
        // Sent before: the first two services, then a third whose producer had not arrived
        // (its consumer root 0x41 kept its own trace, no parent).
        let earlier = F.merge(Array(requests[0..<2]))
        var sent = StitchedExport.placements(earlier, chainID: chainID)
        // Worked out from the whole chain's spans, as the recorder does, it is the same.
        let earlierRefs = Set(earlier.resourceSpans.flatMap { $0.scopeSpans.flatMap(\.spans) }.map { SpanRef(traceID: $0.traceID, spanID: $0.spanID) })
        #expect(StitchedExport.placements(F.merge(requests), chainID: chainID, among: earlierRefs) == sent)
        sent.merge(StitchedExport.placements(requests[3], chainID: ChainID(F.trace(4)))) { first, _ in first }
        let spans = StitchedExport.rewrite(F.merge(requests), chainID: chainID, sent: sent)
            .resourceSpans.flatMap { $0.scopeSpans.flatMap(\.spans) }
        // 0x31, 0x32, 0x51 are new; 0x41 moves under 0x32 and into the chain's trace; 0x42
        // moves into the chain's trace with its parent.
        #expect(Set(spans.map(\.spanID)) == [SpanID(0x31), SpanID(0x32), SpanID(0x41), SpanID(0x42), SpanID(0x51)])
        #expect(Set(spans.map(\.traceID)) == [F.trace(1)])
        #expect(spans.first { $0.spanID == SpanID(0x41) }?.parentSpanID == SpanID(0x32))
        // Sent exactly as before: nothing to send.
        let again = StitchedExport.rewrite(F.merge(requests), chainID: chainID, sent: StitchedExport.placements(F.merge(requests), chainID: chainID))
        #expect(again.resourceSpans.isEmpty)
    }

    @Test func linksBothWaysDoNotMakeACycle() throws {
        let request = F.request("s", [
            F.span(1, 1, "a", 0, 10, linksTo: [(2, 2)]),
            F.span(2, 2, "b", 5, 10, linksTo: [(1, 1)]),
        ])
        let spans = StitchedExport.rewrite(request, chainID: ChainID(F.trace(1)))
            .resourceSpans.flatMap { $0.scopeSpans.flatMap(\.spans) }
        #expect(spans.filter { $0.parentSpanID == nil }.count == 1)
    }
}

/// Collects what the stitcher hands on.
final class CollectedChains: ChainSink {
    let chains = Mutex<[Chain]>([])
    func chainFinalized(_ chain: Chain) { chains.withLock { $0.append(chain) } }
}

/// Time that moves only when a test says so.
final class TestClock: Sendable {
    let value: Mutex<UInt64>
    init(_ start: UInt64) { value = Mutex(start) }
    var now: UInt64 { value.withLock { $0 } }
    func advance(by nanos: UInt64) { value.withLock { $0 += nanos } }
}

@Suite struct StitchingConsumerTests {
    @Test func consumerHandsIdleChainsToTheSink() async throws {
        let clock = TestClock(F.at(200))
        let sink = CollectedChains()
        let consumer = StitchingConsumer(
            configuration: StitcherConfiguration(), sink: sink, clock: { clock.now })
        for request in F.linearChain() { try await consumer.consume(request) }
        await consumer.finalizeIdle()
        #expect(sink.chains.withLock { $0.isEmpty })
        #expect(await consumer.snapshot(chainID: ChainID(F.trace(3)))?.status == .inProgress)
        clock.advance(by: 31 * F.second)
        await consumer.finalizeIdle()
        #expect(sink.chains.withLock { $0.map(\.status) } == [.complete])
    }

    @Test func shutdownFinalizesOpenChainsAndRefusesMore() async throws {
        let sink = CollectedChains()
        let consumer = StitchingConsumer(configuration: StitcherConfiguration(), sink: sink, clock: { F.at(200) })
        try await consumer.consume(F.linearChain()[0])
        await consumer.shutdown()
        #expect(sink.chains.withLock { $0.count } == 1)
        await #expect(throws: StitcherStopped.self) { try await consumer.consume(F.linearChain()[1]) }
    }
}
