/// Java Kafka's `Utils.murmur2` and the default partitioner's placement of keyed records,
/// so that every client (Java, librdkafka with `murmur2_random`, kafka-python) and ours put
/// a key in the same partition.
public enum Murmur2 {
    /// The 32-bit MurmurHash2 with Kafka's seed 0x9747b28c, bytes read little-endian.
    public static func hash<Bytes: Collection<UInt8>>(_ key: Bytes) -> Int32 {
        let m: UInt32 = 0x5BD1_E995
        let r: UInt32 = 24
        let bytes = Array(key)
        let length = bytes.count
        var h: UInt32 = 0x9747_B28C ^ UInt32(truncatingIfNeeded: length)
        let blocks = length / 4
        for block in 0..<blocks {
            let i = block * 4
            var k = UInt32(bytes[i]) | UInt32(bytes[i + 1]) << 8 | UInt32(bytes[i + 2]) << 16 | UInt32(bytes[i + 3]) << 24
            k = k &* m
            k ^= k >> r
            k = k &* m
            h = h &* m
            h ^= k
        }
        let tail = blocks * 4
        switch length % 4 {
        case 3:
            h ^= UInt32(bytes[tail + 2]) << 16
            fallthrough
        case 2:
            h ^= UInt32(bytes[tail + 1]) << 8
            fallthrough
        case 1:
            h ^= UInt32(bytes[tail])
            h = h &* m
        default:
            break
        }
        h ^= h >> 13
        h = h &* m
        h ^= h >> 15
        return Int32(bitPattern: h)
    }

    /// The partition Java's default partitioner picks for a non-null key:
    /// `toPositive(murmur2(key)) % numPartitions`, where toPositive masks the sign bit.
    public static func partition<Bytes: Collection<UInt8>>(forKey key: Bytes, partitionCount: Int32) -> Int32 {
        precondition(partitionCount > 0, "a topic has at least one partition")
        return (hash(key) & 0x7FFF_FFFF) % partitionCount
    }
}
