import ArgumentParser
import EventTracing
import Foundation
import OrderDemo
import UnixSignals

/// `causeway service NAME`: one of the order demo's services in a process of its own,
/// against any broker and collector (config/demo.yaml says where).
struct ServiceCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "service",
        abstract: "Run one of the order demo's services: order, inventory, payment or notification.",
        discussion: """
            Reads bootstrap_servers, collector_endpoint and (for the order service) \
            order_host/order_port from --config (the shape of config/demo.yaml). Creates the \
            demo's topics when missing. JSON log lines go to stdout; spans and logs to the \
            collector. Once ready it prints "listening order=HOST:PORT" (the order service) \
            or "ready NAME" (the others). SIGTERM or SIGINT stop it after the message at \
            hand, with offsets committed and spans sent.
            """
    )

    @Argument(help: "order | inventory | payment | notification")
    var name: String

    @Option(help: "The demo's settings (see config/demo.yaml).")
    var config: String?

    func validate() throws {
        guard DemoService(rawValue: name) != nil else {
            throw ValidationError("unknown service \"\(name)\": use order, inventory, payment or notification")
        }
    }

    func run() async throws {
        let service = DemoService(rawValue: name)!
        let settings = try config.map { try DemoSettings.load(path: $0) } ?? DemoSettings()
        let runtime = try ServiceRuntime(name: service.serviceName, settings: settings, logOutput: .standardOutput)
        let host = settings.orderHost
        let task = Task {
            try await service.run(settings: settings, runtime: runtime) { port in
                print(service == .order ? "listening order=\(host):\(port)" : "ready \(service.serviceName)")
                fflush(nil)
            }
        }
        let signals = Task {
            for await _ in await UnixSignalsSequence(trapping: .sigterm, .sigint) { break }
            task.cancel()
        }
        let result = await task.result
        signals.cancel()
        switch result {
        case .success, .failure(is CancellationError): return
        case .failure(let error): throw ServiceFailure(message: "\(service.serviceName): \(error)")
        }
    }
}

struct ServiceFailure: Error, CustomStringConvertible {
    var message: String
    var description: String { message }
}
