import Foundation
import Testing

@testable import Telemetry

/// Builders shared by the Zipkin tests.
private enum Z {
    static let traceID = TraceID(high: 0x4bf9_2f35_77b3_4da6, low: 0xa3ce_929d_0e0e_4736)
    static let spanID = SpanID(0x00f0_67aa_0ba9_02b7)
    static let parentID = SpanID(0x53ce_929d_0e0e_4736)
    /// 2017-08-15 09:00 UTC plus a little, in nanoseconds, µs-aligned.
    static let start: UInt64 = 1_502_787_600_000_000_000

    static func span(
        kind: SpanKind = .internal, attributes: [KeyValue] = [], parent: SpanID? = nil,
        status: SpanStatus = SpanStatus(), events: [SpanEvent] = [], links: [SpanLink] = []
    ) -> Span {
        Span(
            traceID: traceID, spanID: spanID, parentSpanID: parent, name: "get /api", kind: kind,
            startTimeUnixNano: start, endTimeUnixNano: start + 1_431_000, attributes: attributes, events: events,
            links: links, status: status)
    }

    static func request(
        _ spans: [Span], resource: [KeyValue] = [KeyValue("service.name", "backend")],
        scope: InstrumentationScope? = nil
    ) -> ExportTraceServiceRequest {
        ExportTraceServiceRequest(resourceSpans: [
            ResourceSpans(resource: Resource(attributes: resource), scopeSpans: [ScopeSpans(scope: scope, spans: spans)])
        ])
    }

    /// The encoded spans, parsed by Foundation as an independent reader.
    static func encoded(_ request: ExportTraceServiceRequest) throws -> [[String: Any]] {
        let bytes = ZipkinV2JSON.encode(request)
        return try #require(try JSONSerialization.jsonObject(with: Data(bytes)) as? [[String: Any]])
    }

    static func encodedSpan(_ span: Span, resource: [KeyValue] = [KeyValue("service.name", "backend")]) throws
        -> [String: Any]
    {
        try #require(try encoded(request([span], resource: resource)).first)
    }

    static func tags(_ span: Span, resource: [KeyValue] = [KeyValue("service.name", "backend")]) throws
        -> [String: String]
    {
        let object = try encodedSpan(span, resource: resource)
        guard let tags = object["tags"] else { return [:] }
        return try #require(tags as? [String: String])
    }

    static func decode(_ json: String) throws(TelemetryDecodingError) -> ExportTraceServiceRequest {
        try ZipkinV2JSON.decode(Array(json.utf8))
    }

    static func decodeError(_ json: String) -> String? {
        do {
            _ = try decode(json)
            return nil
        } catch {
            return error.description
        }
    }

    static func decodedSpan(_ json: String) throws -> Span {
        let request = try decode(json)
        return try #require(request.resourceSpans.first?.scopeSpans.first?.spans.first)
    }

    static let minimal = #"{"traceId":"4bf92f3577b34da6a3ce929d0e0e4736","id":"00f067aa0ba902b7""#
}

@Suite struct ZipkinV2JSONEncodeTests {
    @Test func writesIDsAsLowercaseHexOfExactLength() throws {
        let object = try Z.encodedSpan(Z.span(parent: Z.parentID))
        #expect(object["traceId"] as? String == "4bf92f3577b34da6a3ce929d0e0e4736")
        #expect(object["id"] as? String == "00f067aa0ba902b7")
        #expect(object["parentId"] as? String == "53ce929d0e0e4736")
    }

    @Test func rootSpanHasNoParentId() throws {
        let object = try Z.encodedSpan(Z.span())
        #expect(object["parentId"] == nil)
    }

    @Test(arguments: [
        (SpanKind.client, "CLIENT"), (.server, "SERVER"), (.producer, "PRODUCER"), (.consumer, "CONSUMER"),
    ])
    func kindsMapToZipkinNames(kind: SpanKind, name: String) throws {
        #expect(try Z.encodedSpan(Z.span(kind: kind))["kind"] as? String == name)
    }

    @Test(arguments: [SpanKind.internal, .unspecified, SpanKind(rawValue: 9)])
    func internalAndUnknownKindsLeaveKindAbsent(kind: SpanKind) throws {
        #expect(try Z.encodedSpan(Z.span(kind: kind))["kind"] == nil)
    }

    @Test func timesAreWholeMicroseconds() throws {
        var span = Z.span()
        span.startTimeUnixNano = Z.start + 1_999
        span.endTimeUnixNano = Z.start + 1_999 + 1_234_567
        let object = try Z.encodedSpan(span)
        #expect(object["timestamp"] as? Int64 == 1_502_787_600_000_001)
        #expect(object["duration"] as? Int64 == 1_234)
    }

    @Test func durationIsAtLeastOneMicrosecond() throws {
        var span = Z.span()
        span.endTimeUnixNano = span.startTimeUnixNano + 999
        #expect(try Z.encodedSpan(span)["duration"] as? Int64 == 1)
        span.endTimeUnixNano = span.startTimeUnixNano - 5_000
        #expect(try Z.encodedSpan(span)["duration"] as? Int64 == 1)
    }

