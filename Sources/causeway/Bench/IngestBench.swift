import ArgumentParser
import AsyncHTTPClient
import CompressNIO
import Foundation
import NIOCore
import NIOHTTP1
import Telemetry

#if canImport(Glibc)
import Glibc
#endif

/// `causeway bench ingest`: the collector's sustained OTLP/HTTP ingest with its store on.
///
/// Starts `causeway collector` as a child process (so that its CPU time and peak RSS are
/// its own, read from /proc), then sends the standard 512-span protobuf request over
/// several keep-alive connections for a while. Each request gets fresh trace IDs so the
/// store really writes every span.
struct IngestBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ingest",
        abstract: "Measure the collector's sustained OTLP/HTTP ingest: spans/s, CPU per million spans, peak RSS.")

    @Option(help: "Concurrent keep-alive connections.")
    var connections = 4

    @Option(help: "Seconds of load.")
    var seconds = 10

    @Option(help: "Spans per second offered in all (0: as fast as the collector answers). Below the collector's capacity no request is refused, so runs compare the same work.")
    var rate = 0

    @Option(help: "Extra arguments for the collector, e.g. --export-otlp URL (repeatable). Without --config the collector runs its defaults: the stitcher is in the traces pipeline.")
    var collectorArgument: [String] = []

    @Option(help: "standard: the standard 512-span request, fresh trace IDs each time (every span its own chain, linking to a span never sent); chains: the stitcher benchmark's chains (1–4 hops, fan-out, retries, an HTTP call; about 7 spans a chain), shuffled and sent 512 spans a request.")
    var workload = "standard"

    @Option(help: "The causeway executable whose collector is measured (default: this one), so that two builds are compared under the same load generator.")
    var collectorExecutable: String?

    @Flag(help: "Send every request gzip-compressed (zlib's default level, as the OpenTelemetry Collector's exporters send by default): the collector inflates each, and an OTLP exporter with gzip forwards it as received. The load generator compresses as it sends, on the same cores.")
    var gzip = false

    @Flag(help: "Run the load twice, with the chain stitcher in the traces pipeline and without it, and print both costs and their ratio.")
    var compareStitching = false

    func run() async throws {
        guard ["standard", "chains"].contains(workload) else {
            throw ValidationError("--workload must be standard or chains, got \(workload)")
        }
        guard compareStitching else {
            let figures = try await measure(collectorArguments: collectorArgument)
            // The stitcher's share is most of the cost when it is on: say whether it is.
            let pipeline = collectorArgument.contains(where: { $0 == "--config" || $0.hasPrefix("--config=") }) ? "pipeline from the --config file" : "default pipeline (stitcher on)"
            print("connections:              \(connections), \(seconds) s, \(rate > 0 ? "\(rate) spans/s offered" : "as fast as answered"), workload \(workload)\(gzip ? " (gzip)" : ""), store on, \(pipeline)")
            figures.print()
            return
        }
        // Two config files identical but for the stitcher, so that nothing else differs
        // between the runs (the memory limiter and the store use their defaults in both).
        let folder = (NSTemporaryDirectory() as NSString).appendingPathComponent("causeway-bench-config-\(UUID().uuidString)")
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        var runs: [(label: String, figures: IngestFigures)] = []
        for (label, processors) in [("stitching on", "[memory_limiter, stitcher]"), ("stitching off", "[memory_limiter]")] {
            let path = (folder as NSString).appendingPathComponent(label.replacingOccurrences(of: " ", with: "-") + ".yaml")
            try Self.collectorConfiguration(processors: processors).write(toFile: path, atomically: true, encoding: .utf8)
            runs.append((label, try await measure(collectorArguments: ["--config", path] + collectorArgument, drain: true)))
        }
        print("connections:              \(connections), \(seconds) s per run, \(rate > 0 ? "\(rate) spans/s offered" : "as fast as answered"), workload \(workload), store on")
        print("CPU counted until the collector is idle again (chains finalized after a 1 s idle window and stored)")
        for (label, figures) in runs {
            print("-- \(label)")
            figures.print()
        }
        let on = runs[0].figures.cpuMicrosPerAcceptedSpan, off = runs[1].figures.cpuMicrosPerAcceptedSpan
        print(String(format: "stitching on / off:       %.3f (CPU per accepted span, %.2f µs vs %.2f µs)", off > 0 ? on / off : 0, on, off))
    }

    /// A collector config whose traces pipeline lists `processors`; every other key is a
    /// default but the stitcher's idle window, 1 s instead of 30 s, so that the chains of
    /// the load are finalized and stored within the run and their cost is counted, and the
    /// store's maximum age, so that no retention sweep deleting the load's spans is counted
    /// as the cost of storing them (the spans were once dated 2023–2025; they are dated from
    /// the load's start now, and the long age keeps runs comparable).
    static func collectorConfiguration(processors: String) -> String {
        """
        service:
          pipelines:
            traces:
              receivers: [otlp, zipkin]
              processors: \(processors)
            logs:
              receivers: [otlp]
              processors: [memory_limiter]
        processors:
          memory_limiter: {}
          stitcher:
            idle_window: 1s
        causeway:
          store:
            retention:
              max_age: 100000h
        """
    }

    /// Starts a collector with `collectorArguments`, loads it for `seconds`, stops it. With
    /// `drain`, the collector's CPU is read once it is idle again, so that the work it
    /// accepted but had not finished when the load stopped (queued batches, chains waiting
    /// for their idle window) counts too.
    func measure(collectorArguments: [String], drain: Bool = false) async throws -> IngestFigures {
        let executable = collectorExecutable
            ?? (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        let dataDirectory = (NSTemporaryDirectory() as NSString).appendingPathComponent("causeway-bench-\(UUID().uuidString)")
        let collector = Process()
        collector.executableURL = URL(fileURLWithPath: executable)
        collector.arguments = ["collector", "--data-dir", dataDirectory, "--otlp-port", "0", "--zipkin-port", "0", "--http-port", "0"] + collectorArguments
        let output = Pipe()
        collector.standardOutput = output
        try collector.run()
        defer {
            if collector.isRunning { collector.terminate() }
            try? FileManager.default.removeItem(atPath: dataDirectory)
        }
        var line = ""
        while !line.contains("\n") {
            let data = output.fileHandleForReading.availableData
            if data.isEmpty { throw IngestBenchError(message: "the collector exited before it listened") }
            line += String(decoding: data, as: UTF8.self)
        }
        guard let range = line.range(of: "otlp=127.0.0.1:"), let port = Int(line[range.upperBound...].prefix { $0.isNumber }) else {
            throw IngestBenchError(message: "no OTLP port in \(line)")
        }
        let url = "http://127.0.0.1:\(port)/v1/traces"
        let template = StandardRequest.traces()
        // How much older the template's spans are than now.
        let age = UInt64(Date().timeIntervalSince1970 * 1e9) &- (template.resourceSpans.first?.scopeSpans.first?.spans.first?.startTimeUnixNano ?? 0)
        // Enough requests for the whole run at the offered rate (at 100k spans/s without one),
        // encoded before the clock starts so that generating them costs the load nothing.
        let chainRequests: [(body: [UInt8], spans: Int)] =
            workload == "chains" ? Self.chainRequests(spans: (rate > 0 ? rate : 100_000) * seconds * 11 / 10 + connections * 512) : []

        var configuration = HTTPClient.Configuration()
        configuration.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = connections
        let client = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
        let before = try ProcessFigures(pid: collector.processIdentifier)
        let start = ContinuousClock.now
        let deadline = start + .seconds(seconds)
        let totals = try await withThrowingTaskGroup(of: (accepted: Int, refused: Int).self) { group in
            for connection in 0..<connections {
                group.addTask {
                    var accepted = 0
                    var refused = 0
                    var round: UInt64 = 0
                    // Each connection's share of the rate, one standard request at a time.
                    let interval: Duration? = rate > 0
                        ? .nanoseconds(Int64(Double(StandardRequest.spanCount * connections) / Double(rate) * 1e9)) : nil
                    while ContinuousClock.now < deadline {
                        if let interval {
                            let due = start + interval * Int(round)
                            if due > ContinuousClock.now { try await Task.sleep(until: due, clock: .continuous) }
                            guard ContinuousClock.now < deadline else { break }
                        }
                        round += 1
                        if !chainRequests.isEmpty {
                            let next = chainRequests[(Int(round - 1) * connections + connection) % chainRequests.count]
                            if try await post(next.body, to: url, with: client) { accepted += next.spans } else { refused += next.spans }
                            continue
                        }
                        var request = template
                        let salt = (UInt64(connection) << 48) | round
                        for r in request.resourceSpans.indices {
                            for s in request.resourceSpans[r].scopeSpans.indices {
                                for i in request.resourceSpans[r].scopeSpans[s].spans.indices {
                                    request.resourceSpans[r].scopeSpans[s].spans[i].traceID.high ^= salt
                                    // Dated from now, as live spans are (see `chainRequests`).
                                    request.resourceSpans[r].scopeSpans[s].spans[i].startTimeUnixNano &+= age
                                    request.resourceSpans[r].scopeSpans[s].spans[i].endTimeUnixNano &+= age
                                    for e in request.resourceSpans[r].scopeSpans[s].spans[i].events.indices {
                                        request.resourceSpans[r].scopeSpans[s].spans[i].events[e].timeUnixNano &+= age
                                    }
                                    // The link targets too: unsalted, span i of every request
                                    // linked to one target and the stitcher grew 512 chains
                                    // with every request, a fan-in no real load has.
                                    for l in request.resourceSpans[r].scopeSpans[s].spans[i].links.indices {
                                        request.resourceSpans[r].scopeSpans[s].spans[i].links[l].traceID.high ^= salt
                                    }
                                }
                            }
                        }
                        if try await post(request.protobufBytes(), to: url, with: client) {
                            accepted += request.spanCount
                        } else {
                            refused += request.spanCount
                        }
                    }
                    return (accepted, refused)
                }
            }
            var sum = (accepted: 0, refused: 0)
            for try await part in group {
                sum.accepted += part.accepted
                sum.refused += part.refused
            }
            return sum
        }
        let elapsed = ContinuousClock.now - start
        var after = try ProcessFigures(pid: collector.processIdentifier)
        var drainSeconds = 0.0
        if drain {
            let drainStart = ContinuousClock.now
            after = try await Self.idle(pid: collector.processIdentifier, from: after)
            let drained = ContinuousClock.now - drainStart
            drainSeconds = Double(drained.components.seconds) + Double(drained.components.attoseconds) / 1e18
        }
        try await client.shutdown()
        // The collector drains what it accepted into the store before it exits.
        collector.terminate()
        collector.waitUntilExit()
        return IngestFigures(
            accepted: totals.accepted, refused: totals.refused,
            wallSeconds: Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18,
            cpuSeconds: after.cpuSeconds - before.cpuSeconds, peakRSSKiB: after.peakRSSKiB, drainSeconds: drainSeconds)
    }
}

