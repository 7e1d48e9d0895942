import Foundation
import KafkaWire
import Logging
import Metrics
import NIOCore
import NIOPosix

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Why a batch could not be queued.
package enum ExportQueueError: Error, CustomStringConvertible {
    /// `sending_queue` is full: the caller should refuse upstream (429/503) and retry later.
    case full(exporter: String, queuedBytes: Int, queuedBatches: Int, limit: String)
    /// One batch is larger than the whole queue may hold; it can never be accepted.
    case batchTooLarge(exporter: String, bytes: Int, maxBytes: Int)
    /// The exporter is shutting down and takes nothing more.
    case closed(exporter: String)
    /// Another exporter (another collector on the same data directory) holds the queue.
    case inUse(exporter: String, path: String)
    /// The file system refused a write, a sync or a read.
    case io(exporter: String, operation: String, path: String, errno: Int32)

    package var description: String {
        switch self {
        case .full(let exporter, let bytes, let batches, let limit):
            "exporter \(exporter): queue full (\(batches) batches, \(bytes) bytes queued; limit \(limit)); the backend is not keeping up or is down"
        case .batchTooLarge(let exporter, let bytes, let maxBytes):
            "exporter \(exporter): a batch of \(bytes) bytes is larger than the whole queue (sending_queue.max_bytes \(maxBytes))"
        case .closed(let exporter):
            "exporter \(exporter): shutting down, no batches accepted"
        case .inUse(let exporter, let path):
            "exporter \(exporter): the queue \(path) is in use by another process; give each collector its own --data-dir"
        case .io(let exporter, let operation, let path, let errno):
            "exporter \(exporter): \(operation) \(path) failed: \(String(cString: strerror(errno))) (errno \(errno))"
        }
    }
}

/// One record still to deliver: where it is on disk.
struct QueueEntry: Sendable, Hashable {
    var segment: UInt64
    var offset: Int
    /// Header and payload.
    var length: Int
}

