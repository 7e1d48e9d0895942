import KafkaWire
import NIOCore
import Testing

// The client's directions (requests encoded, responses decoded) read back by the broker's
// (requests decoded, responses encoded), at every version ApiVersions advertises. A plain
// import: everything used here must be public.

/// Encodes, decodes the bytes, and requires that the decoder read every one of them.
private func roundTrip<T>(_ encode: (inout ByteBuffer) -> Void, _ decode: (inout KafkaReader) throws -> T) throws -> T {
    var buffer = ByteBuffer()
    encode(&buffer)
    var reader = KafkaReader(buffer)
    let decoded = try decode(&reader)
    #expect(reader.remaining == 0, "\(reader.remaining) bytes left unread")
    return decoded
}

private let bytes = ByteBuffer(bytes: [0, 1, 2, 3])

@Test(arguments: APIKey.findCoordinator.supportedVersions)
func findCoordinatorRoundTrips(version: Int16) throws {
    let request = try roundTrip({ FindCoordinatorRequest(key: "orders", keyType: 1).encode(into: &$0, version: version) }) {
        try FindCoordinatorRequest(from: &$0, version: version)
    }
    #expect(request.key == "orders")
    #expect(request.keyType == (version >= 1 ? 1 : 0))
    let response = try roundTrip({
        FindCoordinatorResponse(errorCode: .notCoordinator, nodeID: 7, host: "broker", port: 9092).encode(into: &$0, version: version)
    }) { try FindCoordinatorResponse(from: &$0, version: version) }
    #expect(response.errorCode == .notCoordinator)
    #expect(response.nodeID == 7 && response.host == "broker" && response.port == 9092)
}

@Test(arguments: APIKey.joinGroup.supportedVersions)
func joinGroupRoundTrips(version: Int16) throws {
    let sent = JoinGroupRequest(
        groupID: "g", sessionTimeoutMs: 10_000, rebalanceTimeoutMs: 30_000, memberID: "m-1", groupInstanceID: "i-1",
        protocols: [.init(name: "range", metadata: bytes), .init(name: "roundrobin", metadata: ByteBuffer())]
    )
    let request = try roundTrip({ sent.encode(into: &$0, version: version) }) { try JoinGroupRequest(from: &$0, version: version) }
    #expect(request.groupID == "g" && request.sessionTimeoutMs == 10_000 && request.memberID == "m-1")
    #expect(request.rebalanceTimeoutMs == (version >= 1 ? 30_000 : 10_000))
    #expect(request.groupInstanceID == (version >= 5 ? "i-1" : nil))
    #expect(request.protocolType == "consumer")
    #expect(request.protocols.map(\.name) == ["range", "roundrobin"])
    #expect(request.protocols.map(\.metadata) == [bytes, ByteBuffer()])

    let response = try roundTrip({
        JoinGroupResponse(
            errorCode: .none, generationID: 3, protocolName: "range", leader: "m-1", memberID: "m-2",
            members: [.init(memberID: "m-1", metadata: bytes), .init(memberID: "m-2", metadata: ByteBuffer())]
        ).encode(into: &$0, version: version)
    }) { try JoinGroupResponse(from: &$0, version: version) }
    #expect(response.errorCode == .none && response.generationID == 3 && response.protocolName == "range")
    #expect(response.leader == "m-1" && response.memberID == "m-2")
    #expect(response.members.map(\.memberID) == ["m-1", "m-2"])
    #expect(response.members.map(\.metadata) == [bytes, ByteBuffer()])
}

