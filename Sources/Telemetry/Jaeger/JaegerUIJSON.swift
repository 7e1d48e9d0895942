/// The JSON of Jaeger's query API (`GET /api/traces/{id}`), which Jaeger's UI also opens
/// from a file: `{"data":[trace, …],"total":0,"limit":0,"offset":0,"errors":null}`.
///
/// The shapes are Jaeger's `model/json` (and jaeger-ui's `src/types/trace.tsx`): a trace
/// is `{traceID, spans, processes, warnings}`, a span `{traceID, spanID, flags,
/// operationName, references, startTime, duration, tags, logs, processID, warnings}`,
/// a tag `{key, type, value}` with type `string`, `bool`, `int64`, `float64` or `binary`.
///
/// The mapping follows OpenTelemetry's "OpenTelemetry to Jaeger Transformation" (the
/// collector's `pkg/translator/jaeger/README.md`) and the generic rules for non-OTLP
/// formats (https://opentelemetry.io/docs/specs/otel/common/mapping-to-non-otlp/):
///
/// | OTLP | Jaeger |
/// | --- | --- |
/// | trace, span ID | `traceID` (32 hex), `spanID` (16 hex), lowercase |
/// | parent span ID | the first reference, `CHILD_OF` |
/// | links | further references, `FOLLOWS_FROM` (their attributes have no place) |
/// | start, end | `startTime`, `duration` in microseconds, truncated |
/// | flags | `flags`: the W3C trace flags (bit 0, sampled, is Jaeger's sampled bit), absent when 0 |
/// | resource | a process: `serviceName` from `service.name` (`unknown_service` when missing), the other attributes as its tags; identical resources share one process per trace |
/// | attributes, scope attributes | tags, typed; arrays and key-value lists as JSON text in a `string` tag |
/// | kind | tag `span.kind`: `client`, `server`, `producer`, `consumer`, `internal`; absent when unspecified (the spec says INTERNAL "SHOULD NOT" be tagged, but the OpenTelemetry Collector's Jaeger translator, which Jaeger v2 uses, tags it, and the UI shows it) |
/// | scope | tags `otel.scope.name`, `otel.scope.version` |
/// | status | tags `otel.status_code` (`OK`/`ERROR`), `otel.status_description`; `error: true` for ERROR, replacing an `error` attribute |
/// | trace state | tag `w3c.tracestate` |
/// | dropped counts | `int64` tags `otel.dropped_attributes_count`, `otel.dropped_events_count`, `otel.dropped_links_count` when non-zero |
/// | events | logs: `timestamp` µs, fields `event` (the name, unless an attribute is itself named `event`) and the attributes |
///
/// Integers beyond JavaScript's safe range (±(2^53 − 1)) are written as strings, as
/// Jaeger's query service does, so that the UI shows them exactly.
public enum JaegerUIJSON {
    /// One trace per trace ID in `request`, in order of first appearance, each with its
    /// spans in request order.
    public static func encode(_ request: ExportTraceServiceRequest) -> [UInt8] {
        var traces: [JaegerTrace] = []
        var traceIndex: [TraceID: Int] = [:]
        // Identical resources are one process; hashed once per `ResourceSpans`, not per span.
        var resources: [Resource] = []
        var resourceIndex: [Resource: Int] = [:]
        for resourceSpans in request.resourceSpans {
            let resource = resourceSpans.resource ?? Resource()
            let resourceID: Int
            if let existing = resourceIndex[resource] {
                resourceID = existing
            } else {
                resourceID = resources.count
                resourceIndex[resource] = resourceID
                resources.append(resource)
            }
            for scopeSpans in resourceSpans.scopeSpans {
                let scope = scopeSpans.scope ?? InstrumentationScope()
                for span in scopeSpans.spans {
                    let index: Int
                    if let existing = traceIndex[span.traceID] {
                        index = existing
                    } else {
                        index = traces.count
                        traceIndex[span.traceID] = index
                        traces.append(JaegerTrace(traceID: span.traceID))
                    }
                    traces[index].add(span, resource: resourceID, scope: scope)
                }
            }
        }

        var writer = JSONWriter(capacity: 1024 * request.spanCount + 64)
        writer.beginObject()
        writer.key("data")
        writer.beginArray()
        for trace in traces { trace.write(resources: resources, to: &writer) }
        writer.endArray()
        writer.key("total")
        writer.int(0)
        writer.key("limit")
        writer.int(0)
        writer.key("offset")
        writer.int(0)
        writer.key("errors")
        writer.null()
        writer.endObject()
        return writer.bytes
    }
}

