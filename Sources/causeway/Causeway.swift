import ArgumentParser

@main
struct Causeway: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "causeway",
        abstract: "Follow every event of an event-driven system end to end.",
        discussion: """
            Causeway stitches the asynchronous causality chains that cross message hops: \
            producer and consumer libraries stamp W3C trace context on every message, the \
            collector receives spans and logs over OTLP/HTTP and Zipkin, and a built-in \
            Kafka-compatible broker runs the order demo with no outside services.
            """,
        version: CausewayVersion.current,
        subcommands: [
            Version.self, Convert.self, Bench.self, Conformance.self, Debug.self, BrokerCommand.self,
            CollectorCommand.self, ChainCommand.self, ServiceCommand.self, DemoCommand.self,
        ]
    )
}

enum CausewayVersion {
    static let current = "0.1.0"
}

struct Version: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print Causeway's version.")

    func run() {
        print("causeway \(CausewayVersion.current)")
    }
}