    /// Found by the protobuf fuzzer: a start in the last microsecond before 2^64 ns left no
    /// room for even the 1 µs minimum, and our own JSON did not decode. The duration is cut
    /// to what fits, or left out when nothing does, and the JSON decodes.
    @Test(arguments: [
        (UInt64.max - 1, UInt64(2), nil),  // the fuzzer's span: no room at all
        (UInt64.max - 1_615, UInt64.max, 1),  // room for 1 µs only
        (UInt64.max - 1_000_615, UInt64(5), 1),  // ends before it starts: the 1 µs minimum fits
        (UInt64.max - 10_000_615, UInt64.max, 10_000),  // fits whole
    ] as [(UInt64, UInt64, Int64?)])
    func durationNearTheEndOfOTLPTimeStaysDecodable(start: UInt64, end: UInt64, duration: Int64?) throws {
        var span = Z.span()
        span.startTimeUnixNano = start
        span.endTimeUnixNano = end
        #expect(try Z.encodedSpan(span)["duration"] as? Int64 == duration)
        let decoded = try ZipkinV2JSON.decode(ZipkinV2JSON.encode(Z.request([span])))
        let times = try #require(decoded.resourceSpans.first?.scopeSpans.first?.spans.first)
        #expect(times.startTimeUnixNano == start / 1000 * 1000)
        #expect(times.endTimeUnixNano == times.startTimeUnixNano + UInt64(duration ?? 0) * 1000)
    }

    @Test func spanThatNeverStartedHasNoTimestampOrDuration() throws {
        var span = Z.span()
        span.startTimeUnixNano = 0
        let object = try Z.encodedSpan(span)
        #expect(object["timestamp"] == nil)
        #expect(object["duration"] == nil)
    }

    @Test func emptyNameIsLeftAbsent() throws {
        var span = Z.span()
        span.name = ""
        #expect(try Z.encodedSpan(span)["name"] == nil)
    }

    @Test func localEndpointServiceNameIsTheResourceServiceName() throws {
        let object = try Z.encodedSpan(Z.span(), resource: [KeyValue("service.name", "Order-Service")])
        let local = try #require(object["localEndpoint"] as? [String: Any])
        #expect(local["serviceName"] as? String == "Order-Service")
    }

    @Test func missingServiceNameBecomesUnknownService() throws {
        let object = try Z.encodedSpan(Z.span(), resource: [])
        let local = try #require(object["localEndpoint"] as? [String: Any])
        #expect(local["serviceName"] as? String == "unknown_service")
    }

    @Test func localEndpointTakesLocalAddressAndPort() throws {
        let span = Z.span(attributes: [KeyValue("network.local.address", "10.0.0.7"), KeyValue("network.local.port", 8080)])
        let local = try #require(try Z.encodedSpan(span)["localEndpoint"] as? [String: Any])
        #expect(local["ipv4"] as? String == "10.0.0.7")
        #expect(local["port"] as? Int == 8080)
    }

    @Test func remoteEndpointPrefersPeerService() throws {
        let span = Z.span(
            kind: .client,
            attributes: [
                KeyValue("server.address", "db.internal"), KeyValue("peer.service", "postgres"),
                KeyValue("server.port", 5432),
            ])
        let remote = try #require(try Z.encodedSpan(span)["remoteEndpoint"] as? [String: Any])
        #expect(remote["serviceName"] as? String == "postgres")
        #expect(remote["port"] as? Int == 5432)
    }

    @Test func remoteEndpointFallsBackToServerAddress() throws {
        let span = Z.span(kind: .client, attributes: [KeyValue("server.address", "db.internal")])
        let remote = try #require(try Z.encodedSpan(span)["remoteEndpoint"] as? [String: Any])
        #expect(remote["serviceName"] as? String == "db.internal")
    }

    @Test func remoteEndpointPutsIPLiteralsInAddressFields() throws {
        let v4 = Z.span(
            kind: .client, attributes: [KeyValue("network.peer.address", "192.168.99.1"), KeyValue("network.peer.port", "3306")])
        let remote4 = try #require(try Z.encodedSpan(v4)["remoteEndpoint"] as? [String: Any])
        #expect(remote4["ipv4"] as? String == "192.168.99.1")
        #expect(remote4["port"] as? Int == 3306)
        #expect(remote4["serviceName"] == nil)

        let v6 = Z.span(kind: .client, attributes: [KeyValue("server.address", "2001:db8::c001")])
        let remote6 = try #require(try Z.encodedSpan(v6)["remoteEndpoint"] as? [String: Any])
        #expect(remote6["ipv6"] as? String == "2001:db8::c001")
        #expect(remote6["serviceName"] == nil)
    }

    @Test func mappedIPv6AddressIsWrittenAsIPv4() throws {
        let span = Z.span(kind: .client, attributes: [KeyValue("network.peer.address", "::ffff:10.1.2.3")])
        let remote = try #require(try Z.encodedSpan(span)["remoteEndpoint"] as? [String: Any])
        #expect(remote["ipv4"] as? String == "10.1.2.3")
    }

    @Test func invalidAddressesAndPortsAreLeftOut() throws {
        let span = Z.span(
            kind: .client,
            attributes: [KeyValue("network.peer.address", "300.1.2.3"), KeyValue("network.peer.port", 0)])
        #expect(try Z.encodedSpan(span)["remoteEndpoint"] == nil)
    }

