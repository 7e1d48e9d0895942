extension ZipkinV2JSON {
    /// Reads a JSON array of Zipkin v2 spans, as a Zipkin receiver does, into one OTLP
    /// request.
    ///
    /// Spans are grouped into one `ResourceSpans` per `localEndpoint.serviceName` (the
    /// resource's `service.name`) and resource tags, and within it into one `ScopeSpans`
    /// per `otel.scope.name`/`otel.scope.version`, in order of first appearance. The
    /// mapping `encode` applies is reversed, so encode → decode gives the request back
    /// up to what Zipkin cannot carry (see the type's documentation):
    /// - `otel.status_code`, `error`, `otel.status_description` → the status. Without
    ///   `otel.status_code`, an `error` tag means ERROR (Zipkin: "any span with `error`
    ///   sent as failed"), its value the message unless it is `true` or empty.
    /// - `otel.scope.*` (or the older `otel.library.*`) → the scope; `w3c.tracestate` →
    ///   the trace state; `otel.link.<i>.*` → links; `otel.dropped_*_count` → the counts.
    /// - Tags named like resource attributes of the semantic conventions (`service.*`,
    ///   `host.*`, `process.*`, `telemetry.sdk.*`, `k8s.*`, … — `ZipkinResourceKeys`) →
    ///   the resource, as the OpenTelemetry Collector's Zipkin receiver does.
    /// - Annotations → events; a value `"name":{…}` splits into the name and attributes.
    /// - Other tags → string attributes, then the endpoints: `remoteEndpoint` →
    ///   `peer.service`, `network.peer.address`, `network.peer.port` and `localEndpoint`
    ///   → `network.local.address`, `network.local.port`, each only when no tag already
    ///   says it (OpenTelemetry: "set `peer.service` tag from `remoteEndpoint` unless
    ///   there is a `peer.service` tag defined explicitly").
    ///
    /// IDs are read in either case; a 16-digit `traceId` (64 bits) is left-padded with
    /// zeros to 128 bits. An all-zero `parentId` means no parent, as in Zipkin.
    /// Unknown fields are ignored, and so is `null` in place of an optional field.
    ///
    /// - Throws: `TelemetryDecodingError` naming the span and field at fault, e.g.
    ///   `[3].traceId: expected 16 or 32 hex digits, got 31`.
    public static func decode(_ bytes: [UInt8]) throws(TelemetryDecodingError) -> ExportTraceServiceRequest {
        try JSONReader.read(bytes) { (reader) throws(TelemetryDecodingError) -> ExportTraceServiceRequest in
            try decode(&reader)
        }
    }

    /// Reads a JSON array of Zipkin v2 spans from memory the caller owns, such as a
    /// request body, without copying it first. See `decode(_: [UInt8])`.
    public static func decode(
        _ bytes: UnsafeRawBufferPointer
    ) throws(TelemetryDecodingError) -> ExportTraceServiceRequest {
        var reader = JSONReader(bytes)
        return try decode(&reader)
    }

    private static func decode(
        _ reader: inout JSONReader
    ) throws(TelemetryDecodingError) -> ExportTraceServiceRequest {
        var builder = ZipkinRequestBuilder()
        try reader.beginArray()
        var index = 0
        while try reader.nextElement() {
            do throws(TelemetryDecodingError) {
                let raw = try ZipkinRawSpan.read(&reader)
                try builder.add(raw)
            } catch {
                throw error.within("", index: index)
            }
            index += 1
        }
        try reader.expectEnd()
        return builder.request
    }
}

/// One span as it stands in Zipkin JSON, before the mapping to OTLP.
struct ZipkinRawSpan {
    var traceID = TraceID.zero
    var spanID = SpanID.zero
    var parentSpanID: SpanID?
    var name = ""
    var kind = SpanKind.unspecified
    var timestamp: UInt64?
    var duration: UInt64?
    var localEndpoint = ZipkinEndpoint()
    var remoteEndpoint = ZipkinEndpoint()
    var annotations: [(timestamp: UInt64, value: String)] = []
    var tags: [(key: String, value: String)] = []

