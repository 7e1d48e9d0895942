import CompressNIO
public import NIOCore

/// One record of a v2 batch (https://kafka.apache.org/documentation/#record).
public struct Record: Sendable, Equatable {
    public var offsetDelta: Int32
    public var timestampDelta: Int64
    public var key: ByteBuffer?
    public var value: ByteBuffer?
    public var headers: [(key: String, value: ByteBuffer?)]

    public init(offsetDelta: Int32 = 0, timestampDelta: Int64 = 0, key: ByteBuffer?, value: ByteBuffer?, headers: [(key: String, value: ByteBuffer?)] = []) {
        self.offsetDelta = offsetDelta
        self.timestampDelta = timestampDelta
        self.key = key
        self.value = value
        self.headers = headers
    }

    public static func == (lhs: Record, rhs: Record) -> Bool {
        lhs.offsetDelta == rhs.offsetDelta && lhs.timestampDelta == rhs.timestampDelta && lhs.key == rhs.key
            && lhs.value == rhs.value && lhs.headers.count == rhs.headers.count
            && zip(lhs.headers, rhs.headers).allSatisfy { $0.key == $1.key && $0.value == $1.value }
    }

    /// Appends the record, length-prefixed, as it sits in a batch after the header.
    public func encode(into buffer: inout ByteBuffer) {
        var body = ByteBuffer()
        body.writeInteger(Int8(0))
        body.writeVarlong(timestampDelta)
        body.writeVarint(offsetDelta)
        Self.writeVarBytes(key, into: &body)
        Self.writeVarBytes(value, into: &body)
        body.writeVarint(Int32(headers.count))
        for header in headers {
            body.writeVarint(Int32(header.key.utf8.count))
            body.writeString(header.key)
            Self.writeVarBytes(header.value, into: &body)
        }
        buffer.writeVarint(Int32(body.readableBytes))
        buffer.writeBuffer(&body)
    }

    static func writeVarBytes(_ bytes: ByteBuffer?, into buffer: inout ByteBuffer) {
        guard let bytes else {
            buffer.writeVarint(-1)
            return
        }
        buffer.writeVarint(Int32(bytes.readableBytes))
        buffer.writeImmutableBuffer(bytes)
    }

    static func readVarBytes(_ reader: inout KafkaReader, _ field: String) throws(KafkaWireError) -> ByteBuffer? {
        let length = Int(try reader.varint(field))
        if length == -1 { return nil }
        return try reader.raw(field, length: length)
    }

    init(from reader: inout KafkaReader) throws(KafkaWireError) {
        let length = Int(try reader.varint("record.length"))
        var body = KafkaReader(try reader.raw("record", length: length))
        _ = try body.int8("record.attributes")
        timestampDelta = try body.varlong("record.timestamp_delta")
        offsetDelta = try body.varint("record.offset_delta")
        key = try Self.readVarBytes(&body, "record.key")
        value = try Self.readVarBytes(&body, "record.value")
        let headerCount = Int(try body.varint("record.headers"))
        guard headerCount >= 0, headerCount <= body.remaining else {
            throw .invalidLength(field: "record.headers", length: headerCount)
        }
        var headers: [(key: String, value: ByteBuffer?)] = []
        for _ in 0..<headerCount {
            let keyLength = Int(try body.varint("record.header.key"))
            let key = try body.utf8("record.header.key", length: keyLength)
            headers.append((key: key, value: try Self.readVarBytes(&body, "record.header.value")))
        }
        self.headers = headers
    }
}

/// A record batch, magic 2 (KIP-98). The broker keeps the bytes as sent and reads only the
/// header; the records are decoded on demand (uncompressed or gzip).
public struct RecordBatch: Sendable {
    /// Size of everything before `records`: baseOffset through the record count.
    public static let headerSize = 61
    /// baseOffset (8) + batchLength (4): the part `batchLength` does not count.
    public static let logOverhead = 12
    /// Where the CRC-32C coverage starts: the attributes field.
    static let crcStart = 21

    public var baseOffset: Int64
    public var partitionLeaderEpoch: Int32
    public var attributes: Int16
    public var lastOffsetDelta: Int32
    public var baseTimestamp: Int64
    public var maxTimestamp: Int64
    public var producerID: Int64
    public var producerEpoch: Int16
    public var baseSequence: Int32
    public var recordCount: Int32
    /// The whole batch as it is on the wire and on disk.
    public var bytes: ByteBuffer

    public var compression: Int16 { attributes & 0x07 }
    public var isTransactional: Bool { attributes & 0x10 != 0 }
    public var isControl: Bool { attributes & 0x20 != 0 }
    /// next offset = baseOffset + lastOffsetDelta + 1.
    public var lastOffset: Int64 { baseOffset + Int64(lastOffsetDelta) }
    public var nextOffset: Int64 { lastOffset + 1 }
    public var size: Int { bytes.readableBytes }

    /// Splits `records` (a Produce partition's or Fetch's `records` field) into batches,
    /// checking each one's magic and CRC. A partial trailing batch, as Fetch responses may
    /// carry, is an error here: the broker only takes whole batches.
    public static func split(_ records: ByteBuffer, verifyingCRC: Bool = true) throws(KafkaWireError) -> [RecordBatch] {
        var rest = records
        var batches: [RecordBatch] = []
        while rest.readableBytes > 0 {
            guard rest.readableBytes >= logOverhead,
                let length = rest.getInteger(at: rest.readerIndex + 8, as: Int32.self)
            else { throw .truncated(field: "record_batch.batch_length") }
            let total = Int(length) + logOverhead
            guard length >= headerSize - logOverhead, total <= rest.readableBytes else {
                throw .invalidLength(field: "record_batch.batch_length", length: Int(length))
            }
            let slice = rest.readSlice(length: total)!
            batches.append(try RecordBatch(slice, verifyingCRC: verifyingCRC))
        }
        return batches
    }

