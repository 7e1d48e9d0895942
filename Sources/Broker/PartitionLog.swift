import KafkaWire
import NIOCore

/// One partition's log in memory: whole batches in offset order, as the producers sent
/// them but with their base offsets assigned. `DiskLog` mirrors it onto segment files.
struct PartitionLog {
    var batches: [RecordBatch] = []
    var logStartOffset: Int64 = 0
    var nextOffset: Int64 = 0
    var sizeInBytes = 0

    /// Places the batch at the end of the log; returns its base offset.
    mutating func append(_ batch: inout RecordBatch) -> Int64 {
        let base = nextOffset
        batch.assignBaseOffset(base)
        batches.append(batch)
        nextOffset = batch.nextOffset
        sizeInBytes += batch.size
        return base
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
    /// (KIP-74) so a batch larger than the limit cannot stall a consumer.
    func read(from offset: Int64, maxBytes: Int, alwaysOne: Bool) -> (bytes: ByteBuffer, records: Int) {
        var result = ByteBuffer()
        var records = 0
        var index = batchIndex(containing: offset)
        while index < batches.count {
            let batch = batches[index]
            if result.readableBytes + batch.size > maxBytes, result.readableBytes > 0 || !alwaysOne { break }
            result.writeImmutableBuffer(batch.bytes)
            records += Int(batch.recordCount)
            index += 1
        }
        return (result, records)
    }

    /// The first offset whose record timestamp is at or after `timestamp` (ListOffsets).
    func offset(forTimestamp timestamp: Int64) -> (timestamp: Int64, offset: Int64)? {
        for batch in batches where batch.maxTimestamp >= timestamp {
            if let records = try? batch.records() {
                for record in records where batch.baseTimestamp + record.timestampDelta >= timestamp {
                    return (batch.baseTimestamp + record.timestampDelta, batch.baseOffset + Int64(record.offsetDelta))
                }
            }
            return (batch.maxTimestamp, batch.baseOffset)
        }
        return nil
    }
}
