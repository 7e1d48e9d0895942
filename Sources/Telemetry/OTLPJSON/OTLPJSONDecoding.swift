// Decoding of OTLP JSON: the proto3 JSON mapping of the OTLP messages, with the OTLP
// spec's exceptions (https://opentelemetry.io/docs/specs/otlp/#json-protobuf-encoding):
// trace and span IDs are hex strings, not base64; enums are integers.
//
// Leniency follows what receivers in the field must accept, as protobuf JSON parsers do
// (https://protobuf.dev/programming-guides/json/): original snake_case field names as
// well as lowerCamelCase; 64-bit integers as strings or numbers; enum names as well as
// numbers; `null` for any field meaning its default; unknown fields skipped. IDs may be
// hex in either case or base64, which protobuf's default JSON printer and swift-otel emit.
//
// As in the protobuf decoder, each message's loop records the field it is reading, and
// the catch turns that into the path prefix on the way out of an error.

/// How deep the JSON of an OTLP payload may nest: the generic limit, or enough for an
/// `AnyValue` at the deepest level `DecodingLimits.maxAnyValueDepth` allows, so that the
/// AnyValue limit, with its clearer error, is the one that bites, and anything the
/// protobuf decoder accepts is accepted as JSON too. A key-value list costs four JSON
/// levels per AnyValue level (`{"kvlistValue":{"values":[{"key":…,"value":`), under 10
/// levels of envelope (`{"resourceSpans":[{"scopeSpans":[{"spans":[{"attributes":[{`).
private let otlpMaxJSONDepth = max(DecodingLimits.maxJSONDepth, 4 * DecodingLimits.maxAnyValueDepth + 16)

extension ExportTraceServiceRequest {
    /// Decodes the OTLP JSON body of `POST /v1/traces`.
    public init(otlpJSON bytes: [UInt8]) throws(TelemetryDecodingError) {
        self = try bytes.withUnsafeBufferPointer { (buffer) throws(TelemetryDecodingError) in
            try ExportTraceServiceRequest(otlpJSON: UnsafeRawBufferPointer(buffer))
        }
    }

    /// Decodes the OTLP JSON body of `POST /v1/traces` from memory the caller keeps alive.
    public init(otlpJSON buffer: UnsafeRawBufferPointer) throws(TelemetryDecodingError) {
        var decoder = OTLPJSONDecoder(buffer)
        self = try decoder.document { (d) throws(TelemetryDecodingError) in try d.traceRequest() }
    }
}

extension ExportLogsServiceRequest {
    /// Decodes the OTLP JSON body of `POST /v1/logs`.
    public init(otlpJSON bytes: [UInt8]) throws(TelemetryDecodingError) {
        self = try bytes.withUnsafeBufferPointer { (buffer) throws(TelemetryDecodingError) in
            try ExportLogsServiceRequest(otlpJSON: UnsafeRawBufferPointer(buffer))
        }
    }

    /// Decodes the OTLP JSON body of `POST /v1/logs` from memory the caller keeps alive.
    public init(otlpJSON buffer: UnsafeRawBufferPointer) throws(TelemetryDecodingError) {
        var decoder = OTLPJSONDecoder(buffer)
        self = try decoder.document { (d) throws(TelemetryDecodingError) in try d.logsRequest() }
    }
}

extension ExportTraceServiceResponse {
    /// Decodes an OTLP JSON `ExportTraceServiceResponse`.
    public init(otlpJSON bytes: [UInt8]) throws(TelemetryDecodingError) {
        self = try bytes.withUnsafeBufferPointer { (buffer) throws(TelemetryDecodingError) in
            try ExportTraceServiceResponse(otlpJSON: UnsafeRawBufferPointer(buffer))
        }
    }

    /// Decodes an OTLP JSON `ExportTraceServiceResponse` from memory the caller keeps alive.
    public init(otlpJSON buffer: UnsafeRawBufferPointer) throws(TelemetryDecodingError) {
        var decoder = OTLPJSONDecoder(buffer)
        let partial = try decoder.document { (d) throws(TelemetryDecodingError) in
            try d.partialSuccessEnvelope(countField: "rejectedSpans", snakeCountField: "rejected_spans")
        }
        self.init(partialSuccess: partial.map { ExportTracePartialSuccess(rejectedSpans: $0.0, errorMessage: $0.1) })
    }
}

