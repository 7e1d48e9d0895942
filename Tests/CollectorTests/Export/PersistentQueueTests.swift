import CompressNIO
import Foundation
import KafkaWire
import NIOCore
import NIOHTTP1
import Telemetry
import Testing

@testable import Collector

@Suite("Exporter persistent queue")
struct PersistentQueueTests {
    @Test func aTornTailIsTruncatedAndTheIntactRecordsAreDelivered() async throws {
        let data = try ExporterFixture.temporaryDirectory()
        defer { ExporterFixture.remove(data) }
        // The first exporter's endpoint is a port nothing listens on (1: privileged, never
        // an ephemeral port), so its shutdown cannot deliver the batches anywhere; a port
        // freed by a probe could be taken by another test's server in between (it was once).
        let refused = try ExporterFixture.settings("otlphttp", "endpoint: http://127.0.0.1:1\ncompression: none\n")
        let first = try ExporterFixture.exporter(refused, dataDirectory: data)
        let accepted = [ExporterFixture.traces(10), ExporterFixture.traces(11)]
        for batch in accepted { try await first.consume(batch) }
        await first.shutdown()

        // A crash in the middle of an append: a header promising more bytes than follow.
        let segment = try #require(try ExporterFixture.segmentFiles(refused, dataDirectory: data).last)
        let intactSize = try #require(try FileManager.default.attributesOfItem(atPath: segment)[.size] as? Int)
        let handle = try #require(FileHandle(forWritingAtPath: segment))
        try handle.seekToEnd()
        try handle.write(contentsOf: Data([0x00, 0x10, 0x00, 0x00, 0xDE, 0xAD, 0xBE, 0xEF, 1, 2, 3]))
        try handle.close()

        let sink = try await HTTPSink.start()
        let settings = try ExporterFixture.settings("otlphttp", "endpoint: http://127.0.0.1:\(sink.port)\ncompression: none\n")
        let second = try ExporterFixture.exporter(settings, dataDirectory: data)
        #expect(await second.queue.count == 2)
        #expect(try FileManager.default.attributesOfItem(atPath: segment)[.size] as? Int == intactSize)
        let later = ExporterFixture.traces(12)
        try await second.consume(later)

        try await withRunningExporter(second) {
            let requests = try await sink.waitForRequests(3)
            #expect(try requests.map { try ExportTraceServiceRequest(protobuf: $0.body) } == accepted + [later])
        }
        try await sink.stop()
    }

