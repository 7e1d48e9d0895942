public import KafkaWire
public import Logging
import NIOCore

/// Where a client finds its brokers, and how long it waits for them.
public struct KafkaClientConfiguration: Sendable {
    /// `host:port` of one or more brokers; the others are learnt from metadata.
    public var bootstrapServers: [String]
    /// Sent with every request; brokers log it.
    public var clientID = "causeway"
    /// How long a request may wait for its answer before its connection is dropped.
    public var requestTimeout: Duration = .seconds(30)
    /// How often a metadata answer that said "not yet" (a topic being created, a leader
    /// being elected) is asked again, and how long to wait in between.
    public var metadataRetries = 20
    public var metadataRetryBackoff: Duration = .milliseconds(100)

    public init(bootstrapServers: [String], clientID: String = "causeway") {
        self.bootstrapServers = bootstrapServers
        self.clientID = clientID
    }
}

/// The API versions this client speaks: each inside our broker's range and Kafka 4's.
enum ClientVersion {
    static let apiVersions: Int16 = 2
    static let metadata: Int16 = 4
    static let produce: Int16 = 7
    static let fetch: Int16 = 11
    static let listOffsets: Int16 = 2
    static let findCoordinator: Int16 = 2
    static let joinGroup: Int16 = 5
    static let syncGroup: Int16 = 3
    static let heartbeat: Int16 = 3
    static let leaveGroup: Int16 = 3
    static let offsetCommit: Int16 = 7
    static let offsetFetch: Int16 = 5
    static let createTopics: Int16 = 3
    static let initProducerId: Int16 = 1
}

/// A topic to create.
public struct NewTopic: Sendable {
    public var name: String
    public var partitions: Int32
    public var replicationFactor: Int16

    public init(name: String, partitions: Int32 = 1, replicationFactor: Int16 = 1) {
        self.name = name
        self.partitions = partitions
        self.replicationFactor = replicationFactor
    }
}

