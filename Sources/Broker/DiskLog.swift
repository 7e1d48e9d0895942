import Foundation
import KafkaWire
import Logging
import NIOCore

#if canImport(Glibc)
import Glibc
#endif

/// How partition logs are kept on disk.
package struct StorageOptions: Sendable {
    /// Roll to a new segment file once the active one reaches this size.
    package var segmentBytes: Int = 64 << 20
    /// Delete whole segments whose newest record is older than this (nil: keep forever).
    package var retentionMs: Int64? = 7 * 24 * 3600 * 1000
    /// Delete the oldest segments while a partition is larger than this (nil: no limit).
    package var retentionBytes: Int64?
    /// 0: fsync after every appended batch, before the producer is acknowledged.
    /// N > 0: fsync every N ms.
    package var flushIntervalMs: Int = 0
    /// One entry in the sparse offset index per this many log bytes.
    package var indexIntervalBytes: Int = 4096

    package init() {}
}

/// Partition logs as segment files: `<data-dir>/logs/<topic>-<partition>/<base offset>.log`
/// holding record batches exactly as served, each with a sparse `.index` of
/// (relative offset, file position) pairs, both big-endian Int32.
///
/// Owned by `TopicStore`, which calls it only from its own isolation.
final class DiskLog {
    private struct Segment {
        var baseOffset: Int64
        var url: URL
        var size: Int
        var maxTimestamp: Int64
        var bytesSinceIndexEntry = 0
    }

    private struct Active {
        var segments: [Segment]
        var handle: FileHandle
        var indexHandle: FileHandle
        var dirty = false
    }

    let root: URL
    let options: StorageOptions
    private let logger: Logger
    private var partitions: [TopicPartition: Active] = [:]
    private var readers: [URL: FileHandle] = [:]

    init(dataDirectory: URL, options: StorageOptions, logger: Logger) throws {
        root = dataDirectory.appendingPathComponent("logs", isDirectory: true)
        self.options = options
        self.logger = logger
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
    }

    private static func fileName(_ offset: Int64, _ suffix: String) -> String {
        let digits = String(offset)
        return String(repeating: "0", count: max(0, 20 - digits.count)) + digits + suffix
    }

    private func directory(_ tp: TopicPartition) -> URL {
        root.appendingPathComponent("\(tp.topic)-\(tp.partition)", isDirectory: true)
    }

    func createTopic(_ topic: String, partitions count: Int) throws {
        for index in 0..<count {
            let tp = TopicPartition(topic: topic, partition: Int32(index))
            try FileManager.default.createDirectory(at: directory(tp), withIntermediateDirectories: true)
            try openPartition(tp, segments: [])
        }
    }

    private func openPartition(_ tp: TopicPartition, segments: [Segment]) throws {
        var segments = segments
        if segments.isEmpty {
            let url = directory(tp).appendingPathComponent(Self.fileName(0, ".log"))
            _ = FileManager.default.createFile(atPath: url.path, contents: nil)
            segments = [Segment(baseOffset: 0, url: url, size: 0, maxTimestamp: -1)]
        }
        let last = segments[segments.count - 1]
        let indexURL = last.url.deletingPathExtension().appendingPathExtension("index")
        if !FileManager.default.fileExists(atPath: indexURL.path) {
            _ = FileManager.default.createFile(atPath: indexURL.path, contents: nil)
        }
        let handle = try FileHandle(forWritingTo: last.url)
        try handle.seekToEnd()
        let indexHandle = try FileHandle(forWritingTo: indexURL)
        try indexHandle.seekToEnd()
        partitions[tp] = Active(segments: segments, handle: handle, indexHandle: indexHandle)
    }

