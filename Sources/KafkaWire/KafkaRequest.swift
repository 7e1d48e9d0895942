public import NIOCore

/// A decoded request of the supported subset: the one entry point from a frame to a typed
/// message, used by the broker and by the request-decoder fuzz target.
public enum KafkaRequest: Sendable {
    /// Any ApiVersions request, newer versions included: their body is not read, since
    /// they are answered with the v0 body and UNSUPPORTED_VERSION.
    case apiVersions
    case metadata(MetadataRequest)
    case produce(ProduceRequest)
    case fetch(FetchRequest)
    case listOffsets(ListOffsetsRequest)
    case createTopics(CreateTopicsRequest)
    case initProducerId(InitProducerIdRequest)
    case findCoordinator(FindCoordinatorRequest)
    case joinGroup(JoinGroupRequest)
    case syncGroup(SyncGroupRequest)
    case heartbeat(HeartbeatRequest)
    case leaveGroup(LeaveGroupRequest)
    case offsetCommit(OffsetCommitRequest)
    case offsetFetch(OffsetFetchRequest)

    /// Decodes a frame (without its size prefix): header v1, then the body of the API and
    /// version the header names.
    public static func decode(_ frame: ByteBuffer) throws(KafkaWireError) -> (header: RequestHeader, request: KafkaRequest) {
        var reader = KafkaReader(frame)
        let header = try RequestHeader(from: &reader)
        guard let api = APIKey(rawValue: header.apiKey) else { throw .unknownAPIKey(header.apiKey) }
        let version = header.apiVersion
        if api == .apiVersions { return (header, .apiVersions) }
        guard api.supportedVersions.contains(version) else { throw .unsupportedVersion(apiKey: header.apiKey, version: version) }
        let request: KafkaRequest
        switch api {
        case .apiVersions: request = .apiVersions
        case .metadata: request = .metadata(try MetadataRequest(from: &reader, version: version))
        case .produce: request = .produce(try ProduceRequest(from: &reader, version: version))
        case .fetch: request = .fetch(try FetchRequest(from: &reader, version: version))
        case .listOffsets: request = .listOffsets(try ListOffsetsRequest(from: &reader, version: version))
        case .createTopics: request = .createTopics(try CreateTopicsRequest(from: &reader, version: version))
        case .initProducerId: request = .initProducerId(try InitProducerIdRequest(from: &reader, version: version))
        case .findCoordinator: request = .findCoordinator(try FindCoordinatorRequest(from: &reader, version: version))
        case .joinGroup: request = .joinGroup(try JoinGroupRequest(from: &reader, version: version))
        case .syncGroup: request = .syncGroup(try SyncGroupRequest(from: &reader, version: version))
        case .heartbeat: request = .heartbeat(try HeartbeatRequest(from: &reader, version: version))
        case .leaveGroup: request = .leaveGroup(try LeaveGroupRequest(from: &reader, version: version))
        case .offsetCommit: request = .offsetCommit(try OffsetCommitRequest(from: &reader, version: version))
        case .offsetFetch: request = .offsetFetch(try OffsetFetchRequest(from: &reader, version: version))
        }
        return (header, request)
    }
}
