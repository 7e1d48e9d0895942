import Foundation
import KafkaWire
import Logging
import NIOCore

package struct TopicPartition: Hashable, Sendable, CustomStringConvertible {
    package var topic: String
    package var partition: Int32
    package init(topic: String, partition: Int32) {
        self.topic = topic
        self.partition = partition
    }
    package var description: String { "\(topic)-\(partition)" }
}

/// What went wrong appending to a partition, mapped to the Kafka error the producer sees.
enum AppendError: Error {
    case unknownTopicOrPartition
    case corrupt(KafkaWireError)
    case outOfOrderSequence(expected: Int32, got: Int32)
    case fencedEpoch
    case storage(any Error)

    var errorCode: ErrorCode {
        switch self {
        case .unknownTopicOrPartition: .unknownTopicOrPartition
        case .corrupt: .corruptMessage
        case .outOfOrderSequence: .outOfOrderSequenceNumber
        case .fencedEpoch: .invalidProducerEpoch
        case .storage: .unknownServerError
        }
    }
}

/// Kafka's rule for topic names: 1–249 characters of `[a-zA-Z0-9._-]`, not "." or "..".
func topicNameProblem(_ name: String) -> String? {
    if name.isEmpty { return "topic name is empty" }
    if name == "." || name == ".." { return "topic name cannot be '.' or '..'" }
    if name.utf8.count > 249 { return "topic name is longer than 249 characters" }
    let legal = name.utf8.allSatisfy { byte in
        (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A)
            || byte == 0x2E || byte == 0x5F || byte == 0x2D
    }
    return legal ? nil : "topic name '\(name)' has characters outside [a-zA-Z0-9._-]"
}

