import AsyncHTTPClient
import CIgzip
import CLibDeflate
import CoreMetrics
import Foundation
import Logging
import Metrics
import NIOCore
import NIOHTTP1
import Telemetry

/// An exporter that posts batches over HTTP — OTLP/HTTP (`otlphttp`) or Zipkin v2 JSON
/// (`zipkin`) — from a persistent queue: `consume` encodes the batch, compresses it when
/// the exporter sends gzip, and appends it to the queue on disk as it will be sent; `run`
/// delivers the queue oldest first with `num_consumers` requests at a time (one by
/// default, which keeps the order), retrying what may pass and dropping what cannot.
///
/// Compressing once, before the queue, writes a fraction of the bytes to disk (and checks
/// a fraction with the queue's checksums), lets a bounded queue hold several times the
/// batches through an outage, and compresses nothing again on a retry. A request received
/// as one gzip member and unchanged is queued as it came, not compressed at all.
final class QueuedHTTPExporter: TelemetryConsumer {
    let name: String
    let settings: ExporterSettings
    let logger: Logger
    let metrics: ExporterMetrics
    let queue: PersistentQueue
    let client: HTTPClient

    /// Opens the queue under `directory` (recovering what a previous run left there).
    init(
        settings: ExporterSettings, directory: String, logger: Logger, metricsFactory: (any MetricsFactory)? = nil
    ) throws(ExportQueueError) {
        self.name = settings.name
        self.settings = settings
        var logger = logger
        logger[metadataKey: "exporter"] = "\(settings.name)"
        self.logger = logger
        self.metrics = ExporterMetrics(exporter: settings.name, factory: metricsFactory)
        self.queue = try PersistentQueue(
            exporter: settings.name, directory: directory, limits: settings.queue, segmentBytes: settings.segmentBytes,
            logger: logger, metrics: metrics)
        var configuration = HTTPClient.Configuration()
        // A refused connection fails at once and goes through our own backoff, which
        // honours the exporter's settings and drains on shutdown; AsyncHTTPClient's
        // built-in reconnect would instead hold the request until its deadline.
        configuration.connectionPool.retryConnectionEstablishment = false
        configuration.timeout.connect = .nanoseconds(Int64(min(settings.timeout, .seconds(10)).seconds * 1e9))
        // Tracing our own exports would make spans that need exporting, without end.
        configuration.tracing.tracer = nil
        configuration.decompression = .disabled
        self.client = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
        if settings.logsURL == nil, settings.tracesFormat != .zipkinJSON {
            logger.info("exporter sends spans only: no logs endpoint", metadata: ["traces_endpoint": "\(settings.tracesURL ?? "")"])
        }
    }

    // MARK: Accepting

    /// Protobuf goes out as received (`receivedProtobuf`); the other formats encode the spans.
    var attributeSkim: AttributeSkim? {
        settings.tracesURL == nil || settings.tracesFormat == .otlpProtobuf ? .keepingNothing : nil
    }

    /// gzip'd protobuf is a gzip request as it came.
    var forwardsReceivedGzip: Bool { settings.tracesURL != nil && settings.gzip && settings.tracesFormat == .otlpProtobuf }

    func consume(_ traces: ExportTraceServiceRequest) async throws {
        try await consume([traces])
    }

    /// Batches arriving within this time are queued together, with one `fdatasync` for
    /// all of them rather than one each (the OpenTelemetry Collector's batch processor
    /// waits 200 ms by default).
    var deliveryLinger: Duration? { .milliseconds(100) }

    /// Batches handed over together are queued with one `fdatasync` for all of them.
    func consume(_ batches: [ExportTraceServiceRequest]) async throws {
        guard settings.tracesURL != nil else { return }
        try await queue.append(batches.compactMap(record))
    }