    static func read(_ reader: inout JSONReader) throws(TelemetryDecodingError) -> ZipkinRawSpan {
        var span = ZipkinRawSpan()
        var sawTraceID = false
        var sawSpanID = false
        try reader.beginObject()
        while let key = try reader.nextKey() {
            do throws(TelemetryDecodingError) {
                // `null` stands for "absent" in what many tracers send, for every field.
                if try reader.readNull() { continue }
                switch key {
                case "traceId":
                    span.traceID = try readTraceID(&reader)
                    sawTraceID = true
                case "id":
                    guard let id = try readSpanID(&reader, zeroMeansAbsent: false) else { continue }
                    span.spanID = id
                    sawSpanID = true
                case "parentId":
                    span.parentSpanID = try readSpanID(&reader, zeroMeansAbsent: true)
                case "name":
                    span.name = try reader.readString()
                case "kind":
                    span.kind = try readKind(&reader)
                case "timestamp":
                    span.timestamp = try reader.readUInt64()
                case "duration":
                    span.duration = try reader.readUInt64()
                case "localEndpoint":
                    span.localEndpoint = try readEndpoint(&reader)
                case "remoteEndpoint":
                    span.remoteEndpoint = try readEndpoint(&reader)
                case "annotations":
                    span.annotations = try readAnnotations(&reader)
                case "tags":
                    span.tags = try readTags(&reader)
                default:
                    // `debug`, `shared` and anything newer have no OTLP counterpart.
                    try reader.skipValue()
                }
            } catch {
                throw error.within(key.string)
            }
        }
        if !sawTraceID { throw TelemetryDecodingError(path: "traceId", reason: "missing required field") }
        if !sawSpanID { throw TelemetryDecodingError(path: "id", reason: "missing required field") }
        return span
    }

    /// 32 hex digits, or 16 for a 64-bit trace ID, which Zipkin allows and OTLP widens.
    static func readTraceID(_ reader: inout JSONReader) throws(TelemetryDecodingError) -> TraceID {
        let view = try reader.readStringView()
        let parsed: Result<TraceID, TelemetryDecodingError> = view.withUTF8 { digits in
            do throws(TelemetryDecodingError) {
                switch digits.count {
                case 16:
                    return .success(TraceID(high: 0, low: try hexWord(digits[...])))
                case 32:
                    return .success(TraceID(high: try hexWord(digits[0..<16]), low: try hexWord(digits[16..<32])))
                default:
                    throw TelemetryDecodingError(reason: "expected 16 or 32 hex digits, got \(digits.count)")
                }
            } catch {
                return .failure(error)
            }
        }
        let id = try parsed.get()
        guard id.isValid else { throw TelemetryDecodingError(reason: "an all-zero trace ID is invalid") }
        return id
    }

    /// 16 hex digits. `zeroMeansAbsent` for `parentId`, where Zipkin reads zero (and an
    /// empty string) as "no parent"; a span's own ID must not be zero.
    static func readSpanID(
        _ reader: inout JSONReader, zeroMeansAbsent: Bool
    ) throws(TelemetryDecodingError) -> SpanID? {
        let view = try reader.readStringView()
        if zeroMeansAbsent && view.count == 0 { return nil }
        let parsed: Result<UInt64, TelemetryDecodingError> = view.withUTF8 { digits in
            guard digits.count == 16 else {
                return .failure(TelemetryDecodingError(reason: "expected 16 hex digits, got \(digits.count)"))
            }
            do throws(TelemetryDecodingError) {
                return .success(try hexWord(digits[...]))
            } catch {
                return .failure(error)
            }
        }
        let value = try parsed.get()
        if value == 0 {
            if zeroMeansAbsent { return nil }
            throw TelemetryDecodingError(reason: "an all-zero span ID is invalid")
        }
        return SpanID(value)
    }

