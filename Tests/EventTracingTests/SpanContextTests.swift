import Testing

@testable import EventTracing

@Suite struct SpanContextTests {
    @Test func newTraceHasValidRandomIDsAndTheRandomFlag() {
        let sampled = SpanContext.newTrace(sampled: true)
        #expect(sampled.traceID.isValid)
        #expect(sampled.spanID.isValid)
        #expect(sampled.flags == [.sampled, .random])
        #expect(sampled.traceState.isEmpty)
        #expect(!sampled.isRemote)
        #expect(SpanContext.newTrace(sampled: false).flags == .random)
    }

    @Test func newTracesDoNotRepeatIDs() {
        let ids = Set((0..<100).map { _ in SpanContext.newTrace(sampled: true).traceID })
        #expect(ids.count == 100)
    }

    @Test func childKeepsTheTraceTheStateAndTheRandomFlagWithANewSpanID() throws {
        let parent = SpanContext(
            traceID: .init(high: 1, low: 2),
            spanID: .init(3),
            flags: .random,
            traceState: try #require(TraceState("rojo=1")),
            isRemote: true
        )
        let child = parent.child()
        #expect(child.traceID == parent.traceID)
        #expect(child.spanID != parent.spanID)
        #expect(child.flags == .random)
        #expect(child.traceState == parent.traceState)
        #expect(!child.isRemote)
    }

    @Test func childWithoutTheRandomFlagKeepsItUnset() {
        let parent = SpanContext(traceID: .init(high: 1, low: 2), spanID: .init(3), flags: .sampled)
        #expect(parent.child().flags == .sampled)
    }

    @Test func childMayChangeTheSampledFlag() {
        let parent = SpanContext(traceID: .init(high: 1, low: 2), spanID: .init(3), flags: .random)
        #expect(parent.child(sampled: true).flags == [.sampled, .random])
        #expect(parent.child(sampled: true).child(sampled: false).flags == .random)
    }

    @Test func idsPrintAsLowercaseHexAndExposeBigEndianBytes() {
        let traceID = SpanContext.TraceID(high: 0x0102_0304_0506_0708, low: 0x090A_0B0C_0D0E_0F10)
        #expect(traceID.description == "0102030405060708090a0b0c0d0e0f10")
        #expect(traceID.bytes == Array(1...16))
        let spanID = SpanContext.SpanID(0xABCD)
        #expect(spanID.description == "000000000000abcd")
        #expect(spanID.bytes == [0, 0, 0, 0, 0, 0, 0xAB, 0xCD])
    }

    @Test func traceParentOfAContextAnnouncesItsSpanAsTheParent() {
        let context = SpanContext(traceID: .init(high: 1, low: 2), spanID: .init(3), flags: .sampled)
        #expect(context.traceParent == TraceParent(traceID: .init(high: 1, low: 2), parentID: .init(3), flags: .sampled))
    }
}
