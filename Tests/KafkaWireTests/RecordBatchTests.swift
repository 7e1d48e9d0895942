import CompressNIO
import KafkaWire
import NIOCore
import Testing

private func sampleBatch() -> RecordBatch {
    RecordBatch.build(
        baseTimestamp: 1_700_000_000_000,
        records: [
            Record(offsetDelta: 0, timestampDelta: 0, key: ByteBuffer(string: "order-1"), value: ByteBuffer(string: "created"),
                   headers: [(key: "traceparent", value: ByteBuffer(string: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"))]),
            Record(offsetDelta: 1, timestampDelta: 5, key: nil, value: ByteBuffer(string: "paid")),
            Record(offsetDelta: 2, timestampDelta: 9, key: ByteBuffer(string: "order-1"), value: nil, headers: [(key: "empty", value: nil)]),
        ]
    )
}

@Test func aBuiltBatchSplitsBackIntoTheSameRecords() throws {
    let batch = sampleBatch()
    let split = try RecordBatch.split(batch.bytes)
    #expect(split.count == 1)
    #expect(try split[0].records() == batch.records())
    #expect(try split[0].records()[0].headers[0].key == "traceparent")
    #expect(split[0].recordCount == 3)
    #expect(split[0].maxTimestamp == 1_700_000_000_009)
}

@Test func nextOffsetIsBaseOffsetPlusLastOffsetDeltaPlusOne() {
    var batch = sampleBatch()
    batch.assignBaseOffset(40)
    #expect(batch.nextOffset == 43)
}

@Test func assigningTheBaseOffsetKeepsTheCRCValid() throws {
    var batch = sampleBatch()
    batch.assignBaseOffset(1234)
    let again = try RecordBatch(batch.bytes)
    #expect(again.baseOffset == 1234)
}

@Test func aFlippedByteFailsTheCRC() {
    var bytes = sampleBatch().bytes
    let last = bytes.writerIndex - 1
    bytes.setInteger(bytes.getInteger(at: last, as: UInt8.self)! ^ 0xFF, at: last)
    #expect {
        try RecordBatch(bytes)
    } throws: { error in
        if case .crcMismatch = error as? KafkaWireError { return true }
        return false
    }
}

@Test func aTruncatedBatchIsRefused() {
    let bytes = sampleBatch().bytes
    #expect(throws: KafkaWireError.self) { try RecordBatch.split(bytes.getSlice(at: 0, length: bytes.readableBytes - 3)!) }
}

@Test func onlyMagicTwoIsAccepted() {
    var bytes = sampleBatch().bytes
    bytes.setInteger(Int8(1), at: 16)
    #expect(throws: KafkaWireError.unsupportedMagic(1)) { try RecordBatch(bytes, verifyingCRC: false) }
}

@Test func produceRequestRoundTripsThroughItsCodec() throws {
    let request = ProduceRequest(acks: -1, timeoutMs: 1000, topics: [.init(name: "orders", partitions: [.init(index: 2, records: sampleBatch().bytes)])])
    var buffer = ByteBuffer()
    request.encode(into: &buffer, version: 8)
    var reader = KafkaReader(buffer)
    let decoded = try ProduceRequest(from: &reader, version: 8)
    #expect(decoded.acks == -1)
    #expect(decoded.topics[0].name == "orders")
    #expect(decoded.topics[0].partitions[0].records == sampleBatch().bytes)
    #expect(reader.remaining == 0)
}

@Test func fetchResponseWritesEmptyRecordsNeverNull() throws {
    var buffer = ByteBuffer()
    FetchResponse(topics: [.init(name: "t", partitions: [.init(index: 0, errorCode: .none, highWatermark: 0, logStartOffset: 0, records: ByteBuffer())])])
        .encode(into: &buffer, version: 11)
    #expect(Array(buffer.readableBytesView.suffix(4)) == [0, 0, 0, 0])
    var reader = KafkaReader(buffer)
    let decoded = try FetchResponse(from: &reader, version: 11)
    #expect(decoded.topics[0].partitions[0].records.readableBytes == 0)
}

/// A batch like `plain` with its records gzip-compressed (attributes codec 1), its
/// length and CRC fixed up, as Kafka clients write them.
func gzipped(_ plain: RecordBatch, codec: Int16 = 1) throws -> ByteBuffer {
    var records = plain.bytes.getSlice(at: plain.bytes.readerIndex + RecordBatch.headerSize, length: plain.bytes.readableBytes - RecordBatch.headerSize)!
    let compressed = try records.compress(with: .gzip())
    var batch = plain.bytes.getSlice(at: plain.bytes.readerIndex, length: RecordBatch.headerSize)!
    batch.setInteger(codec, at: 21)
    var body = compressed
    batch.writeBuffer(&body)
    batch.setInteger(Int32(batch.readableBytes - RecordBatch.logOverhead), at: 8)
    let crc = batch.withUnsafeReadableBytes { CRC32C.checksum(UnsafeRawBufferPointer(rebasing: $0[21...])) }
    batch.setInteger(crc, at: 17)
    return batch
}

@Suite("Compressed record batches")
struct CompressedBatchTests {
    let plain = RecordBatch.build(baseTimestamp: 1_700_000_000_000, records: (0..<5).map {
        Record(offsetDelta: Int32($0), timestampDelta: Int64($0), key: ByteBuffer(string: "k\($0)"), value: ByteBuffer(string: "value \($0)"),
               headers: [(key: "traceparent", value: ByteBuffer(string: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"))])
    })

    @Test("a gzip batch's records decode to what was compressed")
    func gzipRecords() throws {
        let batch = try RecordBatch(try gzipped(plain))
        #expect(batch.compression == 1)
        #expect(try batch.records() == plain.records())
    }

    @Test("snappy, lz4 and zstd batches are refused by the codec's name")
    func otherCodecs() throws {
        for (codec, name) in [(Int16(2), "snappy"), (3, "lz4"), (4, "zstd")] {
            let batch = try RecordBatch(try gzipped(plain, codec: codec))
            #expect(throws: KafkaWireError.self) { try batch.records() }
            do {
                _ = try batch.records()
            } catch {
                #expect(error.description.contains(name))
            }
        }
    }
}
