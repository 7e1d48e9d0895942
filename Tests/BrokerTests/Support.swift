import Broker
import Foundation
import KafkaWire
import Logging
import NIOCore
import NIOPosix
import Testing

/// A broker on an ephemeral port for the length of `body`.
func withBroker<T: Sendable>(
    dataDirectory: URL? = nil,
    _ configure: (inout BrokerConfiguration) -> Void = { _ in },
    _ body: (Int) async throws -> T
) async throws -> T {
    var configuration = BrokerConfiguration()
    configuration.port = 0
    configuration.metricsPort = -1
    configuration.inMemory = dataDirectory == nil
    if let dataDirectory { configuration.dataDirectory = dataDirectory }
    // `batch(...)` stamps records in 2023, which the default 7-day retention would delete
    // whenever its periodic pass runs during a test; retention tests set their own.
    configuration.retentionMs = nil
    configure(&configuration)
    let (ports, continuation) = AsyncStream.makeStream(of: Int.self)
    let broker = KafkaBroker(configuration: configuration, logger: Logger(label: "test.broker"))
    let task = Task {
        try await broker.run { continuation.yield($0.kafka) }
    }
    var iterator = ports.makeAsyncIterator()
    guard let port = await iterator.next() else { throw CancellationError() }
    do {
        let result = try await body(port)
        task.cancel()
        _ = await task.result
        return result
    } catch {
        task.cancel()
        _ = await task.result
        throw error
    }
}

/// A raw Kafka connection speaking request header v1, one request at a time.
struct KafkaTestConnection {
    var inbound: NIOAsyncChannelInboundStream<ByteBuffer>.AsyncIterator
    let outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>
    var pending = ByteBuffer()
    var correlationID: Int32 = 0

    mutating func sendRaw(_ frame: ByteBuffer) async throws {
        try await outbound.write(frame)
    }

    /// Sends a request; returns a reader positioned at the response body.
    mutating func request(_ api: APIKey, version: Int16, expectResponse: Bool = true, _ body: (inout ByteBuffer) -> Void) async throws -> KafkaReader? {
        correlationID += 1
        var frame = ByteBuffer()
        frame.writeInteger(Int32(0))
        RequestHeader(apiKey: api.rawValue, apiVersion: version, correlationID: correlationID, clientID: "swift-test").encode(into: &frame)
        body(&frame)
        frame.setInteger(Int32(frame.readableBytes - 4), at: 0)
        try await outbound.write(frame)
        guard expectResponse else { return nil }
        var reader = KafkaReader(try #require(await readFrame()))
        #expect(try reader.int32("correlation_id") == correlationID)
        return reader
    }

    /// The next response frame, or nil once the broker closed the connection.
    mutating func readFrame() async throws -> ByteBuffer? {
        while true {
            if let size = pending.getInteger(at: pending.readerIndex, as: Int32.self), pending.readableBytes >= 4 + Int(size) {
                pending.moveReaderIndex(forwardBy: 4)
                return pending.readSlice(length: Int(size))
            }
            guard var chunk = try await inbound.next() else { return nil }
            pending.writeBuffer(&chunk)
        }
    }
}

func withConnection<T>(port: Int, _ body: (inout KafkaTestConnection) async throws -> T) async throws -> T {
    let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
        .connect(host: "127.0.0.1", port: port) { channel in
            channel.eventLoop.makeCompletedFuture { try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel) }
        }
    return try await channel.executeThenClose { inbound, outbound in
        var connection = KafkaTestConnection(inbound: inbound.makeAsyncIterator(), outbound: outbound)
        return try await body(&connection)
    }
}

func batch(_ values: [String], key: String? = "k", producerID: Int64 = -1, baseSequence: Int32 = -1) -> RecordBatch {
    RecordBatch.build(
        baseTimestamp: 1_700_000_000_000,
        records: values.enumerated().map { index, value in
            Record(offsetDelta: Int32(index), timestampDelta: Int64(index), key: key.map { ByteBuffer(string: $0) }, value: ByteBuffer(string: value),
                   headers: [(key: "traceparent", value: ByteBuffer(string: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"))])
        },
        producerID: producerID, producerEpoch: producerID >= 0 ? 0 : -1, baseSequence: baseSequence
    )
}

extension KafkaTestConnection {
    /// Produces one partition's records; returns (error code, base offset).
    mutating func produce(_ topic: String, partition: Int32 = 0, records: ByteBuffer, acks: Int16 = -1) async throws -> (ErrorCode, Int64) {
        var reader = try #require(try await request(.produce, version: 8) { buffer in
            ProduceRequest(acks: acks, timeoutMs: 5000, topics: [.init(name: topic, partitions: [.init(index: partition, records: records)])])
                .encode(into: &buffer, version: 8)
        })
        let response = try ProduceResponse(from: &reader, version: 8)
        let result = try #require(response.topics.first?.partitions.first)
        return (result.errorCode, result.baseOffset)
    }

    mutating func fetch(_ topic: String, partition: Int32 = 0, offset: Int64, maxWaitMs: Int32 = 0, minBytes: Int32 = 0, maxBytes: Int32 = 1 << 20) async throws -> FetchResponse.Partition {
        var reader = try #require(try await request(.fetch, version: 11) { buffer in
            FetchRequest(maxWaitMs: maxWaitMs, minBytes: minBytes, maxBytes: maxBytes, topics: [.init(name: topic, partitions: [.init(index: partition, fetchOffset: offset, partitionMaxBytes: maxBytes)])])
                .encode(into: &buffer, version: 11)
        })
        return try #require(try FetchResponse(from: &reader, version: 11).topics.first?.partitions.first)
    }
}
