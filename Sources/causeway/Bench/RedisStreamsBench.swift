import ArgumentParser
import Foundation
import NIOCore
import NIOPosix

/// `causeway bench redis-streams`: the same volume through a running redis-server's
/// streams, with the same client machinery as `causeway bench broker`, so that the two
/// figures differ by server and protocol only.
///
/// Every connection appends to a stream of its own (as every broker connection owns its
/// partitions) with XADD pipelined `--pipeline` deep, two pipelines in flight, then reads
/// it back with XREAD COUNT `--read-count`.
struct RedisStreamsBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "redis-streams",
        abstract: "XADD and XREAD msg/s and MB/s of a running redis-server, pipelined.")

    @Option(help: "The redis-server, host:port.")
    var server = "127.0.0.1:6379"

    @Option(help: "Messages to add and then read.")
    var messages = 1_000_000

    @Option(help: "Value size in bytes (one field per entry).")
    var size = 100

    @Option(help: "Client connections, one stream each.")
    var connections = 4

    @Option(help: "XADDs per pipeline.")
    var pipeline = 100

    @Option(name: .customLong("read-count"), help: "Entries per XREAD.")
    var readCount = 10_000

    @Flag(help: "Also print one JSON line of the figures (for scripts/broker_bench.py).")
    var json = false

    func run() async throws {
        guard let colon = server.lastIndex(of: ":"), let port = Int(server[server.index(after: colon)...]) else {
            throw ValidationError("--server must be host:port")
        }
        let host = String(server[..<colon])
        let prefix = "bench-\(size)-\(UUID().uuidString.prefix(8).lowercased())"
        let clients = try await withThrowingTaskGroup(of: NIOAsyncChannel<RedisReply, ByteBuffer>.self) { group in
            for _ in 0..<connections {
                group.addTask {
                    try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                        .channelOption(.socketOption(.tcp_nodelay), value: 1)
                        .connect(host: host, port: port) { channel in
                            channel.eventLoop.makeCompletedFuture {
                                try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(RedisReplyDecoder()))
                                return try NIOAsyncChannel<RedisReply, ByteBuffer>(wrappingChannelSynchronously: channel)
                            }
                        }
                }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        let gate = PhaseGate(parties: connections) { nil }
        let value = [UInt8](repeating: UInt8(ascii: "x"), count: size)
        let start = ContinuousClock.now
        let (added, read) = try await withThrowingTaskGroup(of: (added: Int, read: Int).self) { group in
            for (index, client) in clients.enumerated() {
                let quota = messages / connections + (index < messages % connections ? 1 : 0)
                let stream = "\(prefix)-\(index)"
                let pipeline = self.pipeline
                let readCount = self.readCount
                group.addTask {
                    try await client.executeThenClose { inbound, outbound in
                        var replies = inbound.makeAsyncIterator()
                        let added: Int
                        do {
                            added = try await Self.add(quota, to: stream, value: value, pipeline: pipeline, inbound: &replies, outbound: outbound)
                        } catch {
                            await gate.arrive()
                            throw error
                        }
                        await gate.arrive()
                        let read = try await Self.read(added, from: stream, count: readCount, inbound: &replies, outbound: outbound)
                        return (added, read)
                    }
                }
            }
            return try await group.reduce(into: (0, 0)) { $0.0 += $1.added; $0.1 += $1.read }
        }
        let end = ContinuousClock.now
        let (addEnd, _) = await gate.opened
        guard added == messages, read == messages else {
            throw BrokerBenchError(message: "added \(added) and read \(read) entries of \(messages)")
        }
        let produceSeconds = (addEnd - start).seconds
        let consumeSeconds = (end - addEnd).seconds
        let megabytes = Double(messages * size) / 1e6
        print("load:          \(messages) entries of \(size) B, \(connections) connections × \(pipeline) XADDs pipelined, XREAD COUNT \(readCount)")
        print(String(format: "XADD:          %.0f msg/s, %.1f MB/s (%.2f s)", Double(messages) / produceSeconds, megabytes / produceSeconds, produceSeconds))
        print(String(format: "XREAD:         %.0f msg/s, %.1f MB/s (%.2f s)", Double(messages) / consumeSeconds, megabytes / consumeSeconds, consumeSeconds))
        if json {
            let figures: [String: Double] = [
                "messages": Double(messages), "size": Double(size), "produce_seconds": produceSeconds, "consume_seconds": consumeSeconds,
            ]
            let data = try JSONSerialization.data(withJSONObject: figures, options: [.sortedKeys])
            print("RESULT " + String(decoding: data, as: UTF8.self))
        }
    }

    private static func command(_ parts: [[UInt8]], into buffer: inout ByteBuffer) {
        buffer.writeString("*\(parts.count)\r\n")
        for part in parts {
            buffer.writeString("$\(part.count)\r\n")
            buffer.writeBytes(part)
            buffer.writeString("\r\n")
        }
    }

    /// XADDs `pipeline` at a time with the next pipeline already sent, so the server never
    /// waits for the client.
    private static func add(
        _ quota: Int, to stream: String, value: [UInt8], pipeline: Int,
        inbound: inout NIOAsyncChannelInboundStream<RedisReply>.AsyncIterator, outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>
    ) async throws -> Int {
        var one = ByteBuffer()
        command([Array("XADD".utf8), Array(stream.utf8), Array("*".utf8), Array("v".utf8), value], into: &one)
        var sent = 0
        var acknowledged = 0
        var pending: [Int] = []
        while acknowledged < quota {
            while pending.count < 2, sent < quota {
                let count = min(pipeline, quota - sent)
                var batch = ByteBuffer()
                batch.reserveCapacity(one.readableBytes * count)
                for _ in 0..<count { batch.writeImmutableBuffer(one) }
                try await outbound.write(batch)
                sent += count
                pending.append(count)
            }
            for _ in 0..<pending.removeFirst() {
                guard let reply = try await inbound.next() else { throw BrokerBenchError(message: "redis closed the connection") }
                if let error = reply.error { throw BrokerBenchError(message: "XADD: \(error)") }
                acknowledged += 1
            }
        }
        return acknowledged
    }

    private static func read(
        _ total: Int, from stream: String, count: Int,
        inbound: inout NIOAsyncChannelInboundStream<RedisReply>.AsyncIterator, outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>
    ) async throws -> Int {
        var read = 0
        var last = "0"
        while read < total {
            var request = ByteBuffer()
            command(["XREAD", "COUNT", "\(count)", "STREAMS", stream, last].map { Array($0.utf8) }, into: &request)
            try await outbound.write(request)
            guard let reply = try await inbound.next() else { throw BrokerBenchError(message: "redis closed the connection") }
            if let error = reply.error { throw BrokerBenchError(message: "XREAD: \(error)") }
            guard let id = reply.lastEntryID, reply.entries > 0 else { throw BrokerBenchError(message: "XREAD after \(last) returned nothing") }
            read += reply.entries
            last = id
        }
        return read
    }
}

