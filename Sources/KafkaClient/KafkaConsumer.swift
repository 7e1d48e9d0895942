public import EventTracing
import KafkaWire
public import Logging
import NIOCore
import Synchronization
public import Tracing

/// How a group consumer joins its group and what it does with a message that fails.
public struct ConsumerConfiguration: Sendable {
    /// Where a partition without a committed offset starts.
    public enum StartPosition: Sendable {
        case earliest
        case latest
    }

    public var groupID: String
    public var topics: [String]
    /// How long the coordinator waits for a heartbeat before it drops the member, and how
    /// often one is sent.
    public var sessionTimeout: Duration = .seconds(10)
    public var heartbeatInterval: Duration = .seconds(1)
    /// How long a rebalance may take for this member.
    public var rebalanceTimeout: Duration = .seconds(30)
    public var startFrom = StartPosition.earliest
    /// How long a fetch waits at the broker for new messages.
    public var maxWait: Duration = .milliseconds(500)
    public var maxBytesPerPartition: Int32 = 1 << 20
    /// How often a message is handed to the handler before it counts as failed; each
    /// attempt is a `process` span of its own, so the collector counts the retries.
    public var maxAttempts = 3
    public var retryBackoff: Duration = .milliseconds(100)
    /// The topic a message that failed every attempt goes to (`nil`: it is logged and
    /// skipped). By default `<topic>.dlq`, which the collector's stitcher recognizes.
    public var deadLetterTopic: @Sendable (String) -> String? = { "\($0).dlq" }
    /// Whether a `process` span is a child of the message's creation context or only
    /// links to it (the messaging conventions' default).
    public var parenting = MessageParenting.link

    public init(groupID: String, topics: [String]) {
        self.groupID = groupID
        self.topics = topics
    }
}

/// A message as a consumer receives it.
public struct ConsumedMessage: Sendable {
    public var topic: String
    public var partition: Int32
    public var offset: Int64
    public var key: [UInt8]?
    public var value: [UInt8]?
    public var headers: KafkaHeaders
    /// Milliseconds since the Unix epoch, as the producer (or broker) stamped it.
    public var timestamp: Int64
    /// 1 for the first time the handler sees the message, 2 for its first retry, ...
    public var attempt: Int

    public var messageID: String? { headers[KafkaClientHeader.messageID] }
    public var keyText: String? { key.flatMap { String(validating: $0, as: UTF8.self) } }
    public var valueText: String? { value.flatMap { String(validating: $0, as: UTF8.self) } }
}

/// What a group member was given by the last rebalance.
public struct PartitionAssignment: Sendable, Equatable {
    public var generation: Int32
    public var memberID: String
    /// topic → partitions.
    public var partitions: [String: [Int32]]
}

/// A member of a consumer group (Kafka's classic group protocol: JoinGroup, SyncGroup
/// with the range assignor, Heartbeat, OffsetCommit), handing each message to a handler
/// inside a `process <topic>` CONSUMER span linked to the message's creation context.
/// Offsets are committed after each fetched batch is handled: at-least-once delivery.
public final class KafkaConsumer: Sendable {
    public let cluster: KafkaCluster
    public let configuration: ConsumerConfiguration
    private let deadLetters: KafkaProducer?
    private let tracer: (any Tracer)?
    private let logger: Logger
    var loggerForSession: Logger { logger }
    /// This consumer's own connections for fetching, by broker.
    let fetchConnections = OwnConnections()

    /// - Parameters:
    ///   - deadLetters: The producer that writes to the dead-letter topic; without one,
    ///     a message that failed every attempt is logged and skipped.
    ///   - tracer: The tracer for the process spans; the bootstrapped one when `nil`.
    public init(
        cluster: KafkaCluster, configuration: ConsumerConfiguration, deadLetters: KafkaProducer? = nil,
        tracer: (any Tracer)? = nil, logger: Logger = Logger(label: "causeway.kafka.consumer")
    ) {
        self.cluster = cluster
        self.configuration = configuration
        self.deadLetters = deadLetters
        self.tracer = tracer
        self.logger = logger
    }

