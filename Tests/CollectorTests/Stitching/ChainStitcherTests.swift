import Telemetry
import Testing

@testable import Collector

private typealias F = Fixture

@Suite struct ChainStitcherScenarios {
    @Test func linearFourHopChainHasExactHopsWaitsAndEndToEnd() throws {
        let chains = F.stitch(F.linearChain())
        let chain = try #require(chains.first)
        #expect(chains.count == 1)
        #expect(chain.id == ChainID(F.trace(1)))
        #expect(chain.status == .complete)
        #expect(chain.spans.count == 9)
        #expect(chain.traceIDs == (1...5).map { F.trace($0) })
        #expect(chain.endToEndNanos == 130 * F.ms)
        #expect(chain.hops.map(\.topic) == ["orders", "inventory.reserved", "payments", "notifications"])
        #expect(chain.hops.map(\.producerService) == ["order", "inventory", "payment", "notification"])
        #expect(chain.hops.map { $0.deliveries.map(\.service) } == [["inventory"], ["payment"], ["notification"], ["audit"]])
        #expect(chain.hops.map { $0.deliveries.map(\.queueWaitNanos) } == [[10 * 1_000_000], [5_000_000], [5_000_000], [5_000_000]])
        #expect(chain.hops[0].messageID == "m-1")
        #expect(chain.criticalPath == [0, 1, 2, 3])
        #expect(chain.rootService == "order")
        #expect(chain.rootOperation == "POST /orders")
        #expect(chain.missing.isEmpty)
        #expect(chain.revision == 1)
    }

