import Testing

@testable import Telemetry

private let traceHex = "4bf92f3577b34da6a3ce929d0e0e4736"
private let spanHex = "00f067aa0ba902b7"
private let traceID = TraceID(high: 0x4bf9_2f35_77b3_4da6, low: 0xa3ce_929d_0e0e_4736)
private let spanID = SpanID(0x00f0_67aa_0ba9_02b7)

private func json(_ bytes: [UInt8]) -> String { String(decoding: bytes, as: UTF8.self) }

/// Decodes a trace request from JSON text.
private func traces(_ text: String) throws(TelemetryDecodingError) -> ExportTraceServiceRequest {
    try ExportTraceServiceRequest(otlpJSON: Array(text.utf8))
}

/// Decodes a log request from JSON text.
private func logs(_ text: String) throws(TelemetryDecodingError) -> ExportLogsServiceRequest {
    try ExportLogsServiceRequest(otlpJSON: Array(text.utf8))
}

/// The error decoding `text` as a trace request gives, as "path: reason".
private func traceError(_ text: String) -> String? {
    traceError(Array(text.utf8))
}

private func traceError(_ bytes: [UInt8]) -> String? {
    do throws(TelemetryDecodingError) {
        _ = try ExportTraceServiceRequest(otlpJSON: bytes)
        return nil
    } catch {
        return error.description
    }
}

/// A trace request holding one span whose JSON members are `members`.
private func oneSpan(_ members: String) -> String {
    #"{"resourceSpans":[{"scopeSpans":[{"spans":[{"#
        + members + #"}]}]}]}"#
}