    /// The queue record of a batch of spans; nil when it has none.
    private func record(_ traces: ExportTraceServiceRequest) -> [UInt8]? {
        let count = traces.spanCount
        guard count > 0 else { return nil }
        let body: [UInt8]
        switch settings.tracesFormat {
        // A request received as protobuf and unchanged goes out as it came.
        case .otlpProtobuf:
            if settings.gzip, let gzip = traces.receivedGzip {
                return Self.record(signal: .traces, format: .otlpProtobuf, items: count, body: gzip, encoding: .gzip)
            }
            body = traces.receivedProtobuf ?? traces.protobufBytes()
        case .otlpJSON: body = traces.otlpJSONBytes()
        case .zipkinJSON: body = ZipkinV2JSON.encode(traces)
        }
        return record(signal: .traces, format: settings.tracesFormat, items: count, body: body)
    }

    /// Log records go to the logs endpoint; an exporter without one (Zipkin has no logs)
    /// accepts them and does nothing, so a shared pipeline need not know.
    func consume(_ logs: ExportLogsServiceRequest) async throws {
        try await consume([logs])
    }

    func consume(_ batches: [ExportLogsServiceRequest]) async throws {
        guard settings.logsURL != nil else { return }
        try await queue.append(batches.compactMap { logs -> [UInt8]? in
            let count = logs.logRecordCount
            guard count > 0 else { return nil }
            let body = settings.logsFormat == .otlpJSON ? logs.otlpJSONBytes() : logs.protobufBytes()
            return record(signal: .logs, format: settings.logsFormat, items: count, body: body)
        })
    }

    /// How a queued body is encoded on the wire (`Content-Encoding`).
    enum BodyEncoding: UInt8 {
        case identity = 0
        case gzip = 1
    }

    /// The queue record for `body`, compressed first when the exporter sends gzip (sent
    /// uncompressed, with a warning, if compression fails).
    func record(signal: ExportSignal, format: ExportBodyFormat, items: Int, body: [UInt8]) -> [UInt8] {
        if settings.gzip, let compressed = gzip(body) {
            return Self.record(signal: signal, format: format, items: items, body: compressed.readableBytesView, encoding: .gzip)
        }
        return Self.record(signal: signal, format: format, items: items, body: body, encoding: .identity)
    }

    /// `body` in one gzip member at the exporter's level, compressed in one pass: at level
    /// 1 (the default) by ISA-L's igzip, about three times as fast as libdeflate's level 1
    /// for bodies 3 % larger; at levels 2–9 by libdeflate, whose levels mean what zlib's do.
    /// nil, with a warning, if that fails (the batch then goes uncompressed).
    func gzip(_ body: some Collection<UInt8>) -> ByteBuffer? {
        let compressed = body.withContiguousStorageIfAvailable { Self.gzip($0, level: settings.gzipLevel) }
            ?? Array(body).withUnsafeBufferPointer { Self.gzip($0, level: settings.gzipLevel) }
        if compressed == nil {
            logger.warning("gzip failed, the batch goes uncompressed", metadata: ["bytes": "\(body.count)"])
        }
        return compressed
    }

    static func gzip(_ body: UnsafeBufferPointer<UInt8>, level: Int32) -> ByteBuffer? {
        if level == 1 {
            return compressed(bound: causeway_igzip_bound(body.count)) { destination, bound in
                causeway_igzip_level1(body.baseAddress, body.count, destination, bound)
            }
        }
        guard let compressor = libdeflate_alloc_compressor(level) else { return nil }
        defer { libdeflate_free_compressor(compressor) }
        return compressed(bound: libdeflate_gzip_compress_bound(compressor, body.count)) { destination, bound in
            libdeflate_gzip_compress(compressor, body.baseAddress, body.count, destination, bound)
        }
    }

