import Instrumentation
import Testing
import Tracing

@testable import EventTracing

/// `send` and `process` spans per the OpenTelemetry messaging semantic conventions v1.44
/// (messaging-spans.md and kafka.md), checked through an in-memory tracer.
@Suite struct MessagingSpansTests {
    struct Refused: Error {}

    struct BrokerRefused: MessagingError {
        var errorType: String { "NOT_ENOUGH_REPLICAS" }
    }

    let tracer = TestTracer()

    /// Sends through the helper and returns the headers the body was given.
    func send(
        _ headers: TestHeaders = TestHeaders(),
        to destination: String = "order_events",
        key: String? = nil,
        partition: Int32? = nil,
        messageID: String? = nil,
        system: String = "kafka",
        context: ServiceContext? = nil
    ) async -> TestHeaders {
        await withSendSpan(
            destination: destination,
            headers: headers,
            key: key,
            partition: partition,
            messageID: messageID,
            system: system,
            context: context,
            tracer: tracer
        ) { headers, _ in headers }
    }

    /// Processes a message through the helper and returns the task-local context of the body.
    func process(
        _ headers: TestHeaders,
        parenting: MessageParenting = .link,
        context: ServiceContext? = nil,
        consumerGroup: String? = nil,
        partition: Int32? = nil,
        offset: Int64? = nil,
        key: String? = nil,
        messageID: String? = nil
    ) async -> ServiceContext? {
        await withProcessSpan(
            destination: "order_events",
            headers: headers,
            consumerGroup: consumerGroup,
            partition: partition,
            offset: offset,
            key: key,
            messageID: messageID,
            parenting: parenting,
            context: context,
            tracer: tracer
        ) { _ in ServiceContext.current }
    }

    func ambientContext() -> (ServiceContext, SpanContext) {
        let span = SpanContext.newTrace(sampled: true)
        var context = ServiceContext.topLevel
        context.spanContext = span
        return (context, span)
    }

    // MARK: send

    @Test func sendSpanIsAProducerSpanNamedSendAndTheDestination() async throws {
        _ = await send(to: "order_events")
        let span = try tracer.span(named: "send order_events")
        #expect(span.kind == .producer)
        #expect(span.recorded.endCount == 1)
    }

    @Test func sendSpanCarriesTheMessagingAttributes() async throws {
        _ = await send(key: "order-42", partition: 3, messageID: "m-1")
        let span = try tracer.span(named: "send order_events")
        #expect(span.string("messaging.system") == "kafka")
        #expect(span.string("messaging.destination.name") == "order_events")
        #expect(span.string("messaging.operation.type") == "send")
        #expect(span.string("messaging.operation.name") == "send")
        #expect(span.string("messaging.kafka.message.key") == "order-42")
        #expect(span.string("messaging.destination.partition.id") == "3")
        #expect(span.string("messaging.message.id") == "m-1")
        #expect(span.string("messaging.message.conversation_id") != nil)
    }

    @Test func sendSpanOmitsAttributesThatWereNotGiven() async throws {
        _ = await send()
        let attributes = try tracer.span(named: "send order_events").attributes
        #expect(attributes.get("messaging.kafka.message.key") == nil)
        #expect(attributes.get("messaging.destination.partition.id") == nil)
        #expect(attributes.get("messaging.message.id") == nil)
        #expect(attributes.get("error.type") == nil)
    }

    @Test func kafkaAttributesAreOnlySetForKafka() async throws {
        _ = await send(key: "k", system: "rabbitmq")
        let span = try tracer.span(named: "send order_events")
        #expect(span.string("messaging.system") == "rabbitmq")
        #expect(span.attributes.get("messaging.kafka.message.key") == nil)
    }

    @Test func sendInjectsTheSendSpanAsTraceparent() async throws {
        let headers = await send()
        let span = try tracer.span(named: "send order_events")
        #expect(headers.values("traceparent") == [span.identity.traceParent.headerValue])
    }