extension ExportLogsServiceResponse {
    /// Decodes an OTLP JSON `ExportLogsServiceResponse`.
    public init(otlpJSON bytes: [UInt8]) throws(TelemetryDecodingError) {
        self = try bytes.withUnsafeBufferPointer { (buffer) throws(TelemetryDecodingError) in
            try ExportLogsServiceResponse(otlpJSON: UnsafeRawBufferPointer(buffer))
        }
    }

    /// Decodes an OTLP JSON `ExportLogsServiceResponse` from memory the caller keeps alive.
    public init(otlpJSON buffer: UnsafeRawBufferPointer) throws(TelemetryDecodingError) {
        var decoder = OTLPJSONDecoder(buffer)
        let partial = try decoder.document { (d) throws(TelemetryDecodingError) in
            try d.partialSuccessEnvelope(countField: "rejectedLogRecords", snakeCountField: "rejected_log_records")
        }
        self.init(partialSuccess: partial.map { ExportLogsPartialSuccess(rejectedLogRecords: $0.0, errorMessage: $0.1) })
    }
}

extension RPCStatus {
    /// Decodes a `google.rpc.Status` in its JSON form. `details` entries are read in the
    /// simple form `{"@type": URL, "value": base64}` that `otlpJSONBytes()` writes.
    public init(otlpJSON bytes: [UInt8]) throws(TelemetryDecodingError) {
        self = try bytes.withUnsafeBufferPointer { (buffer) throws(TelemetryDecodingError) in
            try RPCStatus(otlpJSON: UnsafeRawBufferPointer(buffer))
        }
    }

    /// Decodes a `google.rpc.Status` in its JSON form from memory the caller keeps alive.
    public init(otlpJSON buffer: UnsafeRawBufferPointer) throws(TelemetryDecodingError) {
        var decoder = OTLPJSONDecoder(buffer)
        self = try decoder.document { (d) throws(TelemetryDecodingError) in try d.rpcStatus() }
    }
}

/// Walks an OTLP JSON document with a `JSONReader`, one method per message.
struct OTLPJSONDecoder {
    var reader: JSONReader
    /// Attribute keys, names and short values repeat across the spans of a request.
    let strings = StringTable()

    init(_ buffer: UnsafeRawBufferPointer) {
        reader = JSONReader(buffer, maxDepth: otlpMaxJSONDepth)
    }

    /// Reads a string value, sharing the storage of text seen before in this request.
    @inline(__always)
    mutating func string() throws(TelemetryDecodingError) -> String {
        let view = try reader.readStringView()
        // Only text without escapes is shared: the table keeps pointers into the input.
        if case .window(let bytes) = view.storage, let shared = strings.string(bytes) { return shared }
        return view.string
    }

    /// Decodes the whole input as one message and requires nothing after it.
    mutating func document<T>(_ body: (inout OTLPJSONDecoder) throws(TelemetryDecodingError) -> T) throws(TelemetryDecodingError) -> T {
        let value = try body(&self)
        try reader.expectEnd()
        return value
    }

    /// Reads an array of messages; a failing element adds its index to the path, while a
    /// fault between elements is the array's own.
    @inline(__always)
    mutating func list<T>(_ element: (inout OTLPJSONDecoder) throws(TelemetryDecodingError) -> T) throws(TelemetryDecodingError) -> [T] {
        var values: [T] = []
        try reader.beginArray()
        while try reader.nextElement() {
            do throws(TelemetryDecodingError) {
                values.append(try element(&self))
            } catch {
                throw error.within("" as String, index: values.count)
            }
        }
        return values
    }

    // MARK: - Traces

    mutating func traceRequest() throws(TelemetryDecodingError) -> ExportTraceServiceRequest {
        var request = ExportTraceServiceRequest()
        var field: StaticString = ""
        do throws(TelemetryDecodingError) {
            try reader.beginObject()
            while true {
                field = ""
                guard let key = try reader.nextKey() else { break }
                if try reader.readNull() { continue }
                switch key {
                case "resourceSpans", "resource_spans":
                    field = "resourceSpans"
                    request.resourceSpans = try list { (d) throws(TelemetryDecodingError) in try d.resourceSpans() }
                default:
                    try reader.skipValue()
                }
            }
        } catch {
            throw error.within(field)
        }
        return request
    }