    private static func hexWord(_ digits: Slice<UnsafeRawBufferPointer>) throws(TelemetryDecodingError) -> UInt64 {
        var value: UInt64 = 0
        for c in digits {
            guard let nibble = HexCoding.nibble(c) else {
                throw TelemetryDecodingError(reason: "expected hex digits, got \(JSONReader.describe(byte: c))")
            }
            value = value << 4 | UInt64(nibble)
        }
        return value
    }

    static func readKind(_ reader: inout JSONReader) throws(TelemetryDecodingError) -> SpanKind {
        let text = try reader.readString()
        switch text.uppercased() {
        case "CLIENT": return .client
        case "SERVER": return .server
        case "PRODUCER": return .producer
        case "CONSUMER": return .consumer
        default:
            throw TelemetryDecodingError(
                reason: "expected CLIENT, SERVER, PRODUCER or CONSUMER, got \"\(text.prefix(64))\"")
        }
    }

    static func readEndpoint(_ reader: inout JSONReader) throws(TelemetryDecodingError) -> ZipkinEndpoint {
        var endpoint = ZipkinEndpoint()
        var ipv6: String?
        try reader.beginObject()
        while let key = try reader.nextKey() {
            do throws(TelemetryDecodingError) {
                if try reader.readNull() { continue }
                switch key {
                case "serviceName":
                    let name = try reader.readString()
                    endpoint.serviceName = name.isEmpty ? nil : name
                case "ipv4":
                    let address = try reader.readString()
                    if !address.isEmpty { endpoint.address = address }
                case "ipv6":
                    let address = try reader.readString()
                    if !address.isEmpty { ipv6 = address }
                case "port":
                    let port = try reader.readInt64()
                    guard (0...65535).contains(port) else {
                        throw TelemetryDecodingError(reason: "expected a port in 0...65535, got \(port)")
                    }
                    // The schema: "Absent if unknown. Please don't set to zero."
                    endpoint.port = port == 0 ? nil : Int(port)
                default:
                    try reader.skipValue()
                }
            } catch {
                throw error.within(key.string)
            }
        }
        if endpoint.address == nil { endpoint.address = ipv6 }
        return endpoint
    }

    static func readAnnotations(
        _ reader: inout JSONReader
    ) throws(TelemetryDecodingError) -> [(timestamp: UInt64, value: String)] {
        var annotations: [(timestamp: UInt64, value: String)] = []
        try reader.beginArray()
        var index = 0
        while try reader.nextElement() {
            do throws(TelemetryDecodingError) {
                var timestamp: UInt64?
                var value: String?
                try reader.beginObject()
                while let key = try reader.nextKey() {
                    do throws(TelemetryDecodingError) {
                        if try reader.readNull() { continue }
                        switch key {
                        case "timestamp": timestamp = try reader.readUInt64()
                        case "value": value = try reader.readString()
                        default: try reader.skipValue()
                        }
                    } catch {
                        throw error.within(key.string)
                    }
                }
                guard let timestamp else {
                    throw TelemetryDecodingError(path: "timestamp", reason: "missing required field")
                }
                guard let value else { throw TelemetryDecodingError(path: "value", reason: "missing required field") }
                annotations.append((timestamp, value))
            } catch {
                throw error.within("", index: index)
            }
            index += 1
        }
        return annotations
    }

