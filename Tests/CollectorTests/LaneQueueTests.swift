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

    /// Arrays appended keep their order, behind and ahead of single elements; waiting takes
    /// nothing; a finished queue refuses more and, once drained, ends the wait.
    @Test func arraysAppendedKeepTheirOrderAndWaitingTakesNothing() async {
        let queue = LaneQueue<Batch>()
        #expect(queue.append(contentsOf: [Batch(1), Batch(2)]))
        queue.append(Batch(3))
        #expect(queue.append(contentsOf: [Batch(4), Batch(5)]))
        #expect(queue.append(contentsOf: []))
        #expect(await queue.waitForElements())
        #expect(queue.count == 5)
        #expect(queue.available(upTo: 2).map(\.number) == [1, 2])
        #expect(queue.available(upTo: 3).map(\.number) == [3, 4, 5])
        #expect(queue.count == 0)
        let waiting = Task { await queue.waitForElements() }
        queue.append(contentsOf: [Batch(6)])
        #expect(await waiting.value)
        queue.finish()
        #expect(!queue.append(contentsOf: [Batch(7)]))
        #expect(!queue.append(Batch(8)))
        #expect(queue.available(upTo: 9).map(\.number) == [6])
        #expect(await !queue.waitForElements())
    }
}
