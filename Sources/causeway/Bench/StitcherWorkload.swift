import Collector
import Foundation
import Telemetry

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The measurement behind `causeway bench stitcher`, apart from the command line so that
/// it can also be compiled on its own with `swiftc -O` (see BENCHMARKS.md).
struct StitcherWorkload {
    var chains: Int
    var batch: Int
    /// When chain 0 starts (Unix nanoseconds).
    var epoch: UInt64 = ChainShapes().epoch
    /// Changes every ID the chains get (0: the usual ones).
    var seedOffset: UInt64 = 0
    /// Correlation IDs as random UUID texts instead of `order-N` (see `ChainShapes`).
    var randomCorrelationIDs = false

    func report() {
        // Phase 1: everything stays open (idle window longer than the run), so memory per
        // open span is measured at its peak.
        let rssBefore = residentBytes()
        var allOpen = ChainStitcher(configuration: Self.keepingEveryChainOpen)
        let open = drive(&allOpen, millisPerBatch: 1, finalize: false)
        let rssGrowth = residentBytes() - rssBefore
        let openSpans = allOpen.openSpanCount
        let structureBytes = allOpen.approximateBytes
        var finalizeCPU = cpuNanos()
        let finished = allOpen.finalizeAll(now: UInt64(1_800_000_000_000_000_000)).count
        finalizeCPU = cpuNanos() - finalizeCPU
        allOpen = ChainStitcher()

        // Phase 2: steady state: chains finalize after a 1 s idle window and are forgotten
        // 5 s later, as in a collector under constant load.
        var steadyConfiguration = StitcherConfiguration()
        steadyConfiguration.idleWindow = .seconds(1)
        steadyConfiguration.retention = .seconds(5)
        var steady = ChainStitcher(configuration: steadyConfiguration)
        let steadyRun = drive(&steady, millisPerBatch: 10, finalize: true)

        print("chains: \(chains), spans: \(open.spans), batch: \(batch) spans")
        print("")
        print("measurement                                    value")
        print(String(format: "ingest, all open: CPU ns/span              %8.0f", Double(open.cpuNanos) / Double(open.spans)))
        print(String(format: "finalize all %7d chains: CPU ns/span      %8.0f", finished, Double(finalizeCPU) / Double(open.spans)))
        print(String(format: "steady state (ingest+finalize): CPU ns/span %8.0f", Double(steadyRun.cpuNanos) / Double(steadyRun.spans)))
        print(String(format: "open spans at peak                          %8d", openSpans))
        print(String(format: "bytes/open span, stitcher structures        %8.0f", Double(structureBytes) / Double(openSpans)))
        print(String(format: "bytes/open span, resident memory growth     %8.0f", Double(rssGrowth) / Double(openSpans)))
        print(String(format: "steady state: chains finalized %d, held spans at end %d", steadyRun.finalized, steady.heldSpanCount))
    }

    /// The workload's chains, ingested all open and then finalized together, and their
    /// spans: what `causeway bench stitcher` stores to measure the chain store. Give them an
    /// `epoch` after the store opened: a chain starting before may replace a row an earlier
    /// run stored, and saving it looks for one first.
    func finalizedChains() -> (chains: [Chain], spans: Int) {
        var stitcher = ChainStitcher(configuration: Self.keepingEveryChainOpen)
        let run = drive(&stitcher, millisPerBatch: 1, finalize: false)
        return (stitcher.finalizeAll(now: UInt64(1_800_000_000_000_000_000)), run.spans)
    }

    /// An idle window longer than a run and no bounds: every chain stays open until
    /// `finalizeAll`.
    static var keepingEveryChainOpen: StitcherConfiguration {
        var configuration = StitcherConfiguration()
        configuration.idleWindow = .seconds(3_600)
        configuration.maxOpenChains = .max
        configuration.maxOpenSpans = .max
        return configuration
    }

