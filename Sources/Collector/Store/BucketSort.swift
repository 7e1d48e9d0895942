/// Sorting a segment's keys when it is sealed, faster than a comparison sort alone.
///
/// Span keys lead with a random trace ID, so the top 16 bits of its first half already
/// nearly order them: two stable counting passes of 8 bits each (least significant byte
/// first, 256 sequential output streams each, which the caches follow) order the elements
/// by those bits, and only the few elements sharing them are compared. Comparison sorts of
/// the keyed entries and of the links were 3.5 % of the collector's CPU at 100k spans/s.
/// (One pass into 65,536 buckets was no faster: each element's write was a cache miss.)
/// Keys that do not spread (trace IDs with a common prefix, from a sender that does not
/// randomize) leave long runs, each sorted by the standard sort: never worse than it by
/// more than the counting passes.
enum BucketSort {
    /// Sorts `elements` by `less`, which must order elements with a smaller `leading`
    /// first (`leading` is the most significant 64 bits of the sort key). Elements that
    /// compare equal may come out in any order. `scratch` and `counts` are working memory
    /// kept between calls.
    @inline(__always)
    static func sort<Element>(
        _ elements: inout [Element], scratch: inout [Element], counts: inout [Int],
        leading: (Element) -> UInt64, by less: (Element, Element) -> Bool
    ) {
        let count = elements.count
        // Below this the counting passes cost more than they save.
        guard count >= 256 else { return elements.sort(by: less) }
        counts.removeAll(keepingCapacity: true)
        counts.append(contentsOf: repeatElement(0, count: 512))
        // Both passes' counts in one read: bits 48-55 in counts[0..<256], 56-63 above.
        elements.withUnsafeBufferPointer { source in
            counts.withUnsafeMutableBufferPointer { counts in
                for element in source {
                    let top = leading(element) >> 48
                    counts[Int(top & 0xFF)] += 1
                    counts[256 + Int(top >> 8)] += 1
                }
            }
        }
        scratch.removeAll(keepingCapacity: true)
        // Every slot is written once in each pass; filled first so it can be written out of order.
        scratch.append(contentsOf: repeatElement(elements[0], count: count))
        distribute(&elements, into: &scratch, counts: &counts, base: 0) { Int(leading($0) >> 48 & 0xFF) }
        distribute(&scratch, into: &elements, counts: &counts, base: 256) { Int(leading($0) >> 56) }
        // Runs of equal top 16 bits, sorted in place.
        elements.withUnsafeMutableBufferPointer { buffer in
            var start = 0
            while start < count {
                let top = leading(buffer[start]) >> 48
                var end = start + 1
                while end < count, leading(buffer[end]) >> 48 == top { end += 1 }
                if end - start > 1 { sortRange(buffer, start, end, by: less) }
                start = end
            }
        }
    }

    /// One stable counting pass: `source` into `target` by the byte `digit` gives, with
    /// that byte's counts at `counts[base..<base + 256]`.
    @inline(__always)
    private static func distribute<Element>(
        _ source: inout [Element], into target: inout [Element], counts: inout [Int], base: Int, digit: (Element) -> Int
    ) {
        counts.withUnsafeMutableBufferPointer { counts in
            var next = 0
            for value in base ..< base + 256 {
                let size = counts[value]
                counts[value] = next
                next += size
            }
            source.withUnsafeBufferPointer { source in
                target.withUnsafeMutableBufferPointer { target in
                    for element in source {
                        let slot = base + digit(element)
                        target[counts[slot]] = element
                        counts[slot] += 1
                    }
                }
            }
        }
    }

    /// Sorts `buffer[start..<end]`: by insertion when short, which a run of random keys
    /// almost always is.
    @inline(__always)
    private static func sortRange<Element>(
        _ buffer: UnsafeMutableBufferPointer<Element>, _ start: Int, _ end: Int, by less: (Element, Element) -> Bool
    ) {
        guard end - start <= 16 else {
            var slice = UnsafeMutableBufferPointer(rebasing: buffer[start ..< end])
            return slice.sort(by: less)
        }
        for position in start + 1 ..< end {
            let element = buffer[position]
            var hole = position
            while hole > start, less(element, buffer[hole - 1]) {
                buffer[hole] = buffer[hole - 1]
                hole -= 1
            }
            buffer[hole] = element
        }
    }
}