    @Test func messagingSpansNameTheBrokerAfterTheMessagingSystem() throws {
        for kind in [SpanKind.producer, .consumer] {
            let span = Z.span(
                kind: kind,
                attributes: [
                    KeyValue("messaging.system", "kafka"), KeyValue("server.address", "broker-1"),
                    KeyValue("server.port", 9092),
                ])
            let remote = try #require(try Z.encodedSpan(span)["remoteEndpoint"] as? [String: Any])
            #expect(remote["serviceName"] as? String == "kafka")
            #expect(remote["port"] as? Int == 9092)
        }
    }

    @Test func serverSpansTakeTheClientAsRemoteAndTheServerPortAsLocal() throws {
        let span = Z.span(
            kind: .server,
            attributes: [
                KeyValue("server.address", "api.example.com"), KeyValue("server.port", 443),
                KeyValue("client.address", "172.19.0.2"), KeyValue("client.port", 58648),
            ])
        let object = try Z.encodedSpan(span)
        let remote = try #require(object["remoteEndpoint"] as? [String: Any])
        #expect(remote["ipv4"] as? String == "172.19.0.2")
        #expect(remote["port"] as? Int == 58648)
        #expect(remote["serviceName"] == nil)
        let local = try #require(object["localEndpoint"] as? [String: Any])
        #expect(local["port"] as? Int == 443)
    }

    @Test func spanWithoutPeerAttributesHasNoRemoteEndpoint() throws {
        #expect(try Z.encodedSpan(Z.span(kind: .client, attributes: [KeyValue("http.method", "GET")]))["remoteEndpoint"] == nil)
    }

    @Test func attributesBecomeTextTags() throws {
        let tags = try Z.tags(
            Z.span(attributes: [
                KeyValue("s", "text"), KeyValue("i", -42), KeyValue("d", 2.0), KeyValue("d2", 0.1), KeyValue("b", true),
                KeyValue("bytes", .bytes([1, 2, 3])), KeyValue("a", .array(["x", 1, false])),
                KeyValue("kv", .keyValueList([KeyValue("k", "v"), KeyValue("n", 1.5)])), KeyValue("e", .empty),
            ]))
        #expect(tags["s"] == "text")
        #expect(tags["i"] == "-42")
        #expect(tags["d"] == "2.0")
        #expect(tags["d2"] == "0.1")
        #expect(tags["b"] == "true")
        #expect(tags["bytes"] == "AQID")
        #expect(tags["a"] == #"["x",1,false]"#)
        #expect(tags["kv"] == #"{"k":"v","n":1.5}"#)
        #expect(tags["e"] == "")
    }

    @Test func resourceAttributesOtherThanServiceNameBecomeTags() throws {
        let tags = try Z.tags(
            Z.span(attributes: [KeyValue("host.name", "from-span")]),
            resource: [KeyValue("service.name", "backend"), KeyValue("service.namespace", "shop"), KeyValue("host.name", "h1")])
        #expect(tags["service.namespace"] == "shop")
        #expect(tags["service.name"] == nil)
        #expect(tags["host.name"] == "from-span", "a span attribute wins over a resource attribute")
    }

    @Test func scopeBecomesOtelScopeTags() throws {
        let request = Z.request([Z.span()], scope: InstrumentationScope(name: "causeway.kafka", version: "0.1.0"))
        let tags = try #require(try Z.encoded(request).first?["tags"] as? [String: String])
        #expect(tags["otel.scope.name"] == "causeway.kafka")
        #expect(tags["otel.scope.version"] == "0.1.0")
    }

    @Test func errorStatusSetsCodeErrorAndDescription() throws {
        let tags = try Z.tags(Z.span(status: SpanStatus(code: .error, message: "broker unreachable")))
        #expect(tags["otel.status_code"] == "ERROR")
        #expect(tags["error"] == "broker unreachable")
        #expect(tags["otel.status_description"] == "broker unreachable")
    }

    @Test func errorStatusWithoutMessageSetsAnEmptyErrorTag() throws {
        let tags = try Z.tags(Z.span(status: SpanStatus(code: .error)))
        #expect(tags["error"] == "")
        #expect(tags["otel.status_description"] == nil)
    }

    @Test func okStatusSetsOnlyTheCode() throws {
        let tags = try Z.tags(Z.span(status: SpanStatus(code: .ok, message: "ignored")))
        #expect(tags == ["otel.status_code": "OK"])
    }

    @Test func unsetStatusSetsNoTags() throws {
        #expect(try Z.encodedSpan(Z.span())["tags"] == nil)
    }

    @Test func falseErrorAttributeIsRemoved() throws {
        #expect(try Z.tags(Z.span(attributes: [KeyValue("error", false)]))["error"] == nil)
        #expect(try Z.tags(Z.span(attributes: [KeyValue("error", "false")]))["error"] == nil)
    }

    @Test func traceStateBecomesATag() throws {
        var span = Z.span()
        span.traceState = "congo=t61rcWkgMzE"
        #expect(try Z.tags(span)["w3c.tracestate"] == "congo=t61rcWkgMzE")
    }

