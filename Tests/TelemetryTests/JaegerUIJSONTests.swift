import Foundation
import Testing

@testable import Telemetry

private enum J {
    static let traceID = TraceID(high: 0x4bf9_2f35_77b3_4da6, low: 0xa3ce_929d_0e0e_4736)
    static let otherTraceID = TraceID(high: 0, low: 0x5af7_183f_b1d4_cf5f)
    static let start: UInt64 = 1_502_787_600_000_000_000

    static func span(
        _ id: UInt64, trace: TraceID = traceID, parent: SpanID? = nil, kind: SpanKind = .internal,
        attributes: [KeyValue] = [], status: SpanStatus = SpanStatus(), events: [SpanEvent] = [],
        links: [SpanLink] = []
    ) -> Span {
        Span(
            traceID: trace, spanID: SpanID(id), parentSpanID: parent, name: "op-\(id)", kind: kind,
            startTimeUnixNano: start + 1_999, endTimeUnixNano: start + 1_999 + 1_234_567, attributes: attributes,
            events: events, links: links, status: status)
    }

    static func request(_ spans: [Span], service: String = "backend", scope: InstrumentationScope? = nil)
        -> ExportTraceServiceRequest
    {
        ExportTraceServiceRequest(resourceSpans: [
            ResourceSpans(
                resource: Resource(attributes: [KeyValue("service.name", .string(service))]),
                scopeSpans: [ScopeSpans(scope: scope, spans: spans)])
        ])
    }

    static func document(_ request: ExportTraceServiceRequest) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(JaegerUIJSON.encode(request))) as? [String: Any])
    }

    static func traces(_ request: ExportTraceServiceRequest) throws -> [[String: Any]] {
        try #require(try document(request)["data"] as? [[String: Any]])
    }

    static func onlySpan(_ span: Span, scope: InstrumentationScope? = nil) throws -> [String: Any] {
        let trace = try #require(try traces(request([span], scope: scope)).first)
        return try #require((trace["spans"] as? [[String: Any]])?.first)
    }

    /// Tags as key → (type, value).
    static func tags(_ object: [String: Any], field: String = "tags") throws -> [String: (String, Any)] {
        let list = try #require(object[field] as? [[String: Any]])
        var result: [String: (String, Any)] = [:]
        for tag in list {
            let key = try #require(tag["key"] as? String)
            result[key] = (try #require(tag["type"] as? String), try #require(tag["value"]))
        }
        return result
    }
}

@Suite struct JaegerUIJSONTests {
    @Test func envelopeHasDataAndZeroedPaging() throws {
        let text = String(decoding: JaegerUIJSON.encode(ExportTraceServiceRequest()), as: UTF8.self)
        #expect(text == #"{"data":[],"total":0,"limit":0,"offset":0,"errors":null}"#)
    }

    @Test func traceElementHasIDSpansProcessesAndNullWarnings() throws {
        let trace = try #require(try J.traces(J.request([J.span(1)])).first)
        #expect(trace["traceID"] as? String == "4bf92f3577b34da6a3ce929d0e0e4736")
        #expect((trace["spans"] as? [Any])?.count == 1)
        #expect(trace["processes"] is [String: Any])
        #expect(trace["warnings"] is NSNull)
    }

