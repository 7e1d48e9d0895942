import ArgumentParser
import AsyncHTTPClient
import EventTracingHTTP
import Hummingbird
import Logging
import NIOCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// `causeway conformance`: services that conformance test suites drive.
struct Conformance: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a service for a conformance test suite.",
        subcommands: [W3CTraceContext.self]
    )
}

/// `causeway conformance w3c`: the service of the official W3C Trace Context test harness.
struct W3CTraceContext: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "w3c",
        abstract: "Serve the W3C Trace Context test harness (github.com/w3c/trace-context, test/).",
        discussion: """
            Accepts POST on any path with a JSON array [{"url": ..., "arguments": [...]}] and, \
            for each element, POSTs the arguments as JSON to the url, continuing the incoming \
            trace context through Causeway's propagator with a new span ID per call. Prints \
            "listening conformance=HOST:PORT" once bound. Run the harness with \
            SPEC_LEVEL=2 STRICT_LEVEL=2 python test.py http://HOST:PORT/test
            """
    )

    @Option(help: "The address to bind.")
    var host = "127.0.0.1"

    @Option(help: "The port to bind; 0 picks any free port.")
    var port = 0

    func run() async throws {
        var configuration = HTTPClient.Configuration()
        // The service writes the trace context itself; the client must not add its own.
        configuration.disableBuiltInTracing()
        let client = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
        let service = TraceContextConformanceService(client: client)
        var logger = Logger(label: "causeway.conformance")
        logger.logLevel = .warning
        let app = Application(
            router: service.router(),
            configuration: .init(address: .hostname(host, port: port)),
            onServerRunning: { channel in
                let bound = channel.localAddress
                print("listening conformance=\(bound?.ipAddress ?? "?"):\(bound?.port ?? 0)")
                // stdout is a pipe when a script waits for this line: push it out now.
                fflush(nil)
            },
            logger: logger
        )
        do {
            try await app.runService()
        } catch {
            try await client.shutdown()
            throw error
        }
        try await client.shutdown()
    }
}
