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
    /// Whether batches carry a producer ID and sequence numbers (Kafka's
    /// `enable.idempotence`, on by default since Kafka 3.0), so that the broker drops a
    /// retried batch it already has: a retry after a lost answer writes nothing twice.
    /// Only with acks -1, as in Kafka.
    public var idempotent = true
    /// The most messages one Produce request carries for a partition. Sends to a
    /// partition go out one request at a time; those made meanwhile wait and go together.
    public var maxBatchMessages = 500

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
/// A partition has one Produce request in flight at a time, which keeps its messages in
/// the order they were sent through retries; the sends made while it is out go together
/// in the next request.
public final class KafkaProducer: Sendable {
    public let cluster: KafkaCluster
    public let configuration: ProducerConfiguration
    private let tracer: (any Tracer)?
    private let roundRobin = Atomic<UInt32>(0)
    private let queues = Mutex<[TopicPartition: PartitionQueue]>([:])
    private let identity = Mutex<ProducerIdentity?>(nil)

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
        let record = Record(
            key: message.key.map { ByteBuffer(bytes: $0) }, value: message.value.map { ByteBuffer(bytes: $0) },
            headers: message.headers.headers.map { (key: $0.name, value: $0.value.map { ByteBuffer(bytes: $0) }) })
        let queue = queues.withLock { queues in
            let key = TopicPartition(topic: message.topic, partition: partition)
            if let queue = queues[key] { return queue }
            let queue = PartitionQueue(topic: message.topic, partition: partition)
            queues[key] = queue
            return queue
        }
        let offset = try await queue.send(record, timestamp: message.timestamp ?? Int64(Self.nowMilliseconds()), by: self)
        return DeliveryReport(topic: message.topic, partition: partition, offset: offset, messageID: message.headers[KafkaClientHeader.messageID])
    }

    /// Writes one batch, retrying what may pass; returns its base offset (-1 with acks=0).
    /// An idempotent producer numbers the batch, so that the broker drops a retry of one
    /// it already has.
    func write(_ records: [Record], timestamps: [Int64], to queue: PartitionQueue) async throws -> Int64 {
        var backoff = configuration.retryBackoff
        var attempt = 0
        while true {
            let identity = isIdempotent ? try await producerIdentity() : nil
            let sequence = identity.map { queue.sequence(for: $0) } ?? -1
            let base = timestamps.min() ?? 0
            let batch = RecordBatch.build(
                baseTimestamp: base,
                records: records.enumerated().map { index, record in
                    var record = record
                    record.offsetDelta = Int32(index)
                    record.timestampDelta = timestamps[index] - base
                    return record
                },
                producerID: identity?.id ?? -1, producerEpoch: identity?.epoch ?? -1, baseSequence: sequence)
            do {
                let offset = try await produce(batch.bytes, topic: queue.topic, partition: queue.partition)
                if let identity { queue.advance(for: identity, by: records.count) }
                return offset
            } catch let error as KafkaClientError {
                if case .broker(let code, _, _, _) = error, [.unknownProducerID, .outOfOrderSequenceNumber, .invalidProducerEpoch].contains(code) {
                    // The broker lost or refused this producer's numbering: start again
                    // under a new producer ID, where sequences begin at 0.
                    if let identity { forget(identity) }
                    if code == .unknownProducerID, attempt < configuration.retries {
                        attempt += 1
                        continue
                    }
                    throw error
                }
                guard error.isRetriable, attempt < configuration.retries else {
                    // Whether the broker has the batch is unknown: numbering on from here
                    // could make it take the next batch for this one and drop it.
                    if let identity { forget(identity) }
                    throw error
                }
                attempt += 1
                await cluster.forgetLeaders(of: queue.topic)
                try await Task.sleep(for: backoff)
                backoff *= 2
            }
        }
    }

    private var isIdempotent: Bool { configuration.idempotent && configuration.acks == -1 }

    /// The producer ID and epoch (InitProducerId), fetched once and again after `forget`.
    private func producerIdentity() async throws -> ProducerIdentity {
        if let known = identity.withLock({ $0 }) { return known }
        let connection = try await cluster.anyConnection()
        let response = try await connection.request(.initProducerId, version: ClientVersion.initProducerId) {
            InitProducerIdRequest().encode(into: &$0, version: ClientVersion.initProducerId)
        } decode: { (reader: inout KafkaReader) throws(KafkaWireError) in
            try InitProducerIdResponse(from: &reader, version: ClientVersion.initProducerId)
        }
        guard response.errorCode == .none else {
            throw KafkaClientError.broker(response.errorCode, api: .initProducerId, resource: "producer", message: nil)
        }
        let fetched = ProducerIdentity(id: response.producerID, epoch: response.producerEpoch)
        return identity.withLock { current in
            if let current { return current }
            current = fetched
            return fetched
        }
    }

    private func forget(_ stale: ProducerIdentity) {
        identity.withLock { if $0 == stale { $0 = nil } }
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

/// The producer ID and epoch InitProducerId gave.
struct ProducerIdentity: Equatable, Sendable {
    var id: Int64
    var epoch: Int16
}

/// One partition's sends: one batch in flight, the rest queued for the next one, and the
/// partition's next sequence number under the current producer ID.
final class PartitionQueue: Sendable {
    private struct Waiting {
        var record: Record
        var timestamp: Int64
        var continuation: CheckedContinuation<Int64, any Error>
    }

    private struct State {
        var waiting: [Waiting] = []
        var isSending = false
        var identity: ProducerIdentity?
        var nextSequence: Int32 = 0
    }

    let topic: String
    let partition: Int32
    private let state = Mutex(State())

    init(topic: String, partition: Int32) {
        self.topic = topic
        self.partition = partition
    }

    /// Queues `record`; returns its offset once the batch that carries it is written.
    func send(_ record: Record, timestamp: Int64, by producer: KafkaProducer) async throws -> Int64 {
        try await withCheckedThrowingContinuation { continuation in
            let starts = state.withLock { state in
                state.waiting.append(Waiting(record: record, timestamp: timestamp, continuation: continuation))
                defer { state.isSending = true }
                return !state.isSending
            }
            // Not tied to the caller: a message handed over is sent even if its sender stops waiting.
            if starts { Task { await self.drain(by: producer) } }
        }
    }

    private func drain(by producer: KafkaProducer) async {
        while true {
            let batch: [Waiting] = state.withLock { state in
                let taken = Array(state.waiting.prefix(max(1, producer.configuration.maxBatchMessages)))
                state.waiting.removeFirst(taken.count)
                if taken.isEmpty { state.isSending = false }
                return taken
            }
            if batch.isEmpty { return }
            do {
                let base = try await producer.write(batch.map(\.record), timestamps: batch.map(\.timestamp), to: self)
                for (index, waiting) in batch.enumerated() { waiting.continuation.resume(returning: base < 0 ? -1 : base + Int64(index)) }
            } catch {
                for waiting in batch { waiting.continuation.resume(throwing: error) }
            }
        }
    }

    /// The next sequence number under `identity`: 0 under a new one.
    func sequence(for identity: ProducerIdentity) -> Int32 {
        state.withLock { state in
            if state.identity != identity {
                state.identity = identity
                state.nextSequence = 0
            }
            return state.nextSequence
        }
    }

    func advance(for identity: ProducerIdentity, by count: Int) {
        state.withLock { state in
            guard state.identity == identity else { return }
            state.nextSequence = Int32(truncatingIfNeeded: Int64(state.nextSequence) + Int64(count)) & Int32.max
        }
    }
}
