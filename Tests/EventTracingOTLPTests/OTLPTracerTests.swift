import EventTracing
@testable import EventTracingOTLP
import Telemetry
import Testing
import Tracing

@Suite("OTLPTracer")
struct OTLPTracerTests {
    @Test("a root span gets valid random IDs and the W3C Level 2 random flag")
    func rootSpanIDs() async throws {
        let sut = TracerUnderTest()
        let span = sut.tracer.startSpan("root", context: .topLevel)
        let context = try #require(span.context.spanContext)
        #expect(context.traceID.isValid)
        #expect(context.spanID.isValid)
        #expect(context.flags == [.sampled, .random])
        span.end()
        let exported = try #require(await sut.finished().first)
        #expect(exported.traceID == TraceID(high: context.traceID.high, low: context.traceID.low))
        #expect(exported.spanID == SpanID(context.spanID.value))
        #expect(exported.parentSpanID == nil)
        #expect(exported.flags & 0xFF == 0x03)
    }

    @Test("two root spans start two different traces")
    func rootSpansDiffer() {
        let sut = TracerUnderTest()
        let first = sut.tracer.startSpan("a", context: .topLevel).context.spanContext
        let second = sut.tracer.startSpan("b", context: .topLevel).context.spanContext
        #expect(first?.traceID != second?.traceID)
    }

    @Test("a child of a local span continues its trace and names it as parent")
    func localChild() async throws {
        let sut = TracerUnderTest()
        let parent = sut.tracer.startSpan("parent", context: .topLevel)
        let child = sut.tracer.startSpan("child", context: parent.context)
        child.end()
        parent.end()
        let spans = await sut.finished()
        let exportedChild = try #require(spans.first { $0.name == "child" })
        let exportedParent = try #require(spans.first { $0.name == "parent" })
        #expect(exportedChild.traceID == exportedParent.traceID)
        #expect(exportedChild.parentSpanID == exportedParent.spanID)
        // SPAN_FLAGS_CONTEXT_HAS_IS_REMOTE set, IS_REMOTE clear: the parent is local.
        #expect(exportedChild.flags & 0x300 == 0x100)
    }

    @Test("a child of an extracted remote context keeps its trace state and marks the parent remote")
    func remoteChild() async throws {
        let sut = TracerUnderTest()
        var context = ServiceContext.topLevel
        sut.tracer.extract(
            [
                "traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-03",
                "tracestate": "vendor=value",
            ], into: &context, using: DictionaryExtractor())
        let span = sut.tracer.startSpan("handle", context: context, ofKind: .server)
        span.end()
        let exported = try #require(await sut.finished().first)
        #expect(exported.traceID == TraceID(hex: "0af7651916cd43dd8448eb211c80319c"))
        #expect(exported.parentSpanID == SpanID(hex: "b7ad6b7169203331"))
        #expect(exported.traceState == "vendor=value")
        #expect(exported.kind == .server)
        #expect(exported.flags == 0x303)
    }

    @Test("the span's own context is what inject writes, so the next hop sees this span as parent")
    func injectWritesOwnContext() throws {
        let sut = TracerUnderTest()
        let span = sut.tracer.startSpan("send", context: .topLevel, ofKind: .producer)
        var headers: [String: String] = [:]
        sut.tracer.inject(span.context, into: &headers, using: DictionaryInjector())
        let own = try #require(span.context.spanContext)
        #expect(headers["traceparent"] == "00-\(own.traceID)-\(own.spanID)-03")
    }

    @Test("swift-distributed-tracing attribute values map to OTLP AnyValues")
    func attributeMapping() async throws {
        let sut = TracerUnderTest()
        let span = sut.tracer.startSpan("attrs", context: .topLevel)
        span.attributes["s"] = "text"
        span.attributes["i"] = 42
        span.attributes["d"] = 1.5
        span.attributes["b"] = true
        span.attributes.set("ia", value: .int64Array([1, 2]))
        span.attributes.set("sa", value: .stringArray(["x", "y"]))
        span.end()
        let attributes = try #require(await sut.finished().first).attributes
        #expect(attributes[key: "s"] == .string("text"))
        #expect(attributes[key: "i"] == .int(42))
        #expect(attributes[key: "d"] == .double(1.5))
        #expect(attributes[key: "b"] == .bool(true))
        #expect(attributes[key: "ia"] == .array([.int(1), .int(2)]))
        #expect(attributes[key: "sa"] == .array([.string("x"), .string("y")]))
    }

    @Test("attributes beyond the count limit are dropped, the first ones kept, and counted")
    func attributeCountLimit() async throws {
        var limits = OTLPSpanLimits()
        limits.attributeCount = 2
        let sut = TracerUnderTest(limits: limits)
        let span = sut.tracer.startSpan("limited", context: .topLevel)
        span.attributes["first"] = 1
        span.attributes["second"] = 2
        span.attributes["third"] = 3
        span.attributes["fourth"] = 4
        span.attributes["first"] = 10
        span.end()
        let exported = try #require(await sut.finished().first)
        #expect(exported.attributes == [KeyValue("first", .int(10)), KeyValue("second", .int(2))])
        #expect(exported.droppedAttributesCount == 2)
    }

    @Test("removing an attribute frees its place under the limit")
    func attributeRemoval() async throws {
        var limits = OTLPSpanLimits()
        limits.attributeCount = 2
        let sut = TracerUnderTest(limits: limits)
        let span = sut.tracer.startSpan("removal", context: .topLevel)
        span.attributes["a"] = 1
        span.attributes["b"] = 2
        span.attributes["a"] = nil
        span.attributes["c"] = 3
        span.end()
        let exported = try #require(await sut.finished().first)
        #expect(exported.attributes == [KeyValue("b", .int(2)), KeyValue("c", .int(3))])
        #expect(exported.droppedAttributesCount == 0)
    }