    /// Tags are strings in the schema. Numbers and booleans, which some tracers send, are
    /// kept as their JSON text; `null` is dropped; objects and arrays are refused.
    static func readTags(_ reader: inout JSONReader) throws(TelemetryDecodingError) -> [(key: String, value: String)] {
        var tags: [(key: String, value: String)] = []
        try reader.beginObject()
        while let key = try reader.nextKey() {
            do throws(TelemetryDecodingError) {
                switch try reader.peek() {
                case .string:
                    tags.append((key.string, try reader.readString()))
                case .bool:
                    tags.append((key.string, try reader.readBool() ? "true" : "false"))
                case .number:
                    let start = reader.offset
                    try reader.skipValue()
                    let text = String(
                        decoding: UnsafeRawBufferPointer(rebasing: reader.input[start..<reader.offset]), as: UTF8.self)
                    tags.append((key.string, text))
                case .null:
                    _ = try reader.readNull()
                case .object, .array:
                    throw reader.unexpectedValue(expected: "a string")
                }
            } catch {
                throw error.within(key.string)
            }
        }
        return tags
    }
}

/// Resource attribute names of the OpenTelemetry semantic conventions, by prefix
/// (https://opentelemetry.io/docs/specs/semconv/resource/). A Zipkin tag with one of
/// these names goes to the resource on decode, the way the encoder put it there.
enum ZipkinResourceKeys {
    static let prefixes = [
        "service.", "telemetry.sdk.", "telemetry.distro.", "host.", "os.", "process.", "container.", "k8s.",
        "cloud.", "deployment.", "device.", "browser.", "webengine.", "aws.ecs.", "aws.eks.", "aws.log.",
        "gcp.cloud_run.", "gcp.gce.", "heroku.", "faas.name", "faas.version", "faas.instance", "faas.max_memory",
    ]

    static func isResourceKey(_ key: String) -> Bool {
        prefixes.contains { key.hasPrefix($0) }
    }
}

/// Collects decoded spans into resources and scopes, in order of first appearance.
struct ZipkinRequestBuilder {
    private(set) var request = ExportTraceServiceRequest()
    private var resourceIndex: [[KeyValue]: Int] = [:]
    private var scopeIndex: [ScopeKey: Int] = [:]

    private struct ScopeKey: Hashable {
        var resource: Int
        var name: String
        var version: String
    }

    mutating func add(_ raw: ZipkinRawSpan) throws(TelemetryDecodingError) {
        let mapped = try ZipkinSpanMapping.map(raw)
        // Tag order may differ from span to span; the resource is the same one.
        let key = mapped.resource.attributes.sorted { $0.key < $1.key }
        let resource: Int
        if let existing = resourceIndex[key] {
            resource = existing
        } else {
            resource = request.resourceSpans.count
            resourceIndex[key] = resource
            request.resourceSpans.append(ResourceSpans(resource: mapped.resource))
        }
        let scopeKey = ScopeKey(resource: resource, name: mapped.scope.name, version: mapped.scope.version)
        if let scope = scopeIndex[scopeKey] {
            request.resourceSpans[resource].scopeSpans[scope].spans.append(mapped.span)
        } else {
            scopeIndex[scopeKey] = request.resourceSpans[resource].scopeSpans.count
            request.resourceSpans[resource].scopeSpans.append(ScopeSpans(scope: mapped.scope, spans: [mapped.span]))
        }
    }
}

/// The reverse of `ZipkinMapping`: one Zipkin span to an OTLP span, its resource and scope.
enum ZipkinSpanMapping {
    private struct LinkTags {
        var traceID: TraceID?
        var spanID: SpanID?
        var traceState = ""
        var attributes: [KeyValue] = []
        var droppedAttributesCount: UInt32 = 0
        /// The tags as they came, to keep as attributes if the link is unusable.
        var tags: [KeyValue] = []
    }

