/// Zipkin's v2 JSON span format (`POST /api/v2/spans`, `zipkin2-api.yaml`), both ways:
/// `encode` for an exporter to Zipkin, `decode` for a receiver of what Zipkin tracers send.
///
/// The mapping follows OpenTelemetry's "OpenTelemetry to Zipkin Transformation"
/// (https://opentelemetry.io/docs/specs/otel/trace/sdk_exporters/zipkin/) and its generic
/// rules for non-OTLP formats (https://opentelemetry.io/docs/specs/otel/common/mapping-to-non-otlp/):
///
/// | OTLP | Zipkin |
/// | --- | --- |
/// | trace, span, parent span ID | `traceId` (32 hex), `id`, `parentId` (16 hex), lowercase |
/// | name | `name`, absent when empty |
/// | kind | `kind`; INTERNAL and UNSPECIFIED leave it absent |
/// | start, end | `timestamp`, `duration` in whole microseconds, duration at least 1 |
/// | resource `service.name` | `localEndpoint.serviceName` (`unknown_service` when missing) |
/// | other resource attributes | tags |
/// | scope name, version, attributes | tags `otel.scope.name`, `otel.scope.version`, the attributes |
/// | attributes | tags, as text (`AnyValue.text`); peer and network attributes also fill the endpoints (`ZipkinEndpoints`) |
/// | status | `otel.status_code` (`OK`/`ERROR`); for ERROR also `error` (the message, maybe empty) and `otel.status_description` |
/// | trace state | tag `w3c.tracestate` |
/// | events | annotations: the name, or `"name":{attributes as JSON}` |
/// | links | tags `otel.link.<i>.trace_id`, `.span_id`, `.trace_state`, `.attributes` (a JSON object), `.dropped_attributes_count`, i from 0 |
/// | dropped counts | tags `otel.dropped_attributes_count`, `otel.dropped_events_count`, `otel.dropped_links_count` when non-zero |
///
/// Zipkin has no links, so they travel as the `otel.link.*` tags above and `decode` turns
/// them back into links. Service names are sent as they are: Zipkin lowercases them on
/// storage, and the OpenTelemetry mapping asks for the value of `service.name` unchanged.
///
/// What does not survive encode → decode, because Zipkin has no place for it:
/// - the types of span and resource attributes: every tag is a string, so they come
///   back as strings (event and link attributes travel as JSON and keep theirs);
/// - nanoseconds below the microsecond, and a span shorter than 1 µs comes back 1 µs long;
/// - span and link trace flags, events' dropped attribute counts, scope attributes
///   (they come back as span attributes);
/// - a missing `service.name`, which comes back as `unknown_service`;
/// - an `error` attribute: `false` is dropped and any other value reads back as an
///   ERROR status, because Zipkin treats every span with an `error` tag as failed.
public enum ZipkinV2JSON {
    /// The spans of `request` as a JSON array of Zipkin v2 spans, in request order.
    ///
    /// Every span validates against the `Span` definition of `zipkin2-api.yaml`: IDs are
    /// lowercase hex of exact length, `duration` is at least 1, endpoint addresses are IP
    /// literals and ports are non-zero, tags are strings, annotations are unique.
    public static func encode(_ request: ExportTraceServiceRequest) -> [UInt8] {
        var writer = JSONWriter(capacity: 512 * request.spanCount + 2)
        writer.beginArray()
        for resourceSpans in request.resourceSpans {
            let resource = resourceSpans.resource ?? Resource()
            let serviceName = ZipkinMapping.serviceName(of: resource)
            // Rendered once here rather than once per span.
            let resourceTags = resource.attributes.lazy.filter { $0.key != "service.name" }.map {
                (key: $0.key, value: $0.value.text)
            }
            let context = ZipkinMapping.Context(serviceName: serviceName, inheritedTags: Array(resourceTags))
            for scopeSpans in resourceSpans.scopeSpans {
                let scope = scopeSpans.scope ?? InstrumentationScope()
                var scopeContext = context
                scopeContext.inheritedTags += scope.attributes.map { (key: $0.key, value: $0.value.text) }
                if !scope.name.isEmpty { scopeContext.scopeTags.append((ZipkinTag.scopeName, scope.name)) }
                if !scope.version.isEmpty { scopeContext.scopeTags.append((ZipkinTag.scopeVersion, scope.version)) }
                for span in scopeSpans.spans {
                    ZipkinMapping.write(span, context: scopeContext, to: &writer)
                }
            }
        }
        writer.endArray()
        return writer.bytes
    }
}