    /// What `compress` writes into a new buffer of `bound` bytes, given its start and size
    /// and returning how many it wrote; nil when it wrote none.
    private static func compressed(bound: Int, _ compress: (UnsafeMutablePointer<UInt8>?, Int) -> Int) -> ByteBuffer? {
        var output = ByteBufferAllocator().buffer(capacity: bound)
        let written = output.writeWithUnsafeMutableBytes(minimumWritableBytes: bound) { destination in
            compress(destination.baseAddress?.assumingMemoryBound(to: UInt8.self), bound)
        }
        return written > 0 ? output : nil
    }

    /// A sealed queue record whose payload is: version 2, signal, body format, body
    /// encoding, item count (`UInt32` little-endian), body. Version 1 (before 2026-12-04)
    /// had no encoding byte and always an uncompressed body.
    static func record(
        signal: ExportSignal, format: ExportBodyFormat, items: Int, body: some Collection<UInt8>, encoding: BodyEncoding
    ) -> [UInt8] {
        var record = [UInt8](repeating: 0, count: PersistentQueue.headerSize)
        record.reserveCapacity(PersistentQueue.headerSize + 8 + body.count)
        record.append(contentsOf: [2, signal.rawValue, format.rawValue, encoding.rawValue])
        record.appendLittleEndian(UInt32(clamping: items))
        record.append(contentsOf: body)
        PersistentQueue.seal(&record)
        return record
    }

    struct Batch {
        var signal: ExportSignal
        var format: ExportBodyFormat
        var encoding: BodyEncoding
        var items: Int
        var body: ArraySlice<UInt8>
    }

    /// The batch a queue record's payload holds, of either version; nil for an unknown layout.
    static func batch(_ record: [UInt8]) -> Batch? {
        guard record.count >= 7, let signal = ExportSignal(rawValue: record[1]), let format = ExportBodyFormat(rawValue: record[2])
        else { return nil }
        switch record[0] {
        case 1:
            return Batch(
                signal: signal, format: format, encoding: .identity, items: Int(UInt32(littleEndianBytes: record[3..<7])),
                body: record[7...])
        case 2:
            guard record.count >= 8, let encoding = BodyEncoding(rawValue: record[3]) else { return nil }
            return Batch(
                signal: signal, format: format, encoding: encoding, items: Int(UInt32(littleEndianBytes: record[4..<8])),
                body: record[8...])
        default:
            return nil
        }
    }

    // MARK: Delivering

    func run() async throws {
        guard await queue.beginRun() else { return }
        await deliverWithConsumers()
        await queue.endRun()
    }

    /// Stops accepting, delivers for up to `drainTimeout` (through the running delivery
    /// loop, or here when `run()` is not running) and leaves the rest on disk.
    func shutdown() async {
        let running = await queue.beginDrain(deadline: .now + settings.drainTimeout)
        if running {
            await queue.waitForRunEnd()
        } else if await queue.beginRun() {
            await deliverWithConsumers()
            await queue.endRun()
        }
        await queue.closeFiles()
        do {
            try await client.shutdown()
        } catch {
            logger.debug("exporter HTTP client shutdown failed", metadata: ["error": "\(error)"])
        }
    }

