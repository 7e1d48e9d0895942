import KafkaWire
import NIOCore
import NIOPosix
import Synchronization

/// Where a broker listens.
struct BrokerAddress: Hashable, Sendable, CustomStringConvertible {
    var host: String
    var port: Int

    /// Reads `host:port` (`[::1]:9092` for an IPv6 literal).
    init(parsing text: String) throws(KafkaClientError) {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]), (1...65535).contains(port) else {
            throw .invalidBootstrapServer(text)
        }
        var host = String(text[..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard !host.isEmpty else { throw .invalidBootstrapServer(text) }
        self.host = host
        self.port = port
    }

    init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}

/// One TCP connection to one broker. Requests are pipelined; Kafka answers them in order
/// on a connection, so each answer goes to the oldest request still waiting, and a
/// correlation ID that does not match closes the connection.
final class BrokerConnection: Sendable {
    let address: BrokerAddress
    private let channel: any Channel
    private let clientID: String
    private let requestTimeout: TimeAmount
    private let nextCorrelationID = Atomic<Int32>(0)

    private init(address: BrokerAddress, channel: any Channel, clientID: String, requestTimeout: TimeAmount) {
        self.address = address
        self.channel = channel
        self.clientID = clientID
        self.requestTimeout = requestTimeout
    }

    static func connect(to address: BrokerAddress, clientID: String, requestTimeout: TimeAmount) async throws(KafkaClientError) -> BrokerConnection {
        do {
            let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .connectTimeout(.seconds(10))
                .channelOption(.socketOption(.tcp_nodelay), value: 1)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(ResponseFrameDecoder()))
                        try channel.pipeline.syncOperations.addHandler(ResponseRouter(broker: address.description))
                    }
                }
                .connect(host: address.host, port: address.port)
                .get()
            return BrokerConnection(address: address, channel: channel, clientID: clientID, requestTimeout: requestTimeout)
        } catch {
            throw .connectionFailed(broker: address.description, reason: "\(error)")
        }
    }

    var isActive: Bool { channel.isActive }

    /// Sends one request and decodes its answer. `extraTimeout` is added to the request
    /// timeout for requests the broker may hold on purpose (a Fetch's max wait).
    func request<Response>(
        _ api: APIKey, version: Int16, extraTimeout: TimeAmount = .zero,
        _ encodeBody: (inout ByteBuffer) -> Void,
        decode: (inout KafkaReader) throws(KafkaWireError) -> Response
    ) async throws(KafkaClientError) -> Response {
        let frame = makeFrame(api, version: version, encodeBody)
        let promise = channel.eventLoop.makePromise(of: ByteBuffer.self)
        let timeout = channel.eventLoop.scheduleTask(in: requestTimeout + extraTimeout) { [channel] in
            // Answers come in order, so one that never comes blocks every later one:
            // the connection goes, failing them all.
            promise.fail(KafkaClientError.requestTimedOut(api: api, broker: self.address.description))
            channel.close(promise: nil)
        }
        // A write that cannot happen (the broker already closed the connection) fails
        // the answer at once; completing it twice is a no-op.
        let written = channel.eventLoop.makePromise(of: Void.self)
        written.futureResult.whenFailure { [address] error in
            promise.fail(KafkaClientError.connectionFailed(broker: address.description, reason: "\(error)"))
        }
        channel.writeAndFlush(OutboundRequest(frame: frame.buffer, correlationID: frame.correlationID, promise: promise), promise: written)
        let body: ByteBuffer
        do {
            body = try await promise.futureResult.get()
            timeout.cancel()
        } catch let error as KafkaClientError {
            timeout.cancel()
            throw error
        } catch {
            timeout.cancel()
            throw .connectionFailed(broker: address.description, reason: "\(error)")
        }
        var reader = KafkaReader(body)
        do {
            return try decode(&reader)
        } catch {
            channel.close(promise: nil)
            throw .malformedResponse(api: api, broker: address.description, reason: error.description)
        }
    }

    /// Sends a request the broker does not answer (Produce with acks=0).
    func send(_ api: APIKey, version: Int16, _ encodeBody: (inout ByteBuffer) -> Void) async throws(KafkaClientError) {
        let frame = makeFrame(api, version: version, encodeBody)
        do {
            try await channel.writeAndFlush(OutboundRequest(frame: frame.buffer, correlationID: frame.correlationID, promise: nil)).get()
        } catch {
            throw .connectionFailed(broker: address.description, reason: "\(error)")
        }
    }

    func close() async {
        try? await channel.close()
    }

    private func makeFrame(_ api: APIKey, version: Int16, _ encodeBody: (inout ByteBuffer) -> Void) -> (buffer: ByteBuffer, correlationID: Int32) {
        let correlationID = nextCorrelationID.add(1, ordering: .relaxed).newValue
        var frame = channel.allocator.buffer(capacity: 256)
        frame.writeInteger(Int32(0))
        RequestHeader(apiKey: api.rawValue, apiVersion: version, correlationID: correlationID, clientID: clientID).encode(into: &frame)
        encodeBody(&frame)
        frame.setInteger(Int32(frame.readableBytes - 4), at: frame.readerIndex)
        return (frame, correlationID)
    }
}

