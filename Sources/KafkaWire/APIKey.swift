/// The APIs of the supported subset and their non-flexible version ranges (DESIGN.md,
/// "Kafka wire protocol for the built-in broker").
public enum APIKey: Int16, Sendable, CaseIterable, CustomStringConvertible {
    case produce = 0
    case fetch = 1
    case listOffsets = 2
    case metadata = 3
    case offsetCommit = 8
    case offsetFetch = 9
    case findCoordinator = 10
    case joinGroup = 11
    case heartbeat = 12
    case leaveGroup = 13
    case syncGroup = 14
    case apiVersions = 18
    case createTopics = 19
    case initProducerId = 22

    /// What ApiVersions advertises. Produce and JoinGroup start at v0 because librdkafka
    /// before 2.11.1 checks features by exact version ranges.
    public var supportedVersions: ClosedRange<Int16> {
        switch self {
        case .produce: 0...8
        case .fetch: 4...11
        case .listOffsets: 1...5
        case .metadata: 0...8
        case .offsetCommit: 2...7
        case .offsetFetch: 1...5
        case .findCoordinator: 0...2
        case .joinGroup: 0...5
        case .heartbeat: 0...3
        case .leaveGroup: 0...3
        case .syncGroup: 0...3
        case .apiVersions: 0...2
        case .createTopics: 2...4
        case .initProducerId: 0...1
        }
    }

    public var description: String {
        switch self {
        case .produce: "Produce"
        case .fetch: "Fetch"
        case .listOffsets: "ListOffsets"
        case .metadata: "Metadata"
        case .offsetCommit: "OffsetCommit"
        case .offsetFetch: "OffsetFetch"
        case .findCoordinator: "FindCoordinator"
        case .joinGroup: "JoinGroup"
        case .heartbeat: "Heartbeat"
        case .leaveGroup: "LeaveGroup"
        case .syncGroup: "SyncGroup"
        case .apiVersions: "ApiVersions"
        case .createTopics: "CreateTopics"
        case .initProducerId: "InitProducerId"
        }
    }
}

/// The error codes the broker answers with (https://kafka.apache.org/protocol#protocol_error_codes).
public struct ErrorCode: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: Int16
    public init(rawValue: Int16) { self.rawValue = rawValue }

    public static let none = ErrorCode(rawValue: 0)
    public static let unknownServerError = ErrorCode(rawValue: -1)
    public static let offsetOutOfRange = ErrorCode(rawValue: 1)
    public static let corruptMessage = ErrorCode(rawValue: 2)
    public static let unknownTopicOrPartition = ErrorCode(rawValue: 3)
    public static let invalidFetchSize = ErrorCode(rawValue: 4)
    public static let leaderNotAvailable = ErrorCode(rawValue: 5)
    public static let requestTimedOut = ErrorCode(rawValue: 7)
    public static let messageTooLarge = ErrorCode(rawValue: 10)
    public static let coordinatorNotAvailable = ErrorCode(rawValue: 15)
    public static let notCoordinator = ErrorCode(rawValue: 16)
    public static let invalidTopic = ErrorCode(rawValue: 17)
    public static let invalidRequiredAcks = ErrorCode(rawValue: 21)
    public static let illegalGeneration = ErrorCode(rawValue: 22)
    public static let inconsistentGroupProtocol = ErrorCode(rawValue: 23)
    public static let invalidGroupID = ErrorCode(rawValue: 24)
    public static let unknownMemberID = ErrorCode(rawValue: 25)
    public static let invalidSessionTimeout = ErrorCode(rawValue: 26)
    public static let rebalanceInProgress = ErrorCode(rawValue: 27)
    public static let unsupportedVersion = ErrorCode(rawValue: 35)
    public static let topicAlreadyExists = ErrorCode(rawValue: 36)
    public static let invalidPartitions = ErrorCode(rawValue: 37)
    public static let invalidReplicationFactor = ErrorCode(rawValue: 38)
    public static let invalidRequest = ErrorCode(rawValue: 42)
    public static let outOfOrderSequenceNumber = ErrorCode(rawValue: 45)
    public static let duplicateSequenceNumber = ErrorCode(rawValue: 46)
    public static let invalidProducerEpoch = ErrorCode(rawValue: 47)
    public static let unknownProducerID = ErrorCode(rawValue: 59)
    public static let memberIDRequired = ErrorCode(rawValue: 79)

    /// Kafka's name of the code (`NOT_LEADER_OR_FOLLOWER`), or `ERROR_<n>` for one not listed.
    public var name: String {
        switch rawValue {
        case -1: "UNKNOWN_SERVER_ERROR"
        case 0: "NONE"
        case 1: "OFFSET_OUT_OF_RANGE"
        case 2: "CORRUPT_MESSAGE"
        case 3: "UNKNOWN_TOPIC_OR_PARTITION"
        case 4: "INVALID_FETCH_SIZE"
        case 5: "LEADER_NOT_AVAILABLE"
        case 6: "NOT_LEADER_OR_FOLLOWER"
        case 7: "REQUEST_TIMED_OUT"
        case 10: "MESSAGE_TOO_LARGE"
        case 13: "NETWORK_EXCEPTION"
        case 14: "COORDINATOR_LOAD_IN_PROGRESS"
        case 15: "COORDINATOR_NOT_AVAILABLE"
        case 16: "NOT_COORDINATOR"
        case 17: "INVALID_TOPIC_EXCEPTION"
        case 19: "NOT_ENOUGH_REPLICAS"
        case 20: "NOT_ENOUGH_REPLICAS_AFTER_APPEND"
        case 21: "INVALID_REQUIRED_ACKS"
        case 22: "ILLEGAL_GENERATION"
        case 23: "INCONSISTENT_GROUP_PROTOCOL"
        case 24: "INVALID_GROUP_ID"
        case 25: "UNKNOWN_MEMBER_ID"
        case 26: "INVALID_SESSION_TIMEOUT"
        case 27: "REBALANCE_IN_PROGRESS"
        case 29: "TOPIC_AUTHORIZATION_FAILED"
        case 30: "GROUP_AUTHORIZATION_FAILED"
        case 35: "UNSUPPORTED_VERSION"
        case 36: "TOPIC_ALREADY_EXISTS"
        case 37: "INVALID_PARTITIONS"
        case 38: "INVALID_REPLICATION_FACTOR"
        case 42: "INVALID_REQUEST"
        case 45: "OUT_OF_ORDER_SEQUENCE_NUMBER"
        case 46: "DUPLICATE_SEQUENCE_NUMBER"
        case 47: "INVALID_PRODUCER_EPOCH"
        case 59: "UNKNOWN_PRODUCER_ID"
        case 74: "FENCED_LEADER_EPOCH"
        case 79: "MEMBER_ID_REQUIRED"
        default: "ERROR_\(rawValue)"
        }
    }

    /// Whether the same request may succeed later, after a metadata refresh or a pause:
    /// Kafka's RetriableException codes among those a client here meets.
    public var isRetriable: Bool {
        switch rawValue {
        case 3, 5, 6, 7, 13, 14, 15, 16, 19, 20, 74: true
        default: false
        }
    }

    public var description: String { "error \(rawValue) \(name)" }
}
