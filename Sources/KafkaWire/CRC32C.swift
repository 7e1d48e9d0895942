import CCRC32C

/// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), the checksum of record batch v2
/// (KIP-98). The processor's CRC-32C instruction where it has one (SSE 4.2), else
/// slicing-by-8: eight tables let one step fold eight bytes. Either keeps checking every
/// produced batch off the top of the broker's profile.
public enum CRC32C {
    /// Whether `checksum` uses the processor's instruction.
    public static let usesHardware = causeway_crc32c_hardware_available() != 0

    /// Eight 256-entry tables back to back: entry i of table k is the CRC of byte i
    /// followed by k zero bytes, so table 0 is the classic byte-at-a-time table.
    static let tables: [UInt32] = {
        var tables = [UInt32](repeating: 0, count: 8 * 256)
        for index in 0..<256 {
            var crc = UInt32(index)
            for _ in 0..<8 {
                crc = crc & 1 == 1 ? (crc >> 1) ^ 0x82F6_3B78 : crc >> 1
            }
            tables[index] = crc
        }
        for table in 1..<8 {
            for index in 0..<256 {
                let previous = tables[(table - 1) * 256 + index]
                tables[table * 256 + index] = (previous >> 8) ^ tables[Int(previous & 0xFF)]
            }
        }
        return tables
    }()

    /// Continues `crc` (the finished value of the bytes before) over `bytes`.
    public static func checksum<Bytes: Sequence<UInt8>>(_ bytes: Bytes, continuing crc: UInt32 = 0) -> UInt32 {
        if let contiguous = bytes.withContiguousStorageIfAvailable({ checksum(UnsafeRawBufferPointer($0), continuing: crc) }) {
            return contiguous
        }
        var state = ~crc
        tables.withUnsafeBufferPointer { table in
            for byte in bytes {
                state = table[Int((state ^ UInt32(byte)) & 0xFF)] ^ (state >> 8)
            }
        }
        return ~state
    }

    public static func checksum(_ bytes: UnsafeRawBufferPointer, continuing crc: UInt32 = 0) -> UInt32 {
        guard let base = bytes.baseAddress else { return crc }
        if usesHardware { return ~causeway_crc32c_update(~crc, base, bytes.count) }
        return tableChecksum(bytes, continuing: crc)
    }

    /// The slicing-by-8 table code, used where the processor has no CRC-32C instruction.
    static func tableChecksum(_ bytes: UnsafeRawBufferPointer, continuing crc: UInt32 = 0) -> UInt32 {
        guard let base = bytes.baseAddress else { return crc }
        var state = ~crc
        tables.withUnsafeBufferPointer { table in
            var position = 0
            let count = bytes.count
            while count - position >= 8 {
                let word = UInt64(littleEndian: base.loadUnaligned(fromByteOffset: position, as: UInt64.self)) ^ UInt64(state)
                state = table[7 * 256 + Int(word & 0xFF)] ^ table[6 * 256 + Int((word >> 8) & 0xFF)]
                    ^ table[5 * 256 + Int((word >> 16) & 0xFF)] ^ table[4 * 256 + Int((word >> 24) & 0xFF)]
                    ^ table[3 * 256 + Int((word >> 32) & 0xFF)] ^ table[2 * 256 + Int((word >> 40) & 0xFF)]
                    ^ table[1 * 256 + Int((word >> 48) & 0xFF)] ^ table[Int(word >> 56)]
                position += 8
            }
            while position < count {
                state = table[Int((state ^ UInt32(base.load(fromByteOffset: position, as: UInt8.self))) & 0xFF)] ^ (state >> 8)
                position += 1
            }
        }
        return ~state
    }
}
