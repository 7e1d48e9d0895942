@testable import Collector
import Foundation
import Logging
import Synchronization
import Telemetry
import Testing

/// The span store's segment files: what survives a restart, a crash mid-write and a lost
/// index, and that queries read sealed segments as they read the one being written.
@Suite struct SpanSegmentTests {
    /// 256 KiB of retention makes 16 KiB segments: one is sealed every three or four batches.
    static let retention = TelemetryStore.Retention(maxAgeSeconds: 1 << 40, maxBytes: 256 * 1024, intervalSeconds: 60)

    func openStore(_ directory: String, logger: Logger = quietLogger) throws -> TelemetryStore {
        try TelemetryStore(directory: directory, retention: Self.retention, correlationAttributes: ["correlation.id"], logger: logger)
    }

    /// Batch `n`: a producer in trace (n, 1) and its consumer in trace (n, 2) linking to it,
    /// `n` seconds after the samples, each span padded to about 2 KB.
    func batch(_ n: Int) -> ExportTraceServiceRequest {
        var traces = Samples.traces
        let padding = KeyValue("padding", .string(String(repeating: "x", count: 2048)))
        for r in traces.resourceSpans.indices {
            traces.resourceSpans[r].scopeSpans[0].spans[0].traceID = TraceID(high: UInt64(n), low: UInt64(r + 1))
            traces.resourceSpans[r].scopeSpans[0].spans[0].startTimeUnixNano += UInt64(n) * 1_000_000_000
            traces.resourceSpans[r].scopeSpans[0].spans[0].endTimeUnixNano += UInt64(n) * 1_000_000_000
            traces.resourceSpans[r].scopeSpans[0].spans[0].attributes.append(padding)
        }
        traces.resourceSpans[1].scopeSpans[0].spans[0].links[0].traceID = TraceID(high: UInt64(n), low: 1)
        return traces
    }

