public import NIOCore

/// Fetch request v4–11. Fetch sessions (v7+) are not kept: the broker answers every
/// request in full with session id 0, which KIP-227 allows.
public struct FetchRequest: Sendable {
    public struct Partition: Sendable {
        public var index: Int32
        public var fetchOffset: Int64
        public var partitionMaxBytes: Int32
        public init(index: Int32, fetchOffset: Int64, partitionMaxBytes: Int32) {
            self.index = index
            self.fetchOffset = fetchOffset
            self.partitionMaxBytes = partitionMaxBytes
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

    public var maxWaitMs: Int32
    public var minBytes: Int32
    public var maxBytes: Int32
    public var isolationLevel: Int8 = 0
    public var topics: [Topic]

    public init(maxWaitMs: Int32, minBytes: Int32, maxBytes: Int32, topics: [Topic]) {
        self.maxWaitMs = maxWaitMs
        self.minBytes = minBytes
        self.maxBytes = maxBytes
        self.topics = topics
    }

    public init(from reader: inout KafkaReader, version: Int16) throws(KafkaWireError) {
        _ = try reader.int32("replica_id")
        maxWaitMs = try reader.int32("max_wait_ms")
        minBytes = try reader.int32("min_bytes")
        maxBytes = try reader.int32("max_bytes")
        isolationLevel = try reader.int8("isolation_level")
        if version >= 7 {
            _ = try reader.int32("session_id")
            _ = try reader.int32("session_epoch")
        }
        topics = try reader.array("topics") { (r: inout KafkaReader) throws(KafkaWireError) in
            Topic(
                name: try r.string("topics.topic"),
                partitions: try r.array("partitions") { (r: inout KafkaReader) throws(KafkaWireError) in
                    let index = try r.int32("partition")
                    if version >= 9 { _ = try r.int32("current_leader_epoch") }
                    let offset = try r.int64("fetch_offset")
                    if version >= 5 { _ = try r.int64("log_start_offset") }
                    return Partition(index: index, fetchOffset: offset, partitionMaxBytes: try r.int32("partition_max_bytes"))
                }
            )
        }
        if version >= 7 {
            _ = try reader.array("forgotten_topics_data") { (r: inout KafkaReader) throws(KafkaWireError) in
                _ = try r.string("forgotten_topics_data.topic")
                _ = try r.int32Array("forgotten_topics_data.partitions")
            }
        }
        if version >= 11 { _ = try reader.string("rack_id") }
    }

    public func encode(into buffer: inout ByteBuffer, version: Int16) {
        buffer.writeInteger(Int32(-1))
        buffer.writeInteger(maxWaitMs)
        buffer.writeInteger(minBytes)
        buffer.writeInteger(maxBytes)
        buffer.writeInteger(isolationLevel)
        if version >= 7 {
            buffer.writeInteger(Int32(0))
            buffer.writeInteger(Int32(-1))
        }
        buffer.writeKafkaArray(topics) { buffer, topic in
            buffer.writeKafkaString(topic.name)
            buffer.writeKafkaArray(topic.partitions) { buffer, partition in
                buffer.writeInteger(partition.index)
                if version >= 9 { buffer.writeInteger(Int32(-1)) }
                buffer.writeInteger(partition.fetchOffset)
                if version >= 5 { buffer.writeInteger(Int64(-1)) }
                buffer.writeInteger(partition.partitionMaxBytes)
            }
        }
        if version >= 7 { buffer.writeInteger(Int32(0)) }
        if version >= 11 { buffer.writeKafkaString("") }
    }
}

/// Fetch response v4–11.
public struct FetchResponse: Sendable {
    public struct Partition: Sendable {
        public var index: Int32
        public var errorCode: ErrorCode
        public var highWatermark: Int64
        public var logStartOffset: Int64
        /// Whole batches, back to back. Never null on the wire: librdkafka and kafka-python
        /// both expect empty bytes for "nothing new".
        public var records: ByteBuffer
        public init(index: Int32, errorCode: ErrorCode, highWatermark: Int64, logStartOffset: Int64, records: ByteBuffer) {
            self.index = index
            self.errorCode = errorCode
            self.highWatermark = highWatermark
            self.logStartOffset = logStartOffset
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

    public var errorCode: ErrorCode = .none
    public var topics: [Topic]
    public init(topics: [Topic]) { self.topics = topics }

    public func encode(into buffer: inout ByteBuffer, version: Int16) {
        buffer.writeInteger(Int32(0))
        if version >= 7 {
            buffer.writeInteger(errorCode.rawValue)
            buffer.writeInteger(Int32(0))
        }
        buffer.writeKafkaArray(topics) { buffer, topic in
            buffer.writeKafkaString(topic.name)
            buffer.writeKafkaArray(topic.partitions) { buffer, partition in
                buffer.writeInteger(partition.index)
                buffer.writeInteger(partition.errorCode.rawValue)
                buffer.writeInteger(partition.highWatermark)
                // last_stable_offset: no transactions are kept open, so it is the high watermark.
                buffer.writeInteger(partition.highWatermark)
                if version >= 5 { buffer.writeInteger(partition.logStartOffset) }
                buffer.writeInteger(Int32(-1))  // aborted_transactions: null
                if version >= 11 { buffer.writeInteger(Int32(-1)) }
                buffer.writeKafkaBytes(partition.records)
            }
        }
    }

    public init(from reader: inout KafkaReader, version: Int16) throws(KafkaWireError) {
        _ = try reader.int32("throttle_time_ms")
        if version >= 7 {
            errorCode = ErrorCode(rawValue: try reader.int16("error_code"))
            _ = try reader.int32("session_id")
        }
        topics = try reader.array("responses") { (r: inout KafkaReader) throws(KafkaWireError) in
            Topic(
                name: try r.string("topic"),
                partitions: try r.array("partitions") { (r: inout KafkaReader) throws(KafkaWireError) in
                    let index = try r.int32("partition_index")
                    let error = ErrorCode(rawValue: try r.int16("error_code"))
                    let high = try r.int64("high_watermark")
                    _ = try r.int64("last_stable_offset")
                    var start: Int64 = -1
                    if version >= 5 { start = try r.int64("log_start_offset") }
                    _ = try r.nullableArray("aborted_transactions") { (r: inout KafkaReader) throws(KafkaWireError) in
                        _ = try r.int64("producer_id")
                        _ = try r.int64("first_offset")
                    }
                    if version >= 11 { _ = try r.int32("preferred_read_replica") }
                    let records = try r.nullableBytes("records") ?? ByteBuffer()
                    return Partition(index: index, errorCode: error, highWatermark: high, logStartOffset: start, records: records)
                }
            )
        }
    }
}
