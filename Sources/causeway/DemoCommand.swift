import ArgumentParser
import Broker
import Collector
import EventTracing
import Foundation
import Logging
import OrderDemo
import UnixSignals

/// `causeway demo`: the built-in broker, a collector and the four order services in one
/// process; places orders and shows the chains the collector stitched from them.
struct DemoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Run the order demo: broker, collector and the order, inventory, payment and notification services in one process.",
        discussion: """
            Places N orders with the order service (POST /orders) and waits until the \
            collector has stitched each into its chain: order -> inventory -> payment -> \
            notification across three topics, with a retried payment, a dead-lettered one, a \
            duplicate delivery and a cancelled order among them. Prints each order's chain and \
            the waterfall of the first. Data and the services' JSON logs go under the demo's \
            data_dir (./.causeway/demo), emptied at the start of every run.
            """
    )

    @Option(help: "How many orders to place (the items cycle through the scenario's six).")
    var orders = 6

    @Flag(help: "Keep everything running after the orders, for the UI (http://127.0.0.1:8686), `causeway chain` and more orders; stop with Ctrl-C.")
    var keepRunning = false

    @Option(help: "The demo's settings (see config/demo.yaml).")
    var config: String?

    func validate() throws {
        guard (0...10_000).contains(orders) else { throw ValidationError("--orders must be from 0 to 10000, got \(orders)") }
    }

    func run() async throws {
        var settings = try config.map { try DemoSettings.load(path: $0) } ?? DemoSettings()
        let root = URL(fileURLWithPath: settings.dataDirectory)
        let logs = root.appendingPathComponent("logs")
        for folder in ["broker", "collector", "logs"] {
            try? FileManager.default.removeItem(at: root.appendingPathComponent(folder))
        }
        try FileManager.default.createDirectory(at: logs, withIntermediateDirectories: true)

        // The broker and the collector, each logging to its own file.
        var brokerConfiguration = BrokerConfiguration()
        brokerConfiguration.port = settings.brokerPort
        brokerConfiguration.metricsPort = settings.brokerMetricsPort
        brokerConfiguration.dataDirectory = root.appendingPathComponent("broker", isDirectory: true)
        brokerConfiguration.defaultPartitions = Int(settings.partitions)
        let brokerLog = try LogFile.output(logs.appendingPathComponent("broker.log").path)
        let broker = KafkaBroker(configuration: brokerConfiguration, logger: Logger(label: "causeway.broker") {
            JSONLogHandler(label: $0, serviceName: "causeway-broker", output: brokerLog)
        })
        let brokerPorts = AsyncStream.makeStream(of: KafkaBroker.BoundPorts.self)
        let brokerTask = Task {
            defer { brokerPorts.continuation.finish() }
            try await broker.run { brokerPorts.continuation.yield($0) }
        }
        var ports = brokerPorts.stream.makeAsyncIterator()
        guard let brokerBound = await ports.next() else {
            throw DemoFailure(message: "the broker did not start: \(await Self.failure(of: brokerTask))")
        }

        var collectorConfiguration = CollectorConfiguration()
        collectorConfiguration.dataDirectory = root.path
        collectorConfiguration.otlp?.port = settings.collectorOTLPPort
        collectorConfiguration.zipkin?.port = settings.collectorZipkinPort
        collectorConfiguration.queryPort = settings.collectorHTTPPort
        collectorConfiguration.stitcher?.idleWindow = settings.chainIdleWindow
        // Nobody reads the dead-letter topic in the demo; its messages are not "missing".
        collectorConfiguration.stitcher?.topicsWithoutConsumers = ["*.dlq"]
        let collectorLog = try LogFile.output(logs.appendingPathComponent("collector.log").path)
        let collector = try CollectorDaemon(
            configuration: collectorConfiguration, registry: CollectorDaemon.bootstrapMetrics(),
            logger: Logger(label: "causeway.collector") { JSONLogHandler(label: $0, serviceName: "causeway-collector", output: collectorLog) })
        let collectorPorts = AsyncStream.makeStream(of: CollectorDaemon.BoundPorts.self)
        let collectorTask = Task {
            defer { collectorPorts.continuation.finish() }
            try await collector.run { collectorPorts.continuation.yield($0) }
        }
        var boundIterator = collectorPorts.stream.makeAsyncIterator()
        guard let bound = await boundIterator.next(), let otlpPort = bound.otlp else {
            brokerTask.cancel()
            throw DemoFailure(message: "the collector did not start: \(await Self.failure(of: collectorTask))")
        }

        let kafkaPort = brokerBound.kafka
        settings.bootstrapServers = ["127.0.0.1:\(kafkaPort)"]
        settings.collectorEndpoint = "http://127.0.0.1:\(otlpPort)"
        settings.collectorQueryURL = "http://127.0.0.1:\(bound.http)"

        // The four services, each with its own tracer and log file.
        // Each service reports its port once ready, or the error that stopped it.
        let ready = AsyncStream.makeStream(of: (DemoService, Result<Int, DemoFailure>).self)
        var serviceTasks: [Task<Void, any Error>] = []
        for service in DemoService.allCases {
            let output = try LogFile.output(logs.appendingPathComponent("\(service.serviceName).log").path)
            let runtime = try ServiceRuntime(name: service.serviceName, settings: settings, logOutput: output)
            let frozen = settings
            serviceTasks.append(Task {
                do {
                    try await service.run(settings: frozen, runtime: runtime) { port in ready.continuation.yield((service, .success(port))) }
                } catch is CancellationError {
                } catch {
                    ready.continuation.yield((service, .failure(DemoFailure(message: "\(service.serviceName) stopped: \(error)"))))
                    throw error
                }
            })
        }
        var orderPort = 0
        var waiting = Set(DemoService.allCases)
        for await (service, outcome) in ready.stream {
            switch outcome {
            case .success(let port): if service == .order { orderPort = port }
            case .failure(let failure):
                for task in serviceTasks { task.cancel() }
                collectorTask.cancel()
                brokerTask.cancel()
                throw failure
            }
            waiting.remove(service)
            if waiting.isEmpty { break }
        }

        print("""
            Causeway order demo
              broker     127.0.0.1:\(kafkaPort) (Kafka protocol)\(brokerBound.metrics.map { "   metrics http://127.0.0.1:\($0)/metrics" } ?? "")
              collector  OTLP http://127.0.0.1:\(otlpPort)   query API and UI http://127.0.0.1:\(bound.http)   metrics http://127.0.0.1:\(bound.http)/metrics
              services   order http://127.0.0.1:\(orderPort)/orders, inventory, payment, notification (logs in \(logs.path))

            """)
        fflush(nil)

        let scenario = Scenario(orderURL: "http://127.0.0.1:\(orderPort)", collectorQueryURL: settings.collectorQueryURL)
        var placed: [(orderID: String, item: String, correlationID: String)] = []
        for index in 0..<orders {
            let item = DemoItem.scenario[index % DemoItem.scenario.count]
            let order = try await scenario.placeOrder(item: item, customer: "customer-\(index + 1)")
            placed.append((order.orderID, item, order.correlationID))
            print("placed order \(order.orderID)  item \(item.padding(toLength: 13, withPad: " ", startingAt: 0))  correlation \(order.correlationID)")
        }
        if !placed.isEmpty {
            print("\nwaiting for the chains (idle window \(settings.chainIdleWindow))...\n")
            print("order         item           status            hops  spans  end-to-end  retries  dead letters  duplicates  services")
        }
        var firstChainID: String?
        var counts: [String: Int] = [:]
        for order in placed {
            let chains = try await scenario.chains(of: order.correlationID, timeout: .seconds(60))
            if chains.isEmpty { print("\(order.orderID)  \(order.item)  no chain yet") }
            for chain in chains {
                firstChainID = firstChainID ?? chain.chainID
                counts[chain.status, default: 0] += 1
                let line = [
                    order.orderID.padding(toLength: 12, withPad: " ", startingAt: 0),
                    order.item.padding(toLength: 13, withPad: " ", startingAt: 0),
                    (chain.status + (chain.isOpen ? " (open)" : "")).padding(toLength: 16, withPad: " ", startingAt: 0),
                    String(chain.hopCount).leftPadded(4), String(chain.spanCount).leftPadded(5),
                    String(format: "%8.1f ms", Double(chain.endToEndNanos) / 1e6),
                    String(chain.retries).leftPadded(7), String(chain.deadLetterHops).leftPadded(12), String(chain.duplicatesSkipped).leftPadded(10),
                    chain.services.joined(separator: ","),
                ]
                print(line.joined(separator: "  "))
            }
        }
        if let firstChainID {
            let detail = try await scenario.getJSON("/api/chains/" + firstChainID)
            if let chain = (detail["data"] as? [[String: Any]])?.first {
                print("\nthe first order's chain (causeway chain \(placed[0].correlationID) --collector \(settings.collectorQueryURL); in the UI \(settings.collectorQueryURL)/#/chain/\(firstChainID)):\n")
                print(ChainWaterfall.render(chain, width: 60), terminator: "")
            }
            print("\nchains by status: " + counts.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))
        }
        fflush(nil)

        if keepRunning {
            print("\nthe UI: \(settings.collectorQueryURL)/ (chains, their waterfalls, hops, spans and logs; the graph)")
            print("running; place more orders with")
            print("  curl -s -X POST http://127.0.0.1:\(orderPort)/orders -H 'content-type: application/json' -d '{\"item\":\"book\",\"customer\":\"ada\"}'")
            print("and stop with Ctrl-C.")
            fflush(nil)
            for await _ in await UnixSignalsSequence(trapping: .sigterm, .sigint) { break }
        }
        // Services first, so that their last spans reach the collector before it stops.
        for task in serviceTasks { task.cancel() }
        for task in serviceTasks { _ = await task.result }
        collectorTask.cancel()
        brokerTask.cancel()
        _ = await collectorTask.result
        _ = await brokerTask.result
    }
}

extension DemoCommand {
    /// What ended a task that should still be running.
    static func failure(of task: Task<Void, any Error>) async -> String {
        switch await task.result {
        case .success: "it stopped"
        case .failure(let error): "\(error)"
        }
    }
}

/// Why the demo could not run.
struct DemoFailure: Error, CustomStringConvertible, Sendable {
    var message: String
    var description: String { message }
}

extension String {
    func leftPadded(_ width: Int) -> String {
        count >= width ? self : String(repeating: " ", count: width - count) + self
    }
}
