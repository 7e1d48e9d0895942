public import NIOCore

/// FindCoordinator request v0–2 (key_type 0 = group, 1 = transaction).
public struct FindCoordinatorRequest: Sendable {
    public var key: String
    public var keyType: Int8 = 0

    public init(key: String, keyType: Int8 = 0) {
        self.key = key
        self.keyType = keyType
    }

    public init(from reader: inout KafkaReader, version: Int16) throws(KafkaWireError) {
        key = try reader.string("key")
        if version >= 1 { keyType = try reader.int8("key_type") }
    }

    public func encode(into buffer: inout ByteBuffer, version: Int16) {
        buffer.writeKafkaString(key)
        if version >= 1 { buffer.writeInteger(keyType) }
    }
}

public struct FindCoordinatorResponse: Sendable {
    public var errorCode: ErrorCode
    public var nodeID: Int32
    public var host: String
    public var port: Int32

    public init(errorCode: ErrorCode, nodeID: Int32, host: String, port: Int32) {
        self.errorCode = errorCode
        self.nodeID = nodeID
        self.host = host
        self.port = port
    }

    public func encode(into buffer: inout ByteBuffer, version: Int16) {
        if version >= 1 { buffer.writeInteger(Int32(0)) }
        buffer.writeInteger(errorCode.rawValue)
        if version >= 1 { buffer.writeKafkaNullableString(nil) }
        buffer.writeInteger(nodeID)
        buffer.writeKafkaString(host)
        buffer.writeInteger(port)
    }

    public init(from reader: inout KafkaReader, version: Int16) throws(KafkaWireError) {
        if version >= 1 { _ = try reader.int32("throttle_time_ms") }
        errorCode = ErrorCode(rawValue: try reader.int16("error_code"))
        if version >= 1 { _ = try reader.nullableString("error_message") }
        nodeID = try reader.int32("node_id")
        host = try reader.string("host")
        port = try reader.int32("port")
    }
}

/// JoinGroup request v0–5.
public struct JoinGroupRequest: Sendable {
    public struct GroupProtocol: Sendable {
        public var name: String
        public var metadata: ByteBuffer
        public init(name: String, metadata: ByteBuffer) {
            self.name = name
            self.metadata = metadata
        }
    }

    public var groupID: String
    public var sessionTimeoutMs: Int32
    /// v0 has no rebalance timeout: the session timeout stands in for it, as in Kafka.
    public var rebalanceTimeoutMs: Int32
    public var memberID: String
    public var groupInstanceID: String?
    public var protocolType: String
    public var protocols: [GroupProtocol]

    public init(
        groupID: String, sessionTimeoutMs: Int32, rebalanceTimeoutMs: Int32, memberID: String = "",
        groupInstanceID: String? = nil, protocolType: String = "consumer", protocols: [GroupProtocol]
    ) {
        self.groupID = groupID
        self.sessionTimeoutMs = sessionTimeoutMs
        self.rebalanceTimeoutMs = rebalanceTimeoutMs
        self.memberID = memberID
        self.groupInstanceID = groupInstanceID
        self.protocolType = protocolType
        self.protocols = protocols
    }

    public init(from reader: inout KafkaReader, version: Int16) throws(KafkaWireError) {
        groupID = try reader.string("group_id")
        sessionTimeoutMs = try reader.int32("session_timeout_ms")
        rebalanceTimeoutMs = version >= 1 ? try reader.int32("rebalance_timeout_ms") : sessionTimeoutMs
        memberID = try reader.string("member_id")
        if version >= 5 { groupInstanceID = try reader.nullableString("group_instance_id") }
        protocolType = try reader.string("protocol_type")
        protocols = try reader.array("protocols") { (r: inout KafkaReader) throws(KafkaWireError) in
            GroupProtocol(name: try r.string("protocols.name"), metadata: try r.bytes("protocols.metadata"))
        }
    }

    public func encode(into buffer: inout ByteBuffer, version: Int16) {
        buffer.writeKafkaString(groupID)
        buffer.writeInteger(sessionTimeoutMs)
        if version >= 1 { buffer.writeInteger(rebalanceTimeoutMs) }
        buffer.writeKafkaString(memberID)
        if version >= 5 { buffer.writeKafkaNullableString(groupInstanceID) }
        buffer.writeKafkaString(protocolType)
        buffer.writeKafkaArray(protocols) { buffer, groupProtocol in
            buffer.writeKafkaString(groupProtocol.name)
            buffer.writeKafkaBytes(groupProtocol.metadata)
        }
    }
}

