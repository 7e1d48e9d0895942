import Testing
import Telemetry

@Suite struct IdentifierTests {
    @Test func traceIDParsesHexInEitherCaseAndPrintsLowercase() throws {
        let id = try #require(TraceID(hex: "4BF92F3577B34DA6A3CE929D0E0E4736"))
        #expect(id.hex == "4bf92f3577b34da6a3ce929d0e0e4736")
        #expect(TraceID(bytes: id.bytes) == id)
    }

    @Test func traceIDRefusesWrongLengthAndNonHex() {
        #expect(TraceID(hex: "4bf92f3577b34da6a3ce929d0e0e473") == nil)
        #expect(TraceID(hex: "4bf92f3577b34da6a3ce929d0e0e473g") == nil)
        #expect(TraceID(bytes: [UInt8](repeating: 1, count: 15)) == nil)
    }

    @Test func allZeroIDsAreInvalid() {
        #expect(!TraceID.zero.isValid)
        #expect(!SpanID.zero.isValid)
        #expect(SpanID(1).isValid)
    }

    @Test func spanIDRoundTripsThroughBytesAndHex() throws {
        let id = try #require(SpanID(hex: "00f067aa0ba902b7"))
        #expect(id.bytes == [0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7])
        #expect(SpanID(hex: id.hex) == id)
    }
}
