import EventTracing
import EventTracingHTTP
import EventTracingOTLP
import Foundation
import Hummingbird
import KafkaClient
import Logging
import NIOCore
import Synchronization
import Tracing

/// The four services of the demo. Each is one `run` that lasts until its task is
/// cancelled; `causeway service NAME` runs one per process, `causeway demo` all four in one.
public enum DemoService: String, CaseIterable, Sendable {
    case order, inventory, payment, notification

    /// `service.name` of its spans and logs.
    public var serviceName: String { "\(rawValue)-service" }

    /// Runs the service. `onReady` gets the order service's bound port (0 for the
    /// others) once it takes requests or has joined its consumer group.
    public func run(settings: DemoSettings, runtime: ServiceRuntime, onReady: @escaping @Sendable (Int) async -> Void = { _ in }) async throws {
        try await createTopics(runtime, settings: settings)
        try await runtime.run {
            switch self {
            case .order: try await OrderService(runtime: runtime, settings: settings).run(onReady: onReady)
            case .inventory: try await Stage.inventory.run(runtime, onReady: onReady)
            case .payment: try await Stage.payment.run(runtime, onReady: onReady)
            case .notification: try await Stage.notification.run(runtime, onReady: onReady)
            }
        }
    }

    /// The demo's topics, with `partitions` each; those that exist are left alone.
    func createTopics(_ runtime: ServiceRuntime, settings: DemoSettings) async throws {
        try await runtime.cluster.createTopics(DemoTopic.all.map { NewTopic(name: $0, partitions: settings.partitions) }
            + [NewTopic(name: DemoTopic.inventory + ".dlq", partitions: 1)])
    }
}

/// `POST /orders` with `{"customer": "...", "item": "...", "quantity": n}`: answers 202
/// with the order ID and correlation ID once the order is on `order_events`.
struct OrderService {
    let runtime: ServiceRuntime
    let settings: DemoSettings

    func run(onReady: @escaping @Sendable (Int) async -> Void) async throws {
        let router = Router()
        router.add(middleware: EventTracingMiddleware(tracer: runtime.tracing.tracer))
        let runtime = runtime
        router.post("/orders") { request, context -> Response in
            let body = try await request.body.collect(upTo: 64 * 1024)
            let order: Order
            switch OrderRequest.parse(body) {
            case .success(let parsed): order = parsed
            case .failure(let problem): return Self.json(.badRequest, ["error": problem.message])
            }
            let event = OrderEvent(order: order, status: .placed)
            let report = try await runtime.producer.send(OutgoingMessage(topic: DemoTopic.orders, key: Array(order.orderID.utf8), value: event.encoded()))
            let correlationID = ServiceContext.current?.correlationID?.rawValue ?? ""
            let traceID = ServiceContext.current?.spanContext?.traceID.description ?? ""
            runtime.logger.info("order placed", metadata: [
                "order_id": "\(order.orderID)", "item": "\(order.item)", "partition": "\(report.partition)", "offset": "\(report.offset)",
            ])
            return Self.json(.accepted, ["order_id": order.orderID, "correlation_id": correlationID, "trace_id": traceID])
        }
        router.get("/healthz") { _, _ in "ok\n" }
        let app = Application(
            router: router,
            configuration: ApplicationConfiguration(address: .hostname(settings.orderHost, port: settings.orderPort)),
            onServerRunning: { channel in await onReady(channel.localAddress?.port ?? settings.orderPort) },
            logger: quietLogger(runtime.logger))
        try await app.runService(gracefulShutdownSignals: [])
    }

    static func json(_ status: HTTPResponse.Status, _ object: [String: String]) -> Response {
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data()
        var buffer = ByteBuffer(bytes: data)
        buffer.writeString("\n")
        return Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: buffer))
    }
}

/// A `POST /orders` body, checked field by field.
enum OrderRequest {
    struct Problem: Error {
        var message: String
    }

    /// The body's fields; JSONDecoder refuses a fraction or `true` where a whole number
    /// belongs, and the coding path names the field.
    private struct Body: Decodable {
        var item: String?
        var customer: String?
        /// A Double, so that 1.5 is read and refused here with the field's name (the
        /// decoder's own refusal of it as an Int names no field).
        var quantity: Double?
    }

    /// The field a decoding error is about, when it is about one.
    private static func field(of error: any Error) -> String? {
        let path: [any CodingKey]
        switch error as? DecodingError {
        case .typeMismatch(_, let context), .valueNotFound(_, let context), .keyNotFound(_, let context), .dataCorrupted(let context):
            path = context.codingPath
        default:
            return nil
        }
        return path.isEmpty ? nil : path.map(\.stringValue).joined(separator: ".")
    }

    static func parse(_ body: ByteBuffer) -> Result<Order, Problem> {
        let fields: Body
        do {
            fields = try JSONDecoder().decode(Body.self, from: Data(body.readableBytesView))
        } catch {
            // A string where a number belongs, or `true`: the decoder's coding path names
            // the field.
            switch Self.field(of: error) {
            case "quantity": return .failure(Problem(message: "quantity must be a whole number from 1 to 1000"))
            case let field?: return .failure(Problem(message: "\(field) must be a string"))
            case nil: return .failure(Problem(message: "the body must be a JSON object such as {\"customer\": \"ada\", \"item\": \"book\", \"quantity\": 1}"))
            }
        }
        guard let item = fields.item, !item.isEmpty, item.count <= 100 else {
            return .failure(Problem(message: "item must be a non-empty string of at most 100 characters"))
        }
        let customer = fields.customer ?? "guest"
        guard !customer.isEmpty, customer.count <= 100 else {
            return .failure(Problem(message: "customer must be a non-empty string of at most 100 characters"))
        }
        let quantity = fields.quantity ?? 1
        guard quantity.rounded() == quantity, (1...1000).contains(quantity) else {
            return .failure(Problem(message: "quantity must be a whole number from 1 to 1000"))
        }
        return .success(Order(orderID: ServiceRuntime.newOrderID(), customer: customer, item: item, quantity: Int(quantity)))
    }
}

