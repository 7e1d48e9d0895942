import CompressNIO
import Foundation
import NIOCore
import NIOHTTP1
import Telemetry
import Testing

@testable import Collector

@Suite("OTLP/HTTP exporter")
struct OTLPHTTPExporterTests {
    @Test func protobufDeliveryDecodesToWhatWentIn() async throws {
        let sink = try await HTTPSink.start()
        let data = try ExporterFixture.temporaryDirectory()
        defer { ExporterFixture.remove(data) }
        let settings = try ExporterFixture.settings("otlphttp", "endpoint: http://127.0.0.1:\(sink.port)\ncompression: none\n")
        let exporter = try ExporterFixture.exporter(settings, dataDirectory: data)
        let traces = ExporterFixture.traces(1, spans: 3)
        let logs = ExporterFixture.logs(1)
        try await withRunningExporter(exporter) {
            try await exporter.consume(traces)
            try await exporter.consume(logs)
            let requests = try await sink.waitForRequests(2)
            #expect(requests[0].uri == "/v1/traces")
            #expect(requests[0].headers.first(name: "Content-Type") == "application/x-protobuf")
            #expect(try ExportTraceServiceRequest(protobuf: requests[0].body) == traces)
            #expect(requests[1].uri == "/v1/logs")
            #expect(try ExportLogsServiceRequest(protobuf: requests[1].body) == logs)
        }
        #expect(exporter.metrics.tally.snapshot.sentSpans == 3)
        #expect(exporter.metrics.tally.snapshot.sentLogs == 1)
        try await sink.stop()
    }

    @Test func jsonEncodingDeliversOTLPJSON() async throws {
        let sink = try await HTTPSink.start()
        let data = try ExporterFixture.temporaryDirectory()
        defer { ExporterFixture.remove(data) }
        let settings = try ExporterFixture.settings(
            "otlphttp/json", "endpoint: http://127.0.0.1:\(sink.port)\nencoding: json\ncompression: none\n")
        let exporter = try ExporterFixture.exporter(settings, dataDirectory: data)
        let traces = ExporterFixture.traces(2)
        let logs = ExporterFixture.logs(2)
        try await withRunningExporter(exporter) {
            try await exporter.consume(traces)
            try await exporter.consume(logs)
            let requests = try await sink.waitForRequests(2)
            #expect(requests[0].headers.first(name: "Content-Type") == "application/json")
            #expect(try ExportTraceServiceRequest(otlpJSON: requests[0].body) == traces)
            #expect(try ExportLogsServiceRequest(otlpJSON: requests[1].body) == logs)
        }
        try await sink.stop()
    }

    @Test func gzipIsTheDefaultAndTheBodyInflatesToTheRequest() async throws {
        let sink = try await HTTPSink.start()
        let data = try ExporterFixture.temporaryDirectory()
        defer { ExporterFixture.remove(data) }
        let settings = try ExporterFixture.settings("otlphttp", "endpoint: http://127.0.0.1:\(sink.port)\n")
        let exporter = try ExporterFixture.exporter(settings, dataDirectory: data)
        let traces = ExporterFixture.traces(3, spans: 50)
        try await withRunningExporter(exporter) {
            try await exporter.consume(traces)
            let request = try #require(try await sink.waitForRequests(1).first)
            #expect(request.headers.first(name: "Content-Encoding") == "gzip")
            #expect(Array(request.body.prefix(2)) == [0x1F, 0x8B])
            var compressed = ByteBuffer(bytes: request.body)
            let inflated = try compressed.decompress(with: .gzip())
            #expect(try ExportTraceServiceRequest(protobuf: Array(inflated.readableBytesView)) == traces)
        }
        try await sink.stop()
    }

