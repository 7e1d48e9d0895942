import KafkaWire
import NIOCore

/// Where one batch of a partition is and what its header says. In memory mode the bytes
/// are held here; on disk only the segment and position are, so the broker's memory does
/// not grow with the log.
struct StoredBatch {
    var baseOffset: Int64
    var lastOffsetDelta: Int32
    var baseTimestamp: Int64
    var maxTimestamp: Int64
    var recordCount: Int32
    var size: Int
    var bytes: ByteBuffer?
    /// Base offset of the segment file holding the batch, and its position there.
    var segment: Int64 = 0
    var position: Int = 0

    init(_ batch: RecordBatch, keepingBytes: Bool, segment: Int64 = 0, position: Int = 0) {
        baseOffset = batch.baseOffset
        lastOffsetDelta = batch.lastOffsetDelta
        baseTimestamp = batch.baseTimestamp
        maxTimestamp = batch.maxTimestamp
        recordCount = batch.recordCount
        size = batch.size
        bytes = keepingBytes ? batch.bytes : nil
        self.segment = segment
        self.position = position
    }

    var lastOffset: Int64 { baseOffset + Int64(lastOffsetDelta) }
    /// next offset = baseOffset + lastOffsetDelta + 1.
    var nextOffset: Int64 { lastOffset + 1 }
}

/// One partition's log: its batches in offset order.
struct PartitionLog {
    var batches: [StoredBatch] = []
    var logStartOffset: Int64 = 0
    var nextOffset: Int64 = 0
    var sizeInBytes = 0

    mutating func append(_ batch: StoredBatch) {
        batches.append(batch)
        nextOffset = batch.nextOffset
        sizeInBytes += batch.size
    }

    /// Index of the first batch holding `offset` or a later one.
    func batchIndex(containing offset: Int64) -> Int {
        var low = 0
        var high = batches.count
        while low < high {
            let mid = (low + high) / 2
            if batches[mid].lastOffset < offset { low = mid + 1 } else { high = mid }
        }
        return low
    }

    /// Whole batches from `offset` on, up to `maxBytes`, but always at least one batch
    /// (KIP-74) when `alwaysOne`, so a batch larger than the limit cannot stall a consumer.
    func select(from offset: Int64, maxBytes: Int, alwaysOne: Bool) -> ArraySlice<StoredBatch> {
        let start = batchIndex(containing: offset)
        var end = start
        var total = 0
        while end < batches.count {
            let size = batches[end].size
            if total + size > maxBytes, total > 0 || !alwaysOne { break }
            total += size
            end += 1
        }
        return batches[start..<end]
    }

    /// The first offset whose record timestamp is at or after `timestamp` (ListOffsets).
    func offset(forTimestamp timestamp: Int64, load: (StoredBatch) -> ByteBuffer?) -> (timestamp: Int64, offset: Int64)? {
        for batch in batches where batch.maxTimestamp >= timestamp {
            if let bytes = load(batch), let decoded = try? RecordBatch(bytes, verifyingCRC: false), let records = try? decoded.records() {
                for record in records where batch.baseTimestamp + record.timestampDelta >= timestamp {
                    return (batch.baseTimestamp + record.timestampDelta, batch.baseOffset + Int64(record.offsetDelta))
                }
            }
            return (batch.maxTimestamp, batch.baseOffset)
        }
        return nil
    }
}