    /// Reads every partition back. The last segment of each is cut at the first batch that
    /// is incomplete or fails its CRC: a torn write of a crash, never acknowledged when
    /// flushing every batch.
    func recover() throws -> [String: [PartitionLog]] {
        var found: [String: [Int32: PartitionLog]] = [:]
        let entries = try FileManager.default.contentsOfDirectory(at: root, includingPropertiesForKeys: nil)
        for entry in entries {
            let name = entry.lastPathComponent
            guard let dash = name.lastIndex(of: "-"), let partition = Int32(name[name.index(after: dash)...]) else { continue }
            let tp = TopicPartition(topic: String(name[..<dash]), partition: partition)
            let files = try FileManager.default.contentsOfDirectory(at: entry, includingPropertiesForKeys: nil)
                .filter { $0.pathExtension == "log" }
                .sorted { $0.lastPathComponent < $1.lastPathComponent }
            var log = PartitionLog()
            var segments: [Segment] = []
            for (position, file) in files.enumerated() {
                let data = try Data(contentsOf: file)
                var buffer = ByteBuffer(bytes: data)
                var good = 0
                var segmentMax: Int64 = -1
                while buffer.readableBytes > 0 {
                    guard buffer.readableBytes >= RecordBatch.logOverhead,
                        let length = buffer.getInteger(at: buffer.readerIndex + 8, as: Int32.self),
                        length > 0, Int(length) + RecordBatch.logOverhead <= buffer.readableBytes,
                        let batch = try? RecordBatch(buffer.getSlice(at: buffer.readerIndex, length: Int(length) + RecordBatch.logOverhead)!)
                    else { break }
                    buffer.moveReaderIndex(forwardBy: batch.size)
                    if log.batches.isEmpty { log.logStartOffset = batch.baseOffset }
                    log.append(StoredBatch(batch, keepingBytes: false, segment: Int64(file.deletingPathExtension().lastPathComponent) ?? 0, position: good))
                    segmentMax = max(segmentMax, batch.maxTimestamp)
                    good += batch.size
                }
                if good < data.count {
                    if position == files.count - 1 {
                        logger.warning("truncating torn tail of segment", metadata: [
                            "partition": "\(tp)", "segment": "\(file.lastPathComponent)", "kept_bytes": "\(good)", "dropped_bytes": "\(data.count - good)",
                        ])
                        let handle = try FileHandle(forWritingTo: file)
                        try handle.truncate(atOffset: UInt64(good))
                        try handle.synchronize()
                        try handle.close()
                    } else {
                        logger.error("corrupt batch inside a closed segment; later batches of it are skipped", metadata: ["partition": "\(tp)", "segment": "\(file.lastPathComponent)"])
                    }
                }
                let base = Int64(file.deletingPathExtension().lastPathComponent) ?? log.nextOffset
                segments.append(Segment(baseOffset: base, url: file, size: good, maxTimestamp: segmentMax))
            }
            if log.batches.isEmpty, let first = segments.first { log.logStartOffset = first.baseOffset; log.nextOffset = segments.last!.baseOffset }
            try openPartition(tp, segments: segments)
            found[tp.topic, default: [:]][tp.partition] = log
        }
        var result: [String: [PartitionLog]] = [:]
        for (topic, byIndex) in found {
            let count = (byIndex.keys.max() ?? -1) + 1
            result[topic] = (0..<count).map { byIndex[$0] ?? PartitionLog() }
        }
        return result
    }

    /// Writes the batches at the end of the active segment; returns where each went.
    func append(_ batches: [RecordBatch], to tp: TopicPartition) throws -> [(segment: Int64, position: Int)] {
        guard var active = partitions[tp] else { throw DiskLogError.unknownPartition(tp) }
        var locations: [(segment: Int64, position: Int)] = []
        for batch in batches {
            if active.segments[active.segments.count - 1].size >= options.segmentBytes {
                try roll(&active, tp: tp, at: batch.baseOffset)
            }
            var segment = active.segments[active.segments.count - 1]
            if segment.bytesSinceIndexEntry >= options.indexIntervalBytes || segment.size == 0 {
                var entry = ByteBuffer()
                entry.writeInteger(Int32(batch.baseOffset - segment.baseOffset))
                entry.writeInteger(Int32(segment.size))
                try Self.write(entry, to: active.indexHandle)
                segment.bytesSinceIndexEntry = 0
            }
            locations.append((segment.baseOffset, segment.size))
            try Self.write(batch, to: active.handle)
            segment.size += batch.size
            segment.bytesSinceIndexEntry += batch.size
            segment.maxTimestamp = max(segment.maxTimestamp, batch.maxTimestamp)
            active.segments[active.segments.count - 1] = segment
        }
        if options.flushIntervalMs == 0 {
            try active.handle.synchronize()
        } else {
            active.dirty = true
        }
        partitions[tp] = active
        return locations
    }

