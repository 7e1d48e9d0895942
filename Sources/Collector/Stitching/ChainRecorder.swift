package import Logging
import Metrics
import Synchronization
package import Telemetry

/// Where the daemon's stitcher hands finalized chains: it stores them (replacing earlier
/// revisions) and counts them in the chain metrics. `chainFinalized` only queues, since it
/// runs on the stitcher's actor; `run()` writes in finalization order so that a later
/// revision always replaces an earlier one.
///
/// It sits in the pipeline as a consumer taking neither signal, after the stitcher, so
/// that the pipeline's shutdown (consumers in order) finalizes every open chain first and
/// then waits here until they are written.
package final class ChainRecorder: ChainSink, TelemetryConsumer {
    package let name = "chains"
    private let store: TelemetryStore
    private let stitchedExporters: [any TelemetryConsumer]
    private let logger: Logger
    private let queue = LaneQueue<Chain>()
    private let drained = AsyncStream<Void>.makeStream()
    /// Chains queued and not yet written, and the stitcher waiting for that to fall.
    private let backlog = Mutex<(count: Int, waiters: [CheckedContinuation<Void, Never>], closed: Bool)>((0, [], false))
    /// Past this many unwritten chains the stitcher waits (`waitForRoom`) until half are
    /// written. Queued chains are memory neither the pipeline's queue nor the stitcher's
    /// bound counts: at 20,000 the collector's RSS reached 558 MiB under a 512 MiB limit
    /// at full speed with the standard load (a chain per span); 5,000 (about a second of
    /// the store's chain writes) kept it at 469 MiB.
    private let maxBacklog: Int
    private let maxChainsPerWrite: Int

    /// - Parameters:
    ///   - stitchedExporters: exporters (`stitched: true`) each finalized chain is sent to,
    ///     rewritten into one trace; of a re-finalized chain, the spans that are new or
    ///     placed differently than when it was sent before.
    ///   - maxChainsPerWrite: the most chains one transaction writes.
    package init(
        store: TelemetryStore, stitchedExporters: [any TelemetryConsumer] = [], maxBacklog: Int = 5_000,
        maxChainsPerWrite: Int = 8_192, logger: Logger
    ) {
        self.maxBacklog = maxBacklog
        self.maxChainsPerWrite = maxChainsPerWrite
        self.store = store
        self.stitchedExporters = stitchedExporters
        self.logger = logger
    }

    package func chainFinalized(_ chain: Chain) {
        chainsFinalized([chain])
    }

    /// Queues the array as it is: handing chains over one by one copied each (a retain of
    /// every string and array in it) on the way in and again on the way out.
    package func chainsFinalized(_ chains: [Chain]) {
        backlog.withLock { $0.count += chains.count }
        queue.append(contentsOf: chains)
    }

    package func waitForRoom() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let wait = backlog.withLock { backlog in
                guard backlog.count > maxBacklog, !backlog.closed else { return false }
                backlog.waiters.append(continuation)
                return true
            }
            if !wait { continuation.resume() }
        }
    }

    /// Counts chains as written and lets a waiting stitcher go on once half the backlog is;
    /// with `closing`, for good (nothing is written any more).
    private func written(_ count: Int, closing: Bool = false) {
        let waiters: [CheckedContinuation<Void, Never>] = backlog.withLock { backlog in
            backlog.count -= count
            backlog.closed = backlog.closed || closing
            guard backlog.closed || backlog.count <= maxBacklog / 2 else { return [] }
            defer { backlog.waiters = [] }
            return backlog.waiters
        }
        for waiter in waiters { waiter.resume() }
    }

    package func consume(_ traces: ExportTraceServiceRequest) async throws {}
    package func consume(_ logs: ExportLogsServiceRequest) async throws {}

    package func run() async throws {
        defer {
            written(0, closing: true)
            drained.continuation.finish()
        }
        var metrics = ChainMetrics()
        // The chains finalized since the last write, stored in one transaction.
        while await queue.waitForElements() {
            await gatherMore()
            // Every chain waiting, up to the bound, taken as the queue's own array (a part is
            // copied, chain by chain): under steady load a window's chains are well under
            // it, and a burst (a tick finalizing many chains at once) is written in parts.
            let chains = queue.available(upTo: maxChainsPerWrite)
            let replaced = stitchedExporters.isEmpty ? [:] : await replacedRevisions(chains)
            do {
                try await store.saveChains(chains)
            } catch {
                logger.error("cannot store chains", metadata: ["chains": "\(chains.map(\.id))", "error": "\(error)"])
            }
            chains.forEachInPlace { metrics.record($0.pointee) }
            if !stitchedExporters.isEmpty { await exportStitched(chains, replaced: replaced) }
            written(chains.count)
        }
    }

    /// Sends each chain, as one trace, to the exporters with `stitched: true`.
    private func exportStitched(_ chains: [Chain], replaced: [Int: [(id: ChainID, spans: [SpanRef])]]) async {
        for (position, chain) in chains.enumerated() {
            do {
                let spans = try await store.spans(chain.spans.map { ($0.traceID.hex, $0.spanID.hex) })
                // How the replaced rows' spans were sent, worked out from these spans: a
                // chain holds every span of the revisions and chains it replaces.
                var sent: [SpanRef: StitchedExport.Placement] = [:]
                for earlier in replaced[position] ?? [] {
                    sent.merge(StitchedExport.placements(spans, chainID: earlier.id, among: Set(earlier.spans))) { _, absorbed in absorbed }
                }
                let stitched = StitchedExport.rewrite(spans, chainID: chain.id, sent: sent)
                guard !stitched.resourceSpans.isEmpty else { continue }
                for exporter in stitchedExporters { try await exporter.consume(stitched) }
            } catch {
                logger.error("cannot export a stitched chain", metadata: ["chain": "\(chain.id)", "error": "\(error)"])
            }
        }
    }

    /// The span lists of the stored rows these chains replace (an earlier revision, chains
    /// absorbed), by position in `chains`: read before the rows are replaced, so that the
    /// stitched export of a re-finalized chain sends only its new spans and those that
    /// moved, not again every span a backend already has. When they cannot be read the
    /// whole chain is sent, as if new.
    private func replacedRevisions(_ chains: [Chain]) async -> [Int: [(id: ChainID, spans: [SpanRef])]] {
        var replaced: [Int: [(id: ChainID, spans: [SpanRef])]] = [:]
        for (position, chain) in chains.enumerated() where store.mayReplaceRows(chain) {
            do {
                replaced[position] = try await store.storedSpans(replacedBy: chain)
            } catch {
                logger.warning("cannot read what was exported of a chain before; sending it whole", metadata: ["chain": "\(chain.id)", "error": "\(error)"])
            }
        }
        return replaced
    }

    /// Chains a write waits for (up to `gatherWindow`); it then takes every chain waiting,
    /// up to `maxChainsPerWrite` (8,192 by default), whose rows it holds encoded at once.
    package static let chainsPerWrite = 2048
    /// How long a write waits for more chains after its first. A commit writes every page
    /// its chains dirtied (the tables' last pages, the indexes' pages), so the stitcher's
    /// finalizations, a few chains at a time, each paid for a whole commit: committing was
    /// a third of the collector's CPU with a chain per span.
    static let gatherWindow = Duration.milliseconds(200)

    /// Waits, up to the window, for a whole write's worth of chains to queue. They are
    /// taken once, as one array: gathering them into another copied each.
    private func gatherMore() async {
        let deadline = ContinuousClock.now + Self.gatherWindow
        while queue.count < Self.chainsPerWrite, !queue.isFinished, ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(20))
        }
    }

    package func shutdown() async {
        queue.finish()
        for await _ in drained.stream {}
    }
}

