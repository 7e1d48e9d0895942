import Testing

@testable import EventTracing

/// W3C Trace Context Level 2 §3.3 "Tracestate Header" and §3.5 "Mutating the tracestate
/// Field"; the cases mirror the official test harness (test/test.py).
@Suite struct TraceStateTests {
    static let allKeyCharacters = "abcdefghijklmnopqrstuvwxyz0123456789_-*/"
    static let allValueCharacters: String = {
        let bytes = Array(UInt8(0x20)...0x2B) + Array(UInt8(0x2D)...0x3C) + Array(UInt8(0x3E)...0x7E)
        return String(decoding: bytes, as: UTF8.self)
    }()

    @Test func parsesMembersInOrder() throws {
        let state = try #require(TraceState("rojo=00f067aa0ba902b7,congo=t61rcWkgMzE"))
        #expect(state.entries.map(\.key) == ["rojo", "congo"])
        #expect(state["rojo"] == "00f067aa0ba902b7")
        #expect(state["congo"] == "t61rcWkgMzE")
        #expect(state.headerValue() == "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE")
    }

    @Test func emptyTracestateIsValidAndEmpty() throws {
        #expect(try #require(TraceState("")).isEmpty)
        #expect(try #require(TraceState(" \t ")).isEmpty)
    }

    @Test func emptyListMembersAreIgnored() throws {
        let state = try #require(TraceState("foo=1,,  , \t,bar=2,"))
        #expect(state.entries.map(\.key) == ["foo", "bar"])
        #expect(try #require(TraceState(",foo=1")).entries.count == 1)
    }

    @Test func optionalWhitespaceAroundMembersIsIgnored() throws {
        for header in ["foo=1 \t , \t bar=2, \t baz=3", "foo=1\t \t,\t \tbar=2,\t \tbaz=3"] {
            let state = try #require(TraceState(header))
            #expect(state["foo"] == "1")
            #expect(state["bar"] == "2")
            #expect(state["baz"] == "3")
        }
        for header in [" foo=1", "\tfoo=1", "foo=1 ", "foo=1\t", "\t foo=1 \t"] {
            #expect(try #require(TraceState(header))["foo"] == "1")
        }
    }

    @Test func leadingSpacesOfAValueArePartOfIt() throws {
        #expect(try #require(TraceState("foo=  bar"))["foo"] == "  bar")
    }

    @Test func multipleHeadersCombinedWithCommasKeepTheirOrder() throws {
        let combined = ["foo=1,bar=2", "rojo=1,congo=2", "baz=3"].joined(separator: ",")
        let state = try #require(TraceState(combined))
        #expect(state.headerValue() == "foo=1,bar=2,rojo=1,congo=2,baz=3")
    }

    @Test func emptyHeaderCombinedWithAnotherKeepsTheOther() throws {
        #expect(try #require(TraceState("foo=1,"))["foo"] == "1")
        #expect(try #require(TraceState(",foo=1"))["foo"] == "1")
    }

    @Test func allAllowedCharactersAreAccepted() throws {
        let key = Self.allKeyCharacters
        let value = Self.allValueCharacters
        let state = try #require(TraceState("\(key)=\(value)"))
        #expect(state[key] == value)
        let vendorKey = key + "@a-z0-9_-*/"
        #expect(try #require(TraceState("\(vendorKey)=\(value)"))[vendorKey] == value)
    }

    @Test func keysMayStartWithADigit() throws {
        #expect(try #require(TraceState("1special=x"))["1special"] == "x")
    }

    @Test func keysWithIllegalCharactersInvalidateTheHeader() {
        #expect(TraceState("foo =1") == nil)
        #expect(TraceState("FOO=1") == nil)
        #expect(TraceState("foo.bar=1") == nil)
        #expect(TraceState("_foo=1") == nil)
        #expect(TraceState("=1") == nil)
    }

    @Test func multiTenantKeysFollowTheLevel2KeyGrammar() throws {
        let state = try #require(TraceState("foo@=1,foo@@bar=2,foo@bar@baz=3,fw529a3039@dt=4"))
        #expect(state["foo@"] == "1")
        #expect(state["foo@@bar"] == "2")
        #expect(state["foo@bar@baz"] == "3")
        #expect(state["fw529a3039@dt"] == "4")
    }

    @Test func keyStartingWithAnAtSignInvalidatesTheHeader() {
        #expect(TraceState("@foo=1,bar=2") == nil)
    }

    @Test func keysOf256CharactersAreAcceptedAnd257Rejected() throws {
        let key = String(repeating: "z", count: 256)
        let state = try #require(TraceState("foo=1,\(key)=1"))
        #expect(state[key] == "1")
        #expect(TraceState("foo=1," + String(repeating: "z", count: 257) + "=1") == nil)
    }

    @Test func multiTenantKeysAreLimitedOnlyByTheTotalKeyLength() throws {
        // Level 2's grammar has no 241/14 tenant/system split (Level 1 had one).
        for key in [
            String(repeating: "t", count: 241) + "@" + String(repeating: "v", count: 14),
            String(repeating: "t", count: 242) + "@v",
            "t@" + String(repeating: "v", count: 15),
        ] {
            let state = try #require(TraceState("foo=1,\(key)=1"))
            #expect(state[key] == "1")
            #expect(state["foo"] == "1")
        }
        #expect(TraceState(String(repeating: "t", count: 242) + "@" + String(repeating: "v", count: 14) + "=1") == nil)
    }

    @Test func valuesOf256CharactersAreAcceptedAnd257Rejected() throws {
        let value = String(repeating: "v", count: 256)
        #expect(try #require(TraceState("foo=\(value)"))["foo"] == value)
        #expect(TraceState("foo=" + String(repeating: "v", count: 257)) == nil)
    }