/// A trace request holding one span with valid IDs and one attribute whose value is `value`.
private func oneAttribute(_ value: String) -> String {
    oneSpan(#""traceId":"\#(traceHex)","spanId":"\#(spanHex)","attributes":[{"key":"k","value":\#(value)}]"#)
}

private func firstSpan(_ request: ExportTraceServiceRequest) throws -> Span {
    try #require(request.resourceSpans.first?.scopeSpans.first?.spans.first)
}

private func firstRecord(_ request: ExportLogsServiceRequest) throws -> LogRecord {
    try #require(request.resourceLogs.first?.scopeLogs.first?.logRecords.first)
}

/// Every AnyValue case, nested ones included.
private let everyValue: [KeyValue] = [
    KeyValue("string", "héllo \"quoted\"\n"),
    KeyValue("bool", true),
    KeyValue("int", .int(.min)),
    KeyValue("bigInt", .int(.max)),
    KeyValue("double", .double(-1.25e-300)),
    KeyValue("nan", .double(.infinity)),
    KeyValue("bytes", .bytes([0, 0xFF, 0x10])),
    KeyValue("empty", .empty),
    KeyValue("emptyArray", .array([])),
    KeyValue("array", .array(["a", .int(2), .array([.bool(false)]), .empty])),
    KeyValue("kvlist", .keyValueList([KeyValue("inner", .keyValueList([KeyValue("x", .double(0.5))])), KeyValue("x", .empty)])),
]

private let fullTraceRequest = ExportTraceServiceRequest(resourceSpans: [
    ResourceSpans(
        resource: Resource(attributes: [KeyValue("service.name", "orders")], droppedAttributesCount: 2),
        scopeSpans: [
            ScopeSpans(
                scope: InstrumentationScope(
                    name: "causeway", version: "1.0", attributes: [KeyValue("s", .int(1))], droppedAttributesCount: 3),
                spans: [
                    Span(
                        traceID: traceID, spanID: spanID, traceState: "rojo=00f067aa0ba902b7",
                        parentSpanID: SpanID(0x1234), flags: 0x301, name: "send orders", kind: .producer,
                        startTimeUnixNano: 1_700_000_000_123_456_789, endTimeUnixNano: 18_446_744_073_709_551_615,
                        attributes: everyValue, droppedAttributesCount: 4,
                        events: [
                            SpanEvent(timeUnixNano: 1_700_000_000_200_000_000, name: "retry", attributes: [KeyValue("n", .int(2))], droppedAttributesCount: 5),
                            SpanEvent(),
                        ],
                        droppedEventsCount: 6,
                        links: [
                            SpanLink(
                                traceID: TraceID(high: 1, low: 2), spanID: SpanID(3), traceState: "k=v",
                                attributes: [KeyValue("l", "x")], droppedAttributesCount: 7, flags: 0x101)
                        ],
                        droppedLinksCount: 8, status: SpanStatus(code: .error, message: "boom")),
                    Span(traceID: traceID, spanID: SpanID(9), name: "", kind: .unspecified, startTimeUnixNano: 0, endTimeUnixNano: 0),
                ],
                schemaURL: "https://opentelemetry.io/schemas/1.26.0"),
            ScopeSpans(),
        ],
        schemaURL: "https://opentelemetry.io/schemas/1.25.0"),
    ResourceSpans(),
])

private let fullLogsRequest = ExportLogsServiceRequest(resourceLogs: [
    ResourceLogs(
        resource: Resource(attributes: [KeyValue("service.name", "payments")]),
        scopeLogs: [
            ScopeLogs(
                scope: InstrumentationScope(name: "logger"),
                logRecords: [
                    LogRecord(
                        timeUnixNano: 1_700_000_000_000_000_001, observedTimeUnixNano: 1_700_000_000_000_000_002,
                        severityNumber: SeverityNumber(rawValue: 18), severityText: "ERROR2",
                        body: .keyValueList([KeyValue("msg", "failed")]), attributes: everyValue,
                        droppedAttributesCount: 1, flags: 1, traceID: traceID, spanID: spanID, eventName: "payment.failed"),
                    LogRecord(body: .empty),
                    LogRecord(),
                ],
                schemaURL: "s")
        ],
        schemaURL: "r")
])

@Suite struct OTLPJSONTests {
    // MARK: Round trips

    @Test func traceRequestRoundTripsEveryField() throws {
        let decoded = try ExportTraceServiceRequest(otlpJSON: fullTraceRequest.otlpJSONBytes())
        #expect(decoded == fullTraceRequest)
    }

    @Test func logsRequestRoundTripsEveryField() throws {
        let decoded = try ExportLogsServiceRequest(otlpJSON: fullLogsRequest.otlpJSONBytes())
        #expect(decoded == fullLogsRequest)
    }

    @Test func nanDoubleValueRoundTripsAsAString() throws {
        let request = ExportLogsServiceRequest(resourceLogs: [
            ResourceLogs(scopeLogs: [ScopeLogs(logRecords: [LogRecord(body: .double(.nan))])])
        ])
        let bytes = request.otlpJSONBytes()
        #expect(json(bytes).contains(#""body":{"doubleValue":"NaN"}"#))
        guard case .double(let value)? = try firstRecord(ExportLogsServiceRequest(otlpJSON: bytes)).body else {
            Issue.record("body is not a double")
            return
        }
        #expect(value.isNaN)
    }

    @Test func responsesRoundTripWithAndWithoutPartialSuccess() throws {
        let traceResponses = [
            ExportTraceServiceResponse(),
            ExportTraceServiceResponse(partialSuccess: ExportTracePartialSuccess()),
            ExportTraceServiceResponse(partialSuccess: ExportTracePartialSuccess(rejectedSpans: 3, errorMessage: "queue full")),
        ]
        for response in traceResponses {
            #expect(try ExportTraceServiceResponse(otlpJSON: response.otlpJSONBytes()) == response)
        }
        let logResponses = [
            ExportLogsServiceResponse(),
            ExportLogsServiceResponse(partialSuccess: ExportLogsPartialSuccess(rejectedLogRecords: -1, errorMessage: "x")),
        ]
        for response in logResponses {
            #expect(try ExportLogsServiceResponse(otlpJSON: response.otlpJSONBytes()) == response)
        }
    }

    @Test func responsesUseProto3Names() {
        let response = ExportTraceServiceResponse(partialSuccess: ExportTracePartialSuccess(rejectedSpans: 3, errorMessage: "m"))
        #expect(json(response.otlpJSONBytes()) == #"{"partialSuccess":{"rejectedSpans":"3","errorMessage":"m"}}"#)
        #expect(json(ExportLogsServiceResponse().otlpJSONBytes()) == "{}")
    }

    @Test func rpcStatusRoundTripsWithDetails() throws {
        let status = RPCStatus(
            code: 3, message: "invalid traceId",
            details: [ProtobufAny(typeURL: "type.googleapis.com/google.rpc.BadRequest", value: [1, 2, 3])])
        #expect(json(status.otlpJSONBytes())
            == #"{"code":3,"message":"invalid traceId","details":[{"@type":"type.googleapis.com/google.rpc.BadRequest","value":"AQID"}]}"#)
        #expect(try RPCStatus(otlpJSON: status.otlpJSONBytes()) == status)
    }

    // MARK: What is written

    @Test func writesHexIDsIntegerEnumsAndInt64AsStrings() {
        let request = ExportTraceServiceRequest(resourceSpans: [
            ResourceSpans(scopeSpans: [
                ScopeSpans(spans: [
                    Span(
                        traceID: traceID, spanID: spanID, parentSpanID: SpanID(1), name: "n", kind: .server,
                        startTimeUnixNano: 1, endTimeUnixNano: 2, attributes: [KeyValue("i", .int(7))],
                        status: SpanStatus(code: .ok))
                ])
            ])
        ])
        #expect(json(request.otlpJSONBytes()) == #"{"resourceSpans":[{"scopeSpans":[{"spans":[{"#
            + #""traceId":"4bf92f3577b34da6a3ce929d0e0e4736","spanId":"00f067aa0ba902b7","parentSpanId":"0000000000000001","#
            + #""name":"n","kind":2,"startTimeUnixNano":"1","endTimeUnixNano":"2","#
            + #""attributes":[{"key":"i","value":{"intValue":"7"}}],"status":{"code":1}}]}]}]}"#)
    }

    @Test func omitsDefaultValuedFieldsButKeepsWhatASpanNeeds() {
        let spanJSON = json(ExportTraceServiceRequest(resourceSpans: [
            ResourceSpans(scopeSpans: [
                ScopeSpans(spans: [
                    Span(traceID: traceID, spanID: spanID, name: "", kind: .unspecified, startTimeUnixNano: 0, endTimeUnixNano: 0)
                ])
            ])
        ]).otlpJSONBytes())
        #expect(spanJSON == oneSpan(#""traceId":"\#(traceHex)","spanId":"\#(spanHex)","name":"","kind":0,"startTimeUnixNano":"0","endTimeUnixNano":"0""#))
        let logJSON = json(ExportLogsServiceRequest(resourceLogs: [
            ResourceLogs(scopeLogs: [ScopeLogs(logRecords: [LogRecord()])])
        ]).otlpJSONBytes())
        #expect(logJSON == #"{"resourceLogs":[{"scopeLogs":[{"logRecords":[{}]}]}]}"#)
    }

    // MARK: What is accepted

    @Test func acceptsBase64IDsAsProtobufsDefaultJSONWritesThem() throws {
        let traceBase64 = Base64.encode(traceID.bytes)
        let spanBase64 = Base64.encode(spanID.bytes)
        #expect(traceBase64.utf8.count == 24 && spanBase64.utf8.count == 12)
        let span = try firstSpan(traces(oneSpan(
            #""traceId":"\#(traceBase64)","spanId":"\#(spanBase64)","parentSpanId":"\#(spanBase64.dropLast())""#)))
        #expect(span.traceID == traceID)
        #expect(span.spanID == spanID)
        #expect(span.parentSpanID == spanID)
    }

    @Test func acceptsUnpaddedAndURLSafeBase64IDs() throws {
        let bytes: [UInt8] = [0xFB, 0xFF, 0xFE, 0xFB, 0xFF, 0xFE, 0xFB, 0xFF, 0xFE, 0xFB, 0xFF, 0xFE, 0xFB, 0xFF, 0xFE, 0x01]
        let urlSafe = Base64.encode(bytes).replacing("+", with: "-").replacing("/", with: "_").replacing("=", with: "")
        let span = try firstSpan(traces(oneSpan(#""traceId":"\#(urlSafe)","spanId":"\#(spanHex)""#)))
        #expect(span.traceID == TraceID(bytes: bytes))
    }

    @Test func acceptsUppercaseHexIDs() throws {
        let span = try firstSpan(traces(oneSpan(#""traceId":"\#(traceHex.uppercased())","spanId":"00F067AA0BA902B7""#)))
        #expect(span.traceID == traceID)
        #expect(span.spanID == spanID)
    }

    @Test func acceptsEnumNames() throws {
        let span = try firstSpan(traces(oneSpan(
            #""traceId":"\#(traceHex)","spanId":"\#(spanHex)","kind":"SPAN_KIND_SERVER","status":{"code":"STATUS_CODE_ERROR"}"#)))
        #expect(span.kind == .server)
        #expect(span.status.code == .error)
        let record = try firstRecord(logs(#"{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"severityNumber":"SEVERITY_NUMBER_WARN3"}]}]}]}"#))
        #expect(record.severityNumber.rawValue == 15)
    }

    @Test func keepsUnknownEnumNumbers() throws {
        let span = try firstSpan(traces(oneSpan(#""traceId":"\#(traceHex)","spanId":"\#(spanHex)","kind":42"#)))
        #expect(span.kind.rawValue == 42)
    }

    @Test func acceptsInt64AsNumbersOrStringsExactly() throws {
        let span = try firstSpan(traces(oneSpan(
            #""traceId":"\#(traceHex)","spanId":"\#(spanHex)","startTimeUnixNano":1700000000123456789,"#
                + #""endTimeUnixNano":"18446744073709551615","attributes":[{"key":"a","value":{"intValue":9007199254740993}}]"#)))
        #expect(span.startTimeUnixNano == 1_700_000_000_123_456_789)
        #expect(span.endTimeUnixNano == .max)
        #expect(span.attributes == [KeyValue("a", .int(9_007_199_254_740_993))])
    }

    @Test func acceptsSnakeCaseFieldNames() throws {
        let request = try traces(#"""
            {"resource_spans":[{"schema_url":"r","scope_spans":[{"schema_url":"s","spans":[{
              "trace_id":"\#(traceHex)","span_id":"\#(spanHex)","parent_span_id":"0000000000000002",
              "trace_state":"a=b","start_time_unix_nano":"5","end_time_unix_nano":"6",
              "dropped_attributes_count":1,"dropped_events_count":2,"dropped_links_count":3,
              "attributes":[{"key":"k","value":{"string_value":"v"}}],
              "links":[{"trace_id":"\#(traceHex)","span_id":"\#(spanHex)","trace_state":"c=d"}],
              "events":[{"time_unix_nano":"7","name":"e"}]}]}]}]}
            """#)
        let span = try firstSpan(request)
        #expect(request.resourceSpans[0].schemaURL == "r")
        #expect(request.resourceSpans[0].scopeSpans[0].schemaURL == "s")
        #expect(span.parentSpanID == SpanID(2))
        #expect(span.traceState == "a=b")
        #expect((span.startTimeUnixNano, span.endTimeUnixNano) == (5, 6))
        #expect((span.droppedAttributesCount, span.droppedEventsCount, span.droppedLinksCount) == (1, 2, 3))
        #expect(span.attributes == [KeyValue("k", "v")])
        #expect(span.links == [SpanLink(traceID: traceID, spanID: spanID, traceState: "c=d")])
        #expect(span.events == [SpanEvent(timeUnixNano: 7, name: "e")])
    }

    @Test func skipsUnknownFieldsOfAnyShape() throws {
        let span = try firstSpan(traces(#"""
            {"future":{"a":[1,{"b":null}]},"resourceSpans":[{"x":1,"scopeSpans":[{"spans":[{
              "traceId":"\#(traceHex)","spanId":"\#(spanHex)","newField":[true,"s",-1.5e3],"name":"n"}]}]}]}
            """#))
        #expect(span.name == "n")
    }

    @Test func treatsNullAsTheDefault() throws {
        let request = try traces(oneSpan(
            #""traceId":"\#(traceHex)","spanId":"\#(spanHex)","parentSpanId":null,"name":null,"attributes":null,"status":null,"kind":null"#))
        let span = try firstSpan(request)
        #expect(span.parentSpanID == nil)
        #expect(span.name == "")
        #expect(span.attributes.isEmpty)
        #expect(span.kind == .unspecified)
        #expect(try traces(#"{"resourceSpans":null}"#).resourceSpans.isEmpty)
    }

    @Test func readsAnEmptyParentSpanIDOrAllZerosAsNone() throws {
        for parent in ["\"\"", "\"0000000000000000\"", "\"AAAAAAAAAAA=\""] {
            let span = try firstSpan(traces(oneSpan(#""traceId":"\#(traceHex)","spanId":"\#(spanHex)","parentSpanId":\#(parent)"#)))
            #expect(span.parentSpanID == nil)
        }
    }

    @Test func readsMissingEmptyOrZeroLogIDsAsNone() throws {
        for ids in ["", #","traceId":"","spanId":"""#, #","traceId":"00000000000000000000000000000000","spanId":"0000000000000000""#] {
            let record = try firstRecord(logs(#"{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"severityText":"x"\#(ids)}]}]}]}"#))
            #expect(record.traceID == nil)
            #expect(record.spanID == nil)
        }
    }

    @Test func readsAnAnyValueWithNoFieldAsEmpty() throws {
        let span = try firstSpan(traces(oneAttribute("{}")))
        #expect(span.attributes == [KeyValue("k", .empty)])
    }

    @Test func acceptsAnyValueNestedToTheLimit() throws {
        let depth = DecodingLimits.maxAnyValueDepth
        let value = String(repeating: #"{"arrayValue":{"values":["#, count: depth) + "{}" + String(repeating: "]}}", count: depth)
        let span = try firstSpan(traces(oneAttribute(value)))
        var nested = span.attributes[0].value
        var levels = 0
        while case .array(let values) = nested {
            levels += 1
            nested = values[0]
        }
        #expect(levels == depth)
    }

    @Test func acceptsKeyValueListsNestedToTheLimit() throws {
        let depth = DecodingLimits.maxAnyValueDepth
        let value = String(repeating: #"{"kvlistValue":{"values":[{"key":"k","value":"#, count: depth) + "{}"
            + String(repeating: "}]}}", count: depth)
        let span = try firstSpan(traces(oneAttribute(value)))
        var nested = span.attributes[0].value
        var levels = 0
        while case .keyValueList(let pairs) = nested {
            levels += 1
            nested = pairs[0].value
        }
        #expect(levels == depth)
        let record = try firstRecord(logs(#"{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"body":\#(value)}]}]}]}"#))
        #expect(record.body == span.attributes[0].value)
    }

    // MARK: Errors, with their paths

    @Test func namesTheFieldOfAnIDOfTheWrongLength() {
        let request = #"{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"\#(traceHex)","spanId":"\#(spanHex)"},"#
            + #"{"traceId":"\#(traceHex)","spanId":"\#(spanHex)"},{"traceId":"\#(traceHex)","spanId":"00f067aa0ba902b"}]}]}]}"#
        #expect(traceError(request)
            == "resourceSpans[0].scopeSpans[0].spans[2].spanId: expected 16 hex digits or base64 of 8 bytes, got 15 characters")
        #expect(traceError(oneSpan(#""traceId":"\#(traceHex.dropLast())","spanId":"\#(spanHex)""#))
            == "resourceSpans[0].scopeSpans[0].spans[0].traceId: expected 32 hex digits or base64 of 16 bytes, got 31 characters")
    }

    @Test func refusesIDsThatAreNeitherHexNorBase64() {
        #expect(traceError(oneSpan(#""traceId":"4bf92f3577b34da6a3ce929d0e0e473g","spanId":"\#(spanHex)""#))
            == "resourceSpans[0].scopeSpans[0].spans[0].traceId: expected 32 hex digits or base64 of 16 bytes, got 32 characters that are not all hex digits")
        #expect(traceError(oneSpan(#""traceId":"\#(traceHex)","spanId":"00f067aa0b!=""#))
            == "resourceSpans[0].scopeSpans[0].spans[0].spanId: expected 16 hex digits or base64 of 8 bytes, got invalid base64: unexpected '!' at position 10")
        #expect(traceError(oneSpan(#""traceId":"AAAAAAAAAAAAAAAAAAAAAAAA","spanId":"\#(spanHex)""#))
            == "resourceSpans[0].scopeSpans[0].spans[0].traceId: expected 32 hex digits or base64 of 16 bytes, got base64 of 18 bytes")
        #expect(traceError(oneSpan(#""traceId":"\#(traceHex)","spanId":7"#))
            == "resourceSpans[0].scopeSpans[0].spans[0].spanId: expected a string, got a number (at byte 98)")
    }

    @Test func refusesAllZeroSpanAndLinkIDs() {
        #expect(traceError(oneSpan(#""traceId":"00000000000000000000000000000000","spanId":"\#(spanHex)""#))
            == "resourceSpans[0].scopeSpans[0].spans[0].traceId: all-zero trace ID is invalid")
        #expect(traceError(oneSpan(#""traceId":"\#(traceHex)","spanId":"AAAAAAAAAAA=""#))
            == "resourceSpans[0].scopeSpans[0].spans[0].spanId: all-zero span ID is invalid")
        #expect(traceError(oneSpan(#""traceId":"\#(traceHex)","spanId":"\#(spanHex)","links":[{"traceId":"\#(traceHex)","spanId":"0000000000000000"}]"#))
            == "resourceSpans[0].scopeSpans[0].spans[0].links[0].spanId: all-zero span ID is invalid")
    }

    @Test func refusesSpansWithoutIDs() {
        #expect(traceError(oneSpan(#""spanId":"\#(spanHex)""#)) == "resourceSpans[0].scopeSpans[0].spans[0].traceId: required, missing")
        #expect(traceError(oneSpan(#""traceId":"\#(traceHex)","spanId":"""#))
            == "resourceSpans[0].scopeSpans[0].spans[0].spanId: required, missing")
        #expect(traceError(oneSpan(#""traceId":"\#(traceHex)","spanId":"\#(spanHex)","links":[{"traceId":"\#(traceHex)"}]"#))
            == "resourceSpans[0].scopeSpans[0].spans[0].links[0].spanId: required, missing")
    }

    @Test func namesTheFieldOfAValueOfTheWrongType() {
        #expect(traceError(oneSpan(#""traceId":"\#(traceHex)","spanId":"\#(spanHex)","name":5"#))?
            .hasPrefix("resourceSpans[0].scopeSpans[0].spans[0].name: expected a string, got a number") == true)
        #expect(traceError(#"{"resourceSpans":{}}"#) == "resourceSpans: expected an array, got an object (at byte 17)")
        #expect(traceError(oneAttribute(#"{"boolValue":"true"}"#))?
            .hasPrefix("resourceSpans[0].scopeSpans[0].spans[0].attributes[0].value.boolValue: expected a boolean, got a string") == true)
    }

    @Test func namesTheFieldOfTruncatedJSON() {
        let full = oneSpan(#""traceId":"\#(traceHex)","spanId":"\#(spanHex)","name":"abc""#)
        let cut = String(full.prefix(full.utf8.count - 10))
        #expect(traceError(cut) == "resourceSpans[0].scopeSpans[0].spans[0].name: invalid JSON at byte \(cut.utf8.count - 2): unterminated string")
        #expect(traceError(#"{"resourceSpans":[{"#) == "resourceSpans[0]: invalid JSON at byte 19: unexpected end of input, expected '}'")
        #expect(traceError("")?.hasPrefix("invalid JSON at byte 0: unexpected end of input") == true)
        #expect(traceError(#"{"resourceSpans":[{},{}"#) == "resourceSpans: invalid JSON at byte 23: unexpected end of input, expected ']'")
    }

    @Test func refusesEveryTruncationOfAValidRequest() {
        let bytes = fullTraceRequest.otlpJSONBytes()
        for length in 0..<bytes.count {
            #expect(traceError(Array(bytes[0..<length])) != nil, "accepted \(length) bytes")
        }
    }

    @Test func refusesTrailingData() {
        #expect(traceError(#"{"resourceSpans":[]} {}"#) == "invalid JSON at byte 21: unexpected '{' after the end of the document")
    }

    @Test func refusesInvalidUTF8WithThePath() {
        var bytes = Array(oneSpan(#""traceId":"\#(traceHex)","spanId":"\#(spanHex)","name":"ab""#).utf8)
        let index = bytes.count - 10  // the 'a' of "ab"
        bytes[index] = 0xC3
        #expect(traceError(bytes) == "resourceSpans[0].scopeSpans[0].spans[0].name: invalid JSON at byte \(index): invalid UTF-8 in a string")
    }

    @Test func refusesHugeNumbersWithThePath() {
        #expect(traceError(oneSpan(#""traceId":"\#(traceHex)","spanId":"\#(spanHex)","startTimeUnixNano":"18446744073709551616""#))?
            .hasPrefix("resourceSpans[0].scopeSpans[0].spans[0].startTimeUnixNano: number out of range for a uint64") == true)
        #expect(traceError(oneAttribute(#"{"intValue":1e400}"#))?
            .hasPrefix("resourceSpans[0].scopeSpans[0].spans[0].attributes[0].value.intValue: number out of range for an int64") == true)
        #expect(traceError(oneAttribute(#"{"doubleValue":1e400}"#))?
            .hasPrefix("resourceSpans[0].scopeSpans[0].spans[0].attributes[0].value.doubleValue: number out of range for a double") == true)
        #expect(traceError(oneSpan(#""traceId":"\#(traceHex)","spanId":"\#(spanHex)","droppedLinksCount":4294967296"#))?
            .hasPrefix("resourceSpans[0].scopeSpans[0].spans[0].droppedLinksCount: number out of range for a uint32") == true)
        #expect(traceError(oneSpan(#""traceId":"\#(traceHex)","spanId":"\#(spanHex)","startTimeUnixNano":1.5"#))?
            .contains("startTimeUnixNano: expected a uint64, got a number with a fraction") == true)
    }

    @Test func refusesUnknownEnumNames() {
        #expect(traceError(oneSpan(#""traceId":"\#(traceHex)","spanId":"\#(spanHex)","kind":"SERVER""#))
            == "resourceSpans[0].scopeSpans[0].spans[0].kind: unknown SpanKind name \"SERVER\"")
    }

    @Test func refusesBadBase64Bytes() {
        #expect(traceError(oneAttribute(#"{"bytesValue":"AQI"}"#)) == nil)
        #expect(traceError(oneAttribute(#"{"bytesValue":"A"}"#))
            == "resourceSpans[0].scopeSpans[0].spans[0].attributes[0].value.bytesValue: invalid base64: 1 characters cannot encode whole bytes")
    }

    @Test func refusesAnyValueNestedBeyondTheLimitWithItsPath() throws {
        let depth = DecodingLimits.maxAnyValueDepth + 1
        let value = String(repeating: #"{"arrayValue":{"values":["#, count: depth) + "{}" + String(repeating: "]}}", count: depth)
        let message = try #require(traceError(oneAttribute(value)))
        let inner = String(repeating: ".arrayValue.values[0]", count: depth - 1)
        #expect(message == "resourceSpans[0].scopeSpans[0].spans[0].attributes[0].value\(inner).arrayValue: AnyValue nested more than \(depth - 1) deep")
    }

    @Test func survivesADepthBombOfAHundredThousandArrays() {
        let bomb = String(repeating: #"{"arrayValue":{"values":["#, count: 100_000)
        #expect(traceError(oneAttribute(bomb))?.hasSuffix("AnyValue nested more than \(DecodingLimits.maxAnyValueDepth) deep") == true)
        let plainBomb = String(repeating: "[", count: 100_000)
        #expect(traceError(oneSpan(#""traceId":"\#(traceHex)","spanId":"\#(spanHex)","unknown":\#(plainBomb)"#))?
            .contains("nesting deeper than") == true)
        #expect(traceError(oneAttribute(#"{"kvlistValue":{"values":[{"key":"a","value":"# + bomb)) != nil)
    }

    @Test func namesTheFieldOfAKeyValueListError() {
        #expect(traceError(oneAttribute(#"{"kvlistValue":{"values":[{"key":"a","value":{}},{"key":"b","value":{"intValue":"x"}}]}}"#))
            == "resourceSpans[0].scopeSpans[0].spans[0].attributes[0].value.kvlistValue.values[1].value.intValue: expected an int64, got a string that is not a number (at byte 230)")
    }

    @Test func namesTheFieldsOfLogAndResponseErrors() {
        do throws(TelemetryDecodingError) {
            _ = try logs(#"{"resourceLogs":[{"scopeLogs":[{"logRecords":[{},{"traceId":"abc"}]}]}]}"#)
            Issue.record("accepted a 3-character trace ID")
        } catch {
            #expect(error.description
                == "resourceLogs[0].scopeLogs[0].logRecords[1].traceId: expected 32 hex digits or base64 of 16 bytes, got 3 characters")
        }
        do throws(TelemetryDecodingError) {
            _ = try ExportTraceServiceResponse(otlpJSON: Array(#"{"partialSuccess":{"rejectedSpans":"many"}}"#.utf8))
            Issue.record("accepted a non-numeric count")
        } catch {
            #expect(error.path == "partialSuccess.rejectedSpans")
        }
        do throws(TelemetryDecodingError) {
            _ = try RPCStatus(otlpJSON: Array(#"{"code":3,"details":[{"@type":"t","value":"!!"}]}"#.utf8))
            Issue.record("accepted bad base64")
        } catch {
            #expect(error.path == "details[0].value")
        }
    }

    @Test func survivesRandomMutationsAndRoundTripsWhatItAccepts() {
        // SplitMix64: a fixed sequence, so a failure reproduces.
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        let original = fullTraceRequest.otlpJSONBytes()
        let interesting: [UInt8] = Array(#"{}[]",:0123456789-.eE\u"tfn "#.utf8) + [0x00, 0x80, 0xC3, 0xED, 0xFF]
        for _ in 0..<3000 {
            var bytes = original
            for _ in 0...(next() % 4) {
                let index = Int(next() % UInt64(bytes.count))
                switch next() % 3 {
                case 0: bytes[index] = interesting[Int(next() % UInt64(interesting.count))]
                case 1: bytes.remove(at: index)
                default: bytes.insert(interesting[Int(next() % UInt64(interesting.count))], at: index)
                }
            }
            // Refusing is fine; what is accepted must survive a round trip unchanged.
            guard let decoded = try? ExportTraceServiceRequest(otlpJSON: bytes) else { continue }
            let encoded = decoded.otlpJSONBytes()
            #expect((try? ExportTraceServiceRequest(otlpJSON: encoded))?.otlpJSONBytes() == encoded)
        }
    }
}
