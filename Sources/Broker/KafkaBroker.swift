import Foundation
public import Logging
import KafkaWire
import NIOCore
import NIOHTTP1
import NIOPosix

/// The built-in Kafka-wire-compatible broker: one node that leads every partition and
/// coordinates every group.
public struct KafkaBroker: Sendable {
    public let configuration: BrokerConfiguration
    let logger: Logger

    public init(configuration: BrokerConfiguration, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
    }

    /// The ports actually bound (port 0 in the configuration picks a free one).
    public struct BoundPorts: Sendable {
        public var kafka: Int
        /// nil when metrics are off.
        public var metrics: Int?
    }

    /// Serves until the task is cancelled. `onListening` runs once both listeners are bound.
    public func run(onListening: @Sendable (BoundPorts) -> Void) async throws {
        let metrics = BrokerMetrics()
        let directory = configuration.inMemory ? nil : configuration.dataDirectory
        let topics = try TopicStore(dataDirectory: directory, options: configuration.storage, metrics: metrics, logger: logger)
        let groups = try GroupCoordinator(dataDirectory: directory, logger: logger)
        let maxFrame = configuration.maxFrameBytes
        let server = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .bind(host: configuration.host, port: configuration.port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(KafkaFrameDecoder(maxFrameBytes: maxFrame)))
                    return try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                }
            }
        let kafkaPort = server.channel.localAddress?.port ?? configuration.port
        let handler = RequestHandler(
            topics: topics, groups: groups, configuration: configuration, advertisedPort: Int32(configuration.advertisedPort ?? kafkaPort), metrics: metrics, logger: logger
        )
        let metricsServer: MetricsServer? = configuration.metricsPort >= 0
            ? try await MetricsServer.bind(host: configuration.host, port: configuration.metricsPort, metrics: metrics, topics: topics, groups: groups)
            : nil
        onListening(BoundPorts(kafka: kafkaPort, metrics: metricsServer?.port))
        let interval = Duration.milliseconds(max(10, configuration.maintenanceIntervalMs))
        try await withThrowingDiscardingTaskGroup { group in
            if let metricsServer {
                group.addTask { try await metricsServer.serve(logger: logger) }
            }
            group.addTask {
                while !Task.isCancelled {
                    try await Task.sleep(for: interval)
                    await groups.expireSessions()
                    await topics.maintain(nowMs: Int64(Date().timeIntervalSince1970 * 1000))
                }
            }
            try await server.executeThenClose { connections in
                for try await connection in connections {
                    group.addTask { await serve(connection, handler: handler, metrics: metrics) }
                }
            }
        }
    }

    private func serve(_ connection: NIOAsyncChannel<ByteBuffer, ByteBuffer>, handler: RequestHandler, metrics: BrokerMetrics) async {
        let peer = connection.channel.remoteAddress?.description ?? "unknown"
        metrics.connectionOpened()
        defer { metrics.connectionClosed() }
        do {
            try await connection.executeThenClose { inbound, outbound in
                for try await frame in inbound {
                    do {
                        if let response = try await handler.respond(to: frame, peer: peer) {
                            try await outbound.write(response)
                        }
                    } catch let error as KafkaWireError {
                        logger.warning("closing connection: request not understood", metadata: ["peer": "\(peer)", "reason": "\(error)"])
                        return
                    }
                }
            }
        } catch let error as KafkaFrameDecoder.FrameTooLarge {
            logger.warning("closing connection: frame too large", metadata: ["peer": "\(peer)", "reason": "\(error)"])
        } catch {
            logger.info("connection closed", metadata: ["peer": "\(peer)", "reason": "\(error)"])
        }
    }
}

/// Splits the byte stream into request frames: INT32 size, then that many bytes.
struct KafkaFrameDecoder: ByteToMessageDecoder {
    typealias InboundOut = ByteBuffer

    struct FrameTooLarge: Error, CustomStringConvertible {
        var size: Int32
        var limit: Int
        var description: String { "frame of \(size) bytes is over max_frame_bytes \(limit)" }
    }

    let maxFrameBytes: Int

    mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let size = buffer.getInteger(at: buffer.readerIndex, as: Int32.self) else { return .needMoreData }
        guard size >= 0, Int(size) <= maxFrameBytes else { throw FrameTooLarge(size: size, limit: maxFrameBytes) }
        guard buffer.readableBytes >= 4 + Int(size) else { return .needMoreData }
        buffer.moveReaderIndex(forwardBy: 4)
        context.fireChannelRead(Self.wrapInboundOut(buffer.readSlice(length: Int(size))!))
        return .continue
    }

    mutating func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws -> DecodingState {
        while try decode(context: context, buffer: &buffer) == .continue {}
        return .needMoreData
    }
}
