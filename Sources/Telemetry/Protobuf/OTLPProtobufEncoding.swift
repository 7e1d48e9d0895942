// Encoding of the OTLP protobuf messages. The writer works back to front (see
// ReverseProtobufWriter), so every message writes its fields from the highest number down
// and repeated fields from the last element to the first.
//
// Like proto3, the encoder leaves out default values. The model does not track whether an
// empty submessage was present, so an UNSET status with no message and an `AnyValue` with
// nothing set are left out too; OTLP gives an empty and an absent message the same meaning.

extension ExportTraceServiceRequest {
    /// The protobuf body for `POST /v1/traces`.
    public func protobufBytes() -> [UInt8] {
        var writer = ReverseProtobufWriter(capacity: 512 * resourceSpans.count + 256)
        for resourceSpans in self.resourceSpans.reversed() {
            let mark = writer.count
            writer.encode(resourceSpans)
            writer.writeLengthAndKey(1, since: mark)
        }
        return writer.bytes()
    }
}

extension ExportLogsServiceRequest {
    /// The protobuf body for `POST /v1/logs`.
    public func protobufBytes() -> [UInt8] {
        var writer = ReverseProtobufWriter(capacity: 512 * resourceLogs.count + 256)
        for resourceLogs in self.resourceLogs.reversed() {
            let mark = writer.count
            writer.encode(resourceLogs)
            writer.writeLengthAndKey(1, since: mark)
        }
        return writer.bytes()
    }
}

extension ExportTraceServiceResponse {
    /// The protobuf body of a `POST /v1/traces` answer.
    public func protobufBytes() -> [UInt8] {
        var writer = ReverseProtobufWriter(capacity: 64)
        if let partialSuccess {
            writer.encodePartialSuccess(partialSuccess.rejectedSpans, partialSuccess.errorMessage)
        }
        return writer.bytes()
    }
}

extension ExportLogsServiceResponse {
    /// The protobuf body of a `POST /v1/logs` answer.
    public func protobufBytes() -> [UInt8] {
        var writer = ReverseProtobufWriter(capacity: 64)
        if let partialSuccess {
            writer.encodePartialSuccess(partialSuccess.rejectedLogRecords, partialSuccess.errorMessage)
        }
        return writer.bytes()
    }
}

extension RPCStatus {
    /// The protobuf body of an OTLP/HTTP error response.
    public func protobufBytes() -> [UInt8] {
        var writer = ReverseProtobufWriter(capacity: 64 + message.utf8.count)
        for detail in details.reversed() {
            let mark = writer.count
            if !detail.value.isEmpty { writer.writeBytes(2, detail.value) }
            writer.writeString(1, detail.typeURL)
            writer.writeLengthAndKey(3, since: mark)
        }
        writer.writeString(2, message)
        writer.writeInt32Varint(1, code)
        return writer.bytes()
    }
}

extension ReverseProtobufWriter {
    mutating func encodePartialSuccess(_ rejected: Int64, _ message: String) {
        let mark = count
        writeString(2, message)
        writeUInt64Varint(1, UInt64(bitPattern: rejected))
        writeLengthAndKey(1, since: mark)
    }

    mutating func encode(_ resourceSpans: ResourceSpans) {
        writeString(3, resourceSpans.schemaURL)
        for scopeSpans in resourceSpans.scopeSpans.reversed() {
            let mark = count
            encode(scopeSpans)
            writeLengthAndKey(2, since: mark)
        }
        if let resource = resourceSpans.resource {
            let mark = count
            encode(resource)
            writeLengthAndKey(1, since: mark)
        }
    }

    mutating func encode(_ scopeSpans: ScopeSpans) {
        writeString(3, scopeSpans.schemaURL)
        for span in scopeSpans.spans.reversed() {
            let mark = count
            encode(span)
            writeLengthAndKey(2, since: mark)
        }
        if let scope = scopeSpans.scope {
            let mark = count
            encode(scope)
            writeLengthAndKey(1, since: mark)
        }
    }

    mutating func encode(_ span: Span) {
        writeFixed32(16, span.flags)
        if span.status.code != .unset || !span.status.message.isEmpty {
            let mark = count
            writeInt32Varint(3, span.status.code.rawValue)
            writeString(2, span.status.message)
            writeLengthAndKey(15, since: mark)
        }
        writeUInt64Varint(14, UInt64(span.droppedLinksCount))
        for link in span.links.reversed() {
            let mark = count
            encode(link)
            writeLengthAndKey(13, since: mark)
        }
        writeUInt64Varint(12, UInt64(span.droppedEventsCount))
        for event in span.events.reversed() {
            let mark = count
            encode(event)
            writeLengthAndKey(11, since: mark)
        }
        writeUInt64Varint(10, UInt64(span.droppedAttributesCount))
        encodeAttributes(9, span.attributes)
        writeFixed64(8, span.endTimeUnixNano)
        writeFixed64(7, span.startTimeUnixNano)
        writeInt32Varint(6, span.kind.rawValue)
        writeString(5, span.name)
        if let parent = span.parentSpanID { writeSpanID(4, parent) }
        writeString(3, span.traceState)
        writeSpanID(2, span.spanID)
        writeTraceID(1, span.traceID)
    }

