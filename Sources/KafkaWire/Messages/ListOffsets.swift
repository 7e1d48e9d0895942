public import NIOCore

/// ListOffsets request v1–5. Timestamp -1 asks for the latest offset, -2 the earliest.
public struct ListOffsetsRequest: Sendable {
    public struct Partition: Sendable {
        public var index: Int32
        /// v4+; -1 when unknown.
        public var currentLeaderEpoch: Int32
        public var timestamp: Int64
        public init(index: Int32, currentLeaderEpoch: Int32 = -1, timestamp: Int64) {
            self.index = index
            self.currentLeaderEpoch = currentLeaderEpoch
            self.timestamp = timestamp
        }
    }

    public struct Topic: Sendable {
        public var name: String
        public var partitions: [Partition]
        public init(name: String, partitions: [Partition]) {
            self.name = name
            self.partitions = partitions
        }
    }

    /// v2+: 0 read uncommitted, 1 read committed.
    public var isolationLevel: Int8
    public var topics: [Topic]

    public init(isolationLevel: Int8 = 0, topics: [Topic]) {
        self.isolationLevel = isolationLevel
        self.topics = topics
    }

    public init(from reader: inout KafkaReader, version: Int16) throws(KafkaWireError) {
        _ = try reader.int32("replica_id")
        isolationLevel = version >= 2 ? try reader.int8("isolation_level") : 0
        topics = try reader.array("topics") { (r: inout KafkaReader) throws(KafkaWireError) in
            Topic(
                name: try r.string("topics.name"),
                partitions: try r.array("partitions") { (r: inout KafkaReader) throws(KafkaWireError) in
                    let index = try r.int32("partition_index")
                    let epoch = version >= 4 ? try r.int32("current_leader_epoch") : -1
                    return Partition(index: index, currentLeaderEpoch: epoch, timestamp: try r.int64("timestamp"))
                }
            )
        }
    }

    public func encode(into buffer: inout ByteBuffer, version: Int16) {
        buffer.writeInteger(Int32(-1))
        if version >= 2 { buffer.writeInteger(isolationLevel) }
        buffer.writeKafkaArray(topics) { buffer, topic in
            buffer.writeKafkaString(topic.name)
            buffer.writeKafkaArray(topic.partitions) { buffer, partition in
                buffer.writeInteger(partition.index)
                if version >= 4 { buffer.writeInteger(partition.currentLeaderEpoch) }
                buffer.writeInteger(partition.timestamp)
            }
        }
    }
}

/// ListOffsets response v1–5.
public struct ListOffsetsResponse: Sendable {
    public struct Partition: Sendable {
        public var index: Int32
        public var errorCode: ErrorCode
        public var timestamp: Int64
        public var offset: Int64
        public init(index: Int32, errorCode: ErrorCode, timestamp: Int64, offset: Int64) {
            self.index = index
            self.errorCode = errorCode
            self.timestamp = timestamp
            self.offset = offset
        }
    }

    public struct Topic: Sendable {
        public var name: String
        public var partitions: [Partition]
        public init(name: String, partitions: [Partition]) {
            self.name = name
            self.partitions = partitions
        }
    }

    public var topics: [Topic]
    public init(topics: [Topic]) { self.topics = topics }

    public func encode(into buffer: inout ByteBuffer, version: Int16) {
        if version >= 2 { buffer.writeInteger(Int32(0)) }
        buffer.writeKafkaArray(topics) { buffer, topic in
            buffer.writeKafkaString(topic.name)
            buffer.writeKafkaArray(topic.partitions) { buffer, partition in
                buffer.writeInteger(partition.index)
                buffer.writeInteger(partition.errorCode.rawValue)
                buffer.writeInteger(partition.timestamp)
                buffer.writeInteger(partition.offset)
                if version >= 4 { buffer.writeInteger(Int32(0)) }
            }
        }
    }

    public init(from reader: inout KafkaReader, version: Int16) throws(KafkaWireError) {
        if version >= 2 { _ = try reader.int32("throttle_time_ms") }
        topics = try reader.array("topics") { (r: inout KafkaReader) throws(KafkaWireError) in
            Topic(
                name: try r.string("topics.name"),
                partitions: try r.array("partitions") { (r: inout KafkaReader) throws(KafkaWireError) in
                    let index = try r.int32("partition_index")
                    let error = ErrorCode(rawValue: try r.int16("error_code"))
                    let timestamp = try r.int64("timestamp")
                    let offset = try r.int64("offset")
                    if version >= 4 { _ = try r.int32("leader_epoch") }
                    return Partition(index: index, errorCode: error, timestamp: timestamp, offset: offset)
                }
            )
        }
    }
}
