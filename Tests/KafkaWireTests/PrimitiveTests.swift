@testable import KafkaWire
import NIOCore
import Testing

@Test func crc32cOfTheCheckStringIsTheCastagnoliCheckValue() {
    #expect(CRC32C.checksum(Array("123456789".utf8)) == 0xE306_9283)
}

@Test func crc32cContinuesAcrossChunks() {
    let whole = CRC32C.checksum(Array("123456789".utf8))
    let first = CRC32C.checksum(Array("1234".utf8))
    #expect(CRC32C.checksum(Array("56789".utf8), continuing: first) == whole)
}

/// The definition, one bit at a time, against which the eight-byte slicing is checked.
private func bitwiseCRC32C(_ bytes: ArraySlice<UInt8>) -> UInt32 {
    var crc: UInt32 = 0xFFFF_FFFF
    for byte in bytes {
        crc ^= UInt32(byte)
        for _ in 0..<8 { crc = crc & 1 == 1 ? (crc >> 1) ^ 0x82F6_3B78 : crc >> 1 }
    }
    return ~crc
}

/// Both ways of computing it, the processor's instruction (where `checksum` uses it, in
/// three interleaved lanes over blocks of 192 bytes) and the tables, at every length
/// 0–600 and alignment 0–7, and continued from a prefix.
@Test func crc32cMatchesTheBitwiseDefinitionAtEveryLengthAndAlignment() {
    let bytes = (0..<600).map { UInt8(truncatingIfNeeded: $0 &* 151 &+ 7 &+ $0 >> 5) }
    for start in 0..<8 {
        for end in start...bytes.count {
            let slice = bytes[start..<end]
            let expected = bitwiseCRC32C(slice)
            #expect(slice.withUnsafeBytes { CRC32C.checksum($0) } == expected, "bytes \(start)..<\(end)")
            #expect(slice.withUnsafeBytes { CRC32C.tableChecksum($0) } == expected, "tables, bytes \(start)..<\(end)")
            let middle = (start + end) / 2
            let prefix = bytes[start..<middle].withUnsafeBytes { CRC32C.checksum($0) }
            #expect(bytes[middle..<end].withUnsafeBytes { CRC32C.checksum($0, continuing: prefix) } == expected)
        }
    }
}

@Test(arguments: [
    ("21", Int32(-973_932_308)),
    ("foobar", Int32(-790_332_482)),
    ("a-little-bit-long-string", Int32(-985_981_536)),
    ("abc", Int32(479_470_107)),
    ("", Int32(275_646_681)),
])
func murmur2MatchesJavaKafka(key: String, expected: Int32) {
    #expect(Murmur2.hash(Array(key.utf8)) == expected)
}

@Test func murmur2PartitionMasksTheSignBit() {
    // "21" hashes negative; Java's toPositive masks the sign bit instead of negating.
    #expect(Murmur2.partition(forKey: Array("21".utf8), partitionCount: 3) == Int32((-973_932_308 & 0x7FFF_FFFF) % 3))
}

@Test(arguments: [(0, [0x00]), (-1, [0x01]), (1, [0x02]), (-64, [0x7F]), (64, [0x80, 0x01]), (150, [0xAC, 0x02])] as [(Int32, [UInt8])])
func varintsAreZigzag(value: Int32, bytes: [UInt8]) throws {
    var buffer = ByteBuffer()
    buffer.writeVarint(value)
    #expect(Array(buffer.readableBytesView) == bytes)
    var reader = KafkaReader(buffer)
    #expect(try reader.varint("v") == value)
}

@Test(arguments: [Int64.min, -1, 0, 1, Int64(Int32.max) + 1, Int64.max])
func varlongsRoundTrip(value: Int64) throws {
    var buffer = ByteBuffer()
    buffer.writeVarlong(value)
    var reader = KafkaReader(buffer)
    #expect(try reader.varlong("v") == value)
    #expect(reader.remaining == 0)
}

@Test func nullableStringAndBytesUseMinusOneForNull() throws {
    var buffer = ByteBuffer()
    buffer.writeKafkaNullableString(nil)
    buffer.writeKafkaNullableBytes(nil)
    buffer.writeKafkaString("héllo")
    #expect(Array(buffer.readableBytesView.prefix(6)) == [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF])
    var reader = KafkaReader(buffer)
    #expect(try reader.nullableString("a") == nil)
    #expect(try reader.nullableBytes("b") == nil)
    #expect(try reader.string("c") == "héllo")
}

@Test func aTruncatedFieldIsNamedInTheError() {
    var buffer = ByteBuffer()
    buffer.writeInteger(Int16(10))
    buffer.writeString("abc")
    var reader = KafkaReader(buffer)
    #expect(throws: KafkaWireError.invalidLength(field: "topic", length: 10)) { try reader.string("topic") }
}

@Test func anArrayCountLargerThanTheFrameIsRefusedBeforeAllocating() {
    var buffer = ByteBuffer()
    buffer.writeInteger(Int32.max)
    var reader = KafkaReader(buffer)
    #expect(throws: KafkaWireError.self) { try reader.int32Array("partitions") }
}

@Test func apiVersionsV3HeaderSkipsTaggedFields() throws {
    var buffer = ByteBuffer()
    RequestHeader(apiKey: 18, apiVersion: 3, correlationID: 7, clientID: "rdkafka").encode(into: &buffer)
    buffer.writeInteger(UInt8(0))  // header tagged fields
    buffer.writeInteger(UInt8(42))  // body starts here
    var reader = KafkaReader(buffer)
    let header = try RequestHeader(from: &reader)
    #expect(header.correlationID == 7)
    #expect(header.clientID == "rdkafka")
    #expect(try reader.int8("body") == 42)
}

@Test func apiVersionsAdvertisesProduceAndJoinGroupFromV0() {
    let response = ApiVersionsResponse.supported()
    #expect(response.apiKeys.first { $0.apiKey == 0 }?.minVersion == 0)
    #expect(response.apiKeys.first { $0.apiKey == 11 }?.minVersion == 0)
    #expect(response.apiKeys.first { $0.apiKey == 1 }.map { ($0.minVersion, $0.maxVersion) } ?? (0, 0) == (4, 11))
}

@Test func metadataV0EmptyTopicListMeansAllTopics() throws {
    var buffer = ByteBuffer()
    buffer.writeInteger(Int32(0))
    var reader = KafkaReader(buffer)
    #expect(try MetadataRequest(from: &reader, version: 0).topics == nil)
}
