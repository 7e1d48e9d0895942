import Foundation
import NIOHTTP1
import Telemetry
import Testing

@testable import Collector

@Suite("Zipkin exporter")
struct ZipkinExporterTests {
    @Test func spansArePostedAsAJSONArrayToTheSpansEndpoint() async throws {
        let sink = try await HTTPSink.start()
        let data = try ExporterFixture.temporaryDirectory()
        defer { ExporterFixture.remove(data) }
        let settings = try ExporterFixture.settings("zipkin", "endpoint: http://127.0.0.1:\(sink.port)/api/v2/spans\n")
        let exporter = try ExporterFixture.exporter(settings, dataDirectory: data)
        let traces = ExporterFixture.traces(20, spans: 3)
        try await withRunningExporter(exporter) {
            try await exporter.consume(traces)
            let request = try #require(try await sink.waitForRequests(1).first)
            #expect(request.uri == "/api/v2/spans")
            #expect(request.method == .POST)
            #expect(request.headers.first(name: "Content-Type") == "application/json")
            let array = try #require(try JSONSerialization.jsonObject(with: Data(request.body)) as? [[String: Any]])
            #expect(array.count == 3)
            #expect(array.first?["traceId"] as? String == "000000000000ab14000000000000cd14")
            let decoded = try ZipkinV2JSON.decode(request.body)
            #expect(decoded.spanCount == 3)
        }
        try await sink.stop()
    }

    @Test func logsAreAcceptedAndNotSent() async throws {
        let sink = try await HTTPSink.start()
        let data = try ExporterFixture.temporaryDirectory()
        defer { ExporterFixture.remove(data) }
        let settings = try ExporterFixture.settings("zipkin/main", "endpoint: http://127.0.0.1:\(sink.port)/api/v2/spans\n")
        let exporter = try ExporterFixture.exporter(settings, dataDirectory: data)
        try await withRunningExporter(exporter) {
            try await exporter.consume(ExporterFixture.logs())
            try await exporter.consume(ExporterFixture.traces())
            _ = try await sink.waitForRequests(1)
        }
        #expect(sink.requests.map(\.uri) == ["/api/v2/spans"])
        try await sink.stop()
    }
}