/// One trace's spans, each with the process (resource) and scope it came from.
private struct JaegerTrace {
    let traceID: TraceID
    var spans: [(span: Span, process: Int, scope: InstrumentationScope)] = []
    /// The request-wide resource index of each of this trace's processes, `p1` first.
    var processes: [Int] = []
    var processIndex: [Int: Int] = [:]

    init(traceID: TraceID) { self.traceID = traceID }

    mutating func add(_ span: Span, resource: Int, scope: InstrumentationScope) {
        let process: Int
        if let existing = processIndex[resource] {
            process = existing
        } else {
            process = processes.count
            processIndex[resource] = process
            processes.append(resource)
        }
        spans.append((span, process, scope))
    }

    func write(resources: [Resource], to writer: inout JSONWriter) {
        writer.beginObject()
        writer.key("traceID")
        writer.hexID(traceID)
        writer.key("spans")
        writer.beginArray()
        for entry in spans {
            JaegerMapping.write(entry.span, processID: Self.processID(entry.process), scope: entry.scope, to: &writer)
        }
        writer.endArray()
        writer.key("processes")
        writer.beginObject()
        for (index, resource) in processes.enumerated() {
            writer.key(Self.processID(index))
            JaegerMapping.writeProcess(resources[resource], to: &writer)
        }
        writer.endObject()
        writer.key("warnings")
        writer.null()
        writer.endObject()
    }

    /// `p1`, `p2`, … as Jaeger's query service names them.
    static func processID(_ index: Int) -> String { "p" + String(index + 1) }
}

enum JaegerMapping {
    /// JavaScript numbers are doubles; beyond this an int64 loses digits in the UI.
    static let maxSafeInteger: Int64 = 9_007_199_254_740_991

    static func write(_ span: Span, processID: String, scope: InstrumentationScope, to writer: inout JSONWriter) {
        writer.beginObject()
        writer.key("traceID")
        writer.hexID(span.traceID)
        writer.key("spanID")
        writer.hexID(span.spanID)
        let flags = span.flags & 0xFF
        if flags != 0 {
            writer.key("flags")
            writer.uint(UInt64(flags))
        }
        writer.key("operationName")
        writer.string(span.name)
        writer.key("references")
        writer.beginArray()
        if let parent = span.parentSpanID, parent.isValid {
            writeReference("CHILD_OF", traceID: span.traceID, spanID: parent, to: &writer)
        }
        for link in span.links {
            writeReference("FOLLOWS_FROM", traceID: link.traceID, spanID: link.spanID, to: &writer)
        }
        writer.endArray()
        writer.key("startTime")
        writer.uint(span.startTimeUnixNano / 1000)
        writer.key("duration")
        writer.uint(span.durationNanos / 1000)
        writer.key("tags")
        writer.beginArray()
        writeTags(of: span, scope: scope, to: &writer)
        writer.endArray()
        writer.key("logs")
        writer.beginArray()
        for event in span.events { writeLog(event, to: &writer) }
        writer.endArray()
        writer.key("processID")
        writer.string(processID)
        writer.key("warnings")
        writer.null()
        writer.endObject()
    }

    private static func writeReference(
        _ type: StaticString, traceID: TraceID, spanID: SpanID, to writer: inout JSONWriter
    ) {
        writer.beginObject()
        writer.key("refType")
        writer.string(type)
        writer.key("traceID")
        writer.hexID(traceID)
        writer.key("spanID")
        writer.hexID(spanID)
        writer.endObject()
    }