    @Test("keys new in one assignment are kept in key order when only some fit")
    func attributeBulkAssignment() async throws {
        var limits = OTLPSpanLimits()
        limits.attributeCount = 3
        let sut = TracerUnderTest(limits: limits)
        let span = sut.tracer.startSpan("bulk", context: .topLevel)
        span.attributes["z"] = 0
        span.attributes = ["z": 0, "d": 4, "b": 2, "c": 3, "a": 1]
        span.end()
        let exported = try #require(await sut.finished().first)
        #expect(exported.attributes.map(\.key) == ["z", "a", "b"])
        #expect(exported.droppedAttributesCount == 2)
    }

    @Test("string attribute values are truncated to the value length limit")
    func attributeValueLengthLimit() async throws {
        var limits = OTLPSpanLimits()
        limits.attributeValueLength = 3
        let sut = TracerUnderTest(limits: limits)
        let span = sut.tracer.startSpan("truncated", context: .topLevel)
        span.attributes["long"] = "abcdef"
        span.attributes.set("list", value: .stringArray(["ab", "abcd"]))
        span.attributes["number"] = 123_456
        span.end()
        let attributes = try #require(await sut.finished().first).attributes
        #expect(attributes[key: "long"] == .string("abc"))
        #expect(attributes[key: "list"] == .array([.string("ab"), .string("abc")]))
        #expect(attributes[key: "number"] == .int(123_456))
    }

    @Test("events beyond the event limit are dropped and counted")
    func eventLimit() async throws {
        var limits = OTLPSpanLimits()
        limits.eventCount = 2
        let sut = TracerUnderTest(limits: limits)
        let span = sut.tracer.startSpan("events", context: .topLevel)
        for index in 0..<5 { span.addEvent(Tracing.SpanEvent(name: "e\(index)", attributes: ["n": .int64(Int64(index))])) }
        span.end()
        let exported = try #require(await sut.finished().first)
        #expect(exported.events.map(\.name) == ["e0", "e1"])
        #expect(exported.events[1].attributes == [KeyValue("n", .int(1))])
        #expect(exported.droppedEventsCount == 3)
    }

    @Test("a link carries the linked context's IDs, trace state, flags and attributes; links beyond the limit are counted")
    func links() async throws {
        var limits = OTLPSpanLimits()
        limits.linkCount = 1
        let sut = TracerUnderTest(limits: limits)
        var linked = ServiceContext.topLevel
        sut.tracer.extract(
            [
                "traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
                "tracestate": "congo=t61rcWkgMzE",
            ], into: &linked, using: DictionaryExtractor())
        let span = sut.tracer.startSpan("process orders", context: .topLevel, ofKind: .consumer)
        span.addLink(Tracing.SpanLink(context: linked, attributes: ["messaging.operation.type": "receive"]))
        span.addLink(Tracing.SpanLink(context: linked, attributes: [:]))
        span.end()
        let exported = try #require(await sut.finished().first)
        let link = try #require(exported.links.first)
        #expect(link.traceID == TraceID(hex: "4bf92f3577b34da6a3ce929d0e0e4736"))
        #expect(link.spanID == SpanID(hex: "00f067aa0ba902b7"))
        #expect(link.traceState == "congo=t61rcWkgMzE")
        #expect(link.flags == 0x301)
        #expect(link.attributes == [KeyValue("messaging.operation.type", .string("receive"))])
        #expect(exported.droppedLinksCount == 1)
    }

    struct OrderRejected: Error, CustomStringConvertible {
        var description: String { "order 17 has no items" }
    }

    @Test("recordError adds an exception event with exception.type and exception.message")
    func recordError() async throws {
        let sut = TracerUnderTest()
        let span = sut.tracer.startSpan("failing", context: .topLevel)
        span.recordError(OrderRejected())
        span.setStatus(Tracing.SpanStatus(code: .error, message: "rejected"))
        span.end()
        let exported = try #require(await sut.finished().first)
        let event = try #require(exported.events.first)
        #expect(event.name == "exception")
        #expect(event.attributes[key: "exception.message"] == .string("order 17 has no items"))
        guard case .string(let type)? = event.attributes[key: "exception.type"] else {
            Issue.record("no exception.type")
            return
        }
        #expect(type.hasSuffix("OrderRejected"))
        #expect(exported.status == Telemetry.SpanStatus(code: .error, message: "rejected"))
    }

    @Test("an Ok status is final")
    func okIsFinal() async throws {
        let sut = TracerUnderTest()
        let span = sut.tracer.startSpan("ok", context: .topLevel)
        span.setStatus(Tracing.SpanStatus(code: .ok))
        span.setStatus(Tracing.SpanStatus(code: .error, message: "late"))
        span.end()
        #expect(try #require(await sut.finished().first).status.code == .ok)
    }

    @Test("ending a span twice exports it once, with the first end time")
    func endTwice() async throws {
        let sut = TracerUnderTest()
        let span = sut.tracer.startSpan("once", context: .topLevel)
        span.end()
        span.end()
        let spans = await sut.finished()
        #expect(spans.count == 1)
        #expect(try #require(spans.first).endTimeUnixNano >= spans[0].startTimeUnixNano)
    }

    @Test("withSpan makes the span current, so nested spans become its children")
    func withSpanNesting() async throws {
        let sut = TracerUnderTest()
        sut.tracer.withSpan("outer", context: .topLevel) { outer in
            sut.tracer.withSpan("inner") { _ in }
        }
        let spans = await sut.finished()
        let outer = try #require(spans.first { $0.name == "outer" })
        let inner = try #require(spans.first { $0.name == "inner" })
        #expect(inner.parentSpanID == outer.spanID)
    }
}