@Test(arguments: APIKey.syncGroup.supportedVersions)
func syncGroupRoundTrips(version: Int16) throws {
    let sent = SyncGroupRequest(
        groupID: "g", generationID: 3, memberID: "m-1", groupInstanceID: "i-1",
        assignments: [SyncGroupRequest.Assignment(memberID: "m-1", assignment: bytes), (memberID: "m-2", assignment: ByteBuffer())]
    )
    let request = try roundTrip({ sent.encode(into: &$0, version: version) }) { try SyncGroupRequest(from: &$0, version: version) }
    #expect(request.groupID == "g" && request.generationID == 3 && request.memberID == "m-1")
    #expect(request.groupInstanceID == (version >= 3 ? "i-1" : nil))
    #expect(request.assignments.map(\.memberID) == ["m-1", "m-2"])
    #expect(request.assignments.map(\.assignment) == [bytes, ByteBuffer()])

    let response = try roundTrip({ SyncGroupResponse(errorCode: .rebalanceInProgress, assignment: bytes).encode(into: &$0, version: version) }) {
        try SyncGroupResponse(from: &$0, version: version)
    }
    #expect(response.errorCode == .rebalanceInProgress && response.assignment == bytes)
}

@Test(arguments: APIKey.heartbeat.supportedVersions)
func heartbeatRoundTrips(version: Int16) throws {
    let sent = HeartbeatRequest(groupID: "g", generationID: 3, memberID: "m-1", groupInstanceID: "i-1")
    let request = try roundTrip({ sent.encode(into: &$0, version: version) }) { try HeartbeatRequest(from: &$0, version: version) }
    #expect(request.groupID == "g" && request.generationID == 3 && request.memberID == "m-1")
    #expect(request.groupInstanceID == (version >= 3 ? "i-1" : nil))

    let response = try roundTrip({ ErrorOnlyResponse(errorCode: .illegalGeneration).encode(into: &$0, version: version) }) {
        try ErrorOnlyResponse(from: &$0, version: version)
    }
    #expect(response.errorCode == .illegalGeneration)
}

@Test(arguments: APIKey.leaveGroup.supportedVersions)
func leaveGroupRoundTrips(version: Int16) throws {
    let sent = version >= 3 ? LeaveGroupRequest(groupID: "g", memberIDs: ["m-1", "m-2"]) : LeaveGroupRequest(groupID: "g", memberID: "m-1")
    let request = try roundTrip({ sent.encode(into: &$0, version: version) }) { try LeaveGroupRequest(from: &$0, version: version) }
    #expect(request.groupID == "g" && request.memberIDs == sent.memberIDs)

    let answer = LeaveGroupResponse(errorCode: .none, members: [(memberID: "m-1", errorCode: .none), (memberID: "m-2", errorCode: .unknownMemberID)])
    let response = try roundTrip({ answer.encode(into: &$0, version: version) }) { try LeaveGroupResponse(from: &$0, version: version) }
    #expect(response.errorCode == .none)
    #expect(response.members.map(\.memberID) == (version >= 3 ? ["m-1", "m-2"] : []))
    #expect(response.members.map(\.errorCode) == (version >= 3 ? [.none, .unknownMemberID] : []))
}

@Test(arguments: APIKey.offsetCommit.supportedVersions)
func offsetCommitRoundTrips(version: Int16) throws {
    let sent = OffsetCommitRequest(
        groupID: "g", generationID: 3, memberID: "m-1", groupInstanceID: "i-1", retentionTimeMs: 60_000,
        topics: [(name: "orders", partitions: [.init(index: 0, offset: 42, leaderEpoch: 5, metadata: "meta"), .init(index: 1, offset: 7)])]
    )
    let request = try roundTrip({ sent.encode(into: &$0, version: version) }) { try OffsetCommitRequest(from: &$0, version: version) }
    #expect(request.groupID == "g" && request.generationID == 3 && request.memberID == "m-1")
    #expect(request.groupInstanceID == (version >= 7 ? "i-1" : nil))
    #expect(request.retentionTimeMs == (version <= 4 ? 60_000 : -1))
    let partitions = try #require(request.topics.first { $0.name == "orders" }).partitions
    #expect(partitions.map(\.index) == [0, 1] && partitions.map(\.offset) == [42, 7])
    #expect(partitions.map(\.leaderEpoch) == (version >= 6 ? [5, -1] : [-1, -1]))
    #expect(partitions.map(\.metadata) == ["meta", nil])

    let response = try roundTrip({
        OffsetCommitResponse(topics: [(name: "orders", partitions: [(index: 0, errorCode: .none), (index: 1, errorCode: .unknownTopicOrPartition)])])
            .encode(into: &$0, version: version)
    }) { try OffsetCommitResponse(from: &$0, version: version) }
    #expect(response.topics.map(\.name) == ["orders"])
    #expect(response.topics[0].partitions.map(\.index) == [0, 1])
    #expect(response.topics[0].partitions.map(\.errorCode) == [.none, .unknownTopicOrPartition])
}