extension IngestBench {
    /// Posts one OTLP protobuf request (gzip-compressed when `--gzip` asks for it); true
    /// when the collector accepted it.
    func post(_ protobuf: [UInt8], to url: String, with client: HTTPClient) async throws -> Bool {
        var http = HTTPClientRequest(url: url)
        http.method = .POST
        http.headers.add(name: "Content-Type", value: "application/x-protobuf")
        if gzip {
            var buffer = ByteBuffer(bytes: protobuf)
            http.headers.add(name: "Content-Encoding", value: "gzip")
            http.body = .bytes(try buffer.compress(with: .gzip()))
        } else {
            http.body = .bytes(protobuf)
        }
        let response = try await client.execute(http, timeout: .seconds(30))
        _ = try await response.body.collect(upTo: 1 << 20)
        return response.status == .ok
    }

    /// `ChainShapes`' chains (as `causeway bench stitcher` makes them), shuffled within
    /// windows of 200 chains and cut into requests of 512 spans, each service's spans under
    /// its own resource; at least `spans` spans in all.
    static func chainRequests(spans wanted: Int) -> [(body: [UInt8], spans: Int)] {
        var generator = ChainShapes()
        // Dated from now, as live spans are: the store then saves a chain's first revision
        // without looking for an earlier row, as it does in production (a chain that started
        // before the store opened may have been stored by an earlier run).
        generator.epoch = UInt64(Date().timeIntervalSince1970 * 1e9)
        var requests: [(body: [UInt8], spans: Int)] = []
        var total = 0
        var first = 0
        while total < wanted {
            var spans = (first..<first + 200).flatMap { generator.chain($0) }
            generator.shuffle(&spans)
            first += 200
            var start = 0
            while start < spans.count {
                let slice = spans[start..<min(start + StandardRequest.spanCount, spans.count)]
                var byService: [String: [Span]] = [:]
                for (service, span) in slice { byService[service, default: []].append(span) }
                let request = ExportTraceServiceRequest(resourceSpans: byService.sorted { $0.key < $1.key }.map { service, spans in
                    ResourceSpans(resource: Resource(attributes: [KeyValue("service.name", .string(service))]), scopeSpans: [ScopeSpans(spans: spans)])
                })
                requests.append((request.protobufBytes(), slice.count))
                total += slice.count
                start += StandardRequest.spanCount
            }
        }
        return requests
    }

