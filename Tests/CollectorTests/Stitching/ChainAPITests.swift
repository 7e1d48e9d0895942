import Collector
import Foundation
import NIOHTTP1
import Telemetry
import Testing

@testable import Collector

private typealias F = Fixture

/// The stitcher inside a running collector: spans sent over OTLP, chains read back from
/// `/api/chains` once the (short) idle window finalized and stored them.
@Suite struct ChainAPITests {
    static func shortIdleWindow(_ configuration: inout CollectorConfiguration) {
        configuration.stitcher?.idleWindow = .milliseconds(200)
    }

    func send(_ collector: CollectorUnderTest, _ requests: [ExportTraceServiceRequest]) async throws {
        for request in requests {
            let reply = try await fetchReply(collector.otlp + "/v1/traces", body: request.protobufBytes(), headers: protobufHeaders)
            #expect(reply.status == 200)
        }
    }

    /// Waits for the linear chain with its last span (audit's). Under load the 200 ms idle
    /// window can pass between two of its requests, and a revision without that span is
    /// stored first; the late span re-opens the chain, and the next revision replaces it.
    func wholeLinearChainStored(_ collector: CollectorUnderTest) async throws {
        _ = try await chains(collector, "service=audit") { !$0.isEmpty }
    }

    func get(_ collector: CollectorUnderTest, _ path: String) async throws -> Reply {
        try await fetchReply(.GET, collector.http + path)
    }

    /// The chains listed for `query` once `ready` holds for them and, unless `open`, none
    /// is still open.
    func chains(
        _ collector: CollectorUnderTest, _ query: String, open: Bool = false, until ready: @escaping ([[String: Any]]) -> Bool
    ) async throws -> [[String: Any]] {
        try await eventually { () async throws -> [[String: Any]]? in
            let reply = try await get(collector, "/api/chains?" + query)
            let data = try reply.json()["data"] as? [[String: Any]] ?? []
            let settled = open || data.allSatisfy { $0["open"] as? Bool == false }
            return settled && ready(data) ? data : nil
        }
    }