    @Test func linksBecomeNumberedTags() throws {
        let other = TraceID(high: 0x0af7_6519_16cd_43dd, low: 0x8448_eb21_1c80_319c)
        let tags = try Z.tags(
            Z.span(links: [
                SpanLink(traceID: other, spanID: SpanID(0xb7ad_6b71_6920_3331)),
                SpanLink(
                    traceID: other, spanID: SpanID(2), traceState: "a=1",
                    attributes: [KeyValue("messaging.kafka.offset", 42)], droppedAttributesCount: 3),
            ]))
        #expect(tags["otel.link.0.trace_id"] == "0af7651916cd43dd8448eb211c80319c")
        #expect(tags["otel.link.0.span_id"] == "b7ad6b7169203331")
        #expect(tags["otel.link.0.attributes"] == nil)
        #expect(tags["otel.link.1.span_id"] == "0000000000000002")
        #expect(tags["otel.link.1.trace_state"] == "a=1")
        #expect(tags["otel.link.1.attributes"] == #"{"messaging.kafka.offset":42}"#)
        #expect(tags["otel.link.1.dropped_attributes_count"] == "3")
    }

    @Test func droppedCountsBecomeTagsWhenNonZero() throws {
        var span = Z.span()
        span.droppedAttributesCount = 1
        span.droppedEventsCount = 2
        span.droppedLinksCount = 3
        let tags = try Z.tags(span)
        #expect(tags["otel.dropped_attributes_count"] == "1")
        #expect(tags["otel.dropped_events_count"] == "2")
        #expect(tags["otel.dropped_links_count"] == "3")
    }

    @Test func eventsBecomeAnnotations() throws {
        let span = Z.span(events: [
            SpanEvent(timeUnixNano: Z.start + 5_000, name: "retry"),
            SpanEvent(timeUnixNano: Z.start + 6_000, name: "exception", attributes: [KeyValue("exception.type", "Timeout"), KeyValue("attempt", 2)]),
        ])
        let annotations = try #require(try Z.encodedSpan(span)["annotations"] as? [[String: Any]])
        #expect(annotations.count == 2)
        #expect(annotations[0]["timestamp"] as? Int64 == 1_502_787_600_000_005)
        #expect(annotations[0]["value"] as? String == "retry")
        #expect(annotations[1]["value"] as? String == #""exception":{"exception.type":"Timeout","attempt":2}"#)
    }

    @Test func identicalAnnotationsAreWrittenOnce() throws {
        let event = SpanEvent(timeUnixNano: Z.start + 5_400, name: "tick")
        var twin = event
        twin.timeUnixNano += 100
        let annotations = try #require(try Z.encodedSpan(Z.span(events: [event, twin]))["annotations"] as? [[String: Any]])
        #expect(annotations.count == 1, "the schema says uniqueItems")
    }

    @Test func spanWithoutEventsHasNoAnnotations() throws {
        #expect(try Z.encodedSpan(Z.span())["annotations"] == nil)
    }

    @Test func mappingTagsWinOverAttributesOfTheSameName() throws {
        let tags = try Z.tags(
            Z.span(attributes: [KeyValue("otel.status_code", "bogus")], status: SpanStatus(code: .ok)))
        #expect(tags["otel.status_code"] == "OK")
        let bytes = ZipkinV2JSON.encode(Z.request([Z.span(attributes: [KeyValue("otel.status_code", "bogus")], status: SpanStatus(code: .ok))]))
        #expect(String(decoding: bytes, as: UTF8.self).components(separatedBy: "otel.status_code").count == 2)
    }

    @Test func emptyRequestIsAnEmptyArray() {
        #expect(ZipkinV2JSON.encode(ExportTraceServiceRequest()) == Array("[]".utf8))
    }

    @Test func spansKeepRequestOrderAcrossResources() throws {
        var second = Z.span()
        second.spanID = SpanID(7)
        let request = ExportTraceServiceRequest(resourceSpans: [
            ResourceSpans(resource: Resource(attributes: [KeyValue("service.name", "a")]), scopeSpans: [ScopeSpans(spans: [Z.span()])]),
            ResourceSpans(resource: Resource(attributes: [KeyValue("service.name", "b")]), scopeSpans: [ScopeSpans(spans: [second])]),
        ])
        let spans = try Z.encoded(request)
        #expect(spans.map { ($0["localEndpoint"] as? [String: Any])?["serviceName"] as? String } == ["a", "b"])
    }
}

