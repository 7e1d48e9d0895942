public import Instrumentation
public import Tracing

// The spans of the OpenTelemetry messaging semantic conventions v1.44 for one message:
// https://github.com/open-telemetry/semantic-conventions/blob/v1.44.0/docs/messaging/messaging-spans.md
// https://github.com/open-telemetry/semantic-conventions/blob/v1.44.0/docs/messaging/kafka.md
//
// Both helpers work with any swift-distributed-tracing `Tracer`. The trace context goes
// through the tracer's own `inject`/`extract` (a tracer keeps its span identity under a
// key of its own, as swift-otel does); the correlation ID and the baggage go through
// ``EventContextPropagator``, which also writes `traceparent` when the tracer wrote none
// (a `NoOpTracer` passing an extracted context through).

/// How a `process` span relates to the context in which its message was created.
public enum MessageParenting: Sendable {
    /// The span continues the ambient context (a new trace when there is none) and links
    /// to the message's creation context: the default of the messaging conventions,
    /// because it is the one trace structure that works for batches and for consumers
    /// running inside another span ("Consumer spans").
    case link
    /// The span is a child of the message's creation context, which it also links to; an
    /// ambient span (one under ``ServiceContext/spanContext``, or one the tracer
    /// reports as active) is linked as well ("Message creation context as parent of
    /// 'Process' span": an opt-in for single messages).
    case parent
}

/// An error that names its own class for the `error.type` span attribute, such as a Kafka
/// error code name (`UNKNOWN_TOPIC_OR_PARTITION`). Other errors are named by their Swift
/// type (`Module.Type`), as the recording-errors convention asks ("its canonical class
/// name ... SHOULD be used").
public protocol MessagingError: Error {
    /// A low-cardinality name of the kind of failure.
    var errorType: String { get }
}

/// Runs `body` inside a `send <destination>` PRODUCER span and hands it `headers` with the
/// span's context written into them: `traceparent`, `tracestate`, `baggage` (with the
/// `correlation.id` entry) and `correlation-id`, each exactly once.
///
/// The span carries `messaging.system`, `messaging.destination.name`,
/// `messaging.operation.type` and `.name` (`send`), and, when given, `messaging.message.id`,
/// `messaging.destination.partition.id` and (for Kafka) `messaging.kafka.message.key`, plus
/// `messaging.message.conversation_id`: the correlation ID of `context`, created when the
/// context has none, so that the whole transaction shares it from here on. An error thrown
/// by `body` is recorded on the span (`recordError`, status error, `error.type`) and
/// rethrown.
///
/// ```swift
/// try await withSendSpan(destination: "order_events", headers: record.headers, key: orderID) { headers, _ in
///     try await producer.send(topic: "order_events", key: orderID, value: payload, headers: headers)
/// }
/// ```
///
/// - Parameters:
///   - destination: The topic or queue; also the span name's `{destination}`.
///   - headers: The message's headers before propagation.
///   - key: The message key; omitted when `nil`, as the Kafka conventions require.
///   - partition: The partition the message goes to, when known before sending.
///   - messageID: The messaging system's ID of the message, when known.
///   - system: `messaging.system`; the `messaging.kafka.*` attributes are set only for
///     `"kafka"`.
///   - context: The context to continue; by default the task-local one.
///   - tracer: The tracer; by default the bootstrapped one.
///   - body: Sends the message with the headers it is given.
public func withSendSpan<Headers: MessageHeaders, Result>(
    destination: String,
    headers: Headers,
    key: String? = nil,
    partition: Int32? = nil,
    messageID: String? = nil,
    system: String = "kafka",
    context: ServiceContext? = nil,
    tracer: (any Tracer)? = nil,
    isolation: isolated (any Actor)? = #isolation,
    function: String = #function,
    file fileID: String = #fileID,
    line: UInt = #line,
    _ body: (_ headers: Headers, _ span: any Span) async throws -> Result
) async rethrows -> Result {
    let propagation = Propagation(tracer: tracer)
    var parent = context ?? ServiceContext.current ?? .topLevel
    let correlationID = parent.ensureCorrelationID()

    let span = propagation.tracer.startSpan(
        "\(MessagingAttribute.send) \(destination)",
        context: parent,
        ofKind: .producer,
        at: DefaultTracerClock.now,
        function: function,
        file: fileID,
        line: line
    )
    defer { span.end() }
    // The API takes no attributes at start; they are set before anything else happens, so
    // that a tracer sampling at end sees them.
    span.updateAttributes { attributes in
        attributes.setMessaging(
            system: system,
            destination: destination,
            operation: MessagingAttribute.send,
            partition: partition,
            key: key,
            messageID: messageID,
            correlationID: correlationID
        )
    }

    let spanContext = propagation.ensuring(correlationID, baggage: nil, in: span.context)
    var outgoing = headers
    // "If no 'Create' span exists ... the context of the related 'Send' span SHOULD be
    // injected into the message" (Producer spans).
    propagation.inject(spanContext, into: &outgoing)
    return try await runRecordingErrors(
        body: { try await body(outgoing, span) },
        in: spanContext,
        span: span,
        isolation: isolation
    )
}

