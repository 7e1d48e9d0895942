import KafkaWire
import Logging
import NIOCore

/// Turns one request frame into its response frame. Connections call it one request at a
/// time, which is what keeps responses in request order.
struct RequestHandler: Sendable {
    let topics: TopicStore
    let groups: GroupCoordinator
    let configuration: BrokerConfiguration
    let advertisedPort: Int32
    let metrics: BrokerMetrics
    let logger: Logger

    static let nodeID: Int32 = 0

    /// The response frame (length prefix included), or nil when the request gets none
    /// (Produce with acks=0). Throws when the frame cannot be understood; the connection
    /// is then closed, as Kafka does.
    func respond(to frame: ByteBuffer, peer: String) async throws(KafkaWireError) -> ByteBuffer? {
        let started = ContinuousClock.now
        let (header, request) = try KafkaRequest.decode(frame)
        let api = APIKey(rawValue: header.apiKey)!
        let version = header.apiVersion
        var body = ByteBuffer()
        body.writeInteger(Int32(0))
        body.writeInteger(header.correlationID)
        switch request {
        case .apiVersions:
            if api.supportedVersions.contains(version) {
                ApiVersionsResponse.supported().encode(into: &body, version: version)
            } else {
                // KIP-511: a client opening with a newer ApiVersions gets the v0 body with
                // UNSUPPORTED_VERSION and retries with the highest version listed.
                logger.debug("ApiVersions v\(version) answered with v0 and UNSUPPORTED_VERSION", metadata: ["peer": "\(peer)"])
                ApiVersionsResponse.supported(errorCode: .unsupportedVersion).encode(into: &body, version: 0)
            }
        case .metadata(let request):
            await metadata(request).encode(into: &body, version: version)
        case .produce(let request):
            let response = await produce(request, version: version, peer: peer)
            if request.acks == 0 { return nil }
            response.encode(into: &body, version: version)
        case .fetch(let request):
            let response = await topics.fetch(request)
            // Room for every partition's records up front, so that tens of MB are copied
            // once rather than again at every doubling of the buffer.
            let records = response.topics.reduce(0) { $0 + $1.partitions.reduce(0) { $0 + $1.records.readableBytes + 64 } }
            body.reserveCapacity(body.writerIndex + records + 64)
            response.encode(into: &body, version: version)
        case .listOffsets(let request):
            await listOffsets(request).encode(into: &body, version: version)
        case .createTopics(let request):
            await createTopics(request, peer: peer).encode(into: &body, version: version)
        case .initProducerId(let request):
            if request.transactionalID != nil {
                logger.info("InitProducerId refused", metadata: ["peer": "\(peer)", "reason": "transactions are not supported"])
                InitProducerIdResponse(errorCode: .invalidRequest, producerID: -1, producerEpoch: -1).encode(into: &body, version: version)
            } else {
                InitProducerIdResponse(errorCode: .none, producerID: await topics.initProducerID(), producerEpoch: 0).encode(into: &body, version: version)
            }
        case .findCoordinator(let request):
            if request.keyType != 0 {
                logger.info("FindCoordinator refused", metadata: ["peer": "\(peer)", "reason": "only group coordinators exist (key type \(request.keyType))"])
                FindCoordinatorResponse(errorCode: .coordinatorNotAvailable, nodeID: -1, host: "", port: -1).encode(into: &body, version: version)
            } else {
                FindCoordinatorResponse(errorCode: .none, nodeID: Self.nodeID, host: configuration.advertisedHost, port: advertisedPort).encode(into: &body, version: version)
            }
        case .joinGroup(let request):
            await groups.join(request, clientID: header.clientID).encode(into: &body, version: version)
        case .syncGroup(let request):
            await groups.sync(request).encode(into: &body, version: version)
        case .heartbeat(let request):
            ErrorOnlyResponse(errorCode: await groups.heartbeat(request)).encode(into: &body, version: version)
        case .leaveGroup(let request):
            let results = await groups.leave(request)
            let error = version < 3 ? (results.first?.errorCode ?? .none) : .none
            LeaveGroupResponse(errorCode: error, members: results).encode(into: &body, version: version)
        case .offsetCommit(let request):
            await groups.commit(request).encode(into: &body, version: version)
        case .offsetFetch(let request):
            await groups.fetchOffsets(request).encode(into: &body, version: version)
        }
        metrics.requestLatency(api: api.description, duration: ContinuousClock.now - started)
        // Set in place: a helper taking `body` by value would copy a whole Fetch response.
        body.setInteger(Int32(body.readableBytes - 4), at: body.readerIndex)
        return body
    }

    private func brokers() -> [MetadataResponse.Broker] {
        [MetadataResponse.Broker(nodeID: Self.nodeID, host: configuration.advertisedHost, port: advertisedPort)]
    }

