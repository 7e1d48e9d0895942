import Logging
import Synchronization

/// The settings of a batch processor (`OTEL_BSP_*` / `OTEL_BLRP_*`, OTel SDK spec,
/// "Batching processor": https://opentelemetry.io/docs/specs/otel/trace/sdk/#batching-processor).
public struct OTLPBatchConfiguration: Hashable, Sendable {
    /// Items held at most; an item that finds the queue full is dropped and counted
    /// (`OTEL_BSP_MAX_QUEUE_SIZE`, default 2048).
    public var maxQueueSize: Int = 2048
    /// Time between two scheduled exports (`OTEL_BSP_SCHEDULE_DELAY`, default 5 s).
    public var scheduleDelay: Duration = .seconds(5)
    /// Items per export; a queue holding this many is exported at once
    /// (`OTEL_BSP_MAX_EXPORT_BATCH_SIZE`, default 512).
    public var maxExportBatchSize: Int = 512

    /// The spec's defaults.
    public init() {}

    /// Custom settings; `maxExportBatchSize` is capped at `maxQueueSize`, as the spec asks.
    public init(maxQueueSize: Int = 2048, scheduleDelay: Duration = .seconds(5), maxExportBatchSize: Int = 512) {
        self.maxQueueSize = max(1, maxQueueSize)
        self.scheduleDelay = scheduleDelay
        self.maxExportBatchSize = max(1, min(maxExportBatchSize, self.maxQueueSize))
    }
}

/// Collects finished spans or log records and exports them in batches from one loop
/// (``run()``), so that exports never overlap and the code that ends a span never waits:
/// ``enqueue(_:)`` takes a lock for a moment and returns.
///
/// Exports happen when a full batch is queued, when the schedule delay has passed, on
/// ``forceFlush()`` and on ``shutdown()``, which drains the queue before ``run()`` returns.
final class BatchProcessor<Item: Sendable>: Sendable {
    let configuration: OTLPBatchConfiguration
    private let export: @Sendable ([Item]) async -> Void
    private let state: Mutex<State>
    /// Says how many items were dropped since the last report, once per export cycle, so
    /// that a flood of drops costs one log line and not one per item.
    private let dropReporter: (logger: Logger, itemName: String, setting: String)?

    private struct State {
        var queue: [Item] = []
        var dropped: Int = 0
        var droppedReported: Int = 0
        var isRunning = false
        var isShutDown = false
        /// A wake-up that came while the loop was busy, so that it is not lost.
        var pendingWake = false
        var loopWaiter: CheckedContinuation<Void, Never>?
        var flushWaiters: [CheckedContinuation<Void, Never>] = []

        mutating func wake() {
            if let waiter = loopWaiter {
                loopWaiter = nil
                waiter.resume()
            } else {
                pendingWake = true
            }
        }
    }

    /// Creates a processor; `dropReporter` names what is dropped (`spans`) and the
    /// setting that sizes the queue (`OTEL_BSP_MAX_QUEUE_SIZE`) in the warning.
    init(
        configuration: OTLPBatchConfiguration,
        dropReporter: (logger: Logger, itemName: String, setting: String)? = nil,
        export: @escaping @Sendable ([Item]) async -> Void
    ) {
        self.configuration = configuration
        self.dropReporter = dropReporter
        self.export = export
        self.state = Mutex(State())
    }

    /// How many items were dropped because the queue was full or the processor shut down.
    var droppedCount: Int { state.withLock { $0.dropped } }

    /// How many items wait for export.
    var queuedCount: Int { state.withLock { $0.queue.count } }

    /// Queues an item without ever waiting; drops and counts it when the queue is full.
    func enqueue(_ item: Item) {
        let maxQueueSize = configuration.maxQueueSize
        let batchSize = configuration.maxExportBatchSize
        state.withLock { state in
            guard !state.isShutDown, state.queue.count < maxQueueSize else {
                state.dropped += 1
                return
            }
            state.queue.append(item)
            if state.queue.count == batchSize { state.wake() }
        }
    }