public struct JoinGroupResponse: Sendable {
    public struct Member: Sendable {
        public var memberID: String
        public var metadata: ByteBuffer
        public init(memberID: String, metadata: ByteBuffer) {
            self.memberID = memberID
            self.metadata = metadata
        }
    }

    public var errorCode: ErrorCode
    public var generationID: Int32
    public var protocolName: String
    public var leader: String
    public var memberID: String
    public var members: [Member]

    public init(errorCode: ErrorCode, generationID: Int32 = -1, protocolName: String = "", leader: String = "", memberID: String, members: [Member] = []) {
        self.errorCode = errorCode
        self.generationID = generationID
        self.protocolName = protocolName
        self.leader = leader
        self.memberID = memberID
        self.members = members
    }

    public func encode(into buffer: inout ByteBuffer, version: Int16) {
        if version >= 2 { buffer.writeInteger(Int32(0)) }
        buffer.writeInteger(errorCode.rawValue)
        buffer.writeInteger(generationID)
        buffer.writeKafkaString(protocolName)
        buffer.writeKafkaString(leader)
        buffer.writeKafkaString(memberID)
        buffer.writeKafkaArray(members) { buffer, member in
            buffer.writeKafkaString(member.memberID)
            if version >= 5 { buffer.writeKafkaNullableString(nil) }
            buffer.writeKafkaBytes(member.metadata)
        }
    }

    public init(from reader: inout KafkaReader, version: Int16) throws(KafkaWireError) {
        if version >= 2 { _ = try reader.int32("throttle_time_ms") }
        errorCode = ErrorCode(rawValue: try reader.int16("error_code"))
        generationID = try reader.int32("generation_id")
        protocolName = try reader.string("protocol_name")
        leader = try reader.string("leader")
        memberID = try reader.string("member_id")
        members = try reader.array("members") { (r: inout KafkaReader) throws(KafkaWireError) in
            let id = try r.string("members.member_id")
            if version >= 5 { _ = try r.nullableString("members.group_instance_id") }
            return Member(memberID: id, metadata: try r.bytes("members.metadata"))
        }
    }
}

/// SyncGroup request v0–3.
public struct SyncGroupRequest: Sendable {
    /// One member's share: a ConsumerProtocolAssignment for protocol type "consumer".
    public typealias Assignment = (memberID: String, assignment: ByteBuffer)

    public var groupID: String
    public var generationID: Int32
    public var memberID: String
    public var groupInstanceID: String?
    /// Filled by the leader only; the other members send none.
    public var assignments: [Assignment]

    public init(groupID: String, generationID: Int32, memberID: String, groupInstanceID: String? = nil, assignments: [Assignment] = []) {
        self.groupID = groupID
        self.generationID = generationID
        self.memberID = memberID
        self.groupInstanceID = groupInstanceID
        self.assignments = assignments
    }

    public init(from reader: inout KafkaReader, version: Int16) throws(KafkaWireError) {
        groupID = try reader.string("group_id")
        generationID = try reader.int32("generation_id")
        memberID = try reader.string("member_id")
        if version >= 3 { groupInstanceID = try reader.nullableString("group_instance_id") }
        assignments = try reader.array("assignments") { (r: inout KafkaReader) throws(KafkaWireError) in
            (memberID: try r.string("assignments.member_id"), assignment: try r.bytes("assignments.assignment"))
        }
    }

    public func encode(into buffer: inout ByteBuffer, version: Int16) {
        buffer.writeKafkaString(groupID)
        buffer.writeInteger(generationID)
        buffer.writeKafkaString(memberID)
        if version >= 3 { buffer.writeKafkaNullableString(groupInstanceID) }
        buffer.writeKafkaArray(assignments) { buffer, entry in
            buffer.writeKafkaString(entry.memberID)
            buffer.writeKafkaBytes(entry.assignment)
        }
    }
}

public struct SyncGroupResponse: Sendable {
    public var errorCode: ErrorCode
    public var assignment: ByteBuffer

    public init(errorCode: ErrorCode, assignment: ByteBuffer) {
        self.errorCode = errorCode
        self.assignment = assignment
    }

