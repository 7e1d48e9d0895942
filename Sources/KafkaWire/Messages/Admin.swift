public import NIOCore

/// CreateTopics request v2–4.
public struct CreateTopicsRequest: Sendable {
    public struct Assignment: Sendable {
        public var partitionIndex: Int32
        public var brokerIDs: [Int32]
        public init(partitionIndex: Int32, brokerIDs: [Int32]) {
            self.partitionIndex = partitionIndex
            self.brokerIDs = brokerIDs
        }
    }

    public struct Config: Sendable {
        public var name: String
        public var value: String?
        public init(name: String, value: String?) {
            self.name = name
            self.value = value
        }
    }

    public struct Topic: Sendable {
        public var name: String
        /// -1: the broker's default (KIP-464).
        public var partitionCount: Int32
        /// -1: the broker's default (KIP-464).
        public var replicationFactor: Int16
        /// Manual replica assignments; with them, partitionCount and replicationFactor are -1.
        public var assignments: [Assignment]
        public var configs: [Config]
        public var assignmentCount: Int { assignments.count }

        public init(name: String, partitionCount: Int32 = -1, replicationFactor: Int16 = -1, assignments: [Assignment] = [], configs: [Config] = []) {
            self.name = name
            self.partitionCount = partitionCount
            self.replicationFactor = replicationFactor
            self.assignments = assignments
            self.configs = configs
        }
    }

    public var topics: [Topic]
    public var timeoutMs: Int32
    public var validateOnly: Bool

    public init(topics: [Topic], timeoutMs: Int32, validateOnly: Bool = false) {
        self.topics = topics
        self.timeoutMs = timeoutMs
        self.validateOnly = validateOnly
    }

    public init(from reader: inout KafkaReader, version: Int16) throws(KafkaWireError) {
        topics = try reader.array("topics") { (r: inout KafkaReader) throws(KafkaWireError) in
            let name = try r.string("topics.name")
            let count = try r.int32("num_partitions")
            let replication = try r.int16("replication_factor")
            let assignments = try r.array("assignments") { (r: inout KafkaReader) throws(KafkaWireError) in
                Assignment(partitionIndex: try r.int32("assignments.partition_index"), brokerIDs: try r.int32Array("assignments.broker_ids"))
            }
            let configs = try r.array("configs") { (r: inout KafkaReader) throws(KafkaWireError) in
                Config(name: try r.string("configs.name"), value: try r.nullableString("configs.value"))
            }
            return Topic(name: name, partitionCount: count, replicationFactor: replication, assignments: assignments, configs: configs)
        }
        timeoutMs = try reader.int32("timeout_ms")
        validateOnly = try reader.bool("validate_only")
    }

    public func encode(into buffer: inout ByteBuffer, version: Int16) {
        buffer.writeKafkaArray(topics) { buffer, topic in
            buffer.writeKafkaString(topic.name)
            buffer.writeInteger(topic.partitionCount)
            buffer.writeInteger(topic.replicationFactor)
            buffer.writeKafkaArray(topic.assignments) { buffer, assignment in
                buffer.writeInteger(assignment.partitionIndex)
                buffer.writeKafkaInt32Array(assignment.brokerIDs)
            }
            buffer.writeKafkaArray(topic.configs) { buffer, config in
                buffer.writeKafkaString(config.name)
                buffer.writeKafkaNullableString(config.value)
            }
        }
        buffer.writeInteger(timeoutMs)
        buffer.writeKafkaBool(validateOnly)
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

    public init(from reader: inout KafkaReader, version: Int16) throws(KafkaWireError) {
        _ = try reader.int32("throttle_time_ms")
        topics = try reader.array("topics") { (r: inout KafkaReader) throws(KafkaWireError) in
            (
                name: try r.string("topics.name"),
                errorCode: ErrorCode(rawValue: try r.int16("error_code")),
                message: try r.nullableString("error_message")
            )
        }
    }
}

/// InitProducerId request v0–1.
public struct InitProducerIdRequest: Sendable {
    public var transactionalID: String?
    /// Only meaningful with a transactional id; -1 otherwise, as librdkafka sends.
    public var transactionTimeoutMs: Int32

    public init(transactionalID: String? = nil, transactionTimeoutMs: Int32 = -1) {
        self.transactionalID = transactionalID
        self.transactionTimeoutMs = transactionTimeoutMs
    }

    public init(from reader: inout KafkaReader, version: Int16) throws(KafkaWireError) {
        transactionalID = try reader.nullableString("transactional_id")
        transactionTimeoutMs = try reader.int32("transaction_timeout_ms")
    }

    public func encode(into buffer: inout ByteBuffer, version: Int16) {
        buffer.writeKafkaNullableString(transactionalID)
        buffer.writeInteger(transactionTimeoutMs)
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

    public init(from reader: inout KafkaReader, version: Int16) throws(KafkaWireError) {
        _ = try reader.int32("throttle_time_ms")
        errorCode = ErrorCode(rawValue: try reader.int16("error_code"))
        producerID = try reader.int64("producer_id")
        producerEpoch = try reader.int16("producer_epoch")
    }
}