/// An exporter's queue on disk, in `dataDirectory/exporters/<name>/`:
///
/// - `<20-digit number>.seg`: append-only segment files of records, each a little-endian
///   `UInt32` payload length, a little-endian `UInt32` CRC-32C (Castagnoli) of the payload,
///   and the payload. Queues written before 2026-12-03 carry CRC-32 (IEEE) instead, which
///   is still accepted when read. A segment is closed past `segmentBytes` and the next
///   number begun.
/// - `cursor`: the segment number and offset of the first record not yet delivered (two
///   little-endian `UInt64` and their CRC-32), written in place after every delivery.
///   Segments wholly before it are deleted.
///
/// Every append is synced (`fdatasync`, which also makes the new file size durable)
/// before `append` returns, because returning is the promise the receiver passes on to
/// the sender (a 200 to the SDK): a batch acknowledged but still in the page cache would
/// be lost by a power cut. Batches are whole export requests (typically hundreds of
/// spans) and concurrent appends share one sync (group commit), so this is affordable.
/// The cursor is not synced: losing it in a crash, or a write of it torn (its CRC then
/// fails), only means batches delivered twice (at-least-once, as OTLP expects).
///
/// On open the records after the cursor are checked; the first one whose length runs past
/// the end of its file, is zero, or whose CRC does not match is a torn write from a crash,
/// and the segment is truncated there.
///
/// The actor runs on a thread of its own (`diskThread`) because fsync blocks, and a
/// blocked thread of Swift's cooperative pool (two threads on this machine) would stall
/// everything else.
actor PersistentQueue {
    /// One thread for the queues of all exporters: their fsyncs would queue at the disk anyway.
    static let diskThread = MultiThreadedEventLoopGroup(numberOfThreads: 1)

    private let loop: any EventLoop
    nonisolated var unownedExecutor: UnownedSerialExecutor { loop.executor.asUnownedSerialExecutor() }

    let exporter: String
    let directory: String
    let limits: QueueLimits
    let segmentBytes: Int
    let logger: Logger
    let metrics: ExporterMetrics
    let files: QueueDirectory

    /// Records still to deliver, oldest first, from `head` on; those before `handedOut`
    /// are with a delivery consumer, and `completed` holds the ones among them that are
    /// done while an older one is not (several consumers finish out of order).
    private var entries: [QueueEntry] = []
    private var head = 0
    private var handedOut = 0
    private var completed: Set<QueueEntry> = []
    private(set) var queuedBytes = 0
    /// Live segment numbers, ascending; the last is the one appended to.
    private var segments: [UInt64] = []
    private var tailDescriptor: Int32 = -1
    private var lockDescriptor: Int32 = -1
    /// The cursor file, opened at its first write.
    private var cursorDescriptor: Int32 = -1
    private var tailSize = 0
    private var readSegment: (number: UInt64, descriptor: Int32)?
    private var reportedFull = false
    /// Records written and not yet handed out, kept (up to `unreadLimit` bytes) so that a
    /// consumer keeping up is given them without reading back what was just written; the
    /// rest are read from disk.
    private var unread: [QueueEntry: [UInt8]] = [:]
    private var unreadBytes = 0
    static let unreadLimit = 4 << 20

    private enum State { case accepting, draining(deadline: ContinuousClock.Instant), closed }
    private var state = State.accepting
    private var running = false
    private var recordWaiters: [Int: CheckedContinuation<Void, Never>] = [:]
    private var drainWaiters: [Int: CheckedContinuation<Void, Never>] = [:]
    private var nextWaiterID = 0
    private var runEndWaiters: [CheckedContinuation<Void, Never>] = []

    static let headerSize = 8

    /// Opens (or creates) the queue and recovers what an earlier run left.
    init(
        exporter: String, directory: String, limits: QueueLimits, segmentBytes: Int, logger: Logger, metrics: ExporterMetrics
    ) throws(ExportQueueError) {
        self.loop = Self.diskThread.next()
        self.exporter = exporter
        self.directory = directory
        self.limits = limits
        self.segmentBytes = segmentBytes
        self.logger = logger
        self.metrics = metrics
        let files = QueueDirectory(path: directory, exporter: exporter)
        self.files = files
        let recovered = try files.recover(logger: logger)
        entries = recovered.entries
        let bytes = recovered.entries.reduce(0) { $0 + $1.length }
        queuedBytes = bytes
        segments = recovered.segments
        tailSize = recovered.tailSize
        tailDescriptor = recovered.tailDescriptor
        lockDescriptor = recovered.lockDescriptor
        metrics.queueLength.record(recovered.entries.count)
        metrics.queueBytes.record(bytes)
        if !recovered.entries.isEmpty {
            logger.info(
                "exporter queue recovered batches from disk",
                metadata: ["exporter": "\(exporter)", "batches": "\(recovered.entries.count)", "bytes": "\(bytes)"])
        }
    }

    var count: Int { entries.count - head }

    // MARK: Appending

    /// Fills in the header of `record`, whose first `headerSize` bytes are reserved for
    /// it and the rest is the payload. Done by the caller, off the disk thread.
    static func seal(_ record: inout [UInt8]) {
        let payloadLength = UInt32(record.count - headerSize)
        // CRC-32C: the processor's instruction computes it (SSE 4.2), where CRC-32's table
        // code, run on every record written and again when read, was about 5 % of the
        // collector's CPU with an exporter on.
        let checksum = CRC32C.checksum(record[headerSize...])
        for index in 0..<4 {
            record[index] = UInt8(truncatingIfNeeded: payloadLength >> (8 * index))
            record[4 + index] = UInt8(truncatingIfNeeded: checksum >> (8 * index))
        }
    }

    /// Appends a record made by `seal` and returns once it is on disk.
    ///
    /// Group commit: the record is written at once, and one `fdatasync`, run as its own
    /// job on the disk thread after the appends already waiting there, makes every record
    /// written so far durable, so concurrent appends share a sync.
    func append(_ record: [UInt8]) async throws(ExportQueueError) {
        try await append([record])
    }

    /// Appends records made by `seal`, in order, and returns once they are on disk: one
    /// sync for all of them. Each record is offered even when an earlier one was refused;
    /// the first refusal is thrown once the records taken are durable.
    func append(_ records: [[UInt8]]) async throws(ExportQueueError) {
        var refusal: ExportQueueError?
        for record in records {
            do throws(ExportQueueError) { try write(record) } catch { refusal = refusal ?? error }
        }
        let generation = writtenGeneration
        if syncedGeneration < generation {
            if !syncScheduled {
                syncScheduled = true
                Task { self.sync() }
            }
            let result = await withCheckedContinuation { syncWaiters.append((generation, $0)) }
            try result.get()
        }
        if let refusal { throw refusal }
    }

    /// Writes one record at the tail, without waiting for it to be durable.
    private func write(_ record: [UInt8]) throws(ExportQueueError) {
        guard case .accepting = state else { throw .closed(exporter: exporter) }
        let length = record.count
        guard length <= limits.maxBytes else {
            metrics.refused.increment()
            throw .batchTooLarge(exporter: exporter, bytes: length, maxBytes: limits.maxBytes)
        }
        let overBatches = limits.maxBatches.map { count >= $0 } ?? false
        if queuedBytes + length > limits.maxBytes || overBatches {
            metrics.refused.increment()
            let limit = overBatches ? "queue_size \(limits.maxBatches ?? 0) batches" : "max_bytes \(limits.maxBytes)"
            if !reportedFull {
                reportedFull = true
                metrics.queueFull.record(1)
                logger.error(
                    "exporter queue is full; refusing batches until the backend takes some",
                    metadata: ["exporter": "\(exporter)", "batches": "\(count)", "bytes": "\(queuedBytes)", "limit": "\(limit)"])
            }
            throw .full(exporter: exporter, queuedBytes: queuedBytes, queuedBatches: count, limit: limit)
        }
        if tailSize > 0, tailSize + length > segmentBytes {
            // Everything written to the old segment becomes durable here, before the
            // descriptor the next sync would use changes.
            let oldPath = files.segmentPath(segments.last ?? 0)
            guard fdatasync(tailDescriptor) == 0 else { throw files.fail("fdatasync", oldPath) }
            syncedGeneration = writtenGeneration
            close(tailDescriptor)
            let next = (segments.last ?? 0) + 1
            tailDescriptor = try files.openSegment(next, create: true)
            segments.append(next)
            tailSize = 0
        }
        let path = files.segmentPath(segments.last ?? 0)
        do throws(ExportQueueError) {
            try files.writeAll(tailDescriptor, record, at: tailSize, path: path)
        } catch {
            // Leave no half record behind for the next append to follow.
            _ = ftruncate(tailDescriptor, off_t(tailSize))
            throw error
        }
        let entry = QueueEntry(segment: segments.last ?? 0, offset: tailSize, length: length)
        entries.append(entry)
        if unreadBytes + length <= Self.unreadLimit {
            unread[entry] = record
            unreadBytes += length
        }
        tailSize += length
        queuedBytes += length
        writtenGeneration += 1
        metrics.queueLength.record(count)
        metrics.queueBytes.record(queuedBytes)
        wakeAll(&recordWaiters)
    }

    private var writtenGeneration: UInt64 = 0
    private var syncedGeneration: UInt64 = 0
    private var syncScheduled = false
    private var syncWaiters: [(generation: UInt64, continuation: CheckedContinuation<Result<Void, ExportQueueError>, Never>)] = []

    private func sync() {
        syncScheduled = false
        let target = writtenGeneration
        var result: Result<Void, ExportQueueError> = .success(())
        if syncedGeneration < target {
            if tailDescriptor >= 0, fdatasync(tailDescriptor) == 0 {
                syncedGeneration = target
            } else {
                result = .failure(files.fail("fdatasync", files.segmentPath(segments.last ?? 0)))
                logger.error("exporter queue sync failed; the batches may be delivered but are not durable", metadata: ["error": "\(result)"])
            }
        }
        let waiting = syncWaiters
        syncWaiters = []
        for waiter in waiting {
            if case .failure = result, waiter.generation > syncedGeneration {
                waiter.continuation.resume(returning: result)
            } else {
                waiter.continuation.resume(returning: .success(()))
            }
        }
    }

    // MARK: Delivering

    private func wakeAll(_ waiters: inout [Int: CheckedContinuation<Void, Never>]) {
        for waiter in waiters.values { waiter.resume() }
        waiters = [:]
    }

    private func wake(_ id: Int, in waiters: inout [Int: CheckedContinuation<Void, Never>]) {
        waiters.removeValue(forKey: id)?.resume()
    }

    /// The oldest record no consumer has yet, and its payload; waits while there is none.
    /// `nil` once the queue is draining with nothing left to hand out, closed, or the
    /// calling task is cancelled.
    func next() async -> (entry: QueueEntry, payload: [UInt8])? {
        while true {
            if case .closed = state { return nil }
            if Task.isCancelled { return nil }
            if handedOut < entries.count {
                let entry = entries[handedOut]
                handedOut += 1
                if let record = unread.removeValue(forKey: entry) {
                    unreadBytes -= record.count
                    return (entry, Array(record[Self.headerSize...]))
                }
                if let payload = readPayload(entry) { return (entry, payload) }
                logger.error(
                    "exporter queue: a record no longer reads back intact, dropping it",
                    metadata: ["exporter": "\(exporter)", "segment": "\(entry.segment)", "offset": "\(entry.offset)"])
                metrics.dropped.increment()
                try? complete(entry)
                continue
            }
            if case .draining = state { return nil }
            let id = nextWaiterID
            nextWaiterID += 1
            await withTaskCancellationHandler {
                await withCheckedContinuation { recordWaiters[id] = $0 }
            } onCancel: {
                Task { await self.wakeRecordWaiter(id) }
            }
        }
    }

    private func wakeRecordWaiter(_ id: Int) {
        wake(id, in: &recordWaiters)
    }

    private func readPayload(_ entry: QueueEntry) -> [UInt8]? {
        let path = files.segmentPath(entry.segment)
        if readSegment?.number != entry.segment {
            if let old = readSegment { close(old.descriptor) }
            readSegment = nil
            let descriptor = open(path, O_RDONLY | O_CLOEXEC)
            guard descriptor >= 0 else { return nil }
            readSegment = (entry.segment, descriptor)
        }
        guard let descriptor = readSegment?.descriptor else { return nil }
        var bytes = [UInt8](repeating: 0, count: entry.length)
        var got = 0
        while got < entry.length {
            let result = bytes.withUnsafeMutableBytes { raw in
                pread(descriptor, raw.baseAddress! + got, raw.count - got, off_t(entry.offset + got))
            }
            if result < 0, errno == EINTR { continue }
            guard result > 0 else { return nil }
            got += result
        }
        guard QueueDirectory.validRecordLength(bytes, at: 0) == entry.length else { return nil }
        return Array(bytes[Self.headerSize...])
    }

    /// Marks a handed-out record as done (delivered or given up). Once every record
    /// before it is done too, moves the cursor past them and deletes the segments nothing
    /// points into any more.
    func complete(_ entry: QueueEntry) throws(ExportQueueError) {
        completed.insert(entry)
        let oldHead = head
        while head < handedOut, completed.remove(entries[head]) != nil {
            queuedBytes -= entries[head].length
            head += 1
        }
        guard head > oldHead else { return }
        if head > 1024, head * 2 > entries.count {
            entries.removeFirst(head)
            handedOut -= head
            head = 0
        }
        let tail = segments.last ?? 0
        let next = head < entries.count ? (entries[head].segment, entries[head].offset) : (tail, tailSize)
        try files.writeCursor(segment: next.0, offset: next.1, descriptor: &cursorDescriptor)
        while let first = segments.first, first < next.0 {
            segments.removeFirst()
            if readSegment?.number == first, let descriptor = readSegment?.descriptor {
                close(descriptor)
                readSegment = nil
            }
            unlink(files.segmentPath(first))
        }
        if reportedFull, queuedBytes < limits.maxBytes / 10 * 9, count < (limits.maxBatches ?? .max) {
            reportedFull = false
            metrics.queueFull.record(0)
            logger.info("exporter queue has room again", metadata: ["exporter": "\(exporter)"])
        }
        metrics.queueLength.record(count)
        metrics.queueBytes.record(queuedBytes)
    }

    // MARK: Life cycle

    /// Whether a delivery loop may start: one at a time, and not once the files are closed.
    func beginRun() -> Bool {
        if case .closed = state { return false }
        guard !running else { return false }
        running = true
        return true
    }

    func endRun() {
        running = false
        for waiter in runEndWaiters { waiter.resume() }
        runEndWaiters = []
    }

    /// Stops taking batches; the delivery loop goes on until `deadline` or until empty.
    /// Returns whether a delivery loop is running (and so worth waiting for).
    func beginDrain(deadline: ContinuousClock.Instant) -> Bool {
        if case .accepting = state { state = .draining(deadline: deadline) }
        wakeAll(&recordWaiters)
        wakeAll(&drainWaiters)
        return running
    }

    var drainDeadline: ContinuousClock.Instant? {
        if case .draining(let deadline) = state { return deadline }
        return nil
    }

    /// Returns once shutdown begins, or once the calling task is cancelled.
    func waitForDrain() async {
        guard case .accepting = state, !Task.isCancelled else { return }
        let id = nextWaiterID
        nextWaiterID += 1
        await withTaskCancellationHandler {
            await withCheckedContinuation { drainWaiters[id] = $0 }
        } onCancel: {
            Task { await self.wakeDrainWaiter(id) }
        }
    }

    private func wakeDrainWaiter(_ id: Int) {
        wake(id, in: &drainWaiters)
    }

    func waitForRunEnd() async {
        guard running else { return }
        await withCheckedContinuation { runEndWaiters.append($0) }
    }

    /// Closes the files; what is left stays on disk for the next start.
    func closeFiles() {
        sync()
        state = .closed
        wakeAll(&recordWaiters)
        wakeAll(&drainWaiters)
        if tailDescriptor >= 0 {
            _ = fsync(tailDescriptor)
            close(tailDescriptor)
            tailDescriptor = -1
        }
        if let segment = readSegment {
            close(segment.descriptor)
            readSegment = nil
        }
        if cursorDescriptor >= 0 {
            close(cursorDescriptor)
            cursorDescriptor = -1
        }
        if lockDescriptor >= 0 {
            close(lockDescriptor)
            lockDescriptor = -1
        }
    }
}

