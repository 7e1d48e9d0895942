import AsyncHTTPClient
import Collector
import CompressNIO
import NIOCore
import Foundation
import NIOHTTP1
import Telemetry
import Testing

@Suite struct OTLPHTTPReceiverTests {
    @Test func getIsRefusedWith405AndAllowPost() async throws {
        try await withCollector { collector in
            let reply = try await fetchReply(.GET, collector.otlp + "/v1/traces", headers: protobufHeaders)
            #expect(reply.status == 405)
            #expect(reply.header("Allow") == "POST")
            #expect(try RPCStatus(protobuf: reply.body).message.contains("POST"))
        }
    }

    /// The media type is matched whatever its case, parameters and the spaces around it.
    @Test func contentTypeIsMatchedWithoutCaseParametersOrSpaces() async throws {
        try await withCollector { collector in
            for contentType in ["Application/JSON; charset=utf-8", "application/json ;charset=UTF-8", "APPLICATION/X-PROTOBUF", "application/x-protobuf\t;x=1"] {
                let body = contentType.lowercased().contains("json") ? Array("{}".utf8) : []
                let reply = try await fetchReply(collector.otlp + "/v1/traces", body: body, headers: [("Content-Type", contentType)])
                #expect(reply.status == 200, "\(contentType)")
            }
            let reply = try await fetchReply(collector.otlp + "/v1/traces", body: [], headers: [("Content-Type", " ; charset=utf-8")])
            #expect(reply.status == 415)
        }
    }

    @Test func unknownContentTypeIs415() async throws {
        try await withCollector { collector in
            let reply = try await fetchReply(collector.otlp + "/v1/traces", body: [1, 2, 3], headers: [("Content-Type", "text/xml")])
            #expect(reply.status == 415)
            #expect(reply.text.contains("text/xml"))
        }
    }

    @Test func undecodableProtobufIs400WithAStatusNamingTheFault() async throws {
        try await withCollector { collector in
            let reply = try await fetchReply(collector.otlp + "/v1/traces", body: [0x0A, 0x05, 0x01], headers: protobufHeaders)
            #expect(reply.status == 400)
            #expect(reply.header("Content-Type") == "application/x-protobuf")
            let status = try RPCStatus(protobuf: reply.body)
            #expect(status.code == 3)
            #expect(status.message.contains("ExportTraceServiceRequest"))
        }
    }

