import Foundation
import Logging
import NIOCore
import NIOPosix
import Telemetry

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Why the span segments could not be read or written.
package enum SpanStoreError: Error, CustomStringConvertible {
    case io(operation: String, path: String, errno: Int32)
    /// Another process (another collector on the same data directory) holds the segments.
    case inUse(path: String)

    package var description: String {
        switch self {
        case .io(let operation, let path, let errno):
            "span store: \(operation) \(path) failed: \(String(cString: strerror(errno))) (errno \(errno))"
        case .inUse(let path):
            "span store: \(path) is in use by another process; give each collector its own --data-dir"
        }
    }
}

/// The spans of the store, in append-only segment files under `DATA_DIR/collector/spans/`
/// (the format is in `SpanSegmentFormat`).
///
/// Each span was a SQLite row with six index entries, and one writer inserting into seven
/// B-trees on random keys topped out near 18k spans/s at a full core. Here a batch of
/// spans is one write of records to the current segment (`O_DIRECT` where the file system
/// takes it, see `DirectAppender`), whose index lives in memory until the segment is full
/// (`segmentBytes`); then its index is sorted and written beside it, and queries
/// binary-search it for a trace or a link target, and scan its entries for a search
/// (72 bytes a span, no bodies). Retention removes whole segments.
///
/// A span sent twice is kept once when the second copy arrives while the first is in the
/// current segment or the one sealed before it in this run (a client's retries come
/// within seconds); reads also drop duplicates, so an older copy is never shown twice.
///
/// The actor runs on a thread of its own: its reads and writes block on the disk, and a
/// blocked thread of Swift's cooperative pool (two threads on this machine) would stall
/// everything else.
package actor SpanSegments {
    static let diskThread = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    private let loop: any EventLoop
    nonisolated package var unownedExecutor: UnownedSerialExecutor { loop.executor.asUnownedSerialExecutor() }
    private var files: SpanSegmentFiles

    init(files: consuming sending SpanSegmentFiles) {
        self.loop = Self.diskThread.next()
        self.files = files
    }

    func releaseLock() { files.releaseLock() }

    /// Runs `body` on the segments, alone.
    func with<T: Sendable>(_ body: @Sendable (inout SpanSegmentFiles) throws(SpanStoreError) -> T) throws(SpanStoreError) -> T {
        try body(&files)
    }
}

/// A full segment: its file and its index file open for reading.
///
/// The index is read with `pread`, not mapped: mapped pages count in the collector's RSS
/// (the memory limit) for as long as they stay mapped, while the page cache behind `pread`
/// is the kernel's to reclaim.
///
/// `@unchecked Sendable`: every stored property is set once in `init`; the descriptors
/// are closed in `deinit`, when no query holds the segment any more.
final class SealedSpanSegment: @unchecked Sendable {
    let number: UInt64
    let descriptor: Int32
    let indexDescriptor: Int32
    let indexPath: String
    let header: SpanSegmentFormat.IndexHeader
    let stringIDs: [String: UInt32]
    /// Segment and index file.
    let byteCount: Int

