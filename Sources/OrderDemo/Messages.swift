import Foundation

/// The topics of the demo, in the order an order crosses them.
public enum DemoTopic {
    public static let orders = "order_events"
    public static let inventory = "inventory_events"
    public static let payments = "payment_events"
    public static let all = [orders, inventory, payments]
}

/// An order as the order service takes it (`POST /orders`).
public struct Order: Codable, Sendable, Equatable {
    public var orderID: String
    public var customer: String
    public var item: String
    public var quantity: Int

    enum CodingKeys: String, CodingKey {
        case orderID = "order_id"
        case customer, item, quantity
    }
}

/// What travels on every topic: the order and where it stands.
public struct OrderEvent: Codable, Sendable, Equatable {
    public enum Status: String, Codable, Sendable {
        case placed, reserved, outOfStock = "out_of_stock", paid, cancelled
    }

    public var order: Order
    public var status: Status
    public var detail: String?

    public init(order: Order, status: Status, detail: String? = nil) {
        self.order = order
        self.status = status
        self.detail = detail
    }

    func encoded() -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return Array((try? encoder.encode(self)) ?? Data())
    }

    static func decode(_ bytes: [UInt8]?) throws -> OrderEvent {
        guard let bytes else { throw DemoError.malformedEvent("the message has no value") }
        do {
            return try JSONDecoder().decode(OrderEvent.self, from: Data(bytes))
        } catch {
            throw DemoError.malformedEvent("\(error)")
        }
    }
}

/// The items whose orders take an unusual path, so that one run shows what Causeway sees.
public enum DemoItem {
    /// The payment provider fails once, then succeeds: a retried message.
    public static let flaky = "flaky-gadget"
    /// The payment is declined every time: the message goes to `inventory_events.dlq`.
    public static let poison = "poison-pill"
    /// The payment service's acknowledgement is lost and its producer sends again: the
    /// notification service skips the duplicate.
    public static let echo = "echo-chamber"
    /// Not in stock: the order is cancelled.
    public static let unobtainium = "unobtainium"

    /// What `causeway demo` orders, in turn.
    public static let scenario = ["book", flaky, poison, echo, unobtainium, "lamp"]
}

enum DemoError: Error, CustomStringConvertible {
    case malformedEvent(String)
    case paymentDeclined(orderID: String)
    case paymentProviderUnavailable(orderID: String)

    var description: String {
        switch self {
        case .malformedEvent(let reason): "malformed order event: \(reason)"
        case .paymentDeclined(let orderID): "payment declined for order \(orderID)"
        case .paymentProviderUnavailable(let orderID): "payment provider unavailable for order \(orderID)"
        }
    }
}
