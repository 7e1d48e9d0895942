import Foundation
import Hummingbird
import Telemetry

/// `/api/chains` and `/api/chains/{id}`: finalized chains from the store, open ones from
/// the stitcher's memory.
extension QueryAPI {
    static let defaultChainLimit: Int64 = 20
    static let maxChainLimit: Int64 = 1000

    func searchChains(_ parameters: QueryParameters) async throws -> Response {
        var query = ChainQuery()
        query.correlationID = parameters.string("correlation_id")
        query.service = parameters.string("service")
        query.topic = parameters.string("topic")
        if let text = parameters.string("status") {
            guard let status = ChainStatus(rawValue: text) else {
                let names = ChainStatus.allCases.map(\.rawValue).joined(separator: ", ")
                throw QueryParameterFault(parameter: "status", reason: "expected one of \(names), got \"\(text)\"")
            }
            query.status = status
        }
        query.minDurationNanos = try parameters.duration("minDuration")
        query.startNanos = try parameters.microsecondsAsNanos("start")
        query.endNanos = try parameters.microsecondsAsNanos("end")
        if let start = query.startNanos, let end = query.endNanos, start > end {
            throw QueryParameterFault(parameter: "end", reason: "must not be before start")
        }
        query.limit = Int(try parameters.integer("limit", in: 1...Self.maxChainLimit) ?? Self.defaultChainLimit)

        var found: [(start: Int, id: String, object: [String: Any])] = []
        for body in try await store.findChains(query) {
            guard var object = try JSONSerialization.jsonObject(with: body) as? [String: Any] else { continue }
            for key in ["hops", "missing", "criticalPath"] { object.removeValue(forKey: key) }
            found.append((object["startTimeUnixNano"] as? Int ?? 0, object["chainID"] as? String ?? "", object))
        }
        // Open chains: those of the correlation ID, else the `limit` most recently active
        // (filtered after, so fewer may match than exist).
        if let stitcher {
            let open = if let correlationID = query.correlationID {
                await stitcher.chains(correlationID: correlationID)
            } else {
                await stitcher.recentOpenChains(limit: query.limit)
            }
            for chain in open where chain.isOpen && Self.matches(chain, query) {
                found.removeAll { $0.id == chain.id.description }
                found.append((Int(clamping: chain.startUnixNano), chain.id.description, ChainJSON.summary(chain)))
            }
        }
        found.sort { ($0.start, $1.id) > ($1.start, $0.id) }
        return try envelope(found.prefix(query.limit).map(\.object))
    }

    static func matches(_ chain: Chain, _ query: ChainQuery) -> Bool {
        if let status = query.status, chain.status != status { return false }
        if let topic = query.topic, !chain.hops.contains(where: { $0.topic == topic }) { return false }
        if let service = query.service {
            let services = [chain.rootService] + chain.hops.flatMap { [$0.producerService] + $0.deliveries.map(\.service) }
            if !services.contains(service) { return false }
        }
        if let minimum = query.minDurationNanos, Int64(clamping: chain.endToEndNanos) < minimum { return false }
        if let start = query.startNanos, Int64(clamping: chain.startUnixNano) < start { return false }
        if let end = query.endNanos, Int64(clamping: chain.startUnixNano) > end { return false }
        return true
    }

