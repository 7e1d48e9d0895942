import Foundation
import NIOCore
@testable import OrderDemo
import Testing

@Suite("The order demo's settings and order requests")
struct OrderDemoTests {
    @Test("config/demo.yaml holds the defaults, and every key of it is read")
    func shippedConfigIsTheDefaults() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let shipped = try DemoSettings.load(path: root.appendingPathComponent("config/demo.yaml").path)
        let defaults = DemoSettings()
        #expect(shipped.bootstrapServers == defaults.bootstrapServers)
        #expect(shipped.collectorEndpoint == defaults.collectorEndpoint)
        #expect(shipped.collectorQueryURL == defaults.collectorQueryURL)
        #expect((shipped.orderHost, shipped.orderPort) == (defaults.orderHost, defaults.orderPort))
        #expect(shipped.partitions == defaults.partitions)
        #expect(shipped.exportInterval == defaults.exportInterval)
        #expect((shipped.brokerPort, shipped.collectorOTLPPort, shipped.collectorZipkinPort, shipped.collectorHTTPPort) == (9092, 4318, 9411, 8686))
        #expect(shipped.brokerMetricsPort == defaults.brokerMetricsPort)
        #expect(shipped.chainIdleWindow == defaults.chainIdleWindow)
        #expect(shipped.dataDirectory == defaults.dataDirectory)
    }

    @Test("bad settings are refused with the key at fault", arguments: [
        ("order_prot: 8000", "unknown key \"order_prot\""),
        ("order_port: 70000", "order_port must be a port"),
        ("partitions: 0", "partitions must be from 1 to 1000"),
        ("export_interval: soon", "export_interval must be a duration"),
        ("bootstrap_servers: []", "bootstrap_servers is empty"),
        ("- a list", "the top level must be a mapping"),
    ])
    func badSettings(text: String, message: String) {
        do {
            _ = try DemoSettings.parse(text)
            Issue.record("\(text) was accepted")
        } catch {
            #expect("\(error)".contains(message), "\(error)")
        }
    }

    @Test("a comma-separated bootstrap list and durations in ms, s and m are read")
    func settingsForms() throws {
        let settings = try DemoSettings.parse("bootstrap_servers: a:1, b:2\nexport_interval: 250ms\nchain_idle_window: 1m\n")
        #expect(settings.bootstrapServers == ["a:1", "b:2"])
        #expect(settings.exportInterval == .milliseconds(250))
        #expect(settings.chainIdleWindow == .seconds(60))
    }

    @Test("an order body is checked field by field", arguments: [
        (#"{"item": "book", "customer": "ada", "quantity": 2}"#, nil),
        (#"{"item": "book"}"#, nil),
        (#"{"customer": "ada"}"#, "item must be"),
        (#"{"item": ""}"#, "item must be"),
        (#"{"item": "book", "quantity": 1.5}"#, "quantity must be a whole number"),
        (#"{"item": "book", "quantity": true}"#, "quantity must be a whole number"),
        (#"{"item": "book", "quantity": 0}"#, "quantity must be a whole number"),
        (#"{"item": 7}"#, "item must be a string"),
        ("not json", "the body must be a JSON object"),
    ] as [(String, String?)])
    func orderBodies(body: String, problem: String?) {
        switch OrderRequest.parse(ByteBuffer(string: body)) {
        case .success(let order):
            #expect(problem == nil, "accepted \(body)")
            #expect(order.orderID.count == 12 && order.quantity >= 1)
        case .failure(let failure):
            #expect(problem.map { failure.message.contains($0) } == true, "\(body): \(failure.message)")
        }
    }

    @Test("order events keep their JSON field names across services")
    func eventJSON() throws {
        let event = OrderEvent(order: Order(orderID: "abc", customer: "ada", item: "book", quantity: 1), status: .outOfStock, detail: "none left")
        let text = String(decoding: event.encoded(), as: UTF8.self)
        #expect(text.contains(#""order_id":"abc""#) && text.contains(#""status":"out_of_stock""#))
        #expect(try OrderEvent.decode(event.encoded()) == event)
        #expect(throws: (any Error).self) { try OrderEvent.decode(Array("{}".utf8)) }
    }
}