    mutating func resourceSpans() throws(TelemetryDecodingError) -> ResourceSpans {
        var result = ResourceSpans()
        var field: StaticString = ""
        do throws(TelemetryDecodingError) {
            try reader.beginObject()
            while true {
                field = ""
                guard let key = try reader.nextKey() else { break }
                if try reader.readNull() { continue }
                switch key {
                case "resource":
                    field = "resource"
                    result.resource = try resource()
                case "scopeSpans", "scope_spans":
                    field = "scopeSpans"
                    result.scopeSpans = try list { (d) throws(TelemetryDecodingError) in try d.scopeSpans() }
                case "schemaUrl", "schema_url":
                    field = "schemaUrl"
                    result.schemaURL = try string()
                default:
                    try reader.skipValue()
                }
            }
        } catch {
            throw error.within(field)
        }
        return result
    }

    mutating func scopeSpans() throws(TelemetryDecodingError) -> ScopeSpans {
        var result = ScopeSpans()
        var field: StaticString = ""
        do throws(TelemetryDecodingError) {
            try reader.beginObject()
            while true {
                field = ""
                guard let key = try reader.nextKey() else { break }
                if try reader.readNull() { continue }
                switch key {
                case "scope":
                    field = "scope"
                    result.scope = try scope()
                case "spans":
                    field = "spans"
                    result.spans = try list { (d) throws(TelemetryDecodingError) in try d.span() }
                case "schemaUrl", "schema_url":
                    field = "schemaUrl"
                    result.schemaURL = try string()
                default:
                    try reader.skipValue()
                }
            }
        } catch {
            throw error.within(field)
        }
        return result
    }

    mutating func span() throws(TelemetryDecodingError) -> Span {
        var traceID: TraceID?
        var spanID: SpanID?
        var span = Span(traceID: .zero, spanID: .zero, name: "", kind: .unspecified, startTimeUnixNano: 0, endTimeUnixNano: 0)
        var field: StaticString = ""
        do throws(TelemetryDecodingError) {
            try reader.beginObject()
            while true {
                field = ""
                guard let key = try reader.nextKey() else { break }
                if try reader.readNull() { continue }
                switch key {
                case "traceId", "trace_id":
                    field = "traceId"
                    traceID = try traceIDValue()
                case "spanId", "span_id":
                    field = "spanId"
                    spanID = try spanIDValue()
                case "traceState", "trace_state":
                    field = "traceState"
                    span.traceState = try string()
                case "parentSpanId", "parent_span_id":
                    field = "parentSpanId"
                    // Empty means a root span; all zeros too, which some SDKs send for it.
                    span.parentSpanID = try spanIDValue().flatMap { $0.isValid ? $0 : nil }
                case "flags":
                    field = "flags"
                    span.flags = try reader.readUInt32()
                case "name":
                    field = "name"
                    span.name = try string()
                case "kind":
                    field = "kind"
                    span.kind = SpanKind(rawValue: try enumValue(Self.spanKind, typeName: "SpanKind"))
                case "startTimeUnixNano", "start_time_unix_nano":
                    field = "startTimeUnixNano"
                    span.startTimeUnixNano = try reader.readUInt64()
                case "endTimeUnixNano", "end_time_unix_nano":
                    field = "endTimeUnixNano"
                    span.endTimeUnixNano = try reader.readUInt64()
                case "attributes":
                    field = "attributes"
                    span.attributes = try attributes()
                case "droppedAttributesCount", "dropped_attributes_count":
                    field = "droppedAttributesCount"
                    span.droppedAttributesCount = try reader.readUInt32()
                case "events":
                    field = "events"
                    span.events = try list { (d) throws(TelemetryDecodingError) in try d.event() }
                case "droppedEventsCount", "dropped_events_count":
                    field = "droppedEventsCount"
                    span.droppedEventsCount = try reader.readUInt32()
                case "links":
                    field = "links"
                    span.links = try list { (d) throws(TelemetryDecodingError) in try d.link() }
                case "droppedLinksCount", "dropped_links_count":
                    field = "droppedLinksCount"
                    span.droppedLinksCount = try reader.readUInt32()
                case "status":
                    field = "status"
                    span.status = try status()
                default:
                    try reader.skipValue()
                }
            }
        } catch {
            throw error.within(field)
        }
        span.traceID = try Self.required(traceID)
        span.spanID = try Self.required(spanID)
        return span
    }

