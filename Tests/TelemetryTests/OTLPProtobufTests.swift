import Testing
import Telemetry

/// Builds protobuf by hand, front to back, so tests state the exact wire bytes.
struct ProtobufBuilder {
    var bytes: [UInt8] = []

    mutating func varint(_ value: UInt64) {
        var value = value
        while value >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: value) | 0x80)
            value >>= 7
        }
        bytes.append(UInt8(value))
    }

    mutating func key(_ field: UInt64, _ wireType: UInt64) { varint(field << 3 | wireType) }

    mutating func bytesField(_ field: UInt64, _ content: [UInt8]) {
        key(field, 2)
        varint(UInt64(content.count))
        bytes += content
    }

    mutating func message(_ field: UInt64, _ build: (inout ProtobufBuilder) -> Void) {
        var inner = ProtobufBuilder()
        build(&inner)
        bytesField(field, inner.bytes)
    }

    mutating func string(_ field: UInt64, _ value: String) { bytesField(field, Array(value.utf8)) }

    mutating func varintField(_ field: UInt64, _ value: UInt64) {
        key(field, 0)
        varint(value)
    }

    mutating func fixed64Field(_ field: UInt64, _ value: UInt64) {
        key(field, 1)
        for shift in stride(from: 0, to: 64, by: 8) { bytes.append(UInt8(truncatingIfNeeded: value >> UInt64(shift))) }
    }
}

/// One request with one span, whose fields the caller writes.
func traceRequestBytes(span: (inout ProtobufBuilder) -> Void) -> [UInt8] {
    var request = ProtobufBuilder()
    request.message(1) { rs in rs.message(2) { ss in ss.message(2, span) } }
    return request.bytes
}

func validSpanFields(_ span: inout ProtobufBuilder) {
    span.bytesField(1, Fixtures.traceID.bytes)
    span.bytesField(2, SpanID(7).bytes)
    span.string(5, "op")
}

func decodingError(_ body: () throws(TelemetryDecodingError) -> Void) -> TelemetryDecodingError? {
    do {
        try body()
        return nil
    } catch {
        return error
    }
}

@Suite struct OTLPProtobufTests {
    @Test func everyTraceFieldRoundTrips() throws {
        let request = Fixtures.fullTraceRequest()
        let decoded = try ExportTraceServiceRequest(protobuf: request.protobufBytes())
        #expect(decoded == request)
    }

    @Test func everyLogFieldRoundTrips() throws {
        let request = Fixtures.fullLogsRequest()
        let decoded = try ExportLogsServiceRequest(protobuf: request.protobufBytes())
        #expect(decoded == request)
    }

    @Test func responsesAndStatusRoundTrip() throws {
        let traces = ExportTraceServiceResponse(partialSuccess: ExportTracePartialSuccess(rejectedSpans: 3, errorMessage: "3 spans had no name"))
        #expect(try ExportTraceServiceResponse(protobuf: traces.protobufBytes()) == traces)
        let logs = ExportLogsServiceResponse(partialSuccess: ExportLogsPartialSuccess(rejectedLogRecords: 1, errorMessage: "x"))
        #expect(try ExportLogsServiceResponse(protobuf: logs.protobufBytes()) == logs)
        let success = ExportTraceServiceResponse()
        #expect(success.protobufBytes().isEmpty)
        #expect(try ExportTraceServiceResponse(protobuf: []) == success)
        let status = RPCStatus(code: 3, message: "bad traceId", details: [ProtobufAny(typeURL: "type.googleapis.com/x", value: [1, 2])])
        #expect(try RPCStatus(protobuf: status.protobufBytes()) == status)
    }

    @Test func encodesTheFieldNumbersOfTraceProto() {
        let span = Span(
            traceID: Fixtures.traceID, spanID: SpanID(7), name: "op", kind: .server,
            startTimeUnixNano: 1, endTimeUnixNano: 2)
        let request = ExportTraceServiceRequest(resourceSpans: [ResourceSpans(scopeSpans: [ScopeSpans(spans: [span])])])
        let expected = traceRequestBytes { s in
            validSpanFields(&s)
            s.varintField(6, 2)
            s.fixed64Field(7, 1)
            s.fixed64Field(8, 2)
        }
        #expect(request.protobufBytes() == expected)
    }

    @Test func emptyRequestIsEmptyBytes() throws {
        #expect(ExportTraceServiceRequest().protobufBytes() == [])
        #expect(try ExportTraceServiceRequest(protobuf: []) == ExportTraceServiceRequest())
    }

