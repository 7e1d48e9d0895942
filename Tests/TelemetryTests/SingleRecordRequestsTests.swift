import Testing
import Telemetry

/// The one-record split the store keeps must be byte for byte the encoding of a request
/// built with that record alone, so that what is read back is what was received.
@Suite struct SingleRecordRequestsTests {
    @Test func eachSpanRequestEqualsTheEncodingOfItsOneSpanRequest() throws {
        var request = Fixtures.fullTraceRequest()
        // A second group without resource or scope, to cover the absent fields too.
        request.resourceSpans.append(ResourceSpans(resource: nil, scopeSpans: [ScopeSpans(scope: nil, spans: request.resourceSpans[0].scopeSpans[0].spans, schemaURL: "")], schemaURL: ""))
        var split: [[UInt8]] = []
        request.forEachSpanRequest { _, _, bytes in split.append(bytes.protobuf) }
        #expect(split.count == request.spanCount)
        #expect(split == oneSpanRequests(of: request))
    }

    /// The parts are laid out with lengths of one, two and three bytes at every level.
    @Test func longSpansScopesAndResourcesAreSplitWithTheirLengths() throws {
        var request = Fixtures.fullTraceRequest()
        request.resourceSpans[0].schemaURL = String(repeating: "r", count: 200)
        request.resourceSpans[0].resource?.attributes.append(KeyValue("resource.note", .string(String(repeating: "n", count: 300))))
        request.resourceSpans[0].scopeSpans[0].schemaURL = String(repeating: "s", count: 20_000)
        request.resourceSpans[0].scopeSpans[0].spans[0].attributes.append(KeyValue("note", .string(String(repeating: "x", count: 70_000))))
        var split: [[UInt8]] = [], counts: [Int] = []
        request.forEachSpanRequest { _, _, bytes in
            split.append(bytes.protobuf)
            counts.append(bytes.count)
        }
        #expect(split == oneSpanRequests(of: request))
        #expect(counts == split.map(\.count))
        // The same from the span bytes a decode keeps.
        let decoded = try request.protobufBytes().withUnsafeBytes { try ExportTraceServiceRequest(protobuf: $0, keepingSpanBytes: true) }
        var kept: [[UInt8]] = []
        decoded.forEachSpanRequest { _, _, bytes in kept.append(bytes.protobuf) }
        #expect(decoded.receivedProtobuf != nil && kept == split)
        #expect(try split.map { try $0.withUnsafeBytes { try ExportTraceServiceRequest(protobuf: $0) } }.first?.resourceSpans[0].scopeSpans[0].spans == [request.resourceSpans[0].scopeSpans[0].spans[0]])
    }

    /// Each span as the encoding of a request of its own, with its resource and scope.
    private func oneSpanRequests(of request: ExportTraceServiceRequest) -> [[UInt8]] {
        var requests: [[UInt8]] = []
        for resourceSpans in request.resourceSpans {
            for scopeSpans in resourceSpans.scopeSpans {
                for span in scopeSpans.spans {
                    requests.append(ExportTraceServiceRequest(resourceSpans: [
                        ResourceSpans(resource: resourceSpans.resource, scopeSpans: [ScopeSpans(scope: scopeSpans.scope, spans: [span], schemaURL: scopeSpans.schemaURL)], schemaURL: resourceSpans.schemaURL)
                    ]).protobufBytes())
                }
            }
        }
        return requests
    }

    @Test func spanBytesKeptFromTheDecodeGiveTheSameSplitAsEncodingTheSpansAgain() throws {
        var request = Fixtures.fullTraceRequest()
        request.resourceSpans.append(ResourceSpans(resource: nil, scopeSpans: [ScopeSpans(scope: nil, spans: request.resourceSpans[0].scopeSpans[0].spans, schemaURL: "")], schemaURL: ""))
        let decoded = try request.protobufBytes().withUnsafeBytes { try ExportTraceServiceRequest(protobuf: $0, keepingSpanBytes: true) }
        #expect(decoded.receivedSpans != nil)
        #expect(decoded == request)
        var encoded: [[UInt8]] = [], kept: [[UInt8]] = []
        request.forEachSpanRequest { _, _, bytes in encoded.append(bytes.protobuf) }
        decoded.forEachSpanRequest { _, _, bytes in kept.append(bytes.protobuf) }
        #expect(kept == encoded)
        // The memory measured while decoding is the walked estimate but for the long
        // strings that repeat, which the decode shares and the walk counts every time.
        let walked = request.estimatedMemoryBytes, measured = try #require(decoded.receivedSpans).decodedMemoryBytes
        #expect(decoded.estimatedMemoryBytes > measured + request.protobufBytes().count)
        #expect(measured <= walked && measured > walked * 3 / 4, "measured \(measured), walked \(walked)")
    }