    mutating func encode(_ event: SpanEvent) {
        writeUInt64Varint(4, UInt64(event.droppedAttributesCount))
        encodeAttributes(3, event.attributes)
        writeString(2, event.name)
        writeFixed64(1, event.timeUnixNano)
    }

    mutating func encode(_ link: SpanLink) {
        writeFixed32(6, link.flags)
        writeUInt64Varint(5, UInt64(link.droppedAttributesCount))
        encodeAttributes(4, link.attributes)
        writeString(3, link.traceState)
        writeSpanID(2, link.spanID)
        writeTraceID(1, link.traceID)
    }

    mutating func encode(_ resource: Resource) {
        writeUInt64Varint(2, UInt64(resource.droppedAttributesCount))
        encodeAttributes(1, resource.attributes)
    }

    mutating func encode(_ scope: InstrumentationScope) {
        writeUInt64Varint(4, UInt64(scope.droppedAttributesCount))
        encodeAttributes(3, scope.attributes)
        writeString(2, scope.version)
        writeString(1, scope.name)
    }

    @inline(__always)
    mutating func encodeAttributes(_ field: UInt32, _ attributes: [KeyValue]) {
        for attribute in attributes.reversed() {
            let mark = count
            encode(attribute)
            writeLengthAndKey(field, since: mark)
        }
    }

    mutating func encode(_ keyValue: KeyValue) {
        // An unset value is left out, as SDKs send it; the decoder reads both forms as `.empty`.
        if keyValue.value != .empty {
            let mark = count
            encode(keyValue.value)
            writeLengthAndKey(2, since: mark)
        }
        writeString(1, keyValue.key)
    }

    /// The content of an `AnyValue` message. Within a oneof a default value is still
    /// written, so that `""`, `false` and `0` keep their type.
    mutating func encode(_ value: AnyValue) {
        switch value {
        case .empty:
            break
        case .string(let string):
            writeStringAlways(1, string)
        case .bool(let bool):
            writeVarint(bool ? 1 : 0)
            writeKey(2, .varint)
        case .int(let int):
            writeVarint(UInt64(bitPattern: int))
            writeKey(3, .varint)
        case .double(let double):
            writeFixed64(double.bitPattern)
            writeKey(4, .fixed64)
        case .array(let values):
            let outer = count
            for element in values.reversed() {
                let mark = count
                encode(element)
                writeLengthAndKey(1, since: mark)
            }
            writeLengthAndKey(5, since: outer)
        case .keyValueList(let pairs):
            let outer = count
            encodeAttributes(1, pairs)
            writeLengthAndKey(6, since: outer)
        case .bytes(let bytes):
            writeBytes(7, bytes)
        }
    }

    mutating func encode(_ resourceLogs: ResourceLogs) {
        writeString(3, resourceLogs.schemaURL)
        for scopeLogs in resourceLogs.scopeLogs.reversed() {
            let mark = count
            encode(scopeLogs)
            writeLengthAndKey(2, since: mark)
        }
        if let resource = resourceLogs.resource {
            let mark = count
            encode(resource)
            writeLengthAndKey(1, since: mark)
        }
    }

    mutating func encode(_ scopeLogs: ScopeLogs) {
        writeString(3, scopeLogs.schemaURL)
        for record in scopeLogs.logRecords.reversed() {
            let mark = count
            encode(record)
            writeLengthAndKey(2, since: mark)
        }
        if let scope = scopeLogs.scope {
            let mark = count
            encode(scope)
            writeLengthAndKey(1, since: mark)
        }
    }

    mutating func encode(_ record: LogRecord) {
        writeString(12, record.eventName)
        writeFixed64(11, record.observedTimeUnixNano)
        if let spanID = record.spanID { writeSpanID(10, spanID) }
        if let traceID = record.traceID { writeTraceID(9, traceID) }
        writeFixed32(8, record.flags)
        writeUInt64Varint(7, UInt64(record.droppedAttributesCount))
        encodeAttributes(6, record.attributes)
        if let body = record.body {
            let mark = count
            encode(body)
            writeLengthAndKey(5, since: mark)
        }
        writeString(3, record.severityText)
        writeInt32Varint(2, record.severityNumber.rawValue)
        writeFixed64(1, record.timeUnixNano)
    }
}
