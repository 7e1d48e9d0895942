import Testing

@testable import Telemetry

@Suite struct Base64Tests {
    @Test func encodesWithTheStandardAlphabetAndPadding() {
        #expect(Base64.encode([]) == "")
        #expect(Base64.encode(Array("f".utf8)) == "Zg==")
        #expect(Base64.encode(Array("fo".utf8)) == "Zm8=")
        #expect(Base64.encode(Array("foo".utf8)) == "Zm9v")
        #expect(Base64.encode(Array("foobar".utf8)) == "Zm9vYmFy")
        #expect(Base64.encode([0xFB, 0xFF]) == "+/8=")
    }

    @Test func decodesStandardAndURLSafePaddedOrNot() throws {
        #expect(try Base64.decode("Zm9vYg==") == Array("foob".utf8))
        #expect(try Base64.decode("Zm9vYg") == Array("foob".utf8))
        #expect(try Base64.decode("+/8=") == [0xFB, 0xFF])
        #expect(try Base64.decode("-_8") == [0xFB, 0xFF])
        #expect(try Base64.decode("") == [])
    }

    @Test func roundTripsEveryLength() throws {
        for length in 0..<40 {
            let bytes = (0..<length).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ 11) }
            #expect(try Base64.decode(Base64.encode(bytes)) == bytes)
        }
    }

    @Test func refusesCharactersOutsideBothAlphabets() {
        #expect(throws: TelemetryDecodingError(reason: "invalid base64: unexpected '!' at position 2")) {
            try Base64.decode("Zm!v")
        }
        #expect(throws: TelemetryDecodingError.self) { try Base64.decode("Zm9v\n") }
        #expect(throws: TelemetryDecodingError.self) { try Base64.decode("Zm 9v") }
    }

    @Test func refusesMisplacedOrIncompletePadding() {
        #expect(throws: TelemetryDecodingError.self) { try Base64.decode("Zg=") }
        #expect(throws: TelemetryDecodingError.self) { try Base64.decode("Z===") }
        #expect(throws: TelemetryDecodingError.self) { try Base64.decode("Zg==Zg==") }
        #expect(throws: TelemetryDecodingError.self) { try Base64.decode("=") }
    }

    @Test func refusesALoneFinalCharacter() {
        #expect(throws: TelemetryDecodingError(reason: "invalid base64: 5 characters cannot encode whole bytes")) {
            try Base64.decode("Zm9vY")
        }
    }
}
