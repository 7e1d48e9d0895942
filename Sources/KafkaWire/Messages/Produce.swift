public import NIOCore

/// Produce request v0–8 (v3+ carries record batches v2; older versions are refused by the
/// broker, so their bodies are still read only to answer in kind).
public struct ProduceRequest: Sendable {
    public struct Partition: Sendable {
        public var index: Int32
        public var records: ByteBuffer?
        public init(index: Int32, records: ByteBuffer?) {
            self.index = index
            self.records = records
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

    public var transactionalID: String?
    public var acks: Int16
    public var timeoutMs: Int32
    public var topics: [Topic]

    public init(transactionalID: String? = nil, acks: Int16, timeoutMs: Int32, topics: [Topic]) {
        self.transactionalID = transactionalID
        self.acks = acks
        self.timeoutMs = timeoutMs
        self.topics = topics
    }

    public init(from reader: inout KafkaReader, version: Int16) throws(KafkaWireError) {
        if version >= 3 { transactionalID = try reader.nullableString("transactional_id") }
        acks = try reader.int16("acks")
        timeoutMs = try reader.int32("timeout_ms")
        topics = try reader.array("topic_data") { (r: inout KafkaReader) throws(KafkaWireError) in
            Topic(
                name: try r.string("topic_data.name"),
                partitions: try r.array("partition_data") { (r: inout KafkaReader) throws(KafkaWireError) in
                    Partition(index: try r.int32("partition_data.index"), records: try r.nullableBytes("partition_data.records"))
                }
            )
        }
    }

    public func encode(into buffer: inout ByteBuffer, version: Int16) {
        if version >= 3 { buffer.writeKafkaNullableString(transactionalID) }
        buffer.writeInteger(acks)
        buffer.writeInteger(timeoutMs)
        buffer.writeKafkaArray(topics) { buffer, topic in
            buffer.writeKafkaString(topic.name)
            buffer.writeKafkaArray(topic.partitions) { buffer, partition in
                buffer.writeInteger(partition.index)
                buffer.writeKafkaNullableBytes(partition.records)
            }
        }
    }
}

/// Produce response v0–8.
public struct ProduceResponse: Sendable {
    public struct Partition: Sendable {
        public var index: Int32
        public var errorCode: ErrorCode
        public var baseOffset: Int64
        public var logAppendTimeMs: Int64 = -1
        public var logStartOffset: Int64
        public var errorMessage: String?
        public init(index: Int32, errorCode: ErrorCode, baseOffset: Int64, logStartOffset: Int64, errorMessage: String? = nil) {
            self.index = index
            self.errorCode = errorCode
            self.baseOffset = baseOffset
            self.logStartOffset = logStartOffset
            self.errorMessage = errorMessage
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
        buffer.writeKafkaArray(topics) { buffer, topic in
            buffer.writeKafkaString(topic.name)
            buffer.writeKafkaArray(topic.partitions) { buffer, partition in
                buffer.writeInteger(partition.index)
                buffer.writeInteger(partition.errorCode.rawValue)
                buffer.writeInteger(partition.baseOffset)
                if version >= 2 { buffer.writeInteger(partition.logAppendTimeMs) }
                if version >= 5 { buffer.writeInteger(partition.logStartOffset) }
                if version >= 8 {
                    buffer.writeInteger(Int32(0))
                    buffer.writeKafkaNullableString(partition.errorMessage)
                }
            }
        }
        if version >= 1 { buffer.writeInteger(Int32(0)) }
    }

    public init(from reader: inout KafkaReader, version: Int16) throws(KafkaWireError) {
        topics = try reader.array("responses") { (r: inout KafkaReader) throws(KafkaWireError) in
            Topic(
                name: try r.string("name"),
                partitions: try r.array("partition_responses") { (r: inout KafkaReader) throws(KafkaWireError) in
                    let index = try r.int32("index")
                    let error = ErrorCode(rawValue: try r.int16("error_code"))
                    let base = try r.int64("base_offset")
                    if version >= 2 { _ = try r.int64("log_append_time_ms") }
                    var start: Int64 = -1
                    if version >= 5 { start = try r.int64("log_start_offset") }
                    var message: String?
                    if version >= 8 {
                        _ = try r.array("record_errors") { (r: inout KafkaReader) throws(KafkaWireError) in
                            _ = try r.int32("batch_index")
                            _ = try r.nullableString("batch_index_error_message")
                        }
                        message = try r.nullableString("error_message")
                    }
                    return Partition(index: index, errorCode: error, baseOffset: base, logStartOffset: start, errorMessage: message)
                }
            )
        }
    }
}
