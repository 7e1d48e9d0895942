import Foundation
import Telemetry
import Testing

@testable import Collector

private typealias F = Fixture

/// `ChainJSON.data` writes what the store keeps and the API serves; it must read back as
/// exactly what `JSONSerialization` would have written.
@Suite struct ChainJSONTests {
    func parsed(_ data: Data) throws -> NSDictionary {
        try #require(try JSONSerialization.jsonObject(with: data) as? NSDictionary)
    }

    @Test func chainDetailReadsBackAsJSONSerializationWritesIt() throws {
        let chains = F.stitch(F.linearChain() + [
            F.request("billing", [F.span(40, 1, "invoices process", kind: .consumer, 0, 7, topic: "invoices", linksTo: [(41, 2)])])
        ])
        #expect(chains.count == 2)
        for chain in chains {
            let detail = ChainJSON.detail(chain)
            let ours = try ChainJSON.data(detail)
            let foundation = try JSONSerialization.data(withJSONObject: detail, options: [.sortedKeys])
            #expect(try parsed(ours) == parsed(foundation))
        }
    }

    /// The store writes `detailData`, typed; the API builds `detail` to add to it. Both
    /// must be the same bytes, for hops with and without consumers, both kinds of missing
    /// part, and absent fields (null).
    @Test func typedDetailIsTheSameBytesAsTheDictionary() throws {
        let chains = F.chainsOfEveryShape()
        #expect(chains.count == 3)
        #expect(chains.contains { $0.missing.contains { if case .unconsumedMessage = $0 { true } else { false } } })
        for chain in chains {
            let typed = ChainJSON.detailData(chain)
            #expect(typed == (try ChainJSON.data(ChainJSON.detail(chain))), "\(String(decoding: typed, as: UTF8.self))")
        }
    }

    @Test func stringsAreEscapedAndKeysSorted() throws {
        let object: [String: Any] = [
            "zeta": "quote \" backslash \\ newline \n tab \t bell \u{7} é ☕ /", "alpha": NSNull(), "mid": [1, -2, 3, Int.min, Int.max, 0],
            "nested": [["b": true, "a": false]] as [[String: Any]],
        ]
        let data = try ChainJSON.data(object)
        let text = String(decoding: data, as: UTF8.self)
        #expect(text.hasPrefix(#"{"alpha":null,"mid":[1,-2,3,-9223372036854775808,9223372036854775807,0],"nested":[{"a":false,"b":true}],"zeta":"quote \" backslash \\ newline \n tab \t bell \u0007 é ☕ /"}"#))
        #expect(try parsed(data) == (object as NSDictionary))
    }

    @Test func unsupportedValueNamesItsType() {
        #expect(throws: ChainJSONUnsupportedValue.self) { try ChainJSON.data(["when": Date()]) }
    }
}