    /// `compression_params.level` reaches the compressor: level 1 is igzip's, whose gzip
    /// header gives no XFL hint (0), level 9 libdeflate's, whose header says best (2, RFC
    /// 1952 §2.3.1); level 9 is smaller, and both inflate to the request.
    @Test func gzipLevelFromCompressionParamsReachesTheBody() async throws {
        let traces = ExporterFixture.traces(3, spans: 200)
        var bodies: [Int: [UInt8]] = [:]
        for level in [1, 9] {
            let sink = try await HTTPSink.start()
            let data = try ExporterFixture.temporaryDirectory()
            defer { ExporterFixture.remove(data) }
            let settings = try ExporterFixture.settings(
                "otlphttp", "endpoint: http://127.0.0.1:\(sink.port)\ncompression_params:\n  level: \(level)\n")
            let exporter = try ExporterFixture.exporter(settings, dataDirectory: data)
            try await withRunningExporter(exporter) {
                try await exporter.consume(traces)
                bodies[level] = try #require(try await sink.waitForRequests(1).first).body
            }
            try await sink.stop()
        }
        let fastest = try #require(bodies[1]), best = try #require(bodies[9])
        #expect(fastest[8] == 0)
        #expect(best[8] == 2)
        #expect(best.count < fastest.count)
        for body in [fastest, best] {
            var compressed = ByteBuffer(bytes: body)
            let inflated = try compressed.decompress(with: .gzip())
            #expect(try ExportTraceServiceRequest(protobuf: Array(inflated.readableBytesView)) == traces)
        }
    }

    /// Both compressors take what compresses badly or not at all: random bytes come out
    /// in stored blocks within the room given, and an empty body is an empty gzip member.
    @Test func incompressibleAndEmptyBodiesRoundTripAtEveryCompressor() throws {
        var generator = SystemRandomNumberGenerator()
        let random = (0..<300_000).map { _ in UInt8.random(in: 0...255, using: &generator) }
        for level: Int32 in [1, 6] {
            for body in [random, [], [7]] {
                var compressed = try #require(body.withUnsafeBufferPointer { QueuedHTTPExporter.gzip($0, level: level) })
                #expect(compressed.readableBytes <= body.count + body.count / 100 + 64, "level \(level), \(body.count) bytes")
                let inflated = try compressed.decompress(with: .gzip())
                #expect(Array(inflated.readableBytesView) == body, "level \(level), \(body.count) bytes")
            }
        }
    }

    /// A request received as one gzip member and unchanged is queued and sent as it came:
    /// the same bytes (here zlib's level 9, which the exporter's level 1 would not make), so
    /// nothing is compressed again. With `compression: none` the protobuf goes out instead.
    @Test func aGzipBodyReceivedWholeIsSentAsItCame() async throws {
        let traces = ExporterFixture.traces(4, spans: 100)
        let protobuf = traces.protobufBytes()
        var buffer = ByteBuffer(bytes: protobuf)
        let received = Array(try buffer.compress(with: .gzip(configuration: .init(compressionLevel: 9))).readableBytesView)
        var decoded = try protobuf.withUnsafeBytes { try ExportTraceServiceRequest(protobuf: $0, keepingSpanBytes: true) }
        decoded.keepReceivedGzip(received)
        for compression in ["gzip", "none"] {
            let sink = try await HTTPSink.start()
            let data = try ExporterFixture.temporaryDirectory()
            defer { ExporterFixture.remove(data) }
            let settings = try ExporterFixture.settings("otlphttp", "endpoint: http://127.0.0.1:\(sink.port)\ncompression: \(compression)\n")
            let exporter = try ExporterFixture.exporter(settings, dataDirectory: data)
            try await withRunningExporter(exporter) {
                try await exporter.consume(decoded)
                let request = try #require(try await sink.waitForRequests(1).first)
                if compression == "gzip" {
                    #expect(request.headers.first(name: "Content-Encoding") == "gzip")
                    #expect(request.body == received)
                } else {
                    #expect(request.headers.first(name: "Content-Encoding") == nil)
                    #expect(request.body == protobuf)
                }
            }
            try await sink.stop()
        }
        // A span changed since it was received forgets the received bytes, gzip included.
        var changed = decoded
        changed.resourceSpans[0].scopeSpans[0].spans[0].name = "renamed"
        #expect(changed.receivedGzip == nil)
    }

    /// Through the collector: the receiver keeps a gzip body it inflated whole, and the
    /// exporter sends those very bytes on.
    @Test func theCollectorForwardsAGzipRequestByteForByte() async throws {
        let sink = try await HTTPSink.start()
        var buffer = ByteBuffer(bytes: Samples.traces.protobufBytes())
        let received = Array(try buffer.compress(with: .gzip(configuration: .init(compressionLevel: 9))).readableBytesView)
        try await withCollector({
            $0.addEndpointExporter(name: "otlphttp", endpoint: "http://127.0.0.1:\(sink.port)", traces: true, logs: false)
        }) { collector in
            let reply = try await fetchReply(collector.otlp + "/v1/traces", body: received, headers: protobufHeaders + [("Content-Encoding", "gzip")])
            #expect(reply.status == 200)
            let request = try #require(try await sink.waitForRequests(1).first)
            #expect(request.headers.first(name: "Content-Encoding") == "gzip")
            #expect(request.body == received)
        }
        try await sink.stop()
    }

