import Testing

@testable import EventTracing

/// W3C Trace Context Level 2 §3.2 "Traceparent Header" and §3.2.4 "Versioning of
/// traceparent"; the cases mirror the official test harness (test/test.py).
@Suite struct TraceParentTests {
    static let traceID = "12345678901234567890123456789012"
    static let parentID = "1234567890123456"
    static let valid = "00-\(traceID)-\(parentID)-01"

    @Test func version00ParsesAllFourFields() throws {
        let parent = try #require(TraceParent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"))
        #expect(parent.traceID == SpanContext.TraceID(high: 0x4bf9_2f35_77b3_4da6, low: 0xa3ce_929d_0e0e_4736))
        #expect(parent.parentID == SpanContext.SpanID(0x00f0_67aa_0ba9_02b7))
        #expect(parent.flags == .sampled)
    }

    @Test func formatRoundTripsVersion00() throws {
        let parent = try #require(TraceParent(Self.valid))
        #expect(parent.headerValue == Self.valid)
        #expect(parent.description == Self.valid)
    }

    @Test func version00WithTrailingCharactersIsInvalid() {
        #expect(TraceParent(Self.valid + ".") == nil)
        #expect(TraceParent(Self.valid + "-what-the-future-will-be-like") == nil)
        #expect(TraceParent(Self.valid + "-") == nil)
    }

    @Test func traceparentWithHigherVersionKeepsFirstFourFields() throws {
        let exact = try #require(TraceParent("cc-\(Self.traceID)-\(Self.parentID)-01"))
        #expect(exact.traceID.description == Self.traceID)
        let extended = try #require(TraceParent("cc-\(Self.traceID)-\(Self.parentID)-01-what-the-future-will-be-like"))
        #expect(extended.traceID.description == Self.traceID)
        #expect(extended.parentID.description == Self.parentID)
        #expect(extended.flags == .sampled)
    }

    @Test func higherVersionIsFormattedAsVersion00WithoutExtraFields() throws {
        let parent = try #require(TraceParent("cc-\(Self.traceID)-\(Self.parentID)-01-extra"))
        #expect(parent.headerValue == Self.valid)
    }

    @Test func higherVersionWhoseFlagsAreNotFollowedByADashIsInvalid() {
        #expect(TraceParent("cc-\(Self.traceID)-\(Self.parentID)-01.what-the-future-will-be-like") == nil)
        #expect(TraceParent("cc-\(Self.traceID)-\(Self.parentID)-012") == nil)
    }

    @Test func higherVersionShorterThan55CharactersIsInvalid() {
        #expect(TraceParent("cc-\(Self.traceID)-\(Self.parentID)-1") == nil)
    }

    @Test func versionFFIsInvalid() {
        #expect(TraceParent("ff-\(Self.traceID)-\(Self.parentID)-01") == nil)
        #expect(TraceParent("ff-\(Self.traceID)-\(Self.parentID)-01-extra") == nil)
    }

    @Test func versionWithIllegalCharactersIsInvalid() {
        #expect(TraceParent(".0-\(Self.traceID)-\(Self.parentID)-01") == nil)
        #expect(TraceParent("0.-\(Self.traceID)-\(Self.parentID)-01") == nil)
    }

    @Test func versionOfOtherThanTwoDigitsIsInvalid() {
        #expect(TraceParent("000-\(Self.traceID)-\(Self.parentID)-01") == nil)
        #expect(TraceParent("0000-\(Self.traceID)-\(Self.parentID)-01") == nil)
        #expect(TraceParent("0-\(Self.traceID)-\(Self.parentID)-01") == nil)
    }

    @Test func uppercaseHexIsInvalid() {
        #expect(TraceParent("00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01") == nil)
        #expect(TraceParent("00-4bf92f3577b34da6a3ce929d0e0e4736-00F067AA0BA902B7-01") == nil)
        #expect(TraceParent("00-\(Self.traceID)-\(Self.parentID)-0A") == nil)
        #expect(TraceParent("0A-\(Self.traceID)-\(Self.parentID)-01") == nil)
    }

    @Test func allZeroTraceIDIsInvalid() {
        #expect(TraceParent("00-00000000000000000000000000000000-\(Self.parentID)-01") == nil)
    }

    @Test func allZeroParentIDIsInvalid() {
        #expect(TraceParent("00-\(Self.traceID)-0000000000000000-01") == nil)
    }

    @Test func traceIDWithIllegalCharactersIsInvalid() {
        #expect(TraceParent("00-.2345678901234567890123456789012-\(Self.parentID)-01") == nil)
        #expect(TraceParent("00-1234567890123456789012345678901.-\(Self.parentID)-01") == nil)
    }