    @Test func sendWritesExactlyOneOfEachPropagationHeaderReplacingOldOnes() async throws {
        let stale = TestHeaders([
            ("traceparent", "00-11111111111111111111111111111111-1111111111111111-01"),
            ("correlation-id", "old"),
            ("traceparent", "00-22222222222222222222222222222222-2222222222222222-01"),
            ("content-type", "application/json"),
        ])
        let headers = await send(stale)
        let span = try tracer.span(named: "send order_events")
        #expect(headers.values("traceparent") == [span.identity.traceParent.headerValue])
        #expect(headers.values("correlation-id").count == 1)
        #expect(headers.values("correlation-id") != ["old"])
        #expect(headers.values("baggage").count == 1)
        #expect(headers.values("content-type") == ["application/json"])
    }

    @Test func sendCreatesACorrelationIDWhenTheContextHasNone() async throws {
        let headers = await send(context: .topLevel)
        let span = try tracer.span(named: "send order_events")
        let conversation = try #require(span.string("messaging.message.conversation_id"))
        #expect(CorrelationID(conversation) != nil)
        #expect(headers.values("correlation-id") == [conversation])
        #expect(headers.values("baggage") == ["correlation.id=\(conversation)"])
    }

    @Test func sendKeepsTheCorrelationIDOfTheContext() async throws {
        var context = ServiceContext.topLevel
        context.correlationID = CorrelationID("order-42-checkout")
        let headers = await send(context: context)
        let span = try tracer.span(named: "send order_events")
        #expect(span.string("messaging.message.conversation_id") == "order-42-checkout")
        #expect(headers.values("correlation-id") == ["order-42-checkout"])
    }

    @Test func sendUsesTheTaskLocalContextByDefault() async throws {
        let (ambient, ambientSpan) = ambientContext()
        _ = await ServiceContext.withValue(ambient) { await send() }
        let span = try tracer.span(named: "send order_events")
        #expect(span.parent == ambientSpan)
        #expect(span.identity.traceID == ambientSpan.traceID)
    }

    @Test func sendBodyRunsInTheSendSpansContext() async throws {
        let current = await withSendSpan(destination: "t", headers: TestHeaders(), tracer: tracer) { _, _ in
            ServiceContext.current
        }
        let span = try tracer.span(named: "send t")
        #expect(current?.spanContext == span.identity)
    }