    /// A ConsumerProtocolAssignment v0 with no partitions and null user data: what a member
    /// the leader gave nothing receives, because clients fail to decode empty bytes.
    public static var emptyConsumerAssignment: ByteBuffer {
        var buffer = ByteBuffer()
        buffer.writeInteger(Int16(0))
        buffer.writeInteger(Int32(0))
        buffer.writeInteger(Int32(-1))
        return buffer
    }

    public func encode(into buffer: inout ByteBuffer, version: Int16) {
        if version >= 1 { buffer.writeInteger(Int32(0)) }
        buffer.writeInteger(errorCode.rawValue)
        buffer.writeKafkaBytes(assignment)
    }

    public init(from reader: inout KafkaReader, version: Int16) throws(KafkaWireError) {
        if version >= 1 { _ = try reader.int32("throttle_time_ms") }
        errorCode = ErrorCode(rawValue: try reader.int16("error_code"))
        assignment = try reader.bytes("assignment")
    }
}

/// Heartbeat request v0–3.
public struct HeartbeatRequest: Sendable {
    public var groupID: String
    public var generationID: Int32
    public var memberID: String
    public var groupInstanceID: String?

    public init(groupID: String, generationID: Int32, memberID: String, groupInstanceID: String? = nil) {
        self.groupID = groupID
        self.generationID = generationID
        self.memberID = memberID
        self.groupInstanceID = groupInstanceID
    }

    public init(from reader: inout KafkaReader, version: Int16) throws(KafkaWireError) {
        groupID = try reader.string("group_id")
        generationID = try reader.int32("generation_id")
        memberID = try reader.string("member_id")
        if version >= 3 { groupInstanceID = try reader.nullableString("group_instance_id") }
    }

    public func encode(into buffer: inout ByteBuffer, version: Int16) {
        buffer.writeKafkaString(groupID)
        buffer.writeInteger(generationID)
        buffer.writeKafkaString(memberID)
        if version >= 3 { buffer.writeKafkaNullableString(groupInstanceID) }
    }
}

/// The response of Heartbeat v0–3: throttle time (v1+) and an error code.
public struct ErrorOnlyResponse: Sendable {
    public var errorCode: ErrorCode
    public init(errorCode: ErrorCode) { self.errorCode = errorCode }

    public func encode(into buffer: inout ByteBuffer, version: Int16) {
        if version >= 1 { buffer.writeInteger(Int32(0)) }
        buffer.writeInteger(errorCode.rawValue)
    }

    public init(from reader: inout KafkaReader, version: Int16) throws(KafkaWireError) {
        if version >= 1 { _ = try reader.int32("throttle_time_ms") }
        errorCode = ErrorCode(rawValue: try reader.int16("error_code"))
    }
}

/// LeaveGroup request v0–3 (v3 leaves several members at once, KIP-345).
public struct LeaveGroupRequest: Sendable {
    public var groupID: String
    /// v0–2 carry exactly one member: the first of these is sent.
    public var memberIDs: [String]

    public init(groupID: String, memberIDs: [String]) {
        self.groupID = groupID
        self.memberIDs = memberIDs
    }

    public init(groupID: String, memberID: String) {
        self.init(groupID: groupID, memberIDs: [memberID])
    }

    public init(from reader: inout KafkaReader, version: Int16) throws(KafkaWireError) {
        groupID = try reader.string("group_id")
        if version >= 3 {
            memberIDs = try reader.array("members") { (r: inout KafkaReader) throws(KafkaWireError) in
                let id = try r.string("members.member_id")
                _ = try r.nullableString("members.group_instance_id")
                return id
            }
        } else {
            memberIDs = [try reader.string("member_id")]
        }
    }

    public func encode(into buffer: inout ByteBuffer, version: Int16) {
        buffer.writeKafkaString(groupID)
        if version >= 3 {
            buffer.writeKafkaArray(memberIDs) { buffer, id in
                buffer.writeKafkaString(id)
                buffer.writeKafkaNullableString(nil)
            }
        } else {
            buffer.writeKafkaString(memberIDs.first ?? "")
        }
    }
}

public struct LeaveGroupResponse: Sendable {
    public var errorCode: ErrorCode
    /// v3 only; empty in v0–2.
    public var members: [(memberID: String, errorCode: ErrorCode)]

    public init(errorCode: ErrorCode, members: [(memberID: String, errorCode: ErrorCode)]) {
        self.errorCode = errorCode
        self.members = members
    }