@Test(arguments: APIKey.offsetFetch.supportedVersions)
func offsetFetchRoundTrips(version: Int16) throws {
    let request = try roundTrip({
        OffsetFetchRequest(groupID: "g", topics: [(name: "orders", partitions: [0, 1])]).encode(into: &$0, version: version)
    }) { try OffsetFetchRequest(from: &$0, version: version) }
    #expect(request.groupID == "g")
    #expect(request.topics?.map(\.name) == ["orders"] && request.topics?.first?.partitions == [0, 1])

    let all = try roundTrip({ OffsetFetchRequest(groupID: "g", topics: nil).encode(into: &$0, version: version) }) {
        try OffsetFetchRequest(from: &$0, version: version)
    }
    #expect(all.topics == nil || (version < 2 && all.topics?.isEmpty == true))

    let sent = OffsetFetchResponse(
        topics: [(name: "orders", partitions: [.init(index: 0, offset: 42, metadata: "meta", errorCode: .none), .init(index: 1, offset: -1, metadata: nil, errorCode: .none)])],
        errorCode: .coordinatorNotAvailable
    )
    let response = try roundTrip({ sent.encode(into: &$0, version: version) }) { try OffsetFetchResponse(from: &$0, version: version) }
    #expect(response.errorCode == (version >= 2 ? .coordinatorNotAvailable : .none))
    let partitions = try #require(response.topics.first { $0.name == "orders" }).partitions
    #expect(partitions.map(\.index) == [0, 1] && partitions.map(\.offset) == [42, -1])
    #expect(partitions.map(\.metadata) == ["meta", nil] && partitions.map(\.errorCode) == [.none, .none])
}

@Test(arguments: APIKey.listOffsets.supportedVersions)
func listOffsetsRoundTrips(version: Int16) throws {
    let sent = ListOffsetsRequest(
        isolationLevel: 1,
        topics: [.init(name: "orders", partitions: [.init(index: 0, currentLeaderEpoch: 4, timestamp: -1), .init(index: 1, timestamp: -2)])]
    )
    let request = try roundTrip({ sent.encode(into: &$0, version: version) }) { try ListOffsetsRequest(from: &$0, version: version) }
    #expect(request.isolationLevel == (version >= 2 ? 1 : 0))
    let partitions = try #require(request.topics.first { $0.name == "orders" }).partitions
    #expect(partitions.map(\.index) == [0, 1] && partitions.map(\.timestamp) == [-1, -2])
    #expect(partitions.map(\.currentLeaderEpoch) == (version >= 4 ? [4, -1] : [-1, -1]))

    let response = try roundTrip({
        ListOffsetsResponse(topics: [.init(name: "orders", partitions: [.init(index: 0, errorCode: .none, timestamp: -1, offset: 42)])])
            .encode(into: &$0, version: version)
    }) { try ListOffsetsResponse(from: &$0, version: version) }
    let partition = try #require(response.topics.first { $0.name == "orders" }?.partitions.first)
    #expect(partition.index == 0 && partition.errorCode == .none && partition.timestamp == -1 && partition.offset == 42)
}