    @Test func sendRecordsTheBodysErrorAndRethrowsIt() async throws {
        await #expect(throws: Refused.self) {
            try await withSendSpan(destination: "t", headers: TestHeaders(), tracer: tracer) { _, _ in throw Refused() }
        }
        let span = try tracer.span(named: "send t")
        #expect(span.recorded.errors.count == 1)
        #expect(span.recorded.status?.code == .error)
        #expect(span.string("error.type") == "EventTracingTests.MessagingSpansTests.Refused")
        #expect(span.recorded.endCount == 1)
    }

    @Test func aMessagingErrorNamesItsOwnErrorType() async throws {
        await #expect(throws: BrokerRefused.self) {
            try await withSendSpan(destination: "t", headers: TestHeaders(), tracer: tracer) { _, _ in
                throw BrokerRefused()
            }
        }
        #expect(try tracer.span(named: "send t").string("error.type") == "NOT_ENOUGH_REPLICAS")
    }

    /// A producer that keeps state on an actor, as KafkaClient's will.
    actor Outbox {
        let tracer: TestTracer
        var sent: [TestHeaders] = []

        init(tracer: TestTracer) { self.tracer = tracer }

        func publish() async {
            await withSendSpan(destination: "t", headers: TestHeaders(), tracer: tracer) { headers, _ in
                sent.append(headers)
            }
        }
    }

    @Test func theBodyRunsOnTheCallersActor() async throws {
        let outbox = Outbox(tracer: tracer)
        await outbox.publish()
        #expect(await outbox.sent.count == 1)
    }

    // MARK: process

    /// Headers as a producer with its own span would send them.
    func producedHeaders(correlationID: String = "order-42-checkout") -> (TestHeaders, SpanContext) {
        let producer = SpanContext.newTrace(sampled: true)
        let headers = TestHeaders([
            ("traceparent", producer.traceParent.headerValue),
            ("correlation-id", correlationID),
            ("baggage", "correlation.id=\(correlationID),tenant=acme"),
        ])
        return (headers, producer)
    }

    @Test func processSpanIsAConsumerSpanNamedProcessAndTheDestination() async throws {
        _ = await process(producedHeaders().0)
        let span = try tracer.span(named: "process order_events")
        #expect(span.kind == .consumer)
        #expect(span.recorded.endCount == 1)
    }

    @Test func processSpanCarriesTheMessagingAttributes() async throws {
        _ = await process(
            producedHeaders().0,
            consumerGroup: "inventory",
            partition: 2,
            offset: 1_234_567_890_123,
            key: "order-42",
            messageID: "m-1"
        )
        let span = try tracer.span(named: "process order_events")
        #expect(span.string("messaging.system") == "kafka")
        #expect(span.string("messaging.destination.name") == "order_events")
        #expect(span.string("messaging.operation.type") == "process")
        #expect(span.string("messaging.operation.name") == "process")
        #expect(span.string("messaging.consumer.group.name") == "inventory")
        #expect(span.string("messaging.destination.partition.id") == "2")
        #expect(span.attributes.get("messaging.kafka.offset") == .int64(1_234_567_890_123))
        #expect(span.string("messaging.kafka.message.key") == "order-42")
        #expect(span.string("messaging.message.id") == "m-1")
        #expect(span.string("messaging.message.conversation_id") == "order-42-checkout")
    }

    @Test func processSpanByDefaultStartsANewTraceLinkedToTheCreationContext() async throws {
        let (headers, producer) = producedHeaders()
        _ = await process(headers, context: .topLevel)
        let span = try tracer.span(named: "process order_events")
        #expect(span.parent == nil)
        #expect(span.identity.traceID != producer.traceID)
        let links = span.recorded.links
        #expect(links.count == 1)
        #expect(links.first?.context.spanContext?.traceID == producer.traceID)
        #expect(links.first?.context.spanContext?.spanID == producer.spanID)
        #expect(links.first?.context.spanContext?.isRemote == true)
    }

    @Test func processSpanByDefaultContinuesTheAmbientSpan() async throws {
        let (headers, producer) = producedHeaders()
        let (ambient, ambientSpan) = ambientContext()
        _ = await process(headers, context: ambient)
        let span = try tracer.span(named: "process order_events")
        #expect(span.parent == ambientSpan)
        #expect(span.recorded.links.map { $0.context.spanContext?.spanID } == [producer.spanID])
    }

    @Test func processSpanWithParentParentingIsAChildOfTheCreationContextAndLinksIt() async throws {
        let (headers, producer) = producedHeaders()
        _ = await process(headers, parenting: .parent, context: .topLevel)
        let span = try tracer.span(named: "process order_events")
        #expect(span.parent?.spanID == producer.spanID)
        #expect(span.identity.traceID == producer.traceID)
        #expect(span.recorded.links.map { $0.context.spanContext?.spanID } == [producer.spanID])
    }

    @Test func processSpanWithParentParentingLinksTheAmbientSpanToo() async throws {
        let (headers, producer) = producedHeaders()
        let (ambient, ambientSpan) = ambientContext()
        _ = await process(headers, parenting: .parent, context: ambient)
        let span = try tracer.span(named: "process order_events")
        #expect(span.parent?.spanID == producer.spanID)
        #expect(span.recorded.links.map { $0.context.spanContext?.spanID } == [producer.spanID, ambientSpan.spanID])
    }

    @Test func processLinksToTheLastTraceparentHeader() async throws {
        let first = SpanContext.newTrace(sampled: true)
        let last = SpanContext.newTrace(sampled: true)
        let headers = TestHeaders([
            ("traceparent", first.traceParent.headerValue),
            ("traceparent", last.traceParent.headerValue),
        ])
        _ = await process(headers)
        let span = try tracer.span(named: "process order_events")
        #expect(span.recorded.links.map { $0.context.spanContext?.spanID } == [last.spanID])
    }

    @Test func processOfAMessageWithoutTraceContextHasNoLink() async throws {
        let headers = TestHeaders([("traceparent", "00-00000000000000000000000000000000-1111111111111111-01")])
        _ = await process(headers, parenting: .parent, context: .topLevel)
        let span = try tracer.span(named: "process order_events")
        #expect(span.recorded.links.isEmpty)
        #expect(span.parent == nil)
    }

    @Test func processTakesTheCorrelationIDFromTheMessage() async throws {
        let current = await process(producedHeaders(correlationID: "from-producer").0)
        #expect(current?.correlationID?.rawValue == "from-producer")
    }

    @Test func theMessagesCorrelationIDWinsOverTheAmbientOne() async throws {
        var ambient = ServiceContext.topLevel
        ambient.correlationID = CorrelationID("ambient")
        let current = await process(producedHeaders(correlationID: "from-producer").0, context: ambient)
        #expect(current?.correlationID?.rawValue == "from-producer")
    }

    @Test func theAmbientCorrelationIDIsKeptForAMessageWithoutOne() async throws {
        var ambient = ServiceContext.topLevel
        ambient.correlationID = CorrelationID("ambient")
        let current = await process(TestHeaders(), context: ambient)
        #expect(current?.correlationID?.rawValue == "ambient")
    }

    @Test func processTakesTheCorrelationIDFromTheBaggageEntryWithoutTheHeader() async throws {
        let current = await process(TestHeaders([("baggage", "correlation.id=from-baggage")]))
        #expect(current?.correlationID?.rawValue == "from-baggage")
        #expect(try tracer.span(named: "process order_events").string("messaging.message.conversation_id") == "from-baggage")
    }

    @Test func processCreatesACorrelationIDWhenNeitherMessageNorContextHasOne() async throws {
        let current = await process(TestHeaders(), context: .topLevel)
        let created = try #require(current?.correlationID)
        #expect(try tracer.span(named: "process order_events").string("messaging.message.conversation_id") == created.rawValue)
    }

    @Test func processBodyRunsInTheProcessSpansContext() async throws {
        let current = await process(producedHeaders().0)
        #expect(current?.spanContext == (try tracer.span(named: "process order_events").identity))
    }

    @Test func processRecordsTheBodysErrorAndRethrowsIt() async throws {
        await #expect(throws: Refused.self) {
            try await withProcessSpan(destination: "t", headers: TestHeaders(), tracer: tracer) { _ in throw Refused() }
        }
        let span = try tracer.span(named: "process t")
        #expect(span.recorded.errors.count == 1)
        #expect(span.recorded.status?.code == .error)
        #expect(span.string("error.type") == "EventTracingTests.MessagingSpansTests.Refused")
        #expect(span.recorded.endCount == 1)
    }

    // MARK: the chain send → process → send

    @Test func theCorrelationIDTravelsFromSendThroughProcessToTheNextSend() async throws {
        let first = await send(context: .topLevel)
        let conversation = try #require(first.values("correlation-id").first)
        let second = await withProcessSpan(destination: "order_events", headers: first, tracer: tracer) { _ in
            await withSendSpan(destination: "payment_events", headers: TestHeaders(), tracer: tracer) { headers, _ in headers }
        }
        #expect(second.values("correlation-id") == [conversation])
        #expect(try tracer.span(named: "send payment_events").string("messaging.message.conversation_id") == conversation)
    }

    @Test func theNextSendIsAChildOfTheProcessSpan() async throws {
        let first = await send(context: .topLevel)
        let second = await withProcessSpan(destination: "order_events", headers: first, tracer: tracer) { _ in
            await withSendSpan(destination: "payment_events", headers: TestHeaders(), tracer: tracer) { headers, _ in headers }
        }
        let processSpan = try tracer.span(named: "process order_events")
        let nextSend = try tracer.span(named: "send payment_events")
        #expect(nextSend.parent == processSpan.identity)
        #expect(second.values("traceparent") == [nextSend.identity.traceParent.headerValue])
    }

    @Test func baggageTravelsFromTheMessageToTheNextSend() async throws {
        let incoming = TestHeaders([("baggage", "tenant=acme"), ("correlation-id", "c-1")])
        let outgoing = await withProcessSpan(destination: "order_events", headers: incoming, tracer: tracer) { _ in
            await withSendSpan(destination: "payment_events", headers: TestHeaders(), tracer: tracer) { headers, _ in headers }
        }
        let baggage = Baggage(try #require(outgoing.values("baggage").first))
        #expect(baggage["tenant"] == "acme")
        #expect(baggage["correlation.id"] == "c-1")
    }
}

