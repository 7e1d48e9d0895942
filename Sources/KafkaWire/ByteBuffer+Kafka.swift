public import NIOCore

/// Writes the primitive types of the Kafka protocol guide
/// (https://kafka.apache.org/protocol#protocol_types).
extension ByteBuffer {
    public mutating func writeKafkaBool(_ value: Bool) {
        writeInteger(Int8(value ? 1 : 0))
    }

    public mutating func writeUnsignedVarint(_ value: UInt32) {
        var value = value
        while value >= 0x80 {
            writeInteger(UInt8(truncatingIfNeeded: value) | 0x80)
            value >>= 7
        }
        writeInteger(UInt8(value))
    }

    /// VARINT, zigzag encoded.
    public mutating func writeVarint(_ value: Int32) {
        writeUnsignedVarint(UInt32(bitPattern: (value << 1) ^ (value >> 31)))
    }

    /// VARLONG, zigzag encoded.
    public mutating func writeVarlong(_ value: Int64) {
        var raw = UInt64(bitPattern: (value << 1) ^ (value >> 63))
        while raw >= 0x80 {
            writeInteger(UInt8(truncatingIfNeeded: raw) | 0x80)
            raw >>= 7
        }
        writeInteger(UInt8(raw))
    }

    public mutating func writeKafkaString(_ value: String) {
        writeInteger(Int16(value.utf8.count))
        writeString(value)
    }

    public mutating func writeKafkaNullableString(_ value: String?) {
        guard let value else {
            writeInteger(Int16(-1))
            return
        }
        writeKafkaString(value)
    }

    public mutating func writeKafkaBytes(_ value: ByteBuffer) {
        writeInteger(Int32(value.readableBytes))
        writeImmutableBuffer(value)
    }

    public mutating func writeKafkaNullableBytes(_ value: ByteBuffer?) {
        guard let value else {
            writeInteger(Int32(-1))
            return
        }
        writeKafkaBytes(value)
    }

    public mutating func writeKafkaArray<C: Collection>(_ elements: C, _ element: (inout ByteBuffer, C.Element) -> Void) {
        writeInteger(Int32(elements.count))
        for item in elements { element(&self, item) }
    }

    public mutating func writeKafkaNullableArray<C: Collection>(_ elements: C?, _ element: (inout ByteBuffer, C.Element) -> Void) {
        guard let elements else {
            writeInteger(Int32(-1))
            return
        }
        writeKafkaArray(elements, element)
    }

    public mutating func writeKafkaInt32Array(_ elements: [Int32]) {
        writeKafkaArray(elements) { $0.writeInteger($1) }
    }
}