    @Test func traceIDOfWrongLengthIsInvalid() {
        #expect(TraceParent("00-123456789012345678901234567890123-\(Self.parentID)-01") == nil)
        #expect(TraceParent("00-1234567890123456789012345678901-\(Self.parentID)-01") == nil)
    }

    @Test func parentIDWithIllegalCharactersIsInvalid() {
        #expect(TraceParent("00-\(Self.traceID)-.234567890123456-01") == nil)
        #expect(TraceParent("00-\(Self.traceID)-123456789012345.-01") == nil)
    }

    @Test func parentIDOfWrongLengthIsInvalid() {
        #expect(TraceParent("00-\(Self.traceID)-12345678901234567-01") == nil)
        #expect(TraceParent("00-\(Self.traceID)-123456789012345-01") == nil)
    }

    @Test func traceFlagsWithIllegalCharactersOrWrongLengthAreInvalid() {
        #expect(TraceParent("00-\(Self.traceID)-\(Self.parentID)-.0") == nil)
        #expect(TraceParent("00-\(Self.traceID)-\(Self.parentID)-0.") == nil)
        #expect(TraceParent("00-\(Self.traceID)-\(Self.parentID)-001") == nil)
        #expect(TraceParent("00-\(Self.traceID)-\(Self.parentID)-1") == nil)
    }

    @Test func misplacedDelimitersAreInvalid() {
        #expect(TraceParent("00_\(Self.traceID)-\(Self.parentID)-01") == nil)
        #expect(TraceParent("00-\(Self.traceID)_\(Self.parentID)-01") == nil)
        #expect(TraceParent("00-\(Self.traceID)-\(Self.parentID)_01") == nil)
    }

    @Test func emptyAndGarbageValuesAreInvalid() {
        #expect(TraceParent("") == nil)
        #expect(TraceParent("   ") == nil)
        #expect(TraceParent(String(repeating: "-", count: 55)) == nil)
        #expect(TraceParent("00-\(Self.traceID)-\(Self.parentID)-0\u{e9}") == nil)
    }

    @Test func leadingAndTrailingOptionalWhitespaceIsIgnored() throws {
        for value in [" \(Self.valid)", "\t\(Self.valid)", "\(Self.valid) ", "\(Self.valid)\t", "\t \(Self.valid) \t"] {
            let parent = try #require(TraceParent(value))
            #expect(parent.traceID.description == Self.traceID)
        }
    }

    @Test func sampledFlagIsKept() throws {
        #expect(try #require(TraceParent("00-\(Self.traceID)-\(Self.parentID)-01")).flags == .sampled)
        #expect(try #require(TraceParent("00-\(Self.traceID)-\(Self.parentID)-00")).flags == [])
    }

    @Test func randomFlagOfLevel2IsKept() throws {
        let random = try #require(TraceParent("00-\(Self.traceID)-\(Self.parentID)-02"))
        #expect(random.flags == .random)
        #expect(random.headerValue.hasSuffix("-02"))
        let both = try #require(TraceParent("00-\(Self.traceID)-\(Self.parentID)-03"))
        #expect(both.flags == [.sampled, .random])
        #expect(both.headerValue.hasSuffix("-03"))
    }

    @Test func reservedFlagsAreSetToZero() throws {
        let parent = try #require(TraceParent("00-\(Self.traceID)-\(Self.parentID)-ff"))
        #expect(parent.flags == [.sampled, .random])
        #expect(parent.headerValue.hasSuffix("-03"))
        let higher = try #require(TraceParent("cc-\(Self.traceID)-\(Self.parentID)-09"))
        #expect(higher.headerValue.hasSuffix("-01"))
        var made = parent
        made.flags = TraceFlags(rawValue: 0xFD)
        #expect(made.headerValue.hasSuffix("-01"))
    }

    @Test func parsesUTF8Bytes() throws {
        let parent = try #require(TraceParent(utf8: Array(Self.valid.utf8)))
        #expect(parent.headerValue == Self.valid)
        #expect(TraceParent(utf8: Array(Self.valid.utf8).dropLast()) == nil)
    }

    @Test func parseHoldsNoHeapReferencesAndFormatWritesOneNativeBufferOf55Bytes() throws {
        // Parsing reads the string's own UTF-8 bytes (no regex, no substrings) into plain
        // integers, so the parsed value cannot own heap memory.
        #expect(_isPOD(TraceParent.self))
        #expect(_isPOD(SpanContext.TraceID.self))
        #expect(MemoryLayout<TraceParent>.size <= 25)
        let parent = try #require(TraceParent(Self.valid))
        // Formatting writes one native, contiguous 55-byte buffer in place.
        var formatted = parent.headerValue
        #expect(formatted.utf8.withContiguousStorageIfAvailable { $0.count } == 55)
        #expect(formatted.withUTF8 { $0.count } == 55)
    }
}
