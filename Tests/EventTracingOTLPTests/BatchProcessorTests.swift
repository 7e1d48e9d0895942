@testable import EventTracingOTLP
import Logging
import Testing

@Suite("BatchProcessor")
struct BatchProcessorTests {
    @Test("a full batch is exported at once, without waiting for the schedule")
    func exportsWhenBatchIsFull() async {
        let exported = Exported<Int>()
        let processor = BatchProcessor<Int>(
            configuration: OTLPBatchConfiguration(maxQueueSize: 100, scheduleDelay: .seconds(60), maxExportBatchSize: 3)
        ) { exported.append($0) }
        let loop = Task { await processor.run() }
        for item in 1...3 { processor.enqueue(item) }
        #expect(await exported.wait(for: 3) == [1, 2, 3])
        #expect(exported.all == [[1, 2, 3]])
        await processor.shutdownAndDrain()
        await loop.value
    }

    @Test("a partial batch is exported when the schedule delay has passed")
    func exportsOnSchedule() async {
        let exported = Exported<Int>()
        let processor = BatchProcessor<Int>(
            configuration: OTLPBatchConfiguration(maxQueueSize: 100, scheduleDelay: .milliseconds(50), maxExportBatchSize: 10)
        ) { exported.append($0) }
        let loop = Task { await processor.run() }
        let start = ContinuousClock.now
        processor.enqueue(7)
        #expect(await exported.wait(for: 1) == [7])
        #expect(ContinuousClock.now - start >= .milliseconds(40))
        await processor.shutdownAndDrain()
        await loop.value
    }

    @Test("an item that finds the queue full is dropped and counted, never waited for")
    func fullQueueDrops() async {
        let exported = Exported<Int>()
        let processor = BatchProcessor<Int>(
            configuration: OTLPBatchConfiguration(maxQueueSize: 4, scheduleDelay: .seconds(60), maxExportBatchSize: 4)
        ) { exported.append($0) }
        for item in 1...10 { processor.enqueue(item) }
        #expect(processor.droppedCount == 6)
        await processor.forceFlush()
        #expect(exported.items == [1, 2, 3, 4])
    }

    @Test("forceFlush exports everything queued, in batches of the export size")
    func forceFlushExportsAll() async {
        let exported = Exported<Int>()
        let processor = BatchProcessor<Int>(
            configuration: OTLPBatchConfiguration(maxQueueSize: 100, scheduleDelay: .seconds(60), maxExportBatchSize: 4)
        ) { exported.append($0) }
        let loop = Task { await processor.run() }
        // Nine items: the loop may take the first full batch itself; all nine leave either way.
        for item in 1...9 { processor.enqueue(item) }
        await processor.forceFlush()
        #expect(exported.items.sorted() == Array(1...9))
        #expect(exported.all.allSatisfy { $0.count <= 4 })
        await processor.shutdownAndDrain()
        await loop.value
    }

    @Test("shutdown drains the queue before run returns, and later items are dropped")
    func shutdownDrains() async {
        let exported = Exported<Int>()
        let processor = BatchProcessor<Int>(
            configuration: OTLPBatchConfiguration(maxQueueSize: 100, scheduleDelay: .seconds(60), maxExportBatchSize: 50)
        ) { exported.append($0) }
        let loop = Task { await processor.run() }
        for item in 1...5 { processor.enqueue(item) }
        processor.shutdown()
        await loop.value
        #expect(exported.items == [1, 2, 3, 4, 5])
        processor.enqueue(6)
        #expect(processor.droppedCount == 1)
    }

    @Test("cancelling the loop also drains the queue")
    func cancellationDrains() async {
        let exported = Exported<Int>()
        let processor = BatchProcessor<Int>(
            configuration: OTLPBatchConfiguration(maxQueueSize: 100, scheduleDelay: .seconds(60), maxExportBatchSize: 50)
        ) { exported.append($0) }
        let loop = Task { await processor.run() }
        processor.enqueue(1)
        try? await Task.sleep(for: .milliseconds(10))
        loop.cancel()
        await loop.value
        #expect(exported.items == [1])
    }
}

@Suite("BatchProcessor drop reports")
struct BatchProcessorDropReportTests {
    @Test("drops are reported once per export cycle, with their number and the queue setting")
    func dropsAreLoggedOnce() async {
        let lines = LogLines()
        let logger = Logger(label: "test") { _ in lines.handler }
        let processor = BatchProcessor<Int>(
            configuration: OTLPBatchConfiguration(maxQueueSize: 2, scheduleDelay: .milliseconds(20), maxExportBatchSize: 2),
            dropReporter: (logger, "spans", "OTEL_BSP_MAX_QUEUE_SIZE")
        ) { _ in }
        for item in 1...5 { processor.enqueue(item) }
        let loop = Task { await processor.run() }
        await processor.shutdownAndDrain()
        await loop.value
        #expect(lines.all == ["3 spans dropped: the export queue of 2 was full or shut down (OTEL_BSP_MAX_QUEUE_SIZE)"])
    }
}