    func segmentFiles(_ directory: String, _ suffix: String) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: directory + "/spans").filter { $0.hasSuffix(suffix) }.sorted()
            .map { directory + "/spans/" + $0 }
    }

    @Test func spansInSealedAndCurrentSegmentsAreReadAfterARestart() async throws {
        let directory = try temporaryDirectory()
        do {
            let store = try openStore(directory)
            for n in 1...20 { try await store.consume(batch(n)) }
        }
        #expect(try segmentFiles(directory, ".index").count >= 4)
        let store = try openStore(directory)
        for n in [1, 10, 20] {
            let trace = try await store.traces([TraceID(high: UInt64(n), low: 2).hex])
            #expect(trace.resourceSpans.first?.scopeSpans.first?.spans.first?.links.first?.traceID == TraceID(high: UInt64(n), low: 1))
            let backlinks = try await store.backlinks(traceID: TraceID(high: UInt64(n), low: 1).hex, spanID: Samples.producerSpan.hex)
            #expect(backlinks.map(\.traceID) == [TraceID(high: UInt64(n), low: 2).hex])
            #expect(backlinks.first?.service == "inventory-service")
        }
        var query = TraceQuery()
        query.service = "inventory-service"
        query.limit = 3
        #expect(try await store.findTraceIDs(query) == [20, 19, 18].map { TraceID(high: $0, low: 2).hex })
        query.startNanos = Int64(1_700_000_000_000_000_000 + 2 * 1_000_000_000)
        query.endNanos = Int64(1_700_000_000_000_000_000 + 4 * 1_000_000_000)
        query.limit = 20
        #expect(try await store.findTraceIDs(query) == [3, 2].map { TraceID(high: $0, low: 2).hex })
        query.tags = ["error": "true"]
        #expect(try await store.findTraceIDs(query).count == 2)
        query.tags = ["error": "false"]
        #expect(try await store.findTraceIDs(query).isEmpty)
        // A resource attribute, and a key no stored span has.
        query.tags = ["host.name": "test-host", "correlation.id": "order-42"]
        #expect(try await store.findTraceIDs(query) == [3, 2].map { TraceID(high: $0, low: 2).hex })
        query.tags = ["no.such.key": "x"]
        #expect(try await store.findTraceIDs(query).isEmpty)
    }

    /// A full segment that cannot be sealed (here its index cannot be created, as on a
    /// full disk) refuses nothing: its batches are stored and read back once each, no
    /// descriptor or file is left behind by the failed attempts, and it is sealed once
    /// sealing works again.
    @Test func aSegmentThatCannotBeSealedKeepsItsSpansAndIsSealedLater() async throws {
        let directory = try temporaryDirectory()
        let obstacle = directory + "/spans/000000000001.index.tmp"
        try FileManager.default.createDirectory(atPath: obstacle, withIntermediateDirectories: true)
        let lines = CapturedLog()
        let store = try openStore(directory, logger: Logger(label: "test") { _ in lines })
        let sealFailures = { lines.entries.list.withLock { $0.filter { $0.message.hasPrefix("cannot seal") }.count } }
        // Four batches fill a segment; each later one (a quarter of a segment) tries to seal it again.
        for n in 1...10 { try await store.consume(batch(n)) }
        #expect(sealFailures() == 7)
        // Smaller batches: sealing is tried again only once the segment has grown by an
        // eighth of a segment (2 KiB here) since the last try.
        func size() async throws -> Int { try await store.spans.with { files in files.byteCount } }
        var failedAt = try await size()
        for n in 100..<110 {
            var small = batch(n)
            for r in small.resourceSpans.indices { small.resourceSpans[r].scopeSpans[0].spans[0].attributes.removeLast() }
            let before = sealFailures()
            try await store.consume(small)
            let grown = try await size() - failedAt
            #expect(sealFailures() == before + (grown >= 2048 ? 1 : 0), "grown by \(grown)")
            if sealFailures() > before { failedAt = try await size() }
        }
        #expect(!FileManager.default.fileExists(atPath: directory + "/spans/000000000002.spans"))
        #expect(try segmentFiles(directory, ".index").isEmpty)
        let descriptors = try FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd").compactMap {
            try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/fd/" + $0)
        }
        #expect(!descriptors.contains { $0.contains(directory + "/spans/000000000002.spans") })
        try FileManager.default.removeItem(atPath: obstacle)
        try await store.consume(batch(11))
        #expect(FileManager.default.fileExists(atPath: directory + "/spans/000000000001.index"))
        #expect(FileManager.default.fileExists(atPath: directory + "/spans/000000000002.spans"))
        for n in Array(1...11) + Array(100..<110) {
            let trace = try await store.traces([TraceID(high: UInt64(n), low: 2).hex])
            #expect(trace.spanCount == 1, "batch \(n)")
        }
    }

    @Test func aSecondStoreOnTheSameDirectoryIsRefusedWhileTheFirstIsOpen() throws {
        let directory = try temporaryDirectory()
        var first: TelemetryStore? = try openStore(directory)
        #expect(throws: SpanStoreError.self) { try openStore(directory) }
        _ = first
        first = nil
        _ = try openStore(directory)
    }

    @Test func aSpanSentAgainAfterItsSegmentWasSealedIsShownOnce() async throws {
        let store = try openStore(try temporaryDirectory())
        for n in 1...20 { try await store.consume(batch(n)) }
        try await store.consume(batch(1))
        #expect(try await store.traces([TraceID(high: 1, low: 1).hex, TraceID(high: 1, low: 2).hex]).spanCount == 2)
        #expect(try await store.backlinks(traceID: TraceID(high: 1, low: 1).hex, spanID: Samples.producerSpan.hex).count == 1)
    }

    /// Services and operations are checked against the few seen just before, then against
    /// all known: more names than that short list holds, interleaved across resources and
    /// batches, and segments sealed in between (each new segment reuses the arrays and key
    /// index of an older one), still list every name once and every span once.
    @Test func everyServiceAndOperationIsListedPastTheRecentNamesAndAcrossSeals() async throws {
        let store = try openStore(try temporaryDirectory())
        let names = (0..<(RecentKeys<OperationKey>.capacity * 2 + 3)).map { "operation-\($0)" }
        let padding = KeyValue("padding", .string(String(repeating: "y", count: 200)))
        for n in 1...12 {
            let resourceSpans = ["alpha", "beta"].enumerated().map { offset, service in
                let spans = names.indices.map { index in
                    Span(
                        traceID: TraceID(high: UInt64(n), low: UInt64(offset + 1)), spanID: SpanID(UInt64(index + 1)),
                        name: names[(index * 7 + n + offset) % names.count], kind: index % 2 == 0 ? .producer : .consumer,
                        startTimeUnixNano: 1_700_000_000_000_000_000, endTimeUnixNano: 1_700_000_000_001_000_000, attributes: [padding])
                }
                return ResourceSpans(resource: Resource(attributes: [KeyValue("service.name", .string(service))]), scopeSpans: [ScopeSpans(spans: spans)])
            }
            try await store.consume(ExportTraceServiceRequest(resourceSpans: resourceSpans))
        }
        #expect(try await store.spans.with { files in files.sealed.count } >= 4)
        #expect(try await store.services().sorted() == ["alpha", "beta"])
        for service in ["alpha", "beta"] {
            let operations = try await store.operations(service: service)
            #expect(Set(operations.map(\.name)) == Set(names))
            #expect(operations.count == Set(operations.map { "\($0.name) \($0.kind)" }).count)
        }
        for n in [1, 6, 12] {
            #expect(try await store.traces([TraceID(high: UInt64(n), low: 1).hex, TraceID(high: UInt64(n), low: 2).hex]).spanCount == names.count * 2)
        }
        // Sent again after later segments were sealed: shown once.
        try await store.consume(ExportTraceServiceRequest(resourceSpans: [ResourceSpans(
            resource: Resource(attributes: [KeyValue("service.name", "alpha")]),
            scopeSpans: [ScopeSpans(spans: [Span(
                traceID: TraceID(high: 11, low: 1), spanID: SpanID(1), name: names[0], kind: .producer,
                startTimeUnixNano: 1_700_000_000_000_000_000, endTimeUnixNano: 1_700_000_000_001_000_000)])])]))
        #expect(try await store.traces([TraceID(high: 11, low: 1).hex]).spanCount == names.count)
    }

    @Test func spansStayWithinTheSizeLimitAsTheyAreWrittenWithoutASweep() async throws {
        let store = try openStore(try temporaryDirectory())
        for n in 1...120 { try await store.consume(batch(n)) }
        #expect(try await store.spans.with { files in files.byteCount } <= Self.retention.maxBytes)
        #expect(try await store.traces([TraceID(high: 120, low: 1).hex]).spanCount == 1)
        #expect(try await store.traces([TraceID(high: 1, low: 1).hex]).spanCount == 0)
    }

    @Test func aTornRecordAtTheEndOfTheCurrentSegmentIsCutOffAndTheRestKept() async throws {
        /// The current segment's records after `batches` (opened again, which cuts off the
        /// zeros that pad direct writes to a block).
        func segment(after batches: [Int], in directory: String) async throws -> (path: String, bytes: Data) {
            do {
                let store = try openStore(directory)
                for n in batches { try await store.consume(batch(n)) }
            }
            _ = try openStore(directory)
            let path = try #require(try segmentFiles(directory, ".spans").last)
            return (path, try Data(contentsOf: URL(fileURLWithPath: path)))
        }
        let directory = try temporaryDirectory()
        let (current, whole) = try await segment(after: [1], in: directory)
        let second = try await segment(after: [2], in: try temporaryDirectory()).bytes
        // A crash in the middle of the second batch's write: its first record, cut short.
        try (whole + second.prefix(second.count / 3)).write(to: URL(fileURLWithPath: current))
        let store = try openStore(directory)
        #expect(try Data(contentsOf: URL(fileURLWithPath: current)) == whole)
        #expect(try await store.traces([TraceID(high: 1, low: 2).hex]).spanCount == 1)
        #expect(try await store.traces([TraceID(high: 2, low: 1).hex]).spanCount == 0)
        try await store.consume(batch(2))
        #expect(try await store.traces([TraceID(high: 2, low: 1).hex, TraceID(high: 2, low: 2).hex]).spanCount == 2)
    }

    @Test func directWritesPadToABlockAndReadBackWhole() async throws {
        let directory = try temporaryDirectory()
        do {
            let store = try openStore(directory)
            // Batches of odd sizes, so that each write starts inside a block.
            for n in 1...3 { try await store.consume(batch(n)) }
            #expect(try await store.traces((1...3).map { TraceID(high: UInt64($0), low: 2).hex }).spanCount == 3)
        }
        let store = try openStore(directory)
        #expect(try await store.traces((1...3).flatMap { [TraceID(high: UInt64($0), low: 1).hex, TraceID(high: UInt64($0), low: 2).hex] }).spanCount == 6)
        try await store.consume(batch(4))
        #expect(try await store.traces([TraceID(high: 4, low: 2).hex, TraceID(high: 1, low: 1).hex]).spanCount == 2)
    }

    @Test(arguments: ["missing", "damaged"])
    func aSealedSegmentWhoseIndexIsLostIsIndexedAgainFromItsRecords(_ fault: String) async throws {
        let directory = try temporaryDirectory()
        do {
            let store = try openStore(directory)
            for n in 1...20 { try await store.consume(batch(n)) }
        }
        let first = try #require(try segmentFiles(directory, ".index").first)
        if fault == "missing" {
            try FileManager.default.removeItem(atPath: first)
        } else {
            try Data(repeating: 0x5A, count: 300).write(to: URL(fileURLWithPath: first))
        }
        let store = try openStore(directory)
        #expect(FileManager.default.fileExists(atPath: first))
        #expect(try await store.traces([TraceID(high: 1, low: 1).hex, TraceID(high: 1, low: 2).hex]).spanCount == 2)
        #expect(try await store.backlinks(traceID: TraceID(high: 1, low: 1).hex, spanID: Samples.producerSpan.hex).count == 1)
    }

    @Test func recordsReadBackAsTheyWereWritten() throws {
        var bytes: [UInt8] = [1, 2, 3]
        let key = StoredSpanKey(traceID: TraceID(high: 7, low: 8), spanID: 9)
        let links = [StoredSpanKey(traceID: TraceID(high: 1, low: 2), spanID: 3)]
        let body: [UInt8] = [10, 20, 30, 40]
        let written = SpanSegmentFormat.Record(
            key: key, parentSpanID: 5, startNanos: -1, durationNanos: 42, status: 2, kind: 4,
            service: "sérvice", operation: "op", links: links, bodyOffset: 0, bodyLength: body.count, length: 0)
        let bodyStart = body.withUnsafeBytes { SpanSegmentFormat.appendRecord(written, body: $0, to: &bytes) }
        let record = try #require(bytes.withUnsafeBytes { SpanSegmentFormat.record(in: $0, at: 3) })
        #expect(record.key == key && record.parentSpanID == 5 && record.startNanos == -1 && record.durationNanos == 42)
        #expect(record.status == 2 && record.kind == 4 && record.service == "sérvice" && record.operation == "op" && record.links == links)
        #expect(record.bodyOffset == bodyStart && Array(bytes[record.bodyOffset..<(record.bodyOffset + record.bodyLength)]) == body)
        #expect(record.length == bytes.count - 3)
        // Any flipped byte fails the checksum.
        for position in 3..<bytes.count {
            var damaged = bytes
            damaged[position] ^= 0x01
            #expect(damaged.withUnsafeBytes { SpanSegmentFormat.record(in: $0, at: 3) } == nil)
        }
    }
}