    @Test func configuredHeadersAreSent() async throws {
        let sink = try await HTTPSink.start()
        let data = try ExporterFixture.temporaryDirectory()
        defer { ExporterFixture.remove(data) }
        let settings = try ExporterFixture.settings(
            "otlphttp",
            """
            endpoint: http://127.0.0.1:\(sink.port)
            headers:
              Authorization: Bearer s3cret
              X-Scope-OrgID: tenant-1
            """)
        let exporter = try ExporterFixture.exporter(settings, dataDirectory: data)
        try await withRunningExporter(exporter) {
            try await exporter.consume(ExporterFixture.traces())
            let request = try #require(try await sink.waitForRequests(1).first)
            #expect(request.headers.first(name: "Authorization") == "Bearer s3cret")
            #expect(request.headers.first(name: "X-Scope-OrgID") == "tenant-1")
        }
        try await sink.stop()
    }

    @Test func unavailableWithRetryAfterIsRetriedAndDeliveredOnce() async throws {
        let sink = try await HTTPSink.start(script: [
            HTTPSink.Reply(status: .serviceUnavailable, headers: [("Retry-After", "0")], body: "busy")
        ])
        let data = try ExporterFixture.temporaryDirectory()
        defer { ExporterFixture.remove(data) }
        let settings = try ExporterFixture.settings("otlphttp", "endpoint: http://127.0.0.1:\(sink.port)\n")
        let exporter = try ExporterFixture.exporter(settings, dataDirectory: data)
        let traces = ExporterFixture.traces(4)
        try await withRunningExporter(exporter) {
            try await exporter.consume(traces)
            try await waitUntil { exporter.metrics.tally.snapshot.sentBatches == 1 }
        }
        #expect(sink.requests.count == 2)
        let counts = exporter.metrics.tally.snapshot
        #expect(counts.retried == 1)
        #expect(counts.failed == 1)
        #expect(counts.dropped == 0)
        try await sink.stop()
    }

    @Test func retryAfterAsHTTPDateIsUnderstood() {
        let now = Date(timeIntervalSince1970: 1_700_000_000)
        #expect(RetryAfter.delay("Tue, 14 Nov 2023 22:13:30 GMT", now: now) == .seconds(10))
        #expect(RetryAfter.delay("7", now: now) == .seconds(7))
        #expect(RetryAfter.delay("soon", now: now) == nil)
    }

    @Test func badRequestIsDroppedAndCountedNotRetried() async throws {
        let sink = try await HTTPSink.start(script: [HTTPSink.Reply(status: .badRequest, body: "invalid traceId")])
        let data = try ExporterFixture.temporaryDirectory()
        defer { ExporterFixture.remove(data) }
        let settings = try ExporterFixture.settings("otlphttp", "endpoint: http://127.0.0.1:\(sink.port)\n")
        let exporter = try ExporterFixture.exporter(settings, dataDirectory: data)
        let second = ExporterFixture.traces(6)
        try await withRunningExporter(exporter) {
            try await exporter.consume(ExporterFixture.traces(5))
            try await exporter.consume(second)
            let requests = try await sink.waitForRequests(2)
            // The refused batch is not sent again: the next request is the next batch.
            var body = ByteBuffer(bytes: requests[1].body)
            let inflated = try body.decompress(with: .gzip())
            #expect(try ExportTraceServiceRequest(protobuf: Array(inflated.readableBytesView)) == second)
            try await waitUntil { exporter.metrics.tally.snapshot.sentBatches == 1 }
        }
        let counts = exporter.metrics.tally.snapshot
        #expect(counts.dropped == 1)
        #expect(counts.failed == 1)
        #expect(counts.retried == 0)
        #expect(sink.requests.count == 2)
        try await sink.stop()
    }

