import Broker
import EventTracing
import Foundation
import KafkaClient
import KafkaWire
import Logging
import NIOCore
import NIOPosix
import Synchronization
import Testing
import Tracing

/// A broker in memory, on an ephemeral port unless `port` is given; returns its task and port.
func startBroker(port: Int = 0, advertisedPort: Int? = nil) async throws -> (task: Task<Void, any Error>, port: Int) {
    var configuration = BrokerConfiguration()
    configuration.port = port
    configuration.advertisedPort = advertisedPort
    configuration.metricsPort = -1
    configuration.inMemory = true
    configuration.retentionMs = nil
    let (ports, continuation) = AsyncStream.makeStream(of: Int.self)
    let broker = KafkaBroker(configuration: configuration, logger: Logger(label: "test.broker"))
    let task = Task { try await broker.run { continuation.yield($0.kafka) } }
    var iterator = ports.makeAsyncIterator()
    guard let bound = await iterator.next() else { throw CancellationError() }
    return (task, bound)
}

/// A broker for the length of `body`, which gets its `host:port`.
func withBroker<T: Sendable>(_ body: (String) async throws -> T) async throws -> T {
    let (task, port) = try await startBroker()
    defer { task.cancel() }
    return try await body("127.0.0.1:\(port)")
}

func cluster(_ server: String) throws -> KafkaCluster {
    var configuration = KafkaClientConfiguration(bootstrapServers: [server], clientID: "client-test")
    configuration.requestTimeout = .seconds(10)
    return try KafkaCluster(configuration: configuration)
}

/// Collects what a consumer handles.
final class Received: Sendable {
    private let messages = Mutex<[ConsumedMessage]>([])
    var all: [ConsumedMessage] { messages.withLock { $0 } }
    func add(_ message: ConsumedMessage) { messages.withLock { $0.append(message) } }

    /// Waits until `predicate` holds, up to `seconds` (generous: CI runs the suites in parallel on two cores).
    func wait(seconds: Int = 60, until predicate: ([ConsumedMessage]) -> Bool) async throws {
        let deadline = ContinuousClock.now + .seconds(seconds)
        while !predicate(all) {
            guard ContinuousClock.now < deadline else { return }
            try await Task.sleep(for: .milliseconds(50))
        }
    }
}

/// The partitions each member was given last.
final class Assignments: Sendable {
    private let given = Mutex<[String: [Int32]]>([:])
    var all: [String: [Int32]] { given.withLock { $0 } }
    func set(_ member: String, _ partitions: [Int32]) { given.withLock { $0[member] = partitions.sorted() } }
}

final class Counter: Sendable {
    private let count = Mutex(0)
    var value: Int { count.withLock { $0 } }
    func increment() { count.withLock { $0 += 1 } }
}

func fastGroup(_ group: String, _ topics: [String]) -> ConsumerConfiguration {
    var configuration = ConsumerConfiguration(groupID: group, topics: topics)
    configuration.heartbeatInterval = .milliseconds(200)
    configuration.sessionTimeout = .seconds(6)
    configuration.maxWait = .milliseconds(100)
    configuration.retryBackoff = .milliseconds(10)
    return configuration
}

