import Foundation
package import Telemetry

/// Where finalized chains go: the store persists them, metrics count them. Called on the
/// stitcher's actor, so it must return quickly (queue the chain, do not write it inline).
package protocol ChainSink: Sendable {
    func chainFinalized(_ chain: Chain)

    /// Chains finalized together, in order; by default each goes to `chainFinalized`.
    func chainsFinalized(_ chains: [Chain])

    /// Returns once the sink's backlog is small enough to take more; the stitcher waits
    /// here after each batch, so a store slower than ingest holds up the stitcher's lane
    /// and the pipeline's memory limiter refuses data rather than chains piling up.
    func waitForRoom() async
}

extension ChainSink {
    package func waitForRoom() async {}

    package func chainsFinalized(_ chains: [Chain]) {
        chains.forEachInPlace { chainFinalized($0.pointee) }
    }
}

/// The stitcher as a pipeline consumer. Stitching runs inline in `consume` (about 1 µs a
/// span to ingest, 2 with finalization: see `causeway bench stitcher`), in the consumer's
/// own lane of the pipeline; `run()` takes back what an earlier run stored, then ticks the
/// idle-window finalization.
package actor StitchingConsumer: TelemetryConsumer {
    package nonisolated let name: String
    /// What `ChainStitcher.add` reads of a span's attributes and events.
    package nonisolated let attributeSkim: AttributeSkim?
    var stitcher: ChainStitcher
    let sink: any ChainSink
    let clock: @Sendable () -> UInt64
    let tick: Duration
    var stopped = false
    /// Reads the chains an earlier run stored and hands them over in batches; run once,
    /// by the first of `run()` and `consume` (`takeBackRestoredChains`).
    package typealias Restore = @Sendable (_ take: @escaping @Sendable ([RestoredChain]) async -> Void) async -> Void
    var restore: Restore?
    var restoring: Task<Void, Never>?

    /// - Parameters:
    ///   - clock: Unix nanoseconds now; injected so tests control time.
    ///   - tick: how often idle chains are looked for.
    ///   - restore: reads the chains an earlier run stored within the retention
    ///     (`TelemetryStore.chainsToRestore`); taken back, batch by batch, before the first
    ///     span is stitched, so that late spans join them.
    package init(
        name: String = "stitcher", configuration: StitcherConfiguration, sink: any ChainSink,
        tick: Duration = .seconds(1), clock: @escaping @Sendable () -> UInt64 = StitchingConsumer.wallClock,
        restore: Restore? = nil
    ) {
        self.name = name
        self.stitcher = ChainStitcher(configuration: configuration)
        self.attributeSkim = stitcher.attributeSkim
        self.sink = sink
        self.clock = clock
        self.tick = tick
        self.restore = restore
    }

    /// Starts `restore` the first time and waits until every batch is taken back; later
    /// callers wait for the same run.
    func takeBackRestoredChains() async {
        if let restore {
            self.restore = nil
            restoring = Task { await restore { batch in await self.takeBack(batch) } }
        }
        await restoring?.value
    }

    func takeBack(_ chains: [RestoredChain]) {
        stitcher.restore(chains, now: clock())
    }

    package static let wallClock: @Sendable () -> UInt64 = {
        UInt64(max(0, Date().timeIntervalSince1970) * 1e9)
    }

    package func consume(_ traces: ExportTraceServiceRequest) async throws {
        guard !stopped else { throw StitcherStopped() }
        await takeBackRestoredChains()
        deliver(stitcher.ingest(traces, now: clock()))
        await sink.waitForRoom()
    }

    /// Logs are not part of chains; the store joins them to spans by span ID.
    package func consume(_ logs: ExportLogsServiceRequest) async throws {}

    package func run() async throws {
        await takeBackRestoredChains()
        while !stopped, !Task.isCancelled {
            try await Task.sleep(for: tick)
            finalizeIdle()
        }
    }

    /// Finalizes chains idle past the window now; `run()` calls it every tick.
    package func finalizeIdle() {
        deliver(stitcher.finalizeIdle(now: clock()))
    }

    package func shutdown() async {
        stopped = true
        deliver(stitcher.finalizeAll(now: clock()))
    }

    package func snapshot(chainID: ChainID) -> Chain? { stitcher.snapshot(chainID: chainID) }
    package func chains(correlationID: String) -> [Chain] { stitcher.chains(correlationID: correlationID) }
    package func recentOpenChains(limit: Int) -> [Chain] { stitcher.recentOpenChains(limit: limit) }
    package var counters: StitcherCounters { stitcher.counters }

    func deliver(_ chains: [Chain]) {
        if !chains.isEmpty { sink.chainsFinalized(chains) }
    }
}

/// `consume` after `shutdown()`.
package struct StitcherStopped: Error, CustomStringConvertible {
    package var description: String { "the stitcher is shut down and takes no more spans" }
}
