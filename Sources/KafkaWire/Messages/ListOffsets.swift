public import NIOCore

/// ListOffsets request v1–5. Timestamp -1 asks for the latest offset, -2 the earliest.
public struct ListOffsetsRequest: Sendable {
    public struct Partition: Sendable {
        public var index: Int32
        public var timestamp: Int64
    }

    public struct Topic: Sendable {
        public var name: String
        public var partitions: [Partition]
    }

    public var topics: [Topic]

    public init(from reader: inout KafkaReader, version: Int16) throws(KafkaWireError) {
        _ = try reader.int32("replica_id")
        if version >= 2 { _ = try reader.int8("isolation_level") }
        topics = try reader.array("topics") { (r: inout KafkaReader) throws(KafkaWireError) in
            Topic(
                name: try r.string("topics.name"),
                partitions: try r.array("partitions") { (r: inout KafkaReader) throws(KafkaWireError) in
                    let index = try r.int32("partition_index")
                    if version >= 4 { _ = try r.int32("current_leader_epoch") }
                    return Partition(index: index, timestamp: try r.int64("timestamp"))
                }
            )
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
}
