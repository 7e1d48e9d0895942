public import NIOCore

/// Metadata request v0–8.
public struct MetadataRequest: Sendable {
    /// nil: every topic (v1+ null array; v0 sends an empty array for that).
    public var topics: [String]?
    public var allowAutoTopicCreation: Bool = true

    public init(topics: [String]?, allowAutoTopicCreation: Bool = true) {
        self.topics = topics
        self.allowAutoTopicCreation = allowAutoTopicCreation
    }

    public init(from reader: inout KafkaReader, version: Int16) throws(KafkaWireError) {
        topics = try reader.nullableArray("topics") { (r: inout KafkaReader) throws(KafkaWireError) in try r.string("topics.name") }
        if version == 0, topics?.isEmpty == true { topics = nil }
        if version >= 4 { allowAutoTopicCreation = try reader.bool("allow_auto_topic_creation") }
        if version >= 8 {
            _ = try reader.bool("include_cluster_authorized_operations")
            _ = try reader.bool("include_topic_authorized_operations")
        }
    }

    public func encode(into buffer: inout ByteBuffer, version: Int16) {
        buffer.writeKafkaNullableArray(version == 0 ? (topics ?? []) : topics) { $0.writeKafkaString($1) }
        if version >= 4 { buffer.writeKafkaBool(allowAutoTopicCreation) }
        if version >= 8 {
            buffer.writeKafkaBool(false)
            buffer.writeKafkaBool(false)
        }
    }
}

/// Metadata response v0–8.
public struct MetadataResponse: Sendable {
    public struct Broker: Sendable {
        public var nodeID: Int32
        public var host: String
        public var port: Int32
        public init(nodeID: Int32, host: String, port: Int32) {
            self.nodeID = nodeID
            self.host = host
            self.port = port
        }
    }

    public struct Partition: Sendable {
        public var errorCode: ErrorCode
        public var index: Int32
        public var leaderID: Int32
        public init(errorCode: ErrorCode = .none, index: Int32, leaderID: Int32) {
            self.errorCode = errorCode
            self.index = index
            self.leaderID = leaderID
        }
    }

    public struct Topic: Sendable {
        public var errorCode: ErrorCode
        public var name: String
        public var partitions: [Partition]
        public init(errorCode: ErrorCode, name: String, partitions: [Partition]) {
            self.errorCode = errorCode
            self.name = name
            self.partitions = partitions
        }
    }

    public var brokers: [Broker]
    public var clusterID: String?
    public var controllerID: Int32
    public var topics: [Topic]

    public init(brokers: [Broker], clusterID: String?, controllerID: Int32, topics: [Topic]) {
        self.brokers = brokers
        self.clusterID = clusterID
        self.controllerID = controllerID
        self.topics = topics
    }

    public func encode(into buffer: inout ByteBuffer, version: Int16) {
        if version >= 3 { buffer.writeInteger(Int32(0)) }
        buffer.writeKafkaArray(brokers) { buffer, broker in
            buffer.writeInteger(broker.nodeID)
            buffer.writeKafkaString(broker.host)
            buffer.writeInteger(broker.port)
            if version >= 1 { buffer.writeKafkaNullableString(nil) }
        }
        if version >= 2 { buffer.writeKafkaNullableString(clusterID) }
        if version >= 1 { buffer.writeInteger(controllerID) }
        buffer.writeKafkaArray(topics) { buffer, topic in
            buffer.writeInteger(topic.errorCode.rawValue)
            buffer.writeKafkaString(topic.name)
            if version >= 1 { buffer.writeKafkaBool(false) }
            buffer.writeKafkaArray(topic.partitions) { buffer, partition in
                buffer.writeInteger(partition.errorCode.rawValue)
                buffer.writeInteger(partition.index)
                buffer.writeInteger(partition.leaderID)
                if version >= 7 { buffer.writeInteger(Int32(0)) }
                buffer.writeKafkaInt32Array([partition.leaderID])
                buffer.writeKafkaInt32Array([partition.leaderID])
                if version >= 5 { buffer.writeKafkaInt32Array([]) }
            }
            // -2^31: authorized operations not requested (KIP-430).
            if version >= 8 { buffer.writeInteger(Int32.min) }
        }
        if version >= 8 { buffer.writeInteger(Int32.min) }
    }

    public init(from reader: inout KafkaReader, version: Int16) throws(KafkaWireError) {
        if version >= 3 { _ = try reader.int32("throttle_time_ms") }
        brokers = try reader.array("brokers") { (r: inout KafkaReader) throws(KafkaWireError) in
            let nodeID = try r.int32("brokers.node_id")
            let host = try r.string("brokers.host")
            let port = try r.int32("brokers.port")
            if version >= 1 { _ = try r.nullableString("brokers.rack") }
            return Broker(nodeID: nodeID, host: host, port: port)
        }
        clusterID = version >= 2 ? try reader.nullableString("cluster_id") : nil
        controllerID = version >= 1 ? try reader.int32("controller_id") : -1
        topics = try reader.array("topics") { (r: inout KafkaReader) throws(KafkaWireError) in
            let error = ErrorCode(rawValue: try r.int16("topics.error_code"))
            let name = try r.string("topics.name")
            if version >= 1 { _ = try r.bool("is_internal") }
            let partitions = try r.array("partitions") { (r: inout KafkaReader) throws(KafkaWireError) in
                let error = ErrorCode(rawValue: try r.int16("partitions.error_code"))
                let index = try r.int32("partition_index")
                let leader = try r.int32("leader_id")
                if version >= 7 { _ = try r.int32("leader_epoch") }
                _ = try r.int32Array("replica_nodes")
                _ = try r.int32Array("isr_nodes")
                if version >= 5 { _ = try r.int32Array("offline_replicas") }
                return Partition(errorCode: error, index: index, leaderID: leader)
            }
            if version >= 8 { _ = try r.int32("topic_authorized_operations") }
            return Topic(errorCode: error, name: name, partitions: partitions)
        }
        if version >= 8 { _ = try reader.int32("cluster_authorized_operations") }
    }
}
