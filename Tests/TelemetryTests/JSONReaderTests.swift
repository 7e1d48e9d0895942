import Testing

@testable import Telemetry

/// Runs `body` over the UTF-8 of `text`.
private func reading<R>(
    _ text: String, _ body: (inout JSONReader) throws(TelemetryDecodingError) -> R
) throws(TelemetryDecodingError) -> R {
    try JSONReader.read(Array(text.utf8), body)
}

/// The reason of the error `body` throws over `text`, or nil if it succeeds.
private func failure(_ text: String, _ body: (inout JSONReader) throws(TelemetryDecodingError) -> Void) -> String? {
    failure(Array(text.utf8), body)
}

private func failure(_ bytes: [UInt8], _ body: (inout JSONReader) throws(TelemetryDecodingError) -> Void) -> String? {
    do throws(TelemetryDecodingError) {
        try JSONReader.read(bytes, body)
        return nil
    } catch {
        return error.reason
    }
}

/// Skips one value and requires the end of input: a full validation of a document.
private func validate(_ reader: inout JSONReader) throws(TelemetryDecodingError) {
    try reader.skipValue()
    try reader.expectEnd()
}

private func readOneString(_ reader: inout JSONReader) throws(TelemetryDecodingError) -> String {
    let value = try reader.readString()
    try reader.expectEnd()
    return value
}

@Suite struct JSONReaderTests {
    @Test func walksObjectsAndArraysMemberByMember() throws {
        let (name, numbers, flag) = try reading(#" { "name" : "a\"b", "numbers": [1, -2 ,3], "flag": true } "#) {
            (reader) throws(TelemetryDecodingError) -> (String, [Int64], Bool) in
            var name = ""
            var numbers: [Int64] = []
            var flag = false
            try reader.beginObject()
            while let key = try reader.nextKey() {
                switch key {
                case "name": name = try reader.readString()
                case "numbers":
                    try reader.beginArray()
                    while try reader.nextElement() { numbers.append(try reader.readInt64()) }
                case "flag": flag = try reader.readBool()
                default: try reader.skipValue()
                }
            }
            try reader.expectEnd()
            return (name, numbers, flag)
        }
        #expect(name == "a\"b")
        #expect(numbers == [1, -2, 3])
        #expect(flag)
    }

    @Test func emptyContainersEndAtOnce() throws {
        let result = try reading("{\"a\":{},\"b\":[]}") { (reader) throws(TelemetryDecodingError) -> [String] in
            var seen: [String] = []
            try reader.beginObject()
            while let key = try reader.nextKey() {
                seen.append(key.string)
                if key == "a" {
                    try reader.beginObject()
                    #expect(try reader.nextKey() == nil)
                } else {
                    try reader.beginArray()
                    #expect(try !reader.nextElement())
                }
            }
            return seen
        }
        #expect(result == ["a", "b"])
    }

    @Test func keysWithEscapesStillMatch() throws {
        let matched = try reading(#"{"trace\u0049d": 1}"#) { (reader) throws(TelemetryDecodingError) -> Bool in
            try reader.beginObject()
            return try reader.nextKey()?.matches("traceId") ?? false
        }
        #expect(matched)
    }

    @Test func refusesTrailingCommas() {
        #expect(failure("{\"a\":1,}", validate)?.contains("expected a member name") == true)
        #expect(failure("[1,]", validate)?.contains("expected a value") == true)
        #expect(failure("[,1]", validate) != nil)
        #expect(failure("{,}", validate) != nil)
    }

    @Test func refusesMissingCommasAndNamesTheByte() {
        #expect(failure("{\"a\":1 \"b\":2}", validate) == "invalid JSON at byte 7: expected ',' or '}', got '\"'")
        #expect(failure("[1 2]", validate) == "invalid JSON at byte 3: expected ',' or ']', got '2'")
    }

    @Test func refusesTrailingGarbage() {
        #expect(failure("{} x", validate) == "invalid JSON at byte 3: unexpected 'x' after the end of the document")
        #expect(failure("1 2", validate) != nil)
        #expect(failure("  {}  \n", validate) == nil)
    }

    @Test func refusesTruncatedInput() {
        #expect(failure("", validate)?.contains("unexpected end of input") == true)
        #expect(failure("{\"a\":", validate)?.contains("unexpected end of input") == true)
        #expect(failure("[1,2", validate)?.contains("unexpected end of input") == true)
        #expect(failure("\"abc", validate)?.contains("unterminated string") == true)
        #expect(failure("tru", validate)?.contains("invalid literal") == true)
    }

