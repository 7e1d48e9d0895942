import KafkaWire
import Logging
import NIOCore
import Synchronization
import Tracing

struct TopicPartition: Hashable, Sendable {
    var topic: String
    var partition: Int32
}

/// One generation of a group member: heartbeats on one task, fetch-and-handle on
/// another, until the coordinator asks for a rebalance (or the member is stopped).
final class ConsumerSession: Sendable {
    private struct State {
        var positions: [TopicPartition: Int64] = [:]
        var committed: [TopicPartition: Int64] = [:]
        var mustRejoin = false
    }

    private let consumer: KafkaConsumer
    private let member: GroupMember
    private let assignment: PartitionAssignment
    private let handler: @Sendable (ConsumedMessage, any Span) async throws -> Void
    private let state = Mutex(State())

    init(consumer: KafkaConsumer, member: GroupMember, assignment: PartitionAssignment, handler: @escaping @Sendable (ConsumedMessage, any Span) async throws -> Void) {
        self.consumer = consumer
        self.member = member
        self.assignment = assignment
        self.handler = handler
    }

    private var configuration: ConsumerConfiguration { consumer.configuration }
    private var cluster: KafkaCluster { consumer.cluster }
    private var mustRejoin: Bool { state.withLock { $0.mustRejoin } }
    private func requestRejoin() { state.withLock { $0.mustRejoin = true } }