    /// `sending_queue.num_consumers` delivery loops, each sending one request at a time.
    private func deliverWithConsumers() async {
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<max(1, settings.queue.consumers) {
                group.addTask { await self.deliverQueue() }
            }
        }
    }

    private func deliverQueue() async {
        while let next = await queue.next() {
            guard await deliver(next.entry, next.payload) else { break }
            if let deadline = await queue.drainDeadline, ContinuousClock.now >= deadline {
                logger.info("exporter drain time is up; the rest of the queue stays on disk for the next start")
                break
            }
        }
    }

    enum Outcome {
        case delivered
        case retryable(reason: String, retryAfter: Duration?)
        case permanent(reason: String)
    }

    /// Delivers one record with its retries. Returns `false` when it stopped early and
    /// left the record queued: the task was cancelled or shutdown's drain time ran out.
    func deliver(_ entry: QueueEntry, _ payload: [UInt8]) async -> Bool {
        guard let batch = Self.batch(payload), let url = settings.url(for: batch.signal) else {
            logger.error("exporter queue record has an unknown layout or its signal is no longer exported, dropping it")
            metrics.dropped.increment()
            metrics.tally.update { $0.dropped += 1 }
            return await done(entry)
        }
        let clock = ContinuousClock()
        let started = clock.now
        var generator = SystemRandomNumberGenerator()
        var retry = 0
        while true {
            switch await post(batch, to: url) {
            case .delivered:
                if batch.signal == .traces {
                    metrics.sentSpans.increment(by: batch.items)
                } else {
                    metrics.sentLogs.increment(by: batch.items)
                }
                metrics.tally.update {
                    $0.sentBatches += 1
                    if batch.signal == .traces { $0.sentSpans += batch.items } else { $0.sentLogs += batch.items }
                }
                return await done(entry)
            case .permanent(let reason):
                metrics.failed.increment()
                metrics.dropped.increment()
                metrics.tally.update {
                    $0.failed += 1
                    $0.dropped += 1
                }
                logger.error(
                    "export refused, batch dropped",
                    metadata: ["endpoint": "\(url)", "items": "\(batch.items)", "reason": "\(reason)"])
                return await done(entry)
            case .retryable(let reason, let retryAfter):
                metrics.failed.increment()
                metrics.tally.update { $0.failed += 1 }
                retry += 1
                let delay = retryAfter ?? settings.retry.backoff(retry: retry, using: &generator)
                if !settings.retry.enabled {
                    return await giveUp(entry, batch, url: url, reason: reason + "; retry_on_failure is disabled")
                }
                if let limit = settings.retry.maxElapsedTime, clock.now + delay > started + limit {
                    return await giveUp(entry, batch, url: url, reason: reason + "; retrying would pass max_elapsed_time \(limit)")
                }
                if let deadline = await queue.drainDeadline, clock.now + delay > deadline {
                    logger.info(
                        "exporter shutting down with batches undelivered; they stay on disk for the next start",
                        metadata: ["endpoint": "\(url)", "reason": "\(reason)"])
                    return false
                }
                metrics.retried.increment()
                metrics.tally.update { $0.retried += 1 }
                logger.debug(
                    "export failed, retrying", metadata: ["endpoint": "\(url)", "reason": "\(reason)", "in": "\(delay)"])
                guard await pause(for: delay) else { return false }
            }
        }
    }

    private func done(_ entry: QueueEntry) async -> Bool {
        do {
            try await queue.complete(entry)
            return true
        } catch {
            logger.error("exporter could not record the delivery; stopping delivery", metadata: ["error": "\(error)"])
            return false
        }
    }

    private func giveUp(_ entry: QueueEntry, _ batch: Batch, url: String, reason: String) async -> Bool {
        metrics.dropped.increment()
        metrics.tally.update { $0.dropped += 1 }
        logger.error("export failed, batch dropped", metadata: ["endpoint": "\(url)", "items": "\(batch.items)", "reason": "\(reason)"])
        return await done(entry)
    }

    /// Waits `delay`, or less when shutdown begins (so the drain tries again at once).
    /// `false` when the task was cancelled.
    private func pause(for delay: Duration) async -> Bool {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { try? await Task.sleep(for: delay) }
            group.addTask { await self.queue.waitForDrain() }
            await group.next()
            group.cancelAll()
        }
        return !Task.isCancelled
    }

    /// The most of an error response kept for the log.
    static let responseBodyLimit = 4096

    /// One request.
    func post(_ batch: Batch, to url: String) async -> Outcome {
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: batch.format.contentType)
        request.headers.add(name: "User-Agent", value: "causeway-collector")
        let body: ByteBuffer
        // A version 1 record, queued uncompressed by an earlier release, is compressed now.
        if batch.encoding == .identity, settings.gzip, let compressed = gzip(batch.body) {
            body = compressed
            request.headers.add(name: "Content-Encoding", value: "gzip")
        } else {
            body = ByteBuffer(bytes: batch.body)
            if batch.encoding == .gzip { request.headers.add(name: "Content-Encoding", value: "gzip") }
        }
        for header in settings.headers {
            request.headers.replaceOrAdd(name: header.name, value: header.value)
        }
        request.body = .bytes(body)
        do {
            let response = try await client.execute(
                request, timeout: .nanoseconds(Int64(settings.timeout.seconds * 1e9)), logger: nil)
            var kept: [UInt8] = []
            for try await chunk in response.body where kept.count < Self.responseBodyLimit {
                kept.append(contentsOf: chunk.readableBytesView.prefix(Self.responseBodyLimit - kept.count))
            }
            let code = Int(response.status.code)
            switch code {
            case 200..<300:
                reportPartialSuccess(kept, batch: batch, contentType: response.headers.first(name: "Content-Type"))
                return .delivered
            case 429, 502, 503, 504:
                let retryAfter = response.headers.first(name: "Retry-After").flatMap { RetryAfter.delay($0, now: Date()) }
                return .retryable(reason: "HTTP \(code)", retryAfter: retryAfter)
            default:
                // OTLP: "the client MUST NOT retry" 400 and other non-retryable codes;
                // the same request would fail the same way.
                let text = String(decoding: kept, as: UTF8.self)
                return .permanent(reason: "HTTP \(code): \(text.isEmpty ? response.status.reasonPhrase : text)")
            }
        } catch {
            return .retryable(reason: "\(error)", retryAfter: nil)
        }
    }
}

