import ArgumentParser
import Broker
import EventTracing
import Foundation
import Logging

/// `causeway broker`: the built-in Kafka-wire-compatible broker.
struct BrokerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "broker",
        abstract: "Run the built-in Kafka-compatible broker.",
        discussion: """
            Real Kafka clients (kafka-python, librdkafka, kcat) connect unchanged. Prints \
            "listening kafka=HOST:PORT metrics=HOST:PORT" on stdout once bound; logs are JSON \
            lines on stderr.
            """
    )

    @Option(help: "The YAML config file (see config/broker.yaml).")
    var config: String?

    @Option(help: "The Kafka protocol port; 0 picks any free port.")
    var port: Int?

    @Option(name: .customLong("data-dir"), help: "Where partition logs and committed offsets are kept.")
    var dataDir: String?

    // Unconditional, so that "-1" is read as the value and not as a flag.
    @Option(name: .customLong("metrics-port"), parsing: .unconditional, help: "The Prometheus /metrics port; 0 picks any free port, -1 turns it off.")
    var metricsPort: Int?

    @Flag(name: .customLong("in-memory"), help: "Keep everything in memory; nothing is written to disk.")
    var inMemory = false

    func run() async throws {
        var configuration: BrokerConfiguration
        do {
            configuration = try config.map { try BrokerConfiguration.load(path: $0) } ?? BrokerConfiguration()
        } catch let error as BrokerConfigurationError {
            throw ValidationError(error.description)
        }
        if let port { configuration.port = port }
        if let metricsPort { configuration.metricsPort = metricsPort }
        if let dataDir {
            configuration.dataDirectory = URL(fileURLWithPath: dataDir).appendingPathComponent("broker", isDirectory: true)
            configuration.inMemory = false
        }
        if inMemory { configuration.inMemory = true }
        let logger = Logger(label: "causeway.broker") { label in
            JSONLogHandler(label: label, serviceName: "causeway-broker", output: .standardError)
        }
        let host = configuration.advertisedHost
        try await KafkaBroker(configuration: configuration, logger: logger).run { ports in
            let metrics = ports.metrics.map { " metrics=\(host):\($0)" } ?? ""
            print("listening kafka=\(host):\(ports.kafka)\(metrics)")
            // stdout is a pipe when a script waits for this line: push it out now.
            fflush(nil)
        }
    }
}
