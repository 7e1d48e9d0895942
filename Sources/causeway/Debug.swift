import ArgumentParser
import EventTracing
import EventTracingOTLP
import Foundation
import Tracing

/// `causeway debug`: hooks for the interop tests (Tests/Interop) to drive the libraries
/// from another language. Hidden: not part of the command line users rely on.
struct Debug: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Drive Causeway's libraries from test scripts.",
        shouldDisplay: false,
        subcommands: [DebugPropagate.self, DebugEmitSpan.self]
    )
}

/// `causeway debug propagate`: what EventContextPropagator keeps of each set of headers.
///
/// Reads one JSON object a line, `{"traceparent": ..., "tracestate": ..., "baggage": ...}`,
/// each value a string, a list of strings (several fields of that name, in order) or
/// absent, and prints one JSON object a line with what extraction kept and what injection
/// of that context writes back.
struct DebugPropagate: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "propagate",
        abstract: "Extract W3C headers given as JSON lines on stdin; print what survives as JSON lines.",
        shouldDisplay: false
    )

    func run() throws {
        // No correlation ID is made up: the output must show only what came in.
        let propagator = EventContextPropagator(createsCorrelationID: false)
        while let line = readLine(strippingNewline: true) {
            if line.allSatisfy(\.isWhitespace) { continue }
            let object = try JSONSerialization.jsonObject(with: Data(line.utf8))
            guard let headers = object as? [String: Any] else {
                throw ValidationError("each line must be a JSON object, got: \(line)")
            }
            let fields = try Self.fields(of: headers)
            var context = ServiceContext.topLevel
            propagator.extract(fields, into: &context, using: HTTPHeaderFieldsExtractor())
            var injected: [(name: String, value: String)] = []
            propagator.inject(context, into: &injected, using: HTTPHeaderFieldsInjector())
            let output = Self.report(context: context, injected: injected)
            let data = try JSONSerialization.data(withJSONObject: output, options: [.sortedKeys])
            FileHandle.standardOutput.write(data + Data("\n".utf8))
        }
    }

    /// The header fields of one input line, in the order given, several per name allowed.
    static func fields(of headers: [String: Any]) throws -> [(name: String, value: String)] {
        var fields: [(name: String, value: String)] = []
        for (name, value) in headers.sorted(by: { $0.key < $1.key }) {
            switch value {
            case let single as String:
                fields.append((name: name, value: single))
            case let several as [Any]:
                for element in several {
                    guard let string = element as? String else {
                        throw ValidationError("\(name): header values must be strings")
                    }
                    fields.append((name: name, value: string))
                }
            case is NSNull:
                continue
            default:
                throw ValidationError("\(name): expected a string or a list of strings")
            }
        }
        return fields
    }

    static func report(context: ServiceContext, injected: [(name: String, value: String)]) -> [String: Any] {
        var output: [String: Any] = [:]
        if let spanContext = context.spanContext {
            output["valid"] = true
            output["trace_id"] = spanContext.traceID.description
            output["span_id"] = spanContext.spanID.description
            output["sampled"] = spanContext.flags.contains(.sampled)
            output["flags"] = String(format: "%02x", spanContext.flags.rawValue)
            // The whole list, unshortened, so the test sees every member that was kept.
            output["tracestate"] = spanContext.traceState.headerValue(maxLength: .max)
        } else {
            output["valid"] = false
        }
        var baggage: [String: String] = [:]
        var properties: [String: [[String: Any]]] = [:]
        // With duplicate keys the last entry wins, as `Baggage`'s subscript reads them.
        for entry in context.baggage?.entries ?? [] {
            baggage[entry.key] = entry.value
            properties[entry.key] = entry.properties.map { property in
                var described: [String: Any] = ["key": property.key]
                if let value = property.value { described["value"] = value }
                return described
            }
        }
        output["baggage"] = baggage
        output["baggage_properties"] = properties
        var headers: [String: String] = [:]
        for field in injected { headers[field.name] = field.value }
        output["injected"] = headers
        return output
    }
}