    @Test func fanOutToTwoGroupsIsOneHopWithTwoGroups() throws {
        let chain = try #require(F.stitch([
            F.request("order", [F.span(1, 1, "orders send", kind: .producer, 0, 10, topic: "orders")]),
            F.request("inventory", [F.span(2, 2, "orders process", kind: .consumer, 20, 30, topic: "orders",
                                           group: "inventory", linksTo: [(1, 1)])]),
            F.request("analytics", [F.span(3, 3, "orders process", kind: .consumer, 40, 50, topic: "orders",
                                           group: "analytics", linksTo: [(1, 1)])]),
        ]).first)
        #expect(chain.hops.count == 1)
        #expect(chain.hops[0].isFanOut)
        #expect(chain.hops[0].consumerGroupCount == 2)
        #expect(chain.fanOutHops == 1)
        #expect(chain.hops[0].deliveries.map(\.queueWaitNanos) == [10 * 1_000_000, 30 * 1_000_000])
        #expect(chain.hops[0].deliveries.map(\.attempt) == [1, 1])
        #expect(chain.retries == 0)
        #expect(chain.endToEndNanos == 50 * F.ms)
        #expect(chain.status == .complete)
    }

    @Test func retriedMessageCountsOneRetryAndTheFailedAttempt() throws {
        let chain = try #require(F.stitch([
            F.request("order", [F.span(1, 1, "orders send", kind: .producer, 0, 10, topic: "orders", messageID: "m-7")]),
            F.request("payment", [
                F.span(2, 2, "orders process", kind: .consumer, 20, 30, topic: "orders", group: "payment",
                       messageID: "m-7", linksTo: [(1, 1)], error: true),
                F.span(3, 3, "orders process", kind: .consumer, 100, 130, topic: "orders", group: "payment",
                       messageID: "m-7", linksTo: [(1, 1)]),
            ]),
        ]).first)
        #expect(chain.hops.count == 1)
        #expect(chain.hops[0].deliveries.map(\.attempt) == [1, 2])
        #expect(chain.hops[0].deliveries.map(\.isError) == [true, false])
        #expect(chain.hops[0].deliveries.map(\.queueWaitNanos) == [10 * 1_000_000, 90 * 1_000_000])
        #expect(chain.retries == 1)
        #expect(chain.hops[0].errorCount == 1)
        #expect(chain.errorCount == 1)
        #expect(chain.hops[0].isFanOut == false)
        #expect(chain.status == .hasErrors)
        #expect(chain.endToEndNanos == 130 * F.ms)
    }

    @Test func deadLetteredMessageMarksTheDLQHop() throws {
        let chain = try #require(F.stitch([
            F.request("order", [F.span(1, 1, "orders send", kind: .producer, 0, 10, topic: "orders")]),
            F.request("payment", [
                F.span(2, 2, "orders process", kind: .consumer, 20, 40, topic: "orders", group: "payment",
                       linksTo: [(1, 1)], error: true),
                F.span(2, 3, parent: 2, "orders.DLQ send", kind: .producer, 30, 35, topic: "orders.DLQ"),
            ]),
            F.request("dlq-handler", [F.span(3, 4, "orders.DLQ process", kind: .consumer, 50, 60,
                                             topic: "orders.DLQ", group: "dlq", linksTo: [(2, 3)])]),
        ]).first)
        #expect(chain.hops.map(\.topic) == ["orders", "orders.DLQ"])
        #expect(chain.hops.map(\.isDeadLetter) == [false, true])
        #expect(chain.deadLetterHops == 1)
        #expect(chain.hops[1].deliveries.map(\.queueWaitNanos) == [15 * 1_000_000])
        #expect(chain.status == .hasDeadLetters)
        #expect(chain.errorCount == 1)
    }

    @Test func deadLetterAttributeMarksAHopOnAnyTopic() throws {
        let chain = try #require(F.stitch([
            F.request("order", [F.span(1, 1, "parking send", kind: .producer, 0, 10, topic: "parking-lot",
                                       attributes: [KeyValue("causeway.dead_letter", true)])]),
            F.request("ops", [F.span(2, 2, "parking process", kind: .consumer, 20, 30, topic: "parking-lot",
                                     group: "ops", linksTo: [(1, 1)])]),
        ]).first)
        #expect(chain.hops.map(\.isDeadLetter) == [true])
        #expect(chain.status == .hasDeadLetters)
    }

    @Test func duplicateSkippedIsCountedAndIsNotARetry() throws {
        let chain = try #require(F.stitch([
            F.request("order", [F.span(1, 1, "orders send", kind: .producer, 0, 10, topic: "orders", messageID: "m-9")]),
            F.request("inventory", [
                F.span(2, 2, "orders process", kind: .consumer, 20, 30, topic: "orders", group: "inventory",
                       messageID: "m-9", linksTo: [(1, 1)]),
                F.span(3, 3, "orders process", kind: .consumer, 50, 52, topic: "orders", group: "inventory",
                       messageID: "m-9", linksTo: [(1, 1)], events: ["duplicate_skipped"]),
            ]),
        ]).first)
        #expect(chain.duplicatesSkipped == 1)
        #expect(chain.hops[0].deliveries.map(\.duplicateSkipped) == [false, true])
        #expect(chain.hops[0].deliveries.map(\.attempt) == [1, 0])
        #expect(chain.retries == 0)
        #expect(chain.status == .complete)
    }

    @Test func lostMessageIsMissingOnlyAfterItsConsumeWindow() throws {
        var stitcher = ChainStitcher()
        _ = stitcher.ingest(
            F.request("order", [F.span(1, 1, "orders send", kind: .producer, 0, 10, topic: "orders")]), now: F.at(200))
        // Idle, but the message's 60 s window is still running: the chain waits.
        #expect(stitcher.finalizeIdle(now: F.at(200) + 31 * F.second).isEmpty)
        #expect(stitcher.snapshot(chainID: ChainID(F.trace(1)))?.status == .inProgress)
        let chain = try #require(stitcher.finalizeIdle(now: F.at(10) + 60 * F.second).first)
        #expect(chain.missing == [.unconsumedMessage(producer: SpanRef(traceID: F.trace(1), spanID: SpanID(1)), topic: "orders")])
        #expect(chain.status == .hasMissingHops)
        #expect(chain.hops.count == 1)
        #expect(chain.hops[0].deliveries.isEmpty)
        // Finalized and retained (the API shows it so until the recorder has stored it):
        // as finalized, not as it was at its last activity, when the message was in its window.
        #expect(stitcher.snapshot(chainID: ChainID(F.trace(1))) == chain)
    }

    @Test func topicWithoutConsumersIsNotReportedMissing() throws {
        var configuration = StitcherConfiguration()
        configuration.topicsWithoutConsumers = ["audit.*"]
        let chain = try #require(F.stitch(
            [F.request("order", [F.span(1, 1, "audit send", kind: .producer, 0, 10, topic: "audit.orders")])],
            configuration: configuration
        ).first)
        #expect(chain.missing.isEmpty)
        #expect(chain.status == .complete)
    }

    @Test func deadLetterNobodyReadsIsADeadLetterNotAMissingHop() throws {
        let chain = try #require(F.stitch([
            F.request("payment", [F.span(1, 1, "orders.dlq send", kind: .producer, 0, 10, topic: "orders.dlq")])
        ]).first)
        #expect(chain.missing.isEmpty)
        #expect(chain.deadLetterHops == 1)
        #expect(chain.status == .hasDeadLetters)
    }

    @Test func perTopicWindowOverridesTheDefault() throws {
        var configuration = StitcherConfiguration()
        configuration.unconsumedWindowByTopic = ["fast": .seconds(5)]
        let chain = try #require(F.stitch(
            [F.request("order", [F.span(1, 1, "fast send", kind: .producer, 0, 10, topic: "fast")])],
            configuration: configuration
        ).first)
        #expect(chain.status == .hasMissingHops)
    }

    @Test func orphanConsumerReportsTheLinkTargetNeverReceived() throws {
        let chain = try #require(F.stitch([
            F.request("inventory", [F.span(2, 2, "orders process", kind: .consumer, 20, 30, topic: "orders",
                                           group: "inventory", linksTo: [(9, 0x99)])])
        ]).first)
        #expect(chain.missing == [.orphanLink(consumer: SpanRef(traceID: F.trace(2), spanID: SpanID(2)),
                                              target: SpanRef(traceID: F.trace(9), spanID: SpanID(0x99)))])
        #expect(chain.hops.count == 1)
        #expect(chain.hops[0].producerReceived == false)
        #expect(chain.hops[0].topic == "orders")
        #expect(chain.hops[0].deliveries.map(\.queueWaitNanos) == [nil])
        #expect(chain.status == .hasMissingHops)
        #expect(chain.spans == [SpanRef(traceID: F.trace(2), spanID: SpanID(2))])
    }

    @Test func spansInReverseOrderGiveTheSameChain() throws {
        let inOrder = try #require(F.stitch(F.linearChain()).first)
        let reversed = F.linearChain().reversed().map { request in
            var request = request
            request.resourceSpans[0].scopeSpans[0].spans.reverse()
            return request
        }
        let outOfOrder = try #require(F.stitch(reversed).first)
        #expect(outOfOrder == inOrder)
    }

    @Test func spanTenMinutesLateReopensAndCompletesTheSameChain() throws {
        var stitcher = ChainStitcher()
        let requests = F.linearChain()
        for request in requests.dropLast() { _ = stitcher.ingest(request, now: F.at(200)) }
        let first = try #require(stitcher.finalizeIdle(now: F.at(200) + 61 * F.second).first)
        #expect(first.status == .hasMissingHops)
        #expect(first.hops.count == 4)
        #expect(first.revision == 1)

        let late = F.at(200) + 600 * F.second
        #expect(stitcher.ingest(requests.last!, now: late).isEmpty)
        #expect(stitcher.counters.chainsReopened == 1)
        #expect(stitcher.snapshot(chainID: ChainID(F.trace(5)))?.isOpen == true)
        let second = try #require(stitcher.finalizeIdle(now: late + 31 * F.second).first)
        #expect(second.id == first.id)
        #expect(second.revision == 2)
        #expect(first.replaces.isEmpty)
        #expect(second.replaces == [EmittedChain(id: first.id, startUnixNano: first.startUnixNano)])
        #expect(second.status == .complete)
        #expect(second.hops.map { $0.deliveries.count } == [1, 1, 1, 1])
        #expect(second.endToEndNanos == 130 * F.ms)
    }

    /// Message IDs are compared by FNV-1a (64-bit) of their UTF-8 bytes, the same in every run.
    @Test func stableHashIsFNV1aOfTheUTF8Bytes() {
        #expect(StableHash.of("a") == 0xaf63_dc4c_8601_ec8c)
        #expect(StableHash.of("foobar") == 0x8594_4171_f739_67e8)
        #expect(StableHash.of("n\u{E9}e-\u{FC}") == 0xd782_dfaf_3923_e9c8)
        #expect(StableHash.of("") == 0xcbf2_9ce4_8422_2325)
    }

    /// A span naming itself as its parent or as a link target (senders' mistakes, or worse)
    /// is a chain of its own, as is a span that names both.
    @Test func aSpanNamingItselfIsAChainOfItsOwn() throws {
        var stitcher = ChainStitcher()
        let spans = [
            F.span(1, 1, parent: 1, "own parent", 0, 10),
            F.span(2, 2, "own link", kind: .consumer, 0, 10, linksTo: [(2, 2)]),
            F.span(3, 3, parent: 3, "both", kind: .consumer, 0, 10, linksTo: [(3, 3)]),
        ]
        for span in spans { _ = stitcher.ingest(F.request("svc", [span]), now: F.at(100)) }
        #expect(stitcher.openChainCount == 3)
        let chains = stitcher.finalizeAll(now: F.at(200))
        #expect(chains.count == 3)
        #expect(chains.allSatisfy { $0.spans.count == 1 })
    }

    /// Spans naming each other at random in a small ID space (themselves, cycles, repeats,
    /// links across traces), in any order, under tight bounds and a short retention: the
    /// stitcher neither traps nor loses count, and holds nothing once all is finalized and
    /// past its retention.
    @Test func randomlyLinkedSpansKeepTheCountsWhole() {
        var configuration = StitcherConfiguration()
        configuration.retention = .seconds(5)
        configuration.maxOpenChains = 20
        configuration.maxOpenSpans = 60
        configuration.maxRetainedSpans = 80
        var stitcher = ChainStitcher(configuration: configuration)
        // Drawn from the FNV-1a of a counter: the same every run, so a failure repeats.
        var draws = 0
        func next() -> UInt64 {
            draws += 1
            return StableHash.of("draw \(draws)")
        }
        func pick(_ range: ClosedRange<UInt64>) -> UInt64 { range.lowerBound + next() % (range.upperBound - range.lowerBound + 1) }
        var now = F.at(0)
        for round in 0..<300 {
            let spans = (0..<pick(1...8)).map { _ in
                F.span(
                    pick(1...4), pick(1...40), parent: next() % 3 == 0 ? nil : pick(1...40), "op", kind: [.producer, .consumer, .internal][Int(next() % 3)],
                    0, 10, topic: "t\(pick(1...3))", messageID: next() % 2 == 0 ? "m\(pick(1...20))" : nil,
                    linksTo: (0..<pick(0...2)).map { _ in (pick(1...4), pick(0...40)) })
            }
            _ = stitcher.ingest(F.request("svc-\(round % 3)", spans), now: now)
            #expect(stitcher.openSpanCount >= 0 && stitcher.retainedSpanCount >= 0)
            now += pick(0...2) * F.second
            if round % 7 == 0 { _ = stitcher.finalizeIdle(now: now) }
        }
        // The paths the test is for were taken.
        let counters = stitcher.counters
        #expect(counters.chainsReopened > 0 && counters.chainsFinalizedEarly > 0 && counters.retainedChainsDroppedEarly > 0)
        #expect(counters.repeatedSpans > 0)
        _ = stitcher.finalizeAll(now: now)
        #expect(stitcher.openChainCount == 0)
        #expect(stitcher.openSpanCount == 0)
        _ = stitcher.finalizeIdle(now: now + 60 * F.second)
        #expect(stitcher.heldSpanCount == 0)
    }

    /// Spans arriving after their parent or the producer they link to join its chain at
    /// once, open or finalized; the counts of open chains, open and retained spans follow,
    /// and are back at zero once the chain is forgotten.
    @Test func spansJoiningAHeldChainAreCountedWithIt() throws {
        var configuration = StitcherConfiguration()
        configuration.retention = .seconds(60)
        var stitcher = ChainStitcher(configuration: configuration)
        let requests = F.linearChain()
        func spans(_ requests: some Sequence<ExportTraceServiceRequest>) -> Int {
            requests.reduce(0) { $0 + $1.resourceSpans.flatMap(\.scopeSpans).reduce(0) { $0 + $1.spans.count } }
        }
        for request in requests.dropLast() { _ = stitcher.ingest(request, now: F.at(200)) }
        #expect(stitcher.openChainCount == 1)
        #expect(stitcher.openSpanCount == spans(requests.dropLast()))
        #expect(stitcher.retainedSpanCount == 0)
        _ = stitcher.finalizeIdle(now: F.at(200) + 61 * F.second)
        #expect(stitcher.openChainCount == 0)
        #expect(stitcher.openSpanCount == 0)
        #expect(stitcher.retainedSpanCount == spans(requests.dropLast()))

        _ = stitcher.ingest(requests.last!, now: F.at(200) + 62 * F.second)
        #expect(stitcher.counters.chainsReopened == 1)
        #expect(stitcher.openChainCount == 1)
        #expect(stitcher.openSpanCount == spans(requests))
        #expect(stitcher.retainedSpanCount == 0)
        let chain = try #require(stitcher.finalizeIdle(now: F.at(200) + 93 * F.second).first)
        #expect(chain.spans.count == spans(requests))
        #expect(stitcher.retainedSpanCount == spans(requests))
        _ = stitcher.finalizeIdle(now: F.at(200) + 200 * F.second)
        #expect(stitcher.heldSpanCount == 0)
        #expect(stitcher.openChainCount == 0)
    }

    @Test func lateRootSupersedesTheChainIDEmittedBefore() throws {
        var stitcher = ChainStitcher()
        let requests = F.linearChain()
        for request in requests.dropFirst() { _ = stitcher.ingest(request, now: F.at(200)) }
        let first = try #require(stitcher.finalizeIdle(now: F.at(200) + 31 * F.second).first)
        #expect(first.id == ChainID(F.trace(2)))
        _ = stitcher.ingest(requests[0], now: F.at(200) + 300 * F.second)
        let second = try #require(stitcher.finalizeIdle(now: F.at(200) + 331 * F.second).first)
        #expect(second.id == ChainID(F.trace(1)))
        #expect(second.supersedes == [ChainID(F.trace(2))])
        #expect(second.replaces == [EmittedChain(id: first.id, startUnixNano: first.startUnixNano)])
        #expect(second.status == .complete)
    }

    @Test func spanLaterThanRetentionStartsANewChain() throws {
        var configuration = StitcherConfiguration()
        configuration.retention = .seconds(60)
        var stitcher = ChainStitcher(configuration: configuration)
        let requests = F.linearChain()
        for request in requests.dropLast() { _ = stitcher.ingest(request, now: F.at(200)) }
        _ = stitcher.finalizeIdle(now: F.at(200) + 61 * F.second)
        _ = stitcher.finalizeIdle(now: F.at(200) + 200 * F.second)
        #expect(stitcher.heldSpanCount == 0)
        _ = stitcher.ingest(requests.last!, now: F.at(200) + 600 * F.second)
        #expect(stitcher.counters.chainsReopened == 0)
        let chain = try #require(stitcher.finalizeIdle(now: F.at(200) + 631 * F.second).first)
        #expect(chain.id == ChainID(F.trace(5)))
        #expect(chain.hops.first?.producerReceived == false)
    }

    @Test func twoChainsOfOneCorrelationIDAreGrouped() throws {
        var stitcher = ChainStitcher()
        _ = stitcher.ingest(F.request("order", [
            F.span(1, 1, "orders send", kind: .producer, 0, 10, topic: "orders",
                   attributes: [KeyValue("messaging.message.conversation_id", "order-42")])
        ]), now: F.at(200))
        _ = stitcher.ingest(F.request("order", [
            F.span(7, 7, "refunds send", kind: .producer, 500, 510, topic: "refunds")
        ], resource: [KeyValue("correlation_id", "order-42")]), now: F.at(600))
        _ = stitcher.ingest(F.request("billing", [
            F.span(8, 8, "unrelated", kind: .server, 0, 10)
        ]), now: F.at(600))
        let grouped = stitcher.chains(correlationID: "order-42")
        #expect(grouped.map(\.id) == [ChainID(F.trace(1)), ChainID(F.trace(7))])
        #expect(grouped.allSatisfy { $0.isOpen && $0.status == .inProgress })
        let finished = stitcher.finalizeIdle(now: F.at(600) + 61 * F.second)
        #expect(finished.filter { $0.correlationID == "order-42" }.count == 2)
    }

    /// A chain absorbed by a larger one hands it its correlation ID; a chain started in a
    /// pool entry freed after retention carries none of the chain that had it.
    @Test func correlationIDFollowsAMergeAndNotAFreedEntry() throws {
        var stitcher = ChainStitcher()
        _ = stitcher.ingest(F.request("order", [
            F.span(1, 1, "orders send", kind: .producer, 0, 10, topic: "orders",
                   attributes: [KeyValue("messaging.message.conversation_id", "order-7")])
        ]), now: F.at(100))
        _ = stitcher.ingest(F.request("billing", [
            F.span(2, 2, "POST /bill", kind: .server, 0, 50), F.span(2, 3, parent: 2, "bill", kind: .internal, 5, 40),
        ]), now: F.at(100))
        #expect(stitcher.chains(correlationID: "order-7").map(\.id) == [ChainID(F.trace(1))])
        _ = stitcher.ingest(F.request("billing", [
            F.span(3, 4, "orders process", kind: .consumer, 20, 30, topic: "orders", group: "billing", linksTo: [(1, 1), (2, 2)])
        ]), now: F.at(200))
        let merged = stitcher.chains(correlationID: "order-7")
        #expect(merged.count == 1)
        #expect(merged.first?.spans.count == 4)
        let finished = stitcher.finalizeIdle(now: F.at(200) + 31 * F.second)
        #expect(finished.map(\.correlationID) == ["order-7"])
        _ = stitcher.finalizeIdle(now: F.at(200) + 1000 * F.second)
        #expect(stitcher.heldSpanCount == 0)
        #expect(stitcher.chains(correlationID: "order-7").isEmpty)
        _ = stitcher.ingest(F.request("audit", [F.span(9, 9, "audit write", kind: .internal, 0, 1)]), now: F.at(2000) + 1000 * F.second)
        let later = stitcher.finalizeIdle(now: F.at(2000) + 1100 * F.second)
        #expect(later.count == 1)
        #expect(later.first?.correlationID == nil)
    }

    @Test func chainCrossingAnHTTPCallFollowsClientServerParents() throws {
        let chain = try #require(F.stitch([
            F.request("order", [
                F.span(1, 1, "POST /orders", kind: .server, 0, 100),
                F.span(1, 2, parent: 1, "POST /payments", kind: .client, 10, 40),
            ]),
            F.request("payment", [
                F.span(1, 3, parent: 2, "POST /payments", kind: .server, 15, 35),
                F.span(1, 4, parent: 3, "payments send", kind: .producer, 20, 25, topic: "payments"),
            ]),
            F.request("notification", [F.span(2, 5, "payments process", kind: .consumer, 45, 60,
                                              topic: "payments", group: "notification", linksTo: [(1, 4)])]),
        ]).first)
        #expect(chain.spans.count == 5)
        #expect(chain.hops.count == 1)
        #expect(chain.hops[0].producerService == "payment")
        #expect(chain.hops[0].deliveries.map(\.queueWaitNanos) == [20 * 1_000_000])
        #expect(chain.endToEndNanos == 100 * F.ms)
        #expect(chain.rootService == "order")
        #expect(chain.status == .complete)
    }

    @Test func consumerChildOfProducerInOneTraceIsAHop() throws {
        let chain = try #require(F.stitch([
            F.request("order", [F.span(1, 1, "orders send", kind: .producer, 0, 10, topic: "orders")]),
            F.request("inventory", [F.span(1, 2, parent: 1, "orders process", kind: .consumer, 25, 30,
                                           topic: "orders", group: "inventory")]),
        ]).first)
        #expect(chain.hops.map { $0.deliveries.map(\.queueWaitNanos) } == [[15 * 1_000_000]])
    }

    @Test func messageTimestampMeasuresQueueWaitWhenPresent() throws {
        let chain = try #require(F.stitch([
            F.request("order", [F.span(1, 1, "orders send", kind: .producer, 0, 10, topic: "orders")]),
            F.request("inventory", [F.span(2, 2, "orders process", kind: .consumer, 30, 40, topic: "orders",
                                           group: "inventory", linksTo: [(1, 1)],
                attributes: [KeyValue("messaging.kafka.message.timestamp", .int(Int64(F.at(12) / F.ms)))])]),
        ]).first)
        #expect(chain.hops[0].deliveries[0].queueWaitNanos == Int64(18_000_000))
    }
}

