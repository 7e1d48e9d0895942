import Collector
import Foundation
import Telemetry
import Testing

@testable import Collector

private typealias F = Fixture

/// `stitched: true` on the Zipkin exporter (what `--stitched-export` sets): each finalized
/// chain reaches the backend as one trace.
@Suite struct StitchedExportDaemonTests {
    /// A collector with a stitched Zipkin exporter to a sink, and a 200 ms idle window.
    private func withStitchedExport(_ body: @Sendable @escaping (CollectorUnderTest, HTTPSink) async throws -> Void) async throws {
        let sink = try await HTTPSink.start()
        defer { Task { try? await sink.stop() } }
        try await withCollector({ configuration in
            configuration.stitcher?.idleWindow = .milliseconds(200)
            configuration.addEndpointExporter(
                name: "zipkin", endpoint: "http://127.0.0.1:\(sink.port)/api/v2/spans", traces: true, logs: false, stitched: true)
        }) { collector in try await body(collector, sink) }
    }

    /// The Zipkin spans of one exported request.
    @Sendable private static func exported(_ request: HTTPSink.Request) -> [[String: Any]] {
        (try? JSONSerialization.jsonObject(with: Data(request.body))) as? [[String: Any]] ?? []
    }

    @Test func stitchedZipkinExporterSendsTheChainAsOneTree() async throws {
        try await withStitchedExport { collector, sink in
            for request in F.linearChain() {
                #expect(try await fetchReply(collector.otlp + "/v1/traces", body: request.protobufBytes(), headers: protobufHeaders).status == 200)
            }
            // The whole chain in one export. On a loaded machine the idle window may pass
            // between two of the requests: the chain is then exported early in part, and
            // the rest when it re-opens and re-finalizes; the export is then checked whole.
            try await waitUntil { Set(sink.requests.flatMap(Self.exported).compactMap { $0["id"] as? String }).count == 9 }
            let spans = Array(Dictionary(sink.requests.flatMap(Self.exported).map { ($0["id"] as! String, $0) }) { _, later in later }.values)
            #expect(spans.count == 9)
            #expect(Set(spans.compactMap { $0["traceId"] as? String }) == [F.trace(1).hex])
            let byID = Dictionary(uniqueKeysWithValues: spans.map { ($0["id"] as! String, $0) })
            // Every consumer root now hangs under the producer span it linked to.
            #expect(byID[SpanID(0x21).hex]?["parentId"] as? String == SpanID(0x12).hex)
            #expect(byID[SpanID(0x31).hex]?["parentId"] as? String == SpanID(0x22).hex)
            #expect(byID[SpanID(0x41).hex]?["parentId"] as? String == SpanID(0x32).hex)
            #expect(byID[SpanID(0x51).hex]?["parentId"] as? String == SpanID(0x42).hex)
            let roots = spans.filter { $0["parentId"] == nil }
            #expect(roots.map { $0["id"] as? String } == [SpanID(0x11).hex])
            let tags = byID[SpanID(0x21).hex]?["tags"] as? [String: String]
            #expect(tags?["causeway.original_trace_id"] == F.trace(2).hex)
            #expect(tags?["causeway.chain_id"] == F.trace(1).hex)
        }
    }

    /// A chain re-opened by late spans is sent again with only what the backend does not
    /// have yet: the new spans, and the consumer root that now hangs under a late producer.
    @Test func reFinalizedChainSendsOnlyItsNewSpans() async throws {
        try await withStitchedExport { collector, sink in
            @Sendable func ids() -> [String] { sink.requests.flatMap(Self.exported).compactMap { $0["id"] as? String } }
            let requests = F.linearChain()
            let first = F.merge(Array(requests[0..<2]))
            #expect(try await fetchReply(collector.otlp + "/v1/traces", body: first.protobufBytes(), headers: protobufHeaders).status == 200)
            try await waitUntil { ids().count == 4 }
            let late = F.merge(Array(requests[2...]))
            #expect(try await fetchReply(collector.otlp + "/v1/traces", body: late.protobufBytes(), headers: protobufHeaders).status == 200)
            try await waitUntil { ids().count >= 9 }
            try await Task.sleep(for: .milliseconds(600))
            // Every span once: the first four are not sent again.
            #expect(ids().sorted() == [0x11, 0x12, 0x21, 0x22, 0x31, 0x32, 0x41, 0x42, 0x51].map { SpanID($0).hex }.sorted())
            let byID = Dictionary(sink.requests.flatMap(Self.exported).map { ($0["id"] as! String, $0) }) { first, _ in first }
            #expect(byID[SpanID(0x31).hex]?["parentId"] as? String == SpanID(0x22).hex)
            #expect(Set(byID.values.compactMap { $0["traceId"] as? String }) == [F.trace(1).hex])
        }
    }

    @Test func stitchedExporterWithoutTheStitcherIsRefused() throws {
        var configuration = try testConfiguration()
        configuration.stitcher = nil
        configuration.addEndpointExporter(name: "zipkin", endpoint: "http://127.0.0.1:9/api/v2/spans", traces: true, logs: false, stitched: true)
        #expect(throws: ExporterConfigurationError.self) {
            _ = try CollectorDaemon(configuration: configuration, registry: testRegistry, logger: quietLogger)
        }
    }
}