    @Test func aRecordWithABadChecksumIsCutOffWithEverythingAfterIt() async throws {
        let data = try ExporterFixture.temporaryDirectory()
        defer { ExporterFixture.remove(data) }
        let settings = try ExporterFixture.settings("otlphttp", "endpoint: http://127.0.0.1:9\ncompression: none\n")
        let first = try ExporterFixture.exporter(settings, dataDirectory: data)
        try await first.consume(ExporterFixture.traces(13))
        try await first.consume(ExporterFixture.traces(14))
        await first.shutdown()
        let segment = try #require(try ExporterFixture.segmentFiles(settings, dataDirectory: data).last)
        var bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: segment)))
        bytes[bytes.count - 1] ^= 0xFF
        try Data(bytes).write(to: URL(fileURLWithPath: segment))

        let second = try ExporterFixture.exporter(settings, dataDirectory: data)
        #expect(await second.queue.count == 1)
        await second.shutdown()
    }

    /// Records carry CRC-32C; a queue an earlier version wrote, whose records carry CRC-32,
    /// is still delivered whole after the upgrade.
    @Test func recordsQueuedWithTheEarlierCRC32AreStillDelivered() async throws {
        let data = try ExporterFixture.temporaryDirectory()
        defer { ExporterFixture.remove(data) }
        let refused = try ExporterFixture.settings("otlphttp", "endpoint: http://127.0.0.1:1\ncompression: none\n")
        let first = try ExporterFixture.exporter(refused, dataDirectory: data)
        let accepted = [ExporterFixture.traces(15), ExporterFixture.traces(16)]
        for batch in accepted { try await first.consume(batch) }
        await first.shutdown()
        let segment = try #require(try ExporterFixture.segmentFiles(refused, dataDirectory: data).last)
        var bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: segment)))
        var position = 0
        while position + PersistentQueue.headerSize <= bytes.count {
            let length = Int(UInt32(littleEndianBytes: bytes[position..<position + 4]))
            let payload = bytes[(position + PersistentQueue.headerSize)..<(position + PersistentQueue.headerSize + length)]
            #expect(UInt32(littleEndianBytes: bytes[position + 4..<position + 8]) == CRC32C.checksum(payload))
            let old = CRC32.checksum(payload)
            for index in 0..<4 { bytes[position + 4 + index] = UInt8(truncatingIfNeeded: old >> (8 * index)) }
            position += PersistentQueue.headerSize + length
        }
        #expect(position == bytes.count)
        try Data(bytes).write(to: URL(fileURLWithPath: segment))

        let sink = try await HTTPSink.start()
        let settings = try ExporterFixture.settings("otlphttp", "endpoint: http://127.0.0.1:\(sink.port)\ncompression: none\n")
        let second = try ExporterFixture.exporter(settings, dataDirectory: data)
        #expect(await second.queue.count == 2)
        try await withRunningExporter(second) {
            let requests = try await sink.waitForRequests(2)
            #expect(try requests.map { try ExportTraceServiceRequest(protobuf: $0.body) } == accepted)
        }
        try await sink.stop()
    }

    /// Records are now queued compressed, with an encoding byte (version 2); records an
    /// earlier version queued (version 1, uncompressed) are still delivered, compressed
    /// as they are sent when the exporter sends gzip.
    @Test func uncompressedRecordsOfTheEarlierLayoutAreStillDelivered() async throws {
        let data = try ExporterFixture.temporaryDirectory()
        defer { ExporterFixture.remove(data) }
        let refused = try ExporterFixture.settings("otlphttp", "endpoint: http://127.0.0.1:1\n")
        let first = try ExporterFixture.exporter(refused, dataDirectory: data)
        let earlier = ExporterFixture.traces(17)
        var record = [UInt8](repeating: 0, count: PersistentQueue.headerSize) + [1, ExportSignal.traces.rawValue, ExportBodyFormat.otlpProtobuf.rawValue]
        record.appendLittleEndian(UInt32(earlier.spanCount))
        record += earlier.protobufBytes()
        PersistentQueue.seal(&record)
        try await first.queue.append(record)
        let later = ExporterFixture.traces(18)
        try await first.consume(later)
        await first.shutdown()

        let sink = try await HTTPSink.start()
        let settings = try ExporterFixture.settings("otlphttp", "endpoint: http://127.0.0.1:\(sink.port)\n")
        let second = try ExporterFixture.exporter(settings, dataDirectory: data)
        try await withRunningExporter(second) {
            let requests = try await sink.waitForRequests(2)
            #expect(requests.map { $0.headers.first(name: "Content-Encoding") } == ["gzip", "gzip"])
            let inflated = try requests.map { request in
                var compressed = ByteBuffer(bytes: request.body)
                return try ExportTraceServiceRequest(protobuf: Array(compressed.decompress(with: .gzip()).readableBytesView))
            }
            #expect(inflated == [earlier, later])
        }
        try await sink.stop()
    }

    @Test func aFullQueueRefusesWithAnErrorThatSaysSo() async throws {
        let data = try ExporterFixture.temporaryDirectory()
        defer { ExporterFixture.remove(data) }
        let settings = try ExporterFixture.settings(
            "otlphttp", "endpoint: http://127.0.0.1:9\nsending_queue:\n  max_bytes: 2KiB\n")
        let exporter = try ExporterFixture.exporter(settings, dataDirectory: data)
        var accepted = 0
        var refusal: (any Error)?
        for seed in 0..<100 {
            do {
                try await exporter.consume(ExporterFixture.traces(UInt64(seed), spans: 3))
                accepted += 1
            } catch {
                refusal = error
                break
            }
        }
        #expect(accepted > 0)
        let error = try #require(refusal as? ExportQueueError)
        guard case .full = error else {
            Issue.record("expected a full queue, got \(error)")
            return
        }
        #expect(String(describing: error).contains("queue full"))
        #expect(await exporter.queue.queuedBytes <= 2048)
        await exporter.shutdown()
    }

    @Test func aBatchLargerThanTheWholeQueueIsRefusedAsSuch() async throws {
        let data = try ExporterFixture.temporaryDirectory()
        defer { ExporterFixture.remove(data) }
        let settings = try ExporterFixture.settings("otlphttp", "endpoint: http://127.0.0.1:9\nsending_queue:\n  max_bytes: 512\n")
        let exporter = try ExporterFixture.exporter(settings, dataDirectory: data)
        await #expect {
            try await exporter.consume(ExporterFixture.traces(1, spans: 50))
        } throws: { error in
            guard case .batchTooLarge = error as? ExportQueueError else { return false }
            return true
        }
        await exporter.shutdown()
    }

    @Test func queueSizeLimitsTheNumberOfBatches() async throws {
        let data = try ExporterFixture.temporaryDirectory()
        defer { ExporterFixture.remove(data) }
        let settings = try ExporterFixture.settings("zipkin", "endpoint: http://127.0.0.1:9/api/v2/spans\nsending_queue:\n  queue_size: 2\n")
        let exporter = try ExporterFixture.exporter(settings, dataDirectory: data)
        try await exporter.consume(ExporterFixture.traces(1))
        try await exporter.consume(ExporterFixture.traces(2))
        await #expect(throws: ExportQueueError.self) { try await exporter.consume(ExporterFixture.traces(3)) }
        await exporter.shutdown()
    }

    @Test func deliveredSegmentsAreDeleted() async throws {
        let sink = try await HTTPSink.start()
        let data = try ExporterFixture.temporaryDirectory()
        defer { ExporterFixture.remove(data) }
        var settings = try ExporterFixture.settings("otlphttp", "endpoint: http://127.0.0.1:\(sink.port)\n")
        settings.segmentBytes = 256
        let exporter = try ExporterFixture.exporter(settings, dataDirectory: data)
        for seed in 0..<5 { try await exporter.consume(ExporterFixture.traces(UInt64(seed))) }
        #expect(try ExporterFixture.segmentFiles(settings, dataDirectory: data).count == 5)
        try await withRunningExporter(exporter) {
            try await waitUntil { exporter.metrics.tally.snapshot.sentBatches == 5 }
        }
        #expect(try ExporterFixture.segmentFiles(settings, dataDirectory: data).count == 1)
        try await sink.stop()
    }

    /// Records are handed out from memory up to `unreadLimit` bytes (a record damaged on
    /// disk meanwhile is still given intact) and read back from disk past it, in order
    /// either way; with the limit freed, from memory again.
    @Test(.timeLimit(.minutes(1))) func recordsPastTheInMemoryLimitAreReadBackFromDisk() async throws {
        let data = try ExporterFixture.temporaryDirectory()
        defer { ExporterFixture.remove(data) }
        var settings = try ExporterFixture.settings("otlphttp", "endpoint: http://127.0.0.1:1\n")
        settings.segmentBytes = 3 << 20
        let exporter = try ExporterFixture.exporter(settings, dataDirectory: data)
        let queue = exporter.queue
        let payloads = (0..<7).map { seed in (0..<(1 << 20) + seed).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ seed) } }
        for payload in payloads.prefix(6) {
            var record = [UInt8](repeating: 0, count: PersistentQueue.headerSize) + payload
            PersistentQueue.seal(&record)
            try await queue.append(record)
        }
        #expect(payloads.prefix(6).reduce(0) { $0 + $1.count } > PersistentQueue.unreadLimit)
        // A byte of the first payload changed on disk: that record is given from memory.
        let first = try #require(try ExporterFixture.segmentFiles(settings, dataDirectory: data).first)
        let handle = try #require(FileHandle(forWritingAtPath: first))
        try handle.seek(toOffset: UInt64(PersistentQueue.headerSize + 100))
        try handle.write(contentsOf: Data([~payloads[0][100]]))
        try handle.close()
        var delivered: [[UInt8]] = []
        for _ in 0..<5 { delivered.append(try #require(await queue.next()).payload) }
        var last = [UInt8](repeating: 0, count: PersistentQueue.headerSize) + payloads[6]
        PersistentQueue.seal(&last)
        try await queue.append(last)
        for _ in 0..<2 { delivered.append(try #require(await queue.next()).payload) }
        #expect(delivered == payloads)
        await exporter.shutdown()
    }

    @Test func aSecondExporterOnTheSameQueueIsRefusedWhileTheFirstIsOpen() async throws {
        let data = try ExporterFixture.temporaryDirectory()
        defer { ExporterFixture.remove(data) }
        let settings = try ExporterFixture.settings("otlphttp", "endpoint: http://127.0.0.1:9\n")
        let first = try ExporterFixture.exporter(settings, dataDirectory: data)
        #expect(throws: ExportQueueError.self) { _ = try ExporterFixture.exporter(settings, dataDirectory: data) }
        await first.shutdown()
        let second = try ExporterFixture.exporter(settings, dataDirectory: data)
        await second.shutdown()
    }

    @Test func concurrentAppendsAreAllDurable() async throws {
        let data = try ExporterFixture.temporaryDirectory()
        defer { ExporterFixture.remove(data) }
        var settings = try ExporterFixture.settings("otlphttp", "endpoint: http://127.0.0.1:9\n")
        settings.segmentBytes = 2048
        settings.drainTimeout = .zero
        let first = try ExporterFixture.exporter(settings, dataDirectory: data)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for seed in 0..<20 {
                group.addTask { try await first.consume(ExporterFixture.traces(UInt64(seed))) }
            }
            try await group.waitForAll()
        }
        await first.shutdown()
        let second = try ExporterFixture.exporter(settings, dataDirectory: data)
        #expect(await second.queue.count == 20)
        await second.shutdown()
    }

    /// Batches handed over together are queued with one sync, across segment files, and
    /// sent in order; one refused (too large) keeps none of the others out, and the
    /// refusal is still reported.
    @Test func batchesHandedOverTogetherAreAllQueuedInOrderDespiteARefusal() async throws {
        let sink = try await HTTPSink.start()
        let data = try ExporterFixture.temporaryDirectory()
        defer { ExporterFixture.remove(data) }
        var settings = try ExporterFixture.settings(
            "otlphttp", "endpoint: http://127.0.0.1:\(sink.port)\ncompression: none\nsending_queue:\n  max_bytes: 16KiB\n")
        settings.segmentBytes = 2048
        let exporter = try ExporterFixture.exporter(settings, dataDirectory: data)
        let batches = (0..<8).map { ExporterFixture.traces(UInt64($0)) }
        try await withRunningExporter(exporter) {
            await #expect {
                try await exporter.consume(batches.prefix(4) + [ExporterFixture.traces(99, spans: 400)] + batches.suffix(4))
            } throws: { error in
                guard case .batchTooLarge = error as? ExportQueueError else { return false }
                return true
            }
            let sent = try await sink.waitForRequests(8).map { try ExportTraceServiceRequest(protobuf: $0.body) }
            #expect(sent == batches)
        }
        try await sink.stop()
    }

    /// Queues `batches` to a sink that takes the first two and then answers 503, and stops
    /// the exporter: the queue's files are left with two delivered and the rest not.
    private func deliverTwoOf(_ batches: [ExportTraceServiceRequest], data: String) async throws -> ExporterSettings {
        let sink = try await HTTPSink.start(script: [HTTPSink.Reply(status: .ok), HTTPSink.Reply(status: .ok)]
            + Array(repeating: HTTPSink.Reply(status: .serviceUnavailable), count: 10_000))
        var settings = try ExporterFixture.settings("otlphttp", "endpoint: http://127.0.0.1:\(sink.port)\ncompression: none\n")
        settings.segmentBytes = 1024
        let first = try ExporterFixture.exporter(settings, dataDirectory: data)
        try await withRunningExporter(first) {
            for batch in batches { try await first.consume(batch) }
            try await waitUntil { first.metrics.tally.snapshot.sentBatches == 2 && first.metrics.tally.snapshot.failed >= 1 }
        }
        try await sink.stop()
        return settings
    }

    @Test func aRestartAfterPartialDeliverySendsOnlyTheRest() async throws {
        let data = try ExporterFixture.temporaryDirectory()
        defer { ExporterFixture.remove(data) }
        let batches = (50..<54).map { ExporterFixture.traces(UInt64($0)) }
        var settings = try await deliverTwoOf(batches, data: data)

        let healthy = try await HTTPSink.start()
        settings.tracesURL = "http://127.0.0.1:\(healthy.port)/v1/traces"
        let second = try ExporterFixture.exporter(settings, dataDirectory: data)
        #expect(await second.queue.count == 2)
        try await withRunningExporter(second) {
            let requests = try await healthy.waitForRequests(2)
            #expect(try requests.map { try ExportTraceServiceRequest(protobuf: $0.body) } == Array(batches[2...]))
            try await waitUntil { second.metrics.tally.snapshot.sentBatches == 2 }
        }
        #expect(healthy.requests.count == 2)
        try await healthy.stop()
    }

    /// The cursor is written in place (no temporary file), not synced: a damaged one (a torn
    /// write in a power cut) is refused by its CRC, and the restart delivers from the oldest
    /// segment left, at least once.
    @Test func aDamagedCursorDeliversFromTheOldestSegmentLeft() async throws {
        let data = try ExporterFixture.temporaryDirectory()
        defer { ExporterFixture.remove(data) }
        let batches = (60..<64).map { ExporterFixture.traces(UInt64($0)) }
        var settings = try await deliverTwoOf(batches, data: data)
        let files = FileManager.default.enumerator(atPath: data)?.compactMap { $0 as? String } ?? []
        let cursor = data + "/" + (try #require(files.first { $0.hasSuffix("/cursor") }))
        #expect(!files.contains { $0.hasSuffix(".tmp") })
        var bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: cursor)))
        #expect(bytes.count == 20)
        bytes[3] ^= 0xFF
        try Data(bytes).write(to: URL(fileURLWithPath: cursor))

        let healthy = try await HTTPSink.start()
        settings.tracesURL = "http://127.0.0.1:\(healthy.port)/v1/traces"
        let second = try ExporterFixture.exporter(settings, dataDirectory: data)
        @Sendable func delivered() -> [ExportTraceServiceRequest] {
            healthy.requests.compactMap { try? ExportTraceServiceRequest(protobuf: $0.body) }
        }
        try await withRunningExporter(second) {
            // Both undelivered batches arrive; delivered ones in the oldest segment left may
            // arrive again, in order before them.
            try await waitUntil { delivered().suffix(2) == Array(batches[2...]) }
        }
        #expect(delivered().allSatisfy(batches.contains))
        #expect(await second.queue.count == 0)
        try await healthy.stop()
    }

    @Test func shutdownStopsAcceptingBatches() async throws {
        let data = try ExporterFixture.temporaryDirectory()
        defer { ExporterFixture.remove(data) }
        let settings = try ExporterFixture.settings("otlphttp", "endpoint: http://127.0.0.1:9\n")
        let exporter = try ExporterFixture.exporter(settings, dataDirectory: data)
        await exporter.shutdown()
        await #expect(throws: ExportQueueError.self) { try await exporter.consume(ExporterFixture.traces()) }
    }
}

/// The queue's records are checked with zlib's CRC-32, eight bytes a step.
@Suite struct CRC32Tests {
    @Test func theCheckValueOfTheStandardInputIsCBF43926() {
        #expect(CRC32.checksum(Array("123456789".utf8)[...]) == 0xCBF4_3926)
        #expect(CRC32.checksum([][...]) == 0)
    }

    @Test func everyLengthAndStartAgreesWithTheByteAtATimeDefinition() {
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<300).map { _ in UInt8.random(in: 0...255, using: &generator) }
        for start in 0..<9 {
            for end in start...bytes.count where end - start < 40 || end == bytes.count {
                #expect(CRC32.checksum(bytes[start..<end]) == Self.byteAtATime(bytes[start..<end]), "bytes \(start)..<\(end)")
            }
        }
    }

    private static func byteAtATime(_ bytes: ArraySlice<UInt8>) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        for byte in bytes {
            crc ^= UInt32(byte)
            for _ in 0..<8 { crc = crc & 1 == 1 ? 0xEDB8_8320 ^ (crc >> 1) : crc >> 1 }
        }
        return crc ^ 0xFFFF_FFFF
    }
}