    @Test func unknownFieldsOfEveryWireTypeAreSkipped() throws {
        let bytes = traceRequestBytes { s in
            validSpanFields(&s)
            s.varintField(100, 1 << 40)
            s.fixed64Field(101, 9)
            s.bytesField(102, [1, 2, 3])
            s.key(103, 5)
            s.bytes += [0, 0, 0, 0]
            s.key(104, 3)  // a group holding a nested group and a varint
            s.key(105, 3)
            s.varintField(1, 1)
            s.key(105, 4)
            s.key(104, 4)
        }
        let decoded = try ExportTraceServiceRequest(protobuf: bytes)
        #expect(decoded.resourceSpans[0].scopeSpans[0].spans[0].name == "op")
    }

    @Test func everyTruncationThrowsOrDecodesWithoutCrashing() {
        let bytes = Fixtures.fullTraceRequest().protobufBytes()
        var failures = 0
        for length in 0..<bytes.count {
            if decodingError({ () throws(TelemetryDecodingError) in _ = try ExportTraceServiceRequest(protobuf: Array(bytes[..<length])) }) != nil {
                failures += 1
            }
        }
        #expect(failures > bytes.count / 2)
    }

    @Test func wrongLengthTraceIDNamesItsPath() {
        let bytes = traceRequestBytes { s in
            s.bytesField(1, [UInt8](repeating: 1, count: 15))
            s.bytesField(2, SpanID(7).bytes)
        }
        let error = decodingError { () throws(TelemetryDecodingError) in _ = try ExportTraceServiceRequest(protobuf: bytes) }
        #expect(error?.description == "resourceSpans[0].scopeSpans[0].spans[0].traceId: expected 16 bytes, got 15")
    }