@Suite struct ByteSearchTests {
    @Test func findsASubsequenceAnywhereAndOnlyWhole() {
        let bytes = Array("correlation.id=order-42".utf8)
        #expect(bytes.contains(subsequence: Array("correlation.id".utf8)))
        #expect(bytes.contains(subsequence: Array("42".utf8)))
        #expect(bytes.contains(subsequence: Array("o".utf8)))
        #expect(bytes.contains(subsequence: []))
        #expect(!bytes.contains(subsequence: Array("order-43".utf8)))
        #expect(!bytes.contains(subsequence: Array("correlation.id=order-42!".utf8)))
        #expect(![UInt8]().contains(subsequence: [1]))
    }
}

@Suite struct DirectAppenderTests {
    @Test func appendsOfAnySizeLandWhereBufferedWritesWould() throws {
        let path = try temporaryDirectory() + "/file"
        #expect(FileManager.default.createFile(atPath: path, contents: nil))
        // Where the file system takes no direct I/O the store writes through the page
        // cache, which other tests cover.
        guard let appender = DirectAppender(path: path, tail: []) else { return }
        var expected: [UInt8] = []
        // Sizes crossing block and staging-chunk boundaries.
        for (index, size) in [1, 4095, 3, 5000, DirectAppender.chunk + 7, 0, 12].enumerated() {
            let bytes = (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ index &+ 1) }
            try appender.append(bytes[...], at: expected.count)
            expected += bytes
        }
        let file = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        #expect(file.count % DirectAppender.block == 0)
        #expect(Array(file.prefix(expected.count)) == expected)
        #expect(file.dropFirst(expected.count).allSatisfy { $0 == 0 })
    }

    /// Batches encoded into a prepared buffer and written from it, mixed with staged
    /// appends, including batches that outgrow the buffer (moved, so staged after all).
    @Test func preparedBatchesLandWhereBufferedWritesWould() throws {
        let path = try temporaryDirectory() + "/file"
        #expect(FileManager.default.createFile(atPath: path, contents: nil))
        guard let appender = DirectAppender(path: path, tail: []) else { return }
        var expected: [UInt8] = []
        var buffer: [UInt8] = []
        for (index, size) in [1, 4095, 3, 5000, 0, 300_000, 12, 8192, 77].enumerated() {
            let bytes = (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ index &+ 3) }
            if index == 3 {
                try appender.append(bytes[...], at: expected.count)
            } else {
                // Expecting fewer bytes than come, for some: the buffer grows mid-batch.
                let prefix = appender.prepare(&buffer, expecting: index == 5 ? 10 : size)
                buffer += bytes
                try appender.appendPrepared(&buffer, prefix: prefix, at: expected.count)
                #expect(Array(buffer[prefix...]) == bytes)
            }
            expected += bytes
        }
        let file = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        #expect(file.count % DirectAppender.block == 0)
        #expect(Array(file.prefix(expected.count)) == expected)
        #expect(file.dropFirst(expected.count).allSatisfy { $0 == 0 })
    }
}
