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
        abstract: "CPU per span and memory per open span of the chain stitcher, then CPU per span and bytes per chain of the chain store.")

    @Option(help: "Chains to generate.")
    var chains: Int = 100_000

    @Option(help: "Spans per ingested batch.")
    var batch: Int = 1_000

    @Option(help: "Times the chains are stored, with other IDs, before the measured time: the store measured as a long-running collector's, already holding chains, instead of empty.")
    var storedBefore: Int = 0

    @Flag(name: .customLong("random-correlation-ids"), help: "Correlation IDs as random UUID texts instead of order-N, so that the index of chains by correlation ID is written in random key order.")
    var randomCorrelationIDs = false

    func validate() throws {
        guard chains > 0 else { throw ValidationError("--chains must be at least 1, got \(chains)") }
        guard batch > 0 else { throw ValidationError("--batch must be at least 1, got \(batch)") }
        guard storedBefore >= 0 else { throw ValidationError("--stored-before must be 0 or more, got \(storedBefore)") }
    }

    func run() async throws {
        var workload = StitcherWorkload(chains: chains, batch: batch)
        workload.randomCorrelationIDs = randomCorrelationIDs
        workload.report()
        try await storeChains(workload)
    }

    /// The chain store's share: the workload's finalized chains saved into a store in writes
    /// of `ChainRecorder.chainsPerWrite`, as the collector's recorder writes them; CPU of the
    /// whole process (the database's writer thread included) per span of the chains, bytes
    /// written per chain (WAL and checkpoints: `wchar` of /proc/self/io), and the bytes of the
    /// database's files after. With `storedBefore`, the store first takes that many rounds of
    /// chains with other IDs.
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
        func save(_ chains: [Chain]) async throws {
            var first = 0
            while first < chains.count {
                let last = min(first + ChainRecorder.chainsPerWrite, chains.count)
                try await store.saveChains(Array(chains[first..<last]))
                first = last
            }
        }
        var held = 0
        for round in 0..<storedBefore {
            var other = workload
            other.seedOffset = UInt64(round + 1) &* 0x1234_5678_9ABC
            let chains = other.finalizedChains().chains
            try await save(chains)
            held += chains.count
        }
        let (chains, spans) = workload.finalizedChains()
        let written = writtenBytes()
        let before = cpuNanos()
        try await save(chains)
        let cpu = cpuNanos() - before
        let writes = writtenBytes() - written
        let bytes = ["store.sqlite", "store.sqlite-wal"].reduce(0) { sum, file in
            sum + ((try? FileManager.default.attributesOfItem(atPath: (directory as NSString).appendingPathComponent(file))[.size] as? Int) ?? 0)
        }
        print(String(format: "store %d chains (%d held before): CPU ns/span %8.0f", chains.count, held, Double(cpu) / Double(spans)))
        print(String(format: "store: bytes written/chain                  %8.0f", Double(writes) / Double(chains.count)))
        print(String(format: "store: database bytes/chain                 %8.0f", Double(bytes) / Double(held + chains.count)))
    }

    /// Bytes this process has passed to write calls (`wchar` in /proc/self/io); 0 where
    /// there is no such file.
    private func writtenBytes() -> Int {
        guard let text = try? String(contentsOfFile: "/proc/self/io", encoding: .utf8),
            let line = text.split(separator: "\n").first(where: { $0.hasPrefix("wchar:") })
        else { return 0 }
        return Int(line.dropFirst("wchar:".count).trimmingCharacters(in: .whitespaces)) ?? 0
    }
}