    @Test func allZeroIDsAreRejected() {
        let zeroTrace = traceRequestBytes { s in
            s.bytesField(1, [UInt8](repeating: 0, count: 16))
            s.bytesField(2, SpanID(7).bytes)
        }
        #expect(
            decodingError { () throws(TelemetryDecodingError) in _ = try ExportTraceServiceRequest(protobuf: zeroTrace) }?.description
                == "resourceSpans[0].scopeSpans[0].spans[0].traceId: all-zero trace ID is invalid")
        let zeroSpan = traceRequestBytes { s in
            s.bytesField(1, Fixtures.traceID.bytes)
            s.bytesField(2, [UInt8](repeating: 0, count: 8))
        }
        #expect(
            decodingError { () throws(TelemetryDecodingError) in _ = try ExportTraceServiceRequest(protobuf: zeroSpan) }?.path
                == "resourceSpans[0].scopeSpans[0].spans[0].spanId")
    }

    @Test func missingSpanIDIsRejected() {
        let bytes = traceRequestBytes { s in s.bytesField(1, Fixtures.traceID.bytes) }
        let error = decodingError { () throws(TelemetryDecodingError) in _ = try ExportTraceServiceRequest(protobuf: bytes) }
        #expect(error?.description == "resourceSpans[0].scopeSpans[0].spans[0].spanId: required, missing")
    }

    @Test func zeroOrEmptyParentMeansRoot() throws {
        for parent in [[UInt8](), [UInt8](repeating: 0, count: 8)] {
            let bytes = traceRequestBytes { s in
                validSpanFields(&s)
                s.bytesField(4, parent)
            }
            #expect(try ExportTraceServiceRequest(protobuf: bytes).resourceSpans[0].scopeSpans[0].spans[0].parentSpanID == nil)
        }
    }

    @Test func wrongWireTypeNamesTheField() {
        let bytes = traceRequestBytes { s in
            validSpanFields(&s)
            s.varintField(7, 5)
        }
        let error = decodingError { () throws(TelemetryDecodingError) in _ = try ExportTraceServiceRequest(protobuf: bytes) }
        #expect(
            error?.description
                == "resourceSpans[0].scopeSpans[0].spans[0].startTimeUnixNano: expected wire type 1 (64-bit), got 0 (varint)")
    }

    @Test func overlongVarintIsRejected() {
        var builder = ProtobufBuilder()
        builder.key(1, 2)
        builder.bytes += [UInt8](repeating: 0xff, count: 11) + [0x01]
        let error = decodingError { () throws(TelemetryDecodingError) in _ = try ExportTraceServiceRequest(protobuf: builder.bytes) }
        #expect(error?.reason == "malformed varint: more than 64 bits")
    }

    @Test func lengthPastTheEndIsRejected() {
        var builder = ProtobufBuilder()
        builder.key(1, 2)
        builder.varint(1 << 40)
        let error = decodingError { () throws(TelemetryDecodingError) in _ = try ExportTraceServiceRequest(protobuf: builder.bytes) }
        #expect(error?.reason == "truncated: length 1099511627776 exceeds the 0 bytes left")
    }

    @Test func invalidUTF8InAStringNamesThePath() {
        let bytes = traceRequestBytes { s in
            validSpanFields(&s)
            s.message(9) { kv in
                kv.string(1, "key")
                kv.message(2) { v in v.bytesField(1, [0x61, 0xC3, 0x28]) }
            }
        }
        let error = decodingError { () throws(TelemetryDecodingError) in _ = try ExportTraceServiceRequest(protobuf: bytes) }
        #expect(error?.description == "resourceSpans[0].scopeSpans[0].spans[0].attributes[0].value.stringValue: invalid UTF-8 in a string field")
    }

    @Test func anyValueNestingBeyondTheLimitIsRejectedNotOverflowed() {
        var value = ProtobufBuilder()
        value.varintField(3, 1)
        for _ in 0..<10_000 {
            var array = ProtobufBuilder()
            array.message(5) { list in list.bytesField(1, value.bytes) }
            value = array
        }
        let bytes = traceRequestBytes { s in
            validSpanFields(&s)
            s.message(9) { kv in kv.bytesField(2, value.bytes) }
        }
        let error = decodingError { () throws(TelemetryDecodingError) in _ = try ExportTraceServiceRequest(protobuf: bytes) }
        #expect(error?.reason == "AnyValue nested more than 32 deep")
        #expect(error?.path.hasPrefix("resourceSpans[0].scopeSpans[0].spans[0].attributes[0].value.arrayValue.values[0]") == true)
    }

    @Test func theLastMemberOfAOneofWins() throws {
        let bytes = traceRequestBytes { s in
            validSpanFields(&s)
            s.message(9) { kv in
                kv.string(1, "k")
                kv.message(2) { v in
                    v.string(1, "first")
                    v.varintField(3, 9)
                }
            }
        }
        let span = try ExportTraceServiceRequest(protobuf: bytes).resourceSpans[0].scopeSpans[0].spans[0]
        #expect(span.attributes == [KeyValue("k", .int(9))])
    }

    @Test func negativeEnumsAndUnknownKindsSurvive() throws {
        let bytes = traceRequestBytes { s in
            validSpanFields(&s)
            s.varintField(6, UInt64(bitPattern: -3))
        }
        let span = try ExportTraceServiceRequest(protobuf: bytes).resourceSpans[0].scopeSpans[0].spans[0]
        #expect(span.kind.rawValue == -3)
        let again = try ExportTraceServiceRequest(protobuf: ExportTraceServiceRequest(protobuf: bytes).protobufBytes())
        #expect(again.resourceSpans[0].scopeSpans[0].spans[0].kind.rawValue == -3)
    }

    @Test func logIDsMayBeAbsentEmptyOrZero() throws {
        for traceID in [[UInt8](), [UInt8](repeating: 0, count: 16)] {
            var request = ProtobufBuilder()
            request.message(1) { rl in rl.message(2) { sl in sl.message(2) { r in r.bytesField(9, traceID) } } }
            let record = try ExportLogsServiceRequest(protobuf: request.bytes).resourceLogs[0].scopeLogs[0].logRecords[0]
            #expect(record.traceID == nil)
        }
    }

    @Test func largeRequestsGrowTheWriter() throws {
        let span = Fixtures.fullTraceRequest().resourceSpans[0].scopeSpans[0].spans[0]
        let request = ExportTraceServiceRequest(resourceSpans: [ResourceSpans(scopeSpans: [ScopeSpans(spans: Array(repeating: span, count: 2000))])])
        #expect(try ExportTraceServiceRequest(protobuf: request.protobufBytes()) == request)
    }
}

@Suite struct ProtobufAllocationBoundTests {
    @Test func aSpanOfEmptyAttributesStillDecodesWithoutOverReserving() throws {
        let bytes = traceRequestBytes { s in
            validSpanFields(&s)
            for _ in 0..<1000 { s.bytesField(9, []) }
        }
        let span = try ExportTraceServiceRequest(protobuf: bytes).resourceSpans[0].scopeSpans[0].spans[0]
        #expect(span.attributes.count == 1000)
        // The up-front reservation is cut to 8 × the span's bytes; the array grows from there.
        #expect(span.attributes.capacity <= 2 * span.attributes.count)
    }

    @Test func aMillionEmptySpansFailOnTheFirstWithoutReservingForAll() {
        var scope = ProtobufBuilder()
        for _ in 0..<1_000_000 { scope.bytesField(2, []) }
        var request = ProtobufBuilder()
        request.message(1) { rs in rs.bytesField(2, scope.bytes) }
        let error = decodingError { () throws(TelemetryDecodingError) in _ = try ExportTraceServiceRequest(protobuf: request.bytes) }
        #expect(error?.description == "resourceSpans[0].scopeSpans[0].spans[0].traceId: required, missing")
    }
}