    /// Opens segment `number` with its index; `nil` when the index is missing, damaged or
    /// not of this segment's length.
    init?(number: UInt64, segmentPath: String, indexPath: String) {
        let indexDescriptor = open(indexPath, O_RDONLY | O_CLOEXEC)
        guard indexDescriptor >= 0 else { return nil }
        let descriptor = open(segmentPath, O_RDONLY | O_CLOEXEC)
        let indexLength = Int(lseek(indexDescriptor, 0, SEEK_END))
        var head = [UInt8](repeating: 0, count: SpanSegmentFormat.indexHeaderSize)
        guard descriptor >= 0, indexLength >= head.count,
            (try? SpanSegmentFiles.readFully(indexDescriptor, into: &head, at: 0, path: indexPath)) == head.count,
            let counts = head.withUnsafeBytes({ SpanSegmentFormat.indexHeader($0, fileLength: indexLength) }),
            indexLength - counts.stringsOffset <= 1 << 30
        else {
            close(indexDescriptor)
            if descriptor >= 0 { close(descriptor) }
            return nil
        }
        var tail = [UInt8](repeating: 0, count: indexLength - counts.stringsOffset)
        guard (try? SpanSegmentFiles.readFully(indexDescriptor, into: &tail, at: counts.stringsOffset, path: indexPath)) == tail.count,
            let strings = tail.withUnsafeBytes({ SpanSegmentFormat.strings($0, count: counts.stringCount) }),
            counts.segmentBytes == Int(lseek(descriptor, 0, SEEK_END))
        else {
            close(indexDescriptor)
            close(descriptor)
            return nil
        }
        var header = counts
        header.strings = strings
        self.number = number
        self.descriptor = descriptor
        self.indexDescriptor = indexDescriptor
        self.indexPath = indexPath
        self.header = header
        self.stringIDs = Dictionary(strings.enumerated().map { ($0.element, UInt32($0.offset)) }, uniquingKeysWith: { first, _ in first })
        self.byteCount = indexLength + header.segmentBytes
    }

    deinit {
        close(indexDescriptor)
        close(descriptor)
    }

    var entryCount: Int { header.entryCount }

    private func read(_ count: Int, at offset: Int) throws(SpanStoreError) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        guard try SpanSegmentFiles.readFully(indexDescriptor, into: &bytes, at: offset, path: indexPath) == count else {
            throw .io(operation: "read", path: indexPath, errno: EIO)
        }
        return bytes
    }

    func entry(at position: Int) throws(SpanStoreError) -> SpanEntry {
        let bytes = try read(SpanSegmentFormat.entrySize, at: header.entriesOffset + position * SpanSegmentFormat.entrySize)
        return bytes.withUnsafeBytes { SpanSegmentFormat.entry(in: $0, at: 0) }
    }

    func link(at position: Int) throws(SpanStoreError) -> LinkEntry {
        let bytes = try read(SpanSegmentFormat.indexLinkSize, at: header.linksOffset + position * SpanSegmentFormat.indexLinkSize)
        return bytes.withUnsafeBytes { SpanSegmentFormat.link(in: $0, at: 0) }
    }

    /// Every entry, read in one go, in index order.
    func entries() throws(SpanStoreError) -> [SpanEntry] {
        let bytes = try read(entryCount * SpanSegmentFormat.entrySize, at: header.entriesOffset)
        return bytes.withUnsafeBytes { raw in
            (0..<entryCount).map { SpanSegmentFormat.entry(in: raw, at: $0 * SpanSegmentFormat.entrySize) }
        }
    }

    /// The positions of the entries of `traceID` (entries are sorted by trace and span).
    func entries(of traceID: TraceID) throws(SpanStoreError) -> Range<Int> {
        let first = try partitionPoint(count: entryCount) { (position) throws(SpanStoreError) in try entry(at: position).traceID >= traceID }
        let end = try partitionPoint(count: entryCount, from: first) { (position) throws(SpanStoreError) in try entry(at: position).traceID > traceID }
        return first..<end
    }

    /// The positions of the links to `target` (links are sorted by target).
    func links(to target: StoredSpanKey) throws(SpanStoreError) -> Range<Int> {
        let count = header.linkCount
        let first = try partitionPoint(count: count) { (position) throws(SpanStoreError) in try link(at: position).target >= target }
        let end = try partitionPoint(count: count, from: first) { (position) throws(SpanStoreError) in try link(at: position).target > target }
        return first..<end
    }
}

/// An advisory lock on a directory's `lock` file, held while this lives or until
/// `release()`: two processes appending to one segment would interleave their records.
final class DirectoryLock {
    private let descriptor: Int32