    @Test func valuesWithIllegalCharactersInvalidateTheHeader() {
        #expect(TraceState("foo=bar=baz") == nil)
        #expect(TraceState("foo=,bar=3") == nil)
        #expect(TraceState("foo=a\tb") == nil)
        #expect(TraceState("foo=\u{7F}") == nil)
        #expect(TraceState("foo=caf\u{e9}") == nil)
    }

    @Test func tracestateWithThirtyTwoMembersIsKept() throws {
        let header = (1...32).map { "bar\($0)=\($0)" }.joined(separator: ",")
        let state = try #require(TraceState(header))
        #expect(state.entries.count == 32)
        #expect(state["bar1"] == "1")
    }

    @Test func tracestateWithThirtyThreeMembersIsDropped() {
        let header = (1...33).map { "bar\($0)=\($0)" }.joined(separator: ",")
        #expect(TraceState(header) == nil)
    }

    @Test func emptyMembersDoNotCountTowardTheLimit() throws {
        let header = (1...32).map { "bar\($0)=\($0)" }.joined(separator: ",,")
        #expect(try #require(TraceState(header)).entries.count == 32)
    }

    @Test func duplicateKeysKeepTheFirstEntryAndTheRestOfTheHeader() throws {
        let same = try #require(TraceState("foo=1,foo=1"))
        #expect(same.headerValue() == "foo=1")
        let different = try #require(TraceState("foo=1,bar=2,foo=3"))
        #expect(different.headerValue() == "foo=1,bar=2")
    }

    @Test func updatingMovesTheEntryToTheFront() throws {
        let state = try #require(TraceState("congo=t61rcWkgMzE,rojo=00f067aa0ba902b7"))
        let updated = try state.updating(key: "rojo", value: "b9c7c989f97918e1")
        #expect(updated.headerValue() == "rojo=b9c7c989f97918e1,congo=t61rcWkgMzE")
    }

    @Test func addingANewKeyPutsItOnTheLeft() throws {
        let state = try #require(TraceState("congo=t61rcWkgMzE"))
        #expect(try state.updating(key: "rojo", value: "1").headerValue() == "rojo=1,congo=t61rcWkgMzE")
    }

    @Test func addingTheThirtyThirdEntryRemovesTheRightMost() throws {
        let state = try #require(TraceState((1...32).map { "bar\($0)=\($0)" }.joined(separator: ",")))
        let updated = try state.updating(key: "ours", value: "x")
        #expect(updated.entries.count == 32)
        #expect(updated.entries.first?.key == "ours")
        #expect(updated["bar32"] == nil)
        #expect(updated["bar31"] == "31")
    }

    @Test func updatingWithAnInvalidKeyOrValueThrows() throws {
        let state = TraceState()
        #expect(throws: TraceStateError.invalidKey("Rojo")) { try state.updating(key: "Rojo", value: "1") }
        #expect(throws: TraceStateError.invalidValue("a,b")) { try state.updating(key: "rojo", value: "a,b") }
        #expect(throws: TraceStateError.invalidValue("")) { try state.updating(key: "rojo", value: "") }
        #expect(throws: TraceStateError.invalidValue("x ")) { try state.updating(key: "rojo", value: "x ") }
    }

    @Test func removingDeletesTheEntry() throws {
        let state = try #require(TraceState("a=1,b=2,c=3"))
        #expect(state.removing(key: "b").headerValue() == "a=1,c=3")
    }

    @Test func headerWithin512CharactersIsPropagatedWhole() throws {
        // 32 members of 15 characters and 31 commas: exactly 511 characters.
        let header = (10..<42).map { "k\($0)=" + String(repeating: "v", count: 11) }.joined(separator: ",")
        #expect(header.utf8.count == 511)
        #expect(try #require(TraceState(header)).headerValue() == header)
    }

    @Test func truncationRemovesEntriesLongerThan128CharactersFirst() throws {
        let long = "long=" + String(repeating: "x", count: 200)
        let wide = "wide=" + String(repeating: "x", count: 200)
        let short = (1...20).map { "s\($0)=" + String(repeating: "y", count: 10) }
        let header = ([long] + short[0..<10] + [wide] + short[10...]).joined(separator: ",")
        let state = try #require(TraceState(header))
        let value = state.headerValue()
        // Dropping `wide` is enough to fit; the short entries after it all survive.
        #expect(value == ([long] + short).joined(separator: ","))
        #expect(value.utf8.count <= 512)
        let moreLong = try state.updating(key: "long2", value: String(repeating: "z", count: 200))
        // With three long entries, the two right-most long ones go and the newest stays.
        #expect(moreLong.headerValue() == (["long2=" + String(repeating: "z", count: 200)] + short).joined(separator: ","))
    }

    @Test func truncationThenRemovesEntriesFromTheEnd() throws {
        let entries = (1...32).map { "k\($0)=" + String(repeating: "v", count: 20) }
        let state = try #require(TraceState(entries.joined(separator: ",")))
        let value = state.headerValue()
        #expect(value.utf8.count <= 512)
        let kept = value.split(separator: ",").map(String.init)
        #expect(kept == Array(entries.prefix(kept.count)))
        #expect(kept.count < 32)
    }

    @Test func truncationKeepsLongEntriesWhenRemovingOthersIsNotNeeded() throws {
        let long = "long=" + String(repeating: "x", count: 200)
        #expect(try #require(TraceState(long)).headerValue() == long)
    }

    @Test func truncationHonoursASmallerDocumentedLimit() throws {
        let state = try #require(TraceState("a=1,b=2,c=3"))
        #expect(state.headerValue(maxLength: 7) == "a=1,b=2")
        #expect(state.headerValue(maxLength: 2) == "")
    }
}
