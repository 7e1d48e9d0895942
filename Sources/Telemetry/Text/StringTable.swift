/// Reuses one `String` for text that repeats within one decoded request.
///
/// Attribute keys, span names and short values (service names, topics) repeat across the
/// spans of a request; handing out the same string storage again costs a retain where a
/// new string would cost an allocation. Entries point into the request's bytes, so a table
/// lives exactly as long as one decode call. The table stops growing when full, so unique
/// values cannot make it large.
final class StringTable {
    private struct Entry {
        var hash: UInt64
        var base: UnsafeRawPointer?
        var count: Int
        var string: String
    }

    private static let capacity = 1024
    private static let maximumEntries = 768
    /// Longer text is rarely repeated and is cheap to allocate relative to its size.
    static let maximumLength = 48
    /// Shorter text is stored inline in `String` and never allocates.
    static let minimumLength = 16

    private let entries: UnsafeMutablePointer<Entry>
    private var used = 0
    /// The heap bytes of what this decode allocated, as `MemoryFootprint` counts them: the
    /// strings too long to be kept inline (once each, however often one repeats) and the
    /// arrays its reader reports. The decoded result's memory, measured on the way.
    var allocatedBytes = 0

    init() {
        entries = .allocate(capacity: Self.capacity)
        entries.initialize(repeating: Entry(hash: 0, base: nil, count: 0, string: ""), count: Self.capacity)
    }

    deinit {
        entries.deinitialize(count: Self.capacity)
        entries.deallocate()
    }

    /// The string for these bytes, validated as UTF-8; `nil` when they are ill-formed.
    @inline(__always)
    func string(_ bytes: UnsafeRawBufferPointer) -> String? {
        let count = bytes.count
        guard count >= Self.minimumLength, count <= Self.maximumLength, let base = bytes.baseAddress else {
            allocatedBytes &+= MemoryFootprint.string(count: count)
            return UTF8Validation.string(bytes)
        }
        let hash = Self.hash(base, count)
        var slot = Int(truncatingIfNeeded: hash) & (Self.capacity - 1)
        while true {
            let entryHash = entries[slot].hash
            if entryHash == 0 { break }
            if entryHash == hash, entries[slot].count == count,
                let other = entries[slot].base, memoryEqual(other, base, count)
            {
                return entries[slot].string
            }
            slot = (slot + 1) & (Self.capacity - 1)
        }
        guard let string = UTF8Validation.string(bytes) else { return nil }
        allocatedBytes &+= MemoryFootprint.string(count: count)
        if used < Self.maximumEntries {
            entries[slot] = Entry(hash: hash, base: base, count: count, string: string)
            used += 1
        }
        return string
    }

    /// A word-at-a-time multiplicative hash; never 0, which marks an empty slot.
    @inline(__always)
    private static func hash(_ base: UnsafeRawPointer, _ count: Int) -> UInt64 {
        var h: UInt64 = 0x9E37_79B9_7F4A_7C15 ^ UInt64(count)
        var i = 0
        while i + 8 <= count {
            h = (h ^ base.loadUnaligned(fromByteOffset: i, as: UInt64.self)) &* 0xFF51_AFD7_ED55_8CCD
            h ^= h >> 32
            i += 8
        }
        if i < count {
            // The last word overlaps bytes already hashed; count >= 16 makes that safe.
            h = (h ^ base.loadUnaligned(fromByteOffset: count - 8, as: UInt64.self)) &* 0xC4CE_B9FE_1A85_EC53
            h ^= h >> 29
        }
        return h | 1
    }

    @inline(__always)
    private func memoryEqual(_ a: UnsafeRawPointer, _ b: UnsafeRawPointer, _ count: Int) -> Bool {
        var i = 0
        while i + 8 <= count {
            if a.loadUnaligned(fromByteOffset: i, as: UInt64.self) != b.loadUnaligned(fromByteOffset: i, as: UInt64.self) {
                return false
            }
            i += 8
        }
        return a.loadUnaligned(fromByteOffset: count - 8, as: UInt64.self)
            == b.loadUnaligned(fromByteOffset: count - 8, as: UInt64.self)
    }
}
