import Telemetry

/// Requests that set every field of the model, for round-trip tests of every codec.
enum Fixtures {
    static let traceID = TraceID(high: 0x4bf9_2f35_77b3_4da6, low: 0xa3ce_929d_0e0e_4736)
    static let otherTraceID = TraceID(high: 0x0af7_6519_16cd_43dd, low: 0x8448_eb21_1c80_319c)

    static let everyValueKind: [KeyValue] = [
        KeyValue("string", .string("héllo \"wörld\"\n\u{1}")),
        KeyValue("empty.string", .string("")),
        KeyValue("bool", .bool(true)),
        KeyValue("bool.false", .bool(false)),
        KeyValue("int", .int(-42)),
        KeyValue("int.max", .int(.max)),
        KeyValue("int.min", .int(.min)),
        KeyValue("double", .double(3.25)),
        KeyValue("double.tiny", .double(1e-300)),
        KeyValue("bytes", .bytes([0, 1, 2, 0xfe, 0xff])),
        KeyValue(
            "array",
            .array([.string("a"), .int(1), .double(0.5), .bool(false), .array([.int(2)]), .empty])),
        KeyValue(
            "kvlist",
            .keyValueList([KeyValue("inner", .string("x")), KeyValue("nested", .keyValueList([KeyValue("deep", .int(7))]))])),
    ]

    static func fullTraceRequest() -> ExportTraceServiceRequest {
        let producer = Span(
            traceID: traceID, spanID: SpanID(0x00f0_67aa_0ba9_02b7), traceState: "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7",
            parentSpanID: SpanID(0x1111_2222_3333_4444), flags: 0x301, name: "send order_events", kind: .producer,
            startTimeUnixNano: 1_700_000_000_123_456_789, endTimeUnixNano: 1_700_000_000_223_456_789,
            attributes: everyValueKind + [
                KeyValue("messaging.system", "kafka"),
                KeyValue("messaging.destination.name", "order_events"),
            ],
            droppedAttributesCount: 3,
            events: [
                SpanEvent(timeUnixNano: 1_700_000_000_150_000_000, name: "exception", attributes: [
                    KeyValue("exception.type", "OrderRejected"), KeyValue("exception.message", "no stock"),
                ], droppedAttributesCount: 1),
                SpanEvent(timeUnixNano: 1_700_000_000_160_000_000, name: "bare"),
            ],
            droppedEventsCount: 2,
            links: [
                SpanLink(
                    traceID: otherTraceID, spanID: SpanID(0xb7ad_6b71_6920_3331), traceState: "rojo=1",
                    attributes: [KeyValue("messaging.kafka.offset", .int(12))], droppedAttributesCount: 4, flags: 0x101)
            ],
            droppedLinksCount: 5,
            status: SpanStatus(code: .error, message: "payment declined"))
        let consumer = Span(
            traceID: otherTraceID, spanID: SpanID(0x0102_0304_0506_0708), name: "process order_events", kind: .consumer,
            startTimeUnixNano: 1_700_000_001_000_000_000, endTimeUnixNano: 1_700_000_001_000_000_500,
            attributes: [KeyValue("messaging.consumer.group.name", "inventory")],
            links: [SpanLink(traceID: traceID, spanID: SpanID(0x00f0_67aa_0ba9_02b7))],
            status: SpanStatus(code: .ok))
        let odd = Span(
            traceID: otherTraceID, spanID: SpanID(0xffff_ffff_ffff_ffff), name: "", kind: SpanKind(rawValue: 42),
            startTimeUnixNano: 0, endTimeUnixNano: 0, status: SpanStatus(code: StatusCode(rawValue: -1)))
        return ExportTraceServiceRequest(resourceSpans: [
            ResourceSpans(
                resource: Resource(
                    attributes: [KeyValue("service.name", "order-service"), KeyValue("service.version", "1.2.3")],
                    droppedAttributesCount: 6),
                scopeSpans: [
                    ScopeSpans(
                        scope: InstrumentationScope(
                            name: "causeway.eventtracing", version: "0.1.0", attributes: [KeyValue("scope.attr", .bool(true))],
                            droppedAttributesCount: 7),
                        spans: [producer, consumer], schemaURL: "https://opentelemetry.io/schemas/1.44.0"),
                    ScopeSpans(spans: [odd]),
                ],
                schemaURL: "https://opentelemetry.io/schemas/1.44.0"),
            ResourceSpans(scopeSpans: []),
        ])
    }

    static func fullLogsRequest() -> ExportLogsServiceRequest {
        let full = LogRecord(
            timeUnixNano: 1_700_000_000_123_456_789, observedTimeUnixNano: 1_700_000_000_123_999_999,
            severityNumber: .warn, severityText: "WARN",
            body: .keyValueList([KeyValue("message", "stock low"), KeyValue("count", .int(3))]),
            attributes: everyValueKind + [KeyValue("correlation.id", "01JDK8Z3XG")], droppedAttributesCount: 2,
            flags: 1, traceID: traceID, spanID: SpanID(0x00f0_67aa_0ba9_02b7), eventName: "inventory.low")
        let bare = LogRecord(body: .string("plain line"))
        let emptyBody = LogRecord(severityNumber: SeverityNumber(rawValue: 24), body: .empty)
        return ExportLogsServiceRequest(resourceLogs: [
            ResourceLogs(
                resource: Resource(attributes: [KeyValue("service.name", "inventory-service")]),
                scopeLogs: [
                    ScopeLogs(
                        scope: InstrumentationScope(name: "causeway.logging"), logRecords: [full, bare, emptyBody],
                        schemaURL: "https://opentelemetry.io/schemas/1.44.0")
                ],
                schemaURL: "s")
        ])
    }
}
