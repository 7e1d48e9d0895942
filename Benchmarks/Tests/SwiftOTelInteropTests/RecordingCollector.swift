import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization
import Telemetry

/// An OTLP/HTTP endpoint on 127.0.0.1 that answers every POST with an empty 200 and keeps
/// the bodies, so that what swift-otel exports is read back with our own protobuf codec
/// rather than with swift-otel's view of its spans.
final class RecordingCollector: Sendable {
    private let bodies = Mutex<[[UInt8]]>([])
    private let channel: any Channel
    let port: Int

    private init(channel: any Channel, port: Int) {
        self.channel = channel
        self.port = port
    }

    static func start() async throws -> RecordingCollector {
        let recorder = BodyStore()
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(RecordingHandler(store: recorder))
                }
            }
            .bind(host: "127.0.0.1", port: 0)
            .get()
        let collector = RecordingCollector(channel: channel, port: channel.localAddress?.port ?? 0)
        recorder.collector.withLock { $0 = collector }
        return collector
    }

    var endpoint: String { "http://127.0.0.1:\(port)/v1/traces" }

    fileprivate func record(_ body: [UInt8]) {
        bodies.withLock { $0.append(body) }
    }

    /// Every span received so far, decoded with Telemetry's protobuf decoder.
    func spans() throws -> [Telemetry.Span] {
        try bodies.withLock { $0 }.flatMap { body in
            try ExportTraceServiceRequest(protobuf: body).resourceSpans.flatMap { $0.scopeSpans.flatMap(\.spans) }
        }
    }

    func stop() async throws {
        try await channel.close()
    }
}

/// Lets the handlers reach the collector that is created after the bootstrap binds.
private final class BodyStore: Sendable {
    let collector = Mutex<RecordingCollector?>(nil)
}

private final class RecordingHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let store: BodyStore
    private var body: [UInt8] = []

    init(store: BodyStore) {
        self.store = store
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head:
            body = []
        case .body(let buffer):
            body.append(contentsOf: buffer.readableBytesView)
        case .end:
            store.collector.withLock { $0 }?.record(body)
            var headers = HTTPHeaders()
            headers.add(name: "Content-Type", value: "application/x-protobuf")
            headers.add(name: "Content-Length", value: "0")
            context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .ok, headers: headers))), promise: nil)
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        }
    }
}
