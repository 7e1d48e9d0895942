public import NIOCore

/// CreateTopics request v2–4.
public struct CreateTopicsRequest: Sendable {
    public struct Topic: Sendable {
        public var name: String
        /// -1: the broker's default (KIP-464).
        public var partitionCount: Int32
        public var replicationFactor: Int16
        public var assignmentCount: Int
    }

    public var topics: [Topic]
    public var timeoutMs: Int32
    public var validateOnly: Bool

    public init(from reader: inout KafkaReader, version: Int16) throws(KafkaWireError) {
        topics = try reader.array("topics") { (r: inout KafkaReader) throws(KafkaWireError) in
            let name = try r.string("topics.name")
            let count = try r.int32("num_partitions")
            let replication = try r.int16("replication_factor")
            let assignments: [Void] = try r.array("assignments") { (r: inout KafkaReader) throws(KafkaWireError) in
                _ = try r.int32("assignments.partition_index")
                _ = try r.int32Array("assignments.broker_ids")
            }
            _ = try r.array("configs") { (r: inout KafkaReader) throws(KafkaWireError) in
                _ = try r.string("configs.name")
                _ = try r.nullableString("configs.value")
            }
            return Topic(name: name, partitionCount: count, replicationFactor: replication, assignmentCount: assignments.count)
        }
        timeoutMs = try reader.int32("timeout_ms")
        validateOnly = try reader.bool("validate_only")
    }
}

public struct CreateTopicsResponse: Sendable {
    public var topics: [(name: String, errorCode: ErrorCode, message: String?)]

    public init(topics: [(name: String, errorCode: ErrorCode, message: String?)]) {
        self.topics = topics
    }

    public func encode(into buffer: inout ByteBuffer, version: Int16) {
        buffer.writeInteger(Int32(0))
        buffer.writeKafkaArray(topics) { buffer, topic in
            buffer.writeKafkaString(topic.name)
            buffer.writeInteger(topic.errorCode.rawValue)
            buffer.writeKafkaNullableString(topic.message)
        }
    }
}

/// InitProducerId request v0–1.
public struct InitProducerIdRequest: Sendable {
    public var transactionalID: String?
    public var transactionTimeoutMs: Int32

    public init(from reader: inout KafkaReader, version: Int16) throws(KafkaWireError) {
        transactionalID = try reader.nullableString("transactional_id")
        transactionTimeoutMs = try reader.int32("transaction_timeout_ms")
    }
}

public struct InitProducerIdResponse: Sendable {
    public var errorCode: ErrorCode
    public var producerID: Int64
    public var producerEpoch: Int16

    public init(errorCode: ErrorCode, producerID: Int64, producerEpoch: Int16) {
        self.errorCode = errorCode
        self.producerID = producerID
        self.producerEpoch = producerEpoch
    }

    public func encode(into buffer: inout ByteBuffer, version: Int16) {
        buffer.writeInteger(Int32(0))
        buffer.writeInteger(errorCode.rawValue)
        buffer.writeInteger(producerID)
        buffer.writeInteger(producerEpoch)
    }
}
