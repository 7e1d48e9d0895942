import Telemetry

@testable import Collector

/// Spans built by hand the way OpenTelemetry's Kafka instrumentations emit them: one trace
/// per hop, consumers linking to the producer span of the message they process.
enum Fixture {
    /// 2023-11-14T22:13:20Z, in Unix nanoseconds.
    static let t0: UInt64 = 1_700_000_000_000_000_000
    static let ms: UInt64 = 1_000_000
    static let second: UInt64 = 1_000_000_000

    static func trace(_ n: UInt64) -> TraceID { TraceID(high: 0xC0FFEE, low: n) }

    static func at(_ millis: UInt64) -> UInt64 { t0 + millis * ms }

    static func span(
        _ trace: UInt64, _ id: UInt64, parent: UInt64? = nil, _ name: String, kind: SpanKind = .internal,
        _ start: UInt64, _ end: UInt64, topic: String? = nil, group: String? = nil, messageID: String? = nil,
        linksTo: [(trace: UInt64, span: UInt64)] = [], attributes: [KeyValue] = [], events: [String] = [],
        error: Bool = false
    ) -> Span {
        var attributes = attributes
        if let topic { attributes.append(KeyValue("messaging.destination.name", .string(topic))) }
        if let group { attributes.append(KeyValue("messaging.consumer.group.name", .string(group))) }
        if let messageID { attributes.append(KeyValue("messaging.message.id", .string(messageID))) }
        return Span(
            traceID: Fixture.trace(trace), spanID: SpanID(id), parentSpanID: parent.map { SpanID($0) }, name: name,
            kind: kind, startTimeUnixNano: at(start), endTimeUnixNano: at(end), attributes: attributes,
            events: events.map { SpanEvent(timeUnixNano: at(start), name: $0) },
            links: linksTo.map { SpanLink(traceID: Fixture.trace($0.trace), spanID: SpanID($0.span)) },
            status: SpanStatus(code: error ? .error : .unset))
    }

    static func request(_ service: String, _ spans: [Span], resource: [KeyValue] = []) -> ExportTraceServiceRequest {
        ExportTraceServiceRequest(resourceSpans: [
            ResourceSpans(
                resource: Resource(attributes: [KeyValue("service.name", .string(service))] + resource),
                scopeSpans: [ScopeSpans(spans: spans)])
        ])
    }

    static func merge(_ requests: [ExportTraceServiceRequest]) -> ExportTraceServiceRequest {
        ExportTraceServiceRequest(resourceSpans: requests.flatMap(\.resourceSpans))
    }

    /// order → inventory → payment → notification → audit: four hops, one trace each.
    /// Queue waits 10, 5, 5, 5 ms; first start 0 ms, last end 130 ms.
    static func linearChain() -> [ExportTraceServiceRequest] {
        [
            request("order", [
                span(1, 0x11, "POST /orders", kind: .server, 0, 100),
                span(1, 0x12, parent: 0x11, "orders send", kind: .producer, 10, 20, topic: "orders", messageID: "m-1"),
            ]),
            request("inventory", [
                span(2, 0x21, "orders process", kind: .consumer, 30, 60, topic: "orders", group: "inventory",
                     messageID: "m-1", linksTo: [(1, 0x12)]),
                span(2, 0x22, parent: 0x21, "inventory.reserved send", kind: .producer, 40, 45, topic: "inventory.reserved"),
            ]),
            request("payment", [
                span(3, 0x31, "inventory.reserved process", kind: .consumer, 50, 90, topic: "inventory.reserved",
                     group: "payment", linksTo: [(2, 0x22)]),
                span(3, 0x32, parent: 0x31, "payments send", kind: .producer, 70, 75, topic: "payments"),
            ]),
            request("notification", [
                span(4, 0x41, "payments process", kind: .consumer, 80, 120, topic: "payments", group: "notification",
                     linksTo: [(3, 0x32)]),
                span(4, 0x42, parent: 0x41, "notifications send", kind: .producer, 100, 105, topic: "notifications"),
            ]),
            request("audit", [
                span(5, 0x51, "notifications process", kind: .consumer, 110, 130, topic: "notifications", group: "audit",
                     linksTo: [(4, 0x42)]),
            ]),
        ]
    }

    /// Three finalized chains between them holding hops with and without consumers, both
    /// kinds of missing part (an orphan link, an unconsumed message) and absent fields.
    static func chainsOfEveryShape() -> [Chain] {
        stitch(
            linearChain() + [
                request("billing", [span(40, 1, "invoices process", kind: .consumer, 0, 7, topic: "invoices", linksTo: [(41, 2)])]),
                request("audit", [span(50, 1, "audit send", kind: .producer, 0, 3, topic: "audit \"quoted\"", messageID: "m-9")]),
            ],
            finalizeAfter: 120 * second)
    }

    /// Ingests at `at(200)` and finalizes after the idle window; returns what was finalized.
    static func stitch(
        _ requests: [ExportTraceServiceRequest], configuration: StitcherConfiguration = StitcherConfiguration(),
        finalizeAfter: UInt64 = 31 * second
    ) -> [Chain] {
        var stitcher = ChainStitcher(configuration: configuration)
        var finished: [Chain] = []
        for request in requests { finished += stitcher.ingest(request, now: at(200)) }
        finished += stitcher.finalizeIdle(now: at(200) + finalizeAfter)
        return finished
    }
}
