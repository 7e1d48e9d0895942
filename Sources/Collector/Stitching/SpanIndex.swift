/// Span key → slot, open addressing with linear probing. Span IDs are random 64-bit values
/// (W3C Trace Context §3.2.2.4), so a multiply-shift of the key's words spreads them without
/// SipHash; that and the flat array make it about three times cheaper than `Dictionary`
/// here, which was the stitcher's largest cost per span. Key and slot share one 32-byte
/// bucket, so a probe of a table far larger than the caches costs one miss, not two.
struct SpanIndex {
    struct Bucket {
        var key: SpanKey
        var slot: Int32  // -1: empty
    }

    private var buckets: [Bucket]
    private var shift: UInt64
    private(set) var count = 0

    init() {
        buckets = Self.empty(16)
        shift = 64 - 4
    }

    private static func empty(_ count: Int) -> [Bucket] {
        Array(repeating: Bucket(key: SpanKey(trace: TraceKey(high: 0, low: 0), span: 0), slot: -1), count: count)
    }

    var capacity: Int { buckets.count }
    static let bytesPerBucket = MemoryLayout<Bucket>.stride

    @inline(__always)
    private func bucket(_ key: SpanKey) -> Int {
        let mixed = (key.span ^ key.trace.low ^ (key.trace.high &* 31)) &* 0x9E37_79B9_7F4A_7C15
        return Int(truncatingIfNeeded: mixed >> shift)
    }

    subscript(key: SpanKey) -> Int32? {
        buckets.withUnsafeBufferPointer { buckets in
            var i = bucket(key)
            let mask = buckets.count - 1
            while buckets[i].slot >= 0 {
                if buckets[i].key == key { return buckets[i].slot }
                i = (i + 1) & mask
            }
            return nil
        }
    }

    /// Adds or replaces.
    mutating func insert(_ key: SpanKey, _ slot: Int32) {
        _ = place(key, slot, replacing: true)
    }

    /// Adds unless the key is present: one probe where a lookup and an insert take two.
    /// True when it was absent.
    @discardableResult
    mutating func insertIfAbsent(_ key: SpanKey, _ slot: Int32) -> Bool {
        place(key, slot, replacing: false)
    }

    @inline(__always)
    private mutating func place(_ key: SpanKey, _ slot: Int32, replacing: Bool) -> Bool {
        if (count + 1) * 4 > buckets.count * 3 { grow() }
        let start = bucket(key)
        return buckets.withUnsafeMutableBufferPointer { buckets in
            var i = start
            let mask = buckets.count - 1
            while buckets[i].slot >= 0 {
                if buckets[i].key == key {
                    if replacing { buckets[i].slot = slot }
                    return false
                }
                i = (i + 1) & mask
            }
            buckets[i] = Bucket(key: key, slot: slot)
            count += 1
            return true
        }
    }

    /// Removes with backward-shift deletion, so lookups never need tombstones.
    mutating func remove(_ key: SpanKey) {
        let mask = buckets.count - 1
        var i = bucket(key)
        while true {
            guard buckets[i].slot >= 0 else { return }
            if buckets[i].key == key { break }
            i = (i + 1) & mask
        }
        var hole = i
        var j = i
        while true {
            j = (j + 1) & mask
            guard buckets[j].slot >= 0 else { break }
            let home = bucket(buckets[j].key)
            // Move j into the hole unless its home lies cyclically in (hole, j].
            let between = hole <= j ? (home > hole && home <= j) : (home > hole || home <= j)
            if !between {
                buckets[hole] = buckets[j]
                hole = j
            }
        }
        buckets[hole].slot = -1
        count -= 1
    }

    /// The slot in the bucket `key` hashes to, without probing on: a pass of these over a
    /// batch's keys, before the lookups, has the processor wait for their cache misses
    /// together instead of one after another (a table of millions of buckets misses on
    /// nearly every probe). Keep the results (their sum) somewhere, or the compiler drops
    /// the loads.
    func touch(_ key: SpanKey) -> Int32 {
        buckets.withUnsafeBufferPointer { $0[bucket(key)].slot }
    }

    /// Empties the index and keeps its table: an index filled again to its old size then
    /// writes to memory already mapped instead of growing through freshly faulted pages.
    mutating func removeAll() {
        buckets.withUnsafeMutableBufferPointer { buckets in
            for index in buckets.indices { buckets[index].slot = -1 }
        }
        count = 0
    }

    private mutating func grow() {
        let old = buckets
        buckets = Self.empty(old.count * 2)
        shift -= 1
        count = 0
        for entry in old where entry.slot >= 0 { insert(entry.key, entry.slot) }
    }
}
