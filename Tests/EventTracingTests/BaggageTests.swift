import Testing

@testable import EventTracing

/// W3C Baggage §3 "Baggage HTTP Header Format" and §4 "Mutating baggage"; the cases follow
/// the spec's examples and the official test suite (test/test_baggage.py).
@Suite struct BaggageTests {
    @Test func parsesListMembersInOrder() {
        let baggage = Baggage("userId=alice,serverNode=DF%2028,isProduction=false")
        #expect(baggage.entries.map(\.key) == ["userId", "serverNode", "isProduction"])
        #expect(baggage["userId"] == "alice")
        #expect(baggage["isProduction"] == "false")
    }

    @Test func baggageValuesArePercentDecoded() {
        #expect(Baggage("serverNode=DF%2028")["serverNode"] == "DF 28")
        #expect(Baggage("userId=Am%C3%A9lie")["userId"] == "Amélie")
        let value = "\t \"';=asdf!@#$%^&*()"
        #expect(Baggage("SomeKey=%09%20%22%27%3B%3Dasdf%21%40%23%24%25%5E%26%2A%28%29")["SomeKey"] == value)
    }

    @Test func lowercasePercentEncodingIsDecodedToo() {
        #expect(Baggage("k=%c3%a9")["k"] == "é")
    }

    @Test func percentEncodedBytesThatAreNotUTF8BecomeTheReplacementCharacter() {
        #expect(Baggage("k=a%FFb")["k"] == "a\u{FFFD}b")
        #expect(Baggage("k=%C3")["k"] == "\u{FFFD}")
    }

    @Test func aPlusSignIsAPlusSignNotASpace() {
        // RFC 3986 percent-encoding, not HTML form encoding.
        #expect(Baggage("k=DF+28")["k"] == "DF+28")
    }

    @Test func aPercentSignNotFollowedByTwoHexDigitsIsKept() {
        #expect(Baggage("k=100%")["k"] == "100%")
        #expect(Baggage("k=%zz")["k"] == "%zz")
    }

    @Test func valuesArePercentEncodedWhenFormatted() {
        let baggage = Baggage([
            .init(key: "userId", value: "Amélie"),
            .init(key: "serverNode", value: "DF 28"),
            .init(key: "isProduction", value: "false"),
        ])
        #expect(baggage.headerValue == "userId=Am%C3%A9lie,serverNode=DF%2028,isProduction=false")
    }

    @Test func theCharactersOutsideBaggageOctetAndThePercentSignAreEncoded() {
        let baggage = Baggage([.init(key: "k", value: "\t \"',;\\%=!~")])
        #expect(baggage.headerValue == "k=%09%20%22'%2C%3B%5C%25=!~")
        #expect(Baggage(baggage.headerValue)["k"] == "\t \"',;\\%=!~")
    }

    @Test func valuesMayContainEqualSigns() {
        #expect(Baggage("SomeKey=SomeValue=equals")["SomeKey"] == "SomeValue=equals")
    }

    @Test func emptyValuesAreAllowed() {
        let baggage = Baggage("k=")
        #expect(baggage["k"] == "")
        #expect(baggage.headerValue == "k=")
    }