    /// One chain by its ID or the trace ID of any of its spans: the chain's figures, its
    /// hops and missing parts, its spans (OTLP JSON) and the logs of those spans.
    func chain(_ id: String) async throws -> Response {
        let traceID = try QueryParameters.traceID(id, parameter: "chainID")
        var object: [String: Any]
        var spans: [(traceID: String, spanID: String)]
        var snapshot: Chain?
        if let stitcher, let parsed = TraceID(hex: traceID) { snapshot = await stitcher.snapshot(chainID: ChainID(parsed)) }
        if let open = snapshot, open.isOpen {
            object = ChainJSON.detail(open)
            spans = open.spans.map { ($0.traceID.hex, $0.spanID.hex) }
        } else if let stored = try await store.chain(id: traceID),
            let decoded = try JSONSerialization.jsonObject(with: stored.json) as? [String: Any]
        {
            object = decoded
            spans = stored.spans
        } else if let retained = snapshot {
            // Finalized, not yet written by the recorder.
            object = ChainJSON.detail(retained)
            spans = retained.spans.map { ($0.traceID.hex, $0.spanID.hex) }
        } else {
            return errorResponse(.notFound, "chain not found: \(traceID) (neither a chain ID nor a trace ID of a chain)")
        }
        let traces = try await store.spans(spans)
        let logs = try await store.logs(spans: spans)
        object["spans"] = try JSONSerialization.jsonObject(with: Data(traces.otlpJSONBytes()))
        object["logs"] = try JSONSerialization.jsonObject(with: Data(logs.otlpJSONBytes()))
        return try envelope([object])
    }
}

/// `/api/dependencies` (Jaeger's shape) and `/api/graph` (services and topics).
extension QueryAPI {
    /// Jaeger's parameters: `endTs` and `lookback` in milliseconds (default now and a day).
    func dependencies(_ parameters: QueryParameters) async throws -> Response {
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        let endMillis = try parameters.integer("endTs", in: 0...(Int64.max / 1_000_000)) ?? now
        let lookback = try parameters.integer("lookback", in: 0...(Int64.max / 1_000_000)) ?? 86_400_000
        let end = endMillis * 1_000_000
        let start = max(0, end - lookback * 1_000_000)
        let edges = try await store.dependencies(startNanos: start, endNanos: end)
        return try envelope(edges.map { ["parent": $0.parent, "child": $0.child, "callCount": $0.callCount] as [String: Any] })
    }

    /// Services and topics as nodes; edges service → topic with the messages sent, and
    /// topic → service with the messages consumed and the p50/p99 queue wait (nearest rank).
    /// `start` and `end` (microseconds) bound the chains' start.
    func graph(_ parameters: QueryParameters) async throws -> Response {
        let start = try parameters.microsecondsAsNanos("start")
        let end = try parameters.microsecondsAsNanos("end")
        if let start, let end, start > end {
            throw QueryParameterFault(parameter: "end", reason: "must not be before start")
        }
        let edges = try await store.messageEdges(startNanos: start, endNanos: end)
        var nodes: [String: [String: Any]] = [:]
        func node(_ kind: String, _ name: String?) -> String {
            let name = name ?? "unknown_\(kind)"
            let id = "\(kind):\(name)"
            nodes[id] = ["id": id, "kind": kind, "name": name]
            return id
        }
        var edgeObjects: [[String: Any]] = []
        for edge in edges {
            if edge.consumerService == nil {
                edgeObjects.append(["source": node("service", edge.producerService), "target": node("topic", edge.topic), "messages": edge.messages])
            } else {
                var object: [String: Any] = [
                    "source": node("topic", edge.topic), "target": node("service", edge.consumerService), "messages": edge.messages,
                ]
                object["queueWaitP50Nanos"] = Self.percentile(edge.queueWaitsNanos, 0.50).map { Int($0) } ?? NSNull()
                object["queueWaitP99Nanos"] = Self.percentile(edge.queueWaitsNanos, 0.99).map { Int($0) } ?? NSNull()
                edgeObjects.append(object)
            }
        }
        let object: [String: Any] = ["nodes": nodes.keys.sorted().map { nodes[$0]! }, "edges": edgeObjects]
        let bytes = try JSONSerialization.data(withJSONObject: ["data": object, "errors": NSNull()] as [String: Any], options: [.sortedKeys])
        return .bytes(.ok, contentType: "application/json", Array(bytes))
    }

    /// Nearest-rank percentile of ascending values.
    static func percentile(_ sorted: [Int64], _ fraction: Double) -> Int64? {
        guard !sorted.isEmpty else { return nil }
        let rank = Int((fraction * Double(sorted.count)).rounded(.up))
        return sorted[min(sorted.count, max(1, rank)) - 1]
    }
}