    @Test func refusesWhatRFC8259DoesNotAllow() {
        for text in ["01", "-", "1.", ".5", "+1", "1e", "1e+", "0x10", "NaN", "'a'", "{a:1}", "[1]//", "nul", "True"] {
            #expect(failure(text, validate) != nil, "accepted \(text)")
        }
        #expect(failure("0012", validate) == "invalid JSON at byte 0: leading zeros are not allowed in numbers")
    }

    @Test func acceptsEveryNumberForm() {
        for text in ["0", "-0", "12", "-12.5", "1e5", "1E+5", "1.5e-3", "0.0"] {
            #expect(failure(text, validate) == nil, "refused \(text)")
        }
    }

    @Test func decodesEveryEscape() throws {
        let value = try reading(#""\" \\ \/ \b \f \n \r \t \u00e9 \u0000""#, readOneString)
        #expect(value == "\" \\ / \u{8} \u{C} \n \r \t é \u{0}")
    }

    @Test func decodesSurrogatePairs() throws {
        #expect(try reading(#""\ud83d\ude00""#, readOneString) == "😀")
        #expect(try reading(#""\uD83D\uDE00x""#, readOneString) == "😀x")
    }

    @Test func refusesUnpairedSurrogates() {
        #expect(failure(#""\ud83d""#, validate)?.contains("unpaired surrogate \\ud83d") == true)
        #expect(failure(#""\ud83d\u0041""#, validate)?.contains("unpaired surrogate") == true)
        #expect(failure(#""\ude00""#, validate)?.contains("unpaired surrogate") == true)
    }

    @Test func refusesBadEscapes() {
        #expect(failure(#""\x""#, validate)?.contains("invalid escape") == true)
        #expect(failure(#""\u12""#, validate)?.contains("truncated \\u escape") == true)
        #expect(failure(#""\u12g4""#, validate)?.contains("4 hex digits") == true)
    }

    @Test func refusesRawControlCharactersInStrings() {
        #expect(failure("\"a\nb\"", validate) == "invalid JSON at byte 2: control character byte 0x0a in a string must be escaped")
        #expect(failure("\"a\u{0}b\"", validate) != nil)
    }

    @Test func passesValidUTF8Through() throws {
        #expect(try reading("\"é€😀\"", readOneString) == "é€😀")
    }

    @Test func refusesInvalidUTF8() {
        let q = UInt8(ascii: "\"")
        let bad: [[UInt8]] = [
            [0x80],  // lone continuation byte
            [0xC0, 0x80],  // overlong NUL
            [0xE0, 0x80, 0x80],  // overlong
            [0xED, 0xA0, 0x80],  // UTF-16 surrogate
            [0xF4, 0x90, 0x80, 0x80],  // past U+10FFFF
            [0xE2, 0x82],  // truncated
            [0xFF],
        ]
        for sequence in bad {
            #expect(failure([q] + sequence + [q], validate)?.contains("invalid UTF-8") == true, "accepted \(sequence)")
            #expect(failure([q, UInt8(ascii: "\\"), UInt8(ascii: "n")] + sequence + [q], validate)?.contains("invalid UTF-8") == true)
        }
    }

    @Test func refusesNestingBeyondTheLimit() {
        let limit = DecodingLimits.maxJSONDepth
        let ok = String(repeating: "[", count: limit) + String(repeating: "]", count: limit)
        #expect(failure(ok, validate) == nil)
        let deep = String(repeating: "[", count: limit + 1) + String(repeating: "]", count: limit + 1)
        #expect(failure(deep, validate)?.contains("nesting deeper than \(limit) levels") == true)
    }

    @Test func survivesAHundredThousandOpenBrackets() {
        #expect(failure(String(repeating: "[", count: 100_000), validate)?.contains("nesting deeper") == true)
        #expect(failure(String(repeating: "{\"a\":", count: 100_000), validate)?.contains("nesting deeper") == true)
    }

    @Test func readsInt64FromNumbersAndStringsExactly() throws {
        let values = try reading(#"[9223372036854775807, "-9223372036854775808", "123", 0, -0]"#) {
            (reader) throws(TelemetryDecodingError) -> [Int64] in
            var values: [Int64] = []
            try reader.beginArray()
            while try reader.nextElement() { values.append(try reader.readInt64()) }
            return values
        }
        #expect(values == [.max, .min, 123, 0, 0])
    }

    @Test func readsUInt64BeyondTheRangeOfADouble() throws {
        #expect(try reading("18446744073709551615") { (r) throws(TelemetryDecodingError) in try r.readUInt64() } == .max)
        #expect(try reading("\"9007199254740993\"") { (r) throws(TelemetryDecodingError) in try r.readUInt64() } == 9_007_199_254_740_993)
    }

    @Test func acceptsExponentsAndFractionsOnlyWhenTheValueIsWhole() throws {
        func int(_ text: String) throws(TelemetryDecodingError) -> Int64 {
            try reading(text) { (r) throws(TelemetryDecodingError) in try r.readInt64() }
        }
        #expect(try int("1e3") == 1000)
        #expect(try int("1.0") == 1)
        #expect(try int("1500e-2") == 15)
        #expect(try int("\"2.5e1\"") == 25)
        #expect(try int("0e999999999") == 0)
        #expect(try int("-0.000e5") == 0)
        #expect(failure("1.5") { (r) throws(TelemetryDecodingError) in _ = try r.readInt64() }
            == "expected an int64, got a number with a fraction (at byte 0)")
        #expect(failure("15e-1") { (r) throws(TelemetryDecodingError) in _ = try r.readInt64() }?.contains("fraction") == true)
    }

