import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import Prometheus
import Telemetry

/// The query API on :8686: Jaeger's HTTP API (what Jaeger's UI and Grafana's Jaeger data
/// source call), Causeway's backlinks and logs, `/metrics`, `/healthz` and `/readyz`.
struct QueryAPI: Sendable {
    var store: TelemetryStore
    var pipeline: TelemetryPipeline
    var registry: PrometheusCollectorRegistry?
    /// Open chains are answered from the stitcher's memory.
    var stitcher: StitchingConsumer?

    static let defaultTraceLimit: Int64 = 20
    static let maxTraceLimit: Int64 = 1500
    static let defaultLogLimit: Int64 = 100
    static let maxLogLimit: Int64 = 10000

    func respond(to request: Request) async throws -> Response {
        let path = request.uri.path
        let components = path.split(separator: "/", omittingEmptySubsequences: true).map { String($0).removingPercentEncoding ?? String($0) }
        guard request.method == .get || request.method == .head else {
            return errorResponse(.methodNotAllowed, "\(request.method) is not allowed; the query API takes GET", headers: [.allow: "GET, HEAD"])
        }
        let parameters = QueryParameters(request.uri)
        do {
            switch components.count {
            case 0:
                return ui()
            case 1 where components[0] == "metrics":
                return metrics()
            case 1 where components[0] == "healthz":
                return .text(.ok, "ok")
            case 1 where components[0] == "readyz":
                return pipeline.isOpen ? .text(.ok, "ready") : .text(.serviceUnavailable, "shutting down")
            case 2 where components[0] == "api" && components[1] == "services":
                return try envelope(try await store.services())
            case 4 where components[0] == "api" && components[1] == "services" && components[3] == "operations":
                return try envelope(try await store.operations(service: components[2]).map(\.name).uniqued())
            case 2 where components[0] == "api" && components[1] == "operations":
                return try await operations(parameters)
            case 2 where components[0] == "api" && components[1] == "traces":
                return try await searchTraces(parameters)
            case 3 where components[0] == "api" && components[1] == "traces":
                return try await trace(components[2], parameters)
            case 5 where components[0] == "api" && components[1] == "spans" && components[4] == "backlinks":
                return try await backlinks(traceID: components[2], spanID: components[3])
            case 2 where components[0] == "api" && components[1] == "logs":
                return try await logs(parameters)
            case 2 where components[0] == "api" && components[1] == "chains":
                return try await searchChains(parameters)
            case 3 where components[0] == "api" && components[1] == "chains":
                return try await chain(components[2])
            case 2 where components[0] == "api" && components[1] == "dependencies":
                return try await dependencies(parameters)
            case 2 where components[0] == "api" && components[1] == "graph":
                return try await graph(parameters)
            default:
                return errorResponse(.notFound, "no such endpoint: \(path)")
            }
        } catch let fault as QueryParameterFault {
            return errorResponse(.badRequest, fault.message)
        }
    }

    private func metrics() -> Response {
        var bytes: [UInt8] = []
        registry?.emit(into: &bytes)
        return .bytes(.ok, contentType: "text/plain; version=0.0.4; charset=utf-8", bytes)
    }

    private func operations(_ parameters: QueryParameters) async throws -> Response {
        guard let service = parameters.string("service") else {
            throw QueryParameterFault(parameter: "service", reason: "is required")
        }
        var kind: SpanKind?
        if let text = parameters.string("spanKind") {
            guard let value = QueryParameters.spanKinds[text.lowercased()] else {
                throw QueryParameterFault(parameter: "spanKind", reason: "expected one of client, server, producer, consumer, internal, unspecified, got \"\(text)\"")
            }
            kind = value
        }
        let operations = try await store.operations(service: service, kind: kind)
        return try envelope(operations.map { ["name": $0.name, "spanKind": QueryParameters.spanKindName($0.kind)] as [String: Any] })
    }

    private func searchTraces(_ parameters: QueryParameters) async throws -> Response {
        let ids = parameters.all("traceID")
        if !ids.isEmpty {
            var traceIDs: [String] = []
            for id in ids { traceIDs.append(try QueryParameters.traceID(id, parameter: "traceID")) }
            return jaeger(try await store.traces(traceIDs))
        }
        var query = TraceQuery()
        guard let service = parameters.string("service") else {
            throw QueryParameterFault(parameter: "service", reason: "is required (or give traceID)")
        }
        query.service = service
        query.operation = parameters.string("operation")
        if let tags = parameters.string("tags") {
            guard let object = try? JSONDecoder().decode([String: TagValue].self, from: Data(tags.utf8)) else {
                throw QueryParameterFault(parameter: "tags", reason: "expected a JSON object of strings, numbers or booleans such as {\"http.status_code\":\"500\"}, got \(tags)")
            }
            for (key, value) in object { query.tags[key] = value.text }
        }
        for tag in parameters.all("tag") {
            guard let colon = tag.firstIndex(of: ":"), colon != tag.startIndex else {
                throw QueryParameterFault(parameter: "tag", reason: "expected key:value, got \"\(tag)\"")
            }
            query.tags[String(tag[..<colon])] = String(tag[tag.index(after: colon)...])
        }
        query.startNanos = try parameters.microsecondsAsNanos("start")
        query.endNanos = try parameters.microsecondsAsNanos("end")
        if query.startNanos == nil, let lookback = parameters.string("lookback"), lookback != "custom" {
            guard let nanos = QueryParameters.parseDuration(lookback) else {
                throw QueryParameterFault(parameter: "lookback", reason: "expected a duration such as 1h or 2d, got \"\(lookback)\"")
            }
            let now = Int64(Date().timeIntervalSince1970 * 1e9)
            query.startNanos = (query.endNanos ?? now) - nanos
        }
        if let start = query.startNanos, let end = query.endNanos, start > end {
            throw QueryParameterFault(parameter: "end", reason: "must not be before start")
        }
        query.minDurationNanos = try parameters.duration("minDuration")
        query.maxDurationNanos = try parameters.duration("maxDuration")
        if let minimum = query.minDurationNanos, let maximum = query.maxDurationNanos, minimum > maximum {
            throw QueryParameterFault(parameter: "maxDuration", reason: "must not be less than minDuration")
        }
        query.limit = Int(try parameters.integer("limit", in: 1...Self.maxTraceLimit) ?? Self.defaultTraceLimit)
        let traceIDs = try await store.findTraceIDs(query)
        return jaeger(try await store.traces(traceIDs))
    }