    /// Writes the whole buffer at the file's position, straight from the buffer's memory:
    /// `FileHandle.write(contentsOf:)` would want a `Data` copy of every batch first.
    private static func write(_ bytes: ByteBuffer, to handle: FileHandle) throws {
        let descriptor = handle.fileDescriptor
        try bytes.withUnsafeReadableBytes { raw in
            var done = 0
            while done < raw.count {
                let written = Glibc.write(descriptor, raw.baseAddress! + done, raw.count - done)
                if written < 0 {
                    if errno == EINTR { continue }
                    throw DiskLogError.writeFailed(errno: errno)
                }
                done += written
            }
        }
    }

    /// Writes a batch with `batch.baseOffset` in its first eight bytes, whatever those
    /// bytes hold in `batch.bytes` (the producer's placeholder): one `writev(2)` of the
    /// offset and the rest of the batch, so the batch is never copied to set its offset.
    private static func write(_ batch: RecordBatch, to handle: FileHandle) throws {
        let descriptor = handle.fileDescriptor
        var offset = batch.baseOffset.bigEndian
        try withUnsafeBytes(of: &offset) { head in
            try batch.bytes.withUnsafeReadableBytes { raw in
                let rest = UnsafeRawBufferPointer(rebasing: raw[8...])
                var parts = [
                    iovec(iov_base: UnsafeMutableRawPointer(mutating: head.baseAddress!), iov_len: head.count),
                    iovec(iov_base: UnsafeMutableRawPointer(mutating: rest.baseAddress!), iov_len: rest.count),
                ]
                var remaining = head.count + rest.count
                var first = 0
                while remaining > 0 {
                    let written = parts.withUnsafeMutableBufferPointer { vector in
                        writev(descriptor, vector.baseAddress! + first, Int32(vector.count - first))
                    }
                    if written < 0 {
                        if errno == EINTR { continue }
                        throw DiskLogError.writeFailed(errno: errno)
                    }
                    remaining -= written
                    // A short write: drop what went out and go on from there.
                    var done = written
                    while first < parts.count, done >= parts[first].iov_len {
                        done -= parts[first].iov_len
                        first += 1
                    }
                    if first < parts.count, done > 0 {
                        parts[first].iov_base += done
                        parts[first].iov_len -= done
                    }
                }
            }
        }
    }

    /// Reads `size` bytes at `position` of the segment starting at `segment`.
    func read(_ tp: TopicPartition, segment: Int64, position: Int, size: Int) throws -> ByteBuffer {
        var buffer = ByteBuffer()
        try read(tp, segment: segment, position: position, size: size, appendingTo: &buffer)
        return buffer
    }