@Suite struct ZipkinV2JSONDecodeTests {
    @Test func decodesEveryTopLevelField() throws {
        let span = try Z.decodedSpan(
            #"[{"traceId":"4bf92f3577b34da6a3ce929d0e0e4736","id":"00f067aa0ba902b7","parentId":"53ce929d0e0e4736","# +
            #""name":"get /api","kind":"SERVER","timestamp":1502787600000000,"duration":1431,"# +
            #""localEndpoint":{"serviceName":"backend"},"tags":{"http.method":"GET"}}]"#)
        #expect(span.traceID == Z.traceID)
        #expect(span.spanID == Z.spanID)
        #expect(span.parentSpanID == Z.parentID)
        #expect(span.name == "get /api")
        #expect(span.kind == .server)
        #expect(span.startTimeUnixNano == Z.start)
        #expect(span.endTimeUnixNano == Z.start + 1_431_000)
        #expect(span.attributes == [KeyValue("http.method", "GET")])
    }

    @Test func sixtyFourBitTraceIDIsLeftPaddedWithZeros() throws {
        let span = try Z.decodedSpan(#"[{"traceId":"5af7183fb1d4cf5f","id":"352bff9a74ca9ad2"}]"#)
        #expect(span.traceID == TraceID(high: 0, low: 0x5af7_183f_b1d4_cf5f))
    }

    @Test func idsAreReadInEitherCase() throws {
        let span = try Z.decodedSpan(#"[{"traceId":"4BF92F3577B34DA6A3CE929D0E0E4736","id":"00F067AA0BA902B7"}]"#)
        #expect(span.traceID == Z.traceID)
        #expect(span.spanID == Z.spanID)
    }

    @Test func zeroOrEmptyParentIdMeansRoot() throws {
        #expect(try Z.decodedSpan("[" + Z.minimal + #","parentId":"0000000000000000"}]"#).parentSpanID == nil)
        #expect(try Z.decodedSpan("[" + Z.minimal + #","parentId":""}]"#).parentSpanID == nil)
    }

    @Test func spanWithoutKindIsInternal() throws {
        #expect(try Z.decodedSpan("[" + Z.minimal + "}]").kind == .internal)
    }

    @Test func missingTimestampLeavesTimesZeroAndMissingDurationEndsAtStart() throws {
        let untimed = try Z.decodedSpan("[" + Z.minimal + "}]")
        #expect(untimed.startTimeUnixNano == 0 && untimed.endTimeUnixNano == 0)
        let open = try Z.decodedSpan("[" + Z.minimal + #","timestamp":1502787600000000}]"#)
        #expect(open.endTimeUnixNano == open.startTimeUnixNano)
    }

    @Test func nullsAndUnknownFieldsAreIgnored() throws {
        let span = try Z.decodedSpan(
            "[" + Z.minimal + #","parentId":null,"name":null,"debug":true,"shared":false,"x-future":{"a":[1,2]},"# +
            #""remoteEndpoint":null,"annotations":null,"tags":{"k":null}}]"#)
        #expect(span.parentSpanID == nil)
        #expect(span.name == "")
        #expect(span.attributes.isEmpty)
    }

    @Test func tagNumbersAndBooleansAreKeptAsText() throws {
        let span = try Z.decodedSpan("[" + Z.minimal + #","tags":{"n":12.50,"b":true}}]"#)
        #expect(span.attributes == [KeyValue("n", "12.50"), KeyValue("b", "true")])
    }

    @Test func spansAreGroupedByServiceIntoResources() throws {
        let request = try Z.decode(
            "[" + Z.minimal + #","localEndpoint":{"serviceName":"a"}},"# +
            #"{"traceId":"4bf92f3577b34da6a3ce929d0e0e4736","id":"0000000000000002","localEndpoint":{"serviceName":"b"}},"# +
            #"{"traceId":"4bf92f3577b34da6a3ce929d0e0e4736","id":"0000000000000003","localEndpoint":{"serviceName":"a"}},"# +
            #"{"traceId":"4bf92f3577b34da6a3ce929d0e0e4736","id":"0000000000000004"}]"#)
        #expect(request.resourceSpans.map { $0.resource?.serviceName } == ["a", "b", nil])
        #expect(request.resourceSpans[0].scopeSpans[0].spans.map(\.spanID) == [Z.spanID, SpanID(3)])
    }

    @Test func resourceTagsGoToTheResource() throws {
        let request = try Z.decode(
            "[" + Z.minimal + #","localEndpoint":{"serviceName":"a"},"tags":{"host.name":"h1","http.route":"/x","service.version":"2"}}]"#)
        let resourceSpans = try #require(request.resourceSpans.first)
        #expect(resourceSpans.resource?.attributes == [
            KeyValue("service.name", "a"), KeyValue("host.name", "h1"), KeyValue("service.version", "2"),
        ])
        #expect(resourceSpans.scopeSpans.first?.spans.first?.attributes == [KeyValue("http.route", "/x")])
    }

    @Test func scopeTagsGroupSpansIntoScopes() throws {
        let request = try Z.decode(
            "[" + Z.minimal + #","tags":{"otel.scope.name":"kafka","otel.scope.version":"1"}},"# +
            #"{"traceId":"4bf92f3577b34da6a3ce929d0e0e4736","id":"0000000000000002","tags":{"otel.library.name":"http"}}]"#)
        let scopes = try #require(request.resourceSpans.first?.scopeSpans)
        #expect(scopes.map(\.scope) == [
            InstrumentationScope(name: "kafka", version: "1"), InstrumentationScope(name: "http"),
        ])
        #expect(scopes[0].spans[0].attributes.isEmpty)
    }

    @Test func remoteEndpointBecomesPeerAttributes() throws {
        let span = try Z.decodedSpan(
            "[" + Z.minimal + #","kind":"CLIENT","remoteEndpoint":{"serviceName":"postgres","ipv4":"10.0.0.5","port":5432}}]"#)
        #expect(span.attributes == [
            KeyValue("peer.service", "postgres"), KeyValue("network.peer.address", "10.0.0.5"),
            KeyValue("network.peer.port", 5432),
        ])
    }

    @Test func explicitPeerServiceTagWinsOverRemoteEndpoint() throws {
        let span = try Z.decodedSpan(
            "[" + Z.minimal + #","kind":"CLIENT","remoteEndpoint":{"serviceName":"pg"},"tags":{"peer.service":"postgres"}}]"#)
        #expect(span.attributes == [KeyValue("peer.service", "postgres")])
    }

    @Test func localEndpointAddressBecomesLocalAttributes() throws {
        let span = try Z.decodedSpan(
            "[" + Z.minimal + #","localEndpoint":{"serviceName":"a","ipv6":"2001:db8::c001","port":8080}}]"#)
        #expect(span.attributes == [
            KeyValue("network.local.address", "2001:db8::c001"), KeyValue("network.local.port", 8080),
        ])
    }

    @Test func errorTagWithoutStatusCodeMeansErrorStatus() throws {
        let failed = try Z.decodedSpan("[" + Z.minimal + #","tags":{"error":"connection refused"}}]"#)
        #expect(failed.status == SpanStatus(code: .error, message: "connection refused"))
        #expect(failed.attributes.isEmpty)
        let flagged = try Z.decodedSpan("[" + Z.minimal + #","tags":{"error":"true"}}]"#)
        #expect(flagged.status == SpanStatus(code: .error))
    }

    @Test func errorTagOnAnOkSpanStaysAnAttribute() throws {
        let span = try Z.decodedSpan("[" + Z.minimal + #","tags":{"otel.status_code":"OK","error":"true"}}]"#)
        #expect(span.status == SpanStatus(code: .ok))
        #expect(span.attributes == [KeyValue("error", "true")])
    }

    @Test func annotationsBecomeEventsWithTypedAttributes() throws {
        let span = try Z.decodedSpan(
            "[" + Z.minimal
                + #","annotations":[{"timestamp":1502787600000005,"value":"ws"},"#
                + #"{"timestamp":1502787600000006,"value":"\"exception\":{\"type\":\"Timeout\",\"attempt\":2,\"ratio\":0.5,\"fatal\":false,\"tags\":[\"a\"]}"}]}]"#)
        #expect(span.events == [
            SpanEvent(timeUnixNano: Z.start + 5_000, name: "ws"),
            SpanEvent(
                timeUnixNano: Z.start + 6_000, name: "exception",
                attributes: [
                    KeyValue("type", "Timeout"), KeyValue("attempt", 2), KeyValue("ratio", 0.5), KeyValue("fatal", false),
                    KeyValue("tags", .array(["a"])),
                ]),
        ])
    }

    @Test func annotationThatOnlyLooksLikeJSONKeepsItsWholeValueAsName() throws {
        let span = try Z.decodedSpan("[" + Z.minimal + #","annotations":[{"timestamp":1,"value":"\"quoted\": {broken}"}]}]"#)
        #expect(span.events.first?.name == #""quoted": {broken}"#)
    }

    @Test func linkTagsBecomeLinks() throws {
        let span = try Z.decodedSpan(
            "[" + Z.minimal + #","tags":{"otel.link.1.trace_id":"0af7651916cd43dd8448eb211c80319c","otel.link.1.span_id":"0000000000000002","#
                + #""otel.link.0.trace_id":"0af7651916cd43dd8448eb211c80319c","otel.link.0.span_id":"b7ad6b7169203331","#
                + #""otel.link.0.attributes":"{\"messaging.kafka.offset\":42}","otel.link.7.trace_id":"nonsense"}}]"#)
        let other = TraceID(high: 0x0af7_6519_16cd_43dd, low: 0x8448_eb21_1c80_319c)
        #expect(span.links == [
            SpanLink(traceID: other, spanID: SpanID(0xb7ad_6b71_6920_3331), attributes: [KeyValue("messaging.kafka.offset", 42)]),
            SpanLink(traceID: other, spanID: SpanID(2)),
        ])
        #expect(span.attributes == [KeyValue("otel.link.7.trace_id", "nonsense")], "an unusable link stays a tag")
    }

    @Test func decodesFromABufferLikeFromAnArray() throws {
        let bytes = Array(("[" + Z.minimal + #","name":"x"}]"#).utf8)
        let fromBuffer = try bytes.withUnsafeBytes { (buffer) throws(TelemetryDecodingError) in
            try ZipkinV2JSON.decode(buffer)
        }
        #expect(fromBuffer == (try ZipkinV2JSON.decode(bytes)))
    }

    @Test func emptyArrayDecodesToAnEmptyRequest() throws {
        #expect(try Z.decode(" [ ] ") == ExportTraceServiceRequest())
    }

    // MARK: - Errors

    @Test func wrongLengthTraceIDNamesTheSpanAndField() {
        #expect(Z.decodeError("[" + Z.minimal + "}," + #"{"traceId":"4bf92f3577b34da6a3ce929d0e0e473","id":"00f067aa0ba902b7"}]"#)
            == "[1].traceId: expected 16 or 32 hex digits, got 31")
    }

    @Test func nonHexIDIsRefused() {
        #expect(Z.decodeError(#"[{"traceId":"4bf92f3577b34da6a3ce929d0e0e4736","id":"00f067aa0ba902bz"}]"#)
            == "[0].id: expected hex digits, got 'z'")
    }

    @Test func allZeroIDsAreRefused() {
        #expect(Z.decodeError(#"[{"traceId":"00000000000000000000000000000000","id":"00f067aa0ba902b7"}]"#)
            == "[0].traceId: an all-zero trace ID is invalid")
        #expect(Z.decodeError(#"[{"traceId":"4bf92f3577b34da6a3ce929d0e0e4736","id":"0000000000000000"}]"#)
            == "[0].id: an all-zero span ID is invalid")
    }

    @Test func wrongLengthParentIdIsRefused() {
        #expect(Z.decodeError("[" + Z.minimal + #","parentId":"abc"}]"#) == "[0].parentId: expected 16 hex digits, got 3")
    }

    @Test func missingRequiredIDsAreNamed() {
        #expect(Z.decodeError(#"[{"id":"00f067aa0ba902b7"}]"#) == "[0].traceId: missing required field")
        #expect(Z.decodeError(#"[{"traceId":"4bf92f3577b34da6a3ce929d0e0e4736","id":null}]"#) == "[0].id: missing required field")
    }

    @Test func unknownKindIsRefused() {
        #expect(Z.decodeError("[" + Z.minimal + #","kind":"INTERNAL"}]"#)
            == #"[0].kind: expected CLIENT, SERVER, PRODUCER or CONSUMER, got "INTERNAL""#)
    }

    @Test func negativeTimestampIsRefused() throws {
        let error = try #require(Z.decodeError("[" + Z.minimal + #","timestamp":-1}]"#))
        #expect(error.hasPrefix("[0].timestamp: number out of range"))
    }

    @Test func timestampBeyondNanosecondRangeIsRefused() throws {
        let error = try #require(Z.decodeError("[" + Z.minimal + #","timestamp":18446744073709552}]"#))
        #expect(error.hasPrefix("[0].timestamp: "))
        let late = try #require(Z.decodeError("[" + Z.minimal + #","timestamp":1,"duration":18446744073709551}]"#))
        #expect(late.hasPrefix("[0].duration: "))
    }

    @Test func annotationErrorsNameTheAnnotation() {
        #expect(Z.decodeError("[" + Z.minimal + #","annotations":[{"timestamp":1,"value":"a"},{"value":"b"}]}]"#)
            == "[0].annotations[1].timestamp: missing required field")
        #expect(Z.decodeError("[" + Z.minimal + #","annotations":[{"timestamp":"x","value":"a"}]}]"#)?
            .hasPrefix("[0].annotations[0].timestamp: ") == true)
    }

    @Test func structuredTagValueIsRefused() throws {
        let error = try #require(Z.decodeError("[" + Z.minimal + #","tags":{"k":{"nested":1}}}]"#))
        #expect(error.hasPrefix("[0].tags.k: expected a string, got an object"))
    }

    @Test func portOutOfRangeIsRefused() {
        #expect(Z.decodeError("[" + Z.minimal + #","remoteEndpoint":{"port":70000}}]"#)
            == "[0].remoteEndpoint.port: expected a port in 0...65535, got 70000")
    }

    @Test func topLevelMustBeAnArray() throws {
        let error = try #require(Z.decodeError(#"{"traceId":"4bf92f3577b34da6"}"#))
        #expect(error.hasPrefix("expected an array, got an object"))
    }

    @Test func truncatedInputIsRefusedWithoutCrashing() {
        let full = "[" + Z.minimal + #","name":"x","tags":{"a":"b"},"annotations":[{"timestamp":1,"value":"v"}]}]"#
        let bytes = Array(full.utf8)
        for length in 0..<bytes.count {
            #expect(throws: TelemetryDecodingError.self) { try ZipkinV2JSON.decode(Array(bytes[0..<length])) }
        }
    }

    @Test func deeplyNestedUnknownFieldIsRefusedNotOverflowed() throws {
        let nested = String(repeating: "[", count: 10_000) + String(repeating: "]", count: 10_000)
        #expect(Z.decodeError("[" + Z.minimal + #","x":"# + nested + "}]") != nil)
    }
}

@Suite struct ZipkinV2JSONRoundTripTests {
    /// Everything the mapping carries, with the types and precision Zipkin keeps.
    static func fullRequest() -> ExportTraceServiceRequest {
        let other = TraceID(high: 0x0af7_6519_16cd_43dd, low: 0x8448_eb21_1c80_319c)
        let producer = Span(
            traceID: Z.traceID, spanID: SpanID(0x1111), traceState: "congo=t61rcWkgMzE", parentSpanID: Z.parentID,
            name: "send orders", kind: .producer, startTimeUnixNano: Z.start, endTimeUnixNano: Z.start + 2_000,
            attributes: [
                KeyValue("messaging.system", "kafka"), KeyValue("messaging.destination.name", "orders"),
                KeyValue("server.address", "broker-1"), KeyValue("server.port", "9092"),
            ],
            droppedAttributesCount: 2,
            events: [
                SpanEvent(timeUnixNano: Z.start + 1_000, name: "enqueued"),
                SpanEvent(
                    timeUnixNano: Z.start + 1_000, name: "exception",
                    attributes: [
                        KeyValue("exception.type", "Timeout"), KeyValue("attempt", 2), KeyValue("fatal", false),
                        KeyValue("ratio", 0.25), KeyValue("list", .array(["a", 1])),
                    ]),
            ],
            droppedEventsCount: 1,
            links: [
                SpanLink(traceID: other, spanID: SpanID(0xb7ad_6b71_6920_3331)),
                SpanLink(
                    traceID: other, spanID: SpanID(9), traceState: "a=1",
                    attributes: [KeyValue("messaging.kafka.offset", 42), KeyValue("note", "retry")],
                    droppedAttributesCount: 4),
            ],
            droppedLinksCount: 5, status: SpanStatus(code: .error, message: "broker unreachable"))
        let client = Span(
            traceID: Z.traceID, spanID: SpanID(0x2222), parentSpanID: SpanID(0x1111), name: "query", kind: .client,
            startTimeUnixNano: Z.start + 3_000, endTimeUnixNano: Z.start + 9_000,
            attributes: [
                KeyValue("peer.service", "postgres"), KeyValue("network.peer.address", "10.0.0.5"),
                KeyValue("network.peer.port", "5432"),
            ],
            status: SpanStatus(code: .ok))
        let server = Span(
            traceID: other, spanID: SpanID(0x3333), name: "post /orders", kind: .server,
            startTimeUnixNano: Z.start, endTimeUnixNano: Z.start + 50_000,
            attributes: [KeyValue("server.port", "8000"), KeyValue("client.address", "2001:db8::1")],
            status: SpanStatus(code: .error))
        let internalSpan = Span(
            traceID: other, spanID: SpanID(0x4444), parentSpanID: SpanID(0x3333), name: "validate", kind: .internal,
            startTimeUnixNano: Z.start + 1_000, endTimeUnixNano: Z.start + 2_000)
        return ExportTraceServiceRequest(resourceSpans: [
            ResourceSpans(
                resource: Resource(attributes: [
                    KeyValue("service.name", "order-service"), KeyValue("service.version", "1.2.0"),
                    KeyValue("host.name", "node-1"),
                ]),
                scopeSpans: [
                    ScopeSpans(scope: InstrumentationScope(name: "causeway.kafka", version: "0.1.0"), spans: [producer]),
                    ScopeSpans(scope: InstrumentationScope(name: "causeway.sql"), spans: [client]),
                ]),
            ResourceSpans(
                resource: Resource(attributes: [KeyValue("service.name", "inventory-service")]),
                scopeSpans: [ScopeSpans(scope: InstrumentationScope(), spans: [server, internalSpan])]),
        ])
    }

