public import NIOCore

/// ApiVersions response v0–2. The request body of v0–2 is empty; a v3+ request is answered
/// with this v0 body and UNSUPPORTED_VERSION, which every client takes as "retry lower".
public struct ApiVersionsResponse: Sendable {
    public struct Range: Sendable {
        public var apiKey: Int16
        public var minVersion: Int16
        public var maxVersion: Int16
        public init(apiKey: Int16, minVersion: Int16, maxVersion: Int16) {
            self.apiKey = apiKey
            self.minVersion = minVersion
            self.maxVersion = maxVersion
        }
    }

    public var errorCode: ErrorCode
    public var apiKeys: [Range]
    public var throttleTimeMs: Int32 = 0

    public init(errorCode: ErrorCode, apiKeys: [Range]) {
        self.errorCode = errorCode
        self.apiKeys = apiKeys
    }

    /// Everything in `APIKey`, at its supported range.
    public static func supported(errorCode: ErrorCode = .none) -> ApiVersionsResponse {
        ApiVersionsResponse(
            errorCode: errorCode,
            apiKeys: APIKey.allCases.map {
                Range(apiKey: $0.rawValue, minVersion: $0.supportedVersions.lowerBound, maxVersion: $0.supportedVersions.upperBound)
            }
        )
    }

    public func encode(into buffer: inout ByteBuffer, version: Int16) {
        buffer.writeInteger(errorCode.rawValue)
        buffer.writeKafkaArray(apiKeys) {
            $0.writeInteger($1.apiKey)
            $0.writeInteger($1.minVersion)
            $0.writeInteger($1.maxVersion)
        }
        if version >= 1 { buffer.writeInteger(throttleTimeMs) }
    }

    public init(from reader: inout KafkaReader, version: Int16) throws(KafkaWireError) {
        errorCode = ErrorCode(rawValue: try reader.int16("error_code"))
        apiKeys = try reader.array("api_keys") { (r: inout KafkaReader) throws(KafkaWireError) in
            Range(apiKey: try r.int16("api_key"), minVersion: try r.int16("min_version"), maxVersion: try r.int16("max_version"))
        }
        if version >= 1, reader.remaining >= 4 { throttleTimeMs = try reader.int32("throttle_time_ms") }
    }
}