    /// Joins the group and handles messages until the task is cancelled; then commits
    /// what was handled and leaves the group, so its partitions move at once.
    ///
    /// - Parameters:
    ///   - onAssignment: Called after every rebalance with this member's partitions.
    ///   - handler: Handles one message. A throw is a failed attempt.
    public func run(
        onAssignment: @escaping @Sendable (PartitionAssignment) async -> Void = { _ in },
        _ handler: @escaping @Sendable (ConsumedMessage, any Span) async throws -> Void
    ) async throws {
        var member = GroupMember(configuration: configuration, cluster: cluster, logger: logger)
        while !Task.isCancelled {
            let assignment: PartitionAssignment
            do {
                assignment = try await member.join()
            } catch is CancellationError {
                break
            } catch let error as KafkaClientError where error.isRetriable {
                logger.warning("joining the group failed; trying again", metadata: ["group": "\(configuration.groupID)", "error": "\(error)"])
                try? await Task.sleep(for: configuration.retryBackoff * 5)
                continue
            }
            await onAssignment(assignment)
            let session = ConsumerSession(consumer: self, member: member, assignment: assignment, handler: handler)
            do {
                try await session.run()
            } catch is CancellationError {
                await session.commit()
                break
            } catch let error as KafkaClientError where error.isRetriable {
                logger.warning("consuming failed; rejoining", metadata: ["group": "\(configuration.groupID)", "error": "\(error)"])
                try? await Task.sleep(for: configuration.retryBackoff)
            }
            await session.commit()
            if Task.isCancelled { break }
        }
        await member.leave()
        await fetchConnections.closeAll()
    }

    /// Hands one message to the handler, up to `maxAttempts` times; after the last failed
    /// attempt it goes to the dead-letter topic from inside that attempt's span.
    func handle(_ message: ConsumedMessage, _ handler: @Sendable (ConsumedMessage, any Span) async throws -> Void) async throws {
        var backoff = configuration.retryBackoff
        for attempt in 1...max(1, configuration.maxAttempts) {
            var message = message
            message.attempt = attempt
            let isLast = attempt >= configuration.maxAttempts
            do {
                try await withProcessSpan(
                    destination: message.topic, headers: message.headers, consumerGroup: configuration.groupID,
                    partition: message.partition, offset: message.offset, key: message.keyText, messageID: message.messageID,
                    parenting: configuration.parenting, tracer: tracer
                ) { span in
                    do {
                        try await handler(message, span)
                    } catch {
                        if isLast { await deadLetter(message, error: error) }
                        throw error
                    }
                }
                return
            } catch where Task.isCancelled {
                throw CancellationError()
            } catch {
                logger.warning(
                    "handling a message failed",
                    metadata: [
                        "topic": "\(message.topic)", "partition": "\(message.partition)", "offset": "\(message.offset)",
                        "attempt": "\(attempt)", "error": "\(error)",
                    ])
                if !isLast {
                    try await Task.sleep(for: backoff)
                    backoff *= 2
                }
            }
        }
    }

    /// Sends a message that failed every attempt to its dead-letter topic, with where it
    /// came from and why it failed.
    private func deadLetter(_ message: ConsumedMessage, error: any Error) async {
        guard let deadLetters, let topic = configuration.deadLetterTopic(message.topic) else {
            logger.error("a message failed every attempt and is skipped (no dead-letter topic)", metadata: [
                "topic": "\(message.topic)", "partition": "\(message.partition)", "offset": "\(message.offset)", "error": "\(error)",
            ])
            return
        }
        var headers = message.headers
        headers[KafkaClientHeader.deadLetter] = "true"
        headers[KafkaClientHeader.deadLetterReason] = "\(error)"
        headers[KafkaClientHeader.originalTopic] = message.topic
        headers[KafkaClientHeader.originalPartition] = "\(message.partition)"
        headers[KafkaClientHeader.originalOffset] = "\(message.offset)"
        headers[KafkaClientHeader.attempts] = "\(message.attempt)"
        do {
            try await deadLetters.send(OutgoingMessage(topic: topic, key: message.key, value: message.value, headers: headers))
            logger.warning("message dead-lettered", metadata: [
                "topic": "\(message.topic)", "offset": "\(message.offset)", "dead_letter_topic": "\(topic)", "error": "\(error)",
            ])
        } catch {
            logger.error("dead-lettering failed", metadata: ["dead_letter_topic": "\(topic)", "error": "\(error)"])
        }
    }
}