    /// OTLP: a span's and a link's trace ID is required, and all zeros is invalid.
    private static func required(_ id: TraceID?) throws(TelemetryDecodingError) -> TraceID {
        guard let id else { throw TelemetryDecodingError(path: "traceId", reason: "required, missing") }
        guard id.isValid else { throw TelemetryDecodingError(path: "traceId", reason: "all-zero trace ID is invalid") }
        return id
    }

    /// OTLP: a span's and a link's span ID is required, and all zeros is invalid.
    private static func required(_ id: SpanID?) throws(TelemetryDecodingError) -> SpanID {
        guard let id else { throw TelemetryDecodingError(path: "spanId", reason: "required, missing") }
        guard id.isValid else { throw TelemetryDecodingError(path: "spanId", reason: "all-zero span ID is invalid") }
        return id
    }

    mutating func event() throws(TelemetryDecodingError) -> SpanEvent {
        var event = SpanEvent()
        var field: StaticString = ""
        do throws(TelemetryDecodingError) {
            try reader.beginObject()
            while true {
                field = ""
                guard let key = try reader.nextKey() else { break }
                if try reader.readNull() { continue }
                switch key {
                case "timeUnixNano", "time_unix_nano":
                    field = "timeUnixNano"
                    event.timeUnixNano = try reader.readUInt64()
                case "name":
                    field = "name"
                    event.name = try string()
                case "attributes":
                    field = "attributes"
                    event.attributes = try attributes()
                case "droppedAttributesCount", "dropped_attributes_count":
                    field = "droppedAttributesCount"
                    event.droppedAttributesCount = try reader.readUInt32()
                default:
                    try reader.skipValue()
                }
            }
        } catch {
            throw error.within(field)
        }
        return event
    }

    mutating func link() throws(TelemetryDecodingError) -> SpanLink {
        var traceID: TraceID?
        var spanID: SpanID?
        var link = SpanLink(traceID: .zero, spanID: .zero)
        var field: StaticString = ""
        do throws(TelemetryDecodingError) {
            try reader.beginObject()
            while true {
                field = ""
                guard let key = try reader.nextKey() else { break }
                if try reader.readNull() { continue }
                switch key {
                case "traceId", "trace_id":
                    field = "traceId"
                    traceID = try traceIDValue()
                case "spanId", "span_id":
                    field = "spanId"
                    spanID = try spanIDValue()
                case "traceState", "trace_state":
                    field = "traceState"
                    link.traceState = try string()
                case "attributes":
                    field = "attributes"
                    link.attributes = try attributes()
                case "droppedAttributesCount", "dropped_attributes_count":
                    field = "droppedAttributesCount"
                    link.droppedAttributesCount = try reader.readUInt32()
                case "flags":
                    field = "flags"
                    link.flags = try reader.readUInt32()
                default:
                    try reader.skipValue()
                }
            }
        } catch {
            throw error.within(field)
        }
        link.traceID = try Self.required(traceID)
        link.spanID = try Self.required(spanID)
        return link
    }

    mutating func status() throws(TelemetryDecodingError) -> SpanStatus {
        var status = SpanStatus()
        var field: StaticString = ""
        do throws(TelemetryDecodingError) {
            try reader.beginObject()
            while true {
                field = ""
                guard let key = try reader.nextKey() else { break }
                if try reader.readNull() { continue }
                switch key {
                case "message":
                    field = "message"
                    status.message = try string()
                case "code":
                    field = "code"
                    status.code = StatusCode(rawValue: try enumValue(Self.statusCode, typeName: "StatusCode"))
                default:
                    try reader.skipValue()
                }
            }
        } catch {
            throw error.within(field)
        }
        return status
    }

    // MARK: - Logs

    mutating func logsRequest() throws(TelemetryDecodingError) -> ExportLogsServiceRequest {
        var request = ExportLogsServiceRequest()
        var field: StaticString = ""
        do throws(TelemetryDecodingError) {
            try reader.beginObject()
            while true {
                field = ""
                guard let key = try reader.nextKey() else { break }
                if try reader.readNull() { continue }
                switch key {
                case "resourceLogs", "resource_logs":
                    field = "resourceLogs"
                    request.resourceLogs = try list { (d) throws(TelemetryDecodingError) in try d.resourceLogs() }
                default:
                    try reader.skipValue()
                }
            }
        } catch {
            throw error.within(field)
        }
        return request
    }

