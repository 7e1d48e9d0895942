public import EventTracing
public import Instrumentation
import KafkaWire
import NIOCore
import Synchronization
public import Tracing

/// How a producer sends.
public struct ProducerConfiguration: Sendable {
    /// -1: every in-sync replica has the batch (Kafka's default since 3.0); 1: the leader
    /// has it; 0: no answer is awaited.
    public var acks: Int16 = -1
    /// How often a send that failed in a way that may pass (a leader moving, a broker
    /// restarting, a timeout) is tried again, and the pause before the first retry
    /// (doubled each time).
    public var retries = 5
    public var retryBackoff: Duration = .milliseconds(100)
    /// How long the broker may take to replicate before it answers.
    public var ackTimeout: Duration = .seconds(30)

    public init() {}
}

/// A message to send.
public struct OutgoingMessage: Sendable {
    public var topic: String
    public var key: [UInt8]?
    public var value: [UInt8]?
    public var headers: KafkaHeaders
    /// The partition; by default the key's murmur2 hash (as every Kafka client computes
    /// it), or round robin for a message without a key.
    public var partition: Int32?
    /// Milliseconds since the Unix epoch; by default the time of sending.
    public var timestamp: Int64?

    public init(topic: String, key: [UInt8]? = nil, value: [UInt8]?, headers: KafkaHeaders = KafkaHeaders(), partition: Int32? = nil, timestamp: Int64? = nil) {
        self.topic = topic
        self.key = key
        self.value = value
        self.headers = headers
        self.partition = partition
        self.timestamp = timestamp
    }

    public init(topic: String, key: String?, value: String, headers: KafkaHeaders = KafkaHeaders()) {
        self.init(topic: topic, key: key.map { Array($0.utf8) }, value: Array(value.utf8), headers: headers)
    }
}

/// Where a message landed.
public struct DeliveryReport: Sendable, Equatable {
    public var topic: String
    public var partition: Int32
    /// -1 with acks=0, where the broker says nothing.
    public var offset: Int64
    public var messageID: String?
}

/// Sends messages to the partition leaders, traced: every ``send(_:context:)`` runs in a
/// `send <topic>` PRODUCER span and stamps `traceparent`, `tracestate`, `baggage`,
/// `correlation-id` and a `message-id` on the message.
///
/// Each send is its own Produce request; concurrent sends go out pipelined on the
/// leader's connection.
public final class KafkaProducer: Sendable {
    public let cluster: KafkaCluster
    public let configuration: ProducerConfiguration
    private let tracer: (any Tracer)?
    private let roundRobin = Atomic<UInt32>(0)

    /// - Parameter tracer: The tracer for the send spans; the bootstrapped one when `nil`.
    public init(cluster: KafkaCluster, configuration: ProducerConfiguration = ProducerConfiguration(), tracer: (any Tracer)? = nil) {
        self.cluster = cluster
        self.configuration = configuration
        self.tracer = tracer
    }

    /// Sends `message` inside a `send <topic>` span that carries its partition, key,
    /// message ID, correlation ID and, once written, its offset.
    @discardableResult
    public func send(_ message: OutgoingMessage, context: ServiceContext? = nil) async throws -> DeliveryReport {
        var message = message
        if message.headers.lastValue(forHeader: KafkaClientHeader.messageID) == nil {
            message.headers[KafkaClientHeader.messageID] = Self.newMessageID()
        }
        let partition = try await partition(for: message)
        message.partition = partition
        let messageID = message.headers[KafkaClientHeader.messageID]
        let key = message.key.flatMap { String(validating: $0, as: UTF8.self) }
        return try await withSendSpan(
            destination: message.topic, headers: message.headers, key: key, partition: partition, messageID: messageID,
            context: context, tracer: tracer
        ) { headers, span in
            var stamped = message
            stamped.headers = headers
            let report = try await sendUntraced(stamped)
            if report.offset >= 0 { span.attributes["messaging.kafka.offset"] = report.offset }
            return report
        }
    }

    /// Sends `message` as it is: no span, no headers added.
    @discardableResult
    public func sendUntraced(_ message: OutgoingMessage) async throws -> DeliveryReport {
        let partition = try await partition(for: message)
        let timestamp = message.timestamp ?? Int64(Self.nowMilliseconds())
        let record = Record(
            key: message.key.map { ByteBuffer(bytes: $0) }, value: message.value.map { ByteBuffer(bytes: $0) },
            headers: message.headers.headers.map { (key: $0.name, value: $0.value.map { ByteBuffer(bytes: $0) }) })
        let batch = RecordBatch.build(baseTimestamp: timestamp, records: [record])
        var backoff = configuration.retryBackoff
        var attempt = 0
        while true {
            do {
                let offset = try await produce(batch.bytes, topic: message.topic, partition: partition)
                return DeliveryReport(topic: message.topic, partition: partition, offset: offset, messageID: message.headers[KafkaClientHeader.messageID])
            } catch let error as KafkaClientError where error.isRetriable && attempt < configuration.retries {
                attempt += 1
                await cluster.forgetLeaders(of: message.topic)
                try await Task.sleep(for: backoff)
                backoff *= 2
            }
        }
    }

    private func produce(_ records: ByteBuffer, topic: String, partition: Int32) async throws -> Int64 {
        let leader = try await cluster.leader(of: topic, partition: partition)
        let request = ProduceRequest(
            acks: configuration.acks, timeoutMs: Int32(clamping: configuration.ackTimeout.milliseconds),
            topics: [.init(name: topic, partitions: [.init(index: partition, records: records)])])
        let version = ClientVersion.produce
        if configuration.acks == 0 {
            try await leader.send(.produce, version: version) { request.encode(into: &$0, version: version) }
            return -1
        }
        let response = try await leader.request(.produce, version: version, extraTimeout: .nanoseconds(configuration.ackTimeout.nanoseconds)) {
            request.encode(into: &$0, version: version)
        } decode: { (reader: inout KafkaReader) throws(KafkaWireError) in
            try ProduceResponse(from: &reader, version: version)
        }
        guard let answer = response.topics.first(where: { $0.name == topic })?.partitions.first(where: { $0.index == partition }) else {
            throw KafkaClientError.malformedResponse(api: .produce, broker: leader.address.description, reason: "no answer for \(topic)-\(partition)")
        }
        guard answer.errorCode == .none else {
            throw KafkaClientError.broker(answer.errorCode, api: .produce, resource: "\(topic)-\(partition)", message: answer.errorMessage)
        }
        return answer.baseOffset
    }

    private func partition(for message: OutgoingMessage) async throws -> Int32 {
        if let partition = message.partition { return partition }
        let partitions = try await cluster.partitions(of: message.topic)
        if let key = message.key {
            return Murmur2.partition(forKey: key, partitionCount: Int32(partitions.count))
        }
        let turn = roundRobin.add(1, ordering: .relaxed).oldValue
        return partitions[Int(turn % UInt32(partitions.count))]
    }

    /// A new random message ID: 32 hex digits.
    public static func newMessageID() -> String {
        var generator = SystemRandomNumberGenerator()
        let high = generator.next() as UInt64
        let low = generator.next() as UInt64
        return hex(high) + hex(low)
    }

    private static func hex(_ value: UInt64) -> String {
        let text = String(value, radix: 16)
        return String(repeating: "0", count: 16 - text.count) + text
    }

    static func nowMilliseconds() -> UInt64 {
        DefaultTracerClock.now.nanosecondsSinceEpoch / 1_000_000
    }
}