    init(_ directory: String) throws(SpanStoreError) {
        let path = directory + "/lock"
        let descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { throw .io(operation: "open", path: path, errno: errno) }
        guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else {
            close(descriptor)
            throw .inUse(path: directory)
        }
        self.descriptor = descriptor
    }

    /// Lets another store open the directory before this one is gone (a collector run
    /// again in the same process, while the last references to the old store are let go).
    func release() { flock(descriptor, LOCK_UN) }

    deinit { close(descriptor) }
}

/// The first position in `from..<count` for which `isAfter` holds, `isAfter` being false
/// then true along the range.
private func partitionPoint(count: Int, from start: Int = 0, _ isAfter: (Int) throws(SpanStoreError) -> Bool) throws(SpanStoreError) -> Int {
    var low = start
    var high = count
    while low < high {
        let middle = low + (high - low) / 2
        if try isAfter(middle) { high = middle } else { low = middle + 1 }
    }
    return low
}

/// The segment being written: its index in memory.
struct ActiveSpanSegment {
    let number: UInt64
    /// Read and truncated through this; written through `appender` where the file system
    /// takes direct I/O.
    let descriptor: Int32
    var appender: DirectAppender?
    /// Bytes of whole records in the file.
    var size = 0
    var entries: [SpanEntry] = []
    /// Sources are positions in `entries`.
    var links: [LinkEntry] = []
    /// Services and operation names, numbered in the order first seen (the index's strings).
    var strings = InternedStrings()
    var keys = SpanIndex()
    var minStart = Int64.max
    var maxStart = Int64.min

    func stringID(of string: String) -> UInt32? {
        strings.ids[string].map { UInt32($0) }
    }

    /// Indexes a record whose body starts at `bodyOffset` of the file; its key too unless
    /// the caller put it in `keys` already (for the duplicate check).
    mutating func add(_ record: SpanSegmentFormat.Record, bodyOffset: Int, keyIndexed: Bool = false) {
        let position = UInt32(entries.count)
        entries.append(SpanEntry(
            traceID: record.key.traceID, spanID: record.key.spanID, parentSpanID: record.parentSpanID,
            startNanos: record.startNanos, durationNanos: record.durationNanos,
            bodyOffset: UInt64(bodyOffset), bodyLength: UInt32(record.bodyLength),
            service: UInt32(strings.intern(record.service)), operation: UInt32(strings.intern(record.operation)),
            status: record.status, kind: record.kind))
        for target in record.links { links.append(LinkEntry(target: target, source: position)) }
        if !keyIndexed { keys.insertIfAbsent(record.key.indexKey, 0) }
        minStart = min(minStart, record.startNanos)
        maxStart = max(maxStart, record.startNanos)
    }
}

/// The last few keys seen, searched before a hash table: a span's operation is mostly
/// among those of the spans just before it, and comparing with a handful costs less than
/// hashing (SipHash over every byte of its service and name); with the service and
/// operation strings, hashing was 4 % of the collector's CPU in storing spans.
struct RecentKeys<Key: Equatable> {
    static var capacity: Int { 8 }
    private var keys: [Key] = []
    private var next = 0

    func contains(_ key: Key) -> Bool { keys.contains(key) }

    /// Keeps `key`, in place of the one kept longest ago once full.
    mutating func insert(_ key: Key) {
        if keys.count < Self.capacity {
            keys.append(key)
        } else {
            keys[next] = key
            next = (next + 1) % Self.capacity
        }
    }
}

/// The arrays sealing builds, kept from one segment to the next: built new each time,
/// megabytes each at the default segment size, their pages were faulted in and zeroed by
/// the kernel for every segment (with the active segment's own arrays, which are reused
/// the same way, 4 % of the collector's CPU).
private struct SealScratch {
    var keyed: [(key: StoredSpanKey, position: Int)] = []
    var keyedSorting: [(key: StoredSpanKey, position: Int)] = []
    var linksSorting: [LinkEntry] = []
    var buckets: [Int] = []
    var newPosition: [UInt32] = []
    var entries: [SpanEntry] = []
    var links: [LinkEntry] = []
    var index: [UInt8] = []
}