@Suite struct ChainStitcherBounds {
    @Test func exceedingMaxOpenChainsFinalizesTheOldestEarly() throws {
        var configuration = StitcherConfiguration()
        configuration.maxOpenChains = 2
        var stitcher = ChainStitcher(configuration: configuration)
        var early: [Chain] = []
        for n in 1...3 as ClosedRange<UInt64> {
            early += stitcher.ingest(F.request("s", [F.span(n, n, "op", kind: .server, 0, 10)]), now: F.at(100 + n))
        }
        #expect(early.map(\.id) == [ChainID(F.trace(1))])
        #expect(early.first?.finalizedEarly == true)
        #expect(stitcher.counters.chainsFinalizedEarly == 1)
        #expect(stitcher.openChainCount == 2)
    }

    @Test func exceedingMaxOpenSpansFinalizesEarly() throws {
        var configuration = StitcherConfiguration()
        configuration.maxOpenSpans = 3
        var stitcher = ChainStitcher(configuration: configuration)
        let early = F.linearChain().flatMap { stitcher.ingest($0, now: F.at(200)) }
        #expect(!early.isEmpty)
        #expect(stitcher.openSpanCount <= 3)
        #expect(stitcher.counters.chainsFinalizedEarly == early.count)
    }

    @Test func forgottenChainsFreeTheirSlotsForReuse() throws {
        var configuration = StitcherConfiguration()
        configuration.retention = .seconds(1)
        var stitcher = ChainStitcher(configuration: configuration)
        for round in 0..<3 as Range<UInt64> {
            let now = F.at(0) + round * 100 * F.second
            for request in F.linearChain() { _ = stitcher.ingest(request, now: now) }
            #expect(stitcher.finalizeIdle(now: now + 61 * F.second).count == 1)
            #expect(stitcher.snapshot(chainID: ChainID(F.trace(3)))?.id == ChainID(F.trace(1)))
            _ = stitcher.finalizeIdle(now: now + 70 * F.second)
            #expect(stitcher.heldSpanCount == 0)
            // Neither a span key nor a trace entry is left behind.
            #expect(stitcher.index.count == 0)
            #expect(stitcher.snapshot(chainID: ChainID(F.trace(3))) == nil)
        }
        #expect(stitcher.nodes.count == 9)
        #expect(stitcher.chains.filter { $0.root >= 0 }.isEmpty)
    }

