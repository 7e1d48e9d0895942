public import NIOCore

/// Reads the primitive types of the Kafka protocol guide
/// (https://kafka.apache.org/protocol#protocol_types) from a frame, naming the field in
/// every error.
public struct KafkaReader: Sendable {
    public var buffer: ByteBuffer

    public init(_ buffer: ByteBuffer) {
        self.buffer = buffer
    }

    public var remaining: Int { buffer.readableBytes }

    @inlinable
    mutating func integer<T: FixedWidthInteger>(_ field: String, as: T.Type = T.self) throws(KafkaWireError) -> T {
        guard let value = buffer.readInteger(as: T.self) else { throw .truncated(field: field) }
        return value
    }

    public mutating func int8(_ field: String) throws(KafkaWireError) -> Int8 { try integer(field) }
    public mutating func int16(_ field: String) throws(KafkaWireError) -> Int16 { try integer(field) }
    public mutating func int32(_ field: String) throws(KafkaWireError) -> Int32 { try integer(field) }
    public mutating func int64(_ field: String) throws(KafkaWireError) -> Int64 { try integer(field) }
    public mutating func uint32(_ field: String) throws(KafkaWireError) -> UInt32 { try integer(field) }
    public mutating func bool(_ field: String) throws(KafkaWireError) -> Bool { try int8(field) != 0 }

    /// UNSIGNED_VARINT: 7 bits a byte, low group first, at most 5 bytes.
    public mutating func unsignedVarint(_ field: String) throws(KafkaWireError) -> UInt32 {
        var result: UInt32 = 0
        for index in 0..<5 {
            let byte: UInt8 = try integer(field)
            result |= UInt32(byte & 0x7F) << (7 * index)
            if byte & 0x80 == 0 { return result }
        }
        throw .malformedVarint(field: field)
    }

    /// VARINT: zigzag-encoded signed 32-bit integer.
    public mutating func varint(_ field: String) throws(KafkaWireError) -> Int32 {
        let raw = try unsignedVarint(field)
        return Int32(bitPattern: (raw >> 1) ^ (0 &- (raw & 1)))
    }

    /// VARLONG: zigzag-encoded signed 64-bit integer, at most 10 bytes.
    public mutating func varlong(_ field: String) throws(KafkaWireError) -> Int64 {
        var raw: UInt64 = 0
        for index in 0..<10 {
            let byte: UInt8 = try integer(field)
            raw |= UInt64(byte & 0x7F) << (7 * index)
            if byte & 0x80 == 0 {
                return Int64(bitPattern: (raw >> 1) ^ (0 &- (raw & 1)))
            }
        }
        throw .malformedVarint(field: field)
    }

    mutating func utf8(_ field: String, length: Int) throws(KafkaWireError) -> String {
        guard length <= buffer.readableBytes else { throw .invalidLength(field: field, length: length) }
        guard let string = buffer.readString(length: length) else { throw .truncated(field: field) }
        return string
    }

    /// STRING: INT16 length, then UTF-8 bytes; null is refused.
    public mutating func string(_ field: String) throws(KafkaWireError) -> String {
        guard let value = try nullableString(field) else { throw .invalidLength(field: field, length: -1) }
        return value
    }

    /// NULLABLE_STRING: length -1 is null.
    public mutating func nullableString(_ field: String) throws(KafkaWireError) -> String? {
        let length = Int(try int16(field))
        if length == -1 { return nil }
        guard length >= 0 else { throw .invalidLength(field: field, length: length) }
        return try utf8(field, length: length)
    }

    /// NULLABLE_BYTES: INT32 length, -1 is null.
    public mutating func nullableBytes(_ field: String) throws(KafkaWireError) -> ByteBuffer? {
        let length = Int(try int32(field))
        if length == -1 { return nil }
        guard length >= 0, length <= buffer.readableBytes else { throw .invalidLength(field: field, length: length) }
        return buffer.readSlice(length: length)!
    }

    /// BYTES: like NULLABLE_BYTES with null refused.
    public mutating func bytes(_ field: String) throws(KafkaWireError) -> ByteBuffer {
        guard let value = try nullableBytes(field) else { throw .invalidLength(field: field, length: -1) }
        return value
    }

    /// Raw bytes of a length given elsewhere (record keys, values, header values).
    public mutating func raw(_ field: String, length: Int) throws(KafkaWireError) -> ByteBuffer {
        guard length >= 0, length <= buffer.readableBytes else { throw .invalidLength(field: field, length: length) }
        return buffer.readSlice(length: length)!
    }

    /// ARRAY with null allowed: INT32 count, -1 is null. Each element needs at least one
    /// byte, so a count larger than what is left is refused before anything is reserved.
    public mutating func nullableArray<T>(
        _ field: String, _ element: (inout KafkaReader) throws(KafkaWireError) -> T
    ) throws(KafkaWireError) -> [T]? {
        let count = Int(try int32(field))
        if count == -1 { return nil }
        guard count >= 0, count <= buffer.readableBytes else { throw .invalidLength(field: field, length: count) }
        var result: [T] = []
        result.reserveCapacity(count)
        for _ in 0..<count { result.append(try element(&self)) }
        return result
    }

    /// ARRAY: null is read as empty, which is what every API of the subset means by it.
    public mutating func array<T>(
        _ field: String, _ element: (inout KafkaReader) throws(KafkaWireError) -> T
    ) throws(KafkaWireError) -> [T] {
        try nullableArray(field, element) ?? []
    }

    public mutating func int32Array(_ field: String) throws(KafkaWireError) -> [Int32] {
        try array(field) { (reader: inout KafkaReader) throws(KafkaWireError) in try reader.int32(field) }
    }

    /// Skips TAG_BUFFER (flexible versions): only the request header of an ApiVersions v3+
    /// opener is read in a flexible version here.
    public mutating func skipTaggedFields(_ field: String) throws(KafkaWireError) {
        let count = try unsignedVarint(field)
        for _ in 0..<count {
            _ = try unsignedVarint(field)
            let size = Int(try unsignedVarint(field))
            _ = try raw(field, length: size)
        }
    }
}
