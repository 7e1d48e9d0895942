import Collector
import CompressNIO
import NIOCore
import NIOHTTP1
import Telemetry
import Testing
import Yams

/// When nothing the collector runs reads span attributes or events (no stitcher; only the
/// store and protobuf exporters), the OTLP receiver validates them without building them.
/// Nothing of them may be lost on the way.
@Suite struct SkimmedIngestTests {
    private static func withoutStitcher(_ configuration: inout CollectorConfiguration) {
        configuration.stitcher = nil
    }

    @Test func theStoreAndAProtobufExporterGetEverySpanWholeAndABadSpanIsStillDropped() async throws {
        let sink = try await HTTPSink.start()
        var withBadSpan = Samples.traces
        // Ends before it starts: dropped with a partial success, which changes the request.
        withBadSpan.resourceSpans[1].scopeSpans[0].spans.append(
            Span(traceID: Samples.consumerTrace, spanID: SpanID(7), name: "broken", startTimeUnixNano: 2, endTimeUnixNano: 1,
                 attributes: [KeyValue("lost", "yes")]))
        let partialBody = withBadSpan.protobufBytes()
        try await withCollector({
            Self.withoutStitcher(&$0)
            $0.addEndpointExporter(name: "otlphttp", endpoint: "http://127.0.0.1:\(sink.port)", traces: true, logs: false)
        }) { collector in
            #expect(collector.daemon.pipeline.attributeSkim == .keepingNothing)
            // The exporter sends gzip'd protobuf, so a gzip request's own bytes are kept for it.
            #expect(collector.daemon.pipeline.keepsReceivedGzip)
            let good = try await fetchReply(collector.otlp + "/v1/traces", body: Samples.traces.protobufBytes(), headers: protobufHeaders)
            #expect(good.status == 200)
            #expect(try ExportTraceServiceResponse(protobuf: good.body).partialSuccess == nil)
            let stored = try await eventually { () async throws -> ExportTraceServiceRequest? in
                let reply = try await fetchReply(.GET, collector.http + "/api/traces/\(Samples.producerTrace.hex)?format=otlp")
                return reply.status == 200 ? try ExportTraceServiceRequest(otlpJSON: reply.body) : nil
            }
            #expect(stored == ExportTraceServiceRequest(resourceSpans: [Samples.traces.resourceSpans[0]]))
            let forwarded = try #require(try await sink.waitForRequests(1).first)
            #expect(try ExportTraceServiceRequest(protobuf: Self.inflated(forwarded.body)) == Samples.traces)

            let partial = try await fetchReply(collector.otlp + "/v1/traces", body: partialBody, headers: protobufHeaders)
            #expect(partial.status == 200)
            #expect(try ExportTraceServiceResponse(protobuf: partial.body).partialSuccess?.rejectedSpans == 1)
            let second = try #require(try await sink.waitForRequests(2).last)
            // The rest whole, attributes, events and link attributes included.
            #expect(try ExportTraceServiceRequest(protobuf: Self.inflated(second.body)) == Samples.traces)
        }
        try await sink.stop()
    }

    @Test func skimmingKeepsWhatTheStitcherReadsAndAnythingThatReadsMoreTurnsItOff() async throws {
        let json = try #require(try Yams.compose(yaml: "endpoint: http://127.0.0.1:1\nencoding: json\n"))
        let stitcherReads = ChainStitcher(configuration: StitcherConfiguration()).attributeSkim
        #expect(stitcherReads.keptAttributeKeys.isSuperset(of: ["messaging.destination.name", "messaging.kafka.message.timestamp", "correlation.id", "causeway.dead_letter"]))
        #expect(stitcherReads.keptEventNames == ["duplicate_skipped", "causeway.duplicate_skipped"])
        let cases: [(String, (inout CollectorConfiguration) -> Void, AttributeSkim?)] = [
            ("the store alone", { Self.withoutStitcher(&$0) }, .keepingNothing),
            ("the stitcher", { _ in }, stitcherReads),
            ("an OTLP JSON exporter", { Self.withoutStitcher(&$0); $0.addExporter(name: "otlphttp/json", node: json, traces: true, logs: false) }, nil),
            ("a Zipkin exporter", {
                Self.withoutStitcher(&$0)
                $0.addEndpointExporter(name: "zipkin", endpoint: "http://127.0.0.1:1/api/v2/spans", traces: true, logs: false)
            }, nil),
            ("an OTLP JSON exporter of logs only", { Self.withoutStitcher(&$0); $0.addExporter(name: "otlphttp/json", node: json, traces: false, logs: true) }, .keepingNothing),
        ]
        for (name, configure, skims) in cases {
            try await withCollector(configure) { collector in
                #expect(collector.daemon.pipeline.attributeSkim == skims, "\(name)")
                // None of these has a gzip protobuf exporter of spans to keep a gzip body for.
                #expect(!collector.daemon.pipeline.keepsReceivedGzip, "\(name)")
            }
        }
        // A consumer the collector does not know may read anything.
        try await withCollector({ Self.withoutStitcher(&$0) }, extraConsumers: [Discarding()]) { collector in
            #expect(collector.daemon.pipeline.attributeSkim == nil)
        }
    }

    private static func inflated(_ body: [UInt8]) throws -> [UInt8] {
        var buffer = ByteBuffer(bytes: body)
        return Array(try buffer.decompress(with: .gzip()).readableBytesView)
    }
}

private struct Discarding: TelemetryConsumer {
    var name: String { "discarding" }
    func consume(_ traces: ExportTraceServiceRequest) async throws {}
    func consume(_ logs: ExportLogsServiceRequest) async throws {}
    func run() async throws {}
    func shutdown() async {}
}
