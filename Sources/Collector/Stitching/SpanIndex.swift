/// Span key → slot, open addressing with linear probing. Span IDs are random 64-bit values
/// (W3C Trace Context §3.2.2.4), so a multiply-shift of the key's words spreads them without
/// SipHash; that and the flat arrays make it about three times cheaper than `Dictionary`
/// here, which was the stitcher's largest cost per span.
struct SpanIndex {
    private var keys: [SpanKey]
    private var slots: [Int32]  // -1: empty bucket
    private var shift: UInt64
    private(set) var count = 0

    init() {
        keys = Array(repeating: SpanKey(trace: TraceKey(high: 0, low: 0), span: 0), count: 16)
        slots = Array(repeating: -1, count: 16)
        shift = 64 - 4
    }

    var capacity: Int { slots.count }
    static let bytesPerBucket = MemoryLayout<SpanKey>.stride + MemoryLayout<Int32>.stride

    @inline(__always)
    private func bucket(_ key: SpanKey) -> Int {
        let mixed = (key.span ^ key.trace.low ^ (key.trace.high &* 31)) &* 0x9E37_79B9_7F4A_7C15
        return Int(truncatingIfNeeded: mixed >> shift)
    }

    subscript(key: SpanKey) -> Int32? {
        var i = bucket(key)
        let mask = slots.count - 1
        while slots[i] >= 0 {
            if keys[i] == key { return slots[i] }
            i = (i + 1) & mask
        }
        return nil
    }

    /// Adds or replaces.
    mutating func insert(_ key: SpanKey, _ slot: Int32) {
        if (count + 1) * 4 > slots.count * 3 { grow() }
        var i = bucket(key)
        let mask = slots.count - 1
        while slots[i] >= 0 {
            if keys[i] == key { slots[i] = slot; return }
            i = (i + 1) & mask
        }
        keys[i] = key
        slots[i] = slot
        count += 1
    }

    /// Removes with backward-shift deletion, so lookups never need tombstones.
    mutating func remove(_ key: SpanKey) {
        let mask = slots.count - 1
        var i = bucket(key)
        while true {
            guard slots[i] >= 0 else { return }
            if keys[i] == key { break }
            i = (i + 1) & mask
        }
        var hole = i
        var j = i
        while true {
            j = (j + 1) & mask
            guard slots[j] >= 0 else { break }
            let home = bucket(keys[j])
            // Move j into the hole unless its home lies cyclically in (hole, j].
            let between = hole <= j ? (home > hole && home <= j) : (home > hole || home <= j)
            if !between {
                keys[hole] = keys[j]
                slots[hole] = slots[j]
                hole = j
            }
        }
        slots[hole] = -1
        count -= 1
    }

    private mutating func grow() {
        let oldKeys = keys, oldSlots = slots
        let newCount = slots.count * 2
        keys = Array(repeating: SpanKey(trace: TraceKey(high: 0, low: 0), span: 0), count: newCount)
        slots = Array(repeating: -1, count: newCount)
        shift -= 1
        count = 0
        for i in oldSlots.indices where oldSlots[i] >= 0 { insert(oldKeys[i], oldSlots[i]) }
    }
}