    @Test func spansAreGroupedByTraceInOrderOfFirstAppearance() throws {
        let traces = try J.traces(
            J.request([J.span(1), J.span(2, trace: J.otherTraceID), J.span(3)]))
        #expect(traces.map { $0["traceID"] as? String } == [
            "4bf92f3577b34da6a3ce929d0e0e4736", "00000000000000005af7183fb1d4cf5f",
        ])
        let firstSpans = try #require(traces[0]["spans"] as? [[String: Any]])
        #expect(firstSpans.map { $0["spanID"] as? String } == ["0000000000000001", "0000000000000003"])
    }

    @Test func spanFieldsUseJaegerNamesAndMicroseconds() throws {
        var span = J.span(0x00f0_67aa_0ba9_02b7)
        span.flags = 0x301
        let object = try J.onlySpan(span)
        #expect(object["traceID"] as? String == "4bf92f3577b34da6a3ce929d0e0e4736")
        #expect(object["spanID"] as? String == "00f067aa0ba902b7")
        #expect(object["operationName"] as? String == "op-\(0x00f0_67aa_0ba9_02b7)")
        #expect(object["startTime"] as? Int64 == 1_502_787_600_000_001)
        #expect(object["duration"] as? Int64 == 1_234)
        #expect(object["flags"] as? Int == 1, "only the W3C trace flags byte")
        #expect(object["processID"] as? String == "p1")
        #expect(object["warnings"] is NSNull)
        #expect((object["references"] as? [Any])?.isEmpty == true)
        #expect((object["logs"] as? [Any])?.isEmpty == true)
    }

    @Test func zeroFlagsAreLeftOut() throws {
        #expect(try J.onlySpan(J.span(1))["flags"] == nil)
    }

    @Test func parentIsTheFirstReferenceAndLinksFollowFrom() throws {
        let object = try J.onlySpan(
            J.span(
                2, parent: SpanID(1),
                links: [
                    SpanLink(traceID: J.otherTraceID, spanID: SpanID(9), attributes: [KeyValue("k", "v")]),
                    SpanLink(traceID: J.traceID, spanID: SpanID(8)),
                ]))
        let references = try #require(object["references"] as? [[String: String]])
        #expect(references == [
            ["refType": "CHILD_OF", "traceID": "4bf92f3577b34da6a3ce929d0e0e4736", "spanID": "0000000000000001"],
            ["refType": "FOLLOWS_FROM", "traceID": "00000000000000005af7183fb1d4cf5f", "spanID": "0000000000000009"],
            ["refType": "FOLLOWS_FROM", "traceID": "4bf92f3577b34da6a3ce929d0e0e4736", "spanID": "0000000000000008"],
        ])
    }

    @Test func attributesBecomeTypedTags() throws {
        let tags = try J.tags(
            J.onlySpan(
                J.span(
                    1,
                    attributes: [
                        KeyValue("s", "text"), KeyValue("b", true), KeyValue("i", 42), KeyValue("d", 0.5),
                        KeyValue("bin", .bytes([1, 2, 3])), KeyValue("a", .array(["x", 1])),
                        KeyValue("kv", .keyValueList([KeyValue("k", "v")])),
                    ])))
        #expect(tags["s"]?.0 == "string" && tags["s"]?.1 as? String == "text")
        #expect(tags["b"]?.0 == "bool" && tags["b"]?.1 as? Bool == true)
        #expect(tags["i"]?.0 == "int64" && tags["i"]?.1 as? Int == 42)
        #expect(tags["d"]?.0 == "float64" && tags["d"]?.1 as? Double == 0.5)
        #expect(tags["bin"]?.0 == "binary" && tags["bin"]?.1 as? String == "AQID")
        #expect(tags["a"]?.0 == "string" && tags["a"]?.1 as? String == #"["x",1]"#)
        #expect(tags["kv"]?.0 == "string" && tags["kv"]?.1 as? String == #"{"k":"v"}"#)
    }

    @Test func integersBeyondJavaScriptPrecisionAreWrittenAsStrings() throws {
        let tags = try J.tags(
            J.onlySpan(J.span(1, attributes: [KeyValue("big", .int(Int64.max)), KeyValue("safe", 9_007_199_254_740_991)])))
        #expect(tags["big"]?.0 == "int64" && tags["big"]?.1 as? String == "9223372036854775807")
        #expect(tags["safe"]?.1 as? Int == 9_007_199_254_740_991)
    }

    @Test(arguments: [
        (SpanKind.client, "client"), (.server, "server"), (.producer, "producer"), (.consumer, "consumer"),
        (.internal, "internal"),
    ])
    func kindBecomesLowercaseSpanKindTag(kind: SpanKind, name: String) throws {
        let tags = try J.tags(J.onlySpan(J.span(1, kind: kind)))
        #expect(tags["span.kind"]?.1 as? String == name)
    }

    @Test func unspecifiedKindHasNoSpanKindTag() throws {
        #expect(try J.tags(J.onlySpan(J.span(1, kind: .unspecified)))["span.kind"] == nil)
    }

    @Test func errorStatusAddsErrorTrueCodeAndDescription() throws {
        let tags = try J.tags(
            J.onlySpan(
                J.span(1, attributes: [KeyValue("error", "old")], status: SpanStatus(code: .error, message: "boom"))))
        #expect(tags["otel.status_code"]?.1 as? String == "ERROR")
        #expect(tags["error"]?.0 == "bool" && tags["error"]?.1 as? Bool == true)
        #expect(tags["otel.status_description"]?.1 as? String == "boom")
        let errorTags = try #require(try J.onlySpan(J.span(1, attributes: [KeyValue("error", "old")], status: SpanStatus(code: .error)))["tags"] as? [[String: Any]])
        #expect(errorTags.filter { $0["key"] as? String == "error" }.count == 1)
    }

    @Test func okStatusAddsOnlyTheCode() throws {
        let tags = try J.tags(J.onlySpan(J.span(1, status: SpanStatus(code: .ok))))
        #expect(tags["otel.status_code"]?.1 as? String == "OK")
        #expect(tags["error"] == nil)
        #expect(tags["otel.status_description"] == nil)
    }

    @Test func scopeAndTraceStateBecomeTags() throws {
        var span = J.span(1)
        span.traceState = "congo=t61rcWkgMzE"
        let tags = try J.tags(
            J.onlySpan(span, scope: InstrumentationScope(name: "causeway.kafka", version: "0.1.0", attributes: [KeyValue("lib", "x")])))
        #expect(tags["otel.scope.name"]?.1 as? String == "causeway.kafka")
        #expect(tags["otel.scope.version"]?.1 as? String == "0.1.0")
        #expect(tags["lib"]?.1 as? String == "x")
        #expect(tags["w3c.tracestate"]?.1 as? String == "congo=t61rcWkgMzE")
    }

    @Test func droppedCountsBecomeIntegerTags() throws {
        var span = J.span(1)
        span.droppedAttributesCount = 1
        span.droppedEventsCount = 2
        span.droppedLinksCount = 3
        let tags = try J.tags(J.onlySpan(span))
        #expect(tags["otel.dropped_attributes_count"]?.1 as? Int == 1)
        #expect(tags["otel.dropped_events_count"]?.1 as? Int == 2)
        #expect(tags["otel.dropped_links_count"]?.1 as? Int == 3)
    }

    @Test func eventsBecomeLogsWithTheNameAsEventField() throws {
        let object = try J.onlySpan(
            J.span(1, events: [SpanEvent(timeUnixNano: J.start + 5_999, name: "retry", attributes: [KeyValue("attempt", 2)])]))
        let logs = try #require(object["logs"] as? [[String: Any]])
        #expect(logs.count == 1)
        #expect(logs[0]["timestamp"] as? Int64 == 1_502_787_600_000_005)
        let fields = try #require(logs[0]["fields"] as? [[String: Any]])
        #expect(fields.map { $0["key"] as? String } == ["event", "attempt"])
        #expect(fields[0]["value"] as? String == "retry")
        #expect(fields[1]["type"] as? String == "int64")
    }

    @Test func eventAttributeNamedEventTakesPrecedenceOverTheName() throws {
        let object = try J.onlySpan(
            J.span(1, events: [SpanEvent(timeUnixNano: J.start, name: "log", attributes: [KeyValue("event", "custom")])]))
        let fields = try #require((object["logs"] as? [[String: Any]])?.first?["fields"] as? [[String: Any]])
        #expect(fields.count == 1)
        #expect(fields[0]["value"] as? String == "custom")
    }

    @Test func processComesFromTheResource() throws {
        let request = ExportTraceServiceRequest(resourceSpans: [
            ResourceSpans(
                resource: Resource(attributes: [KeyValue("service.name", "orders"), KeyValue("host.name", "h1"), KeyValue("pid", 7)]),
                scopeSpans: [ScopeSpans(spans: [J.span(1)])])
        ])
        let trace = try #require(try J.traces(request).first)
        let process = try #require((trace["processes"] as? [String: Any])?["p1"] as? [String: Any])
        #expect(process["serviceName"] as? String == "orders")
        let tags = try J.tags(process)
        #expect(tags.count == 2)
        #expect(tags["host.name"]?.1 as? String == "h1")
        #expect(tags["pid"]?.0 == "int64")
    }

    @Test func resourceWithoutServiceNameIsUnknownService() throws {
        let request = ExportTraceServiceRequest(resourceSpans: [
            ResourceSpans(resource: nil, scopeSpans: [ScopeSpans(spans: [J.span(1)])])
        ])
        let trace = try #require(try J.traces(request).first)
        let process = try #require((trace["processes"] as? [String: Any])?["p1"] as? [String: Any])
        #expect(process["serviceName"] as? String == "unknown_service")
    }

    @Test func identicalResourcesShareOneProcessPerTrace() throws {
        let resource = Resource(attributes: [KeyValue("service.name", "orders")])
        let request = ExportTraceServiceRequest(resourceSpans: [
            ResourceSpans(resource: resource, scopeSpans: [ScopeSpans(spans: [J.span(1)])]),
            ResourceSpans(
                resource: Resource(attributes: [KeyValue("service.name", "payments")]),
                scopeSpans: [ScopeSpans(spans: [J.span(2)])]),
            ResourceSpans(resource: resource, scopeSpans: [ScopeSpans(spans: [J.span(3), J.span(4, trace: J.otherTraceID)])]),
        ])
        let traces = try J.traces(request)
        let spans = try #require(traces[0]["spans"] as? [[String: Any]])
        #expect(spans.map { $0["processID"] as? String } == ["p1", "p2", "p1"])
        #expect((traces[0]["processes"] as? [String: Any])?.count == 2)
        let second = try #require(traces[1]["processes"] as? [String: [String: Any]])
        #expect(second["p1"]?["serviceName"] as? String == "orders", "process IDs are per trace")
    }
}
