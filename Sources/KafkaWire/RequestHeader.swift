public import NIOCore

/// Request header v1 (`api_key`, `api_version`, `correlation_id`, `client_id`). A flexible
/// request (header v2) adds tagged fields; the only one this codec reads is the ApiVersions
/// v3+ opener, whose header is skipped so it can be answered with UNSUPPORTED_VERSION.
public struct RequestHeader: Sendable, Equatable {
    public var apiKey: Int16
    public var apiVersion: Int16
    public var correlationID: Int32
    public var clientID: String?

    public init(apiKey: Int16, apiVersion: Int16, correlationID: Int32, clientID: String?) {
        self.apiKey = apiKey
        self.apiVersion = apiVersion
        self.correlationID = correlationID
        self.clientID = clientID
    }

    /// Reads the header; the reader is left at the request body.
    public init(from reader: inout KafkaReader) throws(KafkaWireError) {
        apiKey = try reader.int16("request_header.api_key")
        apiVersion = try reader.int16("request_header.api_version")
        correlationID = try reader.int32("request_header.correlation_id")
        clientID = try reader.nullableString("request_header.client_id")
        if apiKey == APIKey.apiVersions.rawValue, apiVersion >= 3 {
            try reader.skipTaggedFields("request_header.tagged_fields")
        }
    }

    public func encode(into buffer: inout ByteBuffer) {
        buffer.writeInteger(apiKey)
        buffer.writeInteger(apiVersion)
        buffer.writeInteger(correlationID)
        buffer.writeKafkaNullableString(clientID)
    }
}

/// Response header v0: the correlation id of the request answered. Every version of the
/// supported subset is non-flexible, so none has tagged fields here.
public struct ResponseHeader: Sendable, Equatable {
    public var correlationID: Int32

    public init(correlationID: Int32) {
        self.correlationID = correlationID
    }

    /// Reads the header; the reader is left at the response body.
    public init(from reader: inout KafkaReader) throws(KafkaWireError) {
        correlationID = try reader.int32("response_header.correlation_id")
    }

    public func encode(into buffer: inout ByteBuffer) {
        buffer.writeInteger(correlationID)
    }
}