    struct Run {
        var spans = 0
        var cpuNanos: Int64 = 0
        var finalized = 0
    }

    /// Generates the chains window by window and feeds them; only the stitcher's calls are timed.
    func drive(_ stitcher: inout ChainStitcher, millisPerBatch: UInt64, finalize: Bool) -> Run {
        var run = Run()
        var generator = ChainShapes()
        generator.epoch = epoch
        generator.seed ^= seedOffset
        generator.correlationSalt = randomCorrelationIDs ? seedOffset | 1 : nil
        var now: UInt64 = 1_700_000_000_000_000_000
        let window = 200
        var first = 0
        while first < chains {
            var spans = (first..<min(first + window, chains)).flatMap { generator.chain($0) }
            generator.shuffle(&spans)
            var start = 0
            while start < spans.count {
                let slice = spans[start..<min(start + batch, spans.count)]
                var byService: [String: [Span]] = [:]
                for (service, span) in slice { byService[service, default: []].append(span) }
                let request = ExportTraceServiceRequest(resourceSpans: byService.map { service, spans in
                    ResourceSpans(
                        resource: Resource(attributes: [KeyValue("service.name", .string(service))]),
                        scopeSpans: [ScopeSpans(spans: spans)])
                })
                now += millisPerBatch * 1_000_000
                let before = cpuNanos()
                run.finalized += stitcher.ingest(request, now: now).count
                if finalize { run.finalized += stitcher.finalizeIdle(now: now).count }
                run.cpuNanos += cpuNanos() - before
                run.spans += slice.count
                start += batch
            }
            first += window
        }
        return run
    }
}

/// Deterministic chains: chain k has 1 + k % 4 hops; even chains fan out on their last hop,
/// odd ones retry it; every 7th starts with an HTTP call, every 50th links to a span never
/// sent, every 40th sends one message nobody consumes.
struct ChainShapes {
    var seed: UInt64 = 0x9E37_79B9_7F4A_7C15
    /// When chain 0 starts; chain k starts k ms later.
    var epoch: UInt64 = 1_700_000_000_000_000_000
    /// Every three chains share a correlation ID: `order-N`, or with a salt here a UUID text
    /// made from N and the salt, as services that mint UUIDs send (random in key order).
    var correlationSalt: UInt64?

    func correlationID(_ n: Int) -> String {
        guard let correlationSalt else { return "order-\(n)" }
        var mixer = SplitMix64(seed: UInt64(n) ^ correlationSalt)
        let halves = (mixer.next(), mixer.next())
        return withUnsafeBytes(of: halves) { UUID(uuid: $0.load(as: uuid_t.self)) }.uuidString.lowercased()
    }

    mutating func next() -> UInt64 {
        seed = seed &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
        return seed >> 11
    }

    mutating func shuffle(_ items: inout [(String, Span)]) {
        guard items.count > 1 else { return }
        for i in stride(from: items.count - 1, to: 0, by: -1) {
            items.swapAt(i, Int(next() % UInt64(i + 1)))
        }
    }

    static let services = ["order", "inventory", "payment", "notification", "audit"]
    static let topics = ["orders", "inventory.reserved", "payments", "notifications", "audit"]