/// The brokers of one cluster as a client sees them: connections by broker, the
/// partition leaders of the topics in use, and the admin calls. Producers and consumers
/// share one.
public actor KafkaCluster {
    public nonisolated let configuration: KafkaClientConfiguration
    private let bootstrap: [BrokerAddress]
    private let logger: Logger
    private var brokers: [Int32: BrokerAddress] = [:]
    private var controllerID: Int32 = -1
    private var connections: [BrokerAddress: Task<BrokerConnection, any Error>] = [:]
    /// topic → partition → leader node.
    private var leaders: [String: [Int32: Int32]] = [:]
    private var isShutDown = false

    public init(configuration: KafkaClientConfiguration, logger: Logger = Logger(label: "causeway.kafka")) throws(KafkaClientError) {
        guard !configuration.bootstrapServers.isEmpty else { throw .invalidBootstrapServer("") }
        var bootstrap: [BrokerAddress] = []
        for server in configuration.bootstrapServers { bootstrap.append(try BrokerAddress(parsing: server)) }
        self.configuration = configuration
        self.bootstrap = bootstrap
        self.logger = logger
    }

    /// Closes every connection; later calls fail with ``KafkaClientError/shutDown``.
    public func shutdown() async {
        isShutDown = true
        let tasks = connections.values
        connections = [:]
        for task in tasks { try? await task.value.close() }
    }

    // MARK: Connections

    func connection(to address: BrokerAddress) async throws -> BrokerConnection {
        guard !isShutDown else { throw KafkaClientError.shutDown }
        if let task = connections[address] {
            if let connection = try? await task.value, connection.isActive { return connection }
            if connections[address] == task { connections[address] = nil }
        }
        let configuration = configuration
        let task = Task { try await Self.open(address, configuration) }
        connections[address] = task
        do {
            return try await task.value
        } catch {
            if connections[address] == task { connections[address] = nil }
            throw error
        }
    }

    func connection(toNode node: Int32) async throws -> BrokerConnection {
        try await connection(to: try await address(ofNode: node))
    }

    /// A connection to any broker: the known ones first, then the bootstrap list.
    func anyConnection() async throws -> BrokerConnection {
        var tried: [String] = []
        var lastError = "no broker known"
        for address in Array(brokers.values.sorted { $0.description < $1.description }) + bootstrap {
            do {
                return try await connection(to: address)
            } catch {
                tried.append(address.description)
                lastError = "\(error)"
            }
        }
        throw KafkaClientError.noBrokerReachable(tried: tried, lastError: lastError)
    }

    // MARK: Metadata

    /// Asks for the metadata of `topics` (`nil`: every topic) and keeps the brokers and
    /// leaders it names. A topic that does not exist is created by a broker that allows
    /// it (`allow_auto_topic_creation`).
    func refreshMetadata(topics: [String]?) async throws -> MetadataResponse {
        let connection = try await anyConnection()
        let response = try await connection.request(.metadata, version: ClientVersion.metadata) {
            MetadataRequest(topics: topics, allowAutoTopicCreation: true).encode(into: &$0, version: ClientVersion.metadata)
        } decode: { (reader: inout KafkaReader) throws(KafkaWireError) in
            try MetadataResponse(from: &reader, version: ClientVersion.metadata)
        }
        for broker in response.brokers { brokers[broker.nodeID] = BrokerAddress(host: broker.host, port: Int(broker.port)) }
        controllerID = response.controllerID
        for topic in response.topics where topic.errorCode == .none {
            leaders[topic.name] = Dictionary(uniqueKeysWithValues: topic.partitions.map { ($0.index, $0.leaderID) })
        }
        return response
    }

    /// The partitions of `topic`, in order; asks the brokers while the topic is being
    /// created or has a partition without a leader.
    public func partitions(of topic: String) async throws -> [Int32] {
        if let known = leaders[topic], !known.isEmpty, known.values.allSatisfy({ $0 >= 0 }) { return known.keys.sorted() }
        var lastError = KafkaClientError.unknownTopic(topic)
        for attempt in 0..<max(1, configuration.metadataRetries) {
            if attempt > 0 { try await Task.sleep(for: configuration.metadataRetryBackoff) }
            let response = try await refreshMetadata(topics: [topic])
            guard let entry = response.topics.first(where: { $0.name == topic }) else { continue }
            if entry.errorCode == .none, !entry.partitions.isEmpty, entry.partitions.allSatisfy({ $0.leaderID >= 0 && $0.errorCode == .none }) {
                return entry.partitions.map(\.index).sorted()
            }
            if entry.errorCode != .none, !entry.errorCode.isRetriable {
                throw KafkaClientError.broker(entry.errorCode, api: .metadata, resource: "topic \(topic)", message: nil)
            }
            lastError = entry.errorCode == .none || entry.errorCode == .unknownTopicOrPartition
                ? .unknownTopic(topic) : .broker(entry.errorCode, api: .metadata, resource: "topic \(topic)", message: nil)
        }
        throw lastError
    }

    /// The connection to the leader of a partition.
    func leader(of topic: String, partition: Int32) async throws -> BrokerConnection {
        try await connection(toNode: try await leaderNode(of: topic, partition: partition))
    }

    /// The leader of a partition, as a node ID (to group requests by broker).
    func leaderNode(of topic: String, partition: Int32) async throws -> Int32 {
        if leaders[topic]?[partition] == nil { _ = try await partitions(of: topic) }
        guard let node = leaders[topic]?[partition], node >= 0 else {
            throw KafkaClientError.broker(.leaderNotAvailable, api: .metadata, resource: "\(topic)-\(partition)", message: nil)
        }
        return node
    }

    /// Forgets what is known of `topic`'s leaders, after a broker said it leads no more.
    func forgetLeaders(of topic: String) {
        leaders[topic] = nil
    }

    /// The address of the group coordinator of `group`.
    func coordinatorAddress(of group: String) async throws -> BrokerAddress {
        var lastError: KafkaClientError = .broker(.coordinatorNotAvailable, api: .findCoordinator, resource: "group \(group)", message: nil)
        for attempt in 0..<max(1, configuration.metadataRetries) {
            if attempt > 0 { try await Task.sleep(for: configuration.metadataRetryBackoff) }
            let known = try await anyConnection()
            let response = try await known.request(.findCoordinator, version: ClientVersion.findCoordinator) {
                FindCoordinatorRequest(key: group, keyType: 0).encode(into: &$0, version: ClientVersion.findCoordinator)
            } decode: { (reader: inout KafkaReader) throws(KafkaWireError) in
                try FindCoordinatorResponse(from: &reader, version: ClientVersion.findCoordinator)
            }
            if response.errorCode == .none {
                let address = BrokerAddress(host: response.host, port: Int(response.port))
                brokers[response.nodeID] = address
                return address
            }
            lastError = .broker(response.errorCode, api: .findCoordinator, resource: "group \(group)", message: nil)
            guard response.errorCode.isRetriable else { throw lastError }
        }
        throw lastError
    }

    /// A connection of the caller's own, outside the shared pool: a consumer's group
    /// requests and long-polling fetches would otherwise hold up everyone else's
    /// requests on a shared connection, since a broker answers a connection's requests
    /// in order (a JoinGroup can wait for a whole rebalance). The caller closes it.
    func openConnection(to address: BrokerAddress) async throws -> BrokerConnection {
        guard !isShutDown else { throw KafkaClientError.shutDown }
        return try await Self.open(address, configuration)
    }

    /// Connects and checks the broker's API versions; a connection that fails the check
    /// is closed.
    private static func open(_ address: BrokerAddress, _ configuration: KafkaClientConfiguration) async throws -> BrokerConnection {
        let connection = try await BrokerConnection.connect(
            to: address, clientID: configuration.clientID, requestTimeout: .nanoseconds(configuration.requestTimeout.nanoseconds))
        do {
            try await connection.negotiateVersions()
        } catch {
            await connection.close()
            throw error
        }
        return connection
    }

    func address(ofNode node: Int32) async throws -> BrokerAddress {
        if brokers[node] == nil { _ = try await refreshMetadata(topics: []) }
        guard let address = brokers[node] else {
            throw KafkaClientError.connectionFailed(broker: "node \(node)", reason: "not in the cluster's metadata")
        }
        return address
    }

    // MARK: Admin

    /// Creates topics; one that exists already is left as it is.
    public func createTopics(_ topics: [NewTopic], timeout: Duration = .seconds(10)) async throws {
        if controllerID < 0 { _ = try await refreshMetadata(topics: []) }
        let connection = controllerID >= 0 ? try await connection(toNode: controllerID) : try await anyConnection()
        let timeoutMs = Int32(timeout.components.seconds * 1000)
        let response = try await connection.request(.createTopics, version: ClientVersion.createTopics) {
            CreateTopicsRequest(
                topics: topics.map { .init(name: $0.name, partitionCount: $0.partitions, replicationFactor: $0.replicationFactor) },
                timeoutMs: timeoutMs
            ).encode(into: &$0, version: ClientVersion.createTopics)
        } decode: { (reader: inout KafkaReader) throws(KafkaWireError) in
            try CreateTopicsResponse(from: &reader, version: ClientVersion.createTopics)
        }
        for topic in response.topics where topic.errorCode != .none && topic.errorCode != .topicAlreadyExists {
            throw KafkaClientError.broker(topic.errorCode, api: .createTopics, resource: "topic \(topic.name)", message: topic.message)
        }
        for topic in topics { leaders[topic.name] = nil }
    }
}

extension Duration {
    var nanoseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1_000_000_000 + attoseconds / 1_000_000_000
    }

    var milliseconds: Int64 { nanoseconds / 1_000_000 }
}
