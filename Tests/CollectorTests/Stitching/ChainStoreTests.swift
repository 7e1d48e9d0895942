import Foundation
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
        let first = try #require(F.stitch(F.linearChain()).first)
        try await store.saveChain(first)
        var second = first
        second.id = ChainID(F.trace(9))
        second.supersedes = [first.id]
        second.revision = 2
        try await store.saveChain(second)
        #expect(try ids(try await store.findChains(ChainQuery())) == [F.trace(9).hex])
        #expect(try ids(try await store.findChains({ var q = ChainQuery(); q.topic = "payments"; return q }())) == [F.trace(9).hex])
        let byTrace = try #require(try await store.chain(id: F.trace(3).hex))
        #expect(byTrace.chainID == F.trace(9).hex)
        #expect(byTrace.spans.count == 9)
        #expect(try await store.chain(id: F.trace(1).hex)?.chainID == F.trace(9).hex)
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
}
