import AsyncHTTPClient
import Collector
import EventTracing
import EventTracingHTTP
import Foundation
import Hummingbird
import Logging
import NIOCore
import NIOHTTP1
import Synchronization
import Testing
import Tracing

/// Issue 5's scenarios with spans from our own SDK, end to end: each service is an
/// `OTLPTracing` exporting over OTLP/HTTP to a collector running in this process, spans
/// are made by EventTracing's `withSendSpan`/`withProcessSpan` (the consumer links to the
/// producer context the message headers carry, the correlation ID travels in them) and
/// by EventTracingHTTP's middleware and client, and every figure is read back from
/// `/api/chains`. Times come from a plan (`ScriptedClockTracer`), so waits are exact.
/// The same scenarios with the OpenTelemetry Python SDK: Tests/Interop/test_chain_scenarios.py
/// and test_collector_chains.py.
@Suite struct SDKChainScenarioTests {
    /// A 1 s idle window: long enough that a scenario's exports, one service after the
    /// other, reach a chain before it is finalized even on a loaded machine.
    static func shortWindows(_ configuration: inout CollectorConfiguration) {
        configuration.stitcher?.idleWindow = .seconds(1)
        configuration.stitcher?.unconsumedWindow = .seconds(3)
        configuration.stitcher?.topicsWithoutConsumers = ["audit.*"]
    }

    let t = Timeline.fixed
    let ms = 1_000_000

    // MARK: Scenarios

    @Test func linearChainOfThreeMessagesThroughFourServices() async throws {
        let sink = try await HTTPSink.start()
        defer { Task { try? await sink.stop() } }
        try await withCollector({ configuration in
            Self.shortWindows(&configuration)
            configuration.addEndpointExporter(
                name: "zipkin", endpoint: "http://127.0.0.1:\(sink.port)/api/v2/spans", traces: true, logs: false, stitched: true)
        }) { collector in
            let (order, inventory, payment, notification) = (
                SDKService("order", otlp: collector.otlp), SDKService("inventory", otlp: collector.otlp),
                SDKService("payment", otlp: collector.otlp), SDKService("notification", otlp: collector.otlp)
            )
            let t = self.t
            let (orders, sent) = await order.send("orders", 0, 3, at: t, correlationID: "order-21", partition: 2)
            await order.flush()
            let stock = Captured<(Record, SpanRefHex)>()
            let reserve = await inventory.process(orders, topic: "orders", 10, 30, at: t, offset: 41) { _ in
                let reserved = await inventory.send("stock.reserved", 20, 22, at: t)
                stock.value = reserved
            }
            await inventory.flush()
            let (stockRecord, stockSpan) = try #require(stock.value)
            let paid = Captured<(Record, SpanRefHex)>()
            let charge = await payment.process(stockRecord, topic: "stock.reserved", 40, 70, at: t) { span in
                // The record timestamp (ms) measures this wait instead of the producer's end.
                span.attributes["messaging.kafka.message.timestamp"] = Int64(t.at(25) / Timeline.ms)
                let payments = await payment.send("payments", 60, 61, at: t)
                paid.value = payments
            }
            await payment.flush()
            let (paymentsRecord, paymentsSpan) = try #require(paid.value)
            let notify = await notification.process(paymentsRecord, topic: "payments", 100, 120, at: t)
            await notification.flush()
            let spans = [sent, reserve, stockSpan, charge, paymentsSpan, notify]

            let summary = try #require(try await finalized(collector, "correlation_id=order-21").only)
            #expect(summary["chainID"] as? String == sent.traceID)
            #expect(summary["status"] as? String == "complete")
            #expect(summary["revision"] as? Int == 1)
            #expect(summary["rootService"] as? String == "order")
            #expect(summary["rootOperation"] as? String == "send orders")
            #expect(summary["startTimeUnixNano"] as? Int == Int(t.at(0)))
            #expect(summary["endTimeUnixNano"] as? Int == Int(t.at(120)))
            #expect(summary["endToEndNanos"] as? Int == 120 * ms)
            #expect(summary["spanCount"] as? Int == 6)
            #expect(summary["hopCount"] as? Int == 3)
            #expect(summary["traceIDs"] as? [String] == Set(spans.map(\.traceID)).sorted())
            #expect((summary["traceIDs"] as? [String])?.count == 4)
            #expect(counts(summary) == [0, 0, 0, 0, 0, 0])

            let chain = try await detail(collector, notify.traceID)  // any trace ID of the chain finds it
            #expect(chain["chainID"] as? String == sent.traceID)
            #expect(hopShapes(chain) == [
                HopShape("orders", "order", sent, [Delivered(reserve, "inventory", wait: 7 * ms)]),
                HopShape("stock.reserved", "inventory", stockSpan, [Delivered(charge, "payment", wait: 15 * ms)]),
                HopShape("payments", "payment", paymentsSpan, [Delivered(notify, "notification", wait: 39 * ms)]),
            ])
            let first = try #require((chain["hops"] as? [[String: Any]])?.first)
            #expect(first["partition"] as? Int == 2)
            #expect(first["offset"] as? Int == 41)
            #expect(chain["criticalPath"] as? [Int] == [0, 1, 2])
            #expect((chain["missing"] as? [Any])?.isEmpty == true)
            // Every span carries the correlation ID the helpers moved through the headers.
            #expect(conversationIDs(chain) == Array(repeating: "order-21", count: 6))
            for service in ["order", "inventory", "payment", "notification"] {
                #expect(try await listed(collector, "service=\(service)") == [sent.traceID])
            }

