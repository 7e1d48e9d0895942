import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization
import Testing

/// A real HTTP server on 127.0.0.1 that records every request and answers with the
/// replies scripted for it, in order (200 with an empty body once the script runs out).
final class HTTPSink: Sendable {
    struct Request: Sendable {
        var method: HTTPMethod
        var uri: String
        var headers: HTTPHeaders
        var body: [UInt8]
    }

    struct Reply: Sendable {
        var status: HTTPResponseStatus
        var headers: [(String, String)] = []
        var body: String = ""
    }

    private struct State {
        var requests: [Request] = []
        var script: [Reply] = []
    }

    private let state = Mutex(State())
    private let channel: Mutex<(any Channel)?> = Mutex(nil)
    var port: Int { portValue.withLock { $0 } }
    private let portValue = Mutex(0)

    /// Starts on `port` (0: any free port).
    /// A port no sink is listening on, for a test whose sink comes up later: taken from
    /// below Linux's ephemeral range (32768–60999), so that no server of another test,
    /// bound to port 0 meanwhile, is given it and takes the exporter's requests (which
    /// failed both that test and this one's late bind).
    static func freePortOutsideTheEphemeralRange() async throws -> Int {
        for _ in 0..<100 {
            let port = Int.random(in: 20_000..<32_000)
            guard let probe = try? await start(port: port) else { continue }
            try await probe.stop()
            return port
        }
        throw HTTPSinkError.noFreePort
    }

    static func start(port: Int = 0, script: [Reply] = []) async throws -> HTTPSink {
        let sink = HTTPSink()
        sink.state.withLock { $0.script = script }
        try await sink.bind(port: port)
        return sink
    }

    func bind(port: Int) async throws {
        let bootstrap = ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandlers([
                        NIOHTTPServerRequestAggregator(maxContentLength: 64 << 20), SinkHandler(sink: self),
                    ])
                }
            }
        let bound = try await bootstrap.bind(host: "127.0.0.1", port: port).get()
        portValue.withLock { $0 = bound.localAddress?.port ?? 0 }
        channel.withLock { $0 = bound }
    }

    /// Stops listening, so that connections to the port are refused.
    func stop() async throws {
        let bound = channel.withLock { channel in
            defer { channel = nil }
            return channel
        }
        try await bound?.close()
    }

    func script(_ replies: [Reply]) {
        state.withLock { $0.script.append(contentsOf: replies) }
    }

    var requests: [Request] { state.withLock { $0.requests } }

    fileprivate func record(_ request: Request) -> Reply {
        state.withLock { state in
            state.requests.append(request)
            return state.script.isEmpty ? Reply(status: .ok) : state.script.removeFirst()
        }
    }

    /// Waits until `count` requests arrived; the bound is only there so a broken exporter
    /// fails the test instead of hanging it.
    func waitForRequests(_ count: Int, sourceLocation: SourceLocation = #_sourceLocation) async throws -> [Request] {
        try await waitUntil(sourceLocation: sourceLocation) { self.requests.count >= count }
        return requests
    }
}

/// Polls `condition` every few milliseconds; records an issue if it is still false after 30 s.
func waitUntil(sourceLocation: SourceLocation = #_sourceLocation, _ condition: @Sendable () async -> Bool) async throws {
    for _ in 0..<3000 {
        if await condition() { return }
        try await Task.sleep(for: .milliseconds(10))
    }
    Issue.record("condition not met in 30 s", sourceLocation: sourceLocation)
}

private final class SinkHandler: ChannelInboundHandler {
    typealias InboundIn = NIOHTTPServerRequestFull
    typealias OutboundOut = HTTPServerResponsePart

    let sink: HTTPSink

    init(sink: HTTPSink) {
        self.sink = sink
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let full = unwrapInboundIn(data)
        let body = full.body.map { Array($0.readableBytesView) } ?? []
        let reply = sink.record(HTTPSink.Request(method: full.head.method, uri: full.head.uri, headers: full.head.headers, body: body))
        var headers = HTTPHeaders(reply.headers)
        headers.replaceOrAdd(name: "Content-Length", value: "\(reply.body.utf8.count)")
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: reply.status, headers: headers))), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: reply.body)))), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
    }
}

enum HTTPSinkError: Error {
    case noFreePort
}
