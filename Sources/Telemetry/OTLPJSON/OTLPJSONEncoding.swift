// Encoding of OTLP JSON (https://opentelemetry.io/docs/specs/otlp/#json-protobuf-encoding):
// the proto3 JSON mapping with lowerCamelCase names, IDs as lowercase hex, enums as
// integers, 64-bit integers as decimal strings and bytes as base64.
//
// proto3 JSON omits fields holding their default value. What a span needs to be read by
// any OTLP JSON consumer is always written: traceId, spanId, name, kind and both times.

extension ExportTraceServiceRequest {
    /// The OTLP JSON body for `POST /v1/traces`.
    public func otlpJSONBytes() -> [UInt8] {
        var writer = JSONWriter(capacity: 512 * max(spanCount, 1))
        writer.beginObject()
        if !resourceSpans.isEmpty {
            writer.key("resourceSpans")
            writer.beginArray()
            for item in resourceSpans { writer.otlpResourceSpans(item) }
            writer.endArray()
        }
        writer.endObject()
        return writer.bytes
    }
}

extension ExportLogsServiceRequest {
    /// The OTLP JSON body for `POST /v1/logs`.
    public func otlpJSONBytes() -> [UInt8] {
        var writer = JSONWriter(capacity: 384 * max(logRecordCount, 1))
        writer.beginObject()
        if !resourceLogs.isEmpty {
            writer.key("resourceLogs")
            writer.beginArray()
            for item in resourceLogs { writer.otlpResourceLogs(item) }
            writer.endArray()
        }
        writer.endObject()
        return writer.bytes
    }
}

extension ExportTraceServiceResponse {
    /// The OTLP JSON answer to `POST /v1/traces`: `{}` when everything was accepted.
    public func otlpJSONBytes() -> [UInt8] {
        var writer = JSONWriter(capacity: 64)
        writer.beginObject()
        if let partialSuccess {
            writer.key("partialSuccess")
            writer.beginObject()
            if partialSuccess.rejectedSpans != 0 {
                writer.key("rejectedSpans")
                writer.quotedInt(partialSuccess.rejectedSpans)
            }
            if !partialSuccess.errorMessage.isEmpty {
                writer.key("errorMessage")
                writer.string(partialSuccess.errorMessage)
            }
            writer.endObject()
        }
        writer.endObject()
        return writer.bytes
    }
}

extension ExportLogsServiceResponse {
    /// The OTLP JSON answer to `POST /v1/logs`: `{}` when everything was accepted.
    public func otlpJSONBytes() -> [UInt8] {
        var writer = JSONWriter(capacity: 64)
        writer.beginObject()
        if let partialSuccess {
            writer.key("partialSuccess")
            writer.beginObject()
            if partialSuccess.rejectedLogRecords != 0 {
                writer.key("rejectedLogRecords")
                writer.quotedInt(partialSuccess.rejectedLogRecords)
            }
            if !partialSuccess.errorMessage.isEmpty {
                writer.key("errorMessage")
                writer.string(partialSuccess.errorMessage)
            }
            writer.endObject()
        }
        writer.endObject()
        return writer.bytes
    }
}

extension RPCStatus {
    /// The JSON form of this `google.rpc.Status`, the body of an OTLP/HTTP JSON error
    /// response. `code` is always written; each detail as `{"@type": URL, "value": base64}`.
    public func otlpJSONBytes() -> [UInt8] {
        var writer = JSONWriter(capacity: 64 + message.utf8.count)
        writer.beginObject()
        writer.key("code")
        writer.int(Int64(code))
        if !message.isEmpty {
            writer.key("message")
            writer.string(message)
        }
        if !details.isEmpty {
            writer.key("details")
            writer.beginArray()
            for detail in details {
                writer.beginObject()
                writer.key("@type")
                writer.string(detail.typeURL)
                writer.key("value")
                writer.base64(detail.value)
                writer.endObject()
            }
            writer.endArray()
        }
        writer.endObject()
        return writer.bytes
    }
}

extension JSONWriter {
    mutating func otlpResourceSpans(_ value: ResourceSpans) {
        beginObject()
        if let resource = value.resource {
            key("resource")
            otlpResource(resource)
        }
        if !value.scopeSpans.isEmpty {
            key("scopeSpans")
            beginArray()
            for scopeSpans in value.scopeSpans {
                beginObject()
                if let scope = scopeSpans.scope {
                    key("scope")
                    otlpScope(scope)
                }
                if !scopeSpans.spans.isEmpty {
                    key("spans")
                    beginArray()
                    for span in scopeSpans.spans { otlpSpan(span) }
                    endArray()
                }
                otlpSchemaURL(scopeSpans.schemaURL)
                endObject()
            }
            endArray()
        }
        otlpSchemaURL(value.schemaURL)
        endObject()
    }

