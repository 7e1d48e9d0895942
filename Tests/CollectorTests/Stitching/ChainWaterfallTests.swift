import Foundation
import Telemetry
import Testing

@testable import Collector

private typealias F = Fixture

@Suite struct ChainWaterfallTests {
    static func detail(_ requests: [ExportTraceServiceRequest]) throws -> [String: Any] {
        let chain = try #require(F.stitch(requests, finalizeAfter: 120 * F.second).first)
        var object = ChainJSON.detail(chain)
        object["spans"] = try JSONSerialization.jsonObject(with: Data(F.merge(requests).otlpJSONBytes()))
        return object
    }

    @Test func linearChainHasOneLanePerServiceWithQueueWaits() throws {
        let text = ChainWaterfall.render(try Self.detail(F.linearChain()), width: 26)
        let expected = """
            chain \(F.trace(1).hex)  complete  end-to-end 130ms  4 hops, 9 spans
                          0                    130ms
            order        |=====================     |
            inventory    |    ..=======             |
            payment      |         .=========       |
            notification |              ..========= |
            audit        |                     .====|
            hops:
              1. orders: order -> inventory waited 10ms  *
              2. inventory.reserved: inventory -> payment waited 5ms  *
              3. payments: payment -> notification waited 5ms  *
              4. notifications: notification -> audit waited 5ms  *
            (* on the critical path; = span, x error, . queue wait, D dead letter)

            """
        #expect(text == expected, "\(text)")
    }

    @Test func errorsDeadLettersAndMissingPartsAreMarked() throws {
        let text = ChainWaterfall.render(try Self.detail([
            F.request("order", [F.span(1, 1, "orders send", kind: .producer, 0, 10, topic: "orders")]),
            F.request("payment", [
                F.span(2, 2, "orders process", kind: .consumer, 20, 30, topic: "orders", group: "payment", linksTo: [(1, 1)], error: true),
                F.span(2, 3, parent: 2, "orders.dlq send", kind: .producer, 25, 28, topic: "orders.dlq"),
            ]),
        ]), width: 30)
        #expect(text.contains("payment |"))
        #expect(text.contains("x"))
        #expect(text.contains("D"))
        #expect(text.contains("1. orders: order -> payment waited 10ms ERROR"))
        #expect(text.contains("2. orders.dlq: payment -> (no consumer)  DEAD LETTER"))
    }
}