/// The three consumers, each reading one topic and writing the next.
enum Stage {
    case inventory, payment, notification

    var input: String {
        switch self {
        case .inventory: DemoTopic.orders
        case .payment: DemoTopic.inventory
        case .notification: DemoTopic.payments
        }
    }

    func run(_ runtime: ServiceRuntime, onReady: @escaping @Sendable (Int) async -> Void) async throws {
        var configuration = ConsumerConfiguration(groupID: runtime.name, topics: [input])
        configuration.heartbeatInterval = .milliseconds(500)
        let consumer = KafkaConsumer(cluster: runtime.cluster, configuration: configuration, deadLetters: runtime.producer, tracer: runtime.tracing.tracer, logger: runtime.logger)
        let handler = self.handler(runtime)
        let ready = Mutex(false)
        try await consumer.run(onAssignment: { _ in
            if ready.withLock({ let first = !$0; $0 = true; return first }) { await onReady(0) }
        }, handler)
    }

    private func handler(_ runtime: ServiceRuntime) -> @Sendable (ConsumedMessage, any Span) async throws -> Void {
        switch self {
        case .inventory:
            return { message, _ in
                let event = try OrderEvent.decode(message.value)
                let inStock = event.order.item != DemoItem.unobtainium
                let next = OrderEvent(order: event.order, status: inStock ? .reserved : .outOfStock, detail: inStock ? nil : "\(event.order.item) is not in stock")
                runtime.logger.info(inStock ? "stock reserved" : "out of stock", metadata: ["order_id": "\(event.order.orderID)", "item": "\(event.order.item)"])
                try await runtime.producer.send(OutgoingMessage(topic: DemoTopic.inventory, key: message.key, value: next.encoded()))
            }
        case .payment:
            let failedOnce = Mutex(Set<String>())
            return { message, span in
                let event = try OrderEvent.decode(message.value)
                let order = event.order
                guard event.status == .reserved else {
                    let next = OrderEvent(order: order, status: .cancelled, detail: event.detail)
                    try await runtime.producer.send(OutgoingMessage(topic: DemoTopic.payments, key: message.key, value: next.encoded()))
                    return
                }
                if order.item == DemoItem.poison {
                    runtime.logger.error("payment declined", metadata: ["order_id": "\(order.orderID)", "attempt": "\(message.attempt)"])
                    throw DemoError.paymentDeclined(orderID: order.orderID)
                }
                if order.item == DemoItem.flaky, failedOnce.withLock({ $0.insert(order.orderID).inserted }) {
                    runtime.logger.warning("payment provider unavailable", metadata: ["order_id": "\(order.orderID)"])
                    throw DemoError.paymentProviderUnavailable(orderID: order.orderID)
                }
                runtime.logger.info("payment captured", metadata: ["order_id": "\(order.orderID)", "attempt": "\(message.attempt)"])
                let next = OrderEvent(order: order, status: .paid)
                let outgoing = OutgoingMessage(topic: DemoTopic.payments, key: message.key, value: next.encoded())
                if order.item == DemoItem.echo {
                    try await sendTwice(outgoing, runtime)
                } else {
                    try await runtime.producer.send(outgoing)
                }
            }
        case .notification:
            let seen = DuplicateFilter()
            return seen.skippingDuplicates { message, _ in
                let event = try OrderEvent.decode(message.value)
                let text = event.status == .paid ? "order confirmed" : "order cancelled"
                runtime.logger.info("customer notified", metadata: [
                    "order_id": "\(event.order.orderID)", "customer": "\(event.order.customer)", "notice": "\(text)",
                ])
            }
        }
    }

    /// A producer retry after a lost acknowledgement: the same message (same trace
    /// context, same message ID) lands twice.
    private func sendTwice(_ message: OutgoingMessage, _ runtime: ServiceRuntime) async throws {
        var message = message
        message.headers[KafkaClientHeader.messageID] = KafkaProducer.newMessageID()
        try await withSendSpan(destination: message.topic, headers: message.headers, key: message.key.flatMap { String(validating: $0, as: UTF8.self) },
                               messageID: message.headers[KafkaClientHeader.messageID], tracer: runtime.tracing.tracer) { headers, _ in
            var stamped = message
            stamped.headers = headers
            try await runtime.producer.sendUntraced(stamped)
            runtime.logger.warning("acknowledgement lost; sending again", metadata: ["topic": "\(message.topic)"])
            try await runtime.producer.sendUntraced(stamped)
        }
    }
}

extension ServiceRuntime {
    static func newOrderID() -> String {
        String(KafkaProducer.newMessageID().prefix(12))
    }
}

/// Hummingbird's own logger, kept to warnings so the demo's JSON lines stay the services'.
func quietLogger(_ logger: Logger) -> Logger {
    var quiet = logger
    quiet.logLevel = .warning
    return quiet
}