/// This member's standing in its group: member ID, generation, coordinator.
struct GroupMember: Sendable {
    let configuration: ConsumerConfiguration
    let cluster: KafkaCluster
    let logger: Logger
    var memberID = ""
    var generation: Int32 = -1
    var coordinator: BrokerConnection?

    init(configuration: ConsumerConfiguration, cluster: KafkaCluster, logger: Logger) {
        self.configuration = configuration
        self.cluster = cluster
        self.logger = logger
    }

    /// JoinGroup then SyncGroup (the leader assigns with the range assignor) until this
    /// member has a generation and partitions.
    mutating func join() async throws -> PartitionAssignment {
        let group = configuration.groupID
        while true {
            try Task.checkCancellation()
            if coordinator?.isActive != true {
                await coordinator?.close()
                coordinator = try await cluster.openConnection(to: try await cluster.coordinatorAddress(of: group))
            }
            guard let coordinator else { continue }
            let subscription = ConsumerProtocolSubscription(topics: configuration.topics)
            let request = JoinGroupRequest(
                groupID: group, sessionTimeoutMs: Int32(configuration.sessionTimeout.milliseconds),
                rebalanceTimeoutMs: Int32(configuration.rebalanceTimeout.milliseconds), memberID: memberID,
                protocolType: "consumer", protocols: [.init(name: "range", metadata: subscription.encode())])
            let joined = try await coordinator.request(
                .joinGroup, version: ClientVersion.joinGroup, extraTimeout: .nanoseconds(configuration.rebalanceTimeout.nanoseconds)
            ) {
                request.encode(into: &$0, version: ClientVersion.joinGroup)
            } decode: { (reader: inout KafkaReader) throws(KafkaWireError) in
                try JoinGroupResponse(from: &reader, version: ClientVersion.joinGroup)
            }
            if joined.errorCode == .memberIDRequired {
                memberID = joined.memberID
                continue
            }
            if try await startsAgain(after: joined.errorCode, of: .joinGroup, coordinator: coordinator) { continue }
            memberID = joined.memberID
            generation = joined.generationID
            var assignments: [(memberID: String, assignment: ByteBuffer)] = []
            if joined.leader == joined.memberID {
                assignments = try await assign(joined.members)
            }
            let sync = SyncGroupRequest(groupID: group, generationID: generation, memberID: memberID, assignments: assignments)
            let synced = try await coordinator.request(.syncGroup, version: ClientVersion.syncGroup) {
                sync.encode(into: &$0, version: ClientVersion.syncGroup)
            } decode: { (reader: inout KafkaReader) throws(KafkaWireError) in
                try SyncGroupResponse(from: &reader, version: ClientVersion.syncGroup)
            }
            if try await startsAgain(after: synced.errorCode, of: .syncGroup, coordinator: coordinator) { continue }
            let assignment: ConsumerProtocolAssignment
            do {
                assignment = try ConsumerProtocolAssignment(from: synced.assignment)
            } catch {
                throw KafkaClientError.malformedResponse(api: .syncGroup, broker: coordinator.address.description, reason: "\(error)")
            }
            var partitions: [String: [Int32]] = [:]
            for entry in assignment.partitions { partitions[entry.topic, default: []] += entry.partitions }
            logger.info("joined consumer group", metadata: [
                "group": "\(group)", "generation": "\(generation)", "member": "\(memberID)",
                "partitions": "\(partitions.sorted { $0.key < $1.key }.map { "\($0.key):\($0.value.sorted())" }.joined(separator: " "))",
            ])
            return PartitionAssignment(generation: generation, memberID: memberID, partitions: partitions)
        }
    }