    @Test func refusesIntegersOutOfRange() {
        let cases: [(String, (inout JSONReader) throws(TelemetryDecodingError) -> Void)] = [
            ("9223372036854775808", { (r) throws(TelemetryDecodingError) in _ = try r.readInt64() }),
            ("-9223372036854775809", { (r) throws(TelemetryDecodingError) in _ = try r.readInt64() }),
            ("18446744073709551616", { (r) throws(TelemetryDecodingError) in _ = try r.readUInt64() }),
            ("-1", { (r) throws(TelemetryDecodingError) in _ = try r.readUInt64() }),
            ("2147483648", { (r) throws(TelemetryDecodingError) in _ = try r.readInt32() }),
            ("4294967296", { (r) throws(TelemetryDecodingError) in _ = try r.readUInt32() }),
            ("1e20", { (r) throws(TelemetryDecodingError) in _ = try r.readUInt64() }),
            ("1e999999999999", { (r) throws(TelemetryDecodingError) in _ = try r.readInt64() }),
            (String(repeating: "9", count: 5000), { (r) throws(TelemetryDecodingError) in _ = try r.readInt64() }),
        ]
        for (text, read) in cases {
            #expect(failure(text, read)?.hasPrefix("number out of range for") == true, "accepted \(text.prefix(30))")
        }
    }

    @Test func readsThirtyTwoBitIntegersAtTheirBounds() throws {
        #expect(try reading("-2147483648") { (r) throws(TelemetryDecodingError) in try r.readInt32() } == .min)
        #expect(try reading("\"4294967295\"") { (r) throws(TelemetryDecodingError) in try r.readUInt32() } == .max)
    }