    @Test func spanWithAnAllZeroIDIsCountedAndNotStitched() throws {
        var stitcher = ChainStitcher()
        let invalid = F.span(1, 0, "orders send", kind: .producer, 0, 10, topic: "orders")
        let valid = F.span(1, 2, parent: 0x99, "handle", 1, 5)
        _ = stitcher.ingest(F.request("order", [invalid, valid]), now: F.at(200))
        #expect(stitcher.counters.invalidSpans == 1)
        #expect(stitcher.counters.spansIngested == 2)
        let chain = try #require(stitcher.snapshot(chainID: ChainID(F.trace(1))))
        #expect(chain.spans == [SpanRef(traceID: F.trace(1), spanID: SpanID(2))])
    }

    @Test func repeatedSpanIsKeptOnce() throws {
        var stitcher = ChainStitcher()
        let request = F.linearChain()[0]
        _ = stitcher.ingest(request, now: F.at(200))
        _ = stitcher.ingest(request, now: F.at(200))
        #expect(stitcher.counters.repeatedSpans == 2)
        #expect(stitcher.snapshot(chainID: ChainID(F.trace(1)))?.spans.count == 2)
    }
}

/// The OTLP receiver builds only the attributes and events the stitcher reads
/// (`ChainStitcher.attributeSkim`): chains from such spans are the chains from whole ones.
@Suite struct ChainStitcherOnSkimmedSpans {
    @Test func everyAttributeTheStitcherReadsSurvivesTheSkim() throws {
        typealias F = Fixture
        var configuration = StitcherConfiguration()
        configuration.messageTimestampAttribute = "sent.at.millis"
        let whole = F.linearChain() + [
            F.request("billing", [
                F.span(40, 1, "invoices send", kind: .producer, 0, 3, topic: "invoices", messageID: "m-7", attributes: [
                    KeyValue("messaging.destination.partition.id", "3"), KeyValue("messaging.kafka.offset", .int(41)),
                    KeyValue("sent.at.millis", .int(Int64(F.at(1) / 1_000_000))), KeyValue("noise", "x"),
                ]),
            ], resource: [KeyValue("correlation.id", "order-1")]),
            F.request("billing-worker", [
                F.span(41, 1, "invoices process", kind: .consumer, 10, 20, topic: "invoices", group: "ledger", messageID: "m-7",
                       linksTo: [(40, 1)], attributes: [KeyValue("messaging.kafka.message.offset", .int(41)), KeyValue("messaging.kafka.destination.partition", .int(3))],
                       events: ["noise", "duplicate_skipped"]),
                F.span(41, 2, parent: 1, "invoices.dlq send", kind: .producer, 12, 14, topic: "invoices.dlq",
                       attributes: [KeyValue("causeway.dead_letter", .bool(true)), KeyValue("messaging.kafka.consumer.group", "ledger"), KeyValue("correlation_id", "order-1")],
                       error: true),
            ]),
        ]
        let skim = ChainStitcher(configuration: configuration).attributeSkim
        let skimmed = try whole.map { request in
            try request.protobufBytes().withUnsafeBytes { try ExportTraceServiceRequest(protobuf: $0, keepingSpanBytes: true, skimming: skim) }
        }
        #expect(skimmed.allSatisfy { $0.attributesSkimmed })
        #expect(skimmed.contains { $0.resourceSpans.contains { $0.scopeSpans.contains { $0.spans.contains { !$0.events.isEmpty } } } })
        let fromWhole = F.stitch(whole, configuration: configuration)
        let fromSkimmed = F.stitch(skimmed, configuration: configuration)
        #expect(fromWhole.count == 2)
        #expect(fromSkimmed == fromWhole)
    }
}

/// The due heap gives entries back in due order whatever order they came in, ties and
/// pushes between pops included.
@Suite struct DueHeapTests {
    @Test func popsInDueOrderAcrossPushesBetweenPops() {
        var heap = DueHeap()
        var reference: [UInt64] = []
        var seed: UInt64 = 42
        func next() -> UInt64 {
            seed = seed &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return seed >> 33
        }
        for round in 0..<2_000 {
            // Pushes bunched (many ties) and spread; pops in between, more of them late on.
            for _ in 0..<Int(next() % 5) {
                let due = round % 3 == 0 ? next() % 16 : next() % 100_000
                heap.push(DueEntry(dueAt: due, root: Int32(round), serial: 0))
                reference.append(due)
            }
            reference.sort()
            for _ in 0..<Int(next() % (round < 1_000 ? 3 : 6)) {
                guard let top = heap.peek else { break }
                #expect(top.dueAt == reference.removeFirst())
                heap.pop()
            }
            #expect(heap.count == reference.count)
        }
        while let top = heap.peek {
            #expect(top.dueAt == reference.removeFirst())
            heap.pop()
        }
        #expect(reference.isEmpty)
        heap.pop()
        #expect(heap.peek == nil)
    }
}