/// The chain metrics (issue 5), counted once per finalization: a chain re-opened by a late
/// span and finalized again is counted again with its new figures.
///
/// The metric handles are made once per label set and kept: making one goes through the
/// metrics factory's registry (a lock and a lookup by label and dimensions), which for a
/// timer per delivery was 3 % of the collector's CPU with the stitcher on.
struct ChainMetrics {
    private struct QueueKey: LabelSet {
        var producerService: String?, topic: String?, consumerGroup: String?
        func isSame(as other: Self) -> Bool {
            producerService.isSameText(as: other.producerService) && topic.isSameText(as: other.topic)
                && consumerGroup.isSameText(as: other.consumerGroup)
        }
    }
    private struct RootKey: LabelSet {
        var service: String?, operation: String?
        func isSame(as other: Self) -> Bool { service.isSameText(as: other.service) && operation.isSameText(as: other.operation) }
    }
    private var latencies = Handles<RootKey, Timer>()
    private var waits = Handles<QueueKey, Timer>()
    private var statuses: [ChainStatus: Counter] = [:]
    private let deadLettered = Counter(label: "causeway_dead_lettered_messages_total")
    private let unconsumed = Counter(label: "causeway_unconsumed_messages_total")
    private let orphans = Counter(label: "causeway_orphan_links_total")
    private let finalizedEarly = Counter(label: "causeway_chains_finalized_early_total")

