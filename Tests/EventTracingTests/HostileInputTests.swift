import Testing

@testable import EventTracing

/// Headers come from anyone: whatever the bytes, parsing returns (a value or nothing) and
/// what it returns formats back into something that parses to the same value.
@Suite struct HostileInputTests {
    /// Bytes weighted toward the characters the grammars care about.
    static let alphabet = Array("0123456789abcdefABCDEF-=,; \t%@*/_.\u{7F}\"\\".utf8) + [0x00, 0x0A, 0xC3, 0xA9, 0xFF]

    static func inputs(count: Int, seed: UInt64, template: String) -> [[UInt8]] {
        var random = SplitMix(seed: seed)
        let base = Array(template.utf8)
        return (0..<count).map { _ in
            var bytes = base
            for _ in 0..<Int(random.next() % 4 + 1) {
                let position = Int(random.next() % UInt64(bytes.count + 1))
                let byte = alphabet[Int(random.next() % UInt64(alphabet.count))]
                switch random.next() % 3 {
                case 0 where position < bytes.count: bytes[position] = byte
                case 1 where position < bytes.count: bytes.remove(at: position)
                default: bytes.insert(byte, at: position)
                }
            }
            return bytes
        }
    }

    @Test func mutatedTraceparentsParseToValuesThatRoundTrip() throws {
        for bytes in Self.inputs(count: 5_000, seed: 1, template: "00-12345678901234567890123456789012-1234567890123456-01-x") {
            guard let parent = TraceParent(utf8: bytes) else { continue }
            #expect(parent.traceID.isValid && parent.parentID.isValid)
            #expect(TraceParent(parent.headerValue) == parent)
        }
    }

    @Test func mutatedTracestatesParseToValuesThatRoundTrip() throws {
        for bytes in Self.inputs(count: 5_000, seed: 2, template: "rojo=00f067aa0ba902b7, congo=t61rcWkgMzE,a@b=c d") {
            guard let state = TraceState(utf8: bytes) else { continue }
            #expect(TraceState(state.headerValue(maxLength: .max)) == state)
        }
    }

    @Test func mutatedBaggagesParseToValuesThatRoundTrip() throws {
        for bytes in Self.inputs(count: 5_000, seed: 3, template: "userId=Am%C3%A9lie;p;q=%20x, serverNode = DF%2028,k=") {
            let baggage = Baggage(utf8: bytes)
            #expect(Baggage(baggage.headerValue) == baggage)
        }
    }

    @Test func aHugeHeaderIsBoundedByTheLimits() {
        let member = "k=" + String(repeating: "v", count: 100)
        let huge = Array(repeating: member, count: 10_000).joined(separator: ",")
        #expect(TraceState(huge) == nil)
        let baggage = Baggage(huge)
        #expect(baggage.entries.count <= Baggage.maxMembers)
        #expect(baggage.headerValue.utf8.count <= Baggage.maxBytes)
        #expect(Baggage("k=" + String(repeating: "v", count: 1_000_000)).isEmpty)
    }
}
