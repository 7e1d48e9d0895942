import AsyncHTTPClient
import Collector
import Foundation
import NIOHTTP1
import Telemetry
import Testing

@Suite struct QueryAPITests {
    /// Sends the samples over OTLP and waits until the store has them.
    func ingestSamples(_ collector: CollectorUnderTest) async throws {
        let traces = try await fetchReply(collector.otlp + "/v1/traces", body: try gzip(Samples.traces.protobufBytes()), headers: protobufHeaders + [("Content-Encoding", "gzip")])
        #expect(traces.status == 200)
        let logs = try await fetchReply(collector.otlp + "/v1/logs", body: Samples.logs.otlpJSONBytes(), headers: [("Content-Type", "application/json")])
        #expect(logs.status == 200)
        _ = try await eventually { () async throws -> Bool? in
            let spans = try await fetchReply(.GET, collector.http + "/api/traces/\(Samples.consumerTrace.hex)")
            let logs = try await fetchReply(.GET, collector.http + "/api/logs?trace_id=\(Samples.producerTrace.hex)")
            return spans.status == 200 && logs.text.contains("order accepted") ? true : nil
        }
    }

    @Test func traceByIDKeepsEveryFieldOfTheSpan() async throws {
        try await withCollector { collector in
            try await ingestSamples(collector)
            let reply = try await fetchReply(.GET, collector.http + "/api/traces/\(Samples.producerTrace.hex)?format=otlp")
            #expect(reply.status == 200)
            let stored = try ExportTraceServiceRequest(otlpJSON: reply.body)
            #expect(stored == ExportTraceServiceRequest(resourceSpans: [Samples.traces.resourceSpans[0]]))
        }
    }

    @Test func traceByIDAnswersJaegerJSONWithTheLinkAsAReference() async throws {
        try await withCollector { collector in
            try await ingestSamples(collector)
            let reply = try await fetchReply(.GET, collector.http + "/api/traces/\(Samples.consumerTrace.hex)")
            let data = try #require(try reply.json()["data"] as? [[String: Any]])
            let spans = try #require(data.first?["spans"] as? [[String: Any]])
            #expect(spans.first?["operationName"] as? String == "process orders")
            let references = try #require(spans.first?["references"] as? [[String: Any]])
            #expect(references.first?["refType"] as? String == "FOLLOWS_FROM")
            #expect(references.first?["spanID"] as? String == Samples.producerSpan.hex)
        }
    }

    @Test func unknownTraceIs404() async throws {
        try await withCollector { collector in
            let reply = try await fetchReply(.GET, collector.http + "/api/traces/1234")
            #expect(reply.status == 404)
        }
    }

    @Test func servicesAndOperationsAreListed() async throws {
        try await withCollector { collector in
            try await ingestSamples(collector)
            let services = try await fetchReply(.GET, collector.http + "/api/services").json()
            #expect(services["data"] as? [String] == ["inventory-service", "order-service"])
            #expect(services["total"] as? Int == 2)
            let operations = try await fetchReply(.GET, collector.http + "/api/services/order-service/operations").json()
            #expect(operations["data"] as? [String] == ["send orders"])
            let kinds = try await fetchReply(.GET, collector.http + "/api/operations?service=inventory-service&spanKind=consumer").json()
            let first = try #require((kinds["data"] as? [[String: Any]])?.first)
            #expect(first["name"] as? String == "process orders")
            #expect(first["spanKind"] as? String == "consumer")
        }
    }

    @Test func traceSearchFiltersByServiceDurationAndTags() async throws {
        try await withCollector { collector in
            try await ingestSamples(collector)
            func traceIDs(_ query: String) async throws -> [String] {
                let reply = try await fetchReply(.GET, collector.http + "/api/traces?" + query)
                #expect(reply.status == 200)
                return (try reply.json()["data"] as? [[String: Any]])?.compactMap { $0["traceID"] as? String } ?? []
            }
            #expect(try await traceIDs("service=inventory-service") == [Samples.consumerTrace.hex])
            #expect(try await traceIDs("service=inventory-service&minDuration=10ms") == [Samples.consumerTrace.hex])
            #expect(try await traceIDs("service=inventory-service&minDuration=1.5s").isEmpty)
            #expect(try await traceIDs("service=order-service&maxDuration=1ms").isEmpty)
            #expect(try await traceIDs("service=order-service&start=1699999999000000&end=1700000001000000&operation=send%20orders") == [Samples.producerTrace.hex])
            let tags = "{\"messaging.system\":\"kafka\",\"error\":\"true\"}".addingPercentEncoding(withAllowedCharacters: .alphanumerics)!
            #expect(try await traceIDs("service=inventory-service&tags=\(tags)") == [Samples.consumerTrace.hex])
            #expect(try await traceIDs("service=order-service&tags=\(tags)").isEmpty)
            #expect(try await traceIDs("service=order-service&tag=host.name:test-host&limit=1") == [Samples.producerTrace.hex])
        }
    }