            // The stitched Zipkin export: one tree under the first producer.
            let exported = try await stitchedExport(sink, count: spans.count)
            #expect(Set(exported.keys) == Set(spans.map(\.spanID)))
            #expect(Set(exported.values.compactMap { $0["traceId"] as? String }) == [sent.traceID])
            #expect(exported[sent.spanID]?["parentId"] == nil)
            #expect([reserve, stockSpan, charge, paymentsSpan, notify].map { exported[$0.spanID]?["parentId"] as? String } == [
                sent.spanID, reserve.spanID, stockSpan.spanID, charge.spanID, paymentsSpan.spanID,
            ])
            for service in [order, inventory, payment, notification] { await service.shutdown() }
        }
    }

    @Test func fanOutToTwoGroupsAndTwoChainsSharingACorrelationID() async throws {
        try await withCollector(Self.shortWindows) { collector in
            let checkout = SDKService("checkout", otlp: collector.otlp)
            let shipping = SDKService("shipping", otlp: collector.otlp)
            let analytics = SDKService("analytics", otlp: collector.otlp)
            let t = self.t
            // One business transaction, two messages each starting a trace of its own.
            let (placed, first) = await checkout.send("orders", 0, 2, at: t, correlationID: "order-11")
            await checkout.flush()
            let shipped = await shipping.process(placed, topic: "orders", 12, 20, at: t)
            await shipping.flush()
            let counted = await analytics.process(placed, topic: "orders", 32, 50, at: t)
            await analytics.flush()
            let (amended, second) = await checkout.send("orders", 1000, 1002, at: t, correlationID: "order-11")
            await checkout.flush()
            let shippedAgain = await shipping.process(amended, topic: "orders", 1003, 1010, at: t)
            await shipping.flush()
            #expect(first.traceID != second.traceID)

            let chains = try await finalized(collector, "correlation_id=order-11") { $0.count == 2 }
            // Newest start first.
            #expect(chains.map { $0["chainID"] as? String } == [second.traceID, first.traceID])
            #expect(chains.map { $0["endToEndNanos"] as? Int } == [10 * ms, 50 * ms])
            #expect(chains.map { $0["fanOutHops"] as? Int } == [0, 1])
            #expect(chains.map { $0["status"] as? String } == ["complete", "complete"])
            let fanOut = try await detail(collector, first.traceID)
            #expect((fanOut["hops"] as? [[String: Any]])?.first?["fanOut"] as? Bool == true)
            #expect(hopShapes(fanOut) == [
                HopShape("orders", "checkout", first, [
                    Delivered(shipped, "shipping", wait: 10 * ms), Delivered(counted, "analytics", wait: 30 * ms),
                ])
            ])
            let single = try await detail(collector, second.traceID)
            #expect(hopShapes(single) == [HopShape("orders", "checkout", second, [Delivered(shippedAgain, "shipping", wait: 1 * ms)])])
            // The consumers' spans carry the ID too: they read it from the message headers.
            #expect(conversationIDs(fanOut) == ["order-11", "order-11", "order-11"])
            #expect(conversationIDs(single) == ["order-11", "order-11"])
            #expect(try await listed(collector, "service=analytics") == [first.traceID])
            for service in [checkout, shipping, analytics] { await service.shutdown() }
        }
    }

    @Test func retriedMessageIsNumberedPerGroup() async throws {
        try await withCollector(Self.shortWindows) { collector in
            let checkout = SDKService("checkout", otlp: collector.otlp)
            let billing = SDKService("billing", otlp: collector.otlp)
            let audit = SDKService("audit", otlp: collector.otlp)
            let t = self.t
            let (invoice, sent) = await checkout.send("invoices", 0, 2, at: t, correlationID: "order-22", messageID: "m-77")
            await checkout.flush()
            let failed = await billing.process(invoice, topic: "invoices", 5, 9, at: t, messageID: "m-77") { _ in throw ProcessingFailed() }
            await billing.flush()
            let audited = await audit.process(invoice, topic: "invoices", 6, 8, at: t, messageID: "m-77")
            await audit.flush()
            let retried = await billing.process(invoice, topic: "invoices", 1000, 1004, at: t, messageID: "m-77")
            await billing.flush()

            let summary = try #require(try await finalized(collector, "correlation_id=order-22").only)
            #expect(summary["chainID"] as? String == sent.traceID)
            #expect(summary["status"] as? String == "has_errors")
            #expect([summary["retries"], summary["errorCount"], summary["hopCount"], summary["spanCount"]].map { $0 as? Int } == [1, 1, 1, 4])
            #expect(summary["endToEndNanos"] as? Int == 1004 * ms)
            let chain = try await detail(collector, sent.traceID)
            let hop = try #require((chain["hops"] as? [[String: Any]])?.first)
            #expect(hop["messageID"] as? String == "m-77")
            #expect(hop["retries"] as? Int == 1)
            #expect(hop["errorCount"] as? Int == 1)
            #expect(hop["fanOut"] as? Bool == true)
            // The retry is the second attempt of group billing only.
            #expect(hopShapes(chain) == [
                HopShape("invoices", "checkout", sent, [
                    Delivered(failed, "billing", wait: 3 * ms, error: true),
                    Delivered(audited, "audit", wait: 4 * ms),
                    Delivered(retried, "billing", wait: 998 * ms, attempt: 2),
                ])
            ])
            for service in [checkout, billing, audit] { await service.shutdown() }
        }
    }

    @Test func messageRepublishedWithItsIDIsTheNextAttempt() async throws {
        try await withCollector(Self.shortWindows) { collector in
            let checkout = SDKService("checkout", otlp: collector.otlp)
            let billing = SDKService("billing", otlp: collector.otlp)
            let t = self.t
            let (invoice, first) = await checkout.send("invoices", 0, 2, at: t, correlationID: "order-32", messageID: "m-78")
            await checkout.flush()
            let resent = Captured<(Record, SpanRefHex)>()
            let refused = await billing.process(invoice, topic: "invoices", 5, 9, at: t, messageID: "m-78") { _ in
                // The handler puts the message back on its topic, then fails.
                let again = await billing.send("invoices", 9, 10, at: t, messageID: "m-78")
                resent.value = again
                throw ProcessingFailed()
            }
            await billing.flush()
            let (again, againSpan) = try #require(resent.value)
            let accepted = await billing.process(again, topic: "invoices", 20, 25, at: t, messageID: "m-78")
            await billing.flush()

            let summary = try #require(try await finalized(collector, "correlation_id=order-32").only)
            #expect(summary["status"] as? String == "has_errors")
            #expect([summary["retries"], summary["hopCount"], summary["endToEndNanos"]].map { $0 as? Int } == [1, 2, 25 * ms])
            #expect(hopShapes(try await detail(collector, first.traceID)) == [
                HopShape("invoices", "checkout", first, [Delivered(refused, "billing", wait: 3 * ms, error: true)]),
                HopShape("invoices", "billing", againSpan, [Delivered(accepted, "billing", wait: 10 * ms, attempt: 2)]),
            ])
            for service in [checkout, billing] { await service.shutdown() }
        }
    }

    @Test func deadLetteredMessageByTopicName() async throws {
        try await withCollector(Self.shortWindows) { collector in
            let checkout = SDKService("checkout", otlp: collector.otlp)
            let payment = SDKService("payment", otlp: collector.otlp)
            let inspector = SDKService("inspector", otlp: collector.otlp)
            let t = self.t
            let (order, sent) = await checkout.send("orders", 0, 1, at: t, correlationID: "order-23")
            await checkout.flush()
            let parked = Captured<(Record, SpanRefHex)>()
            let failed = await payment.process(order, topic: "orders", 4, 10, at: t) { _ in
                let dead = await payment.send("orders.dlq", 8, 9, at: t)
                parked.value = dead
                throw ProcessingFailed()
            }
            await payment.flush()
            let (deadLetter, parkedSpan) = try #require(parked.value)
            let inspected = await inspector.process(deadLetter, topic: "orders.dlq", 30, 31, at: t)
            await inspector.flush()

            let summary = try #require(try await finalized(collector, "correlation_id=order-23").only)
            #expect(summary["status"] as? String == "has_dead_letters")
            #expect([summary["deadLetterHops"], summary["errorCount"], summary["hopCount"], summary["missingCount"]].map { $0 as? Int } == [1, 1, 2, 0])
            #expect(summary["endToEndNanos"] as? Int == 31 * ms)
            let chain = try await detail(collector, sent.traceID)
            #expect(hopShapes(chain) == [
                HopShape("orders", "checkout", sent, [Delivered(failed, "payment", wait: 3 * ms, error: true)]),
                HopShape("orders.dlq", "payment", parkedSpan, [Delivered(inspected, "inspector", wait: 21 * ms)]),
            ])
            #expect((chain["hops"] as? [[String: Any]])?.map { $0["deadLetter"] as? Bool } == [false, true])
            #expect(try await listed(collector, "status=has_dead_letters&correlation_id=order-23") == [sent.traceID])
            for service in [checkout, payment, inspector] { await service.shutdown() }
        }
    }

    @Test func deadLetteredMessageByAttribute() async throws {
        try await withCollector(Self.shortWindows) { collector in
            let checkout = SDKService("checkout", otlp: collector.otlp)
            let payment = SDKService("payment", otlp: collector.otlp)
            let inspector = SDKService("inspector", otlp: collector.otlp)
            let t = self.t
            let (order, sent) = await checkout.send("orders", 100, 101, at: t, correlationID: "order-24")
            await checkout.flush()
            let parked = Captured<(Record, SpanRefHex)>()
            let failed = await payment.process(order, topic: "orders", 102, 103, at: t) { _ in
                // A topic whose name says nothing; the producer span says it is a dead letter.
                let dead = await payment.send("orders-parking", 103, 104, at: t) { $0.attributes["causeway.dead_letter"] = true }
                parked.value = dead
                throw ProcessingFailed()
            }
            await payment.flush()
            let (deadLetter, parkedSpan) = try #require(parked.value)
            let inspected = await inspector.process(deadLetter, topic: "orders-parking", 110, 111, at: t)
            await inspector.flush()

            let summary = try #require(try await finalized(collector, "correlation_id=order-24").only)
            #expect(summary["status"] as? String == "has_dead_letters")
            #expect(summary["deadLetterHops"] as? Int == 1)
            #expect(summary["endToEndNanos"] as? Int == 11 * ms)
            let chain = try await detail(collector, sent.traceID)
            #expect(hopShapes(chain) == [
                HopShape("orders", "checkout", sent, [Delivered(failed, "payment", wait: 1 * ms, error: true)]),
                HopShape("orders-parking", "payment", parkedSpan, [Delivered(inspected, "inspector", wait: 6 * ms)]),
            ])
            #expect((chain["hops"] as? [[String: Any]])?.map { $0["deadLetter"] as? Bool } == [false, true])
            for service in [checkout, payment, inspector] { await service.shutdown() }
        }
    }

    @Test func duplicateSkippedIsNeitherARetryNorAnAttempt() async throws {
        try await withCollector(Self.shortWindows) { collector in
            let checkout = SDKService("checkout", otlp: collector.otlp)
            let shipping = SDKService("shipping", otlp: collector.otlp)
            let t = self.t
            let (order, sent) = await checkout.send("orders", 0, 2, at: t, correlationID: "order-25", messageID: "m-5")
            await checkout.flush()
            let processed = await shipping.process(order, topic: "orders", 6, 20, at: t, messageID: "m-5")
            let skipped = await shipping.process(order, topic: "orders", 50, 51, at: t, messageID: "m-5") { span in
                // What an idempotent handler records when it has seen the message before.
                span.addEvent(SpanEvent(name: "duplicate_skipped", at: ScriptedInstant(nanosecondsSinceEpoch: t.at(50) + 500_000)))
            }
            await shipping.flush()

            let summary = try #require(try await finalized(collector, "correlation_id=order-25").only)
            #expect(summary["status"] as? String == "complete")
            #expect([summary["duplicatesSkipped"], summary["retries"], summary["errorCount"], summary["hopCount"]].map { $0 as? Int } == [1, 0, 0, 1])
            #expect(summary["endToEndNanos"] as? Int == 51 * ms)
            let chain = try await detail(collector, sent.traceID)
            let hop = try #require((chain["hops"] as? [[String: Any]])?.first)
            #expect([hop["duplicatesSkipped"], hop["retries"]].map { $0 as? Int } == [1, 0])
            #expect(hop["fanOut"] as? Bool == false)
            #expect(hopShapes(chain) == [
                HopShape("orders", "checkout", sent, [
                    Delivered(processed, "shipping", wait: 4 * ms),
                    Delivered(skipped, "shipping", wait: 48 * ms, attempt: 0, duplicate: true),
                ])
            ])
            for service in [checkout, shipping] { await service.shutdown() }
        }
    }

    @Test func messageNobodyProcessesWithinTheWindowIsMissing() async throws {
        try await withCollector(Self.shortWindows) { collector in
            let checkout = SDKService("checkout", otlp: collector.otlp)
            let inventory = SDKService("inventory", otlp: collector.otlp)
            let auditor = SDKService("auditor", otlp: collector.otlp)
            // The 3 s unconsumed window runs on the collector's clock from the producer's end.
            let t = Timeline.now
            let (order, sent) = await checkout.send("orders", 0, 1, at: t, correlationID: "order-26")
            await checkout.flush()
            let lost = Captured<SpanRefHex>()
            let reserve = await inventory.process(order, topic: "orders", 3, 8, at: t) { _ in
                let (_, span) = await inventory.send("payments", 5, 6, at: t)
                lost.value = span
            }
            await inventory.flush()
            let lostSpan = try #require(lost.value)
            // Nobody is expected to consume audit.* topics.
            let (_, unread) = await auditor.send("audit.events", 0, 1, at: t, correlationID: "audit-1")
            await auditor.flush()

            let waiting = try await chains(collector, "correlation_id=order-26", open: true) { !$0.isEmpty }
            #expect(waiting.first?["status"] as? String == "in_progress")
            #expect(waiting.first?["missingCount"] as? Int == 0)

            let summary = try #require(try await finalized(collector, "correlation_id=order-26").only)
            #expect(summary["status"] as? String == "has_missing_hops")
            #expect([summary["missingCount"], summary["hopCount"], summary["endToEndNanos"]].map { $0 as? Int } == [1, 2, 8 * ms])
            let chain = try await detail(collector, sent.traceID)
            let missing = try #require(chain["missing"] as? [[String: Any]])
            #expect(missing.count == 1)
            #expect(missing.first?["kind"] as? String == "unconsumed_message")
            #expect(missing.first?["topic"] as? String == "payments")
            #expect(missing.first?["producer"] as? [String: String] == lostSpan.json)
            #expect(hopShapes(chain) == [
                HopShape("orders", "checkout", sent, [Delivered(reserve, "inventory", wait: 2 * ms)]),
                HopShape("payments", "inventory", lostSpan, []),
            ])

            let audit = try #require(try await finalized(collector, "correlation_id=audit-1").only)
            #expect(audit["chainID"] as? String == unread.traceID)
            #expect(audit["status"] as? String == "complete")
            #expect([audit["missingCount"], audit["hopCount"]].map { $0 as? Int } == [0, 1])
            for service in [checkout, inventory, auditor] { await service.shutdown() }
        }
    }

    @Test func consumerOfAMessageFromAnUntracedProducerHasAnOrphanLink() async throws {
        try await withCollector(Self.shortWindows) { collector in
            let billing = SDKService("billing", otlp: collector.otlp)
            let t = self.t
            // Headers as an uninstrumented producer's library would write them; its span never arrives.
            let message = Record([
                "traceparent": "00-00000000000000000000000000005eed-000000000000feed-01", "correlation-id": "invoice-3",
            ])
            let consumer = await billing.process(message, topic: "invoices", 0, 7, at: t)
            await billing.flush()

            let summary = try #require(try await finalized(collector, "correlation_id=invoice-3").only)
            #expect(summary["chainID"] as? String == consumer.traceID)
            #expect(summary["status"] as? String == "has_missing_hops")
            #expect(summary["missingCount"] as? Int == 1)
            let chain = try await detail(collector, consumer.traceID)
            let missing = try #require((chain["missing"] as? [[String: Any]])?.first)
            #expect(missing["kind"] as? String == "orphan_link")
            #expect(missing["consumer"] as? [String: String] == consumer.json)
            #expect(missing["target"] as? [String: String] == ["traceID": "00000000000000000000000000005eed", "spanID": "000000000000feed"])
            await billing.shutdown()
        }
    }

    @Test func chainCrossingAnHTTPCall() async throws {
        try await withCollector(Self.shortWindows) { collector in
            let order = SDKService("order", otlp: collector.otlp)
            let inventory = SDKService("inventory", otlp: collector.otlp)
            let pricing = SDKService("pricing", otlp: collector.otlp)
            let notification = SDKService("notification", otlp: collector.otlp)
            let t = self.t

            // pricing: a Hummingbird service traced by EventTracingMiddleware that publishes
            // the price it computed.
            let published = Captured<(Record, SpanRefHex)>()
            let serverSpan = Captured<SpanRefHex>()
            let router = Router()
            router.add(middleware: EventTracingMiddleware(tracer: pricing.tracer))
            router.post("/prices") { _, _ -> String in
                serverSpan.value = ServiceContext.current?.spanContext.map { SpanRefHex($0) }
                let priced = await pricing.send("prices", 20, 22, at: t)
                published.value = priced
                return "42"
            }
            try await withPricingServer(router) { port in
                let (placed, sent) = await order.send("orders", 0, 2, at: t, correlationID: "order-29")
                await order.flush()
                var configuration = HTTPClient.Configuration()
                configuration.disableBuiltInTracing()
                let client = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
                let status = Captured<UInt>()
                let reserve = await inventory.process(placed, topic: "orders", 6, 40, at: t) { _ in
                    inventory.tracer.plan("POST", start: t.at(10), end: t.at(30))
                    pricing.tracer.plan("POST", start: t.at(12), end: t.at(28))
                    var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)/prices")
                    request.method = .POST
                    let response = try await client.executeInClientSpan(request, timeout: .seconds(30), tracer: inventory.tracer)
                    _ = try await response.body.collect(upTo: 1 << 16)
                    status.value = response.status.code
                }
                try await client.shutdown()
                #expect(status.value == 200)
                await inventory.flush()
                await pricing.flush()
                let (prices, priced) = try #require(published.value)
                let notify = await notification.process(prices, topic: "prices", 50, 55, at: t)
                await notification.flush()
                let served = try #require(serverSpan.value)
                #expect(served.traceID == reserve.traceID)  // the HTTP call propagates the trace

                let summary = try #require(try await finalized(collector, "correlation_id=order-29").only)
                #expect(summary["chainID"] as? String == sent.traceID)
                #expect(summary["status"] as? String == "complete")
                #expect([summary["spanCount"], summary["hopCount"], summary["endToEndNanos"]].map { $0 as? Int } == [6, 2, 55 * ms])
                #expect(summary["traceIDs"] as? [String] == Set([sent.traceID, reserve.traceID, notify.traceID]).sorted())
                let chain = try await detail(collector, sent.traceID)
                #expect(hopShapes(chain) == [
                    HopShape("orders", "order", sent, [Delivered(reserve, "inventory", wait: 4 * ms)]),
                    HopShape("prices", "pricing", priced, [Delivered(notify, "notification", wait: 28 * ms)]),
                ])
                #expect(chain["criticalPath"] as? [Int] == [0, 1])
                #expect((chain["missing"] as? [Any])?.isEmpty == true)
                // By start: the HTTP client and server spans have no messaging attributes, but the
                // correlation ID crossed the call in its headers and reached the prices message.
                #expect(conversationIDs(chain) == ["order-29", "order-29", nil, nil, "order-29", "order-29"])
                #expect(try await listed(collector, "service=pricing") == [sent.traceID])
            }
            for service in [order, inventory, pricing, notification] { await service.shutdown() }
        }
    }

    @Test func spansArrivingConsumersFirstFormTheSameChain() async throws {
        try await withCollector(Self.shortWindows) { collector in
            let order = SDKService("order", otlp: collector.otlp)
            let inventory = SDKService("inventory", otlp: collector.otlp)
            let payment = SDKService("payment", otlp: collector.otlp)
            let t = self.t
            let (placed, sent) = await order.send("orders", 0, 1, at: t, correlationID: "order-27")
            let stock = Captured<(Record, SpanRefHex)>()
            let reserve = await inventory.process(placed, topic: "orders", 10, 15, at: t) { _ in
                stock.value = await inventory.send("stock", 12, 13, at: t)
            }
            let (stockRecord, stockSpan) = try #require(stock.value)
            let charge = await payment.process(stockRecord, topic: "stock", 20, 25, at: t)
            // Exported last hop first: each consumer arrives before the producer it links to.
            await payment.flush()
            await inventory.flush()
            await order.flush()

            let summary = try #require(try await finalized(collector, "correlation_id=order-27").only)
            #expect(summary["chainID"] as? String == sent.traceID)
            #expect(summary["status"] as? String == "complete")
            #expect(summary["revision"] as? Int == 1)
            #expect(summary["rootService"] as? String == "order")
            #expect([summary["spanCount"], summary["hopCount"], summary["missingCount"], summary["endToEndNanos"]].map { $0 as? Int } == [4, 2, 0, 25 * ms])
            let chain = try await detail(collector, charge.traceID)
            #expect(chain["chainID"] as? String == sent.traceID)
            #expect(hopShapes(chain) == [
                HopShape("orders", "order", sent, [Delivered(reserve, "inventory", wait: 9 * ms)]),
                HopShape("stock", "inventory", stockSpan, [Delivered(charge, "payment", wait: 7 * ms)]),
            ])
            #expect(chain["criticalPath"] as? [Int] == [0, 1])
            for service in [order, inventory, payment] { await service.shutdown() }
        }
    }

    @Test func consumerTenMinutesLateReopensTheFinalizedChain() async throws {
        try await withCollector(Self.shortWindows) { collector in
            let checkout = SDKService("checkout", otlp: collector.otlp)
            let shipping = SDKService("shipping", otlp: collector.otlp)
            let archive = SDKService("archive", otlp: collector.otlp)
            let t = self.t
            let minute: UInt64 = 60_000
            let (placed, sent) = await checkout.send("orders", 0, 2, at: t, correlationID: "order-28")
            let shipped = await shipping.process(placed, topic: "orders", 5, 9, at: t)
            await checkout.flush()
            await shipping.flush()
            let first = try #require(try await finalized(collector, "correlation_id=order-28").only)
            #expect([first["revision"], first["spanCount"], first["endToEndNanos"]].map { $0 as? Int } == [1, 2, 9 * ms])

            // Processed ten minutes after it was sent, arriving after the chain was finalized.
            let archived = await archive.process(placed, topic: "orders", 2 + 10 * minute, 5 + 10 * minute, at: t)
            await archive.flush()
            let second = try #require(try await finalized(collector, "correlation_id=order-28") { $0.first?["revision"] as? Int == 2 }.only)
            #expect(second["chainID"] as? String == sent.traceID)
            #expect([second["spanCount"], second["hopCount"], second["fanOutHops"]].map { $0 as? Int } == [3, 1, 1])
            #expect(second["status"] as? String == "complete")
            #expect(second["endToEndNanos"] as? Int == Int(10 * minute) * ms + 5 * ms)
            #expect(hopShapes(try await detail(collector, archived.traceID)) == [
                HopShape("orders", "checkout", sent, [
                    Delivered(shipped, "shipping", wait: 3 * ms), Delivered(archived, "archive", wait: Int(10 * minute) * ms),
                ])
            ])
            for service in [checkout, shipping, archive] { await service.shutdown() }
        }
    }

    // MARK: Reading the API

    struct Delivered: Equatable, CustomStringConvertible {
        var span: String
        var service: String
        var group: String
        var wait: Int?
        var attempt: Int
        var error: Bool
        var duplicate: Bool

        /// A delivery to `service`'s own consumer group.
        init(_ span: SpanRefHex, _ service: String, wait: Int, attempt: Int = 1, error: Bool = false, duplicate: Bool = false) {
            self.span = span.spanID
            self.service = service
            self.group = service
            self.wait = wait
            self.attempt = attempt
            self.error = error
            self.duplicate = duplicate
        }

        init(json: [String: Any]) {
            span = json["spanID"] as? String ?? "?"
            service = json["service"] as? String ?? "?"
            group = json["consumerGroup"] as? String ?? "?"
            wait = json["queueWaitNanos"] as? Int
            attempt = json["attempt"] as? Int ?? -1
            error = json["error"] as? Bool ?? false
            duplicate = json["duplicateSkipped"] as? Bool ?? false
        }

        var description: String {
            "\(service)/\(group) \(span) wait \(wait.map(String.init) ?? "nil") attempt \(attempt)\(error ? " error" : "")\(duplicate ? " duplicate" : "")"
        }
    }

    /// Who sent what to whom, and how long each delivery waited.
    struct HopShape: Equatable, CustomStringConvertible {
        var topic: String
        var producerService: String
        var producerSpan: String
        var deliveries: [Delivered]

        init(_ topic: String, _ producerService: String, _ producer: SpanRefHex, _ deliveries: [Delivered]) {
            self.topic = topic
            self.producerService = producerService
            self.producerSpan = producer.spanID
            self.deliveries = deliveries
        }

        init(json: [String: Any]) {
            topic = json["topic"] as? String ?? "?"
            let producer = json["producer"] as? [String: Any] ?? [:]
            producerService = producer["service"] as? String ?? "?"
            producerSpan = producer["spanID"] as? String ?? "?"
            deliveries = (json["deliveries"] as? [[String: Any]] ?? []).map(Delivered.init(json:))
        }

        var description: String { "\(topic) from \(producerService) \(producerSpan): \(deliveries)" }
    }

    func hopShapes(_ chain: [String: Any]) -> [HopShape] {
        (chain["hops"] as? [[String: Any]] ?? []).map(HopShape.init(json:))
    }

    /// errorCount, missingCount, fanOutHops, retries, deadLetterHops, duplicatesSkipped.
    func counts(_ summary: [String: Any]) -> [Int?] {
        ["errorCount", "missingCount", "fanOutHops", "retries", "deadLetterHops", "duplicatesSkipped"].map { summary[$0] as? Int }
    }

    /// `messaging.message.conversation_id` of every span of the chain, in the stored order.
    func conversationIDs(_ chain: [String: Any]) -> [String?] {
        let resourceSpans = (chain["spans"] as? [String: Any])?["resourceSpans"] as? [[String: Any]] ?? []
        let spans = resourceSpans.flatMap { ($0["scopeSpans"] as? [[String: Any]] ?? []).flatMap { $0["spans"] as? [[String: Any]] ?? [] } }
        return spans.map { span in
            let attributes = span["attributes"] as? [[String: Any]] ?? []
            let found = attributes.first { $0["key"] as? String == "messaging.message.conversation_id" }
            return (found?["value"] as? [String: Any])?["stringValue"] as? String
        }
    }

    func get(_ collector: CollectorUnderTest, _ path: String) async throws -> Reply {
        try await fetchReply(.GET, collector.http + path)
    }

    /// The chains listed for `query` once `ready` holds and, unless `open`, none is open.
    func chains(
        _ collector: CollectorUnderTest, _ query: String, open: Bool = false, until ready: @escaping ([[String: Any]]) -> Bool
    ) async throws -> [[String: Any]] {
        try await eventually { () async throws -> [[String: Any]]? in
            let data = try await get(collector, "/api/chains?" + query).json()["data"] as? [[String: Any]] ?? []
            let settled = open || data.allSatisfy { $0["open"] as? Bool == false }
            return settled && ready(data) ? data : nil
        }
    }

    func finalized(
        _ collector: CollectorUnderTest, _ query: String, until ready: @escaping ([[String: Any]]) -> Bool = { !$0.isEmpty }
    ) async throws -> [[String: Any]] {
        try await chains(collector, query, until: ready)
    }

    func listed(_ collector: CollectorUnderTest, _ query: String) async throws -> [String] {
        (try await get(collector, "/api/chains?" + query).json()["data"] as? [[String: Any]] ?? []).compactMap { $0["chainID"] as? String }
    }

    func detail(_ collector: CollectorUnderTest, _ id: String) async throws -> [String: Any] {
        let reply = try await get(collector, "/api/chains/\(id)")
        #expect(reply.status == 200)
        return try #require((try reply.json()["data"] as? [[String: Any]])?.first)
    }

    /// The Zipkin spans the stitched exporter sent, by span ID, once `count` arrived.
    func stitchedExport(_ sink: HTTPSink, count: Int) async throws -> [String: [String: Any]] {
        var spans: [[String: Any]] = []
        try await waitUntil {
            let bodies = sink.requests.compactMap { try? JSONSerialization.jsonObject(with: Data($0.body)) as? [[String: Any]] }
            return bodies.joined().count >= count
        }
        for request in sink.requests {
            spans += try #require(try JSONSerialization.jsonObject(with: Data(request.body)) as? [[String: Any]])
        }
        // A span sent again (moved by a re-finalization) counts as last sent.
        return Dictionary(spans.map { ($0["id"] as? String ?? "?", $0) }, uniquingKeysWith: { _, later in later })
    }

    /// A Hummingbird server on a free port of 127.0.0.1 for the duration of `body`.
    func withPricingServer(_ router: Router<BasicRequestContext>, _ body: (_ port: Int) async throws -> Void) async throws {
        let (ports, continuation) = AsyncStream<Int>.makeStream()
        let app = Application(
            router: router,
            configuration: .init(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { channel in
                continuation.yield(channel.localAddress?.port ?? 0)
                continuation.finish()
            },
            logger: quietLogger
        )
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await app.run() }
            defer { group.cancelAll() }
            var iterator = ports.makeAsyncIterator()
            try await body(try #require(await iterator.next()))
        }
    }
}

extension Array {
    /// The one element, or nil when there are none or several.
    fileprivate var only: Element? { count == 1 ? first : nil }
}