/// The files of one queue; every function works on the file system only, so that the
/// actor can recover in its initializer.
struct QueueDirectory: Sendable {
    let path: String
    let exporter: String

    struct Recovery {
        var entries: [QueueEntry]
        var segments: [UInt64]
        var tailSize: Int
        var tailDescriptor: Int32
        var lockDescriptor: Int32
    }

    func segmentPath(_ number: UInt64) -> String {
        let digits = String(number)
        return path + "/" + String(repeating: "0", count: max(0, 20 - digits.count)) + digits + ".seg"
    }

    var cursorPath: String { path + "/cursor" }

    func fail(_ operation: String, _ file: String) -> ExportQueueError {
        .io(exporter: exporter, operation: operation, path: file, errno: errno)
    }

    func readWholeFile(_ file: String) throws(ExportQueueError) -> [UInt8] {
        let descriptor = open(file, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw fail("open", file) }
        defer { close(descriptor) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            let got = chunk.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
            if got < 0 {
                if errno == EINTR { continue }
                throw fail("read", file)
            }
            if got == 0 { return bytes }
            bytes.append(contentsOf: chunk[0..<got])
        }
    }

    func writeAll(_ descriptor: Int32, _ bytes: [UInt8], at offset: Int, path file: String) throws(ExportQueueError) {
        do throws(PositionalIO.Failure) {
            try PositionalIO.write(descriptor, bytes[...], at: offset)
        } catch {
            throw .io(exporter: exporter, operation: "write", path: file, errno: error.errno)
        }
    }

