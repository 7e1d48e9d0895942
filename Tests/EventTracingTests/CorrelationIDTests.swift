import Testing

@testable import EventTracing

@Suite struct CorrelationIDTests {
    static let crockford = Set("0123456789ABCDEFGHJKMNPQRSTVWXYZ".utf8)

    @Test func generatedIDsAre26CrockfordBase32Characters() {
        let id = CorrelationID.generate()
        #expect(id.rawValue.utf8.count == 26)
        #expect(id.rawValue.utf8.allSatisfy { Self.crockford.contains($0) })
    }

    @Test func theFirst10CharactersEncodeTheMillisecondTime() {
        var generator = ULIDGenerator()
        var random = SplitMix(seed: 1)
        // The ULID spec's example time: 1469918176385 ms is "01ARYZ6S41".
        let id = generator.next(milliseconds: 1_469_918_176_385, using: &random)
        #expect(id.rawValue.hasPrefix("01ARYZ6S41"))
    }

    @Test func encodingPlacesTheHighestBitsFirst() {
        #expect(ULIDGenerator.encode(time: 0, randomHigh: 0, randomLow: 0) == String(repeating: "0", count: 26))
        #expect(ULIDGenerator.encode(time: 0, randomHigh: 0, randomLow: 31) == String(repeating: "0", count: 25) + "Z")
        #expect(
            ULIDGenerator.encode(time: 0xFFFF_FFFF_FFFF, randomHigh: .max, randomLow: .max)
                == "7" + String(repeating: "Z", count: 25)
        )
    }

    @Test func idsInTheSameMillisecondIncreaseMonotonically() {
        var generator = ULIDGenerator()
        var random = SplitMix(seed: 7)
        let ids = (0..<100).map { _ in generator.next(milliseconds: 1_000, using: &random).rawValue }
        #expect(ids == ids.sorted())
        #expect(Set(ids).count == 100)
    }

    @Test func idsStaySortedWhenTheClockStepsBack() {
        var generator = ULIDGenerator()
        var random = SplitMix(seed: 3)
        let first = generator.next(milliseconds: 2_000, using: &random).rawValue
        let second = generator.next(milliseconds: 1_500, using: &random).rawValue
        #expect(first < second)
    }

    @Test func laterMillisecondsSortLater() {
        var generator = ULIDGenerator()
        var random = SplitMix(seed: 5)
        let earlier = generator.next(milliseconds: 1_000, using: &random).rawValue
        let later = generator.next(milliseconds: 1_001, using: &random).rawValue
        #expect(earlier < later)
    }

    @Test func generatedIDsAreUniqueAcrossTasks() async {
        let ids = await withTaskGroup(of: [String].self) { group in
            for _ in 0..<4 {
                group.addTask { (0..<250).map { _ in CorrelationID.generate().rawValue } }
            }
            return await group.reduce(into: [String]()) { $0 += $1 }
        }
        #expect(Set(ids).count == 1_000)
    }

    @Test func incomingIDsOfVisibleASCIIAreAcceptedAsTheyAre() {
        #expect(CorrelationID("8f14e45f-ceea-467f-a0e6-5b3c5d0c3a1b")?.rawValue == "8f14e45f-ceea-467f-a0e6-5b3c5d0c3a1b")
        #expect(CorrelationID("order:42")?.rawValue == "order:42")
        #expect(CorrelationID(String(repeating: "a", count: 255)) != nil)
    }

    @Test func emptyOverlongOrControlCharacterIDsAreRefused() {
        #expect(CorrelationID("") == nil)
        #expect(CorrelationID(String(repeating: "a", count: 256)) == nil)
        #expect(CorrelationID("a b") == nil)
        #expect(CorrelationID("a\nlevel=error") == nil)
        #expect(CorrelationID("caf\u{e9}") == nil)
    }
}

/// A small deterministic generator, so that ULID tests do not depend on the system's.
struct SplitMix: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
