@testable import Collector
import Telemetry
import Testing

/// The sort a segment's keys and links go through when it is sealed: the same order as the
/// standard sort, whether the keys spread over the buckets or not.
@Suite struct BucketSortTests {
    struct Keyed: Equatable {
        var key: StoredSpanKey
        var position: Int
    }

    func sorted(_ elements: [Keyed]) -> [Keyed] {
        var elements = elements, scratch: [Keyed] = [], counts: [Int] = []
        BucketSort.sort(&elements, scratch: &scratch, counts: &counts, leading: { $0.key.traceID.high }) {
            ($0.key, $0.position) < ($1.key, $1.position)
        }
        return elements
    }

    func expected(_ elements: [Keyed]) -> [Keyed] {
        elements.sorted { ($0.key, $0.position) < ($1.key, $1.position) }
    }

    func keys(_ count: Int, high: () -> UInt64) -> [Keyed] {
        (0 ..< count).map { position in
            Keyed(key: StoredSpanKey(traceID: TraceID(high: high(), low: .random(in: 0 ... 3)), spanID: .random(in: 0 ... 3)), position: position)
        }
    }

    @Test func randomTraceIDsSortAsTheStandardSortDoes() {
        for count in [0, 1, 2, 255, 256, 257, 1000, 70_000, 200_000] {
            let elements = keys(count) { .random(in: 0 ... .max) }
            #expect(sorted(elements) == expected(elements), "count \(count)")
        }
    }

    /// Trace IDs with a common prefix all land in one bucket; small ones repeat within a
    /// bucket, so equal keys are ordered by what follows them.
    @Test func keysThatDoNotSpreadSortAsTheStandardSortDoes() {
        for count in [100, 5000] {
            let prefixed = keys(count) { 0xABCD_0000_0000_0000 | .random(in: 0 ... 0xFFFF) }
            #expect(sorted(prefixed) == expected(prefixed))
            let few = keys(count) { .random(in: 0 ... 5) << 60 }
            #expect(sorted(few) == expected(few))
            let same = keys(count) { 7 }
            #expect(sorted(same) == expected(same))
        }
    }

    /// The working arrays are reused: a second, smaller sort through them is as right.
    @Test func scratchReusedAcrossSorts() {
        var scratch: [Keyed] = [], counts: [Int] = []
        for count in [50_000, 300, 20_000] {
            var elements = keys(count) { .random(in: 0 ... .max) }
            let want = expected(elements)
            BucketSort.sort(&elements, scratch: &scratch, counts: &counts, leading: { $0.key.traceID.high }) {
                ($0.key, $0.position) < ($1.key, $1.position)
            }
            #expect(elements == want)
        }
    }
}