    /// Makes a file's creation, rename or deletion durable.
    func syncDirectory() {
        let descriptor = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard descriptor >= 0 else { return }
        _ = fsync(descriptor)
        close(descriptor)
    }

    func openSegment(_ number: UInt64, create: Bool) throws(ExportQueueError) -> Int32 {
        let file = segmentPath(number)
        let descriptor = open(file, O_RDWR | O_CLOEXEC | (create ? O_CREAT : 0), 0o644)
        guard descriptor >= 0 else { throw fail("open", file) }
        if create { syncDirectory() }
        return descriptor
    }

    func readCursor(logger: Logger) -> (segment: UInt64, offset: Int)? {
        guard let bytes = try? readWholeFile(cursorPath), bytes.count == 20 else { return nil }
        guard CRC32.checksum(bytes[0..<16]) == UInt32(littleEndianBytes: bytes[16..<20]) else {
            logger.warning("exporter queue cursor is damaged; delivering from the oldest segment", metadata: ["exporter": "\(exporter)"])
            return nil
        }
        return (UInt64(littleEndianBytes: bytes[0..<8]), Int(UInt64(littleEndianBytes: bytes[8..<16])))
    }

    /// Writes the cursor over the old one, through `descriptor` (opened here when `-1`, and
    /// kept open by the caller).
    ///
    /// It used to be a new file renamed over the old: an open, a rename and a close per
    /// delivery, and on ext4 a rename over an existing file also starts writing the new
    /// one back to disk; that was about 3 % of the collector's CPU with an exporter on.
    /// Not synced either way: a cursor lost or torn in a power cut (a torn one fails its
    /// CRC) only makes the next start deliver the oldest segment's records again
    /// (at-least-once), while a sync per delivery would cap delivery at the disk's sync rate.
    func writeCursor(segment: UInt64, offset: Int, descriptor: inout Int32) throws(ExportQueueError) {
        var bytes: [UInt8] = []
        bytes.appendLittleEndian(segment)
        bytes.appendLittleEndian(UInt64(offset))
        bytes.appendLittleEndian(CRC32.checksum(bytes[...]))
        if descriptor < 0 {
            descriptor = open(cursorPath, O_WRONLY | O_CREAT | O_CLOEXEC, 0o644)
            guard descriptor >= 0 else { throw fail("open", cursorPath) }
        }
        try writeAll(descriptor, bytes, at: 0, path: cursorPath)
    }