    public func encode(into buffer: inout ByteBuffer, version: Int16) {
        if version >= 1 { buffer.writeInteger(Int32(0)) }
        buffer.writeInteger(errorCode.rawValue)
        if version >= 3 {
            buffer.writeKafkaArray(members) { buffer, member in
                buffer.writeKafkaString(member.memberID)
                buffer.writeKafkaNullableString(nil)
                buffer.writeInteger(member.errorCode.rawValue)
            }
        }
    }

    public init(from reader: inout KafkaReader, version: Int16) throws(KafkaWireError) {
        if version >= 1 { _ = try reader.int32("throttle_time_ms") }
        errorCode = ErrorCode(rawValue: try reader.int16("error_code"))
        members = []
        if version >= 3 {
            members = try reader.array("members") { (r: inout KafkaReader) throws(KafkaWireError) in
                let id = try r.string("members.member_id")
                _ = try r.nullableString("members.group_instance_id")
                return (memberID: id, errorCode: ErrorCode(rawValue: try r.int16("members.error_code")))
            }
        }
    }
}

/// OffsetCommit request v2–7.
public struct OffsetCommitRequest: Sendable {
    public struct Partition: Sendable {
        public var index: Int32
        public var offset: Int64
        /// v6+; -1 when unknown.
        public var leaderEpoch: Int32
        public var metadata: String?
        public init(index: Int32, offset: Int64, leaderEpoch: Int32 = -1, metadata: String? = nil) {
            self.index = index
            self.offset = offset
            self.leaderEpoch = leaderEpoch
            self.metadata = metadata
        }
    }

    public typealias Topic = (name: String, partitions: [Partition])

    public var groupID: String
    public var generationID: Int32
    public var memberID: String
    public var groupInstanceID: String?
    /// v2–4; -1 keeps the broker's retention.
    public var retentionTimeMs: Int64
    public var topics: [Topic]

    public init(
        groupID: String, generationID: Int32, memberID: String, groupInstanceID: String? = nil, retentionTimeMs: Int64 = -1, topics: [Topic]
    ) {
        self.groupID = groupID
        self.generationID = generationID
        self.memberID = memberID
        self.groupInstanceID = groupInstanceID
        self.retentionTimeMs = retentionTimeMs
        self.topics = topics
    }

    public init(from reader: inout KafkaReader, version: Int16) throws(KafkaWireError) {
        groupID = try reader.string("group_id")
        generationID = try reader.int32("generation_id")
        memberID = try reader.string("member_id")
        if version >= 7 { groupInstanceID = try reader.nullableString("group_instance_id") }
        retentionTimeMs = version <= 4 ? try reader.int64("retention_time_ms") : -1
        topics = try reader.array("topics") { (r: inout KafkaReader) throws(KafkaWireError) in
            (
                name: try r.string("topics.name"),
                partitions: try r.array("partitions") { (r: inout KafkaReader) throws(KafkaWireError) in
                    let index = try r.int32("partition_index")
                    let offset = try r.int64("committed_offset")
                    let epoch = version >= 6 ? try r.int32("committed_leader_epoch") : -1
                    return Partition(index: index, offset: offset, leaderEpoch: epoch, metadata: try r.nullableString("committed_metadata"))
                }
            )
        }
    }

    public func encode(into buffer: inout ByteBuffer, version: Int16) {
        buffer.writeKafkaString(groupID)
        buffer.writeInteger(generationID)
        buffer.writeKafkaString(memberID)
        if version >= 7 { buffer.writeKafkaNullableString(groupInstanceID) }
        if version <= 4 { buffer.writeInteger(retentionTimeMs) }
        buffer.writeKafkaArray(topics) { buffer, topic in
            buffer.writeKafkaString(topic.name)
            buffer.writeKafkaArray(topic.partitions) { buffer, partition in
                buffer.writeInteger(partition.index)
                buffer.writeInteger(partition.offset)
                if version >= 6 { buffer.writeInteger(partition.leaderEpoch) }
                buffer.writeKafkaNullableString(partition.metadata)
            }
        }
    }
}

/// The per-partition error shape shared by OffsetCommit responses.
public struct OffsetCommitResponse: Sendable {
    public var topics: [(name: String, partitions: [(index: Int32, errorCode: ErrorCode)])]

    public init(topics: [(name: String, partitions: [(index: Int32, errorCode: ErrorCode)])]) {
        self.topics = topics
    }