    /// Whether a JoinGroup or SyncGroup answer sends this member back to JoinGroup, after
    /// what the error calls for: a new member ID, a pause while the group rebalances, or
    /// (the coordinator may have moved) a new coordinator. An error that cannot pass throws.
    private mutating func startsAgain(after code: ErrorCode, of api: APIKey, coordinator: BrokerConnection) async throws -> Bool {
        switch code {
        case .none:
            return false
        case .unknownMemberID, .illegalGeneration:
            memberID = ""
        case .rebalanceInProgress:
            try await Task.sleep(for: configuration.retryBackoff)
        default:
            guard code.isRetriable else {
                throw KafkaClientError.broker(code, api: api, resource: "group \(configuration.groupID)", message: nil)
            }
            await coordinator.close()
            try await Task.sleep(for: configuration.retryBackoff)
        }
        return true
    }

    /// The range assignor: for each topic, its partitions in order cut into one run per
    /// subscribed member (members in order of ID), the first runs one longer when the
    /// count does not divide.
    func assign(_ members: [JoinGroupResponse.Member]) async throws -> [(memberID: String, assignment: ByteBuffer)] {
        var subscribers: [String: [String]] = [:]
        for member in members {
            let subscription: ConsumerProtocolSubscription
            do {
                subscription = try ConsumerProtocolSubscription(from: member.metadata)
            } catch {
                throw KafkaClientError.malformedResponse(api: .joinGroup, broker: "coordinator", reason: "member \(member.memberID): \(error)")
            }
            for topic in subscription.topics { subscribers[topic, default: []].append(member.memberID) }
        }
        var given: [String: [ConsumerProtocolAssignment.TopicPartitions]] = [:]
        for (topic, memberIDs) in subscribers.sorted(by: { $0.key < $1.key }) {
            let partitions = try await cluster.partitions(of: topic)
            let ordered = memberIDs.sorted()
            let share = partitions.count / ordered.count
            let extra = partitions.count % ordered.count
            var start = 0
            for (index, member) in ordered.enumerated() {
                let count = share + (index < extra ? 1 : 0)
                if count > 0 { given[member, default: []].append(.init(topic: topic, partitions: Array(partitions[start..<start + count]))) }
                start += count
            }
        }
        return members.map { member in
            (memberID: member.memberID, assignment: ConsumerProtocolAssignment(partitions: given[member.memberID] ?? []).encode())
        }
    }

    /// LeaveGroup, so that the others get this member's partitions without waiting for
    /// its session to time out.
    func leave() async {
        guard let coordinator else { return }
        if !memberID.isEmpty {
            let request = LeaveGroupRequest(groupID: configuration.groupID, memberIDs: [memberID])
            _ = try? await coordinator.request(.leaveGroup, version: ClientVersion.leaveGroup) {
                request.encode(into: &$0, version: ClientVersion.leaveGroup)
            } decode: { (reader: inout KafkaReader) throws(KafkaWireError) in
                try LeaveGroupResponse(from: &reader, version: ClientVersion.leaveGroup)
            }
        }
        await coordinator.close()
    }
}

/// Connections a consumer keeps to itself (see ``KafkaCluster/openConnection(to:)``).
final class OwnConnections: Sendable {
    private let open = Mutex<[Int32: BrokerConnection]>([:])

    func connection(toNode node: Int32, in cluster: KafkaCluster) async throws -> BrokerConnection {
        if let existing = open.withLock({ $0[node] }), existing.isActive { return existing }
        let connection = try await cluster.openConnection(to: try await cluster.address(ofNode: node))
        let replaced = open.withLock { open in
            defer { open[node] = connection }
            return open[node]
        }
        await replaced?.close()
        return connection
    }

    func closeAll() async {
        let all = open.withLock { open in
            defer { open = [:] }
            return Array(open.values)
        }
        for connection in all { await connection.close() }
    }
}
