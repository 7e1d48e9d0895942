import ArgumentParser
import Collector
import Foundation
import Logging

/// `causeway bench stitcher`: the chain stitcher alone, on generated chains of varying shape
/// (1–4 hops, fan-out, retries, an HTTP call, an orphan link, an unconsumed message), their
/// spans shuffled within a window so consumers often arrive before their producers.
struct StitcherBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stitcher",
        abstract: "CPU per span and memory per open span of the chain stitcher.")

    @Option(help: "Chains to generate.")
    var chains: Int = 100_000

    @Option(help: "Spans per ingested batch.")
    var batch: Int = 1_000

    func run() async throws {
        let workload = StitcherWorkload(chains: chains, batch: batch)
        workload.report()
        try await storeChains(workload)
    }

    /// The chain store's share: the workload's finalized chains saved into a fresh store in
    /// writes of `ChainRecorder.chainsPerWrite`, as the collector's recorder writes them;
    /// CPU of the whole process (the database's writer thread included), per span of the
    /// chains, and the bytes of the database's files after.
    func storeChains(_ workload: StitcherWorkload) async throws {
        var workload = workload
        workload.epoch = UInt64(Date().timeIntervalSince1970 * 1e9) + 3_600_000_000_000
        let directory = (NSTemporaryDirectory() as NSString).appendingPathComponent("causeway-bench-chains-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var logger = Logger(label: "bench")
        logger.logLevel = .error
        let store = try TelemetryStore(
            directory: directory, retention: .init(maxAgeSeconds: 360_000_000, maxBytes: .max, intervalSeconds: 3_600),
            correlationAttributes: [], logger: logger)
        let (chains, spans) = workload.finalizedChains()
        let before = cpuNanos()
        var first = 0
        while first < chains.count {
            let last = min(first + ChainRecorder.chainsPerWrite, chains.count)
            try await store.saveChains(Array(chains[first..<last]))
            first = last
        }
        let cpu = cpuNanos() - before
        let bytes = ["store.sqlite", "store.sqlite-wal"].reduce(0) { sum, file in
            sum + ((try? FileManager.default.attributesOfItem(atPath: (directory as NSString).appendingPathComponent(file))[.size] as? Int) ?? 0)
        }
        print(String(format: "store %d chains: CPU ns/span                %8.0f", chains.count, Double(cpu) / Double(spans)))
        print(String(format: "store: database bytes/chain                 %8.0f", Double(bytes) / Double(chains.count)))
    }
}