/// Sealed segments and the active one, with what queries need of them.
package struct SpanSegmentFiles {
    let directory: String
    /// A segment is sealed once it holds this many bytes.
    let segmentBytes: Int
    /// The most bytes the segments may hold: past it, sealing a segment removes the oldest.
    let maxBytes: Int
    private let logger: Logger
    private let lock: DirectoryLock
    /// Releases the directory's lock: nothing may be appended after this.
    func releaseLock() { lock.release() }
    private(set) var sealed: [SealedSpanSegment] = []
    private(set) var active: ActiveSpanSegment
    /// The span keys of the segment sealed last, for the duplicate check (kept in memory
    /// rather than read from its index file for every span).
    private var previousKeys = SpanIndex()
    /// Services and operations seen since the store opened: only new ones go to SQLite.
    private var knownServices: Set<String> = []
    private var knownOperations: Set<OperationKey> = []
    /// The bytes of the batch being appended, kept between batches: a buffer allocated
    /// for every batch costs a page fault for every 4 KiB written to it.
    private var appendBuffer: [UInt8] = []
    /// The most bytes one append wrote, so far: what `appendBuffer` is kept large enough
    /// for, so that it is not moved while a batch is encoded into it.
    private var largestAppend = 256 << 10
    /// After a failed seal, the size the active segment must reach before sealing is tried
    /// again: every try sorts and indexes the whole segment, too much to repeat per batch
    /// while a disk stays full.
    private var sealRetrySize = 0
    private var scratch = SealScratch()
    /// The sum of the slots `touchKeys` loaded: kept only so that those loads are done.
    private var touchedSlots: Int32 = 0

    func segmentPath(_ number: UInt64) -> String { path(number, "spans") }
    func indexPath(_ number: UInt64) -> String { path(number, "index") }

    private func path(_ number: UInt64, _ suffix: String) -> String {
        let digits = String(number)
        return directory + "/" + String(repeating: "0", count: max(0, 12 - digits.count)) + digits + "." + suffix
    }

    /// Opens the segments in `directory`, indexing again any full segment whose index is
    /// missing or damaged and truncating a torn record at the end of the last one.
    init(directory: String, segmentBytes: Int, maxBytes: Int, logger: Logger) throws(SpanStoreError) {
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw .io(operation: "create directory", path: directory, errno: EACCES)
        }
        self.directory = directory
        self.segmentBytes = segmentBytes
        self.maxBytes = maxBytes
        self.logger = logger
        self.lock = try DirectoryLock(directory)
        let numbers = ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).compactMap { name -> UInt64? in
            guard name.hasSuffix(".spans") else { return nil }
            return UInt64(name.dropLast(6))
        }.sorted()
        // A placeholder until the last segment is read; replaced below.
        active = ActiveSpanSegment(number: 0, descriptor: -1)
        var recovered: ActiveSpanSegment?
        for (position, number) in numbers.enumerated() {
            if let segment = SealedSpanSegment(number: number, segmentPath: segmentPath(number), indexPath: indexPath(number)) {
                sealed.append(segment)
                continue
            }
            var segment = try Self.read(segmentPath(number), number: number, logger: logger)
            if position == numbers.count - 1, segment.size < segmentBytes {
                recovered = segment
            } else {
                try seal(&segment)
            }
        }
        if let recovered {
            active = recovered
        } else {
            let next = (numbers.last ?? 0) + 1
            active = try Self.create(segmentPath(next), number: next)
        }
    }

    private static func create(_ path: String, number: UInt64) throws(SpanStoreError) -> ActiveSpanSegment {
        let descriptor = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { throw .io(operation: "create", path: path, errno: errno) }
        return ActiveSpanSegment(number: number, descriptor: descriptor, appender: DirectAppender(path: path, tail: []))
    }

    /// Reads a segment's records into an active segment, truncating the file after the
    /// last whole record.
    private static func read(_ path: String, number: UInt64, logger: Logger) throws(SpanStoreError) -> ActiveSpanSegment {
        let descriptor = open(path, O_RDWR | O_CLOEXEC)
        guard descriptor >= 0 else { throw .io(operation: "open", path: path, errno: errno) }
        var segment = ActiveSpanSegment(number: number, descriptor: descriptor)
        let size = lseek(descriptor, 0, SEEK_END)
        guard size >= 0 else { throw .io(operation: "seek", path: path, errno: errno) }
        var bytes = [UInt8](repeating: 0, count: Int(size))
        let got = try readFully(descriptor, into: &bytes, at: 0, path: path)
        bytes.withUnsafeBytes { raw in
            let raw = UnsafeRawBufferPointer(rebasing: raw[0..<got])
            var offset = 0
            while let record = SpanSegmentFormat.record(in: raw, at: offset) {
                segment.add(record, bodyOffset: record.bodyOffset)
                offset += record.length
            }
            segment.size = offset
        }
        if segment.size < got {
            // Zeros are the padding of direct writes up to a block boundary, left by a stop
            // before the segment was truncated to its records; anything else is torn.
            if !bytes[segment.size..<got].allSatisfy({ $0 == 0 }) {
                logger.warning("span segment ends in a torn record (a crash while writing); truncated after the last whole record", metadata: [
                    "path": "\(path)", "kept_bytes": "\(segment.size)", "dropped_bytes": "\(got - segment.size)",
                ])
            }
            guard ftruncate(descriptor, off_t(segment.size)) == 0 else { throw .io(operation: "truncate", path: path, errno: errno) }
        }
        let blockStart = segment.size / DirectAppender.block * DirectAppender.block
        segment.appender = DirectAppender(path: path, tail: Array(bytes[blockStart..<segment.size]))
        return segment
    }

    /// Sorts the segment's index, writes it beside the segment and keeps the segment as
    /// sealed.
    private mutating func seal(_ segment: inout ActiveSpanSegment) throws(SpanStoreError) {
        segment.appender = nil
        // Direct writes leave zeros up to a block boundary.
        guard ftruncate(segment.descriptor, off_t(segment.size)) == 0 else {
            throw .io(operation: "truncate", path: segmentPath(segment.number), errno: errno)
        }
        // Keys sorted beside their positions, laid end to end: sorting positions compared
        // two scattered 72-byte entries each time, and was 5 % of the collector's CPU
        // without the stitcher.
        scratch.keyed.removeAll(keepingCapacity: true)
        for (position, entry) in segment.entries.enumerated() { scratch.keyed.append((entry.key, position)) }
        BucketSort.sort(&scratch.keyed, scratch: &scratch.keyedSorting, counts: &scratch.buckets, leading: { $0.key.traceID.high }) { $0.key < $1.key }
        scratch.newPosition.removeAll(keepingCapacity: true)
        scratch.newPosition.append(contentsOf: repeatElement(0, count: scratch.keyed.count))
        scratch.entries.removeAll(keepingCapacity: true)
        for (new, keyed) in scratch.keyed.enumerated() {
            scratch.newPosition[keyed.position] = UInt32(new)
            scratch.entries.append(segment.entries[keyed.position])
        }
        scratch.links.removeAll(keepingCapacity: true)
        for link in segment.links { scratch.links.append(LinkEntry(target: link.target, source: scratch.newPosition[Int(link.source)])) }
        BucketSort.sort(&scratch.links, scratch: &scratch.linksSorting, counts: &scratch.buckets, leading: { $0.target.traceID.high }) {
            ($0.target.traceID.high, $0.target.traceID.low, $0.target.spanID, $0.source)
                < ($1.target.traceID.high, $1.target.traceID.low, $1.target.spanID, $1.source)
        }
        SpanSegmentFormat.index(
            entries: scratch.entries, links: scratch.links, strings: segment.strings.values,
            minStart: segment.entries.isEmpty ? 0 : segment.minStart, maxStart: segment.entries.isEmpty ? 0 : segment.maxStart,
            segmentBytes: segment.size, into: &scratch.index)
        let bytes = scratch.index
        let path = indexPath(segment.number)
        let temporary = path + ".tmp"
        let descriptor = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { throw .io(operation: "create", path: temporary, errno: errno) }
        defer { close(descriptor) }
        // Directly, as the records are: an index is a tenth of its segment's bytes, and
        // copying it into the page cache cost more than all the rest of sealing.
        if let appender = DirectAppender(path: temporary, tail: []), (try? appender.append(bytes[...], at: 0)) != nil {
            guard ftruncate(descriptor, off_t(bytes.count)) == 0 else { throw .io(operation: "truncate", path: temporary, errno: errno) }
        } else {
            try Self.writeFully(descriptor, bytes[...], at: 0, path: temporary)
        }
        // Not synced: an index lost or torn in a power cut fails its checks on the next
        // start and is built again from the segment's records.
        guard rename(temporary, path) == 0 else { throw .io(operation: "rename", path: temporary, errno: errno) }
        // Opened before the segment's descriptor is closed: a failure leaves it unsealed
        // (its index removed) and still writable.
        guard let opened = SealedSpanSegment(number: segment.number, segmentPath: segmentPath(segment.number), indexPath: path) else {
            let failure = errno
            unlink(path)
            throw .io(operation: "map", path: path, errno: failure)
        }
        close(segment.descriptor)
        sealed.append(opened)
    }

    // MARK: Writing

    /// What an append added.
    package struct Appended: Sendable {
        var written = 0
        /// Services and operations not seen before.
        var services: Set<String> = []
        var operations: Set<OperationKey> = []
    }

    /// Loads the key index buckets (the previous segment's and this one's) that appending
    /// `batches` will probe, so that their cache misses overlap instead of coming one by one.
    private mutating func touchKeys(of batches: [ExportTraceServiceRequest]) {
        var touched: Int32 = 0
        for traces in batches {
            for resourceSpans in traces.resourceSpans {
                for scopeSpans in resourceSpans.scopeSpans {
                    scopeSpans.spans.withUnsafeBufferPointer { spans in
                        for position in spans.indices {
                            let key = StoredSpanKey(traceID: spans[position].traceID, spanID: spans[position].spanID.value).indexKey
                            touched &+= previousKeys.touch(key) &+ active.keys.touch(key)
                        }
                    }
                }
            }
        }
        touchedSlots &+= touched
    }

    /// Appends the spans of `batches` not already stored, in one write.
    mutating func append(_ batches: [ExportTraceServiceRequest]) throws(SpanStoreError) -> Appended {
        var appended = Appended()
        var buffer: [UInt8] = []
        swap(&buffer, &appendBuffer)
        defer {
            buffer.removeAll(keepingCapacity: true)
            swap(&buffer, &appendBuffer)
        }
        var records: [(record: SpanSegmentFormat.Record, bodyOffset: Int)] = []
        let prepared = active.appender?.prepare(&buffer, expecting: largestAppend)
        let prefix = prepared ?? 0
        // Keys go into the segment's index as they are seen (which also drops a span twice
        // in one batch), and come out again if the write fails.
        var pending: [SpanKey] = []
        var lastService: String?
        var recentOperations = RecentKeys<OperationKey>()
        touchKeys(of: batches)
        for traces in batches {
            traces.forEachSpanRequest { resourceSpans, span, body in
                let key = StoredSpanKey(traceID: span.pointee.traceID, spanID: span.pointee.spanID.value)
                let indexKey = key.indexKey
                guard previousKeys[indexKey] == nil, active.keys.insertIfAbsent(indexKey, 0) else { return }
                pending.append(indexKey)
                let service = resourceSpans.resource?.serviceName ?? "unknown_service"
                let links = span.pointee.links.map { StoredSpanKey(traceID: $0.traceID, spanID: $0.spanID.value) }
                let record = SpanSegmentFormat.Record(
                    key: key, parentSpanID: span.pointee.parentSpanID?.value ?? 0,
                    startNanos: Int64(clamping: span.pointee.startTimeUnixNano), durationNanos: Int64(clamping: span.pointee.durationNanos),
                    status: UInt8(truncatingIfNeeded: span.pointee.status.code.rawValue), kind: UInt8(truncatingIfNeeded: span.pointee.kind.rawValue),
                    service: service, operation: span.pointee.name, links: links, bodyOffset: 0, bodyLength: body.count, length: 0)
                records.append((record, SpanSegmentFormat.appendRecord(record, body: body, to: &buffer)))
                if service != lastService {
                    lastService = service
                    if !knownServices.contains(service) { appended.services.insert(service) }
                }
                let operation = OperationKey(service: service, name: span.pointee.name, kind: span.pointee.kind.rawValue)
                if !recentOperations.contains(operation) {
                    recentOperations.insert(operation)
                    if !knownOperations.contains(operation) { appended.operations.insert(operation) }
                }
            }
        }
        do {
            largestAppend = max(largestAppend, buffer.count - prefix)
            try add(records, bytes: &buffer, prepared: prepared, keysIndexed: true)
        } catch {
            for key in pending { active.keys.remove(key) }
            throw error
        }
        appended.written = records.count
        knownServices.formUnion(appended.services)
        knownOperations.formUnion(appended.operations)
        return appended
    }

    /// Appends records already encoded in `bytes` (with each body's position in it) and
    /// indexes them once written; seals the segment when it is full.
    mutating func add(
        _ records: [(record: SpanSegmentFormat.Record, bodyOffset: Int)], bytes: [UInt8], keysIndexed: Bool = false
    ) throws(SpanStoreError) {
        var bytes = bytes
        try add(records, bytes: &bytes, prepared: nil, keysIndexed: keysIndexed)
    }

    /// `add`, for records encoded after the `prepared` prefix the appender's `prepare` made
    /// in `bytes` (positions count from the buffer's start), written from the buffer.
    private mutating func add(
        _ records: [(record: SpanSegmentFormat.Record, bodyOffset: Int)], bytes: inout [UInt8], prepared: Int?, keysIndexed: Bool
    ) throws(SpanStoreError) {
        guard !records.isEmpty else { return }
        let prefix = prepared ?? 0
        do throws(DirectWriteError) {
            if let prepared {
                try active.appender?.appendPrepared(&bytes, prefix: prepared, at: active.size)
            } else {
                try active.appender?.append(bytes[...], at: active.size)
            }
        } catch {
            logger.warning("direct write to a span segment failed; writing through the page cache from now on", metadata: [
                "path": "\(segmentPath(active.number))", "error": "\(String(cString: strerror(error.errno)))",
            ])
            active.appender = nil
        }
        if active.appender == nil {
            try Self.writeFully(active.descriptor, bytes[prefix...], at: active.size, path: segmentPath(active.number))
        }
        for (record, bodyOffset) in records { active.add(record, bodyOffset: active.size + bodyOffset - prefix, keyIndexed: keysIndexed) }
        active.size += bytes.count - prefix
        guard active.size >= max(segmentBytes, sealRetrySize) else { return }
        // The records are written and indexed: a failed seal must not refuse them (the
        // sender would send them again). The segment is written on and sealed once sealing
        // works again, tried each time it has grown by an eighth of a segment.
        do {
            try sealActive()
            sealRetrySize = 0
        } catch {
            sealRetrySize = active.size + segmentBytes / 8
            logger.error("cannot seal a full span segment; writing on to it and sealing it with a later batch", metadata: [
                "path": "\(segmentPath(active.number))", "bytes": "\(active.size)", "error": "\(error)",
            ])
        }
    }

    /// Forgets what was seen so that the next append writes services and operations again
    /// (after a failed SQLite write).
    mutating func forgetNames(_ appended: Appended) {
        knownServices.subtract(appended.services)
        knownOperations.subtract(appended.operations)
    }

    private mutating func sealActive() throws(SpanStoreError) {
        var segment = active
        let nextPath = segmentPath(segment.number + 1)
        let next = try Self.create(nextPath, number: segment.number + 1)
        do {
            try seal(&segment)
        } catch {
            // The segment stays active, to be sealed at the next append; the file made for
            // its successor goes, or every failed attempt would keep a descriptor open.
            close(next.descriptor)
            unlink(nextPath)
            throw error
        }
        active = next
        // The new segment fills to about the old one's size: it takes over the old arrays
        // and the key index before last, emptied, instead of growing new ones.
        var recycledKeys = SpanIndex()
        swap(&recycledKeys, &previousKeys)
        previousKeys = segment.keys
        recycledKeys.removeAll()
        active.keys = recycledKeys
        segment.entries.removeAll(keepingCapacity: true)
        swap(&active.entries, &segment.entries)
        segment.links.removeAll(keepingCapacity: true)
        swap(&active.links, &segment.links)
        // At 100k spans/s a gibibyte of spans is written in seconds, far within the
        // retention sweep's interval: the size bound is kept as segments fill.
        while byteCount > maxBytes, sealed.count > 1 { remove(sealed[0]) }
    }

    // MARK: Retention

    var spanCount: Int { sealed.reduce(active.entries.count) { $0 + $1.entryCount } }
    var byteCount: Int { sealed.reduce(active.size) { $0 + $1.byteCount } }

    /// Removes the segments whose spans all start before `cutoff`.
    mutating func removeSegments(startingBefore cutoff: Int64) throws(SpanStoreError) {
        // Segments are in arrival order, so a late span can keep an older one: look at all.
        for segment in sealed where segment.header.maxStart < cutoff { remove(segment) }
        if !active.entries.isEmpty, active.maxStart < cutoff { try replaceActive() }
    }

    /// Removes the oldest segments holding at least `fraction` of the spans' bytes (at
    /// least one); the segment being written only when no other is left.
    mutating func removeOldest(fraction: Double) throws(SpanStoreError) {
        let target = Int(Double(byteCount) * fraction)
        var removed = 0
        repeat {
            guard let oldest = sealed.first else {
                if !active.entries.isEmpty { try replaceActive() }
                return
            }
            removed += oldest.byteCount
            remove(oldest)
        } while removed < target
    }

    private mutating func remove(_ segment: SealedSpanSegment) {
        sealed.removeAll { $0 === segment }
        previousKeys = SpanIndex()
        unlink(indexPath(segment.number))
        unlink(segmentPath(segment.number))
    }

    private mutating func replaceActive() throws(SpanStoreError) {
        let old = active
        previousKeys = SpanIndex()
        active = try Self.create(segmentPath(old.number + 1), number: old.number + 1)
        close(old.descriptor)
        unlink(segmentPath(old.number))
    }

    // MARK: Files

    static func writeFully(_ descriptor: Int32, _ bytes: ArraySlice<UInt8>, at offset: Int, path: String) throws(SpanStoreError) {
        do throws(PositionalIO.Failure) {
            try PositionalIO.write(descriptor, bytes, at: offset)
        } catch {
            throw .io(operation: "write", path: path, errno: error.errno)
        }
    }

    /// Reads up to `bytes.count` bytes from `offset`; returns how many there were.
    static func readFully(_ descriptor: Int32, into bytes: inout [UInt8], at offset: Int, path: String) throws(SpanStoreError) -> Int {
        do throws(PositionalIO.Failure) {
            return try PositionalIO.read(descriptor, into: &bytes, at: offset)
        } catch {
            throw .io(operation: "read", path: path, errno: error.errno)
        }
    }
}
