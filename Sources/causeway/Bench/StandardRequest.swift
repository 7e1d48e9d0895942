import Telemetry

/// The standard request of the benchmarks (issue 2): 512 spans, each with 10 attributes,
/// one event and one link — about 260 KB in protobuf. Deterministic, so every run and
/// every decoder sees the same bytes.
enum StandardRequest {
    static let spanCount = 512

    static func traces() -> ExportTraceServiceRequest {
        var generator = SplitMix64(seed: 0xC0FFEE)
        var spans: [Span] = []
        spans.reserveCapacity(spanCount)
        let groups = ["order", "inventory", "payment", "notification"]
        let topics = ["order_events", "inventory_events", "payment_events", "notification_events"]
        for index in 0..<spanCount {
            let traceID = TraceID(high: generator.next(), low: generator.next())
            let start = 1_764_300_000_000_000_000 + UInt64(index) * 1_000_000
            let topic = topics[index % topics.count]
            let orderNumber = String(100_000 + index)
            let attributes: [KeyValue] = [
                KeyValue("messaging.system", "kafka"),
                KeyValue("messaging.destination.name", .string(topic)),
                KeyValue("region", index % 2 == 0 ? "eu-west" : "us-east"),
                KeyValue("messaging.kafka.offset", .int(Int64(index * 7))),
                KeyValue("attempt", .int(Int64(index % 3 + 1))),
                KeyValue("messaging.message.conversation_id", .string("01JDK8Z3" + orderNumber)),
                KeyValue("messaging.consumer.group.name", .string(groups[(index + 1) % groups.count])),
                KeyValue("server.address", "broker-1"),
                KeyValue("total", .double(Double(index) * 3.75 + 0.99)),
                KeyValue("express", .bool(index % 5 == 0)),
            ]
            let event = SpanEvent(
                timeUnixNano: start + 250_000, name: "validated",
                attributes: [KeyValue("order.items", .int(Int64(index % 9 + 1))), KeyValue("rule", "stock")])
            let link = SpanLink(
                traceID: TraceID(high: generator.next(), low: generator.next()), spanID: SpanID(generator.next() | 1),
                attributes: [KeyValue("messaging.message.id", .string("ORD-" + orderNumber))])
            spans.append(
                Span(
                    traceID: traceID, spanID: SpanID(generator.next() | 1), parentSpanID: SpanID(generator.next() | 1),
                    flags: 0x101, name: (index % 2 == 0 ? "send " : "process ") + topic,
                    kind: index % 2 == 0 ? .producer : .consumer, startTimeUnixNano: start,
                    endTimeUnixNano: start + 1_500_000 + UInt64(index % 17) * 10_000, attributes: attributes,
                    events: [event], links: [link], status: SpanStatus(code: index % 50 == 0 ? .error : .unset)))
        }
        let resource = Resource(attributes: [
            KeyValue("service.name", "order-service"), KeyValue("service.version", "1.4.2"),
            KeyValue("host.name", "bench-host-01"), KeyValue("process.pid", .int(4242)),
        ])
        return ExportTraceServiceRequest(resourceSpans: [
            ResourceSpans(
                resource: resource,
                scopeSpans: [ScopeSpans(scope: InstrumentationScope(name: "causeway.eventtracing", version: "0.1.0"), spans: spans)],
                schemaURL: "https://opentelemetry.io/schemas/1.44.0")
        ])
    }
}

/// A small deterministic generator (SplitMix64), so the standard request never changes.
struct SplitMix64 {
    private var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
