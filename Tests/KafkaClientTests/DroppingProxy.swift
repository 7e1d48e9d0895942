import NIOCore
import NIOPosix
import Synchronization

/// A TCP proxy in front of a broker that can cut a client's connection right after passing
/// on its next Produce request, before the answer comes back: a lost acknowledgement. It
/// counts the Produce requests it passes on.
final class DroppingProxy: Sendable {
    private let server: any Channel
    let dropNextProduce = Atomic(false)
    let producesSeen = Atomic(0)
    /// Where to forward to; set once the broker is up.
    let target = Atomic(0)

    var port: Int { server.localAddress!.port! }

    private init(server: any Channel) {
        self.server = server
    }

    static func start() async throws -> DroppingProxy {
        let box = ProxyBox()
        let server = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .childChannelInitializer { client in
                let proxy = box.proxy!
                return ClientBootstrap(group: client.eventLoop)
                    .channelInitializer { broker in broker.pipeline.addHandler(Forward(to: client)) }
                    .connect(host: "127.0.0.1", port: proxy.target.load(ordering: .relaxed))
                    .flatMap { broker in
                        client.eventLoop.makeCompletedFuture {
                            try client.pipeline.syncOperations.addHandler(ByteToMessageHandler(RequestFrames()))
                            try client.pipeline.syncOperations.addHandler(Inspect(broker: broker, proxy: proxy))
                        }
                    }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        let proxy = DroppingProxy(server: server)
        box.proxy = proxy
        return proxy
    }

    func close() async throws {
        try await server.close()
    }
}

/// Hands the proxy to connections accepted once it exists.
private final class ProxyBox: @unchecked Sendable {
    var proxy: DroppingProxy?
}

private final class Forward: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    let target: any Channel
    init(to target: any Channel) { self.target = target }
    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        target.writeAndFlush(unwrapInboundIn(data), promise: nil)
    }
    func channelInactive(context: ChannelHandlerContext) {
        target.close(promise: nil)
    }
}

private struct RequestFrames: ByteToMessageDecoder {
    typealias InboundOut = ByteBuffer
    mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let size = buffer.getInteger(at: buffer.readerIndex, as: Int32.self), buffer.readableBytes >= 4 + Int(size) else {
            return .needMoreData
        }
        context.fireChannelRead(wrapInboundOut(buffer.readSlice(length: 4 + Int(size))!))
        return .continue
    }
}

private final class Inspect: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    let broker: any Channel
    let proxy: DroppingProxy
    init(broker: any Channel, proxy: DroppingProxy) {
        self.broker = broker
        self.proxy = proxy
    }
    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        let isProduce = frame.getInteger(at: frame.readerIndex + 4, as: Int16.self) == 0
        broker.writeAndFlush(frame, promise: nil)
        guard isProduce else { return }
        proxy.producesSeen.add(1, ordering: .relaxed)
        if proxy.dropNextProduce.exchange(false, ordering: .relaxed) {
            context.close(promise: nil)
        }
    }
    func channelInactive(context: ChannelHandlerContext) {
        broker.close(promise: nil)
    }
}