@Test(arguments: APIKey.metadata.supportedVersions)
func metadataRoundTrips(version: Int16) throws {
    let request = try roundTrip({ MetadataRequest(topics: ["orders"], allowAutoTopicCreation: false).encode(into: &$0, version: version) }) {
        try MetadataRequest(from: &$0, version: version)
    }
    #expect(request.topics == ["orders"])
    #expect(request.allowAutoTopicCreation == (version < 4))

    let sent = MetadataResponse(
        brokers: [.init(nodeID: 1, host: "broker", port: 9092)], clusterID: "cluster", controllerID: 1,
        topics: [
            .init(errorCode: .none, name: "orders", partitions: [.init(index: 0, leaderID: 1), .init(errorCode: .leaderNotAvailable, index: 1, leaderID: -1)]),
            .init(errorCode: .unknownTopicOrPartition, name: "missing", partitions: []),
        ]
    )
    let response = try roundTrip({ sent.encode(into: &$0, version: version) }) { try MetadataResponse(from: &$0, version: version) }
    #expect(response.brokers.map(\.nodeID) == [1] && response.brokers.map(\.host) == ["broker"] && response.brokers.map(\.port) == [9092])
    #expect(response.clusterID == (version >= 2 ? "cluster" : nil))
    #expect(response.controllerID == (version >= 1 ? 1 : -1))
    #expect(response.topics.map(\.name) == ["orders", "missing"])
    #expect(response.topics.map(\.errorCode) == [.none, .unknownTopicOrPartition])
    #expect(response.topics[0].partitions.map(\.index) == [0, 1])
    #expect(response.topics[0].partitions.map(\.leaderID) == [1, -1])
    #expect(response.topics[0].partitions.map(\.errorCode) == [.none, .leaderNotAvailable])
}

@Test(arguments: APIKey.createTopics.supportedVersions)
func createTopicsRoundTrips(version: Int16) throws {
    let sent = CreateTopicsRequest(
        topics: [
            .init(name: "orders", partitionCount: 3, replicationFactor: 1, configs: [.init(name: "retention.ms", value: "60000"), .init(name: "x", value: nil)]),
            .init(name: "manual", assignments: [.init(partitionIndex: 0, brokerIDs: [1])]),
        ],
        timeoutMs: 5_000, validateOnly: true
    )
    let request = try roundTrip({ sent.encode(into: &$0, version: version) }) { try CreateTopicsRequest(from: &$0, version: version) }
    #expect(request.timeoutMs == 5_000 && request.validateOnly)
    #expect(request.topics.map(\.name) == ["orders", "manual"])
    #expect(request.topics.map(\.partitionCount) == [3, -1] && request.topics.map(\.replicationFactor) == [1, -1])
    #expect(request.topics[0].configs.map(\.name) == ["retention.ms", "x"] && request.topics[0].configs.map(\.value) == ["60000", nil])
    #expect(request.topics.map(\.assignmentCount) == [0, 1])
    #expect(request.topics[1].assignments.first?.partitionIndex == 0 && request.topics[1].assignments.first?.brokerIDs == [1])

    let response = try roundTrip({
        CreateTopicsResponse(topics: [(name: "orders", errorCode: .none, message: nil), (name: "bad", errorCode: .invalidTopic, message: "why")])
            .encode(into: &$0, version: version)
    }) { try CreateTopicsResponse(from: &$0, version: version) }
    #expect(response.topics.map(\.name) == ["orders", "bad"])
    #expect(response.topics.map(\.errorCode) == [.none, .invalidTopic] && response.topics.map(\.message) == [nil, "why"])
}

@Test(arguments: APIKey.initProducerId.supportedVersions)
func initProducerIdRoundTrips(version: Int16) throws {
    let request = try roundTrip({ InitProducerIdRequest().encode(into: &$0, version: version) }) {
        try InitProducerIdRequest(from: &$0, version: version)
    }
    #expect(request.transactionalID == nil && request.transactionTimeoutMs == -1)

    let response = try roundTrip({ InitProducerIdResponse(errorCode: .none, producerID: 1_000, producerEpoch: 2).encode(into: &$0, version: version) }) {
        try InitProducerIdResponse(from: &$0, version: version)
    }
    #expect(response.errorCode == .none && response.producerID == 1_000 && response.producerEpoch == 2)
}

@Test(arguments: APIKey.apiVersions.supportedVersions)
func apiVersionsResponseRoundTrips(version: Int16) throws {
    let response = try roundTrip({ ApiVersionsResponse.supported().encode(into: &$0, version: version) }) {
        try ApiVersionsResponse(from: &$0, version: version)
    }
    #expect(response.errorCode == .none)
    #expect(response.apiKeys.map(\.apiKey) == APIKey.allCases.map(\.rawValue))
    #expect(response.apiKeys.map(\.maxVersion) == APIKey.allCases.map(\.supportedVersions.upperBound))
}