    mutating func resourceLogs() throws(TelemetryDecodingError) -> ResourceLogs {
        var result = ResourceLogs()
        var field: StaticString = ""
        do throws(TelemetryDecodingError) {
            try reader.beginObject()
            while true {
                field = ""
                guard let key = try reader.nextKey() else { break }
                if try reader.readNull() { continue }
                switch key {
                case "resource":
                    field = "resource"
                    result.resource = try resource()
                case "scopeLogs", "scope_logs":
                    field = "scopeLogs"
                    result.scopeLogs = try list { (d) throws(TelemetryDecodingError) in try d.scopeLogs() }
                case "schemaUrl", "schema_url":
                    field = "schemaUrl"
                    result.schemaURL = try string()
                default:
                    try reader.skipValue()
                }
            }
        } catch {
            throw error.within(field)
        }
        return result
    }

    mutating func scopeLogs() throws(TelemetryDecodingError) -> ScopeLogs {
        var result = ScopeLogs()
        var field: StaticString = ""
        do throws(TelemetryDecodingError) {
            try reader.beginObject()
            while true {
                field = ""
                guard let key = try reader.nextKey() else { break }
                if try reader.readNull() { continue }
                switch key {
                case "scope":
                    field = "scope"
                    result.scope = try scope()
                case "logRecords", "log_records":
                    field = "logRecords"
                    result.logRecords = try list { (d) throws(TelemetryDecodingError) in try d.logRecord() }
                case "schemaUrl", "schema_url":
                    field = "schemaUrl"
                    result.schemaURL = try string()
                default:
                    try reader.skipValue()
                }
            }
        } catch {
            throw error.within(field)
        }
        return result
    }

    mutating func logRecord() throws(TelemetryDecodingError) -> LogRecord {
        var record = LogRecord()
        var field: StaticString = ""
        do throws(TelemetryDecodingError) {
            try reader.beginObject()
            while true {
                field = ""
                guard let key = try reader.nextKey() else { break }
                if try reader.readNull() { continue }
                switch key {
                case "timeUnixNano", "time_unix_nano":
                    field = "timeUnixNano"
                    record.timeUnixNano = try reader.readUInt64()
                case "observedTimeUnixNano", "observed_time_unix_nano":
                    field = "observedTimeUnixNano"
                    record.observedTimeUnixNano = try reader.readUInt64()
                case "severityNumber", "severity_number":
                    field = "severityNumber"
                    record.severityNumber = SeverityNumber(
                        rawValue: try enumValue(Self.severityNumber, typeName: "SeverityNumber"))
                case "severityText", "severity_text":
                    field = "severityText"
                    record.severityText = try string()
                case "body":
                    field = "body"
                    record.body = try anyValue(depth: 0)
                case "attributes":
                    field = "attributes"
                    record.attributes = try attributes()
                case "droppedAttributesCount", "dropped_attributes_count":
                    field = "droppedAttributesCount"
                    record.droppedAttributesCount = try reader.readUInt32()
                case "flags":
                    field = "flags"
                    record.flags = try reader.readUInt32()
                case "traceId", "trace_id":
                    field = "traceId"
                    // A log outside any trace has no IDs; all zeros says the same.
                    record.traceID = try traceIDValue().flatMap { $0.isValid ? $0 : nil }
                case "spanId", "span_id":
                    field = "spanId"
                    record.spanID = try spanIDValue().flatMap { $0.isValid ? $0 : nil }
                case "eventName", "event_name":
                    field = "eventName"
                    record.eventName = try string()
                default:
                    try reader.skipValue()
                }
            }
        } catch {
            throw error.within(field)
        }
        return record
    }

    // MARK: - Common messages