/// The tag names the Zipkin mapping uses, shared by the encoder and the decoder.
enum ZipkinTag {
    static let statusCode = "otel.status_code"
    static let statusDescription = "otel.status_description"
    static let error = "error"
    static let scopeName = "otel.scope.name"
    static let scopeVersion = "otel.scope.version"
    /// The deprecated aliases, still read from older SDKs.
    static let libraryName = "otel.library.name"
    static let libraryVersion = "otel.library.version"
    /// The name the OpenTelemetry Collector's Zipkin translator gives the trace state.
    static let traceState = "w3c.tracestate"
    static let droppedAttributes = "otel.dropped_attributes_count"
    static let droppedEvents = "otel.dropped_events_count"
    static let droppedLinks = "otel.dropped_links_count"
    static let linkPrefix = "otel.link."
}

/// Tags in the order they were added, a later tag replacing an earlier one of the same
/// key in place: a JSON object must not repeat a name, and the mapping's own tags must
/// win over attributes that happen to share their names.
struct ZipkinTags {
    private(set) var keys: [String] = []
    private(set) var values: [String] = []
    private var positions: [String: Int] = [:]

    init(capacity: Int) {
        keys.reserveCapacity(capacity)
        values.reserveCapacity(capacity)
        positions.reserveCapacity(capacity)
    }

    mutating func set(_ key: String, _ value: String) {
        if let position = positions[key] {
            values[position] = value
        } else {
            positions[key] = keys.count
            keys.append(key)
            values.append(value)
        }
    }

    var isEmpty: Bool { keys.isEmpty }
}

enum ZipkinMapping {
    /// The OpenTelemetry SDK's default when a resource has no `service.name`
    /// (resource/sdk.md, "SDK-provided resource attributes").
    static let unknownService = "unknown_service"

    static func serviceName(of resource: Resource) -> String {
        guard let value = resource.attributes[key: "service.name"] else { return unknownService }
        let name = value.text
        return name.isEmpty ? unknownService : name
    }

    /// What every span of one resource and scope shares.
    struct Context {
        var serviceName: String
        /// Resource attributes other than `service.name`, then scope attributes, as text.
        var inheritedTags: [(key: String, value: String)]
        /// `otel.scope.name` and `otel.scope.version` when set.
        var scopeTags: [(key: String, value: String)] = []
    }

    static func write(_ span: Span, context: Context, to writer: inout JSONWriter) {
        writer.beginObject()
        writer.key("traceId")
        writer.hexID(span.traceID)
        writer.key("id")
        writer.hexID(span.spanID)
        if let parent = span.parentSpanID, parent.isValid {
            writer.key("parentId")
            writer.hexID(parent)
        }
        if !span.name.isEmpty {
            writer.key("name")
            writer.string(span.name)
        }
        switch span.kind {
        case .client: writer.key("kind"); writer.string("CLIENT")
        case .server: writer.key("kind"); writer.string("SERVER")
        case .producer: writer.key("kind"); writer.string("PRODUCER")
        case .consumer: writer.key("kind"); writer.string("CONSUMER")
        default: break
        }
        // "Reported in microseconds as whole numbers … 1234 nanoseconds will be
        // represented as 1 microsecond"; the schema wants a duration of at least 1.
        // A start of 0 means the span never started: both fields stay absent. The end is
        // kept within OTLP's nanoseconds, so that the JSON decodes: a duration is cut to
        // what fits after the timestamp, and left out when not even 1 µs fits (a start
        // in the last microsecond before 2^64 ns, past the year 2554).
        if span.startTimeUnixNano != 0 {
            let timestamp = span.startTimeUnixNano / 1000
            writer.key("timestamp")
            writer.uint(timestamp)
            let room = UInt64.max / 1000 - timestamp
            if span.endTimeUnixNano != 0, room > 0 {
                writer.key("duration")
                writer.uint(min(room, max(1, span.durationNanos / 1000)))
            }
        }
        writer.key("localEndpoint")
        ZipkinEndpoints.local(serviceName: context.serviceName, kind: span.kind, attributes: span.attributes)
            .writeJSON(to: &writer)
        let remote = ZipkinEndpoints.remote(kind: span.kind, attributes: span.attributes)
        if !remote.isEmpty {
            writer.key("remoteEndpoint")
            remote.writeJSON(to: &writer)
        }
        if !span.events.isEmpty {
            writeAnnotations(span.events, to: &writer)
        }
        let tags = tags(of: span, context: context)
        if !tags.isEmpty {
            writer.key("tags")
            writer.beginObject()
            for (key, value) in zip(tags.keys, tags.values) {
                writer.key(key)
                writer.string(value)
            }
            writer.endObject()
        }
        writer.endObject()
    }