    @Test func batchesWaitOutARefusedConnectionAndArriveOnceTheSinkIsUp() async throws {
        let port = try await HTTPSink.freePortOutsideTheEphemeralRange()
        let data = try ExporterFixture.temporaryDirectory()
        defer { ExporterFixture.remove(data) }
        let settings = try ExporterFixture.settings("otlphttp", "endpoint: http://127.0.0.1:\(port)\n")
        let exporter = try ExporterFixture.exporter(settings, dataDirectory: data)
        let traces = ExporterFixture.traces(7)
        try await withRunningExporter(exporter) {
            try await exporter.consume(traces)
            try await waitUntil { exporter.metrics.tally.snapshot.failed >= 2 }
            let sink = try await HTTPSink.start(port: port)
            let request = try #require(try await sink.waitForRequests(1).first)
            var body = ByteBuffer(bytes: request.body)
            let inflated = try body.decompress(with: .gzip())
            #expect(try ExportTraceServiceRequest(protobuf: Array(inflated.readableBytesView)) == traces)
            try await waitUntil { exporter.metrics.tally.snapshot.sentBatches == 1 }
            try await sink.stop()
        }
        #expect(exporter.metrics.tally.snapshot.dropped == 0)
    }

    @Test func aRestartedExporterDeliversWhatTheFirstAccepted() async throws {
        let port = try await HTTPSink.freePortOutsideTheEphemeralRange()
        let data = try ExporterFixture.temporaryDirectory()
        defer { ExporterFixture.remove(data) }
        let settings = try ExporterFixture.settings("otlphttp/jaeger", "endpoint: http://127.0.0.1:\(port)\ncompression: none\n")
        let sent = [ExporterFixture.traces(8), ExporterFixture.traces(9)]
        let first = try ExporterFixture.exporter(settings, dataDirectory: data)
        try await withRunningExporter(first) {
            for batch in sent { try await first.consume(batch) }
            try await waitUntil { first.metrics.tally.snapshot.failed >= 1 }
        }
        #expect(first.metrics.tally.snapshot.sentBatches == 0)

        let sink = try await HTTPSink.start(port: port)
        let second = try ExporterFixture.exporter(settings, dataDirectory: data)
        try await withRunningExporter(second) {
            let requests = try await sink.waitForRequests(2)
            #expect(try requests.map { try ExportTraceServiceRequest(protobuf: $0.body) } == sent)
            try await waitUntil { second.metrics.tally.snapshot.sentBatches == 2 }
        }
        // Delivered batches are not delivered again by a third start.
        let third = try ExporterFixture.exporter(settings, dataDirectory: data)
        #expect(await third.queue.count == 0)
        await third.shutdown()
        #expect(sink.requests.count == 2)
        try await sink.stop()
    }

    @Test func shutdownDeliversWhatIsQueuedBeforeItReturns() async throws {
        let sink = try await HTTPSink.start()
        let data = try ExporterFixture.temporaryDirectory()
        defer { ExporterFixture.remove(data) }
        var settings = try ExporterFixture.settings("otlphttp", "endpoint: http://127.0.0.1:\(sink.port)\n")
        settings.drainTimeout = .seconds(30)
        let exporter = try ExporterFixture.exporter(settings, dataDirectory: data)
        let delivery = Task { try await exporter.run() }
        for seed in 30..<35 { try await exporter.consume(ExporterFixture.traces(UInt64(seed))) }
        await exporter.shutdown()
        _ = await delivery.result
        #expect(sink.requests.count == 5)
        #expect(exporter.metrics.tally.snapshot.sentBatches == 5)
        try await sink.stop()
    }

    @Test func aBatchStillFailingAfterMaxElapsedTimeIsDropped() async throws {
        let sink = try await HTTPSink.start(
            script: Array(repeating: HTTPSink.Reply(status: .badGateway), count: 1000))
        let data = try ExporterFixture.temporaryDirectory()
        defer { ExporterFixture.remove(data) }
        let settings = try ExporterFixture.settings(
            "otlphttp",
            """
            endpoint: http://127.0.0.1:\(sink.port)
            retry_on_failure:
              initial_interval: 5ms
              max_interval: 10ms
              max_elapsed_time: 50ms
            """)
        let exporter = try ExporterFixture.exporter(settings, dataDirectory: data)
        try await withRunningExporter(exporter) {
            try await exporter.consume(ExporterFixture.traces())
            try await waitUntil { exporter.metrics.tally.snapshot.dropped == 1 }
        }
        #expect(await exporter.queue.count == 0)
        #expect(exporter.metrics.tally.snapshot.sentBatches == 0)
        try await sink.stop()
    }