    /// Reads `size` bytes at `position` of the segment starting at `segment` onto the end
    /// of `buffer`, with no copy in between (Fetch reads a run of batches at once).
    func read(_ tp: TopicPartition, segment: Int64, position: Int, size: Int, appendingTo buffer: inout ByteBuffer) throws {
        guard let active = partitions[tp], let file = active.segments.last(where: { $0.baseOffset == segment }) else {
            throw DiskLogError.missingSegment(tp, segment)
        }
        let reader: FileHandle
        if let open = readers[file.url] {
            reader = open
        } else {
            reader = try FileHandle(forReadingFrom: file.url)
            readers[file.url] = reader
        }
        let descriptor = reader.fileDescriptor
        let start = buffer.writerIndex
        buffer.reserveCapacity(minimumWritableBytes: size)
        let got = try buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: size) { raw -> Int in
            var done = 0
            while done < size {
                let count = pread(descriptor, raw.baseAddress! + done, size - done, off_t(position + done))
                if count < 0 {
                    if errno == EINTR { continue }
                    throw DiskLogError.readFailed(errno: errno)
                }
                if count == 0 { break }
                done += count
            }
            return done
        }
        guard got == size else {
            buffer.moveWriterIndex(to: start)
            throw DiskLogError.shortRead(tp, segment, position)
        }
    }

    private func roll(_ active: inout Active, tp: TopicPartition, at offset: Int64) throws {
        try active.handle.synchronize()
        try active.handle.close()
        try active.indexHandle.close()
        let url = directory(tp).appendingPathComponent(Self.fileName(offset, ".log"))
        _ = FileManager.default.createFile(atPath: url.path, contents: nil)
        let indexURL = url.deletingPathExtension().appendingPathExtension("index")
        _ = FileManager.default.createFile(atPath: indexURL.path, contents: nil)
        active.segments.append(Segment(baseOffset: offset, url: url, size: 0, maxTimestamp: -1))
        active.handle = try FileHandle(forWritingTo: url)
        active.indexHandle = try FileHandle(forWritingTo: indexURL)
        logger.info("rolled segment", metadata: ["partition": "\(tp)", "base_offset": "\(offset)"])
    }

    /// fsyncs every partition written since the last flush (the every-N-ms policy).
    func flushDirty() {
        for (tp, active) in partitions where active.dirty {
            do {
                try active.handle.synchronize()
                partitions[tp]?.dirty = false
            } catch {
                logger.error("flush failed", metadata: ["partition": "\(tp)", "error": "\(error)"])
            }
        }
    }

    /// Deletes whole closed segments past the retention limits; returns, per partition,
    /// the new log start offset.
    func enforceRetention(nowMs: Int64) -> [TopicPartition: Int64] {
        var moved: [TopicPartition: Int64] = [:]
        for (tp, var active) in partitions {
            var total = Int64(active.segments.reduce(0) { $0 + $1.size })
            while active.segments.count > 1 {
                let oldest = active.segments[0]
                let tooOld = options.retentionMs.map { oldest.maxTimestamp >= 0 && oldest.maxTimestamp < nowMs - $0 } ?? false
                let tooBig = options.retentionBytes.map { total > $0 } ?? false
                guard tooOld || tooBig else { break }
                try? readers.removeValue(forKey: oldest.url)?.close()
                try? FileManager.default.removeItem(at: oldest.url)
                try? FileManager.default.removeItem(at: oldest.url.deletingPathExtension().appendingPathExtension("index"))
                total -= Int64(oldest.size)
                active.segments.removeFirst()
                moved[tp] = active.segments[0].baseOffset
                logger.info("retention deleted segment", metadata: ["partition": "\(tp)", "segment": "\(oldest.url.lastPathComponent)", "reason": "\(tooOld ? "age" : "size")"])
            }
            partitions[tp] = active
        }
        return moved
    }
}

enum DiskLogError: Error, CustomStringConvertible {
    case unknownPartition(TopicPartition)
    case missingSegment(TopicPartition, Int64)
    case shortRead(TopicPartition, Int64, Int)
    case writeFailed(errno: Int32)
    case readFailed(errno: Int32)

    var description: String {
        switch self {
        case .unknownPartition(let tp): "no open log for partition \(tp)"
        case .missingSegment(let tp, let base): "segment \(base) of \(tp) is gone (deleted by retention?)"
        case .shortRead(let tp, let base, let position): "segment \(base) of \(tp) ends before position \(position) plus the batch"
        case .writeFailed(let code): "writing to a segment failed: \(String(cString: strerror(code)))"
        case .readFailed(let code): "reading a segment failed: \(String(cString: strerror(code)))"
        }
    }
}

/// The groups' committed offsets as one JSON file, replaced atomically on every commit.
final class OffsetFile {
    let url: URL

    init(dataDirectory: URL) throws {
        try FileManager.default.createDirectory(at: dataDirectory, withIntermediateDirectories: true)
        url = dataDirectory.appendingPathComponent("committed-offsets.json")
    }

    private struct Entry: Codable {
        var group: String
        var topic: String
        var partition: Int32
        var offset: Int64
        var metadata: String?
    }

    func load() throws -> [String: [TopicPartition: (offset: Int64, metadata: String?)]] {
        guard FileManager.default.fileExists(atPath: url.path) else { return [:] }
        let entries = try JSONDecoder().decode([Entry].self, from: Data(contentsOf: url))
        var result: [String: [TopicPartition: (offset: Int64, metadata: String?)]] = [:]
        for entry in entries {
            result[entry.group, default: [:]][TopicPartition(topic: entry.topic, partition: entry.partition)] = (entry.offset, entry.metadata)
        }
        return result
    }

    func save(_ offsets: [String: [TopicPartition: (offset: Int64, metadata: String?)]]) throws {
        var entries: [Entry] = []
        for (group, partitions) in offsets {
            for (tp, value) in partitions {
                entries.append(Entry(group: group, topic: tp.topic, partition: tp.partition, offset: value.offset, metadata: value.metadata))
            }
        }
        let data = try JSONEncoder().encode(entries)
        try data.write(to: url, options: .atomic)
    }
}