    mutating func resource() throws(TelemetryDecodingError) -> Resource {
        var resource = Resource()
        var field: StaticString = ""
        do throws(TelemetryDecodingError) {
            try reader.beginObject()
            while true {
                field = ""
                guard let key = try reader.nextKey() else { break }
                if try reader.readNull() { continue }
                switch key {
                case "attributes":
                    field = "attributes"
                    resource.attributes = try attributes()
                case "droppedAttributesCount", "dropped_attributes_count":
                    field = "droppedAttributesCount"
                    resource.droppedAttributesCount = try reader.readUInt32()
                default:
                    try reader.skipValue()
                }
            }
        } catch {
            throw error.within(field)
        }
        return resource
    }

    mutating func scope() throws(TelemetryDecodingError) -> InstrumentationScope {
        var scope = InstrumentationScope()
        var field: StaticString = ""
        do throws(TelemetryDecodingError) {
            try reader.beginObject()
            while true {
                field = ""
                guard let key = try reader.nextKey() else { break }
                if try reader.readNull() { continue }
                switch key {
                case "name":
                    field = "name"
                    scope.name = try string()
                case "version":
                    field = "version"
                    scope.version = try string()
                case "attributes":
                    field = "attributes"
                    scope.attributes = try attributes()
                case "droppedAttributesCount", "dropped_attributes_count":
                    field = "droppedAttributesCount"
                    scope.droppedAttributesCount = try reader.readUInt32()
                default:
                    try reader.skipValue()
                }
            }
        } catch {
            throw error.within(field)
        }
        return scope
    }

    @inline(__always)
    mutating func attributes() throws(TelemetryDecodingError) -> [KeyValue] {
        try list { (d) throws(TelemetryDecodingError) in try d.keyValue(depth: 0) }
    }

    mutating func keyValue(depth: Int) throws(TelemetryDecodingError) -> KeyValue {
        var pair = KeyValue(key: "", value: .empty)
        var field: StaticString = ""
        do throws(TelemetryDecodingError) {
            try reader.beginObject()
            while true {
                field = ""
                guard let key = try reader.nextKey() else { break }
                if try reader.readNull() { continue }
                switch key {
                case "key":
                    field = "key"
                    pair.key = try string()
                case "value":
                    field = "value"
                    pair.value = try anyValue(depth: depth)
                default:
                    try reader.skipValue()
                }
            }
        } catch {
            throw error.within(field)
        }
        return pair
    }

    /// An `AnyValue` is a oneof: when a sender sets several fields, the last one wins.
    mutating func anyValue(depth: Int) throws(TelemetryDecodingError) -> AnyValue {
        var value = AnyValue.empty
        var field: StaticString = ""
        do throws(TelemetryDecodingError) {
            try reader.beginObject()
            while true {
                field = ""
                guard let key = try reader.nextKey() else { break }
                if try reader.readNull() { continue }
                switch key {
                case "stringValue", "string_value":
                    field = "stringValue"
                    value = .string(try string())
                case "boolValue", "bool_value":
                    field = "boolValue"
                    value = .bool(try reader.readBool())
                case "intValue", "int_value":
                    field = "intValue"
                    value = .int(try reader.readInt64())
                case "doubleValue", "double_value":
                    field = "doubleValue"
                    value = .double(try reader.readDouble())
                case "bytesValue", "bytes_value":
                    field = "bytesValue"
                    value = .bytes(try base64Value())
                case "arrayValue", "array_value":
                    field = "arrayValue"
                    try Self.checkNesting(depth)
                    value = .array(try valueList { (d) throws(TelemetryDecodingError) in try d.anyValue(depth: depth + 1) })
                case "kvlistValue", "kvlist_value":
                    field = "kvlistValue"
                    try Self.checkNesting(depth)
                    value = .keyValueList(try valueList { (d) throws(TelemetryDecodingError) in try d.keyValue(depth: depth + 1) })
                default:
                    try reader.skipValue()
                }
            }
        } catch {
            throw error.within(field)
        }
        return value
    }

    private static func checkNesting(_ depth: Int) throws(TelemetryDecodingError) {
        guard depth < DecodingLimits.maxAnyValueDepth else {
            throw TelemetryDecodingError(reason: "AnyValue nested more than \(DecodingLimits.maxAnyValueDepth) deep")
        }
    }