    private static func writeTags(of span: Span, scope: InstrumentationScope, to writer: inout JSONWriter) {
        let isError = span.status.code == .error
        for attribute in span.attributes {
            // Jaeger mapping, "Error flag": the added `error` tag may override any previous value.
            if isError && attribute.key == "error" { continue }
            writeTag(attribute.key, attribute.value, to: &writer)
        }
        for attribute in scope.attributes { writeTag(attribute.key, attribute.value, to: &writer) }
        if !scope.name.isEmpty { writeTag("otel.scope.name", .string(scope.name), to: &writer) }
        if !scope.version.isEmpty { writeTag("otel.scope.version", .string(scope.version), to: &writer) }
        let kind: String? =
            switch span.kind {
            case .client: "client"
            case .server: "server"
            case .producer: "producer"
            case .consumer: "consumer"
            case .internal: "internal"
            default: nil
            }
        if let kind { writeTag("span.kind", .string(kind), to: &writer) }
        switch span.status.code {
        case .ok:
            writeTag("otel.status_code", "OK", to: &writer)
        case .error:
            writeTag("otel.status_code", "ERROR", to: &writer)
            writeTag("error", .bool(true), to: &writer)
            if !span.status.message.isEmpty {
                writeTag("otel.status_description", .string(span.status.message), to: &writer)
            }
        default:
            break
        }
        if !span.traceState.isEmpty { writeTag("w3c.tracestate", .string(span.traceState), to: &writer) }
        if span.droppedAttributesCount != 0 {
            writeTag("otel.dropped_attributes_count", .int(Int64(span.droppedAttributesCount)), to: &writer)
        }
        if span.droppedEventsCount != 0 {
            writeTag("otel.dropped_events_count", .int(Int64(span.droppedEventsCount)), to: &writer)
        }
        if span.droppedLinksCount != 0 {
            writeTag("otel.dropped_links_count", .int(Int64(span.droppedLinksCount)), to: &writer)
        }
    }

    private static func writeLog(_ event: SpanEvent, to writer: inout JSONWriter) {
        writer.beginObject()
        writer.key("timestamp")
        writer.uint(event.timeUnixNano / 1000)
        writer.key("fields")
        writer.beginArray()
        // Jaeger mapping, Events: an attribute named `event` takes precedence over the name.
        if !event.attributes.contains(where: { $0.key == "event" }) {
            writeTag("event", .string(event.name), to: &writer)
        }
        for attribute in event.attributes { writeTag(attribute.key, attribute.value, to: &writer) }
        writer.endArray()
        writer.endObject()
    }

    static func writeProcess(_ resource: Resource, to writer: inout JSONWriter) {
        writer.beginObject()
        writer.key("serviceName")
        writer.string(ZipkinMapping.serviceName(of: resource))
        writer.key("tags")
        writer.beginArray()
        for attribute in resource.attributes where attribute.key != "service.name" {
            writeTag(attribute.key, attribute.value, to: &writer)
        }
        writer.endArray()
        writer.endObject()
    }

    /// `{key, type, value}`: primitives keep their type; arrays and key-value lists become
    /// JSON text ("Array values MUST be serialized to string like a JSON list").
    static func writeTag(_ key: String, _ value: AnyValue, to writer: inout JSONWriter) {
        writer.beginObject()
        writer.key("key")
        writer.string(key)
        writer.key("type")
        switch value {
        case .bool(let flag):
            writer.string("bool")
            writer.key("value")
            writer.bool(flag)
        case .int(let number):
            writer.string("int64")
            writer.key("value")
            if (-maxSafeInteger...maxSafeInteger).contains(number) {
                writer.int(number)
            } else {
                writer.string(String(number))
            }
        case .double(let number):
            writer.string("float64")
            writer.key("value")
            writer.double(number)
        case .bytes(let bytes):
            writer.string("binary")
            writer.key("value")
            writer.base64(bytes)
        case .empty, .string, .array, .keyValueList:
            writer.string("string")
            writer.key("value")
            writer.string(value.text)
        }
        writer.endObject()
    }
}
