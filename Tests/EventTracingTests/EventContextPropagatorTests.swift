import Instrumentation
import Testing

@testable import EventTracing

/// Extraction and injection through the carriers, including the request scenarios of the
/// official W3C Trace Context test harness (test/test.py), driven through HTTP header
/// fields as the conformance service will receive them.
@Suite struct EventContextPropagatorTests {
    static let traceID = "12345678901234567890123456789012"
    static let traceparent = "00-12345678901234567890123456789012-1234567890123456-00"

    let propagator = EventContextPropagator()

    func extract(_ fields: [(name: String, value: String)]) -> ServiceContext {
        var context = ServiceContext.topLevel
        propagator.extract(fields, into: &context, using: HTTPHeaderFieldsExtractor())
        return context
    }

    func inject(_ context: ServiceContext) -> [(name: String, value: String)] {
        var fields: [(name: String, value: String)] = []
        propagator.inject(context, into: &fields, using: HTTPHeaderFieldsInjector())
        return fields
    }

    // MARK: traceparent

    @Test func validTraceparentBecomesARemoteSpanContext() throws {
        let context = extract([("traceparent", "00-\(Self.traceID)-1234567890123456-01")])
        let span = try #require(context.spanContext)
        #expect(span.traceID.description == Self.traceID)
        #expect(span.spanID.description == "1234567890123456")
        #expect(span.flags == .sampled)
        #expect(span.isRemote)
    }

    @Test func headerNamesMatchInAnyCase() {
        for name in ["TraceParent", "TrAcEpArEnT", "TRACEPARENT"] {
            #expect(extract([(name, Self.traceparent)]).spanContext?.traceID.description == Self.traceID)
        }
        let state = extract([("traceparent", Self.traceparent), ("TrAcEsTaTe", "foo=1")])
        #expect(state.spanContext?.traceState["foo"] == "1")
    }

    @Test func misspelledHeaderNamesAreNotRead() {
        #expect(extract([("trace-parent", Self.traceparent)]).spanContext == nil)
        #expect(extract([("trace.parent", Self.traceparent)]).spanContext == nil)
        let context = extract([("traceparent", Self.traceparent), ("trace-state", "foo=1")])
        #expect(context.spanContext?.traceState.isEmpty == true)
    }

    @Test func duplicatedTraceparentHeadersAreInvalid() {
        let context = extract([
            ("traceparent", "00-12345678901234567890123456789011-1234567890123456-01"),
            ("traceparent", "00-12345678901234567890123456789012-1234567890123456-01"),
        ])
        #expect(context.spanContext == nil)
    }

    @Test func invalidTraceparentDropsTracestateToo() {
        let context = extract([("traceparent", "ff-\(Self.traceID)-1234567890123456-01"), ("tracestate", "foo=1")])
        #expect(context.spanContext == nil)
    }

    @Test func tracestateWithoutTraceparentIsDiscarded() {
        #expect(extract([("tracestate", "foo=1")]).spanContext == nil)
    }

    // MARK: tracestate

    @Test func invalidTracestateKeepsTraceparent() throws {
        for header in ["foo=bar=baz", "foo=,bar=3", "FOO=1", "@foo=1,bar=2"] {
            let span = try #require(extract([("traceparent", Self.traceparent), ("tracestate", header)]).spanContext)
            #expect(span.traceID.description == Self.traceID)
            #expect(span.traceState.isEmpty)
        }
    }

