import Testing

@testable import Telemetry

@Suite struct JSONWriterTests {
    @Test func insertsCommasBetweenMembersAndElements() {
        var writer = JSONWriter()
        writer.beginObject()
        writer.key("a")
        writer.int(1)
        writer.key("b")
        writer.beginArray()
        writer.bool(true)
        writer.null()
        writer.beginObject()
        writer.endObject()
        writer.beginArray()
        writer.endArray()
        writer.endArray()
        writer.key("c" as StaticString)
        writer.string("x")
        writer.endObject()
        #expect(writer.string == #"{"a":1,"b":[true,null,{},[]],"c":"x"}"#)
    }

    @Test func escapesQuotesBackslashesAndControlCharacters() {
        var writer = JSONWriter()
        writer.string("q\" b\\ n\n r\r t\t b\u{8} f\u{C} nul\u{0} us\u{1F} del\u{7F} /")
        #expect(writer.string == #""q\" b\\ n\n r\r t\t b\b f\f nul\u0000 us\u001f del"# + "\u{7F}" + #" /""#)
    }

    @Test func copiesNonASCIIUnchanged() {
        var writer = JSONWriter()
        writer.string("é€😀\u{2028}")
        #expect(writer.bytes == Array("\"é€😀\u{2028}\"".utf8))
    }

    @Test func escapesKeysLikeStrings() {
        var writer = JSONWriter()
        writer.beginObject()
        writer.key("a\"b")
        writer.int(0)
        writer.endObject()
        #expect(writer.string == #"{"a\"b":0}"#)
    }

    @Test func writesIntegerExtremes() {
        var writer = JSONWriter()
        writer.beginArray()
        writer.int(.min)
        writer.int(.max)
        writer.int(0)
        writer.uint(.max)
        writer.quotedInt(-42)
        writer.quotedUInt(1_700_000_000_000_000_000)
        writer.endArray()
        #expect(writer.string
            == #"[-9223372036854775808,9223372036854775807,0,18446744073709551615,"-42","1700000000000000000"]"#)
    }

    @Test func writesDoublesAsShortestRoundTripText() {
        #expect(JSONWriter.doubleText(0.1) == "0.1")
        #expect(JSONWriter.doubleText(1) == "1.0")
        #expect(JSONWriter.doubleText(-0.0) == "-0.0")
        #expect(JSONWriter.doubleText(1e-7) == "1e-07")
        #expect(JSONWriter.doubleText(1e100) == "1e+100")
        #expect(JSONWriter.doubleText(.leastNonzeroMagnitude) == "5e-324")
    }

    @Test func writesNonFiniteDoublesAsProto3Strings() {
        var writer = JSONWriter()
        writer.beginArray()
        writer.double(.nan)
        writer.double(.infinity)
        writer.double(-.infinity)
        writer.endArray()
        #expect(writer.string == #"["NaN","Infinity","-Infinity"]"#)
        #expect(JSONWriter.doubleText(.nan) == "NaN")
    }

    @Test func doublesReadBackBitForBit() throws {
        let values: [Double] = [0.1, -0.0, 1e-7, 1e100, .leastNonzeroMagnitude, .greatestFiniteMagnitude, 123456.789, .pi, 1e21, 1e22]
        var writer = JSONWriter()
        writer.beginArray()
        for value in values { writer.double(value) }
        writer.endArray()
        let back = try JSONReader.read(writer.bytes) { (reader) throws(TelemetryDecodingError) -> [Double] in
            var back: [Double] = []
            try reader.beginArray()
            while try reader.nextElement() { back.append(try reader.readDouble()) }
            try reader.expectEnd()
            return back
        }
        #expect(back.map(\.bitPattern) == values.map(\.bitPattern))
    }

    @Test func writesIDsAsLowercaseHex() throws {
        var writer = JSONWriter()
        writer.beginArray()
        writer.hexID(try #require(TraceID(hex: "4BF92F3577B34DA6A3CE929D0E0E4736")))
        writer.hexID(SpanID(0x00f0_67aa_0ba9_02b7))
        writer.endArray()
        #expect(writer.string == #"["4bf92f3577b34da6a3ce929d0e0e4736","00f067aa0ba902b7"]"#)
    }

    @Test func writesBytesAsPaddedBase64() {
        var writer = JSONWriter()
        writer.base64([0xFB, 0xFF, 0x01])
        writer.base64([0x01])
        writer.base64([])
        #expect(writer.string == #""+/8B","AQ==","""#)
    }

    @Test func writesAnyValueAsPlainJSON() {
        var writer = JSONWriter()
        writer.plainValue(.keyValueList([
            KeyValue("s", "x"), KeyValue("i", .int(-3)), KeyValue("d", .double(2.5)), KeyValue("b", true),
            KeyValue("bytes", .bytes([1, 2])), KeyValue("e", .empty), KeyValue("a", .array(["y", .int(1)])),
        ]))
        #expect(writer.string == #"{"s":"x","i":-3,"d":2.5,"b":true,"bytes":"AQI=","e":null,"a":["y",1]}"#)
    }

    @Test func outputIsValidForTheStrictReader() throws {
        var writer = JSONWriter()
        writer.beginObject()
        writer.key("weird \u{1} key")
        writer.plainValue(.array([.string("\u{0}\u{1F}\"\\"), .double(.nan), .double(-1e-300), .empty]))
        writer.endObject()
        let key = try JSONReader.read(writer.bytes) { (reader) throws(TelemetryDecodingError) -> String in
            try reader.beginObject()
            let key = try reader.nextKey()?.string ?? ""
            try reader.skipValue()
            #expect(try reader.nextKey() == nil)
            try reader.expectEnd()
            return key
        }
        #expect(key == "weird \u{1} key")
    }

    @Test func escapesAtEveryPositionOfALongString() {
        let filler = "abcdefghijklmnopqrstuvw"
        for position in 0...filler.count {
            let head = String(filler.prefix(position))
            let tail = String(filler.dropFirst(position))
            for (raw, escaped) in [("\"", #"\""#), ("\\", #"\\"#), ("\u{1}", #"\u0001"#), ("é", "é")] {
                var writer = JSONWriter()
                writer.string(head + raw + tail)
                #expect(writer.string == "\"" + head + escaped + tail + "\"")
            }
        }
    }
}
