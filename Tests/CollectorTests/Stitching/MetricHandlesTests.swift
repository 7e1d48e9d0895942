import Testing

@testable import Collector

/// The chain metrics' handles by label set, and the text comparison they and the chain
/// store's name lists use.
@Suite struct MetricHandlesTests {
    private struct Labels: LabelSet {
        var service: String?, topic: String?
        func isSame(as other: Self) -> Bool { service.isSameText(as: other.service) && topic.isSameText(as: other.topic) }
    }

    /// A handle per label set, made once, past the few compared before hashing; `nil` and
    /// the empty text are different label values.
    @Test func eachLabelSetHasOneHandleMadeOnce() {
        var handles = Handles<Labels, Int>()
        var made = 0
        func handle(_ labels: Labels) -> Int { handles.handle(labels) { made += 1; return made } }
        let sets = (0..<40).map { Labels(service: "inventory-service-\($0 % 7)", topic: "topic-\($0)") } + [
            Labels(service: nil, topic: "orders"), Labels(service: "", topic: "orders"), Labels(service: nil, topic: nil),
        ]
        let first = sets.map(handle)
        // The same texts in strings of their own find the same handles.
        func copy(_ text: String?) -> String? { text.map { String(decoding: Array($0.utf8), as: UTF8.self) } }
        let again = sets.map { handle(Labels(service: copy($0.service), topic: copy($0.topic))) }
        #expect(again == first)
        #expect(Set(first).count == sets.count)
        #expect(made == sets.count)
    }

    @Test func sameTextComparesLengthsThenContents() {
        #expect("inventory-service".isSameText(as: String(decoding: Array("inventory-service".utf8), as: UTF8.self)))
        #expect(!"orders".isSameText(as: "order"))
        #expect(!"orders".isSameText(as: "ordest"))
        #expect(Optional<String>.none.isSameText(as: nil))
        #expect(!Optional("").isSameText(as: nil))
        #expect(!Optional<String>.none.isSameText(as: ""))
    }
}