    init() {}

    mutating func record(_ chain: Chain) {
        let root = RootKey(service: chain.rootService, operation: chain.rootOperation)
        let latency = latencies.handle(root) {
            Timer(
                label: "causeway_chain_e2e_latency_seconds",
                dimensions: [("root_service", chain.rootService ?? ""), ("root_operation", chain.rootOperation ?? "")],
                preferredDisplayUnit: .seconds)
        }
        latency.recordNanoseconds(Int64(clamping: chain.endToEndNanos))
        if let status = statuses[chain.status] {
            status.increment()
        } else {
            let status = Counter(label: "causeway_chains_total", dimensions: [("status", chain.status.rawValue)])
            statuses[chain.status] = status
            status.increment()
        }
        chain.hops.forEachInPlace { hop in
            hop.pointee.deliveries.forEachInPlace { delivery in
                guard let wait = delivery.pointee.queueWaitNanos else { return }
                let key = QueueKey(producerService: hop.pointee.producerService, topic: hop.pointee.topic, consumerGroup: delivery.pointee.consumerGroup)
                let timer = waits.handle(key) {
                    Timer(
                        label: "causeway_queue_wait_seconds",
                        dimensions: [
                            ("producer_service", hop.pointee.producerService ?? ""), ("topic", hop.pointee.topic ?? ""),
                            ("consumer_group", delivery.pointee.consumerGroup ?? ""),
                        ],
                        preferredDisplayUnit: .seconds)
                }
                timer.recordNanoseconds(max(0, wait))
            }
            if hop.pointee.isDeadLetter { deadLettered.increment() }
        }
        var unconsumedCount = 0, orphanCount = 0
        for part in chain.missing {
            switch part {
            case .unconsumedMessage: unconsumedCount += 1
            case .orphanLink: orphanCount += 1
            }
        }
        if unconsumedCount > 0 { unconsumed.increment(by: unconsumedCount) }
        if orphanCount > 0 { orphans.increment(by: orphanCount) }
        if chain.finalizedEarly { finalizedEarly.increment() }
    }
}

/// A metric's label values, compared cheaply (`String.isSameText(as:)`).
protocol LabelSet: Hashable {
    func isSame(as other: Self) -> Bool
}

/// Metric handles by label set, made once each and kept. The first `recentBound` label sets
/// are compared before the table is hashed: most chains carry the same few, and hashing two
/// or three strings a delivery, twice (a lookup, then storing the handle again), was half of
/// recording a chain.
struct Handles<Key: LabelSet, Handle> {
    private var table: [Key: Handle] = [:]
    private var recent: [(key: Key, handle: Handle)] = []
    private static var recentBound: Int { 16 }
    /// Handles kept at most; past it they are made again (label sets come from span
    /// attributes, so their number is the senders' to choose).
    private static var maxHandles: Int { 10_000 }

    mutating func handle(_ key: Key, make: () -> Handle) -> Handle {
        if let hit = recent.first(where: { $0.key.isSame(as: key) }) { return hit.handle }
        if let known = table[key] { return known }
        let made = make()
        if table.count < Self.maxHandles {
            table[key] = made
            if recent.count < Self.recentBound { recent.append((key, made)) }
        }
        return made
    }
}