    mutating func chain(_ k: Int) -> [(String, Span)] {
        let base = epoch + UInt64(k) * 1_000_000
        let ms: UInt64 = 1_000_000
        var spans: [(String, Span)] = []
        var trace = TraceID(high: next() | 1, low: next())
        var parent = SpanID(next() | 1)
        let correlation = KeyValue("messaging.message.conversation_id", .string(correlationID(k / 3)))
        spans.append((Self.services[0], Span(
            traceID: trace, spanID: parent, name: "POST /orders", kind: .server,
            startTimeUnixNano: base, endTimeUnixNano: base + 100 * ms, attributes: [correlation])))
        if k % 7 == 0 {
            let call = SpanID(next() | 1)
            spans.append((Self.services[0], Span(
                traceID: trace, spanID: call, parentSpanID: parent, name: "GET /stock", kind: .client,
                startTimeUnixNano: base + 1 * ms, endTimeUnixNano: base + 5 * ms)))
            let server = SpanID(next() | 1)
            spans.append((Self.services[1], Span(
                traceID: trace, spanID: server, parentSpanID: call, name: "GET /stock", kind: .server,
                startTimeUnixNano: base + 2 * ms, endTimeUnixNano: base + 4 * ms)))
        }
        let hops = 1 + k % 4
        var clock = base + 10 * ms
        for hop in 0..<hops {
            let topic = Self.topics[hop]
            // UUID-sized, as real message IDs are: long enough to live on the heap.
            let messageID = String(next(), radix: 16) + "-" + String(next(), radix: 16)
            let producer = SpanID(next() | 1)
            spans.append((Self.services[hop], Span(
                traceID: trace, spanID: producer, parentSpanID: parent, name: topic + " send", kind: .producer,
                startTimeUnixNano: clock, endTimeUnixNano: clock + ms,
                attributes: [KeyValue("messaging.destination.name", .string(topic)),
                             KeyValue("messaging.message.id", .string(messageID))])))
            let last = hop == hops - 1
            let deliveries = last ? 2 : 1
            var nextParent = parent
            var nextTrace = trace
            for delivery in 0..<deliveries {
                let consumerTrace = TraceID(high: next() | 1, low: next())
                let consumer = SpanID(next() | 1)
                let group = last && k % 2 == 0 && delivery == 1 ? "analytics" : Self.services[hop + 1]
                let linkTarget = k % 50 == 0 && hop == 0 ? SpanID(next() | 1) : producer
                spans.append((Self.services[hop + 1], Span(
                    traceID: consumerTrace, spanID: consumer, name: topic + " process", kind: .consumer,
                    startTimeUnixNano: clock + 5 * ms, endTimeUnixNano: clock + 20 * ms,
                    attributes: [KeyValue("messaging.destination.name", .string(topic)),
                                 KeyValue("messaging.consumer.group.name", .string(group)),
                                 KeyValue("messaging.message.id", .string(messageID))],
                    links: [SpanLink(traceID: trace, spanID: linkTarget)])))
                if delivery == 0 {
                    let work = SpanID(next() | 1)
                    spans.append((Self.services[hop + 1], Span(
                        traceID: consumerTrace, spanID: work, parentSpanID: consumer, name: "handle", kind: .internal,
                        startTimeUnixNano: clock + 6 * ms, endTimeUnixNano: clock + 18 * ms)))
                    nextParent = consumer
                    nextTrace = consumerTrace
                }
            }
            trace = nextTrace
            parent = nextParent
            clock += 25 * ms
        }
        if k % 40 == 0 {
            spans.append((Self.services[hops], Span(
                traceID: trace, spanID: SpanID(next() | 1), parentSpanID: parent, name: "audit send", kind: .producer,
                startTimeUnixNano: clock, endTimeUnixNano: clock + ms,
                attributes: [KeyValue("messaging.destination.name", .string("audit"))])))
        }
        return spans
    }
}

/// User plus system CPU time of this process.
func cpuNanos() -> Int64 {
    var usage = rusage()
    _ = getrusage(RUSAGE_SELF.rawValue, &usage)
    let user = Int64(usage.ru_utime.tv_sec) * 1_000_000_000 + Int64(usage.ru_utime.tv_usec) * 1_000
    let system = Int64(usage.ru_stime.tv_sec) * 1_000_000_000 + Int64(usage.ru_stime.tv_usec) * 1_000
    return user + system
}

/// Resident set size from /proc (Linux); 0 where there is none.
func residentBytes() -> Int {
    guard let statm = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return 0 }
    let fields = statm.split(separator: " ")
    guard fields.count > 1, let pages = Int(fields[1]) else { return 0 }
    return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
}