    public func encode(into buffer: inout ByteBuffer, version: Int16) {
        if version >= 3 { buffer.writeInteger(Int32(0)) }
        buffer.writeKafkaArray(topics) { buffer, topic in
            buffer.writeKafkaString(topic.name)
            buffer.writeKafkaArray(topic.partitions) { buffer, partition in
                buffer.writeInteger(partition.index)
                buffer.writeInteger(partition.errorCode.rawValue)
            }
        }
    }

    public init(from reader: inout KafkaReader, version: Int16) throws(KafkaWireError) {
        if version >= 3 { _ = try reader.int32("throttle_time_ms") }
        topics = try reader.array("topics") { (r: inout KafkaReader) throws(KafkaWireError) in
            (
                name: try r.string("topics.name"),
                partitions: try r.array("partitions") { (r: inout KafkaReader) throws(KafkaWireError) in
                    (index: try r.int32("partition_index"), errorCode: ErrorCode(rawValue: try r.int16("error_code")))
                }
            )
        }
    }
}

/// OffsetFetch request v1–5. A null topic list (v2+) asks for every committed partition.
public struct OffsetFetchRequest: Sendable {
    public typealias Topic = (name: String, partitions: [Int32])

    public var groupID: String
    /// v1 cannot send null: it is sent as an empty list there.
    public var topics: [Topic]?

    public init(groupID: String, topics: [Topic]?) {
        self.groupID = groupID
        self.topics = topics
    }

    public init(from reader: inout KafkaReader, version: Int16) throws(KafkaWireError) {
        groupID = try reader.string("group_id")
        topics = try reader.nullableArray("topics") { (r: inout KafkaReader) throws(KafkaWireError) in
            (name: try r.string("topics.name"), partitions: try r.int32Array("partition_indexes"))
        }
    }

    public func encode(into buffer: inout ByteBuffer, version: Int16) {
        buffer.writeKafkaString(groupID)
        buffer.writeKafkaNullableArray(version >= 2 ? topics : (topics ?? [])) { buffer, topic in
            buffer.writeKafkaString(topic.name)
            buffer.writeKafkaInt32Array(topic.partitions)
        }
    }
}

public struct OffsetFetchResponse: Sendable {
    public struct Partition: Sendable {
        public var index: Int32
        public var offset: Int64
        public var metadata: String?
        public var errorCode: ErrorCode
        public init(index: Int32, offset: Int64, metadata: String?, errorCode: ErrorCode) {
            self.index = index
            self.offset = offset
            self.metadata = metadata
            self.errorCode = errorCode
        }
    }

    public var topics: [(name: String, partitions: [Partition])]
    /// v2+; `.none` when read from v1.
    public var errorCode: ErrorCode

    public init(topics: [(name: String, partitions: [Partition])], errorCode: ErrorCode) {
        self.topics = topics
        self.errorCode = errorCode
    }

    public func encode(into buffer: inout ByteBuffer, version: Int16) {
        if version >= 3 { buffer.writeInteger(Int32(0)) }
        buffer.writeKafkaArray(topics) { buffer, topic in
            buffer.writeKafkaString(topic.name)
            buffer.writeKafkaArray(topic.partitions) { buffer, partition in
                buffer.writeInteger(partition.index)
                buffer.writeInteger(partition.offset)
                if version >= 5 { buffer.writeInteger(Int32(-1)) }
                buffer.writeKafkaNullableString(partition.metadata)
                buffer.writeInteger(partition.errorCode.rawValue)
            }
        }
        if version >= 2 { buffer.writeInteger(errorCode.rawValue) }
    }

    public init(from reader: inout KafkaReader, version: Int16) throws(KafkaWireError) {
        if version >= 3 { _ = try reader.int32("throttle_time_ms") }
        topics = try reader.array("topics") { (r: inout KafkaReader) throws(KafkaWireError) in
            (
                name: try r.string("topics.name"),
                partitions: try r.array("partitions") { (r: inout KafkaReader) throws(KafkaWireError) in
                    let index = try r.int32("partition_index")
                    let offset = try r.int64("committed_offset")
                    if version >= 5 { _ = try r.int32("committed_leader_epoch") }
                    let metadata = try r.nullableString("metadata")
                    return Partition(index: index, offset: offset, metadata: metadata, errorCode: ErrorCode(rawValue: try r.int16("error_code")))
                }
            )
        }
        errorCode = version >= 2 ? ErrorCode(rawValue: try reader.int16("error_code")) : .none
    }
}
