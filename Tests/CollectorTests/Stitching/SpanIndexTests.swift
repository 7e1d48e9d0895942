import Testing

@testable import Collector

@Test func spanIndexAgreesWithDictionaryThroughInsertsAndRemovals() {
    var index = SpanIndex()
    var reference: [SpanKey: Int32] = [:]
    var seed: UInt64 = 42
    func next() -> UInt64 {
        seed = seed &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
        return seed >> 16  // few distinct high bits: many keys share buckets' neighbourhoods
    }
    var keys: [SpanKey] = []
    for n in 0..<5_000 {
        let key = SpanKey(trace: TraceKey(high: next() % 7, low: next() % 1_000), span: next() % 50_000)
        keys.append(key)
        index.insert(key, Int32(n))
        reference[key] = Int32(n)
        if n % 3 == 0 {
            let victim = keys[Int(next() % UInt64(keys.count))]
            index.remove(victim)
            reference.removeValue(forKey: victim)
        }
    }
    #expect(index.count == reference.count)
    #expect(keys.allSatisfy { index[$0] == reference[$0] })
}

@Test func spanIndexInsertIfAbsentKeepsTheFirstSlot() {
    var index = SpanIndex()
    let key = SpanKey(trace: TraceKey(high: 1, low: 2), span: 0)
    index.insertIfAbsent(key, 7)
    index.insertIfAbsent(key, 9)
    #expect(index[key] == 7)
    #expect(index.count == 1)
    index.insert(key, 9)
    #expect(index[key] == 9)
}

@Test func internedStringsKeepOneIDPerTextWhenRecentSlotsCollide() {
    var strings = InternedStrings()
    // Same length, first and last byte: the same slot of the recent-ID cache.
    let texts = ["orders-a", "orders-b", "oXXXXXXa", "orders-a", "oXXXXXXa", "orders-b"]
    let ids = texts.map { strings.intern($0) }
    #expect(ids == [0, 1, 2, 0, 2, 1])
    #expect(strings.values == ["orders-a", "orders-b", "oXXXXXXa"])
    #expect(strings[2] == "oXXXXXXa")
}
