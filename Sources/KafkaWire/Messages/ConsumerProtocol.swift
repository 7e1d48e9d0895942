public import NIOCore

/// The consumer group embedded protocol (protocol type "consumer"): what a member puts in
/// JoinGroup's protocol metadata and what the leader hands out through SyncGroup. Each is a
/// version INT16 followed by that version's fields (Kafka's
/// clients/src/main/resources/common/message/ConsumerProtocol{Subscription,Assignment}.json).
///
/// A version newer than the fields read here is read as far as those fields go: "when it
/// encounters a newer version, it parses it using the current format" (the schemas' own
/// rule, so later versions only append).
public struct ConsumerProtocolSubscription: Sendable, Equatable {
    public typealias TopicPartitions = ConsumerProtocolAssignment.TopicPartitions

    /// What `encode` writes: 0, or 1 when it carries owned partitions. Versions 2 (generation
    /// id, KIP-792) and 3 (rack id, KIP-881) are read but never written.
    public var version: Int16
    public var topics: [String]
    public var userData: ByteBuffer?
    /// v1+ (KIP-429): the partitions the member holds, for cooperative rebalancing.
    public var ownedPartitions: [TopicPartitions]

    public init(version: Int16 = 0, topics: [String], userData: ByteBuffer? = nil, ownedPartitions: [TopicPartitions] = []) {
        self.version = version
        self.topics = topics
        self.userData = userData
        self.ownedPartitions = ownedPartitions
    }

    public init(from bytes: ByteBuffer) throws(KafkaWireError) {
        var reader = KafkaReader(bytes)
        version = try reader.int16("subscription.version")
        topics = try reader.array("subscription.topics") { (r: inout KafkaReader) throws(KafkaWireError) in
            try r.string("subscription.topics")
        }
        userData = try reader.nullableBytes("subscription.user_data")
        ownedPartitions = []
        if version >= 1 {
            ownedPartitions = try reader.array("subscription.owned_partitions") { (r: inout KafkaReader) throws(KafkaWireError) in
                TopicPartitions(topic: try r.string("owned_partitions.topic"), partitions: try r.int32Array("owned_partitions.partitions"))
            }
        }
    }

    public func encode(into buffer: inout ByteBuffer) {
        let written = min(max(version, 0), 1)
        buffer.writeInteger(written)
        buffer.writeKafkaArray(topics) { $0.writeKafkaString($1) }
        buffer.writeKafkaNullableBytes(userData)
        if written >= 1 {
            buffer.writeKafkaArray(ownedPartitions) { buffer, owned in
                buffer.writeKafkaString(owned.topic)
                buffer.writeKafkaInt32Array(owned.partitions)
            }
        }
    }

    public func encode() -> ByteBuffer {
        var buffer = ByteBuffer()
        encode(into: &buffer)
        return buffer
    }
}

/// The leader's assignment for one member. Versions 0–3 share one layout.
public struct ConsumerProtocolAssignment: Sendable, Equatable {
    public struct TopicPartitions: Sendable, Equatable {
        public var topic: String
        public var partitions: [Int32]
        public init(topic: String, partitions: [Int32]) {
            self.topic = topic
            self.partitions = partitions
        }
    }

    public var version: Int16
    public var partitions: [TopicPartitions]
    public var userData: ByteBuffer?

    public init(version: Int16 = 0, partitions: [TopicPartitions] = [], userData: ByteBuffer? = nil) {
        self.version = version
        self.partitions = partitions
        self.userData = userData
    }

    /// Zero bytes read as an empty assignment: Kafka's group coordinator sends them to a
    /// member the leader left out of its assignments.
    public init(from bytes: ByteBuffer) throws(KafkaWireError) {
        version = 0
        partitions = []
        userData = nil
        guard bytes.readableBytes > 0 else { return }
        var reader = KafkaReader(bytes)
        version = try reader.int16("assignment.version")
        partitions = try reader.array("assignment.assigned_partitions") { (r: inout KafkaReader) throws(KafkaWireError) in
            TopicPartitions(topic: try r.string("assigned_partitions.topic"), partitions: try r.int32Array("assigned_partitions.partitions"))
        }
        userData = try reader.nullableBytes("assignment.user_data")
    }

    public func encode(into buffer: inout ByteBuffer) {
        buffer.writeInteger(version)
        buffer.writeKafkaArray(partitions) { buffer, assigned in
            buffer.writeKafkaString(assigned.topic)
            buffer.writeKafkaInt32Array(assigned.partitions)
        }
        buffer.writeKafkaNullableBytes(userData)
    }

    public func encode() -> ByteBuffer {
        var buffer = ByteBuffer()
        encode(into: &buffer)
        return buffer
    }
}
