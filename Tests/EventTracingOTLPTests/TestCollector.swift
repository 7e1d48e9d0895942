import CompressNIO
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization
import Telemetry

/// A real HTTP server on 127.0.0.1 and an ephemeral port that records what the exporter
/// posts and answers with scripted replies, so that the tests exercise the real HTTP
/// client, encoders and gzip end to end.
final class TestCollector: Sendable {
    struct Request: Sendable {
        var method: HTTPMethod
        var uri: String
        var headers: HTTPHeaders
        /// The body as it came over the wire.
        var wireBody: [UInt8]

        /// The body, gunzipped when `Content-Encoding: gzip` says so.
        var body: [UInt8] {
            guard headers.first(name: "Content-Encoding") == "gzip" else { return wireBody }
            var buffer = ByteBuffer(bytes: wireBody)
            guard let plain = try? buffer.decompress(with: .gzip()) else { return [] }
            return Array(plain.readableBytesView)
        }

        func traces() throws -> ExportTraceServiceRequest {
            if headers.first(name: "Content-Type") == "application/json" {
                return try ExportTraceServiceRequest(otlpJSON: body)
            }
            return try ExportTraceServiceRequest(protobuf: body)
        }

        func logs() throws -> ExportLogsServiceRequest {
            if headers.first(name: "Content-Type") == "application/json" {
                return try ExportLogsServiceRequest(otlpJSON: body)
            }
            return try ExportLogsServiceRequest(protobuf: body)
        }
    }

    struct Reply: Sendable {
        var status: HTTPResponseStatus
        var headers: [(String, String)] = []
        var body: [UInt8] = []

        static let ok = Reply(status: .ok, headers: [("Content-Type", "application/x-protobuf")])
    }

    private let channel: any Channel
    private let requests = Mutex<[Request]>([])
    /// Replies used in order; when none is left, `ok`.
    private let replies = Mutex<[Reply]>([])

    var port: Int { channel.localAddress?.port ?? 0 }
    var baseURL: String { "http://127.0.0.1:\(port)" }
    var tracesURL: String { baseURL + "/v1/traces" }
    var logsURL: String { baseURL + "/v1/logs" }

    private init(channel: any Channel) {
        self.channel = channel
    }

    static func start() async throws -> TestCollector {
        let box = ServerBox()
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.pipeline.configureHTTPServerPipeline().flatMapThrowing {
                    try channel.pipeline.syncOperations.addHandler(RecordingHandler(box: box))
                }
            }
            .bind(host: "127.0.0.1", port: 0)
            .get()
        let server = TestCollector(channel: channel)
        box.server.withLock { $0 = server }
        return server
    }

    func stop() async throws {
        try await channel.close()
    }

    func enqueue(_ reply: Reply) {
        replies.withLock { $0.append(reply) }
    }

    var received: [Request] { requests.withLock { $0 } }

    /// Waits until `count` requests arrived, or `timeout` passed.
    func waitForRequests(_ count: Int, timeout: Duration = .seconds(2)) async -> [Request] {
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        while clock.now < deadline {
            let current = received
            if current.count >= count { return current }
            try? await Task.sleep(for: .milliseconds(5))
        }
        return received
    }

    fileprivate func record(_ request: Request) -> Reply {
        requests.withLock { $0.append(request) }
        return replies.withLock { $0.isEmpty ? .ok : $0.removeFirst() }
    }
}

/// Lets the child channel initializer reach the server made after the bind.
private final class ServerBox: Sendable {
    let server = Mutex<TestCollector?>(nil)
}

private final class RecordingHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let box: ServerBox
    private var head: HTTPRequestHead?
    private var body: [UInt8] = []

    init(box: ServerBox) { self.box = box }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            self.head = head
            body = []
        case .body(let buffer):
            body.append(contentsOf: buffer.readableBytesView)
        case .end:
            guard let head, let server = box.server.withLock({ $0 }) else { return }
            let reply = server.record(
                TestCollector.Request(method: head.method, uri: head.uri, headers: head.headers, wireBody: body))
            var headers = HTTPHeaders(reply.headers)
            headers.replaceOrAdd(name: "Content-Length", value: String(reply.body.count))
            context.write(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: reply.status, headers: headers))), promise: nil)
            context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(bytes: reply.body)))), promise: nil)
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
            self.head = nil
        }
    }
}
