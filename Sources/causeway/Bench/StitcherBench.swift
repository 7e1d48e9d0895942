import ArgumentParser

/// `causeway bench stitcher`: the chain stitcher alone, on generated chains of varying shape
/// (1–4 hops, fan-out, retries, an HTTP call, an orphan link, an unconsumed message), their
/// spans shuffled within a window so consumers often arrive before their producers.
struct StitcherBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stitcher",
        abstract: "CPU per span and memory per open span of the chain stitcher.")

    @Option(help: "Chains to generate.")
    var chains: Int = 100_000

    @Option(help: "Spans per ingested batch.")
    var batch: Int = 1_000

    func run() throws {
        StitcherWorkload(chains: chains, batch: batch).report()
    }
}