    /// Reads the header of one whole batch.
    public init(_ bytes: ByteBuffer, verifyingCRC: Bool = true) throws(KafkaWireError) {
        var reader = KafkaReader(bytes)
        baseOffset = try reader.int64("record_batch.base_offset")
        let length = try reader.int32("record_batch.batch_length")
        guard Int(length) + Self.logOverhead == bytes.readableBytes else {
            throw .invalidLength(field: "record_batch.batch_length", length: Int(length))
        }
        partitionLeaderEpoch = try reader.int32("record_batch.partition_leader_epoch")
        let magic = try reader.int8("record_batch.magic")
        guard magic == 2 else { throw .unsupportedMagic(magic) }
        let stored = try reader.uint32("record_batch.crc")
        if verifyingCRC {
            let computed = bytes.withUnsafeReadableBytes { raw in
                CRC32C.checksum(UnsafeRawBufferPointer(rebasing: raw[Self.crcStart...]))
            }
            guard computed == stored else { throw .crcMismatch(stored: stored, computed: computed) }
        }
        attributes = try reader.int16("record_batch.attributes")
        lastOffsetDelta = try reader.int32("record_batch.last_offset_delta")
        baseTimestamp = try reader.int64("record_batch.base_timestamp")
        maxTimestamp = try reader.int64("record_batch.max_timestamp")
        producerID = try reader.int64("record_batch.producer_id")
        producerEpoch = try reader.int16("record_batch.producer_epoch")
        baseSequence = try reader.int32("record_batch.base_sequence")
        recordCount = try reader.int32("record_batch.records_count")
        guard recordCount >= 0, lastOffsetDelta >= 0 else {
            throw .invalidBatch("records_count \(recordCount), last_offset_delta \(lastOffsetDelta)")
        }
        self.bytes = bytes
    }

    /// Gives the batch its place in the log. The CRC does not cover baseOffset, so the
    /// client's checksum stays valid.
    public mutating func assignBaseOffset(_ offset: Int64) {
        baseOffset = offset
        bytes.setInteger(offset, at: bytes.readerIndex)
    }

    /// The most bytes a compressed batch's records may inflate to: a gzip bomb stops here.
    public static let maxDecompressedBytes = 64 << 20

    /// The records of the batch: uncompressed, or gzip-compressed as Kafka writes them
    /// (the records after the header as one gzip stream). Snappy, LZ4 and zstd batches
    /// are refused with the codec's name.
    public func records() throws(KafkaWireError) -> [Record] {
        var reader: KafkaReader
        switch compression {
        case 0:
            reader = KafkaReader(bytes)
            _ = try reader.raw("record_batch", length: Self.headerSize)
        case 1:
            var compressed = bytes.getSlice(at: bytes.readerIndex + Self.headerSize, length: bytes.readableBytes - Self.headerSize) ?? ByteBuffer()
            do {
                reader = KafkaReader(try compressed.decompress(with: .gzip(), maxSize: Self.maxDecompressedBytes))
            } catch {
                throw .invalidBatch("gzip records do not inflate (at most \(Self.maxDecompressedBytes) bytes): \(error)")
            }
        default:
            let name = [2: "snappy", 3: "lz4", 4: "zstd"][compression] ?? "codec \(compression)"
            throw .invalidBatch("records compressed with \(name) are not decoded (only gzip is)")
        }
        var records: [Record] = []
        for _ in 0..<recordCount {
            records.append(try Record(from: &reader))
        }
        return records
    }

    /// Builds an uncompressed batch with its CRC; offsets and timestamps are taken from the
    /// records' deltas.
    public static func build(
        baseOffset: Int64 = 0, baseTimestamp: Int64, records: [Record],
        producerID: Int64 = -1, producerEpoch: Int16 = -1, baseSequence: Int32 = -1
    ) -> RecordBatch {
        var buffer = ByteBuffer()
        buffer.writeInteger(baseOffset)
        buffer.writeInteger(Int32(0))
        buffer.writeInteger(Int32(-1))
        buffer.writeInteger(Int8(2))
        buffer.writeInteger(UInt32(0))
        buffer.writeInteger(Int16(0))
        buffer.writeInteger(records.map(\.offsetDelta).max() ?? 0)
        buffer.writeInteger(baseTimestamp)
        buffer.writeInteger(baseTimestamp + (records.map(\.timestampDelta).max() ?? 0))
        buffer.writeInteger(producerID)
        buffer.writeInteger(producerEpoch)
        buffer.writeInteger(baseSequence)
        buffer.writeInteger(Int32(records.count))
        for record in records { record.encode(into: &buffer) }
        buffer.setInteger(Int32(buffer.readableBytes - logOverhead), at: 8)
        let crc = buffer.withUnsafeReadableBytes { raw in
            CRC32C.checksum(UnsafeRawBufferPointer(rebasing: raw[crcStart...]))
        }
        buffer.setInteger(crc, at: 17)
        return try! RecordBatch(buffer)
    }
}