extension QueuedHTTPExporter {
    /// "The client MUST NOT retry the request when it receives a partial success
    /// response" (OTLP spec, "Partial Success"): what the backend rejected is only logged.
    func reportPartialSuccess(_ body: [UInt8], batch: Batch, contentType: String?) {
        guard !body.isEmpty, batch.format != .zipkinJSON else { return }
        let isJSON = contentType?.lowercased().hasPrefix("application/json") ?? false
        let rejected: Int64
        let message: String
        switch batch.signal {
        case .traces:
            let response = isJSON ? try? ExportTraceServiceResponse(otlpJSON: body) : try? ExportTraceServiceResponse(protobuf: body)
            rejected = response?.partialSuccess?.rejectedSpans ?? 0
            message = response?.partialSuccess?.errorMessage ?? ""
        case .logs:
            let response = isJSON ? try? ExportLogsServiceResponse(otlpJSON: body) : try? ExportLogsServiceResponse(protobuf: body)
            rejected = response?.partialSuccess?.rejectedLogRecords ?? 0
            message = response?.partialSuccess?.errorMessage ?? ""
        }
        guard rejected > 0 || !message.isEmpty else { return }
        logger.warning(
            "backend accepted the batch but rejected part of it",
            metadata: ["rejected": "\(rejected)", "of": "\(batch.items)", "message": "\(message)"])
    }
}

extension ExporterSettings {
    func url(for signal: ExportSignal) -> String? {
        signal == .traces ? tracesURL : logsURL
    }
}

/// The `Retry-After` header (RFC 9110 §10.2.3): "either an HTTP-date or a number of
/// seconds to delay after the response is received".
enum RetryAfter {
    static func delay(_ value: String, now: Date) -> Duration? {
        let text = value.trimmingCharacters(in: .whitespaces)
        if let seconds = Int(text), seconds >= 0 { return .seconds(seconds) }
        // HTTP-date in its preferred form, IMF-fixdate: `Sun, 06 Nov 1994 08:49:37 GMT`.
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss 'GMT'"
        guard let date = formatter.date(from: text) else { return nil }
        return .milliseconds(Int64(max(0, date.timeIntervalSince(now)) * 1000))
    }
}