/// Runs `body` inside a `process <destination>` CONSUMER span for one received message.
///
/// The message's creation context is read from `headers` (the last header of a name wins).
/// With ``MessageParenting/link`` (the default) the span continues the ambient context, a
/// new trace when there is none, and links to the creation context; with
/// ``MessageParenting/parent`` it is a child of the creation context. Either way the span
/// links to the creation context ("For each message it accounts for, the 'Process' ...
/// span SHOULD link to the message's creation context").
///
/// The message's correlation ID (else the ambient one, else a new one) and its baggage
/// become the task-local context of `body`, so the messages `body` sends continue the
/// transaction. The span carries `messaging.system`, `messaging.destination.name`,
/// `messaging.operation.type` and `.name` (`process`), `messaging.message.conversation_id`
/// and, when given, `messaging.consumer.group.name`, `messaging.destination.partition.id`,
/// `messaging.message.id` and (for Kafka) `messaging.kafka.offset` and
/// `messaging.kafka.message.key`. An error thrown by `body` is recorded on the span and
/// rethrown.
///
/// ```swift
/// for try await record in consumer {
///     try await withProcessSpan(destination: record.topic, headers: record.headers,
///                               consumerGroup: "inventory", partition: record.partition,
///                               offset: record.offset) { _ in
///         try await handle(record)
///     }
/// }
/// ```
///
/// - Parameters:
///   - destination: The topic or queue the message came from.
///   - headers: The message's headers.
///   - consumerGroup: The consumer group processing the message.
///   - partition: The partition the message came from.
///   - offset: The message's offset in its partition.
///   - key: The message key; omitted when `nil`.
///   - messageID: The messaging system's ID of the message.
///   - parenting: Whether the creation context is only linked or also the parent.
///   - system: `messaging.system`; the `messaging.kafka.*` attributes are set only for
///     `"kafka"`.
///   - context: The ambient context; by default the task-local one.
///   - tracer: The tracer; by default the bootstrapped one.
///   - body: Processes the message.
public func withProcessSpan<Headers: MessageHeaders, Result>(
    destination: String,
    headers: Headers,
    consumerGroup: String? = nil,
    partition: Int32? = nil,
    offset: Int64? = nil,
    key: String? = nil,
    messageID: String? = nil,
    parenting: MessageParenting = .link,
    system: String = "kafka",
    context: ServiceContext? = nil,
    tracer: (any Tracer)? = nil,
    isolation: isolated (any Actor)? = #isolation,
    function: String = #function,
    file fileID: String = #fileID,
    line: UInt = #line,
    _ body: (_ span: any Span) async throws -> Result
) async rethrows -> Result {
    let propagation = Propagation(tracer: tracer)
    let ambient = context ?? ServiceContext.current ?? .topLevel
    let extractor = MessageHeadersExtractor<Headers>()

    // What the message itself carries, read by the rules of the W3C specs.
    var carried = ServiceContext.topLevel
    EventContextPropagator(createsCorrelationID: false).extract(headers, into: &carried, using: extractor)

    // The link target: the creation context as the tracer represents it, and under our key.
    var creation: ServiceContext?
    if let creationSpan = carried.spanContext {
        var linked = ServiceContext.topLevel
        propagation.instrument.extract(headers, into: &linked, using: extractor)
        linked.spanContext = creationSpan
        creation = linked
    }

    var parent = ambient
    var links: [SpanLink] = []
    switch parenting {
    case .link:
        break
    case .parent:
        if creation != nil {
            // Only the tracer's extraction, so that our span-context key is never left
            // holding a context the tracer's own spans have moved past.
            propagation.instrument.extract(headers, into: &parent, using: extractor)
            // "it SHOULD add the ambient context as a link on the 'Process' span". The
            // whole ambient context is the target, so a tracer finds its span under its
            // own key as well as ours.
            if ambient.spanContext != nil || propagation.tracer.activeSpan(identifiedBy: ambient) != nil {
                links.append(SpanLink(context: ambient, attributes: [:]))
            }
        }
    }
    if let creation {
        // One message, so its attributes are the span's, not the link's (link attributes
        // are for what "vary" between the messages of a batch).
        links.insert(SpanLink(context: creation, attributes: [:]), at: 0)
    }
    let correlationID = carried.correlationID ?? ambient.correlationID ?? CorrelationID.generate()
    parent.correlationID = correlationID
    if let baggage = carried.baggage { parent.baggage = baggage }

    let span = propagation.tracer.startSpan(
        "\(MessagingAttribute.process) \(destination)",
        context: parent,
        ofKind: .consumer,
        at: DefaultTracerClock.now,
        function: function,
        file: fileID,
        line: line
    )
    defer { span.end() }
    span.updateAttributes { attributes in
        attributes.setMessaging(
            system: system,
            destination: destination,
            operation: MessagingAttribute.process,
            partition: partition,
            key: key,
            messageID: messageID,
            correlationID: correlationID
        )
        if let consumerGroup { attributes.set(MessagingAttribute.consumerGroupName, value: .string(consumerGroup)) }
        if let offset, system == MessagingAttribute.kafka {
            attributes.set(MessagingAttribute.kafkaOffset, value: .int64(offset))
        }
    }
    for link in links { span.addLink(link) }

    let spanContext = propagation.ensuring(correlationID, baggage: carried.baggage, in: span.context)
    return try await runRecordingErrors(
        body: { try await body(span) },
        in: spanContext,
        span: span,
        isolation: isolation
    )
}

