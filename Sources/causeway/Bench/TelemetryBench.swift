import ArgumentParser
import Collector
import Foundation
import Telemetry

struct Bench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure Causeway's hot paths.",
        subcommands: [TelemetryBench.self, IngestBench.self, StitcherBench.self, BrokerBench.self, RedisStreamsBench.self])
}

/// `causeway bench telemetry`: decode and encode of the standard request in every codec,
/// side by side with the official protobuf library's C parser (upb) on the same bytes.
struct TelemetryBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "telemetry",
        abstract: "Decode/encode speed of the standard 512-span request, against upb.")

    @Option(help: "Seconds per measurement round.")
    var seconds: Double = 1.5

    @Option(help: "Rounds; the best round of each measurement is reported.")
    var rounds: Int = 3

    @Option(help: "Python with the opentelemetry-proto package (upb backend); empty to skip upb.")
    var python: String = ".venv/bin/python"

    @Option(help: "The script that times upb's parse.")
    var upbScript: String = "Tests/Interop/upb_parse_bench.py"

    @Option(help: "Also write the standard request's protobuf bytes to this file.")
    var writeRequest: String?

    func run() throws {
        let request = StandardRequest.traces()
        let protobuf = request.protobufBytes()
        let spans = Double(request.spanCount)
        let requestFile = writeRequest ?? NSTemporaryDirectory() + "causeway-standard-request.pb"
        try Data(protobuf).write(to: URL(fileURLWithPath: requestFile))
        print("standard request: \(request.spanCount) spans, \(protobuf.count) bytes protobuf")

        var measurements: [String: Measurement] = [:]
        var order: [String] = []
        func record(_ name: String, bytes: Int, _ secondsPerOp: Double) {
            if measurements[name] == nil { order.append(name) }
            let candidate = Measurement(bytes: bytes, secondsPerOp: secondsPerOp)
            if let old = measurements[name], old.secondsPerOp <= secondsPerOp { return }
            measurements[name] = candidate
        }

        let stitcherSkim = ChainStitcher(configuration: StitcherConfiguration()).attributeSkim
        let useUPB = !python.isEmpty && FileManager.default.isExecutableFile(atPath: python)
        for round in 1...rounds {
            record("otlp-protobuf decode", bytes: protobuf.count, time(seconds) {
                (try? ExportTraceServiceRequest(protobuf: protobuf))?.resourceSpans.count ?? 0
            })
            // As the OTLP receiver decodes for the store and protobuf exporters alone, and
            // with the stitcher too (keeping the attributes and events it reads).
            for (name, skim) in [("skimming all", AttributeSkim.keepingNothing), ("skimming for the stitcher", stitcherSkim)] {
                record("otlp-protobuf decode, " + name, bytes: protobuf.count, time(seconds) {
                    protobuf.withUnsafeBytes { buffer in
                        (try? ExportTraceServiceRequest(protobuf: buffer, keepingSpanBytes: true, skimming: skim))?.resourceSpans.count ?? 0
                    }
                })
            }
            record("otlp-protobuf encode", bytes: protobuf.count, time(seconds) { request.protobufBytes().count })
            for codec in TelemetryCodecs.all(request) {
                if let decode = codec.decode {
                    record(codec.name + " decode", bytes: codec.bytes.count, time(seconds, decode))
                }
                record(codec.name + " encode", bytes: codec.bytes.count, time(seconds) { codec.encode() })
            }
            if useUPB {
                let upb = try UPBParse.measure(python: python, script: upbScript, file: requestFile, seconds: seconds)
                record("upb parse (python protobuf, C)", bytes: protobuf.count, upb)
            }
            FileHandle.standardError.write("round \(round)/\(rounds) done\n".data(using: .utf8)!)
        }

        print("")
        print("measurement".padding(toLength: 36, withPad: " ", startingAt: 0) + "   MB/s     spans/s    µs/span")
        for name in order {
            guard let m = measurements[name] else { continue }
            let mbps = Double(m.bytes) / m.secondsPerOp / 1e6
            let spansPerSecond = spans / m.secondsPerOp
            print(
                name.padding(toLength: 36, withPad: " ", startingAt: 0)
                    + String(format: "%7.1f  %10.0f  %9.3f", mbps, spansPerSecond, m.secondsPerOp / spans * 1e6))
        }
        if let ours = measurements["otlp-protobuf decode"], let upb = measurements["upb parse (python protobuf, C)"] {
            print(String(format: "\nratio protobuf decode vs upb parse (higher is better): %.2f", upb.secondsPerOp / ours.secondsPerOp))
        } else if !useUPB {
            print("\n(upb not measured: no python at \(python); run `make bench` to set up the venv)")
        }
    }

    struct Measurement {
        var bytes: Int
        var secondsPerOp: Double
    }
}

/// Runs `body` repeatedly for about `seconds` after a short warm-up; seconds per call.
func time(_ seconds: Double, _ body: () -> Int) -> Double {
    var sink = 0
    let clock = ContinuousClock()
    let warmUp = clock.now.advanced(by: .milliseconds(200))
    while clock.now < warmUp { sink &+= body() }
    var iterations = 0
    let start = clock.now
    let deadline = start.advanced(by: .milliseconds(Int64(seconds * 1000)))
    var now = start
    repeat {
        for _ in 0..<4 { sink &+= body() }
        iterations += 4
        now = clock.now
    } while now < deadline
    if sink == 42 { print("") }  // keeps the optimizer from dropping the work
    let elapsed = now - start
    let total = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    return total / Double(iterations)
}

enum UPBParse {
    /// Seconds per parse of `file` by upb, as the Python script reports it.
    static func measure(python: String, script: String, file: String, seconds: Double) throws -> Double {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = [script, file, "--seconds", String(seconds)]
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0,
            let object = try JSONSerialization.jsonObject(with: data) as? [String: Any],
            let perParse = object["seconds_per_parse"] as? Double
        else {
            throw ValidationError("upb benchmark failed: \(String(decoding: data, as: UTF8.self))")
        }
        return perParse
    }
}
