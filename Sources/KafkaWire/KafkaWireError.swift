/// Why a Kafka frame could not be decoded. Each case names the field or rule at fault so a
/// broker log line says what the client got wrong.
public enum KafkaWireError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The frame ended before `field` was complete.
    case truncated(field: String)
    /// A length prefix that is negative where null is not allowed, or larger than what is left.
    case invalidLength(field: String, length: Int)
    /// A varint longer than its type allows.
    case malformedVarint(field: String)
    /// A string that is not UTF-8.
    case invalidUTF8(field: String)
    /// The API key is not one this codec knows.
    case unknownAPIKey(Int16)
    /// The API is known but this version is outside the supported range.
    case unsupportedVersion(apiKey: Int16, version: Int16)
    /// A record batch whose magic byte is not 2.
    case unsupportedMagic(Int8)
    /// A record batch whose stored CRC-32C does not match its bytes.
    case crcMismatch(stored: UInt32, computed: UInt32)
    /// A record batch whose header disagrees with its own contents.
    case invalidBatch(String)

    public var description: String {
        switch self {
        case .truncated(let field): "frame ends inside \(field)"
        case .invalidLength(let field, let length): "invalid length \(length) for \(field)"
        case .malformedVarint(let field): "varint longer than allowed in \(field)"
        case .invalidUTF8(let field): "\(field) is not UTF-8"
        case .unknownAPIKey(let key): "unknown API key \(key)"
        case .unsupportedVersion(let key, let version): "API key \(key) version \(version) is not supported"
        case .unsupportedMagic(let magic): "record batch magic \(magic), only magic 2 is supported"
        case .crcMismatch(let stored, let computed):
            "record batch CRC-32C mismatch: stored \(String(stored, radix: 16)), computed \(String(computed, radix: 16))"
        case .invalidBatch(let reason): "invalid record batch: \(reason)"
        }
    }
}
