import NIOCore
import NIOHTTP1
import NIOPosix
import Logging
import Prometheus

/// `GET /metrics` in the Prometheus text format. Consumer lag is computed at scrape time
/// from the high watermarks and the committed offsets, so it is never stale.
struct MetricsServer: Sendable {
    let channel: NIOAsyncChannel<NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>, Never>
    let port: Int
    let metrics: BrokerMetrics
    let topics: TopicStore
    let groups: GroupCoordinator

    static func bind(host: String, port: Int, metrics: BrokerMetrics, topics: TopicStore, groups: GroupCoordinator) async throws -> MetricsServer {
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .bind(host: host, port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    return try NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>(wrappingChannelSynchronously: channel)
                }
            }
        return MetricsServer(channel: channel, port: channel.channel.localAddress?.port ?? port, metrics: metrics, topics: topics, groups: groups)
    }

    func serve(logger: Logger) async throws {
        try await withThrowingDiscardingTaskGroup { group in
            try await channel.executeThenClose { connections in
                for try await connection in connections {
                    group.addTask {
                        do {
                            try await handle(connection)
                        } catch {
                            logger.debug("metrics connection closed", metadata: ["reason": "\(error)"])
                        }
                    }
                }
            }
        }
    }

    private func handle(_ connection: NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>) async throws {
        try await connection.executeThenClose { inbound, outbound in
            var path = ""
            var method = HTTPMethod.GET
            for try await part in inbound {
                switch part {
                case .head(let head):
                    path = String(head.uri.split(separator: "?").first ?? "")
                    method = head.method
                case .body:
                    continue
                case .end:
                    var status = HTTPResponseStatus.ok
                    var body = ByteBuffer()
                    if path != "/metrics" {
                        status = .notFound
                        body.writeString("not found: try /metrics\n")
                    } else if method != .GET {
                        status = .methodNotAllowed
                    } else {
                        await updateLag()
                        body.writeBytes(metrics.registry.emitToBuffer())
                    }
                    var headers = HTTPHeaders()
                    headers.add(name: "Content-Type", value: "text/plain; version=0.0.4; charset=utf-8")
                    headers.add(name: "Content-Length", value: "\(body.readableBytes)")
                    try await outbound.write(.head(HTTPResponseHead(version: .http1_1, status: status, headers: headers)))
                    try await outbound.write(.body(.byteBuffer(body)))
                    try await outbound.write(.end(nil))
                }
            }
        }
    }

    private func updateLag() async {
        let committed = await groups.committedOffsets()
        let watermarks = await topics.highWatermarks()
        for (group, partitions) in committed {
            for (tp, offset) in partitions {
                guard let high = watermarks[tp] else { continue }
                metrics.setLag(group: group, partition: tp, lag: max(0, high - max(0, offset)))
            }
        }
    }
}
