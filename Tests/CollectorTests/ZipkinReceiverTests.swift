import AsyncHTTPClient
import Collector
import Foundation
import NIOHTTP1
import Telemetry
import Testing

@Suite struct ZipkinReceiverTests {
    let spans = Array("""
        [{"traceId":"5af7183fb1d4cf5f","id":"6b221d5bc9e6496c","name":"get /orders","kind":"SERVER",
          "timestamp":1700000000000000,"duration":1500,"localEndpoint":{"serviceName":"frontend"},
          "tags":{"http.method":"GET"}}]
        """.utf8)

    @Test func gzippedJSONSpansAreAcceptedWith202AndQueryable() async throws {
        try await withCollector { collector in
            let reply = try await fetchReply(
                collector.zipkin + "/api/v2/spans", body: try gzip(spans), headers: [("Content-Type", "application/json"), ("Content-Encoding", "gzip")])
            #expect(reply.status == 202)
            let trace = try await eventually { () async throws -> [String: Any]? in
                let reply = try await fetchReply(.GET, collector.http + "/api/traces?service=frontend")
                let data = try reply.json()["data"] as? [[String: Any]]
                return data?.isEmpty == false ? data?.first : nil
            }
            #expect(trace["traceID"] as? String == "00000000000000005af7183fb1d4cf5f")
        }
    }

    @Test func malformedSpansAre400() async throws {
        try await withCollector { collector in
            let reply = try await fetchReply(collector.zipkin + "/api/v2/spans", body: Array(#"[{"traceId":"xyz"}]"#.utf8), headers: [("Content-Type", "application/json")])
            #expect(reply.status == 400)
            #expect(reply.text.contains("traceId"))
        }
    }

    @Test func otherMethodsAndTypesAreRefused() async throws {
        try await withCollector { collector in
            let get = try await fetchReply(.GET, collector.zipkin + "/api/v2/spans")
            #expect(get.status == 405)
            let thrift = try await fetchReply(collector.zipkin + "/api/v2/spans", body: spans, headers: [("Content-Type", "application/x-thrift")])
            #expect(thrift.status == 415)
        }
    }

    @Test func bearerTokenIsRequiredWhenConfigured() async throws {
        try await withCollector({ $0.zipkin?.bearerToken = "t0ken" }) { collector in
            let refused = try await fetchReply(collector.zipkin + "/api/v2/spans", body: spans, headers: [("Content-Type", "application/json")])
            #expect(refused.status == 401)
            let accepted = try await fetchReply(
                collector.zipkin + "/api/v2/spans", body: spans, headers: [("Content-Type", "application/json"), ("Authorization", "Bearer t0ken")])
            #expect(accepted.status == 202)
        }
    }
}