@Suite("KafkaClient against the built-in broker")
struct KafkaClientTests {
    @Test("sent messages arrive in order per partition, on the key's murmur2 partition, with trace context, correlation and message IDs")
    func produceAndConsume() async throws {
        try await withBroker { server in
            let cluster = try cluster(server)
            try await cluster.createTopics([NewTopic(name: "orders", partitions: 3)])
            let tracer = SpanRecorder()
            let producer = KafkaProducer(cluster: cluster, tracer: tracer)
            var reports: [DeliveryReport] = []
            for index in 0..<12 {
                reports.append(try await producer.send(OutgoingMessage(topic: "orders", key: "key-\(index % 4)", value: "value-\(index)")))
            }
            for (index, report) in reports.enumerated() {
                #expect(report.partition == Murmur2.partition(forKey: Array("key-\(index % 4)".utf8), partitionCount: 3))
            }
            let received = Received()
            let consumer = KafkaConsumer(cluster: cluster, configuration: fastGroup("readers", ["orders"]), tracer: tracer)
            let task = Task { try await consumer.run { message, _ in received.add(message) } }
            try await received.wait { $0.count >= 12 }
            task.cancel()
            try await task.value
            let messages = received.all
            #expect(messages.count == 12)
            for partition in Set(messages.map(\.partition)) {
                let offsets = messages.filter { $0.partition == partition }.map(\.offset)
                #expect(offsets == offsets.sorted())
            }
            let sends = tracer.spans.filter { $0.kind == .producer }
            let processes = tracer.spans.filter { $0.kind == .consumer }
            #expect(sends.count == 12 && processes.count == 12)
            #expect(sends.allSatisfy { $0.operationName == "send orders" })
            for message in messages {
                let traceparent = try #require(message.headers["traceparent"])
                let send = try #require(sends.first { $0.string("messaging.message.id") == message.messageID })
                #expect(traceparent == send.identity.traceParent.headerValue)
                #expect(message.headers["correlation-id"] != nil)
                #expect(message.headers["baggage"]?.contains("correlation.id=") == true)
                let process = try #require(processes.first { $0.string("messaging.message.id") == message.messageID })
                #expect(process.recorded.links.map { [$0.traceID.description, $0.spanID.description] } == [[send.identity.traceID.description, send.identity.spanID.description]])
                #expect(process.string("messaging.consumer.group.name") == "readers")
                #expect(process.string("messaging.message.conversation_id") == message.headers["correlation-id"])
            }
            await cluster.shutdown()
        }
    }

    @Test("two members split the partitions; when one leaves, the other takes them, and committed offsets are not handled again")
    func groupRebalanceAndCommit() async throws {
        try await withBroker { server in
            let cluster = try cluster(server)
            try await cluster.createTopics([NewTopic(name: "events", partitions: 4)])
            let producer = KafkaProducer(cluster: cluster)
            for index in 0..<40 { try await producer.sendUntraced(OutgoingMessage(topic: "events", key: "k\(index)", value: "v\(index)")) }

            let first = Received()
            let second = Received()
            let assignments = Assignments()
            func member(_ name: String, _ sink: Received) -> Task<Void, any Error> {
                let consumer = KafkaConsumer(cluster: cluster, configuration: fastGroup("split", ["events"]))
                return Task {
                    try await consumer.run(onAssignment: { assignment in
                        assignments.set(name, assignment.partitions["events"] ?? [])
                    }) { message, _ in sink.add(message) }
                }
            }
            let one = member("one", first)
            let two = member("two", second)
            // Both members hold partitions once the second join has settled.
            let deadline = ContinuousClock.now + .seconds(60)
            while ContinuousClock.now < deadline {
                let split = assignments.all
                if (split["one"]?.count ?? 0) + (split["two"]?.count ?? 0) == 4, split["one"]?.isEmpty == false, split["two"]?.isEmpty == false { break }
                try await Task.sleep(for: .milliseconds(50))
            }
            let split = assignments.all
            #expect(Set((split["one"] ?? []) + (split["two"] ?? [])) == [0, 1, 2, 3])
            try await first.wait { _ in first.all.count + second.all.count >= 40 }
            #expect(Set((first.all + second.all).map(\.valueText)).count == 40)

            // The first member leaves: its partitions go to the second, which sees only new messages.
            one.cancel()
            try await one.value
            for index in 40..<60 { try await producer.sendUntraced(OutgoingMessage(topic: "events", key: "k\(index)", value: "v\(index)")) }
            try await second.wait { _ in Set((first.all + second.all).compactMap(\.valueText)).count >= 60 }
            two.cancel()
            try await two.value
            let values = (first.all + second.all).compactMap(\.valueText)
            #expect(Set(values).count == 60)
            #expect(assignments.all["two"] == [0, 1, 2, 3])

            // A new member of the group starts at the committed offsets: nothing is handled again.
            let third = Received()
            let consumer = KafkaConsumer(cluster: cluster, configuration: fastGroup("split", ["events"]))
            let joined = Assignments()
            let task = Task { try await consumer.run(onAssignment: { joined.set("third", $0.partitions["events"] ?? []) }) { message, _ in third.add(message) } }
            while joined.all.isEmpty { try await Task.sleep(for: .milliseconds(50)) }
            try await Task.sleep(for: .milliseconds(500))
            task.cancel()
            try await task.value
            #expect(third.all.isEmpty)
            await cluster.shutdown()
        }
    }