    @Test func backlinksNameTheSpansLinkingToASpan() async throws {
        try await withCollector { collector in
            try await ingestSamples(collector)
            let reply = try await fetchReply(.GET, collector.http + "/api/spans/\(Samples.producerTrace.hex)/\(Samples.producerSpan.hex)/backlinks")
            let data = try #require(try reply.json()["data"] as? [[String: Any]])
            #expect(data.count == 1)
            #expect(data.first?["traceID"] as? String == Samples.consumerTrace.hex)
            #expect(data.first?["spanID"] as? String == Samples.consumerSpan.hex)
            #expect(data.first?["serviceName"] as? String == "inventory-service")
            #expect(data.first?["operationName"] as? String == "process orders")
        }
    }

    @Test func logsAreFoundByCorrelationIDOnTheRecordOrItsResource() async throws {
        try await withCollector { collector in
            try await ingestSamples(collector)
            let reply = try await fetchReply(.GET, collector.http + "/api/logs?correlation_id=order-42")
            #expect(reply.status == 200)
            let logs = try ExportLogsServiceRequest(otlpJSON: reply.body)
            #expect(logs == Samples.logs)
            let errors = try ExportLogsServiceRequest(otlpJSON: try await fetchReply(.GET, collector.http + "/api/logs?service=order-service&severity=ERROR").body)
            #expect(errors.logRecordCount == 1)
            let bySpan = try ExportLogsServiceRequest(otlpJSON: try await fetchReply(.GET, collector.http + "/api/logs?span_id=\(Samples.producerSpan.hex)").body)
            #expect(bySpan.logRecordCount == 1)
        }
    }

    @Test func anUnknownCorrelationIDFindsNoLogs() async throws {
        try await withCollector { collector in
            try await ingestSamples(collector)
            let reply = try await fetchReply(.GET, collector.http + "/api/logs?correlation_id=nothing")
            #expect(try ExportLogsServiceRequest(otlpJSON: reply.body).logRecordCount == 0)
        }
    }

    @Test(arguments: [
        ("/api/traces", "service"),
        ("/api/traces?service=a&limit=0", "limit"),
        ("/api/traces?service=a&minDuration=fast", "minDuration"),
        ("/api/traces?service=a&start=yesterday", "start"),
        ("/api/traces?service=a&tags=notjson", "tags"),
        ("/api/traces/xyz", "traceID"),
        ("/api/operations?service=a&spanKind=sideways", "spanKind"),
        ("/api/operations", "service"),
        ("/api/spans/abc/zz/backlinks", "spanID"),
        ("/api/logs?severity=LOUD", "severity"),
        ("/api/logs?trace_id=nothex", "trace_id"),
        ("/api/logs?limit=-1", "limit"),
    ])
    func invalidParameterIs400NamingIt(path: String, parameter: String) async throws {
        try await withCollector { collector in
            let reply = try await fetchReply(.GET, collector.http + path)
            #expect(reply.status == 400)
            let errors = try #require(try reply.json()["errors"] as? [[String: Any]])
            #expect((errors.first?["msg"] as? String)?.contains("'\(parameter)'") == true)
        }
    }

    @Test func healthMetricsAndReadiness() async throws {
        try await withCollector { collector in
            try await ingestSamples(collector)
            #expect(try await fetchReply(.GET, collector.http + "/healthz").status == 200)
            #expect(try await fetchReply(.GET, collector.http + "/readyz").status == 200)
            let metrics = try await fetchReply(.GET, collector.http + "/metrics")
            #expect(metrics.status == 200)
            #expect(metrics.text.contains("causeway_receiver_accepted_spans_total"))
            #expect(metrics.text.contains("causeway_pipeline_queue_bytes"))
        }
    }
}