    private func trace(_ id: String, _ parameters: QueryParameters) async throws -> Response {
        let traceID = try QueryParameters.traceID(id, parameter: "traceID")
        let format = parameters.string("format") ?? "jaeger"
        guard format == "jaeger" || format == "otlp" else {
            throw QueryParameterFault(parameter: "format", reason: "expected jaeger or otlp, got \"\(format)\"")
        }
        let traces = try await store.traces([traceID])
        guard traces.spanCount > 0 else {
            return errorResponse(.notFound, "trace not found: \(traceID)")
        }
        if format == "otlp" {
            return .bytes(.ok, contentType: "application/json", traces.otlpJSONBytes())
        }
        return jaeger(traces)
    }

    /// The web UI's page. Its script and styles are inline and it only calls this API,
    /// which the content security policy says.
    private func ui() -> Response {
        var headers = HTTPFields()
        if let policy = HTTPField.Name("Content-Security-Policy") {
            headers[policy] = "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; base-uri 'none'; form-action 'none'"
        }
        headers[.cacheControl] = "no-cache"
        return .bytes(.ok, contentType: "text/html; charset=utf-8", Array(CollectorUI.page.utf8), headers: headers)
    }

    private func backlinks(traceID: String, spanID: String) async throws -> Response {
        let trace = try QueryParameters.traceID(traceID, parameter: "traceID")
        let span = try QueryParameters.spanID(spanID, parameter: "spanID")
        let references = try await store.backlinks(traceID: trace, spanID: span)
        return try envelope(references.map { reference -> [String: Any] in
            [
                "traceID": reference.traceID, "spanID": reference.spanID, "serviceName": reference.service,
                "operationName": reference.operation, "startTime": reference.startNanos / 1000,
            ]
        })
    }

    private func logs(_ parameters: QueryParameters) async throws -> Response {
        var query = LogQuery()
        query.correlationID = parameters.string("correlation_id")
        if let text = parameters.string("trace_id") { query.traceID = try QueryParameters.traceID(text, parameter: "trace_id") }
        if let text = parameters.string("span_id") { query.spanID = try QueryParameters.spanID(text, parameter: "span_id") }
        query.service = parameters.string("service")
        query.minimumSeverity = try parameters.severity("severity")
        query.startNanos = try parameters.microsecondsAsNanos("start")
        query.endNanos = try parameters.microsecondsAsNanos("end")
        if let start = query.startNanos, let end = query.endNanos, start > end {
            throw QueryParameterFault(parameter: "end", reason: "must not be before start")
        }
        query.limit = Int(try parameters.integer("limit", in: 1...Self.maxLogLimit) ?? Self.defaultLogLimit)
        let logs = try await store.logs(query)
        return .bytes(.ok, contentType: "application/json", logs.otlpJSONBytes())
    }

    private func jaeger(_ traces: ExportTraceServiceRequest) -> Response {
        .bytes(.ok, contentType: "application/json", JaegerUIJSON.encode(traces))
    }

    /// Jaeger's envelope: `{"data": …, "total": n, "limit": 0, "offset": 0, "errors": null}`.
    func envelope(_ data: [Any]) throws -> Response {
        let object: [String: Any] = ["data": data, "total": data.count, "limit": 0, "offset": 0, "errors": NSNull()]
        let bytes = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
        return .bytes(.ok, contentType: "application/json", Array(bytes))
    }

    func errorResponse(_ status: HTTPResponse.Status, _ message: String, headers: HTTPFields = [:]) -> Response {
        let object: [String: Any] = [
            "data": NSNull(), "total": 0, "limit": 0, "offset": 0,
            "errors": [["code": Int(status.code), "msg": message]],
        ]
        let bytes = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data()
        return .bytes(status, contentType: "application/json", Array(bytes), headers: headers)
    }
}

extension Array where Element: Hashable {
    func uniqued() -> [Element] {
        var seen: Set<Element> = []
        return filter { seen.insert($0).inserted }
    }
}

/// A value in Jaeger's `tags` JSON object, compared as text.
struct TagValue: Decodable {
    var text: String

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let value = try? container.decode(Bool.self) {
            text = value ? "true" : "false"
        } else if let value = try? container.decode(Int64.self) {
            text = String(value)
        } else if let value = try? container.decode(Double.self) {
            text = String(value)
        } else {
            text = try container.decode(String.self)
        }
    }
}