    @Test func undecodableJSONIs400WithAJSONStatus() async throws {
        try await withCollector { collector in
            let reply = try await fetchReply(collector.otlp + "/v1/logs", body: Array(#"{"resourceLogs": 7}"#.utf8), headers: [("Content-Type", "application/json")])
            #expect(reply.status == 400)
            #expect(reply.header("Content-Type") == "application/json")
            let status = try RPCStatus(otlpJSON: reply.body)
            #expect(status.message.contains("resourceLogs"))
        }
    }

    @Test func bodyOverTheLimitIs413() async throws {
        try await withCollector({ $0.otlp?.maxRequestBodySize = 1024 }) { collector in
            let reply = try await fetchReply(collector.otlp + "/v1/traces", body: [UInt8](repeating: 0, count: 4096), headers: protobufHeaders)
            #expect(reply.status == 413)
            #expect(try RPCStatus(protobuf: reply.body).message.contains("1024"))
        }
    }

    @Test func gzipBombIsCutOffAt413() async throws {
        // 64 MiB of zeros compresses to about 64 KiB; the limit is 1 MiB.
        let bomb = try gzip([UInt8](repeating: 0, count: 64 << 20))
        try await withCollector({ $0.otlp?.maxRequestBodySize = 1 << 20 }) { collector in
            let reply = try await fetchReply(
                collector.otlp + "/v1/traces", body: bomb, headers: protobufHeaders + [("Content-Encoding", "gzip")])
            #expect(reply.status == 413)
        }
    }

    @Test func emptyRequestIsASuccess() async throws {
        try await withCollector { collector in
            let reply = try await fetchReply(collector.otlp + "/v1/traces", body: [], headers: protobufHeaders)
            #expect(reply.status == 200)
            #expect(try ExportTraceServiceResponse(protobuf: reply.body).partialSuccess == nil)
        }
    }

    @Test func invalidSpansAreAnsweredWithPartialSuccess() async throws {
        var traces = Samples.traces
        traces.resourceSpans[0].scopeSpans[0].spans.append(
            Span(traceID: Samples.producerTrace, spanID: SpanID(7), name: "broken", startTimeUnixNano: 2, endTimeUnixNano: 1))
        let body = traces.otlpJSONBytes()
        try await withCollector { collector in
            let reply = try await fetchReply(collector.otlp + "/v1/traces", body: body, headers: [("Content-Type", "application/json")])
            #expect(reply.status == 200)
            #expect(reply.header("Content-Type") == "application/json")
            let response = try ExportTraceServiceResponse(otlpJSON: reply.body)
            #expect(response.partialSuccess?.rejectedSpans == 1)
            #expect(response.partialSuccess?.errorMessage.contains("endTimeUnixNano") == true)
        }
    }

    @Test func missingBearerTokenIs401() async throws {
        try await withCollector({ $0.otlp?.bearerToken = "s3cret" }) { collector in
            let body = Samples.traces.protobufBytes()
            let refused = try await fetchReply(collector.otlp + "/v1/traces", body: body, headers: protobufHeaders)
            #expect(refused.status == 401)
            let wrong = try await fetchReply(collector.otlp + "/v1/traces", body: body, headers: protobufHeaders + [("Authorization", "Bearer nope")])
            #expect(wrong.status == 401)
            let accepted = try await fetchReply(collector.otlp + "/v1/traces", body: body, headers: protobufHeaders + [("Authorization", "Bearer s3cret")])
            #expect(accepted.status == 200)
        }
    }

    @Test func aHeapOverTheLimitAnswers429BeforeDecoding() async throws {
        // A 16-byte limit: the process's heap is over it from the first check.
        try await withCollector({ $0.memoryLimitBytes = 16; $0.memoryCheckInterval = .milliseconds(10) }) { collector in
            let garbage: [UInt8] = [0xFF, 0xFF, 0xFF]
            let reply = try await eventually { () async throws -> Reply? in
                let reply = try await fetchReply(collector.otlp + "/v1/traces", body: garbage, headers: protobufHeaders)
                return reply.status == 429 ? reply : nil
            }
            // Undecodable, yet refused for memory: the body was never decoded.
            #expect(reply.header("Retry-After") == "1")
            #expect(try RPCStatus(protobuf: reply.body).code == 8)
        }
    }

    @Test func gzipAndDeflateProtobufAreAccepted() async throws {
        try await withCollector { collector in
            let body = Samples.traces.protobufBytes()
            let gzipped = try await fetchReply(collector.otlp + "/v1/traces", body: try gzip(body), headers: protobufHeaders + [("Content-Encoding", "gzip")])
            #expect(gzipped.status == 200)
            // Content codings are case-insensitive (RFC 9110 8.4.1), with optional spaces around.
            let shouted = try await fetchReply(collector.otlp + "/v1/traces", body: try gzip(body), headers: protobufHeaders + [("Content-Encoding", "GZip\t")])
            #expect(shouted.status == 200)
            var buffer = ByteBuffer(bytes: body)
            let zlib = Array(try buffer.compress(with: .zlib()).readableBytesView)
            let deflated = try await fetchReply(collector.otlp + "/v1/traces", body: zlib, headers: protobufHeaders + [("Content-Encoding", "deflate")])
            #expect(deflated.status == 200)
            let unknown = try await fetchReply(collector.otlp + "/v1/traces", body: body, headers: protobufHeaders + [("Content-Encoding", "br")])
            #expect(unknown.status == 415)
        }
    }

    /// RFC 1952 lets a gzip body hold several members: every one is inflated (the spans of
    /// the second were once silently dropped). Zero padding after the last is ignored; any
    /// other trailing bytes are refused with 400 naming them, never ignored.
    @Test func everyGzipMemberIsInflatedAndTrailingBytesAreRefused() async throws {
        try await withCollector { collector in
            let producer = ExportTraceServiceRequest(resourceSpans: [Samples.traces.resourceSpans[0]])
            let consumer = ExportTraceServiceRequest(resourceSpans: Array(Samples.traces.resourceSpans[1...]))
            // Protobuf messages concatenated are one message with both repeated fields.
            let twoMembers = try gzip(producer.protobufBytes()) + gzip(consumer.protobufBytes())
            let reply = try await fetchReply(collector.otlp + "/v1/traces", body: twoMembers, headers: protobufHeaders + [("Content-Encoding", "gzip")])
            #expect(reply.status == 200)
            for trace in [Samples.producerTrace, Samples.consumerTrace] {
                _ = try await eventually { () async throws -> Bool? in
                    try await fetchReply(.GET, collector.http + "/api/traces/\(trace.hex)").status == 200 ? true : nil
                }
            }
            let padded = try gzip(producer.protobufBytes()) + [UInt8](repeating: 0, count: 7)
            #expect(try await fetchReply(collector.otlp + "/v1/traces", body: padded, headers: protobufHeaders + [("Content-Encoding", "gzip")]).status == 200)
            let trailing = try gzip(producer.protobufBytes()) + [1, 2, 3]
            let refused = try await fetchReply(collector.otlp + "/v1/traces", body: trailing, headers: protobufHeaders + [("Content-Encoding", "gzip")])
            #expect(refused.status == 400)
            #expect(try RPCStatus(protobuf: refused.body).message.contains("3 bytes after the end of the gzip stream"))
        }
    }

    @Test func unknownPathIs404() async throws {
        try await withCollector { collector in
            let reply = try await fetchReply(collector.otlp + "/v1/metrics", body: [], headers: protobufHeaders)
            #expect(reply.status == 404)
        }
    }
}

/// A consumer that holds every batch until released, as a stuck exporter would.
final class StalledConsumer: TelemetryConsumer {
    let name = "stalled"
    private let gate = AsyncStream<Void>.makeStream()

    func release() { gate.continuation.finish() }

    func consume(_ traces: ExportTraceServiceRequest) async throws { for await _ in gate.stream {} }
    func consume(_ logs: ExportLogsServiceRequest) async throws { for await _ in gate.stream {} }
    func run() async throws {}
    func shutdown() async {}
}