/// The helpers with tracers other than our SDK: they must not depend on where a tracer
/// keeps its span identities.
@Suite struct MessagingSpansTracerAgnosticTests {
    let tracer = TestTracer(identity: .ownKey)

    @Test func sendWritesTheTracersTraceparentExactlyOnce() async throws {
        let stale = TestHeaders([("traceparent", "00-11111111111111111111111111111111-1111111111111111-01")])
        let headers = await withSendSpan(destination: "t", headers: stale, context: .topLevel, tracer: tracer) { headers, _ in
            headers
        }
        let span = try tracer.span(named: "send t")
        #expect(headers.values("traceparent") == [span.identity.traceParent.headerValue])
        #expect(headers.values("correlation-id").count == 1)
    }

    @Test func theTracersTraceparentWinsOverAContextExtractedByOurPropagator() async throws {
        // An HTTP middleware may have put the caller's context under our key, while this
        // tracer's spans live under its own: the header must name the send span.
        var context = ServiceContext.topLevel
        context.spanContext = SpanContext.newTrace(sampled: true)
        let headers = await withSendSpan(destination: "t", headers: TestHeaders(), context: context, tracer: tracer) {
            headers, _ in headers
        }
        let span = try tracer.span(named: "send t")
        #expect(headers.values("traceparent") == [span.identity.traceParent.headerValue])
    }