    /// Events as annotations. The OpenTelemetry mapping puts the attributes into the
    /// value as `"my-event-name": { "key1" : "value1" }`; here they are written as typed
    /// compact JSON so that `decode` restores their types. The schema wants the
    /// annotations unique, so an event identical to an earlier one in time (µs) and text
    /// is left out.
    private static func writeAnnotations(_ events: [SpanEvent], to writer: inout JSONWriter) {
        writer.key("annotations")
        writer.beginArray()
        var written = Set<Annotation>(minimumCapacity: events.count)
        for event in events {
            let timestamp = event.timeUnixNano / 1000
            let value = annotationValue(event)
            guard written.insert(Annotation(timestamp: timestamp, value: value)).inserted else { continue }
            writer.beginObject()
            writer.key("timestamp")
            writer.uint(timestamp)
            writer.key("value")
            writer.string(value)
            writer.endObject()
        }
        writer.endArray()
    }

    private struct Annotation: Hashable {
        var timestamp: UInt64
        var value: String
    }

    static func annotationValue(_ event: SpanEvent) -> String {
        guard !event.attributes.isEmpty else { return event.name }
        var json = JSONWriter(capacity: 64)
        json.string(event.name)
        var text = json.bytes
        text.append(UInt8(ascii: ":"))
        var object = JSONWriter(capacity: 64)
        object.plainValue(.keyValueList(event.attributes))
        text.append(contentsOf: object.bytes)
        return String(decoding: text, as: UTF8.self)
    }

    static func tags(of span: Span, context: Context) -> ZipkinTags {
        var tags = ZipkinTags(capacity: context.inheritedTags.count + span.attributes.count + 6 + 2 * span.links.count)
        for (key, value) in context.inheritedTags { tags.set(key, value) }
        let isError = span.status.code == .error
        for attribute in span.attributes {
            // "If a boolean version ({"error":false} or {"error":"false"}) is present, it
            // SHOULD be removed. Zipkin will treat any span with `error` sent as failed."
            if attribute.key == ZipkinTag.error, !isError,
                attribute.value == .bool(false) || attribute.value == .string("false")
            {
                continue
            }
            tags.set(attribute.key, attribute.value.text)
        }
        for (key, value) in context.scopeTags { tags.set(key, value) }
        switch span.status.code {
        case .ok:
            tags.set(ZipkinTag.statusCode, "OK")
        case .error:
            tags.set(ZipkinTag.statusCode, "ERROR")
            // Zipkin mapping, Status: `error` "MUST be set if the code is ERROR, use an
            // empty string if Description has no value".
            tags.set(ZipkinTag.error, span.status.message)
            if !span.status.message.isEmpty {
                tags.set(ZipkinTag.statusDescription, span.status.message)
            }
        default:
            break
        }
        if !span.traceState.isEmpty { tags.set(ZipkinTag.traceState, span.traceState) }
        for (index, link) in span.links.enumerated() {
            let prefix = ZipkinTag.linkPrefix + String(index) + "."
            tags.set(prefix + "trace_id", link.traceID.hex)
            tags.set(prefix + "span_id", link.spanID.hex)
            if !link.traceState.isEmpty { tags.set(prefix + "trace_state", link.traceState) }
            if !link.attributes.isEmpty {
                tags.set(prefix + "attributes", AnyValue.keyValueList(link.attributes).text)
            }
            if link.droppedAttributesCount != 0 {
                tags.set(prefix + "dropped_attributes_count", String(link.droppedAttributesCount))
            }
        }
        if span.droppedAttributesCount != 0 {
            tags.set(ZipkinTag.droppedAttributes, String(span.droppedAttributesCount))
        }
        if span.droppedEventsCount != 0 { tags.set(ZipkinTag.droppedEvents, String(span.droppedEventsCount)) }
        if span.droppedLinksCount != 0 { tags.set(ZipkinTag.droppedLinks, String(span.droppedLinksCount)) }
        return tags
    }
}
