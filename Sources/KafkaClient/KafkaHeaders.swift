public import EventTracing

/// A message's headers in order, as Kafka keeps them: names may repeat, and a value may
/// be null. Propagation reads the last header of a name (DESIGN.md, "Headers on every
/// message").
public struct KafkaHeaders: MessageHeaders, Sendable, Equatable, ExpressibleByDictionaryLiteral {
    public struct Header: Sendable, Equatable {
        public var name: String
        public var value: [UInt8]?

        public init(name: String, value: [UInt8]?) {
            self.name = name
            self.value = value
        }
    }

    public var headers: [Header]

    public init(_ headers: [Header] = []) { self.headers = headers }

    public init(dictionaryLiteral elements: (String, String)...) {
        headers = elements.map { Header(name: $0.0, value: Array($0.1.utf8)) }
    }

    public func lastValue(forHeader name: String) -> [UInt8]? {
        headers.last { $0.name == name }?.value ?? nil
    }

    public mutating func setHeader(_ name: String, to value: [UInt8]) {
        headers.removeAll { $0.name == name }
        headers.append(Header(name: name, value: value))
    }

    /// The last value of `name` as UTF-8 text.
    public subscript(name: String) -> String? {
        get { lastValue(forHeader: name).flatMap { String(validating: $0, as: UTF8.self) } }
        set {
            if let newValue { setHeader(name, to: Array(newValue.utf8)) } else { headers.removeAll { $0.name == name } }
        }
    }
}

/// The headers KafkaClient writes beyond trace context.
public enum KafkaClientHeader {
    /// The message's ID, written by the producer when the message has none, so that a
    /// consumer can tell a message processed again from a new one
    /// (`messaging.message.id` on both spans).
    public static let messageID = "message-id"
    /// On a dead-lettered message: `true`.
    public static let deadLetter = "causeway-dead-letter"
    /// On a dead-lettered message: the last error.
    public static let deadLetterReason = "causeway-dead-letter-reason"
    /// On a dead-lettered message: where it came from and how often it was tried.
    public static let originalTopic = "causeway-original-topic"
    public static let originalPartition = "causeway-original-partition"
    public static let originalOffset = "causeway-original-offset"
    public static let attempts = "causeway-attempts"
}