    /// Returns when the group rebalances; throws CancellationError when stopped.
    func run() async throws {
        let partitions = assignment.partitions.flatMap { topic, partitions in partitions.map { TopicPartition(topic: topic, partition: $0) } }
        try await loadPositions(partitions)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await self.heartbeat() }
            group.addTask { try await self.fetchAndHandle(partitions) }
            defer { requestRejoin() }
            // The first loop to end ends the generation; the other sees the flag.
            try await group.next()
            requestRejoin()
            try await group.waitForAll()
        }
    }

    // MARK: Heartbeats

    private func heartbeat() async throws {
        guard let coordinator = member.coordinator else { return requestRejoin() }
        let request = HeartbeatRequest(groupID: configuration.groupID, generationID: member.generation, memberID: member.memberID)
        while !mustRejoin {
            try await Task.sleep(for: configuration.heartbeatInterval)
            if mustRejoin { return }
            let response = try await coordinator.request(.heartbeat, version: ClientVersion.heartbeat) {
                request.encode(into: &$0, version: ClientVersion.heartbeat)
            } decode: { (reader: inout KafkaReader) throws(KafkaWireError) in
                try ErrorOnlyResponse(from: &reader, version: ClientVersion.heartbeat)
            }
            guard response.errorCode == .none else {
                consumer.logHeartbeat(response.errorCode)
                return requestRejoin()
            }
        }
    }

    // MARK: Positions and commits

    private func loadPositions(_ partitions: [TopicPartition]) async throws {
        guard !partitions.isEmpty, let coordinator = member.coordinator else { return }
        let byTopic = Dictionary(grouping: partitions, by: \.topic)
        let request = OffsetFetchRequest(
            groupID: configuration.groupID,
            topics: byTopic.sorted { $0.key < $1.key }.map { (name: $0.key, partitions: $0.value.map(\.partition).sorted()) })
        let response = try await coordinator.request(.offsetFetch, version: ClientVersion.offsetFetch) {
            request.encode(into: &$0, version: ClientVersion.offsetFetch)
        } decode: { (reader: inout KafkaReader) throws(KafkaWireError) in
            try OffsetFetchResponse(from: &reader, version: ClientVersion.offsetFetch)
        }
        if response.errorCode != .none {
            throw KafkaClientError.broker(response.errorCode, api: .offsetFetch, resource: "group \(configuration.groupID)", message: nil)
        }
        var positions: [TopicPartition: Int64] = [:]
        for topic in response.topics {
            for partition in topic.partitions where partition.errorCode == .none && partition.offset >= 0 {
                positions[TopicPartition(topic: topic.name, partition: partition.index)] = partition.offset
            }
        }
        for partition in partitions where positions[partition] == nil {
            positions[partition] = try await startOffset(of: partition)
        }
        state.withLock {
            $0.positions = positions
            $0.committed = positions
        }
    }

    /// The earliest or latest offset of a partition, by `startFrom`.
    private func startOffset(of partition: TopicPartition) async throws -> Int64 {
        let leader = try await cluster.leader(of: partition.topic, partition: partition.partition)
        let timestamp: Int64 = configuration.startFrom == .earliest ? -2 : -1
        let request = ListOffsetsRequest(topics: [.init(name: partition.topic, partitions: [.init(index: partition.partition, timestamp: timestamp)])])
        let response = try await leader.request(.listOffsets, version: ClientVersion.listOffsets) {
            request.encode(into: &$0, version: ClientVersion.listOffsets)
        } decode: { (reader: inout KafkaReader) throws(KafkaWireError) in
            try ListOffsetsResponse(from: &reader, version: ClientVersion.listOffsets)
        }
        guard let answer = response.topics.first?.partitions.first else {
            throw KafkaClientError.malformedResponse(api: .listOffsets, broker: leader.address.description, reason: "no answer for \(partition.topic)-\(partition.partition)")
        }
        guard answer.errorCode == .none else {
            throw KafkaClientError.broker(answer.errorCode, api: .listOffsets, resource: "\(partition.topic)-\(partition.partition)", message: nil)
        }
        return answer.offset
    }

    /// Commits every position that moved since the last commit. A rebalance that began
    /// meanwhile makes the commit fail; what was handled since is handled again by the
    /// next owner (at-least-once).
    func commit() async {
        guard let coordinator = member.coordinator else { return }
        let moved = state.withLock { state in state.positions.filter { state.committed[$0.key] != $0.value } }
        guard !moved.isEmpty else { return }
        let byTopic = Dictionary(grouping: moved, by: \.key.topic)
        let request = OffsetCommitRequest(
            groupID: configuration.groupID, generationID: member.generation, memberID: member.memberID,
            topics: byTopic.sorted { $0.key < $1.key }.map { topic, entries in
                (name: topic, partitions: entries.sorted { $0.key.partition < $1.key.partition }.map {
                    OffsetCommitRequest.Partition(index: $0.key.partition, offset: $0.value)
                })
            })
        do {
            let response = try await coordinator.request(.offsetCommit, version: ClientVersion.offsetCommit) {
                request.encode(into: &$0, version: ClientVersion.offsetCommit)
            } decode: { (reader: inout KafkaReader) throws(KafkaWireError) in
                try OffsetCommitResponse(from: &reader, version: ClientVersion.offsetCommit)
            }
            var failed: ErrorCode?
            state.withLock { state in
                for topic in response.topics {
                    for partition in topic.partitions {
                        let key = TopicPartition(topic: topic.name, partition: partition.index)
                        if partition.errorCode == .none { state.committed[key] = moved[key] } else { failed = partition.errorCode }
                    }
                }
            }
            if let failed {
                consumer.logCommitFailure("\(failed.name)")
                requestRejoin()
            }
        } catch {
            consumer.logCommitFailure("\(error)")
        }
    }

    // MARK: Fetching

    private func fetchAndHandle(_ partitions: [TopicPartition]) async throws {
        guard !partitions.isEmpty else {
            // A member with nothing assigned only heartbeats.
            while !mustRejoin { try await Task.sleep(for: configuration.maxWait) }
            return
        }
        while !mustRejoin {
            try Task.checkCancellation()
            var byLeader: [Int32: [TopicPartition]] = [:]
            for partition in partitions {
                byLeader[try await cluster.leaderNode(of: partition.topic, partition: partition.partition), default: []].append(partition)
            }
            for (node, led) in byLeader.sorted(by: { $0.key < $1.key }) {
                try await fetch(led, from: node)
                if mustRejoin { break }
            }
            await commit()
        }
    }

    private func fetch(_ partitions: [TopicPartition], from node: Int32) async throws {
        let leader = try await consumer.fetchConnections.connection(toNode: node, in: cluster)
        let positions = state.withLock { $0.positions }
        let request = FetchRequest(
            maxWaitMs: Int32(configuration.maxWait.milliseconds), minBytes: 1, maxBytes: 52_428_800,
            topics: Dictionary(grouping: partitions, by: \.topic).sorted { $0.key < $1.key }.map { topic, entries in
                .init(name: topic, partitions: entries.map {
                    .init(index: $0.partition, fetchOffset: positions[$0] ?? 0, partitionMaxBytes: configuration.maxBytesPerPartition)
                })
            })
        let response = try await leader.request(.fetch, version: ClientVersion.fetch, extraTimeout: .nanoseconds(configuration.maxWait.nanoseconds)) {
            request.encode(into: &$0, version: ClientVersion.fetch)
        } decode: { (reader: inout KafkaReader) throws(KafkaWireError) in
            try FetchResponse(from: &reader, version: ClientVersion.fetch)
        }
        for topic in response.topics {
            for answer in topic.partitions {
                let partition = TopicPartition(topic: topic.name, partition: answer.index)
                switch answer.errorCode {
                case .none:
                    try await handle(answer.records, of: partition)
                case .offsetOutOfRange:
                    let start = try await startOffset(of: partition)
                    consumer.logOffsetReset(partition, to: start)
                    state.withLock { $0.positions[partition] = start }
                case let code where code.isRetriable:
                    await cluster.forgetLeaders(of: partition.topic)
                default:
                    throw KafkaClientError.broker(answer.errorCode, api: .fetch, resource: "\(partition.topic)-\(partition.partition)", message: nil)
                }
                if mustRejoin { return }
            }
        }
    }

    /// Hands every record at or past the partition's position to the handler, in order;
    /// the position moves past each one handled.
    private func handle(_ records: ByteBuffer, of partition: TopicPartition) async throws {
        for batch in try Self.wholeBatches(records) {
            var position = state.withLock { $0.positions[partition] ?? 0 }
            guard batch.nextOffset > position else { continue }
            if batch.isControl {
                state.withLock { $0.positions[partition] = batch.nextOffset }
                continue
            }
            let records: [Record]
            do {
                records = try batch.records()
            } catch {
                throw KafkaClientError.malformedResponse(api: .fetch, broker: "leader of \(partition.topic)-\(partition.partition)", reason: "batch at offset \(batch.baseOffset): \(error)")
            }
            for record in records {
                let offset = batch.baseOffset + Int64(record.offsetDelta)
                guard offset >= position else { continue }
                if mustRejoin { return }
                let message = ConsumedMessage(
                    topic: partition.topic, partition: partition.partition, offset: offset,
                    key: record.key.map { Array($0.readableBytesView) }, value: record.value.map { Array($0.readableBytesView) },
                    headers: KafkaHeaders(record.headers.map { .init(name: $0.key, value: $0.value.map { Array($0.readableBytesView) }) }),
                    timestamp: batch.baseTimestamp + record.timestampDelta, attempt: 1)
                try await consumer.handle(message, handler)
                position = offset + 1
                state.withLock { $0.positions[partition] = position }
            }
            state.withLock { $0.positions[partition] = max(position, batch.nextOffset) }
        }
    }

    /// The whole batches of a Fetch answer's records; a partial last one (the broker cut
    /// the answer at its size limit) is left for the next fetch.
    static func wholeBatches(_ records: ByteBuffer) throws -> [RecordBatch] {
        var rest = records
        var batches: [RecordBatch] = []
        while rest.readableBytes >= RecordBatch.logOverhead,
            let length = rest.getInteger(at: rest.readerIndex + 8, as: Int32.self),
            Int(length) + RecordBatch.logOverhead <= rest.readableBytes
        {
            batches.append(try RecordBatch(rest.readSlice(length: Int(length) + RecordBatch.logOverhead)!))
        }
        return batches
    }
}

extension KafkaConsumer {
    func logHeartbeat(_ code: ErrorCode) {
        loggerForSession.info("group rebalancing", metadata: ["group": "\(configuration.groupID)", "reason": "\(code.name)"])
    }

    func logCommitFailure(_ reason: String) {
        loggerForSession.warning("committing offsets failed", metadata: ["group": "\(configuration.groupID)", "error": "\(reason)"])
    }

    func logOffsetReset(_ partition: TopicPartition, to offset: Int64) {
        loggerForSession.warning("offset out of range; starting again", metadata: [
            "topic": "\(partition.topic)", "partition": "\(partition.partition)", "offset": "\(offset)",
        ])
    }
}