    @Test func linearChainIsStoredWithExactHopsWaitsAndEndToEnd() async throws {
        try await withCollector(Self.shortIdleWindow) { collector in
            // In one request, so that its first revision holds every span however loaded the
            // machine (see `wholeLinearChainStored`).
            try await send(collector, [ExportTraceServiceRequest(resourceSpans: F.linearChain().flatMap(\.resourceSpans))])
            let listed = try await chains(collector, "service=audit") { !$0.isEmpty }
            #expect(listed.count == 1)
            let summary = try #require(listed.first)
            #expect(summary["chainID"] as? String == F.trace(1).hex)
            #expect(summary["status"] as? String == "complete")
            #expect(summary["open"] as? Bool == false)
            #expect(summary["revision"] as? Int == 1)
            #expect(summary["rootService"] as? String == "order")
            #expect(summary["rootOperation"] as? String == "POST /orders")
            #expect(summary["startTimeUnixNano"] as? Int == Int(F.at(0)))
            #expect(summary["endTimeUnixNano"] as? Int == Int(F.at(130)))
            #expect(summary["endToEndNanos"] as? Int == 130_000_000)
            #expect(summary["spanCount"] as? Int == 9)
            #expect(summary["hopCount"] as? Int == 4)
            #expect(summary["traceIDs"] as? [String] == (1...5).map { F.trace($0).hex })
            #expect(summary["hops"] == nil)

            // By the trace ID of a middle hop.
            let reply = try await get(collector, "/api/chains/\(F.trace(3).hex)")
            #expect(reply.status == 200)
            let chain = try #require((try reply.json()["data"] as? [[String: Any]])?.first)
            #expect(chain["chainID"] as? String == F.trace(1).hex)
            let hops = try #require(chain["hops"] as? [[String: Any]])
            #expect(hops.map { $0["topic"] as? String } == ["orders", "inventory.reserved", "payments", "notifications"])
            #expect(hops.map { ($0["producer"] as? [String: Any])?["service"] as? String } == ["order", "inventory", "payment", "notification"])
            let deliveries = hops.map { $0["deliveries"] as? [[String: Any]] ?? [] }
            #expect(deliveries.map { $0.map { $0["service"] as? String } } == [["inventory"], ["payment"], ["notification"], ["audit"]])
            #expect(deliveries.map { $0.map { $0["queueWaitNanos"] as? Int } } == [[10_000_000], [5_000_000], [5_000_000], [5_000_000]])
            #expect(chain["criticalPath"] as? [Int] == [0, 1, 2, 3])
            #expect((chain["missing"] as? [Any])?.isEmpty == true)
            let spans = try ExportTraceServiceRequest(otlpJSON: Array(try JSONSerialization.data(withJSONObject: try #require(chain["spans"]))))
            #expect(spans.spanCount == 9)
        }
    }

    @Test func lateConsumerReopensTheChainAndReplacesItsStoredRevision() async throws {
        try await withCollector(Self.shortIdleWindow) { collector in
            let requests = F.linearChain()
            try await send(collector, Array(requests.dropLast()))
            let first = try await chains(collector, "service=order") { $0.first?["revision"] as? Int == 1 }
            #expect(first.first?["spanCount"] as? Int == 8)
            #expect(first.first?["endToEndNanos"] as? Int == 120_000_000)

            try await send(collector, [requests.last!])
            let second = try await chains(collector, "service=order") { $0.first?["revision"] as? Int == 2 }
            #expect(second.count == 1)
            #expect(second.first?["chainID"] as? String == F.trace(1).hex)
            #expect(second.first?["spanCount"] as? Int == 9)
            #expect(second.first?["endToEndNanos"] as? Int == 130_000_000)
            #expect(second.first?["status"] as? String == "complete")
            #expect(second.first?["missingCount"] as? Int == 0)
        }
    }

    @Test func chainDetailCarriesTheLogsOfItsSpans() async throws {
        try await withCollector(Self.shortIdleWindow) { collector in
            try await send(collector, F.linearChain())
            let logs = ExportLogsServiceRequest(resourceLogs: [
                ResourceLogs(resource: Resource(attributes: [KeyValue("service.name", "payment")]), scopeLogs: [
                    ScopeLogs(logRecords: [
                        LogRecord(timeUnixNano: F.at(55), severityNumber: .info, body: .string("charged"), traceID: F.trace(3), spanID: SpanID(0x31)),
                        LogRecord(timeUnixNano: F.at(56), severityNumber: .info, body: .string("not in the chain"), traceID: F.trace(99), spanID: SpanID(0x99)),
                    ])
                ])
            ])
            #expect(try await fetchReply(collector.otlp + "/v1/logs", body: logs.protobufBytes(), headers: protobufHeaders).status == 200)
            _ = try await chains(collector, "topic=payments") { !$0.isEmpty }
            let chain = try await eventually { () async throws -> [String: Any]? in
                let reply = try await get(collector, "/api/chains/\(F.trace(1).hex)")
                let chain = (try reply.json()["data"] as? [[String: Any]])?.first
                return (chain?["logs"] as? [String: Any])?["resourceLogs"] != nil ? chain : nil
            }
            let stored = try ExportLogsServiceRequest(otlpJSON: Array(try JSONSerialization.data(withJSONObject: try #require(chain["logs"]))))
            #expect(stored.resourceLogs.flatMap { $0.scopeLogs.flatMap(\.logRecords) }.map(\.body) == [.string("charged")])
        }
    }

    @Test func openChainIsVisibleByCorrelationIDAndByID() async throws {
        // The default 30 s idle window keeps the chain open for the whole test.
        try await withCollector { collector in
            try await send(collector, [
                F.request("order", [F.span(7, 1, "orders send", kind: .producer, 0, 10, topic: "orders",
                                           attributes: [KeyValue("messaging.message.conversation_id", "order-7")])]),
                F.request("billing", [F.span(8, 2, "orders process", kind: .consumer, 20, 30, topic: "orders", group: "billing", linksTo: [(7, 1)])]),
            ])
            let listed = try await chains(collector, "correlation_id=order-7", open: true) { $0.first?["spanCount"] as? Int == 2 }
            #expect(listed.first?["open"] as? Bool == true)
            #expect(listed.first?["status"] as? String == "in_progress")
            #expect(listed.first?["chainID"] as? String == F.trace(7).hex)
            let recent = try await get(collector, "/api/chains?service=billing")
            #expect((try recent.json()["data"] as? [[String: Any]])?.map { $0["chainID"] as? String } == [F.trace(7).hex])
            #expect((try await get(collector, "/api/chains?service=nobody").json()["data"] as? [Any])?.isEmpty == true)
            let reply = try await get(collector, "/api/chains/\(F.trace(8).hex)")
            let chain = try #require((try reply.json()["data"] as? [[String: Any]])?.first)
            #expect(chain["open"] as? Bool == true)
            #expect((chain["hops"] as? [[String: Any]])?.first?["deliveries"].map { ($0 as? [[String: Any]])?.first?["queueWaitNanos"] as? Int } == 10_000_000)
        }
    }

    @Test func chainFiltersNarrowTheList() async throws {
        try await withCollector(Self.shortIdleWindow) { collector in
            try await send(collector, F.linearChain())
            try await wholeLinearChainStored(collector)
            func ids(_ query: String) async throws -> [String] {
                let reply = try await get(collector, "/api/chains?" + query)
                #expect(reply.status == 200)
                return (try reply.json()["data"] as? [[String: Any]])?.compactMap { $0["chainID"] as? String } ?? []
            }
            let chain = F.trace(1).hex
            #expect(try await ids("topic=payments") == [chain])
            #expect(try await ids("topic=nowhere").isEmpty)
            #expect(try await ids("service=payment&status=complete") == [chain])
            #expect(try await ids("status=has_errors").isEmpty)
            #expect(try await ids("minDuration=130ms") == [chain])
            #expect(try await ids("minDuration=131ms").isEmpty)
            let startMicros = Int(F.at(0) / 1000)
            #expect(try await ids("start=\(startMicros)&end=\(startMicros)") == [chain])
            #expect(try await ids("start=\(startMicros + 1)").isEmpty)
            #expect(try await ids("limit=1") == [chain])
        }
    }

    @Test func dependenciesCountMessagesBetweenServicesInJaegersShape() async throws {
        try await withCollector(Self.shortIdleWindow) { collector in
            try await send(collector, F.linearChain())
            try await wholeLinearChainStored(collector)
            let endTs = Int(F.at(1000) / 1_000_000)
            let reply = try await get(collector, "/api/dependencies?endTs=\(endTs)&lookback=10000")
            #expect(reply.status == 200)
            let data = try #require(try reply.json()["data"] as? [[String: Any]])
            #expect(data.map { "\($0["parent"]!)->\($0["child"]!):\($0["callCount"]!)" } == [
                "inventory->payment:1", "notification->audit:1", "order->inventory:1", "payment->notification:1",
            ])
            let before = try await get(collector, "/api/dependencies?endTs=\(endTs - 5000)&lookback=1000")
            #expect((try before.json()["data"] as? [Any])?.isEmpty == true)
            #expect(try await get(collector, "/api/dependencies?lookback=soon").text.contains("parameter 'lookback'"))
        }
    }

    @Test func graphHasServicesAndTopicsWithQueueWaitPercentiles() async throws {
        try await withCollector(Self.shortIdleWindow) { collector in
            try await send(collector, F.linearChain())
            try await wholeLinearChainStored(collector)
            let reply = try await get(collector, "/api/graph")
            #expect(reply.status == 200)
            let graph = try #require(try reply.json()["data"] as? [String: Any])
            let nodes = try #require(graph["nodes"] as? [[String: Any]])
            #expect(nodes.map { $0["id"] as? String } == [
                "service:audit", "service:inventory", "service:notification", "service:order", "service:payment",
                "topic:inventory.reserved", "topic:notifications", "topic:orders", "topic:payments",
            ])
            let edges = try #require(graph["edges"] as? [[String: Any]])
            #expect(edges.map { "\($0["source"]!)->\($0["target"]!):\($0["messages"]!)" } == [
                "service:inventory->topic:inventory.reserved:1", "service:notification->topic:notifications:1",
                "service:order->topic:orders:1", "service:payment->topic:payments:1",
                "topic:inventory.reserved->service:payment:1", "topic:notifications->service:audit:1",
                "topic:orders->service:inventory:1", "topic:payments->service:notification:1",
            ])
            let orders = try #require(edges.first { $0["source"] as? String == "topic:orders" })
            #expect(orders["queueWaitP50Nanos"] as? Int == 10_000_000)
            #expect(orders["queueWaitP99Nanos"] as? Int == 10_000_000)
            #expect(edges[0]["queueWaitP50Nanos"] == nil)
        }
    }