    static func map(
        _ raw: ZipkinRawSpan
    ) throws(TelemetryDecodingError) -> (span: Span, resource: Resource, scope: InstrumentationScope) {
        var attributes: [KeyValue] = []
        attributes.reserveCapacity(raw.tags.count + 3)
        var resourceAttributes: [KeyValue] = []
        var serviceNameTag: String?
        var scopeName: String?
        var scopeVersion: String?
        var libraryName: String?
        var libraryVersion: String?
        var statusCode: String?
        var errorTag: String?
        var statusDescription: String?
        var traceState = ""
        var droppedAttributes: UInt32 = 0
        var droppedEvents: UInt32 = 0
        var droppedLinks: UInt32 = 0
        var links: [Int: LinkTags] = [:]

        for (key, value) in raw.tags {
            switch key {
            case ZipkinTag.scopeName: scopeName = value
            case ZipkinTag.scopeVersion: scopeVersion = value
            case ZipkinTag.libraryName: libraryName = value
            case ZipkinTag.libraryVersion: libraryVersion = value
            case ZipkinTag.statusCode: statusCode = value
            case ZipkinTag.error: errorTag = value
            case ZipkinTag.statusDescription: statusDescription = value
            case ZipkinTag.traceState: traceState = value
            case ZipkinTag.droppedAttributes where UInt32(value) != nil: droppedAttributes = UInt32(value)!
            case ZipkinTag.droppedEvents where UInt32(value) != nil: droppedEvents = UInt32(value)!
            case ZipkinTag.droppedLinks where UInt32(value) != nil: droppedLinks = UInt32(value)!
            case "service.name": serviceNameTag = value
            default:
                if key.hasPrefix(ZipkinTag.linkPrefix), let (index, field) = linkField(key),
                    addLinkTag(field, value, to: &links[index, default: LinkTags()])
                {
                    links[index]!.tags.append(KeyValue(key, .string(value)))
                } else if ZipkinResourceKeys.isResourceKey(key) {
                    resourceAttributes.append(KeyValue(key, .string(value)))
                } else {
                    attributes.append(KeyValue(key, .string(value)))
                }
            }
        }

        var status = SpanStatus()
        switch statusCode {
        case "OK":
            status.code = .ok
        case "ERROR":
            status.code = .error
            status.message = statusDescription ?? errorTag ?? ""
            errorTag = nil
            statusDescription = nil
        case "UNSET":
            break
        default:
            if let statusCode { attributes.append(KeyValue(ZipkinTag.statusCode, .string(statusCode))) }
            if let error = errorTag {
                status.code = .error
                status.message = error == "true" ? (statusDescription ?? "") : error
                if error == "true" { statusDescription = nil }
                errorTag = nil
            }
        }
        if let errorTag { attributes.append(KeyValue(ZipkinTag.error, .string(errorTag))) }
        if let statusDescription { attributes.append(KeyValue(ZipkinTag.statusDescription, .string(statusDescription))) }

        var spanLinks: [SpanLink] = []
        for index in links.keys.sorted() {
            let link = links[index]!
            if let traceID = link.traceID, let spanID = link.spanID {
                spanLinks.append(
                    SpanLink(
                        traceID: traceID, spanID: spanID, traceState: link.traceState, attributes: link.attributes,
                        droppedAttributesCount: link.droppedAttributesCount))
            } else {
                attributes.append(contentsOf: link.tags)
            }
        }

        var events: [SpanEvent] = []
        events.reserveCapacity(raw.annotations.count)
        for (index, annotation) in raw.annotations.enumerated() {
            let (time, overflow) = annotation.timestamp.multipliedReportingOverflow(by: 1000)
            if overflow {
                throw TelemetryDecodingError(
                    path: "annotations[\(index)].timestamp",
                    reason: "\(annotation.timestamp) microseconds is past the year 2554, beyond OTLP's nanoseconds")
            }
            events.append(event(time: time, value: annotation.value))
        }

        let (start, end) = try times(raw)
        attributes += ZipkinEndpoints.remoteAttributes(
            for: raw.remoteEndpoint, kind: raw.kind, attributes: attributes)
        attributes += ZipkinEndpoints.localAttributes(
            for: raw.localEndpoint, kind: raw.kind, attributes: attributes)

        var resource = Resource()
        if let serviceName = raw.localEndpoint.serviceName ?? serviceNameTag {
            resource.attributes.append(KeyValue("service.name", .string(serviceName)))
        }
        resource.attributes += resourceAttributes

        let scope = InstrumentationScope(
            name: scopeName ?? libraryName ?? "", version: scopeVersion ?? libraryVersion ?? "")
        let span = Span(
            traceID: raw.traceID, spanID: raw.spanID, traceState: traceState, parentSpanID: raw.parentSpanID,
            name: raw.name, kind: raw.kind == .unspecified ? .internal : raw.kind, startTimeUnixNano: start,
            endTimeUnixNano: end, attributes: attributes, droppedAttributesCount: droppedAttributes,
            events: events, droppedEventsCount: droppedEvents, links: spanLinks, droppedLinksCount: droppedLinks,
            status: status)
        return (span, resource, scope)
    }