    /// `ArrayValue` and `KeyValueList`: objects whose one field, `values`, is the list.
    private mutating func valueList<T>(
        _ element: (inout OTLPJSONDecoder) throws(TelemetryDecodingError) -> T
    ) throws(TelemetryDecodingError) -> [T] {
        var values: [T] = []
        var field: StaticString = ""
        do throws(TelemetryDecodingError) {
            try reader.beginObject()
            while true {
                field = ""
                guard let key = try reader.nextKey() else { break }
                if try reader.readNull() { continue }
                if key == "values" {
                    field = "values"
                    values = try list(element)
                } else {
                    try reader.skipValue()
                }
            }
        } catch {
            throw error.within(field)
        }
        return values
    }

    // MARK: - Responses and google.rpc.Status

    /// `{"partialSuccess": {...}}`: nil when `partialSuccess` is absent or null.
    mutating func partialSuccessEnvelope(
        countField: StaticString, snakeCountField: StaticString
    ) throws(TelemetryDecodingError) -> (Int64, String)? {
        var result: (Int64, String)?
        var field: StaticString = ""
        do throws(TelemetryDecodingError) {
            try reader.beginObject()
            while true {
                field = ""
                guard let key = try reader.nextKey() else { break }
                if try reader.readNull() { continue }
                if key == "partialSuccess" || key == "partial_success" {
                    field = "partialSuccess"
                    result = try partialSuccess(countField: countField, snakeCountField: snakeCountField)
                } else {
                    try reader.skipValue()
                }
            }
        } catch {
            throw error.within(field)
        }
        return result
    }

    private mutating func partialSuccess(
        countField: StaticString, snakeCountField: StaticString
    ) throws(TelemetryDecodingError) -> (Int64, String) {
        var rejected: Int64 = 0
        var message = ""
        var field: StaticString = ""
        do throws(TelemetryDecodingError) {
            try reader.beginObject()
            while true {
                field = ""
                guard let key = try reader.nextKey() else { break }
                if try reader.readNull() { continue }
                if key == countField || key == snakeCountField {
                    field = countField
                    rejected = try reader.readInt64()
                } else if key == "errorMessage" || key == "error_message" {
                    field = "errorMessage"
                    message = try string()
                } else {
                    try reader.skipValue()
                }
            }
        } catch {
            throw error.within(field)
        }
        return (rejected, message)
    }

    mutating func rpcStatus() throws(TelemetryDecodingError) -> RPCStatus {
        var status = RPCStatus(code: 0, message: "")
        var field: StaticString = ""
        do throws(TelemetryDecodingError) {
            try reader.beginObject()
            while true {
                field = ""
                guard let key = try reader.nextKey() else { break }
                if try reader.readNull() { continue }
                switch key {
                case "code":
                    field = "code"
                    status.code = try reader.readInt32()
                case "message":
                    field = "message"
                    status.message = try string()
                case "details":
                    field = "details"
                    status.details = try list { (d) throws(TelemetryDecodingError) in try d.protobufAny() }
                default:
                    try reader.skipValue()
                }
            }
        } catch {
            throw error.within(field)
        }
        return status
    }

    mutating func protobufAny() throws(TelemetryDecodingError) -> ProtobufAny {
        var any = ProtobufAny(typeURL: "", value: [])
        var field: StaticString = ""
        do throws(TelemetryDecodingError) {
            try reader.beginObject()
            while true {
                field = ""
                guard let key = try reader.nextKey() else { break }
                if try reader.readNull() { continue }
                switch key {
                case "@type":
                    field = "@type"
                    any.typeURL = try string()
                case "value":
                    field = "value"
                    any.value = try base64Value()
                default:
                    try reader.skipValue()
                }
            }
        } catch {
            throw error.within(field)
        }
        return any
    }

    // MARK: - Scalars

    mutating func base64Value() throws(TelemetryDecodingError) -> [UInt8] {
        try reader.readStringView().withUTF8 { (bytes) throws(TelemetryDecodingError) in try Base64.decode(bytes) }
    }

