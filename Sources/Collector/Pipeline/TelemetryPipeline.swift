import CProcessMemory
package import Logging
import Metrics
import ServiceLifecycle
import Synchronization
package import Telemetry

/// What the pipeline said to a batch a receiver offered.
package enum PipelineAdmission: Sendable, Equatable {
    case accepted
    /// Over the memory limit: answer 429 with `Retry-After`.
    case full
    /// Shutting down: answer 503 with `Retry-After`.
    case closed
}

/// The collector's bound on the memory of the whole process, in the manner of the
/// OpenTelemetry Collector's `memory_limiter`: while the heap in use is above the soft
/// limit, receivers refuse new data and the allocator is asked to return free pages.
package struct HeapLimit: Sendable {
    /// Heap bytes in use above which data is refused.
    package var softLimitBytes: Int
    /// How often the heap in use is read.
    package var checkInterval: Duration

    package init(softLimitBytes: Int, checkInterval: Duration) {
        self.softLimitBytes = softLimitBytes
        self.checkInterval = checkInterval
    }
}

/// The bounded hand-off between receivers and consumers (the store, each exporter).
///
/// Every accepted batch goes to each consumer's own lane, so a consumer that is slow only
/// holds up its own lane. The decoded size of a batch (`estimatedMemoryBytes`) counts
/// against the limit until every lane has delivered it; while the limit is reached, or the
/// process's heap is over its `HeapLimit`, new batches are refused rather than queued.
package final class TelemetryPipeline: Service {
    enum Payload: Sendable {
        case traces(ExportTraceServiceRequest)
        case logs(ExportLogsServiceRequest)
    }

    /// One accepted batch, shared by the lanes that take its signal.
    final class Batch: Sendable {
        let payload: Payload
        let bytes: Int
        let pendingLanes: Atomic<Int>

        init(payload: Payload, bytes: Int, lanes: Int) {
            self.payload = payload
            self.bytes = bytes
            self.pendingLanes = Atomic(lanes)
        }
    }

    struct Lane: Sendable {
        var consumer: any TelemetryConsumer
        var takesTraces: Bool
        var takesLogs: Bool
        var queue: LaneQueue<Batch>
    }

    struct State {
        var queuedBytes = 0
        var closed = false
    }

    private let lanes: [Lane]
    /// The span attributes and events the consumers of spans read, all of them together;
    /// nil when one may read any (`TelemetryConsumer.attributeSkim`).
    package let attributeSkim: AttributeSkim?
    /// Whether a consumer of spans forwards a gzip request's own bytes, so that a receiver
    /// keeps them (`TelemetryConsumer.forwardsReceivedGzip`).
    package let keepsReceivedGzip: Bool
    private let limitBytes: Int
    private let heapLimit: HeapLimit?
    private let state = Mutex(State())
    /// Whether the last reading of the heap was over the soft limit; set by `run()`.
    private let heapIsOver = Atomic(false)
    /// Decoded bytes per received byte by ``BodyKind`` (its raw value), times
    /// ``ratioScale``; 1 until a request of the kind is decoded. Read and moved once a
    /// request, so a lock costs nothing worth counting.
    private let ratios = Mutex([Int](repeating: 256, count: 4))

    /// What a request body holds, as far as its decoded size goes.
    package enum BodyKind: Int, Sendable {
        case protobufSpans, jsonSpans, protobufLogs, jsonLogs
    }
    private let logger: Logger
    private let queueBytesGauge = Gauge(label: "causeway_pipeline_queue_bytes")
    private let heapBytesGauge = Gauge(label: "causeway_process_heap_bytes")

    /// - Parameters:
    ///   - consumers: each with the signals it takes.
    ///   - limitBytes: the most bytes of decoded batches held at once; a single batch larger
    ///     than the limit is still taken when nothing else is queued, so that it can pass at all.
    ///   - heapLimit: the bound on the whole process's heap, checked while `run()` runs.
    package init(
        consumers: [(consumer: any TelemetryConsumer, traces: Bool, logs: Bool)], limitBytes: Int, heapLimit: HeapLimit? = nil, logger: Logger
    ) {
        self.lanes = consumers.map { entry in
            Lane(consumer: entry.consumer, takesTraces: entry.traces, takesLogs: entry.logs, queue: LaneQueue())
        }
        self.attributeSkim = consumers.filter(\.traces).reduce(Optional(AttributeSkim.keepingNothing)) { skim, entry in
            entry.consumer.attributeSkim.flatMap { skim?.union($0) }
        }
        self.keepsReceivedGzip = consumers.contains { $0.traces && $0.consumer.forwardsReceivedGzip }
        self.limitBytes = limitBytes
        self.heapLimit = heapLimit
        self.logger = logger
    }

    /// Bytes accepted and not yet delivered to every lane.
    package var queuedBytes: Int { state.withLock { $0.queuedBytes } }

    /// Whether the pipeline still takes batches.
    package var isOpen: Bool { state.withLock { !$0.closed } }

    /// Whether any consumer takes this signal.
    package func takesTraces() -> Bool { lanes.contains { $0.takesTraces } }
    package func takesLogs() -> Bool { lanes.contains { $0.takesLogs } }

    /// What a request of `bytes` received bytes would be told, asked before decoding it so
    /// that an overloaded collector does not spend its CPU decoding what it will refuse.
    /// Only `submit` admits; a request this lets through may still be refused there.
    package func admission(forReceived bytes: Int, _ kind: BodyKind) -> PipelineAdmission {
        // What the request will take once decoded, by the ratio learned from those decoded
        // before: at the limit, a request that passes here and is refused by `submit` was
        // decoded for nothing, and with clients sending as fast as they are answered that
        // decoding took most of the CPU (2026-12-05: `bench ingest --rate 0`).
        let expected = max(bytes, bytes * ratios.withLock { $0[kind.rawValue] } / Self.ratioScale)
        return state.withLock { state in
            if state.closed { return .closed }
            if heapIsOver.load(ordering: .relaxed) { return .full }
            if state.queuedBytes > 0 && state.queuedBytes + expected > limitBytes { return .full }
            return .accepted
        }
    }

    /// Offers a batch, counted at its decoded size unless `bytes` says otherwise.
    package func submit(_ traces: ExportTraceServiceRequest, bytes: Int? = nil) -> PipelineAdmission {
        submit(.traces(traces), bytes: bytes ?? traces.estimatedMemoryBytes) { $0.takesTraces }
    }

    /// Offers a batch decoded from `receivedBytes` of request body, and learns from it how
    /// much a received byte of the kind takes once decoded (``admission(forReceived:_:)``).
    package func submit(_ traces: ExportTraceServiceRequest, receivedBytes: Int, _ kind: BodyKind) -> PipelineAdmission {
        let size = traces.estimatedMemoryBytes
        learn(kind, receivedBytes: receivedBytes, decodedBytes: size)
        return submit(.traces(traces), bytes: size) { $0.takesTraces }
    }

    /// Offers a batch, counted at its decoded size unless `bytes` says otherwise.
    package func submit(_ logs: ExportLogsServiceRequest, bytes: Int? = nil) -> PipelineAdmission {
        submit(.logs(logs), bytes: bytes ?? logs.estimatedMemoryBytes) { $0.takesLogs }
    }

    /// As `submit(_:receivedBytes:)` for spans.
    package func submit(_ logs: ExportLogsServiceRequest, receivedBytes: Int, _ kind: BodyKind) -> PipelineAdmission {
        let size = logs.estimatedMemoryBytes
        learn(kind, receivedBytes: receivedBytes, decodedBytes: size)
        return submit(.logs(logs), bytes: size) { $0.takesLogs }
    }

    /// Fixed-point scale of the learned ratios.
    static let ratioScale = 256

    /// Moves the learned ratio an eighth of the way to this request's.
    private func learn(_ kind: BodyKind, receivedBytes: Int, decodedBytes: Int) {
        guard receivedBytes > 0 else { return }
        let sample = min(decodedBytes, receivedBytes * 64) * Self.ratioScale / receivedBytes
        ratios.withLock { $0[kind.rawValue] += (sample - $0[kind.rawValue]) / 8 }
    }

    private func submit(_ payload: Payload, bytes: Int, where takes: (Lane) -> Bool) -> PipelineAdmission {
        let targets = lanes.filter(takes)
        let size = max(bytes, 1)
        let admission: PipelineAdmission = state.withLock { state in
            if state.closed { return .closed }
            if heapIsOver.load(ordering: .relaxed) { return .full }
            if state.queuedBytes > 0 && state.queuedBytes + size > limitBytes { return .full }
            if targets.isEmpty { return .accepted }
            state.queuedBytes += size
            let batch = Batch(payload: payload, bytes: size, lanes: targets.count)
            // Inside the lock so that no batch is yielded after `close()` finished the lanes.
            for lane in targets { lane.queue.append(batch) }
            return .accepted
        }
        if admission == .accepted { queueBytesGauge.record(queuedBytes) }
        return admission
    }

    private func release(_ batch: Batch) {
        let (_, remaining) = batch.pendingLanes.subtract(1, ordering: .acquiringAndReleasing)
        guard remaining == 0 else { return }
        let queued = state.withLock { state in
            state.queuedBytes -= batch.bytes
            return state.queuedBytes
        }
        queueBytesGauge.record(queued)
    }

    /// Stops taking batches; the lanes finish what they hold.
    package func close() {
        state.withLock { state in
            guard !state.closed else { return }
            state.closed = true
            for lane in lanes { lane.queue.finish() }
        }
    }

    /// Runs every consumer and delivers to it until graceful shutdown, then drains every
    /// lane and shuts the consumers down, so that what was accepted reaches them.
    package func run() async throws {
        await withTaskGroup(of: Void.self) { consumers in
            for lane in lanes {
                let consumer = lane.consumer
                let logger = self.logger
                consumers.addTask {
                    do {
                        try await consumer.run()
                    } catch is CancellationError {
                    } catch {
                        logger.error("consumer stopped", metadata: ["consumer": "\(consumer.name)", "error": "\(error)"])
                    }
                }
            }
            await withGracefulShutdownHandler {
                await withTaskGroup(of: Void.self) { watch in
                    if let heapLimit { watch.addTask { await self.watchHeap(heapLimit) } }
                    await withTaskGroup(of: Void.self) { deliveries in
                        for lane in lanes {
                            deliveries.addTask { await self.deliver(lane) }
                        }
                    }
                    watch.cancelAll()
                }
            } onGracefulShutdown: {
                self.close()
            }
            for lane in lanes { await lane.consumer.shutdown() }
        }
    }

    /// Reads the heap in use every check interval and, while it is over the soft limit,
    /// refuses data and has the allocator return free pages (as the OpenTelemetry
    /// Collector's limiter forces a garbage collection).
    private func watchHeap(_ limit: HeapLimit) async {
        var wasOver = false
        // Trimming walks the whole heap; while the heap stays over (the stitcher's retained
        // chains can keep it there after a burst) it is done every few seconds, not every check.
        var lastTrim: ContinuousClock.Instant?
        // Reading the heap walks the allocator's free lists (5 % of the collector's CPU with
        // the stitcher's many small allocations at 15k spans/s). Neither rule below can hold
        // before the resident size passes the soft limit, which is one small read of
        // /proc: below that the heap is read only every few seconds, for its gauge.
        var lastRead: ContinuousClock.Instant?
        // Both walks cost in proportion to the heap's free blocks: after a full-speed burst
        // with the stitcher on, one read took most of a second, and reading at every check
        // kept an idle collector at a full core for minutes. Each is therefore spaced by
        // fifty times what it last cost (at most 2 % of a core), the figure read last
        // standing in between.
        var readCost = Duration.zero, trimCost = Duration.zero
        var lastInUse = 0
        let clock = ContinuousClock()
        while !Task.isCancelled {
            var allResident = 0, resident = 0
            causeway_resident_bytes(&allResident, &resident)
            let surelyUnder = allResident > 0 && allResident < limit.softLimitBytes
            if surelyUnder, !wasOver, let lastRead, ContinuousClock.now - lastRead < .seconds(5) {
                try? await Task.sleep(for: limit.checkInterval)
                continue
            }
            var inUse = lastInUse
            if lastRead.map({ ContinuousClock.now - $0 >= readCost * 50 }) ?? true {
                lastRead = .now
                readCost = clock.measure { inUse = causeway_heap_in_use() }
            }
            let sinceTrim = lastTrim.map { ContinuousClock.now - $0 } ?? .seconds(3600)
            // Free memory the allocator keeps between live blocks can hold the resident
            // size far over the limit while the heap in use is under it (at full overload,
            // 680 MiB resident under a 412 MiB soft limit): that is handed back too.
            let keptFree = resident > limit.softLimitBytes && resident - min(resident, inUse) > limit.softLimitBytes / 8
            if sinceTrim >= trimCost * 50, (inUse > limit.softLimitBytes && sinceTrim >= .seconds(5)) || (keptFree && sinceTrim >= .seconds(1)) {
                trimCost = clock.measure {
                    causeway_heap_trim()
                    inUse = causeway_heap_in_use()
                }
                lastTrim = .now
            }
            lastInUse = inUse
            // The resident size counts too, as the heap in use leaves out the allocator's
            // overhead and what it has not handed back yet: at full overload the resident
            // size stood 100 MiB above the heap in use, and over `limit_bytes`. All of it,
            // the executable's 40 MiB of pages included, since that is the RSS a user
            // compares with the limit (with anonymous pages only, peak RSS reached 503-537
            // MiB under a 512 MiB limit). Only with half the soft limit in use, so that pages
            // the allocator cannot return never keep an otherwise idle collector refusing.
            let residentIsOver = allResident > limit.softLimitBytes && inUse > limit.softLimitBytes / 2
            let isOver = inUse > limit.softLimitBytes || residentIsOver
            heapIsOver.store(isOver, ordering: .relaxed)
            heapBytesGauge.record(inUse)
            if isOver != wasOver {
                // Which rule tripped: the heap in use can be well under the limit while the
                // resident size is over it, and a message naming the heap alone read as a bug.
                let metadata: Logger.Metadata = [
                    "heap_bytes": "\(inUse)", "resident_bytes": "\(allResident)", "soft_limit_bytes": "\(limit.softLimitBytes)",
                ]
                if isOver {
                    let what = inUse > limit.softLimitBytes ? "heap in use" : "resident size"
                    logger.warning("\(what) over the memory limiter's soft limit; refusing data", metadata: metadata)
                } else {
                    logger.info("memory back under the memory limiter's soft limit; taking data", metadata: metadata)
                }
                wasOver = isOver
            }
            try? await Task.sleep(for: limit.checkInterval)
        }
    }

    private func deliver(_ lane: Lane) async {
        let refused = Counter(label: "causeway_pipeline_refused_batches_total", dimensions: [("consumer", lane.consumer.name)])
        // Ends when the task is cancelled, or once a graceful shutdown finished the queue
        // and the last batch is delivered.
        while var batches = await lane.queue.next(upTo: Self.batchesPerDelivery) {
            if let linger = lane.consumer.deliveryLinger, batches.count < Self.batchesPerDelivery {
                try? await Task.sleep(for: linger)
                batches += lane.queue.available(upTo: Self.batchesPerDelivery - batches.count)
            }
            // Runs of one signal, in order, each handed over whole.
            var start = batches.startIndex
            while start < batches.endIndex {
                var end = start + 1
                switch batches[start].payload {
                case .traces:
                    while end < batches.endIndex, case .traces = batches[end].payload { end += 1 }
                    let run = batches[start..<end].compactMap { if case .traces(let traces) = $0.payload { traces } else { nil } }
                    await hand(run.count, to: lane, refused: refused) { try await lane.consumer.consume(run) }
                case .logs:
                    while end < batches.endIndex, case .logs = batches[end].payload { end += 1 }
                    let run = batches[start..<end].compactMap { if case .logs(let logs) = $0.payload { logs } else { nil } }
                    await hand(run.count, to: lane, refused: refused) { try await lane.consumer.consume(run) }
                }
                for batch in batches[start..<end] { release(batch) }
                start = end
            }
        }
    }

    /// The most batches handed to a consumer at once.
    static let batchesPerDelivery = 64

    private func hand(_ count: Int, to lane: Lane, refused: Counter, _ body: () async throws -> Void) async {
        do {
            try await body()
        } catch {
            refused.increment(by: count)
            logger.error("consumer refused batches", metadata: ["consumer": "\(lane.consumer.name)", "batches": "\(count)", "error": "\(error)"])
        }
    }
}