    @Test func encodeThenDecodeGivesTheRequestBack() throws {
        let request = Self.fullRequest()
        let decoded = try ZipkinV2JSON.decode(ZipkinV2JSON.encode(request))
        #expect(decoded == request)
    }

    @Test func decodeThenEncodeKeepsTheZipkinSpan() throws {
        let json =
            #"[{"traceId":"5af7183fb1d4cf5f","id":"352bff9a74ca9ad2","parentId":"6b221d5bc9e6496c","name":"get /api","# +
            #""timestamp":1556604172355737,"duration":1431,"kind":"SERVER","localEndpoint":{"serviceName":"backend","# +
            #""ipv4":"192.168.99.1","port":3306},"remoteEndpoint":{"ipv4":"172.19.0.2","port":58648},"# +
            #""tags":{"http.method":"GET","http.path":"/api"}}]"#
        let once = ZipkinV2JSON.encode(try Z.decode(json))
        let spans = try #require(try JSONSerialization.jsonObject(with: Data(once)) as? [[String: Any]])
        let span = try #require(spans.first)
        #expect(span["traceId"] as? String == "00000000000000005af7183fb1d4cf5f")
        #expect(span["duration"] as? Int == 1431)
        #expect((span["localEndpoint"] as? [String: Any])?["ipv4"] as? String == "192.168.99.1")
        #expect((span["localEndpoint"] as? [String: Any])?["port"] as? Int == 3306)
        #expect((span["remoteEndpoint"] as? [String: Any])?["ipv4"] as? String == "172.19.0.2")
        #expect((span["remoteEndpoint"] as? [String: Any])?["port"] as? Int == 58648)
        #expect(span["tags"] as? [String: String] == [
            "http.method": "GET", "http.path": "/api", "network.local.address": "192.168.99.1",
            "network.local.port": "3306", "network.peer.address": "172.19.0.2", "network.peer.port": "58648",
        ])
        #expect(ZipkinV2JSON.encode(try ZipkinV2JSON.decode(once)) == once, "stable after one trip")
    }
}

