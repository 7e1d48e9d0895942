public import EventTracing
public import KafkaWire

/// Why a Kafka client call failed. Each case names what went wrong and where, so that a
/// log line or a span's `error.type` says which broker, topic or group was at fault.
public enum KafkaClientError: Error, Sendable, CustomStringConvertible, MessagingError {
    /// A `host:port` that cannot be read.
    case invalidBootstrapServer(String)
    /// No bootstrap server answered.
    case noBrokerReachable(tried: [String], lastError: String)
    /// The connection to the broker closed, or could not be opened.
    case connectionFailed(broker: String, reason: String)
    /// The broker did not answer within the request timeout; the connection is closed.
    case requestTimedOut(api: APIKey, broker: String)
    /// The broker's answer could not be decoded.
    case malformedResponse(api: APIKey, broker: String, reason: String)
    /// The broker does not offer the version of an API this client speaks.
    case unsupportedAPI(api: APIKey, version: Int16, broker: String, offered: ClosedRange<Int16>?)
    /// The broker answered with an error code for a topic, partition or group.
    case broker(ErrorCode, api: APIKey, resource: String, message: String?)
    /// The topic does not exist (and was not created) after the retries.
    case unknownTopic(String)
    /// The client was shut down.
    case shutDown

    public var description: String {
        switch self {
        case .invalidBootstrapServer(let server): "bootstrap server \"\(server)\" is not host:port"
        case .noBrokerReachable(let tried, let last): "no bootstrap server reachable (tried \(tried.joined(separator: ", "))): \(last)"
        case .connectionFailed(let broker, let reason): "connection to broker \(broker) failed: \(reason)"
        case .requestTimedOut(let api, let broker): "\(api) request to broker \(broker) timed out"
        case .malformedResponse(let api, let broker, let reason): "\(api) response from broker \(broker) is malformed: \(reason)"
        case .unsupportedAPI(let api, let version, let broker, let offered):
            "broker \(broker) does not offer \(api) v\(version)" + (offered.map { " (it offers v\($0.lowerBound)-\($0.upperBound))" } ?? " (not offered at all)")
        case .broker(let code, let api, let resource, let message):
            "\(api) for \(resource) failed: \(code.name)" + (message.map { ": \($0)" } ?? "")
        case .unknownTopic(let topic): "topic \"\(topic)\" does not exist"
        case .shutDown: "the Kafka client is shut down"
        }
    }

    /// The kind of failure, low in cardinality: the Kafka error name where the broker
    /// gave one.
    public var errorType: String {
        switch self {
        case .invalidBootstrapServer: "INVALID_BOOTSTRAP_SERVER"
        case .noBrokerReachable, .connectionFailed: "NETWORK_EXCEPTION"
        case .requestTimedOut: "REQUEST_TIMED_OUT"
        case .malformedResponse: "CORRUPT_MESSAGE"
        case .unsupportedAPI: "UNSUPPORTED_VERSION"
        case .broker(let code, _, _, _): code.name
        case .unknownTopic: "UNKNOWN_TOPIC_OR_PARTITION"
        case .shutDown: "CLIENT_SHUT_DOWN"
        }
    }

    /// Whether trying again (after a metadata refresh) may succeed.
    var isRetriable: Bool {
        switch self {
        case .connectionFailed, .requestTimedOut, .noBrokerReachable, .unknownTopic: true
        case .broker(let code, _, _, _): code.isRetriable
        default: false
        }
    }
}