    @Test func multipleTracestateHeadersCombineInOrder() throws {
        let span = try #require(
            extract([
                ("traceparent", Self.traceparent), ("tracestate", "foo=1,bar=2"), ("tracestate", "rojo=1,congo=2"),
                ("tracestate", "baz=3"),
            ]).spanContext
        )
        #expect(span.traceState.headerValue() == "foo=1,bar=2,rojo=1,congo=2,baz=3")
    }

    @Test func emptyTracestateHeaderBesideAnotherIsHarmless() throws {
        for fields in [
            [("traceparent", Self.traceparent), ("tracestate", "")],
            [("traceparent", Self.traceparent), ("tracestate", "foo=1"), ("tracestate", "")],
            [("traceparent", Self.traceparent), ("tracestate", ""), ("tracestate", "foo=1")],
        ] {
            let span = try #require(extract(fields).spanContext)
            #expect(span.traceID.description == Self.traceID)
        }
        let span = try #require(extract([("traceparent", Self.traceparent), ("tracestate", ""), ("tracestate", "foo=1")]).spanContext)
        #expect(span.traceState["foo"] == "1")
    }

    @Test func thirtyTwoMembersOverFourHeadersAreKeptAndThirtyThreeDropped() throws {
        func fields(_ count: Int) -> [(name: String, value: String)] {
            let members = (1...count).map { String(format2: $0) }
            var result: [(name: String, value: String)] = [("traceparent", Self.traceparent)]
            var index = 0
            while index < members.count {
                result.append(("tracestate", members[index..<min(index + 10, members.count)].joined(separator: ",")))
                index += 10
            }
            return result
        }
        #expect(try #require(extract(fields(32)).spanContext).traceState.entries.count == 32)
        let dropped = try #require(extract(fields(33)).spanContext)
        #expect(dropped.traceState.isEmpty)
        #expect(dropped.traceID.description == Self.traceID)
    }

    // MARK: injection

    @Test func injectionWritesVersion00AndTheTracestate() throws {
        let span = SpanContext(
            traceID: .init(high: 1, low: 2),
            spanID: .init(3),
            flags: [.sampled, .random],
            traceState: try #require(TraceState("rojo=1"))
        )
        var context = ServiceContext.topLevel
        context.spanContext = span
        let fields = inject(context)
        #expect(fields.first(where: { $0.name == "traceparent" })?.value == "00-00000000000000010000000000000002-0000000000000003-03")
        #expect(fields.first(where: { $0.name == "tracestate" })?.value == "rojo=1")
    }

    @Test func emptyTracestateIsNotSent() {
        var context = ServiceContext.topLevel
        context.spanContext = SpanContext(traceID: .init(high: 1, low: 2), spanID: .init(3))
        #expect(!inject(context).contains(where: { $0.name == "tracestate" }))
    }

    @Test func exactlyOneTraceparentGoesOutWhenTheCarrierAlreadyHasOne() {
        var context = ServiceContext.topLevel
        context.spanContext = SpanContext(traceID: .init(high: 1, low: 2), spanID: .init(3))
        var fields: [(name: String, value: String)] = [("TraceParent", "00-\(Self.traceID)-1234567890123456-01")]
        propagator.inject(context, into: &fields, using: HTTPHeaderFieldsInjector())
        #expect(fields.filter { HTTPFieldName.equal($0.name, "traceparent") }.count == 1)
    }

    @Test func randomFlagSurvivesExtractAndInject() throws {
        let context = extract([("traceparent", "00-\(Self.traceID)-1234567890123456-02")])
        var span = try #require(context.spanContext)
        span.spanID = .init(0xABCD)
        var next = context
        next.spanContext = span
        let out = inject(next).first(where: { $0.name == "traceparent" })?.value
        #expect(out == "00-\(Self.traceID)-000000000000abcd-02")
    }

    // MARK: baggage and correlation ID

    @Test func baggageIsExtractedAndInjectedWithTheCorrelationID() throws {
        let context = extract([("baggage", "userId=alice"), ("correlation-id", "order-42")])
        #expect(context.baggage?["userId"] == "alice")
        #expect(context.correlationID?.rawValue == "order-42")
        let fields = inject(context)
        #expect(fields.first(where: { $0.name == "correlation-id" })?.value == "order-42")
        #expect(fields.first(where: { $0.name == "baggage" })?.value == "correlation.id=order-42,userId=alice")
    }

    @Test func correlationIDIsTakenFromBaggageWhenTheHeaderIsAbsent() {
        let context = extract([("baggage", "correlation.id=from-baggage")])
        #expect(context.correlationID?.rawValue == "from-baggage")
    }

    @Test func correlationIDHeaderWinsOverBaggage() {
        let context = extract([("baggage", "correlation.id=from-baggage"), ("correlation-id", "from-header")])
        #expect(context.correlationID?.rawValue == "from-header")
        let fields = inject(context)
        #expect(fields.first(where: { $0.name == "baggage" })?.value == "correlation.id=from-header")
    }

    @Test func correlationIDIsCreatedAtTheEdge() throws {
        let context = extract([])
        let id = try #require(context.correlationID)
        #expect(id.rawValue.utf8.count == 26)
        let fields = inject(context)
        #expect(fields.first(where: { $0.name == "correlation-id" })?.value == id.rawValue)
        #expect(fields.first(where: { $0.name == "baggage" })?.value == "correlation.id=\(id.rawValue)")
    }

    @Test func invalidIncomingCorrelationIDIsReplaced() throws {
        let context = extract([("correlation-id", "a b")])
        #expect(try #require(context.correlationID).rawValue.utf8.count == 26)
    }

    @Test func correlationIDIsNotCreatedWhenDisabled() {
        var context = ServiceContext.topLevel
        EventContextPropagator(createsCorrelationID: false).extract(
            [(name: String, value: String)](),
            into: &context,
            using: HTTPHeaderFieldsExtractor()
        )
        #expect(context.correlationID == nil)
    }

    @Test func ensureCorrelationIDCreatesOnceAndKeepsIt() {
        var context = ServiceContext.topLevel
        let first = context.ensureCorrelationID()
        #expect(context.ensureCorrelationID() == first)
        #expect(context.correlationID == first)
    }

    // MARK: carriers

    @Test func messageHeadersReadTheLastValueOfAName() throws {
        let headers = TestRecordHeaders([
            ("traceparent", "00-12345678901234567890123456789011-1234567890123456-01"),
            ("traceparent", "00-\(Self.traceID)-1234567890123456-01"),
            ("correlation-id", "kafka-1"),
        ])
        var context = ServiceContext.topLevel
        propagator.extract(headers, into: &context, using: MessageHeadersExtractor())
        #expect(context.spanContext?.traceID.description == Self.traceID)
        #expect(context.correlationID?.rawValue == "kafka-1")
    }

    @Test func messageHeaderValuesThatAreNotUTF8CountAsAbsent() {
        var headers = TestRecordHeaders([])
        headers.headers.append((name: "correlation-id", value: [0xFF, 0xFE]))
        #expect(MessageHeadersExtractor().extract(key: "correlation-id", from: headers) == nil)
    }

    @Test func messageHeadersInjectionReplacesEveryHeaderOfTheName() {
        var headers = TestRecordHeaders([("traceparent", "old"), ("traceparent", "older"), ("other", "x")])
        var context = ServiceContext.topLevel
        context.spanContext = SpanContext(traceID: .init(high: 1, low: 2), spanID: .init(3))
        context.correlationID = CorrelationID("c-1")
        propagator.inject(context, into: &headers, using: MessageHeadersInjector())
        #expect(headers.headers.filter { $0.name == "traceparent" }.count == 1)
        #expect(headers.string("traceparent") == "00-00000000000000010000000000000002-0000000000000003-00")
        #expect(headers.string("correlation-id") == "c-1")
        #expect(headers.string("baggage") == "correlation.id=c-1")
        #expect(headers.string("other") == "x")
    }

    @Test func dictionaryCarrierMatchesNamesInAnyCaseAndReplacesThem() {
        let extractor = HTTPHeaderDictionaryExtractor()
        #expect(extractor.extract(key: "traceparent", from: ["TraceParent": "v"]) == "v")
        var headers = ["TRACEPARENT": "old", "other": "x"]
        HTTPHeaderDictionaryInjector().inject("new", forKey: "traceparent", into: &headers)
        #expect(headers == ["traceparent": "new", "other": "x"])
    }

    @Test func dictionaryCarrierRoundTripsAFullContext() throws {
        var context = ServiceContext.topLevel
        context.spanContext = SpanContext(
            traceID: .init(high: 9, low: 9),
            spanID: .init(9),
            flags: .sampled,
            traceState: try #require(TraceState("a=1,b=2,c=3,d=4"))
        )
        context.baggage = Baggage("x=1,y=2")
        context.correlationID = CorrelationID("corr")
        var headers: [String: String] = [:]
        propagator.inject(context, into: &headers, using: HTTPHeaderDictionaryInjector())
        var back = ServiceContext.topLevel
        propagator.extract(headers, into: &back, using: HTTPHeaderDictionaryExtractor())
        var expected = try #require(context.spanContext)
        expected.isRemote = true
        #expect(back.spanContext == expected)
        #expect(back.correlationID == context.correlationID)
        #expect(back.baggage?["x"] == "1")
        #expect(back.baggage?["correlation.id"] == "corr")
    }
}

/// Kafka-style record headers: an ordered list of byte values, names repeatable.
struct TestRecordHeaders: MessageHeaders {
    var headers: [(name: String, value: [UInt8])]

    init(_ headers: [(String, String)]) {
        self.headers = headers.map { (name: $0.0, value: Array($0.1.utf8)) }
    }

    func lastValue(forHeader name: String) -> [UInt8]? {
        headers.last(where: { $0.name == name })?.value
    }

    mutating func setHeader(_ name: String, to value: [UInt8]) {
        headers.removeAll(where: { $0.name == name })
        headers.append((name: name, value: value))
    }

    func string(_ name: String) -> String? {
        lastValue(forHeader: name).map { String(decoding: $0, as: UTF8.self) }
    }
}

extension String {
    /// `barNN=NN`, as the harness's member-count test writes them.
    fileprivate init(format2 number: Int) {
        let digits = number < 10 ? "0\(number)" : "\(number)"
        self = "bar\(digits)=\(digits)"
    }
}