/// A request on its way out, with the promise its answer completes (none for acks=0).
struct OutboundRequest: Sendable {
    var frame: ByteBuffer
    var correlationID: Int32
    var promise: EventLoopPromise<ByteBuffer>?
}

/// Cuts the byte stream into response frames: a 4-byte size, then that many bytes.
struct ResponseFrameDecoder: ByteToMessageDecoder {
    typealias InboundOut = ByteBuffer
    /// Larger answers than this are a broken stream, not a big fetch.
    static let maxFrameSize = 256 << 20

    mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let size = buffer.getInteger(at: buffer.readerIndex, as: Int32.self) else { return .needMoreData }
        guard size >= 4, Int(size) <= Self.maxFrameSize else { throw ResponseFrameError(size: size) }
        guard buffer.readableBytes >= 4 + Int(size) else { return .needMoreData }
        buffer.moveReaderIndex(forwardBy: 4)
        context.fireChannelRead(wrapInboundOut(buffer.readSlice(length: Int(size))!))
        return .continue
    }
}

struct ResponseFrameError: Error, CustomStringConvertible {
    var size: Int32
    var description: String { "response frame size \(size) is out of range" }
}

/// Hands each response frame to the oldest waiting request.
final class ResponseRouter: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = OutboundRequest
    typealias OutboundOut = ByteBuffer

    private let broker: String
    private var waiting = CircularBuffer<(correlationID: Int32, promise: EventLoopPromise<ByteBuffer>)>()
    private var closedReason: KafkaClientError?

    init(broker: String) { self.broker = broker }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let request = unwrapOutboundIn(data)
        if let closedReason {
            request.promise?.fail(closedReason)
            promise?.fail(closedReason)
            return
        }
        if let answer = request.promise { waiting.append((request.correlationID, answer)) }
        context.write(wrapOutboundOut(request.frame), promise: promise)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var frame = unwrapInboundIn(data)
        guard let next = waiting.popFirst() else {
            failAll(.connectionFailed(broker: broker, reason: "an answer came to no request"), context: context)
            return
        }
        guard let correlationID = frame.readInteger(as: Int32.self), correlationID == next.correlationID else {
            let error = KafkaClientError.connectionFailed(broker: broker, reason: "answer out of order (expected correlation ID \(next.correlationID))")
            next.promise.fail(error)
            failAll(error, context: context)
            return
        }
        next.promise.succeed(frame)
    }

    func channelInactive(context: ChannelHandlerContext) {
        failAll(.connectionFailed(broker: broker, reason: "the broker closed the connection"), context: nil)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        failAll(.connectionFailed(broker: broker, reason: "\(error)"), context: context)
    }

    private func failAll(_ error: KafkaClientError, context: ChannelHandlerContext?) {
        if closedReason == nil { closedReason = error }
        while let next = waiting.popFirst() { next.promise.fail(error) }
        context?.close(promise: nil)
    }
}

extension BrokerConnection {
    /// Asks the broker which versions it offers and fails, naming the API, when one this
    /// client speaks is missing: a clear error at connect time rather than a closed
    /// connection at the first request.
    func negotiateVersions() async throws(KafkaClientError) {
        let response = try await request(.apiVersions, version: ClientVersion.apiVersions) { _ in
        } decode: { (reader: inout KafkaReader) throws(KafkaWireError) in
            try ApiVersionsResponse(from: &reader, version: ClientVersion.apiVersions)
        }
        guard response.errorCode == .none else {
            throw .broker(response.errorCode, api: .apiVersions, resource: "broker \(address)", message: nil)
        }
        let offered = Dictionary(response.apiKeys.map { ($0.apiKey, $0.minVersion...$0.maxVersion) }, uniquingKeysWith: { first, _ in first })
        let spoken: [(APIKey, Int16)] = [
            (.metadata, ClientVersion.metadata), (.produce, ClientVersion.produce), (.fetch, ClientVersion.fetch),
            (.listOffsets, ClientVersion.listOffsets), (.findCoordinator, ClientVersion.findCoordinator),
            (.joinGroup, ClientVersion.joinGroup), (.syncGroup, ClientVersion.syncGroup), (.heartbeat, ClientVersion.heartbeat),
            (.leaveGroup, ClientVersion.leaveGroup), (.offsetCommit, ClientVersion.offsetCommit),
            (.offsetFetch, ClientVersion.offsetFetch), (.createTopics, ClientVersion.createTopics),
            (.initProducerId, ClientVersion.initProducerId),
        ]
        for (api, version) in spoken where !(offered[api.rawValue]?.contains(version) ?? false) {
            throw .unsupportedAPI(api: api, version: version, broker: address.description, offered: offered[api.rawValue])
        }
    }
}