    @Test func queueWaitPercentilesUseTheNearestRank() {
        let waits: [Int64] = Array(1...100)
        #expect(QueryAPI.percentile(waits, 0.5) == 50)
        #expect(QueryAPI.percentile(waits, 0.99) == 99)
        #expect(QueryAPI.percentile([7], 0.99) == 7)
        #expect(QueryAPI.percentile([], 0.5) == nil)
    }

    @Test func finalizedChainsAreCountedInTheMetrics() async throws {
        try await withCollector(Self.shortIdleWindow) { collector in
            try await send(collector, F.linearChain())
            try await wholeLinearChainStored(collector)
            let metrics = try await eventually { () async throws -> String? in
                let text = try await get(collector, "/metrics").text
                return text.contains("causeway_queue_wait_seconds") ? text : nil
            }
            #expect(metrics.contains("causeway_chains_total{status=\"complete\"}"))
            #expect(metrics.contains("causeway_chain_e2e_latency_seconds_bucket{root_service=\"order\",root_operation=\"POST /orders\""))
            #expect(metrics.contains("causeway_queue_wait_seconds_bucket{producer_service=\"order\",topic=\"orders\",consumer_group=\"inventory\""))
        }
    }

    @Test func invalidChainParametersAre400NamingThem() async throws {
        try await withCollector { collector in
            for (query, parameter) in [
                ("/api/chains?status=done", "status"), ("/api/chains?limit=0", "limit"), ("/api/chains?minDuration=soon", "minDuration"),
                ("/api/chains?start=yesterday", "start"), ("/api/chains?start=20&end=10", "end"), ("/api/chains/not-hex", "chainID"),
            ] {
                let reply = try await get(collector, query)
                #expect(reply.status == 400, "\(query)")
                #expect(reply.text.contains("parameter '\(parameter)'"), "\(query): \(reply.text)")
            }
            #expect(try await get(collector, "/api/chains/1234").status == 404)
        }
    }
}