/// What the benchmark needs of one RESP reply: an error, or how many stream entries it
/// held and the last entry's ID.
struct RedisReply: Sendable {
    var error: String?
    var entries = 0
    var lastEntryID: String?
}

/// RESP2 replies, parsed incrementally so that a 10 MB XREAD reply is scanned once.
///
/// XREAD's reply is `[[stream, [[id, [field, value]], …]]]`, so an entry ID is a bulk
/// string that is the first of its array four arrays deep.
struct RedisReplyDecoder: ByteToMessageDecoder {
    typealias InboundOut = RedisReply

    /// Elements still to read in each open array, outermost first.
    private var open: [Int] = []
    private var reply = RedisReply()

    private func line(in buffer: ByteBuffer) -> (text: ByteBufferView, length: Int)? {
        let view = buffer.readableBytesView
        guard let newline = view.firstIndex(of: UInt8(ascii: "\n")) else { return nil }
        // RESP ends every line with CRLF; a bare LF leaves an empty line, refused below.
        return (view[view.startIndex..<max(view.startIndex, newline - 1)], newline - view.startIndex + 1)
    }

    private static func integer(_ bytes: ByteBufferView) throws -> Int {
        var result = 0
        var negative = false
        for byte in bytes {
            if byte == UInt8(ascii: "-") { negative = true; continue }
            guard byte >= 0x30, byte <= 0x39 else { throw BrokerBenchError(message: "bad RESP length") }
            result = result * 10 + Int(byte - 0x30)
        }
        return negative ? -result : result
    }

    mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let (text, length) = line(in: buffer) else { return .needMoreData }
        guard let kind = text.first else { throw BrokerBenchError(message: "empty RESP line") }
        let rest = text.dropFirst()
        switch kind {
        case UInt8(ascii: "*"):
            let count = try Self.integer(rest)
            buffer.moveReaderIndex(forwardBy: length)
            if count > 0 {
                open.append(count)
                return .continue
            }
        case UInt8(ascii: "$"):
            let count = try Self.integer(rest)
            let total = length + max(count, 0) + (count >= 0 ? 2 : 0)
            guard buffer.readableBytes >= total else { return .needMoreData }
            if open.count == 4, open[3] == 2 {
                reply.entries += 1
                reply.lastEntryID = buffer.getString(at: buffer.readerIndex + length, length: count)
            }
            buffer.moveReaderIndex(forwardBy: total)
        case UInt8(ascii: "-"):
            reply.error = String(decoding: rest, as: UTF8.self)
            buffer.moveReaderIndex(forwardBy: length)
        case UInt8(ascii: "+"), UInt8(ascii: ":"):
            buffer.moveReaderIndex(forwardBy: length)
        default:
            throw BrokerBenchError(message: "unexpected RESP type byte \(kind)")
        }
        // One element is complete: close every array it completes.
        while let last = open.last {
            if last > 1 {
                open[open.count - 1] = last - 1
                return .continue
            }
            open.removeLast()
        }
        context.fireChannelRead(Self.wrapInboundOut(reply))
        reply = RedisReply()
        return .continue
    }
}