@Test func theResponseHeaderIsTheCorrelationID() throws {
    let header = try roundTrip({ ResponseHeader(correlationID: 77).encode(into: &$0) }) { try ResponseHeader(from: &$0) }
    #expect(header == ResponseHeader(correlationID: 77))
}

@Test func aRecordEncodedAloneIsWhatABuiltBatchHoldsAfterItsHeader() throws {
    let record = Record(offsetDelta: 0, timestampDelta: 5, key: bytes, value: ByteBuffer(string: "v"), headers: [(key: "h", value: nil)])
    var alone = ByteBuffer()
    record.encode(into: &alone)
    let batch = RecordBatch.build(baseTimestamp: 1_000, records: [record])
    #expect(batch.bytes.getSlice(at: batch.bytes.readerIndex + RecordBatch.headerSize, length: alone.readableBytes) == alone)
    let split = try RecordBatch.split(batch.bytes)
    #expect(try split.first?.records() == [record])
}

// MARK: - Consumer group embedded protocol

@Test func aSubscriptionIsWrittenAsV0AndReadBack() throws {
    let sent = ConsumerProtocolSubscription(topics: ["orders", "payments"], userData: bytes)
    let encoded = sent.encode()
    #expect(encoded.getInteger(at: encoded.readerIndex, as: Int16.self) == 0)
    #expect(try ConsumerProtocolSubscription(from: encoded) == sent)
}

@Test func aV1SubscriptionCarriesItsOwnedPartitions() throws {
    let sent = ConsumerProtocolSubscription(
        version: 1, topics: ["orders"], ownedPartitions: [.init(topic: "orders", partitions: [0, 2])]
    )
    #expect(try ConsumerProtocolSubscription(from: sent.encode()) == sent)
}

/// A v3 subscription as a newer Java client writes it: generation id and rack id after the
/// v1 fields, which are read and the rest left alone.
@Test func aV3SubscriptionIsReadAsFarAsItsV1Fields() throws {
    var buffer = ByteBuffer()
    buffer.writeInteger(Int16(3))
    buffer.writeKafkaArray(["orders"]) { $0.writeKafkaString($1) }
    buffer.writeKafkaNullableBytes(nil)
    buffer.writeKafkaArray([("orders", [Int32(1)])]) { buffer, owned in
        buffer.writeKafkaString(owned.0)
        buffer.writeKafkaInt32Array(owned.1)
    }
    buffer.writeInteger(Int32(4))
    buffer.writeKafkaNullableString("rack-a")
    let subscription = try ConsumerProtocolSubscription(from: buffer)
    #expect(subscription.version == 3 && subscription.topics == ["orders"] && subscription.userData == nil)
    #expect(subscription.ownedPartitions == [.init(topic: "orders", partitions: [1])])
}

@Test func anAssignmentRoundTrips() throws {
    let sent = ConsumerProtocolAssignment(
        partitions: [.init(topic: "orders", partitions: [0, 1]), .init(topic: "payments", partitions: [2])], userData: bytes
    )
    #expect(try ConsumerProtocolAssignment(from: sent.encode()) == sent)
}

@Test func anEmptyAssignmentBufferIsAnEmptyAssignment() throws {
    #expect(try ConsumerProtocolAssignment(from: ByteBuffer()) == ConsumerProtocolAssignment())
    #expect(try ConsumerProtocolAssignment(from: SyncGroupResponse.emptyConsumerAssignment) == ConsumerProtocolAssignment())
}

@Test func aTruncatedAssignmentNamesTheField() {
    let whole = ConsumerProtocolAssignment(partitions: [.init(topic: "orders", partitions: [0])]).encode()
    let cut = whole.getSlice(at: whole.readerIndex, length: whole.readableBytes - 2)!
    #expect(throws: KafkaWireError.truncated(field: "assignment.user_data")) { try ConsumerProtocolAssignment(from: cut) }
}