    /// Finds the records after the cursor, truncating a torn tail, and opens the last
    /// segment for appending.
    func recover(logger: Logger) throws(ExportQueueError) -> Recovery {
        do {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        } catch {
            throw .io(exporter: exporter, operation: "create directory", path: path, errno: EACCES)
        }
        // Two processes appending to one queue would interleave records and deliver
        // twice; an advisory lock, released when its descriptor closes, keeps them apart.
        let lockPath = path + "/lock"
        let lockDescriptor = open(lockPath, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard lockDescriptor >= 0 else { throw fail("open", lockPath) }
        guard flock(lockDescriptor, LOCK_EX | LOCK_NB) == 0 else {
            close(lockDescriptor)
            throw .inUse(exporter: exporter, path: path)
        }
        do throws(ExportQueueError) {
            return try recoverRecords(lockDescriptor: lockDescriptor, logger: logger)
        } catch {
            close(lockDescriptor)
            throw error
        }
    }

    private func recoverRecords(lockDescriptor: Int32, logger: Logger) throws(ExportQueueError) -> Recovery {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
        var numbers = names.compactMap { name -> UInt64? in
            guard name.hasSuffix(".seg") else { return nil }
            return UInt64(name.dropLast(4))
        }.sorted()
        let cursor = readCursor(logger: logger) ?? (numbers.first ?? 1, 0)
        for number in numbers where number < cursor.segment {
            unlink(segmentPath(number))
        }
        numbers.removeAll { $0 < cursor.segment }
        var entries: [QueueEntry] = []
        var tailSize = 0
        for number in numbers {
            let file = segmentPath(number)
            let bytes = try readWholeFile(file)
            var position = number == cursor.segment ? min(cursor.offset, bytes.count) : 0
            while position < bytes.count {
                guard let length = Self.validRecordLength(bytes, at: position) else {
                    logger.warning(
                        "exporter queue: torn or damaged record after a crash, truncating the segment there",
                        metadata: ["exporter": "\(exporter)", "segment": "\(file)", "offset": "\(position)", "size": "\(bytes.count)"])
                    let descriptor = open(file, O_WRONLY | O_CLOEXEC)
                    guard descriptor >= 0 else { throw fail("open", file) }
                    defer { close(descriptor) }
                    guard ftruncate(descriptor, off_t(position)) == 0, fsync(descriptor) == 0 else {
                        throw fail("truncate", file)
                    }
                    break
                }
                entries.append(QueueEntry(segment: number, offset: position, length: length))
                position += length
            }
            tailSize = position
        }
        if let last = numbers.last {
            return Recovery(
                entries: entries, segments: numbers, tailSize: tailSize, tailDescriptor: try openSegment(last, create: false),
                lockDescriptor: lockDescriptor)
        }
        let first = cursor.offset > 0 ? cursor.segment + 1 : cursor.segment
        return Recovery(
            entries: [], segments: [first], tailSize: 0, tailDescriptor: try openSegment(first, create: true),
            lockDescriptor: lockDescriptor)
    }

    /// The length of the whole record at `position` if it is complete and its checksum
    /// matches: CRC-32C, or CRC-32 for a record an earlier version queued.
    static func validRecordLength(_ bytes: [UInt8], at position: Int) -> Int? {
        let headerSize = PersistentQueue.headerSize
        guard bytes.count - position >= headerSize else { return nil }
        let length = Int(UInt32(littleEndianBytes: bytes[position..<position + 4]))
        let checksum = UInt32(littleEndianBytes: bytes[position + 4..<position + 8])
        guard length > 0, bytes.count - position - headerSize >= length else { return nil }
        let payload = bytes[(position + headerSize)..<(position + headerSize + length)]
        guard CRC32C.checksum(payload) == checksum || CRC32.checksum(payload) == checksum else { return nil }
        return headerSize + length
    }
}

/// CRC-32 as in zlib and gzip (IEEE 802.3, reflected polynomial 0xEDB88320), eight bytes
/// a step ("slicing-by-8": eight tables, one per byte position of the step): the checksum
/// of the cursor file, and of the records of queues written before records carried
/// CRC-32C. Byte at a time it was a quarter of the collector's CPU with an exporter on,
/// when every record was checked with it when written and again when read.
enum CRC32 {
    /// `tables[k][b]`: the CRC of byte `b` followed by `k` zero bytes, flattened.
    static let tables: [UInt32] = {
        var tables = [UInt32](repeating: 0, count: 8 * 256)
        for index in 0..<256 {
            var value = UInt32(index)
            for _ in 0..<8 { value = value & 1 == 1 ? 0xEDB8_8320 ^ (value >> 1) : value >> 1 }
            tables[index] = value
        }
        for index in 0..<256 {
            for slice in 1..<8 {
                let previous = tables[(slice - 1) * 256 + index]
                tables[slice * 256 + index] = tables[Int(previous & 0xFF)] ^ (previous >> 8)
            }
        }
        return tables
    }()