    private func metadata(_ request: MetadataRequest) async -> MetadataResponse {
        let names: [String]
        if let requested = request.topics {
            names = requested
        } else {
            names = await topics.topicNames
        }
        var out: [MetadataResponse.Topic] = []
        for name in names {
            if let problem = topicNameProblem(name) {
                logger.info("metadata for invalid topic refused", metadata: ["topic": "\(name)", "reason": "\(problem)"])
                out.append(.init(errorCode: .invalidTopic, name: name, partitions: []))
                continue
            }
            var count = await topics.partitionCount(name)
            if count == nil, configuration.autoCreateTopics, request.allowAutoTopicCreation {
                _ = try? await topics.create(name, partitions: configuration.defaultPartitions)
                count = await topics.partitionCount(name)
            }
            guard let count else {
                out.append(.init(errorCode: .unknownTopicOrPartition, name: name, partitions: []))
                continue
            }
            out.append(.init(errorCode: .none, name: name, partitions: (0..<Int32(count)).map { .init(index: $0, leaderID: Self.nodeID) }))
        }
        return MetadataResponse(brokers: brokers(), clusterID: configuration.clusterID, controllerID: Self.nodeID, topics: out)
    }

    private func produce(_ request: ProduceRequest, version: Int16, peer: String) async -> ProduceResponse {
        var out: [ProduceResponse.Topic] = []
        for topic in request.topics {
            var partitions: [ProduceResponse.Partition] = []
            let problem = topicNameProblem(topic.name)
            if problem == nil, configuration.autoCreateTopics, !(await topics.exists(topic.name)) {
                _ = try? await topics.create(topic.name, partitions: configuration.defaultPartitions)
            }
            for partition in topic.partitions {
                func refuse(_ code: ErrorCode, _ reason: String) {
                    logger.info("produce refused", metadata: ["peer": "\(peer)", "topic": "\(topic.name)", "partition": "\(partition.index)", "error": "\(code.rawValue)", "reason": "\(reason)"])
                    partitions.append(.init(index: partition.index, errorCode: code, baseOffset: -1, logStartOffset: -1, errorMessage: reason))
                }
                if let problem {
                    refuse(.invalidTopic, problem)
                } else if version < 3 {
                    refuse(.unsupportedVersion, "Produce v\(version) carries message format v0/v1; use v3 or later")
                } else if request.transactionalID != nil {
                    refuse(.invalidRequest, "transactional produce is not supported")
                } else if ![0, 1, -1].contains(request.acks) {
                    refuse(.invalidRequiredAcks, "acks must be 0, 1 or -1, got \(request.acks)")
                } else if let records = partition.records {
                    do {
                        let batches = TopicStore.split(records)
                        let appended = try await topics.append(TopicPartition(topic: topic.name, partition: partition.index), batches: batches)
                        partitions.append(.init(index: partition.index, errorCode: .none, baseOffset: appended.baseOffset, logStartOffset: appended.logStartOffset))
                    } catch {
                        let reason: String
                        switch error {
                        case .unknownTopicOrPartition: reason = "no such topic or partition"
                        case .corrupt(let wire): reason = wire.description
                        case .outOfOrderSequence(let expected, let got): reason = "sequence \(got), expected \(expected)"
                        case .fencedEpoch: reason = "producer epoch is older than the last one seen"
                        case .storage(let cause): reason = "storage failed: \(cause)"
                        }
                        refuse(error.errorCode, reason)
                    }
                } else {
                    refuse(.corruptMessage, "records are null")
                }
            }
            out.append(.init(name: topic.name, partitions: partitions))
        }
        return ProduceResponse(topics: out)
    }

    private func listOffsets(_ request: ListOffsetsRequest) async -> ListOffsetsResponse {
        var out: [ListOffsetsResponse.Topic] = []
        for topic in request.topics {
            var partitions: [ListOffsetsResponse.Partition] = []
            for partition in topic.partitions {
                partitions.append(await topics.listOffset(TopicPartition(topic: topic.name, partition: partition.index), timestamp: partition.timestamp))
            }
            out.append(.init(name: topic.name, partitions: partitions))
        }
        return ListOffsetsResponse(topics: out)
    }

    private func createTopics(_ request: CreateTopicsRequest, peer: String) async -> CreateTopicsResponse {
        var out: [(name: String, errorCode: ErrorCode, message: String?)] = []
        for topic in request.topics {
            let count = topic.partitionCount == -1 ? Int32(configuration.defaultPartitions) : topic.partitionCount
            let result: (ErrorCode, String?)
            if let problem = topicNameProblem(topic.name) {
                result = (.invalidTopic, problem)
            } else if topic.assignmentCount > 0 {
                result = (.invalidRequest, "manual replica assignments are not supported")
            } else if count < 1 || count > 10_000 {
                result = (.invalidPartitions, "partition count \(topic.partitionCount) must be between 1 and 10000")
            } else if topic.replicationFactor != -1, topic.replicationFactor != 1 {
                result = (.invalidReplicationFactor, "replication factor \(topic.replicationFactor): this broker keeps one replica")
            } else if await topics.exists(topic.name) {
                result = (.topicAlreadyExists, "topic '\(topic.name)' already exists")
            } else if request.validateOnly {
                result = (.none, nil)
            } else {
                do {
                    try await topics.create(topic.name, partitions: Int(count))
                    result = (.none, nil)
                } catch {
                    result = (.unknownServerError, "creating the topic's files failed: \(error)")
                }
            }
            if result.0 != .none {
                logger.info("create topic refused", metadata: ["peer": "\(peer)", "topic": "\(topic.name)", "error": "\(result.0.rawValue)", "reason": "\(result.1 ?? "")"])
            }
            out.append((topic.name, result.0, result.1))
        }
        return CreateTopicsResponse(topics: out)
    }
}
