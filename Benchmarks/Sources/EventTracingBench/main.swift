import EventTracing
import EventTracingOTLP
import Instrumentation
import Logging
import OTel
import ServiceContextModule
import ServiceLifecycle
import Tracing

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// `make bench-tracing`: EventTracing's hot paths and swift-otel's, in one process, in
// alternating rounds so that both sides see the same machine load; the best round of each
// side is reported. Usage: EventTracingBench [--rounds N] [--iterations N]

var rounds = 9
var iterations = 20_000
do {
    var arguments = CommandLine.arguments.dropFirst().makeIterator()
    while let argument = arguments.next() {
        switch argument {
        case "--rounds": rounds = arguments.next().flatMap { Int($0) } ?? rounds
        case "--iterations": iterations = arguments.next().flatMap { Int($0) } ?? iterations
        default:
            print("usage: EventTracingBench [--rounds N] [--iterations N]")
            exit(2)
        }
    }
}

let quiet = Logger(label: "bench", factory: { _ in SwiftLogNoOpLogHandler() })

// MARK: Both SDKs, each with a batch span processor whose exporter drops everything.

// Ours: the exporter posts to a closed port and gives up at once, and the queue holds a
// whole round, so exporting (and failing) happens only in the untimed flush between rounds.
var ourConfiguration = OTLPConfiguration(serviceName: "bench")
ourConfiguration.exporter.tracesEndpoint = "http://127.0.0.1:9/v1/traces"
ourConfiguration.exporter.logsEndpoint = "http://127.0.0.1:9/v1/logs"
ourConfiguration.exporter.timeout = .milliseconds(200)
ourConfiguration.exporter.retry = OTLPRetryPolicy(maxAttempts: 1, initialBackoff: .milliseconds(1), maxBackoff: .milliseconds(1))
ourConfiguration.spanBatch = OTLPBatchConfiguration(
    maxQueueSize: max(iterations, 2048), scheduleDelay: .seconds(3600), maxExportBatchSize: max(iterations, 2048))
let ours = OTLPTracing(configuration: ourConfiguration, logger: quiet)

// swift-otel: its "none" exporter drops everything; its batch processor (always used by
// makeTracingBackend) receives spans through an AsyncStream consumed off the caller's task.
var theirConfiguration = OTel.Configuration.default
theirConfiguration.serviceName = "bench"
theirConfiguration.diagnosticLogger = .custom(quiet)
theirConfiguration.metrics.enabled = false
theirConfiguration.traces.exporter = .none
theirConfiguration.traces.batchSpanProcessor.maxQueueSize = 4096
theirConfiguration.traces.batchSpanProcessor.maxExportBatchSize = 4096
theirConfiguration.logs.exporter = .none
let theirTracing = try OTel.makeTracingBackend(configuration: theirConfiguration)
let theirLogging = try OTel.makeLoggingBackend(configuration: theirConfiguration)
let theirs = theirTracing.factory

let services = ServiceGroup(
    services: [ours.service, theirTracing.service, theirLogging.service], gracefulShutdownSignals: [], logger: quiet)
let servicesRunning = Task { try await services.run() }

// MARK: The same context on both sides

let traceParentHeader = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-03"
let traceStateHeader = "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7,tenant@vendor=abc123,zeta=9f8e7d"
let baggageHeader = "userId=alice,serverNode=DF%2028,isProduction=false"

var ourContext = ServiceContext.topLevel
ourContext.spanContext = SpanContext(
    traceID: TraceParent(traceParentHeader)!.traceID, spanID: TraceParent(traceParentHeader)!.parentID,
    flags: [.sampled, .random], traceState: TraceState(traceStateHeader)!, isRemote: false)
ourContext.baggage = Baggage(baggageHeader)
ourContext.correlationID = CorrelationID.generate()
precondition(ourContext.baggage?.entries.count == 3 && ourContext.spanContext?.traceState.entries.count == 4)