    /// The figures of `pid` once it used at most one clock tick (10 ms) of CPU in half a
    /// second: at least 3 s after `from`, which covers a 1 s idle window and the stitcher's
    /// 1 s tick, and at most 10 minutes.
    static func idle(pid: Int32, from: ProcessFigures) async throws -> ProcessFigures {
        var last = from
        for round in 0..<1200 {
            try await Task.sleep(for: .milliseconds(500))
            let now = try ProcessFigures(pid: pid)
            let quiet = now.cpuSeconds - last.cpuSeconds < 0.015
            last = now
            if quiet && round >= 5 { break }
        }
        return last
    }
}

/// What one load run measured of the collector.
struct IngestFigures {
    var accepted: Int
    var refused: Int
    var wallSeconds: Double
    var cpuSeconds: Double
    var peakRSSKiB: Int
    /// How long the collector stayed busy after the load (0 when not waited for).
    var drainSeconds = 0.0

    var cpuMicrosPerAcceptedSpan: Double { accepted > 0 ? cpuSeconds / Double(accepted) * 1e6 : 0 }

    func print() {
        Swift.print("accepted spans:           \(accepted) (\(Int(Double(accepted) / wallSeconds)) spans/s)")
        Swift.print("refused spans (429/503):  \(refused)")
        Swift.print(String(format: "collector CPU:            %.2f s user+sys, %.2f CPU-s per million spans (%.2f µs/span)", cpuSeconds, cpuMicrosPerAcceptedSpan, cpuMicrosPerAcceptedSpan))
        Swift.print("collector peak RSS:       \(peakRSSKiB / 1024) MiB")
        if drainSeconds > 0 { Swift.print(String(format: "busy after the load:      %.1f s", drainSeconds)) }
    }
}

struct IngestBenchError: Error, CustomStringConvertible {
    var message: String
    var description: String { message }
}

/// A process's CPU time and peak resident set, from /proc (Linux).
struct ProcessFigures {
    var cpuSeconds: Double
    var peakRSSKiB: Int
    var residentKiB: Int

    init(pid: Int32) throws {
        let stat = try String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)
        // Fields after the command name, which is in parentheses and may hold spaces.
        let fields = stat[stat.index(after: stat.lastIndex(of: ")")!)...].split(separator: " ")
        // proc(5): utime and stime are fields 14 and 15, i.e. 12 and 13 after the name.
        let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
        cpuSeconds = (Double(fields[11])! + Double(fields[12])!) / ticks
        let status = try String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)
        func kib(_ field: String) -> Int {
            let line = status.split(separator: "\n").first { $0.hasPrefix(field) }
            return line.flatMap { Int($0.split(separator: " ").dropFirst().first ?? "") } ?? 0
        }
        peakRSSKiB = kib("VmHWM:")
        residentKiB = kib("VmRSS:")
    }
}