    @Test("a message that fails every attempt is retried, then dead-lettered with where it came from; a duplicate is skipped with a span event")
    func retriesDeadLettersAndDuplicates() async throws {
        try await withBroker { server in
            let cluster = try cluster(server)
            try await cluster.createTopics([NewTopic(name: "payments", partitions: 1), NewTopic(name: "payments.dlq", partitions: 1)])
            let tracer = SpanRecorder()
            let producer = KafkaProducer(cluster: cluster, tracer: tracer)
            try await producer.send(OutgoingMessage(topic: "payments", key: "order-1", value: "poison"))
            // The same message twice (a producer retry after a lost acknowledgement).
            var duplicate = OutgoingMessage(topic: "payments", key: "order-2", value: "fine")
            duplicate.headers[KafkaClientHeader.messageID] = "0123456789abcdef0123456789abcdef"
            try await producer.send(duplicate)
            try await producer.send(duplicate)

            let attempts = Counter()
            let handled = Received()
            let filter = DuplicateFilter()
            let consumer = KafkaConsumer(cluster: cluster, configuration: fastGroup("payers", ["payments"]), deadLetters: producer, tracer: tracer)
            let task = Task {
                try await consumer.run(filter.skippingDuplicates { message, _ in
                    if message.valueText == "poison" {
                        attempts.increment()
                        throw PaymentDeclined()
                    }
                    handled.add(message)
                })
            }
            let dead = Received()
            let reader = KafkaConsumer(cluster: cluster, configuration: fastGroup("dlq-readers", ["payments.dlq"]))
            let readerTask = Task { try await reader.run { message, _ in dead.add(message) } }
            try await dead.wait { !$0.isEmpty }
            try await Task.sleep(for: .milliseconds(300))
            task.cancel()
            readerTask.cancel()
            try await task.value
            try await readerTask.value

            #expect(attempts.value == 3)
            #expect(handled.all.count == 1)
            let letter = try #require(dead.all.first)
            #expect(letter.valueText == "poison")
            #expect(letter.headers[KafkaClientHeader.deadLetter] == "true")
            #expect(letter.headers[KafkaClientHeader.originalTopic] == "payments")
            #expect(letter.headers[KafkaClientHeader.originalOffset] == "0")
            #expect(letter.headers[KafkaClientHeader.attempts] == "3")
            #expect(letter.headers[KafkaClientHeader.deadLetterReason]?.contains("declined") == true)

            let processes = tracer.spans.filter { $0.kind == .consumer && $0.string("messaging.consumer.group.name") == "payers" }
            // Three attempts at the poison message, two deliveries of the duplicate.
            #expect(processes.count == 5)
            #expect(processes.filter { !$0.recorded.errors.isEmpty }.count == 3)
            #expect(processes.filter { $0.recorded.events == [DuplicateFilter.eventName] }.count == 1)
            // The dead-letter send is a child of the last failed attempt.
            let deadLetterSend = try #require(tracer.spans.first { $0.operationName == "send payments.dlq" })
            let lastAttempt = try #require(processes.filter { !$0.recorded.errors.isEmpty }.last)
            #expect(deadLetterSend.parent == lastAttempt.identity)
            await cluster.shutdown()
        }
    }