    @Test func refusesStringsThatAreNotNumbersWhereAnIntegerIsExpected() {
        #expect(failure("\"12a\"") { (r) throws(TelemetryDecodingError) in _ = try r.readInt64() }
            == "expected an int64, got a string that is not a number (at byte 0)")
        #expect(failure("\" 12\"") { (r) throws(TelemetryDecodingError) in _ = try r.readInt64() } != nil)
        #expect(failure("\"\"") { (r) throws(TelemetryDecodingError) in _ = try r.readInt64() } != nil)
    }

    @Test func namesTheKindFoundWhenTheTypeIsWrong() {
        #expect(failure(" true") { (r) throws(TelemetryDecodingError) in _ = try r.readString() }
            == "expected a string, got a boolean (at byte 1)")
        #expect(failure("[]") { (r) throws(TelemetryDecodingError) in try r.beginObject() }
            == "expected an object, got an array (at byte 0)")
        #expect(failure("{}") { (r) throws(TelemetryDecodingError) in _ = try r.readInt64() }
            == "expected an int64, got an object (at byte 0)")
    }

    @Test func readsDoublesFromNumbersAndTheProto3Strings() throws {
        let values = try reading(#"[1.5, -0.0, 1e-7, "NaN", "Infinity", "-Infinity", "2.25", 5e-324, 12]"#) {
            (reader) throws(TelemetryDecodingError) -> [Double] in
            var values: [Double] = []
            try reader.beginArray()
            while try reader.nextElement() { values.append(try reader.readDouble()) }
            return values
        }
        #expect(values[0] == 1.5)
        #expect(values[1] == 0 && values[1].sign == .minus)
        #expect(values[2] == 1e-7)
        #expect(values[3].isNaN)
        #expect(values[4] == .infinity)
        #expect(values[5] == -.infinity)
        #expect(values[6] == 2.25)
        #expect(values[7] == .leastNonzeroMagnitude)
        #expect(values[8] == 12)
    }

    @Test func refusesDoublesOutOfRangeAndNonNumericStrings() {
        #expect(failure("1e400") { (r) throws(TelemetryDecodingError) in _ = try r.readDouble() }
            == "number out of range for a double (at byte 0)")
        #expect(failure("\"inf\"") { (r) throws(TelemetryDecodingError) in _ = try r.readDouble() }?.contains("not a number") == true)
        #expect(failure("\"nan\"") { (r) throws(TelemetryDecodingError) in _ = try r.readDouble() } != nil)
    }

    @Test func readNullConsumesOnlyNull() throws {
        let result = try reading("[null, 1]") { (reader) throws(TelemetryDecodingError) -> (Bool, Bool, Int64) in
            try reader.beginArray()
            _ = try reader.nextElement()
            let first = try reader.readNull()
            _ = try reader.nextElement()
            let second = try reader.readNull()
            return (first, second, try reader.readInt64())
        }
        #expect(result == (true, false, 1))
    }

    @Test func skipValueSkipsWholeSubtrees() throws {
        let after = try reading(#"{"skip": {"a": [1, {"b": "\u00e9"}, null, false], "c": -1.5e3}, "keep": 7}"#) {
            (reader) throws(TelemetryDecodingError) -> Int64 in
            var kept: Int64 = 0
            try reader.beginObject()
            while let key = try reader.nextKey() {
                if key == "keep" { kept = try reader.readInt64() } else { try reader.skipValue() }
            }
            try reader.expectEnd()
            return kept
        }
        #expect(after == 7)
    }

    @Test func peekNamesTheNextKindWithoutConsumingIt() throws {
        let kinds = try reading(#"[{}, [], "s", -1, true, null]"#) { (reader) throws(TelemetryDecodingError) -> [JSONValueKind] in
            var kinds: [JSONValueKind] = []
            try reader.beginArray()
            while try reader.nextElement() {
                kinds.append(try reader.peek())
                try reader.skipValue()
            }
            return kinds
        }
        #expect(kinds == [.object, .array, .string, .number, .bool, .null])
    }

    @Test func stringViewsOfPlainStringsPointIntoTheInput() throws {
        let isWindow = try reading(#""plain""#) { (reader) throws(TelemetryDecodingError) -> Bool in
            let view = try reader.readStringView()
            if case .window = view.storage { return true }
            return false
        }
        #expect(isWindow)
    }

    @Test func wordAtATimeScanFlagsExactlyTheBytesThatEndAPlainRun() {
        for byte in 0...255 {
            let special = byte == 0x22 || byte == 0x5C || byte < 0x20 || byte >= 0x80
            for position in 0..<8 {
                var bytes = [UInt8](repeating: UInt8(ascii: "a"), count: 8)
                bytes[position] = UInt8(byte)
                let word = bytes.withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) }
                #expect(JSONReader.mayEndPlainRun(word) == special, "byte \(byte) at \(position)")
            }
        }
    }

    @Test func findsEscapesControlsAndNonASCIIAtEveryPositionOfALongString() throws {
        let filler = "abcdefghijklmnopqrstuvw"
        for position in 0...filler.count {
            let head = String(filler.prefix(position))
            let tail = String(filler.dropFirst(position))
            #expect(try reading("\"" + head + "\\n" + tail + "\"", readOneString) == head + "\n" + tail)
            #expect(try reading("\"" + head + "é" + tail + "\"", readOneString) == head + "é" + tail)
            #expect(try reading("\"" + head + "\"", readOneString) == head)
            #expect(failure("\"" + head + "\t" + tail + "\"", validate)
                == "invalid JSON at byte \(position + 1): control character byte 0x09 in a string must be escaped")
        }
    }
}