// swift-otel keeps its span context under a key of its own; its extraction is how a
// program gets one from the same headers. It has no W3C Baggage propagator ("Swift OTel
// does not support the W3C Baggage propagator"), so its side carries traceparent and
// tracestate only.
var theirContext = ServiceContext.topLevel
theirs.extract(["traceparent": traceParentHeader, "tracestate": traceStateHeader], into: &theirContext, using: DictionaryExtractor())
let ourPropagator = EventContextPropagator()

/// One carrier for both sides, so that neither propagator's own carrier code is measured.
struct DictionaryInjector: Injector {
    func inject(_ value: String, forKey key: String, into carrier: inout [String: String]) { carrier[key] = value }
}

struct DictionaryExtractor: Extractor {
    func extract(key: String, from carrier: [String: String]) -> String? { carrier[key] }
}

// MARK: Operations

/// Keeps results alive so the optimizer cannot drop the work that made them.
nonisolated(unsafe) var sink = 0

@inline(never)
func injectExtract(_ instrument: some Instrument, _ context: ServiceContext, count: Int) {
    for _ in 0..<count {
        var headers: [String: String] = [:]
        instrument.inject(context, into: &headers, using: DictionaryInjector())
        var extracted = ServiceContext.topLevel
        instrument.extract(headers, into: &extracted, using: DictionaryExtractor())
        sink &+= headers.count &+ (extracted.isEmpty ? 0 : 1)
    }
}

@inline(never)
func spanWithTenAttributes(_ tracer: some Tracer, count: Int) {
    for _ in 0..<count {
        let span = tracer.startSpan("POST /orders", context: ServiceContext.topLevel, ofKind: .server)
        span.updateAttributes { attributes in
            attributes.set("http.request.method", value: .string("POST"))
            attributes.set("http.route", value: .string("/orders"))
            attributes.set("url.scheme", value: .string("https"))
            attributes.set("server.address", value: .string("orders.internal"))
            attributes.set("user_agent.original", value: .string("causeway-bench/1.0"))
            attributes.set("order.currency", value: .string("EUR"))
            attributes.set("http.response.status_code", value: .int64(201))
            attributes.set("server.port", value: .int64(8443))
            attributes.set("order.total", value: .double(129.95))
            attributes.set("order.express", value: .bool(true))
        }
        span.end()
    }
}

@inline(never)
func logLines(_ logger: Logger, in context: ServiceContext, count: Int) {
    ServiceContext.$current.withValue(context) {
        for index in 0..<count {
            logger.info("order placed", metadata: ["order_id": "\(index)", "customer": "alice", "items": "3"])
        }
    }
}

// MARK: Loggers

let discardingJSON = Logger(label: "orders") { label in
    JSONLogHandler(label: label, serviceName: "bench", output: .init { line in sink &+= line.count })
}
let theirLogger = Logger(label: "orders", factory: theirLogging.factory)
// The context a swift-otel span gives the code inside it, so its records carry IDs too.
let theirSpan = theirs.startSpan("POST /orders", context: theirContext, ofKind: .server)
let theirLogContext = theirSpan.context
theirSpan.end()

// The same /dev/null behind both stream loggers, through standard error (saved and put
// back before the results are printed).
let savedStandardError = dup(2)
let devNull = open("/dev/null", O_WRONLY)
let jsonToStream = Logger(label: "orders") { label in
    JSONLogHandler(label: label, serviceName: "bench", output: .standardError)
}
let streamLogger = Logger(label: "orders") { label in StreamLogHandler.standardError(label: label) }

// MARK: Measuring

let clock = ContinuousClock()

/// Nanoseconds per operation of one round of `count` operations.
func timeRound(count: Int, _ body: (Int) -> Void) -> Double {
    let start = clock.now
    body(count)
    let elapsed = start.duration(to: clock.now)
    let (seconds, attoseconds) = elapsed.components
    return (Double(seconds) * 1e9 + Double(attoseconds) / 1e9) / Double(count)
}

struct Comparison {
    var name: String
    var theirName: String
    var count: Int
    var ours: (Int) -> Void
    var theirs: (Int) -> Void
    /// Untimed work after each round: flushing what the round queued.
    var settle: () async -> Void = {}
}

