@testable import Collector
import Testing

@Suite struct LaneQueueTests {
    final class Batch: Sendable {
        let number: Int
        init(_ number: Int) { self.number = number }
    }

    @Test func aBatchHandedOverIsNoLongerHeldWhileOthersWait() {
        let queue = LaneQueue<Batch>()
        weak var first: Batch?
        do {
            let batch = Batch(1)
            first = batch
            queue.append(batch)
            queue.append(Batch(2))
            #expect(queue.available(upTo: 1).map(\.number) == [1])
        }
        #expect(first == nil)
        #expect(queue.available(upTo: 5).map(\.number) == [2])
    }
}