/// Every topic's partitions, the producers' sequence state, and the fetchers waiting for
/// new data. One actor so that an append and the wake-up of long polls are atomic.
package actor TopicStore {
    private var topics: [String: [PartitionLog]] = [:]
    private var producers: [TopicPartition: [Int64: ProducerState]] = [:]
    private var nextProducerID: Int64 = 1000
    private var waiters: [Int: CheckedContinuation<Void, Never>] = [:]
    private var nextWaiterID = 0
    private let storage: DiskLog?
    private let logger: Logger
    package let metrics: BrokerMetrics

    /// With a data directory the logs live on disk and are recovered here; without, in
    /// memory only (tests).
    init(dataDirectory: URL?, options: StorageOptions, metrics: BrokerMetrics, logger: Logger) throws {
        self.logger = logger
        self.metrics = metrics
        if let dataDirectory {
            let storage = try DiskLog(dataDirectory: dataDirectory, options: options, logger: logger)
            for (name, logs) in try storage.recover() {
                topics[name] = logs
            }
            self.storage = storage
        } else {
            storage = nil
        }
    }

    /// The periodic side of the flush and retention policies.
    func maintain(nowMs: Int64) {
        guard let storage else { return }
        if storage.options.flushIntervalMs > 0 { storage.flushDirty() }
        for (tp, start) in storage.enforceRetention(nowMs: nowMs) {
            guard var logs = topics[tp.topic], Int(tp.partition) < logs.count else { continue }
            var log = logs[Int(tp.partition)]
            let drop = log.batches.prefix { $0.nextOffset <= start }
            log.sizeInBytes -= drop.reduce(0) { $0 + $1.size }
            log.batches.removeFirst(drop.count)
            log.logStartOffset = start
            logs[Int(tp.partition)] = log
            topics[tp.topic] = logs
        }
    }

    package var topicNames: [String] { topics.keys.sorted() }

    package func partitionCount(_ topic: String) -> Int? { topics[topic]?.count }

    package func exists(_ topic: String) -> Bool { topics[topic] != nil }

    /// Creates a topic; false when it already exists.
    @discardableResult
    package func create(_ topic: String, partitions: Int) throws -> Bool {
        guard topics[topic] == nil else { return false }
        try storage?.createTopic(topic, partitions: partitions)
        topics[topic] = Array(repeating: PartitionLog(), count: partitions)
        logger.info("created topic", metadata: ["topic": "\(topic)", "partitions": "\(partitions)"])
        return true
    }

    package func highWatermark(_ tp: TopicPartition) -> Int64? {
        topics[tp.topic].flatMap { tp.partition >= 0 && Int(tp.partition) < $0.count ? $0[Int(tp.partition)].nextOffset : nil }
    }

    package func highWatermarks() -> [TopicPartition: Int64] {
        var result: [TopicPartition: Int64] = [:]
        for (name, logs) in topics {
            for (index, log) in logs.enumerated() {
                result[TopicPartition(topic: name, partition: Int32(index))] = log.nextOffset
            }
        }
        return result
    }

    package func initProducerID() -> Int64 {
        defer { nextProducerID += 1 }
        return nextProducerID
    }

    /// Appends the batches of one Produce partition; returns the base offset of the first.
    /// The batches reach the disk (and are flushed, under the every-batch policy) before
    /// they become visible to fetchers or are acknowledged.
    func append(_ tp: TopicPartition, records: ByteBuffer) throws(AppendError) -> (baseOffset: Int64, logStartOffset: Int64) {
        try append(tp, batches: Self.split(records))
    }

    /// Splits a Produce partition's records into batches, checking each CRC. Callers do it
    /// before they enter the actor, so that connections check their batches in parallel
    /// rather than one after another inside it.
    nonisolated static func split(_ records: ByteBuffer) -> Result<[RecordBatch], KafkaWireError> {
        Result { () throws(KafkaWireError) in try RecordBatch.split(records) }
    }

    /// `append(_:records:)` with the records already split; a corrupt split is reported
    /// after an unknown partition, as before the split moved out.
    func append(_ tp: TopicPartition, batches split: Result<[RecordBatch], KafkaWireError>) throws(AppendError) -> (baseOffset: Int64, logStartOffset: Int64) {
        guard let count = topics[tp.topic]?.count, tp.partition >= 0, Int(tp.partition) < count else {
            throw .unknownTopicOrPartition
        }
        let index = Int(tp.partition)
        let batches: [RecordBatch]
        switch split {
        case .success(let split): batches = split
        case .failure(let error): throw .corrupt(error)
        }
        guard !batches.isEmpty else { throw .corrupt(.invalidBatch("no record batch in produce data")) }
        var firstOffset: Int64?
        var next = topics[tp.topic]![index].nextOffset
        var states = producers[tp] ?? [:]
        var appended: [RecordBatch] = []
        for var batch in batches {
            if batch.producerID >= 0 {
                let state = states[batch.producerID] ?? ProducerState(epoch: batch.producerEpoch)
                switch state.check(batch) {
                case .duplicate(let offset):
                    logger.info("duplicate batch acknowledged without append", metadata: [
                        "partition": "\(tp)", "producer_id": "\(batch.producerID)", "base_sequence": "\(batch.baseSequence)",
                    ])
                    firstOffset = firstOffset ?? offset
                    continue
                case .outOfOrder(let expected):
                    throw .outOfOrderSequence(expected: expected, got: batch.baseSequence)
                case .fencedEpoch:
                    throw .fencedEpoch
                case .append:
                    break
                }
                var updated = state
                updated.record(batch, baseOffset: next)
                states[batch.producerID] = updated
            }
            if storage == nil {
                batch.assignBaseOffset(next)
            } else {
                // The disk log writes the base offset itself: setting it in `bytes` would
                // copy the batch out of the request frame it shares storage with.
                batch.baseOffset = next
            }
            firstOffset = firstOffset ?? next
            next = batch.nextOffset
            appended.append(batch)
        }
        var locations: [(segment: Int64, position: Int)] = []
        if let storage, !appended.isEmpty {
            do {
                locations = try storage.append(appended, to: tp)
            } catch {
                throw .storage(error)
            }
        }
        for (position, batch) in appended.enumerated() {
            let location = storage == nil ? (segment: Int64(0), position: 0) : locations[position]
            topics[tp.topic]![index].append(StoredBatch(batch, keepingBytes: storage == nil, segment: location.segment, position: location.position))
        }
        producers[tp] = states
        if !appended.isEmpty {
            metrics.recordIn(topic: tp.topic, bytes: appended.reduce(0) { $0 + $1.size }, messages: appended.reduce(0) { $0 + Int($1.recordCount) })
            wakeFetchers()
        }
        let log = topics[tp.topic]![index]
        return (firstOffset ?? log.nextOffset, log.logStartOffset)
    }

    /// Long-poll Fetch: answers once `minBytes` are available or `maxWait` has passed.
    func fetch(_ request: FetchRequest) async -> FetchResponse {
        let deadline = ContinuousClock.now + .milliseconds(Int64(max(0, request.maxWaitMs)))
        while true {
            let (response, bytes, failed, messages) = read(request)
            if bytes >= Int(request.minBytes) || failed || ContinuousClock.now >= deadline {
                for (topic, count) in messages { metrics.recordMessagesOut(topic: topic, messages: count) }
                for topic in response.topics {
                    let out = topic.partitions.reduce(0) { $0 + $1.records.readableBytes }
                    if out > 0 { metrics.recordOut(topic: topic.name, bytes: out) }
                }
                return response
            }
            await waitForAppend(until: deadline)
        }
    }

    private func read(_ request: FetchRequest) -> (FetchResponse, Int, Bool, [String: Int]) {
        var total = 0
        var failed = false
        var budget = Int(max(request.maxBytes, 0))
        var messagesOut: [String: Int] = [:]
        let topicsOut = request.topics.map { topic in
            FetchResponse.Topic(
                name: topic.name,
                partitions: topic.partitions.map { partition in
                    guard let logs = topics[topic.name], partition.index >= 0, Int(partition.index) < logs.count else {
                        failed = true
                        return FetchResponse.Partition(index: partition.index, errorCode: .unknownTopicOrPartition, highWatermark: -1, logStartOffset: -1, records: ByteBuffer())
                    }
                    let log = logs[Int(partition.index)]
                    guard partition.fetchOffset >= log.logStartOffset, partition.fetchOffset <= log.nextOffset else {
                        failed = true
                        return FetchResponse.Partition(index: partition.index, errorCode: .offsetOutOfRange, highWatermark: log.nextOffset, logStartOffset: log.logStartOffset, records: ByteBuffer())
                    }
                    let limit = min(Int(max(partition.partitionMaxBytes, 0)), budget)
                    var records = ByteBuffer()
                    let count = copy(log.select(from: partition.fetchOffset, maxBytes: limit, alwaysOne: total == 0), of: TopicPartition(topic: topic.name, partition: partition.index), into: &records)
                    if count > 0 { messagesOut[topic.name, default: 0] += count }
                    total += records.readableBytes
                    budget = max(0, budget - records.readableBytes)
                    return FetchResponse.Partition(index: partition.index, errorCode: .none, highWatermark: log.nextOffset, logStartOffset: log.logStartOffset, records: records)
                }
            )
        }
        return (FetchResponse(topics: topicsOut), total, failed, messagesOut)
    }

    /// Appends the batches' bytes to `records`, up to the first that cannot be read;
    /// returns the records copied. Batches lying back to back in one segment file are read
    /// with one call, straight into `records`.
    private func copy(_ batches: ArraySlice<StoredBatch>, of tp: TopicPartition, into records: inout ByteBuffer) -> Int {
        var count = 0
        records.reserveCapacity(records.writerIndex + batches.reduce(0) { $0 + $1.size })
        var index = batches.startIndex
        while index < batches.endIndex {
            let first = batches[index]
            var end = index + 1
            var size = first.size
            if first.bytes == nil, let storage {
                while end < batches.endIndex, batches[end].bytes == nil, batches[end].segment == first.segment,
                    batches[end].position == first.position + size
                {
                    size += batches[end].size
                    end += 1
                }
                if (try? storage.read(tp, segment: first.segment, position: first.position, size: size, appendingTo: &records)) != nil {
                    count += batches[index..<end].reduce(0) { $0 + Int($1.recordCount) }
                    index = end
                    continue
                }
            }
            // One batch, or a run whose read failed: batch by batch, as far as they load.
            guard let bytes = load(first, of: tp) else { return count }
            records.writeImmutableBuffer(bytes)
            count += Int(first.recordCount)
            index += 1
        }
        return count
    }

    /// A batch's bytes: held in memory, or read back from its segment file.
    private func load(_ batch: StoredBatch, of tp: TopicPartition) -> ByteBuffer? {
        if let bytes = batch.bytes { return bytes }
        guard let storage else { return nil }
        do {
            return try storage.read(tp, segment: batch.segment, position: batch.position, size: batch.size)
        } catch {
            logger.error("reading a batch back from disk failed", metadata: ["partition": "\(tp)", "offset": "\(batch.baseOffset)", "error": "\(error)"])
            return nil
        }
    }

    private func waitForAppend(until deadline: ContinuousClock.Instant) async {
        let id = nextWaiterID
        nextWaiterID += 1
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            waiters[id] = continuation
            Task { [weak self] in
                try? await Task.sleep(until: deadline, clock: .continuous)
                await self?.wake(id)
            }
        }
    }

    private func wake(_ id: Int) {
        waiters.removeValue(forKey: id)?.resume()
    }

    private func wakeFetchers() {
        let all = waiters
        waiters = [:]
        for continuation in all.values { continuation.resume() }
    }

    func listOffset(_ tp: TopicPartition, timestamp: Int64) -> ListOffsetsResponse.Partition {
        guard let logs = topics[tp.topic], tp.partition >= 0, Int(tp.partition) < logs.count else {
            return .init(index: tp.partition, errorCode: .unknownTopicOrPartition, timestamp: -1, offset: -1)
        }
        let log = logs[Int(tp.partition)]
        switch timestamp {
        case -1: return .init(index: tp.partition, errorCode: .none, timestamp: -1, offset: log.nextOffset)
        case -2: return .init(index: tp.partition, errorCode: .none, timestamp: -1, offset: log.logStartOffset)
        default:
            guard let found = log.offset(forTimestamp: timestamp, load: { load($0, of: tp) }) else {
                return .init(index: tp.partition, errorCode: .none, timestamp: -1, offset: -1)
            }
            return .init(index: tp.partition, errorCode: .none, timestamp: found.timestamp, offset: found.offset)
        }
    }
}