let comparisons: [Comparison] = [
    Comparison(
        name: "inject+extract, full context", theirName: "swift-otel W3C propagator (no baggage)",
        count: iterations,
        ours: { injectExtract(ourPropagator, ourContext, count: $0) },
        theirs: { injectExtract(theirs, theirContext, count: $0) }),
    Comparison(
        name: "span start+end, 10 attributes", theirName: "swift-otel tracer, batch processor",
        count: iterations,
        ours: { spanWithTenAttributes(ours.tracer, count: $0) },
        theirs: { spanWithTenAttributes(theirs, count: $0) },
        settle: {
            await ours.service.forceFlush()
            theirs.forceFlush()
            // swift-otel hands spans to a consumer task; let it catch up before timing again.
            try? await Task.sleep(for: .milliseconds(50))
        }),
    Comparison(
        name: "JSON log line (discarding writer)", theirName: "swift-otel OTelLogHandler",
        count: iterations,
        ours: { logLines(discardingJSON, in: ourContext, count: $0) },
        theirs: { logLines(theirLogger, in: theirLogContext, count: $0) },
        settle: { try? await Task.sleep(for: .milliseconds(50)) }),
    Comparison(
        name: "JSON log line to /dev/null", theirName: "swift-log StreamLogHandler",
        count: iterations,
        ours: { logLines(jsonToStream, in: ourContext, count: $0) },
        theirs: { logLines(streamLogger, in: ourContext, count: $0) }),
]

struct Result {
    var name: String
    var theirName: String
    var ours: Double
    var theirs: Double
}

var results: [Result] = []
dup2(devNull, 2)
for comparison in comparisons {
    // One untimed warm-up round each: first-call costs (allocations, lazy globals).
    comparison.ours(min(comparison.count, 1000))
    comparison.theirs(min(comparison.count, 1000))
    await comparison.settle()
    var bestOurs = Double.infinity
    var bestTheirs = Double.infinity
    for round in 0..<rounds {
        // Alternating which side goes first cancels a drift in machine load.
        if round % 2 == 0 {
            bestOurs = min(bestOurs, timeRound(count: comparison.count, comparison.ours))
            await comparison.settle()
            bestTheirs = min(bestTheirs, timeRound(count: comparison.count, comparison.theirs))
        } else {
            bestTheirs = min(bestTheirs, timeRound(count: comparison.count, comparison.theirs))
            await comparison.settle()
            bestOurs = min(bestOurs, timeRound(count: comparison.count, comparison.ours))
        }
        await comparison.settle()
    }
    results.append(Result(name: comparison.name, theirName: comparison.theirName, ours: bestOurs, theirs: bestTheirs))
}
dup2(savedStandardError, 2)

await services.triggerGracefulShutdown()
_ = try? await servicesRunning.value

func padded(_ text: String, _ width: Int, right: Bool = false) -> String {
    let padding = String(repeating: " ", count: max(0, width - text.count))
    return right ? padding + text : text + padding
}

func formatted(_ value: Double, decimals: Int) -> String {
    var scale = 1.0
    for _ in 0..<decimals { scale *= 10 }
    let rounded = (value * scale).rounded() / scale
    var text = String(rounded)
    if let dot = text.firstIndex(of: ".") {
        let fraction = text[text.index(after: dot)...].count
        if fraction < decimals { text += String(repeating: "0", count: decimals - fraction) }
    }
    return text
}

#if DEBUG
let buildKind = "DEBUG build (not meaningful; use make bench-tracing)"
#else
let buildKind = "release build"
#endif
print("EventTracing vs swift-otel: \(buildKind), best of \(rounds) alternating rounds of \(iterations) operations")
print(
    padded("operation", 36) + padded("ours ns/op", 12, right: true) + padded("theirs ns/op", 14, right: true)
        + padded("ours/theirs", 13, right: true) + "  theirs")
for result in results {
    print(
        padded(result.name, 36) + padded(formatted(result.ours, decimals: 1), 12, right: true)
            + padded(formatted(result.theirs, decimals: 1), 14, right: true)
            + padded(formatted(result.ours / result.theirs, decimals: 3), 13, right: true) + "  " + result.theirName)
}
print("dropped spans (ours): \(ours.service.droppedSpanCount); checksum \(sink & 0xFFFF)")