@Suite struct IPAddressTextTests {
    @Test(arguments: ["0.0.0.0", "192.168.99.100", "255.255.255.255"])
    func acceptsIPv4(_ text: String) { #expect(IPAddressText.isIPv4(text)) }

    @Test(arguments: ["", "1.2.3", "1.2.3.4.5", "256.1.1.1", "01.2.3.4", "1..2.3", "1.2.3.4 ", "a.b.c.d", "1.2.3."])
    func refusesNonIPv4(_ text: String) { #expect(!IPAddressText.isIPv4(text)) }

    @Test(arguments: ["::", "::1", "2001:db8::c001", "fe80::1:2:3:4", "1:2:3:4:5:6:7:8", "::ffff:10.0.0.1", "1::"])
    func acceptsIPv6(_ text: String) { #expect(IPAddressText.isIPv6(text)) }

    @Test(arguments: [
        "", ":", "1:2:3:4:5:6:7", "1:2:3:4:5:6:7:8:9", "1::2::3", "12345::", "g::1", "fe80::1%eth0", "[::1]",
        ":1:2:3:4:5:6:7", "1:2:3:4:5:6:7:8::", "1.2.3.4::",
    ])
    func refusesNonIPv6(_ text: String) { #expect(!IPAddressText.isIPv6(text)) }
}