    @Test func withRetriesDisabledAFailedBatchIsDroppedAtOnce() async throws {
        let sink = try await HTTPSink.start(script: [HTTPSink.Reply(status: .serviceUnavailable)])
        let data = try ExporterFixture.temporaryDirectory()
        defer { ExporterFixture.remove(data) }
        let settings = try ExporterFixture.settings(
            "otlphttp", "endpoint: http://127.0.0.1:\(sink.port)\nretry_on_failure:\n  enabled: false\n")
        let exporter = try ExporterFixture.exporter(settings, dataDirectory: data)
        try await withRunningExporter(exporter) {
            try await exporter.consume(ExporterFixture.traces(40))
            try await exporter.consume(ExporterFixture.traces(41))
            try await waitUntil { exporter.metrics.tally.snapshot.sentBatches == 1 }
        }
        #expect(sink.requests.count == 2)
        #expect(exporter.metrics.tally.snapshot.dropped == 1)
        #expect(exporter.metrics.tally.snapshot.retried == 0)
        try await sink.stop()
    }

    @Test func aPartialSuccessIsDeliveredAndNotRetried() async throws {
        let sink = try await HTTPSink.start(script: [
            HTTPSink.Reply(
                status: .ok, headers: [("Content-Type", "application/json")],
                body: #"{"partialSuccess":{"rejectedSpans":"1","errorMessage":"span 2 has no name"}}"#)
        ])
        let data = try ExporterFixture.temporaryDirectory()
        defer { ExporterFixture.remove(data) }
        let settings = try ExporterFixture.settings("otlphttp", "endpoint: http://127.0.0.1:\(sink.port)\nencoding: json\n")
        let exporter = try ExporterFixture.exporter(settings, dataDirectory: data)
        try await withRunningExporter(exporter) {
            try await exporter.consume(ExporterFixture.traces())
            try await waitUntil { exporter.metrics.tally.snapshot.sentBatches == 1 }
        }
        #expect(sink.requests.count == 1)
        #expect(exporter.metrics.tally.snapshot.retried == 0)
        try await sink.stop()
    }

    @Test func severalConsumersDeliverEveryBatchExactlyOnce() async throws {
        let sink = try await HTTPSink.start(
            script: (0..<40).map { $0 % 3 == 0 ? HTTPSink.Reply(status: .serviceUnavailable) : HTTPSink.Reply(status: .ok) })
        let data = try ExporterFixture.temporaryDirectory()
        defer { ExporterFixture.remove(data) }
        var settings = try ExporterFixture.settings(
            "otlphttp", "endpoint: http://127.0.0.1:\(sink.port)\ncompression: none\nsending_queue:\n  num_consumers: 4\n")
        settings.segmentBytes = 2048
        let batches = (60..<80).map { ExporterFixture.traces(UInt64($0)) }
        let exporter = try ExporterFixture.exporter(settings, dataDirectory: data)
        try await withRunningExporter(exporter) {
            for batch in batches { try await exporter.consume(batch) }
            try await waitUntil { exporter.metrics.tally.snapshot.sentBatches == 20 }
        }
        let delivered = sink.requests.enumerated().filter { index, _ in index >= 40 || index % 3 != 0 }
            .map { try? ExportTraceServiceRequest(protobuf: $0.element.body) }
        #expect(Set(delivered.compactMap { $0 }) == Set(batches))
        #expect(delivered.count == 20)
        let restarted = try ExporterFixture.exporter(settings, dataDirectory: data)
        #expect(await restarted.queue.count == 0)
        #expect(try ExporterFixture.segmentFiles(settings, dataDirectory: data).count == 1)
        await restarted.shutdown()
        try await sink.stop()
    }

    @Test func aFullTracesURLExportsSpansOnly() async throws {
        let sink = try await HTTPSink.start()
        let data = try ExporterFixture.temporaryDirectory()
        defer { ExporterFixture.remove(data) }
        let settings = try ExporterFixture.settings("otlphttp", "endpoint: http://127.0.0.1:\(sink.port)/custom/v1/traces\n")
        #expect(settings.tracesURL == "http://127.0.0.1:\(sink.port)/custom/v1/traces")
        #expect(settings.logsURL == nil)
        let exporter = try ExporterFixture.exporter(settings, dataDirectory: data)
        try await withRunningExporter(exporter) {
            try await exporter.consume(ExporterFixture.logs())
            try await exporter.consume(ExporterFixture.traces())
            let requests = try await sink.waitForRequests(1)
            #expect(requests.map(\.uri) == ["/custom/v1/traces"])
        }
        #expect(sink.requests.count == 1)
        try await sink.stop()
    }
}