/// Runs `body` with `context` as the task-local context, recording a thrown error on
/// `span` as the recording-errors convention asks: status error, `error.type`, and the
/// exception event `recordError` adds. The status description stays empty, since an
/// error's text may hold data that must not leave the process.
private func runRecordingErrors<Result>(
    body: () async throws -> Result,
    in context: ServiceContext,
    span: any Span,
    isolation: isolated (any Actor)?
) async rethrows -> Result {
    do {
        return try await ServiceContext.$current.withValue(context, operation: body, isolation: isolation)
    } catch {
        let errorType = (error as? any MessagingError)?.errorType ?? String(reflecting: type(of: error))
        span.recordError(error)
        span.updateAttributes { $0.set(MessagingAttribute.errorType, value: .string(errorType)) }
        span.setStatus(SpanStatus(code: .error))
        throw error
    }
}

/// The tracer that starts the spans and the instrument that moves their context.
private struct Propagation {
    let tracer: any Tracer
    let instrument: any Instrument

    init(tracer: (any Tracer)?) {
        let chosen = tracer ?? InstrumentationSystem.tracer
        self.tracer = chosen
        // Without a tracer, the bootstrapped instrument (an EventContextPropagator, say)
        // still moves the context.
        self.instrument = chosen is NoOpTracer ? InstrumentationSystem.instrument : chosen
    }

    /// A span's context with the correlation ID (and baggage) we decided on, in case the
    /// tracer does not keep the values of the parent context in the span's.
    func ensuring(_ correlationID: CorrelationID, baggage: Baggage?, in context: ServiceContext) -> ServiceContext {
        var result = context
        if result.correlationID == nil { result.correlationID = correlationID }
        if result.baggage == nil, let baggage { result.baggage = baggage }
        return result
    }

    /// Writes `context` into `headers`: first what the tracer writes, then the correlation
    /// ID and baggage, and our `traceparent` only when the tracer wrote none. Collecting
    /// the fields first lets each header be set once, replacing any it had.
    func inject<Headers: MessageHeaders>(_ context: ServiceContext, into headers: inout Headers) {
        var fields: [(name: String, value: String)] = []
        instrument.inject(context, into: &fields, using: HTTPHeaderFieldsInjector())
        var ours = context
        if fields.contains(where: { HTTPFieldName.equal($0.name, EventContextPropagator.HeaderName.traceparent) }) {
            ours.spanContext = nil
        }
        let propagator = EventContextPropagator(createsCorrelationID: false)
        propagator.inject(ours, into: &fields, using: HTTPHeaderFieldsInjector())
        for field in fields {
            headers.setHeader(field.name, to: Array(field.value.utf8))
        }
    }
}

/// Attribute names and values of the messaging conventions (registry:
/// https://github.com/open-telemetry/semantic-conventions/blob/v1.44.0/docs/registry/attributes/messaging.md).
enum MessagingAttribute {
    static let kafka = "kafka"

    static let send = "send"
    static let process = "process"

    static let system = "messaging.system"
    static let destinationName = "messaging.destination.name"
    static let operationType = "messaging.operation.type"
    static let operationName = "messaging.operation.name"
    static let messageID = "messaging.message.id"
    static let conversationID = "messaging.message.conversation_id"
    static let partitionID = "messaging.destination.partition.id"
    static let consumerGroupName = "messaging.consumer.group.name"
    static let kafkaMessageKey = "messaging.kafka.message.key"
    static let kafkaOffset = "messaging.kafka.offset"
    static let errorType = "error.type"
}

extension SpanAttributes {
    /// The attributes both spans share; for one message the operation's name is its type.
    fileprivate mutating func setMessaging(
        system: String,
        destination: String,
        operation: String,
        partition: Int32?,
        key: String?,
        messageID: String?,
        correlationID: CorrelationID
    ) {
        set(MessagingAttribute.system, value: .string(system))
        set(MessagingAttribute.destinationName, value: .string(destination))
        set(MessagingAttribute.operationType, value: .string(operation))
        set(MessagingAttribute.operationName, value: .string(operation))
        set(MessagingAttribute.conversationID, value: .string(correlationID.rawValue))
        if let messageID { set(MessagingAttribute.messageID, value: .string(messageID)) }
        // `messaging.destination.partition.id` is a string in the registry.
        if let partition { set(MessagingAttribute.partitionID, value: .string(String(partition))) }
        // "If the key is `null`, the attribute MUST NOT be set."
        if let key, system == MessagingAttribute.kafka {
            set(MessagingAttribute.kafkaMessageKey, value: .string(key))
        }
    }
}