    @Test func aKeptSpanIsWrittenAsReceivedUnknownFieldsIncludedUntilTheSpansChange() throws {
        let span = Fixtures.fullTraceRequest().resourceSpans[0].scopeSpans[0].spans[0]
        var single = ExportTraceServiceRequest(resourceSpans: [ResourceSpans(scopeSpans: [ScopeSpans(spans: [span])])])
        // The span's message with field 99 (varint 7) appended, which no decoder knows.
        var spanBytes: [UInt8] = []
        single.forEachSpanRequest { _, _, bytes in spanBytes = bytes.protobuf }
        let spanMessage = Self.onlyField(2, of: Self.onlyField(2, of: Self.onlyField(1, of: spanBytes))) + [0x98, 0x06, 0x07]
        let request = Self.field(1, Self.field(2, Self.field(2, spanMessage)))
        var decoded = try request.withUnsafeBytes { try ExportTraceServiceRequest(protobuf: $0, keepingSpanBytes: true) }
        #expect(decoded == single)
        var stored: [UInt8] = []
        decoded.forEachSpanRequest { _, _, bytes in stored = bytes.protobuf }
        #expect(stored == request)
        #expect(try ExportTraceServiceRequest(protobuf: stored) == single)
        #expect(decoded.receivedProtobuf == request)

        single.resourceSpans[0].scopeSpans[0].spans[0].name = "renamed"
        decoded.resourceSpans[0].scopeSpans[0].spans[0].name = "renamed"
        #expect(decoded.receivedSpans == nil)
        #expect(decoded.receivedProtobuf == nil)
        var reencoded: [UInt8] = []
        decoded.forEachSpanRequest { _, _, bytes in reencoded = bytes.protobuf }
        #expect(try ExportTraceServiceRequest(protobuf: reencoded) == single)
    }

    /// A length-delimited field holding `bytes`, for lengths under 16,384.
    private static func field(_ number: UInt8, _ bytes: [UInt8]) -> [UInt8] {
        let length = bytes.count < 0x80 ? [UInt8(bytes.count)] : [UInt8(bytes.count & 0x7F | 0x80), UInt8(bytes.count >> 7)]
        return [number << 3 | 2] + length + bytes
    }

    /// The contents of a message that is one length-delimited field `number`.
    private static func onlyField(_ number: UInt8, of bytes: [UInt8]) -> [UInt8] {
        precondition(bytes[0] == number << 3 | 2)
        return bytes[1] < 0x80 ? Array(bytes[2...]) : Array(bytes[3...])
    }

    @Test func eachLogRecordRequestEqualsTheEncodingOfItsOneRecordRequest() throws {
        var request = Fixtures.fullLogsRequest()
        request.resourceLogs.append(ResourceLogs(resource: nil, scopeLogs: [ScopeLogs(scope: nil, logRecords: request.resourceLogs[0].scopeLogs[0].logRecords, schemaURL: "")], schemaURL: ""))
        var expected: [[UInt8]] = []
        for resourceLogs in request.resourceLogs {
            for scopeLogs in resourceLogs.scopeLogs {
                for record in scopeLogs.logRecords {
                    expected.append(ExportLogsServiceRequest(resourceLogs: [
                        ResourceLogs(resource: resourceLogs.resource, scopeLogs: [ScopeLogs(scope: scopeLogs.scope, logRecords: [record], schemaURL: scopeLogs.schemaURL)], schemaURL: resourceLogs.schemaURL)
                    ]).protobufBytes())
                }
            }
        }
        var split: [[UInt8]] = []
        request.forEachLogRecordRequest { _, _, bytes in split.append(Array(bytes)) }
        #expect(split.count == request.logRecordCount)
        #expect(split == expected)
    }
}