/// `causeway debug emit-span`: one parent span and one child with every kind of field,
/// exported by the EventTracingOTLP SDK to `--endpoint`, so that a test can decode what
/// arrives with another project's OTLP decoder.
///
/// Nothing is bootstrapped globally: the tracer is built and used directly, flushed and
/// shut down before the command returns. Prints one JSON line with the IDs it made, for
/// the test to compare with what it received.
struct DebugEmitSpan: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "emit-span",
        abstract: "Export a parent and a child span with every kind of field to an OTLP/HTTP endpoint.",
        shouldDisplay: false
    )

    @Option(help: "The OTLP/HTTP base URL; spans go to <endpoint>/v1/traces.")
    var endpoint: String

    @Option(name: .customLong("protocol"), help: "http/protobuf or http/json.")
    var wireProtocol = "http/protobuf"

    @Option(help: "none or gzip.")
    var compression = "none"

    /// What `recordError` records: its type and description become `exception.*`.
    struct PaymentDeclined: Error, CustomStringConvertible {
        var description: String { "card declined: insufficient funds" }
    }

    func run() async throws {
        guard let wire = OTLPExporterConfiguration.WireProtocol(rawValue: wireProtocol) else {
            throw ValidationError("--protocol must be http/protobuf or http/json, got \(wireProtocol)")
        }
        guard let gzip = OTLPExporterConfiguration.Compression(rawValue: compression) else {
            throw ValidationError("--compression must be none or gzip, got \(compression)")
        }
        var configuration = OTLPConfiguration(serviceName: "causeway-interop", serviceVersion: "1.2.3")
        configuration.exporter.setBaseEndpoint(endpoint)
        configuration.exporter.wireProtocol = wire
        configuration.exporter.compression = gzip
        // A sink that fails should fail the test at once, not after minutes of backoff.
        configuration.exporter.retry = OTLPRetryPolicy(
            maxAttempts: 1, initialBackoff: .milliseconds(10), maxBackoff: .milliseconds(10))
        let otel = OTLPTracing(configuration: configuration)
        let tracer = otel.tracer

        // The message the consumer span is linked to, as a remote context with a tracestate.
        var linkedContext = ServiceContext.topLevel
        linkedContext.spanContext = SpanContext(
            traceID: SpanContext.TraceID(high: 0x4bf9_2f35_77b3_4da6, low: 0xa3ce_929d_0e0e_4736),
            spanID: SpanContext.SpanID(0x00f0_67aa_0ba9_02b7),
            flags: [.sampled],
            traceState: TraceState("congo=t61rcWkgMzE,rojo=00f067aa0ba902b7") ?? TraceState(),
            isRemote: true
        )

        let parent = tracer.startSpan("process orders", context: ServiceContext.topLevel, ofKind: .consumer)
        parent.attributes["messaging.system"] = "kafka"
        parent.attributes["messaging.batch.message_count"] = 3
        parent.addLink(SpanLink(context: linkedContext, attributes: ["link.reason": "message creation"]))

        let child = tracer.startSpan("charge card", context: parent.context, ofKind: .client)
        child.attributes["string.attr"] = "café ☕"
        child.attributes["int.attr"] = SpanAttribute.int64(-9_007_199_254_740_993)
        child.attributes["double.attr"] = 2.5
        child.attributes["bool.attr"] = true
        child.attributes["string_array.attr"] = SpanAttribute.stringArray(["a", "b"])
        child.attributes["int_array.attr"] = SpanAttribute.int64Array([1, -2, 3])
        child.attributes["double_array.attr"] = SpanAttribute.doubleArray([0.5, -1.25])
        child.attributes["bool_array.attr"] = SpanAttribute.boolArray([true, false])
        child.addEvent(SpanEvent(name: "card.checked", attributes: ["card.brand": "visa", "attempt": 2]))
        child.recordError(PaymentDeclined())
        child.setStatus(SpanStatus(code: .error, message: "payment failed"))
        child.end()
        parent.end()

        await otel.service.shutdown()

        let spanContext = parent.context.spanContext
        let childContext = child.context.spanContext
        let report: [String: Any] = [
            "trace_id": spanContext?.traceID.description ?? "",
            "parent_span_id": spanContext?.spanID.description ?? "",
            "child_span_id": childContext?.spanID.description ?? "",
            "child_trace_id": childContext?.traceID.description ?? "",
        ]
        let data = try JSONSerialization.data(withJSONObject: report, options: [.sortedKeys])
        FileHandle.standardOutput.write(data + Data("\n".utf8))
    }
}