    private static func times(_ raw: ZipkinRawSpan) throws(TelemetryDecodingError) -> (UInt64, UInt64) {
        guard let timestamp = raw.timestamp else { return (0, 0) }
        let (start, overflow) = timestamp.multipliedReportingOverflow(by: 1000)
        if overflow {
            throw TelemetryDecodingError(
                path: "timestamp", reason: "\(timestamp) microseconds is past the year 2554, beyond OTLP's nanoseconds")
        }
        guard let duration = raw.duration else { return (start, start) }
        let (nanos, overflow1) = duration.multipliedReportingOverflow(by: 1000)
        let (end, overflow2) = start.addingReportingOverflow(nanos)
        if overflow1 || overflow2 {
            throw TelemetryDecodingError(
                path: "duration", reason: "\(duration) microseconds after the timestamp is beyond OTLP's nanoseconds")
        }
        return (start, end)
    }

    /// An annotation's event: `"name":{attributes}` as `ZipkinMapping.annotationValue`
    /// writes it, otherwise the whole value is the name.
    static func event(time: UInt64, value: String) -> SpanEvent {
        if value.utf8.first == UInt8(ascii: "\""), value.utf8.last == UInt8(ascii: "}"),
            let members = PlainJSONValue.object("{" + value + "}"), members.count == 1,
            case .keyValueList(let attributes) = members[0].value
        {
            return SpanEvent(timeUnixNano: time, name: members[0].key, attributes: attributes)
        }
        return SpanEvent(timeUnixNano: time, name: value)
    }

    /// `otel.link.<index>.<field>`: the index (decimal, no leading zeros, at most 9
    /// digits so that hostile tags cannot overflow it) and the field.
    private static func linkField(_ key: String) -> (Int, Substring)? {
        let rest = key.utf8.dropFirst(ZipkinTag.linkPrefix.utf8.count)
        guard let dot = rest.firstIndex(of: UInt8(ascii: ".")) else { return nil }
        let digits = rest[..<dot]
        guard (1...9).contains(digits.count), digits.allSatisfy({ $0 >= 48 && $0 <= 57 }),
            digits.count == 1 || digits.first != UInt8(ascii: "0")
        else { return nil }
        var index = 0
        for digit in digits { index = index * 10 + Int(digit - 48) }
        return (index, Substring(rest[rest.index(after: dot)...]))
    }

    /// Records one link tag; false when the field or its value is not one `encode` writes.
    private static func addLinkTag(_ field: Substring, _ value: String, to link: inout LinkTags) -> Bool {
        switch field {
        case "trace_id":
            guard value.utf8.count == 32, let id = TraceID(hex: value) else { return false }
            link.traceID = id
        case "span_id":
            guard let id = SpanID(hex: value) else { return false }
            link.spanID = id
        case "trace_state":
            link.traceState = value
        case "attributes":
            guard let attributes = PlainJSONValue.object(value) else { return false }
            link.attributes = attributes
        case "dropped_attributes_count":
            guard let count = UInt32(value) else { return false }
            link.droppedAttributesCount = count
        default:
            return false
        }
        return true
    }
}