    /// A trace ID: 32 hex digits in either case (the OTLP spec), or base64 of 16 bytes
    /// (protobuf's default JSON mapping, 24 characters padded or 22 not). Told apart by
    /// length: no base64 of 16 bytes is 32 characters long. nil for an empty string,
    /// the proto3 default.
    mutating func traceIDValue() throws(TelemetryDecodingError) -> TraceID? {
        try reader.readStringView().withUTF8 { (text) throws(TelemetryDecodingError) -> TraceID? in
            switch text.count {
            case 0:
                return nil
            case 32:
                guard let high = HexCoding.uint64(UnsafeRawBufferPointer(rebasing: text[0..<16])),
                    let low = HexCoding.uint64(UnsafeRawBufferPointer(rebasing: text[16..<32]))
                else { throw Self.idError(hexDigits: 32, byteCount: 16, got: "32 characters that are not all hex digits") }
                return TraceID(high: high, low: low)
            case 22, 24:
                let bytes = try Self.idBytes(text, hexDigits: 32, byteCount: 16)
                return TraceID(
                    high: bytes.withUnsafeBytes { UInt64(bigEndian: $0.loadUnaligned(as: UInt64.self)) },
                    low: bytes.withUnsafeBytes { UInt64(bigEndian: $0.loadUnaligned(fromByteOffset: 8, as: UInt64.self)) })
            default:
                throw Self.idError(hexDigits: 32, byteCount: 16, got: "\(text.count) characters")
            }
        }
    }

    /// A span ID: 16 hex digits in either case, or base64 of 8 bytes (12 characters
    /// padded, 11 not). nil for an empty string.
    mutating func spanIDValue() throws(TelemetryDecodingError) -> SpanID? {
        try reader.readStringView().withUTF8 { (text) throws(TelemetryDecodingError) -> SpanID? in
            switch text.count {
            case 0:
                return nil
            case 16:
                guard let value = HexCoding.uint64(text) else {
                    throw Self.idError(hexDigits: 16, byteCount: 8, got: "16 characters that are not all hex digits")
                }
                return SpanID(value)
            case 11, 12:
                let bytes = try Self.idBytes(text, hexDigits: 16, byteCount: 8)
                return SpanID(bytes.withUnsafeBytes { UInt64(bigEndian: $0.loadUnaligned(as: UInt64.self)) })
            default:
                throw Self.idError(hexDigits: 16, byteCount: 8, got: "\(text.count) characters")
            }
        }
    }

    private static func idError(hexDigits: Int, byteCount: Int, got: String) -> TelemetryDecodingError {
        TelemetryDecodingError(reason: "expected \(hexDigits) hex digits or base64 of \(byteCount) bytes, got \(got)")
    }

    /// The bytes of a base64 ID, exactly `byteCount` of them.
    private static func idBytes(
        _ text: UnsafeRawBufferPointer, hexDigits: Int, byteCount: Int
    ) throws(TelemetryDecodingError) -> [UInt8] {
        let bytes: [UInt8]
        do throws(TelemetryDecodingError) {
            bytes = try Base64.decode(text)
        } catch {
            throw idError(hexDigits: hexDigits, byteCount: byteCount, got: error.reason)
        }
        guard bytes.count == byteCount else {
            throw idError(hexDigits: hexDigits, byteCount: byteCount, got: "base64 of \(bytes.count) bytes")
        }
        return bytes
    }

    /// An enum: its number, or its proto name, as the proto3 JSON mapping allows.
    private mutating func enumValue(
        _ names: (JSONStringView) -> Int32?, typeName: String
    ) throws(TelemetryDecodingError) -> Int32 {
        guard try reader.peek() == .string else { return try reader.readInt32() }
        let name = try reader.readStringView()
        guard let value = names(name) else {
            throw TelemetryDecodingError(reason: "unknown \(typeName) name \"\(name.string)\"")
        }
        return value
    }

    private static func spanKind(_ name: JSONStringView) -> Int32? {
        switch name {
        case "SPAN_KIND_UNSPECIFIED": 0
        case "SPAN_KIND_INTERNAL": 1
        case "SPAN_KIND_SERVER": 2
        case "SPAN_KIND_CLIENT": 3
        case "SPAN_KIND_PRODUCER": 4
        case "SPAN_KIND_CONSUMER": 5
        default: nil
        }
    }

    private static func statusCode(_ name: JSONStringView) -> Int32? {
        switch name {
        case "STATUS_CODE_UNSET": 0
        case "STATUS_CODE_OK": 1
        case "STATUS_CODE_ERROR": 2
        default: nil
        }
    }

    private static func severityNumber(_ name: JSONStringView) -> Int32? {
        SeverityNumber(protoName: name.string)?.rawValue
    }
}