    /// The export loop. Returns after ``shutdown()`` (or cancellation) once the queue is drained.
    func run() async {
        state.withLock { $0.isRunning = true }
        while true {
            let delay = configuration.scheduleDelay
            let timer = Task { [self] in
                guard (try? await Task.sleep(for: delay)) != nil else { return }
                state.withLock { $0.wake() }
            }
            await waitForWork()
            timer.cancel()
            if Task.isCancelled { state.withLock { $0.isShutDown = true } }
            let (items, waiters, stop) = state.withLock { state in
                let items = state.queue
                state.queue.removeAll(keepingCapacity: true)
                let waiters = state.flushWaiters
                state.flushWaiters.removeAll()
                return (items, waiters, state.isShutDown)
            }
            await exportInBatches(items)
            for waiter in waiters { waiter.resume() }
            reportDrops()
            if stop { break }
        }
        // After shutdown nothing is queued any more; what a flush registered meanwhile is
        // drained here, and later flushes drain on their own since the loop is gone.
        let (items, waiters) = state.withLock { state in
            state.isRunning = false
            let items = state.queue
            state.queue.removeAll()
            let waiters = state.flushWaiters
            state.flushWaiters.removeAll()
            return (items, waiters)
        }
        await exportInBatches(items)
        for waiter in waiters { waiter.resume() }
    }

    /// Exports everything queued now and returns when that is done. Without a running
    /// loop (before ``run()`` started or after it ended) the caller exports itself.
    func forceFlush() async {
        let inline: [Item]? = state.withLock { state in
            guard !state.isRunning else { return nil }
            let items = state.queue
            state.queue.removeAll()
            return items
        }
        if let inline {
            await exportInBatches(inline)
            return
        }
        await withCheckedContinuation { (waiter: CheckedContinuation<Void, Never>) in
            let exportItself = state.withLock { state in
                guard state.isRunning else { return true }
                state.flushWaiters.append(waiter)
                state.wake()
                return false
            }
            if exportItself { waiter.resume() }
        }
    }

    /// Stops accepting items and makes ``run()`` drain the queue and return.
    func shutdown() {
        state.withLock { state in
            state.isShutDown = true
            state.wake()
        }
    }

    /// Stops accepting items and returns once everything queued was exported, by the
    /// loop when it runs, by the caller otherwise.
    func shutdownAndDrain() async {
        shutdown()
        await forceFlush()
    }

    private func waitForWork() async {
        let batchSize = configuration.maxExportBatchSize
        await withTaskCancellationHandler {
            await withCheckedContinuation { (waiter: CheckedContinuation<Void, Never>) in
                let now = state.withLock { state in
                    if state.pendingWake || state.isShutDown || !state.flushWaiters.isEmpty
                        || state.queue.count >= batchSize || Task.isCancelled
                    {
                        state.pendingWake = false
                        return true
                    }
                    state.loopWaiter = waiter
                    return false
                }
                if now { waiter.resume() }
            }
        } onCancel: {
            state.withLock { $0.wake() }
        }
    }

    private func reportDrops() {
        guard let dropReporter else { return }
        let newlyDropped = state.withLock { state in
            defer { state.droppedReported = state.dropped }
            return state.dropped - state.droppedReported
        }
        guard newlyDropped > 0 else { return }
        dropReporter.logger.warning(
            "\(newlyDropped) \(dropReporter.itemName) dropped: the export queue of \(configuration.maxQueueSize) was full or shut down (\(dropReporter.setting))"
        )
    }

    private func exportInBatches(_ items: [Item]) async {
        var start = items.startIndex
        while start < items.endIndex {
            let end = min(start + configuration.maxExportBatchSize, items.endIndex)
            await export(Array(items[start..<end]))
            start = end
        }
    }
}
