import Foundation
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
}