    @Test func optionalWhitespaceAroundKeysValuesAndPropertiesIsIgnored() {
        let baggage = Baggage(
            "SomeKey \t = \t SomeValue \t ; \t SomeProp \t , \t SomeKey2 \t = \t SomeValue2 \t ; \t ValueProp \t = \t PropVal"
        )
        #expect(baggage.entries.count == 2)
        #expect(baggage.entries[0] == .init(key: "SomeKey", value: "SomeValue", properties: [.init(key: "SomeProp")]))
        #expect(
            baggage.entries[1]
                == .init(key: "SomeKey2", value: "SomeValue2", properties: [.init(key: "ValueProp", value: "PropVal")])
        )
    }

    @Test func propertiesAreKeptInOrderIncludingRepeatedNames() {
        let baggage = Baggage("SomeKey=SomeValue;SomeProp;SomeProp=PropValue;SomeProp=AnotherPropValue")
        #expect(
            baggage.entries.first?.properties == [
                .init(key: "SomeProp"), .init(key: "SomeProp", value: "PropValue"),
                .init(key: "SomeProp", value: "AnotherPropValue"),
            ]
        )
        #expect(baggage.headerValue == "SomeKey=SomeValue;SomeProp;SomeProp=PropValue;SomeProp=AnotherPropValue")
    }

    @Test func propertyValuesArePercentDecodedAndEncoded() {
        let baggage = Baggage("k=v;p=%09%20%3B")
        #expect(baggage.entries.first?.properties == [.init(key: "p", value: "\t ;")])
        #expect(baggage.headerValue == "k=v;p=%09%20%3B")
    }

    @Test func aPropertyKeyIsATokenAndIsNotDecoded() {
        let baggage = Baggage("SomeKey=SomeValue;ValueProp%20%09%20%3D%20%09%20PropVal")
        #expect(baggage.entries.first?.properties == [.init(key: "ValueProp%20%09%20%3D%20%09%20PropVal")])
    }

    @Test func invalidListMembersAreDroppedAndTheOthersKept() {
        let baggage = Baggage("good=1,no-equals,bad key=2,=3,bad\"value=a\"b,k=v;bad prop,also=ok,k2=v v")
        #expect(baggage.entries.map(\.key) == ["good", "also"])
    }

    @Test func emptyMembersAndEmptyPropertiesAreIgnored() {
        let baggage = Baggage(" , a=1;,,b=2 ; ;p")
        #expect(baggage.entries == [.init(key: "a", value: "1"), .init(key: "b", value: "2", properties: [.init(key: "p")])])
    }

    @Test func nonASCIIBytesMakeAMemberInvalid() {
        #expect(Baggage("k=caf\u{e9},ok=1").entries.map(\.key) == ["ok"])
        #expect(Baggage("caf\u{e9}=1,ok=1").entries.map(\.key) == ["ok"])
    }

    @Test func multipleHeadersCombineIntoOneList() {
        let baggage = Baggage(["userId=alice", "serverNode=DF%2028,isProduction=false"].joined(separator: ","))
        #expect(baggage.entries.count == 3)
    }

    @Test func duplicateKeysAreKeptInOrderAndTheLastIsRead() {
        let baggage = Baggage("k=1,j=2,k=3")
        #expect(baggage["k"] == "3")
        #expect(baggage.headerValue == "k=1,j=2,k=3")
    }

    @Test func settingReplacesTheFirstEntryInPlaceAndDropsDuplicates() throws {
        let baggage = try Baggage("k=1,j=2,k=3").setting("new", forKey: "k")
        #expect(baggage.headerValue == "k=new,j=2")
    }

    @Test func settingANewKeyPutsItFirst() throws {
        let baggage = try Baggage("j=2").setting("1", forKey: "k", properties: [.init(key: "p")])
        #expect(baggage.headerValue == "k=1;p,j=2")
    }

    @Test func settingAKeyThatIsNotATokenThrows() {
        #expect(throws: BaggageError.invalidKey("bad key")) { try Baggage().setting("v", forKey: "bad key") }
        #expect(throws: BaggageError.invalidKey("")) { try Baggage().setting("v", forKey: "") }
    }

    @Test func removingDeletesEveryEntryOfTheKey() {
        #expect(Baggage("k=1,j=2,k=3").removing(key: "k").headerValue == "j=2")
    }

    @Test func sixtyFourMembersArePropagated() {
        let baggage = Baggage((0..<64).map { Baggage.Entry(key: "key\($0)", value: "value") })
        #expect(baggage.headerValue.split(separator: ",").count == 64)
    }

    @Test func membersBeyondSixtyFourAreDropped() {
        let header = (0..<70).map { "key\($0)=value" }.joined(separator: ",")
        let parsed = Baggage(header)
        #expect(parsed.entries.count == 64)
        #expect(parsed["key63"] == "value")
        #expect(parsed["key64"] == nil)
        let built = Baggage((0..<70).map { Baggage.Entry(key: "key\($0)", value: "value") })
        #expect(built.headerValue.split(separator: ",").count == 64)
    }

    @Test func aBaggageOf8192BytesIsPropagatedWhole() {
        let value = String(repeating: "0123456789", count: 819)
        let baggage = Baggage([.init(key: "a", value: value)])
        #expect(baggage.headerValue.utf8.count == 8192)
        #expect(Baggage(baggage.headerValue)["a"] == value)
    }

    @Test func aMemberThatWouldPassTheByteLimitIsDroppedWhole() {
        let big = String(repeating: "x", count: 8190)
        let baggage = Baggage([.init(key: "a", value: "1"), .init(key: "b", value: big), .init(key: "c", value: "3")])
        #expect(baggage.headerValue == "a=1,c=3")
        let parsed = Baggage("a=1,b=\(big),c=3")
        #expect(parsed.entries.map(\.key) == ["a", "c"])
    }

    @Test func parsesUTF8Bytes() {
        #expect(Baggage(utf8: Array("k=v%20w".utf8))["k"] == "v w")
    }
}

/// A header that is already in the form formatting writes is propagated as it came; any
/// other is rewritten to that form.
struct BaggageCanonicalFormTests {
    @Test(arguments: [
        ("userId=alice,serverNode=DF%2028,isProduction=false", "userId=alice,serverNode=DF%2028,isProduction=false"),
        ("k=100%25", "k=100%25"),
        ("k=v;p1;p2=x%3B", "k=v;p1;p2=x%3B"),
        ("k=%41", "k=A"),
        ("k=%2c", "k=%2C"),
        ("k=%e2%82%ac", "k=%E2%82%AC"),
        ("k=%FF", "k=%EF%BF%BD"),
        ("k = v ; p", "k=v;p"),
        ("k=v;", "k=v"),
        ("a=1,,b=2", "a=1,b=2"),
    ])
    func headerValueIsTheCanonicalForm(header: String, expected: String) {
        #expect(Baggage(header).headerValue == expected)
        #expect(Baggage(utf8: Array(header.utf8)).headerValue == expected)
    }

    @Test func settingAnEntryThatIsAlreadyThereChangesNothing() throws {
        let baggage = Baggage("correlation.id=01JDQ3ZR8Q6E7W2M4T1KX9V5NB,a=1")
        #expect(try baggage.setting("01JDQ3ZR8Q6E7W2M4T1KX9V5NB", forKey: "correlation.id") == baggage)
    }

    @Test func settingANewEntryPutsItInFront() throws {
        let baggage = try Baggage("a=1,b=x%20y").setting("v w", forKey: "c")
        #expect(baggage.headerValue == "c=v%20w,a=1,b=x%20y")
        #expect(baggage.entries.map(\.key) == ["c", "a", "b"])
    }
}