    mutating func otlpSpan(_ span: Span) {
        beginObject()
        key("traceId")
        hexID(span.traceID)
        key("spanId")
        hexID(span.spanID)
        if !span.traceState.isEmpty {
            key("traceState")
            string(span.traceState)
        }
        if let parent = span.parentSpanID {
            key("parentSpanId")
            hexID(parent)
        }
        if span.flags != 0 {
            key("flags")
            uint(UInt64(span.flags))
        }
        key("name")
        string(span.name)
        key("kind")
        int(Int64(span.kind.rawValue))
        key("startTimeUnixNano")
        quotedUInt(span.startTimeUnixNano)
        key("endTimeUnixNano")
        quotedUInt(span.endTimeUnixNano)
        otlpAttributes(span.attributes, dropped: span.droppedAttributesCount)
        if !span.events.isEmpty {
            key("events")
            beginArray()
            for event in span.events {
                beginObject()
                key("timeUnixNano")
                quotedUInt(event.timeUnixNano)
                key("name")
                string(event.name)
                otlpAttributes(event.attributes, dropped: event.droppedAttributesCount)
                endObject()
            }
            endArray()
        }
        otlpCount("droppedEventsCount", span.droppedEventsCount)
        if !span.links.isEmpty {
            key("links")
            beginArray()
            for link in span.links {
                beginObject()
                key("traceId")
                hexID(link.traceID)
                key("spanId")
                hexID(link.spanID)
                if !link.traceState.isEmpty {
                    key("traceState")
                    string(link.traceState)
                }
                otlpAttributes(link.attributes, dropped: link.droppedAttributesCount)
                if link.flags != 0 {
                    key("flags")
                    uint(UInt64(link.flags))
                }
                endObject()
            }
            endArray()
        }
        otlpCount("droppedLinksCount", span.droppedLinksCount)
        if span.status != SpanStatus() {
            key("status")
            beginObject()
            if !span.status.message.isEmpty {
                key("message")
                string(span.status.message)
            }
            if span.status.code != .unset {
                key("code")
                int(Int64(span.status.code.rawValue))
            }
            endObject()
        }
        endObject()
    }

    mutating func otlpResourceLogs(_ value: ResourceLogs) {
        beginObject()
        if let resource = value.resource {
            key("resource")
            otlpResource(resource)
        }
        if !value.scopeLogs.isEmpty {
            key("scopeLogs")
            beginArray()
            for scopeLogs in value.scopeLogs {
                beginObject()
                if let scope = scopeLogs.scope {
                    key("scope")
                    otlpScope(scope)
                }
                if !scopeLogs.logRecords.isEmpty {
                    key("logRecords")
                    beginArray()
                    for record in scopeLogs.logRecords { otlpLogRecord(record) }
                    endArray()
                }
                otlpSchemaURL(scopeLogs.schemaURL)
                endObject()
            }
            endArray()
        }
        otlpSchemaURL(value.schemaURL)
        endObject()
    }

    mutating func otlpLogRecord(_ record: LogRecord) {
        beginObject()
        if record.timeUnixNano != 0 {
            key("timeUnixNano")
            quotedUInt(record.timeUnixNano)
        }
        if record.observedTimeUnixNano != 0 {
            key("observedTimeUnixNano")
            quotedUInt(record.observedTimeUnixNano)
        }
        if record.severityNumber != .unspecified {
            key("severityNumber")
            int(Int64(record.severityNumber.rawValue))
        }
        if !record.severityText.isEmpty {
            key("severityText")
            string(record.severityText)
        }
        if let body = record.body {
            key("body")
            otlpAnyValue(body)
        }
        otlpAttributes(record.attributes, dropped: record.droppedAttributesCount)
        if record.flags != 0 {
            key("flags")
            uint(UInt64(record.flags))
        }
        if let traceID = record.traceID {
            key("traceId")
            hexID(traceID)
        }
        if let spanID = record.spanID {
            key("spanId")
            hexID(spanID)
        }
        if !record.eventName.isEmpty {
            key("eventName")
            string(record.eventName)
        }
        endObject()
    }

    mutating func otlpResource(_ resource: Resource) {
        beginObject()
        otlpAttributes(resource.attributes, dropped: resource.droppedAttributesCount)
        endObject()
    }

    mutating func otlpScope(_ scope: InstrumentationScope) {
        beginObject()
        if !scope.name.isEmpty {
            key("name")
            string(scope.name)
        }
        if !scope.version.isEmpty {
            key("version")
            string(scope.version)
        }
        otlpAttributes(scope.attributes, dropped: scope.droppedAttributesCount)
        endObject()
    }

    private mutating func otlpSchemaURL(_ url: String) {
        if !url.isEmpty {
            key("schemaUrl")
            string(url)
        }
    }

    private mutating func otlpCount(_ name: StaticString, _ count: UInt32) {
        if count != 0 {
            key(name)
            uint(UInt64(count))
        }
    }

    /// `attributes` and `droppedAttributesCount`, each only when not empty or zero.
    private mutating func otlpAttributes(_ attributes: [KeyValue], dropped: UInt32) {
        if !attributes.isEmpty {
            key("attributes")
            beginArray()
            for attribute in attributes { otlpKeyValue(attribute) }
            endArray()
        }
        otlpCount("droppedAttributesCount", dropped)
    }

    mutating func otlpKeyValue(_ pair: KeyValue) {
        beginObject()
        key("key")
        string(pair.key)
        key("value")
        otlpAnyValue(pair.value)
        endObject()
    }

    /// An `AnyValue` as its proto3 JSON object: one field named for the case set, `{}`
    /// when none is.
    mutating func otlpAnyValue(_ value: AnyValue) {
        beginObject()
        switch value {
        case .empty:
            break
        case .string(let s):
            key("stringValue")
            string(s)
        case .bool(let b):
            key("boolValue")
            bool(b)
        case .int(let i):
            key("intValue")
            quotedInt(i)
        case .double(let d):
            key("doubleValue")
            double(d)
        case .bytes(let b):
            key("bytesValue")
            base64(b)
        case .array(let values):
            key("arrayValue")
            beginObject()
            if !values.isEmpty {
                key("values")
                beginArray()
                for element in values { otlpAnyValue(element) }
                endArray()
            }
            endObject()
        case .keyValueList(let pairs):
            key("kvlistValue")
            beginObject()
            if !pairs.isEmpty {
                key("values")
                beginArray()
                for pair in pairs { otlpKeyValue(pair) }
                endArray()
            }
            endObject()
        }
        endObject()
    }
}