    @Test func processLinksToTheCreationContextAsTheTracerExtractsIt() async throws {
        let producer = SpanContext.newTrace(sampled: true)
        let headers = TestHeaders([("traceparent", producer.traceParent.headerValue)])
        await withProcessSpan(destination: "t", headers: headers, context: .topLevel, tracer: tracer) { _ in }
        let span = try tracer.span(named: "process t")
        let link = try #require(span.recorded.links.first)
        #expect(link.context[TestTracerSpanKey.self]?.spanID == producer.spanID)
        #expect(span.parent == nil)
    }

    @Test func processWithParentParentingIsAChildThroughTheTracersExtraction() async throws {
        let producer = SpanContext.newTrace(sampled: true)
        let headers = TestHeaders([("traceparent", producer.traceParent.headerValue)])
        await withProcessSpan(destination: "t", headers: headers, parenting: .parent, context: .topLevel, tracer: tracer) { _ in }
        #expect(try tracer.span(named: "process t").parent?.spanID == producer.spanID)
    }

    @Test func aNoOpTracerPassesTheExtractedTraceContextThrough() async throws {
        let producer = SpanContext.newTrace(sampled: true)
        var context = ServiceContext.topLevel
        context.spanContext = producer
        let headers = await withSendSpan(destination: "t", headers: TestHeaders(), context: context, tracer: NoOpTracer()) {
            headers, _ in headers
        }
        #expect(headers.values("traceparent") == [producer.traceParent.headerValue])
        #expect(headers.values("correlation-id").count == 1)
    }
}