    @Test("an idempotent producer's retry after a lost acknowledgement is written once, a plain one's twice; concurrent sends go out together")
    func lostAcknowledgements() async throws {
        let proxy = try await DroppingProxy.start()
        let (broker, brokerPort) = try await startBroker(advertisedPort: proxy.port)
        proxy.target.store(brokerPort, ordering: .relaxed)
        let cluster = try cluster("127.0.0.1:\(proxy.port)")
        try await cluster.createTopics([NewTopic(name: "ledger", partitions: 1)])
        var plain = ProducerConfiguration()
        plain.idempotent = false
        plain.retryBackoff = .milliseconds(10)
        var idempotent = ProducerConfiguration()
        idempotent.retryBackoff = .milliseconds(10)
        for (configuration, value) in [(idempotent, "once"), (plain, "twice")] {
            let producer = KafkaProducer(cluster: cluster, configuration: configuration)
            try await producer.sendUntraced(OutgoingMessage(topic: "ledger", key: nil, value: "warm-up"))
            proxy.dropNextProduce.store(true, ordering: .relaxed)
            try await producer.sendUntraced(OutgoingMessage(topic: "ledger", key: nil, value: value))
        }

        // 200 sends at once to one partition: fewer requests than messages, every offset once.
        let producer = KafkaProducer(cluster: cluster)
        let before = proxy.producesSeen.load(ordering: .relaxed)
        let offsets = try await withThrowingTaskGroup(of: Int64.self) { group in
            for index in 0..<200 {
                group.addTask { try await producer.sendUntraced(OutgoingMessage(topic: "ledger", key: nil, value: "bulk-\(index)")).offset }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        let requests = proxy.producesSeen.load(ordering: .relaxed) - before
        #expect(Set(offsets).count == 200)
        #expect(requests < 100, "200 concurrent sends took \(requests) Produce requests")

        let received = Received()
        let consumer = KafkaConsumer(cluster: cluster, configuration: fastGroup("auditors", ["ledger"]))
        let task = Task { try await consumer.run { message, _ in received.add(message) } }
        try await received.wait { $0.count >= 205 }
        try await Task.sleep(for: .milliseconds(200))
        task.cancel()
        try await task.value
        let values = received.all.compactMap(\.valueText)
        #expect(values.filter { $0 == "once" }.count == 1)
        #expect(values.filter { $0 == "twice" }.count == 2)
        #expect(values.count == 205)  // two warm-ups, "once", "twice" twice, the 200
        await cluster.shutdown()
        broker.cancel()
        try await proxy.close()
    }

    @Test("bad input and unreachable brokers fail with errors that name them")
    func errors() async throws {
        #expect(throws: KafkaClientError.self) { try KafkaCluster(configuration: KafkaClientConfiguration(bootstrapServers: ["no-port-here"])) }
        #expect(throws: KafkaClientError.self) { try KafkaCluster(configuration: KafkaClientConfiguration(bootstrapServers: [])) }
        // A port nobody listens on.
        let closed = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton).bind(host: "127.0.0.1", port: 0).get()
        let port = closed.localAddress!.port!
        try await closed.close()
        let cluster = try cluster("127.0.0.1:\(port)")
        do {
            _ = try await cluster.partitions(of: "anything")
            Issue.record("expected a failure")
        } catch let error as KafkaClientError {
            #expect("\(error)".contains("127.0.0.1:\(port)"))
        }
    }

    @Test("a connection the broker closes fails the request with the broker's address")
    func brokerClosesTheConnection() async throws {
        // A listener that accepts and closes every connection: the ApiVersions request fails.
        let server = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .childChannelInitializer { channel in channel.close() }
            .bind(host: "127.0.0.1", port: 0).get()
        let port = server.localAddress!.port!
        let cluster = try cluster("127.0.0.1:\(port)")
        do {
            _ = try await cluster.partitions(of: "t")
            Issue.record("expected a failure")
        } catch let error as KafkaClientError {
            #expect("\(error)".contains("127.0.0.1:\(port)"))
        }
        try await server.close()
    }

    @Test("a producer whose broker restarts fails while it is down, naming it, and sends again once it is back")
    func brokerRestarts() async throws {
        let (first, port) = try await startBroker()
        let cluster = try cluster("127.0.0.1:\(port)")
        var producerConfiguration = ProducerConfiguration()
        producerConfiguration.retries = 2
        producerConfiguration.retryBackoff = .milliseconds(10)
        let producer = KafkaProducer(cluster: cluster, configuration: producerConfiguration)
        #expect(try await producer.sendUntraced(OutgoingMessage(topic: "t", key: "k", value: "before")).offset == 0)

        first.cancel()
        _ = await first.result
        do {
            try await producer.sendUntraced(OutgoingMessage(topic: "t", key: "k", value: "while down"))
            Issue.record("expected a failure")
        } catch let error as KafkaClientError {
            #expect("\(error)".contains("127.0.0.1:\(port)"))
        }

        let (second, _) = try await startBroker(port: port)
        #expect(try await producer.sendUntraced(OutgoingMessage(topic: "t", key: "k", value: "after")).offset == 0)
        second.cancel()
        _ = await second.result
        await cluster.shutdown()
    }
}

struct PaymentDeclined: Error, CustomStringConvertible {
    var description: String { "payment declined" }
}