    static func checksum(_ bytes: ArraySlice<UInt8>) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        bytes.withUnsafeBytes { bytes in
            tables.withUnsafeBufferPointer { table in
                let t = table.baseAddress!
                var position = 0
                let count = bytes.count
                while count - position >= 8 {
                    let word = UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: position, as: UInt64.self))
                    let low = UInt32(truncatingIfNeeded: word) ^ crc
                    let high = UInt32(truncatingIfNeeded: word >> 32)
                    crc = t[7 * 256 + Int(low & 0xFF)] ^ t[6 * 256 + Int((low >> 8) & 0xFF)]
                        ^ t[5 * 256 + Int((low >> 16) & 0xFF)] ^ t[4 * 256 + Int(low >> 24)]
                        ^ t[3 * 256 + Int(high & 0xFF)] ^ t[2 * 256 + Int((high >> 8) & 0xFF)]
                        ^ t[256 + Int((high >> 16) & 0xFF)] ^ t[Int(high >> 24)]
                    position += 8
                }
                while position < count {
                    crc = t[Int((crc ^ UInt32(bytes[position])) & 0xFF)] ^ (crc >> 8)
                    position += 1
                }
            }
        }
        return crc ^ 0xFFFF_FFFF
    }
}

extension [UInt8] {
    mutating func appendLittleEndian<T: FixedWidthInteger>(_ value: T) {
        Swift.withUnsafeBytes(of: value.littleEndian) { append(contentsOf: $0) }
    }
}

extension FixedWidthInteger {
    init(littleEndianBytes bytes: ArraySlice<UInt8>) {
        var value: Self = 0
        for (shift, byte) in bytes.enumerated() { value |= Self(byte) << (shift * 8) }
        self = value
    }
}
