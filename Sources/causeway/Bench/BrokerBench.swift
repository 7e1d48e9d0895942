import ArgumentParser
import Foundation
import KafkaWire
import NIOCore
import NIOPosix

/// `causeway bench broker`: produce and consume throughput of the built-in broker through a
/// batching Kafka-protocol client, so that the client is not what is measured.
///
/// Every connection owns some partitions of one topic. Produce sends record batches v2 of
/// `--batch-records` records, one per owned partition in each Produce request (acks=1),
/// with `--in-flight` requests pipelined per connection. Every partition's error code is
/// checked and acknowledged records are counted. Consume then fetches every partition
/// from offset 0 with large max bytes until each partition's acknowledged count is read.
struct BrokerBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "broker",
        abstract: "Produce and consume msg/s and MB/s of the built-in broker through a batching client.",
        discussion: """
            Without --bootstrap, starts `causeway broker` as a child process on port 0 with a \
            temporary data directory and reports its CPU time and peak RSS from /proc.
            """)

    @Option(help: "A running broker, host:port. Without it a child broker is started.")
    var bootstrap: String?

    @Option(help: "Messages to produce and then consume.")
    var messages = 1_000_000

    @Option(help: "Value size in bytes (keys are null).")
    var size = 100

    @Option(help: "Partitions of the topic.")
    var partitions = 8

    @Option(name: .customLong("batch-records"), help: "Records per record batch.")
    var batchRecords = 2_000

    @Option(help: "Client connections; partitions are dealt out among them.")
    var connections = 4

    @Option(name: .customLong("in-flight"), help: "Pipelined Produce requests per connection.")
    var inFlight = 4

    @Option(help: "Child broker only: 'disk' or 'memory'.")
    var storage = "disk"

    @Option(name: .customLong("flush-interval-ms"), help: "Child broker only: 0 fsyncs every batch, N every N ms.")
    var flushIntervalMs = 1000

    @Option(help: "The topic; default bench-SIZE-UUID, created with --partitions.")
    var topic: String?

    @Flag(name: .customLong("check-crcs"), help: "Verify every consumed batch's CRC-32C (Java's default, not librdkafka's).")
    var checkCRCs = false

    @Flag(help: "Also print one JSON line of the figures (for scripts/broker_bench.py).")
    var json = false

    func validate() throws {
        guard ["disk", "memory"].contains(storage) else { throw ValidationError("--storage must be disk or memory") }
        guard messages > 0, size > 0, partitions > 0, batchRecords > 0, connections > 0, inFlight > 0 else {
            throw ValidationError("--messages, --size, --partitions, --batch-records, --connections and --in-flight must be positive")
        }
    }

    func run() async throws {
        var child: BrokerChild?
        let host: String
        let port: Int
        if let bootstrap {
            guard let colon = bootstrap.lastIndex(of: ":"), let parsed = Int(bootstrap[bootstrap.index(after: colon)...]) else {
                throw ValidationError("--bootstrap must be host:port")
            }
            host = String(bootstrap[..<colon])
            port = parsed
        } else {
            let started = try BrokerChild(storage: storage, flushIntervalMs: flushIntervalMs)
            child = started
            host = "127.0.0.1"
            port = started.port
        }
        defer { child?.stop() }

        let topic = self.topic ?? "bench-\(size)-\(UUID().uuidString.prefix(8).lowercased())"
        let connectionCount = min(connections, partitions)
        var quota = [Int](repeating: messages / partitions, count: partitions)
        for index in 0..<(messages % partitions) { quota[index] += 1 }
        let owned = (0..<connectionCount).map { c in Array(stride(from: c, to: partitions, by: connectionCount)) }

        try await KafkaBenchConnection.open(host: host, port: port).createTopic(topic, partitions: partitions)
        let clients = try await withThrowingTaskGroup(of: KafkaBenchConnection.self) { group in
            for _ in 0..<connectionCount { group.addTask { try await KafkaBenchConnection.open(host: host, port: port) } }
            return try await group.reduce(into: []) { $0.append($1) }
        }

        let templates = BatchTemplates(size: size, counts: Set([min(batchRecords, messages)] + quota.map { $0 % batchRecords }))
        let brokerPID = child?.pid
        let gate = PhaseGate(parties: clients.count) { try? brokerPID.map { try ProcessFigures(pid: $0) } }
        let beforeProduce = try child.map { try ProcessFigures(pid: $0.pid) }
        let produceStart = ContinuousClock.now
        let (acked, consumed) = try await withThrowingTaskGroup(of: (acked: Int, consumed: Int).self) { group in
            for (index, client) in clients.enumerated() {
                let plan = ProducePlan(topic: topic, quota: owned[index].map { ($0, quota[$0]) }, batchRecords: batchRecords)
                group.addTask {
                    try await client.run(plan, templates: templates, inFlight: inFlight, gate: gate, checkCRCs: checkCRCs)
                }
            }
            return try await group.reduce(into: (0, 0)) { $0.0 += $1.acked; $0.1 += $1.consumed }
        }
        let consumeEnd = ContinuousClock.now
        let afterConsume = try child.map { try ProcessFigures(pid: $0.pid) }
        let (produceEnd, afterProduce) = await gate.opened
        let produceTime = produceEnd - produceStart
        let consumeTime = consumeEnd - produceEnd
        guard acked == messages else {
            throw BrokerBenchError(message: "acknowledged \(acked) records, produced \(messages)")
        }
        guard consumed == messages else {
            throw BrokerBenchError(message: "consumed \(consumed) records, produced \(messages)")
        }

        let produceSeconds = produceTime.seconds
        let consumeSeconds = consumeTime.seconds
        let megabytes = Double(messages * size) / 1e6
        print("broker:        \(bootstrap ?? "child, storage \(storage)\(storage == "disk" ? ", flush every \(flushIntervalMs) ms" : "")")")
        print("load:          \(messages) messages of \(size) B, \(partitions) partitions, \(batchRecords) records/batch, \(connectionCount) connections × \(inFlight) in flight, acks=1")
        print(String(format: "produce:       %.0f msg/s, %.1f MB/s (%.2f s)", Double(messages) / produceSeconds, megabytes / produceSeconds, produceSeconds))
        print(String(format: "consume:       %.0f msg/s, %.1f MB/s (%.2f s)%@", Double(messages) / consumeSeconds, megabytes / consumeSeconds, consumeSeconds, checkCRCs ? ", CRCs checked" : ""))
        var figures: [String: Double] = [
            "messages": Double(messages), "size": Double(size),
            "produce_seconds": produceSeconds, "consume_seconds": consumeSeconds,
        ]
        if let beforeProduce, let afterProduce, let afterConsume {
            let produceCPU = afterProduce.cpuSeconds - beforeProduce.cpuSeconds
            let consumeCPU = afterConsume.cpuSeconds - afterProduce.cpuSeconds
            print(String(format: "broker CPU:    produce %.2f s (%.2f µs/msg), consume %.2f s (%.2f µs/msg)", produceCPU, produceCPU / Double(messages) * 1e6, consumeCPU, consumeCPU / Double(messages) * 1e6))
            print("broker memory: RSS \(afterProduce.residentKiB / 1024) MiB after produce (peak \(afterProduce.peakRSSKiB / 1024) MiB), \(afterConsume.residentKiB / 1024) MiB after consume (peak \(afterConsume.peakRSSKiB / 1024) MiB)")
            figures["broker_produce_cpu_seconds"] = produceCPU
            figures["broker_consume_cpu_seconds"] = consumeCPU
            figures["broker_peak_rss_mib_produce"] = Double(afterProduce.peakRSSKiB) / 1024
            figures["broker_peak_rss_mib"] = Double(afterConsume.peakRSSKiB) / 1024
        }
        if json {
            let data = try JSONSerialization.data(withJSONObject: figures, options: [.sortedKeys])
            print("RESULT " + String(decoding: data, as: UTF8.self))
        }
    }
}

struct BrokerBenchError: Error, CustomStringConvertible {
    var message: String
    var description: String { message }
}

extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}

/// `causeway broker` as a child process, so that its CPU time and RSS are its own.
struct BrokerChild {
    let process: Process
    let port: Int
    let dataDirectory: String
    var pid: Int32 { process.processIdentifier }

    init(storage: String, flushIntervalMs: Int) throws {
        let executable = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        dataDirectory = (NSTemporaryDirectory() as NSString).appendingPathComponent("causeway-bench-broker-\(UUID().uuidString)")
        try FileManager.default.createDirectory(atPath: dataDirectory, withIntermediateDirectories: true)
        let config = (dataDirectory as NSString).appendingPathComponent("bench.yaml")
        try "flush_interval_ms: \(flushIntervalMs)\n".write(toFile: config, atomically: true, encoding: .utf8)
        process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        var arguments = ["broker", "--config", config, "--port", "0", "--metrics-port=-1", "--data-dir", dataDirectory]
        if storage == "memory" { arguments.append("--in-memory") }
        process.arguments = arguments
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        var line = ""
        while !line.contains("\n") {
            let data = output.fileHandleForReading.availableData
            if data.isEmpty {
                throw BrokerBenchError(message: "the broker exited before it listened")
            }
            line += String(decoding: data, as: UTF8.self)
        }
        guard let range = line.range(of: "kafka=127.0.0.1:"), let port = Int(line[range.upperBound...].prefix { $0.isNumber }) else {
            process.terminate()
            throw BrokerBenchError(message: "no Kafka port in \(line)")
        }
        self.port = port
    }

    func stop() {
        if process.isRunning {
            process.terminate()
            process.waitUntilExit()
        }
        try? FileManager.default.removeItem(atPath: dataDirectory)
    }
}

/// One record batch of each record count needed, built before the clock starts: the
/// broker overwrites the base offset, which the CRC does not cover, so the same bytes can
/// be sent again and again.
struct BatchTemplates: Sendable {
    private let batches: [Int: ByteBuffer]

    init(size: Int, counts: Set<Int>) {
        let value = ByteBuffer(repeating: UInt8(ascii: "x"), count: size)
        let timestamp = Int64(Date().timeIntervalSince1970 * 1000)
        var batches: [Int: ByteBuffer] = [:]
        for count in counts where count > 0 {
            let records = (0..<count).map { Record(offsetDelta: Int32($0), key: nil, value: value) }
            batches[count] = RecordBatch.build(baseTimestamp: timestamp, records: records).bytes
        }
        self.batches = batches
    }

    func batch(records count: Int) -> ByteBuffer { batches[count]! }
}

/// The Produce requests of one connection: each takes the next batch of every owned
/// partition that still has records to send.
struct ProducePlan: Sendable {
    let topic: String
    var remaining: [(partition: Int, count: Int)]
    let batchRecords: Int

    init(topic: String, quota: [(Int, Int)], batchRecords: Int) {
        self.topic = topic
        self.remaining = quota.map { (partition: $0.0, count: $0.1) }
        self.batchRecords = batchRecords
    }

    /// The next request's (partition, records) pairs, nil when everything is sent.
    mutating func next() -> [(partition: Int, count: Int)]? {
        var out: [(partition: Int, count: Int)] = []
        for index in remaining.indices where remaining[index].count > 0 {
            let count = min(batchRecords, remaining[index].count)
            remaining[index].count -= count
            out.append((remaining[index].partition, count))
        }
        return out.isEmpty ? nil : out
    }
}

/// Holds every connection after produce until the last one is done, so that consume is
/// timed on its own; notes when that was and the broker's figures then.
actor PhaseGate {
    private let parties: Int
    private let snapshot: @Sendable () -> ProcessFigures?
    private var arrived = 0
    private var waiting: [CheckedContinuation<Void, Never>] = []
    private var openedAt: (ContinuousClock.Instant, ProcessFigures?)?
    private var watchers: [CheckedContinuation<(ContinuousClock.Instant, ProcessFigures?), Never>] = []

    init(parties: Int, snapshot: @escaping @Sendable () -> ProcessFigures?) {
        self.parties = parties
        self.snapshot = snapshot
    }

    func arrive() async {
        arrived += 1
        if arrived == parties {
            let opened = (ContinuousClock.now, snapshot())
            openedAt = opened
            for continuation in waiting { continuation.resume() }
            for watcher in watchers { watcher.resume(returning: opened) }
            waiting = []
            watchers = []
            return
        }
        await withCheckedContinuation { waiting.append($0) }
    }

    var opened: (ContinuousClock.Instant, ProcessFigures?) {
        get async {
            if let openedAt { return openedAt }
            return await withCheckedContinuation { watchers.append($0) }
        }
    }
}

/// One client connection speaking the Kafka protocol, requests pipelined and answered in
/// order.
struct KafkaBenchConnection: Sendable {
    let channel: NIOAsyncChannel<ByteBuffer, ByteBuffer>
    private static let clientID = "causeway-bench"
    typealias Inbound = NIOAsyncChannelInboundStream<ByteBuffer>.AsyncIterator
    typealias Outbound = NIOAsyncChannelOutboundWriter<ByteBuffer>

    static func open(host: String, port: Int) async throws -> KafkaBenchConnection {
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .connect(host: host, port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(ResponseFrameDecoder()))
                    return try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                }
            }
        return KafkaBenchConnection(channel: channel)
    }

    private static func frame(api: APIKey, version: Int16, correlationID: Int32, body: (inout ByteBuffer) -> Void) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.writeInteger(Int32(0))
        RequestHeader(apiKey: api.rawValue, apiVersion: version, correlationID: correlationID, clientID: clientID).encode(into: &buffer)
        body(&buffer)
        buffer.setInteger(Int32(buffer.readableBytes - 4), at: 0)
        return buffer
    }

    private static func response(_ inbound: inout Inbound, expecting correlationID: Int32) async throws -> KafkaReader {
        guard let frame = try await inbound.next() else { throw BrokerBenchError(message: "the broker closed the connection") }
        var reader = KafkaReader(frame)
        let got = try reader.int32("response_header.correlation_id")
        guard got == correlationID else {
            throw BrokerBenchError(message: "response to request \(got) arrived where \(correlationID) was expected")
        }
        return reader
    }

    /// CreateTopics v2 (written here because KafkaWire only decodes it); an existing topic
    /// is fine. Closes the connection.
    func createTopic(_ name: String, partitions: Int) async throws {
        try await channel.executeThenClose { inbound, outbound in
            try await outbound.write(Self.frame(api: .createTopics, version: 2, correlationID: 1) { buffer in
                buffer.writeInteger(Int32(1))
                buffer.writeKafkaString(name)
                buffer.writeInteger(Int32(partitions))
                buffer.writeInteger(Int16(1))
                buffer.writeInteger(Int32(0))  // assignments
                buffer.writeInteger(Int32(0))  // configs
                buffer.writeInteger(Int32(30_000))
                buffer.writeKafkaBool(false)
            })
            var iterator = inbound.makeAsyncIterator()
            var reader = try await Self.response(&iterator, expecting: 1)
            _ = try reader.int32("throttle_time_ms")
            for _ in 0..<(try reader.int32("topics")) {
                let topic = try reader.string("name")
                let code = ErrorCode(rawValue: try reader.int16("error_code"))
                let message = try reader.nullableString("error_message")
                guard code == .none || code == .topicAlreadyExists else {
                    throw BrokerBenchError(message: "CreateTopics \(topic): error \(code.rawValue) \(message ?? "")")
                }
            }
        }
    }

    /// Produces the plan, waits at the gate for the other connections, then consumes what
    /// was acknowledged. Closes the connection.
    func run(_ plan: ProducePlan, templates: BatchTemplates, inFlight: Int, gate: PhaseGate, checkCRCs: Bool) async throws -> (acked: Int, consumed: Int) {
        try await channel.executeThenClose { inbound, outbound in
            var iterator = inbound.makeAsyncIterator()
            let acked: [Int32: Int64]
            do {
                acked = try await produce(plan, templates: templates, inFlight: inFlight, inbound: &iterator, outbound: outbound)
            } catch {
                await gate.arrive()
                throw error
            }
            await gate.arrive()
            let consumed = try await consume(topic: plan.topic, goal: acked, checkCRCs: checkCRCs, inbound: &iterator, outbound: outbound)
            return (Int(acked.values.reduce(0, +)), consumed)
        }
    }

    /// Sends the plan's requests, `inFlight` at a time; returns acknowledged records per
    /// partition. Any partition error ends the run: a benchmark that drops data is void.
    private func produce(_ plan: ProducePlan, templates: BatchTemplates, inFlight: Int, inbound: inout Inbound, outbound: Outbound) async throws -> [Int32: Int64] {
        var plan = plan
        var acked: [Int32: Int64] = [:]
        var pending: [(correlationID: Int32, counts: [Int32: Int])] = []
        var nextID: Int32 = 100
        let version: Int16 = 7
        while true {
            while pending.count < inFlight, let parts = plan.next() {
                let request = ProduceRequest(acks: 1, timeoutMs: 30_000, topics: [
                    .init(name: plan.topic, partitions: parts.map { .init(index: Int32($0.partition), records: templates.batch(records: $0.count)) })
                ])
                try await outbound.write(Self.frame(api: .produce, version: version, correlationID: nextID) { request.encode(into: &$0, version: version) })
                pending.append((nextID, Dictionary(uniqueKeysWithValues: parts.map { (Int32($0.partition), $0.count) })))
                nextID &+= 1
            }
            guard !pending.isEmpty else { return acked }
            let expected = pending.removeFirst()
            var reader = try await Self.response(&inbound, expecting: expected.correlationID)
            for topic in try ProduceResponse(from: &reader, version: version).topics {
                for partition in topic.partitions {
                    guard partition.errorCode == .none else {
                        throw BrokerBenchError(message: "Produce to \(topic.name)-\(partition.index): error \(partition.errorCode.rawValue) \(partition.errorMessage ?? "")")
                    }
                    acked[partition.index, default: 0] += Int64(expected.counts[partition.index] ?? 0)
                }
            }
        }
    }

    /// Fetches every partition of `goal` from offset 0 until its count of records is read;
    /// returns the records read.
    private func consume(topic: String, goal: [Int32: Int64], checkCRCs: Bool, inbound: inout Inbound, outbound: Outbound) async throws -> Int {
        var offsets = goal.mapValues { _ in Int64(0) }
        var read = 0
        var correlationID: Int32 = 1_000_000
        let version: Int16 = 11
        while true {
            let open = goal.keys.sorted().filter { offsets[$0]! < goal[$0]! }
            if open.isEmpty { return read }
            correlationID &+= 1
            // 4 MiB a partition, 8 MiB a response: 32 MiB responses were slower, to build
            // and to read (fresh pages on both sides), than several smaller ones.
            let request = FetchRequest(maxWaitMs: 500, minBytes: 1, maxBytes: 8 << 20, topics: [
                .init(name: topic, partitions: open.map { .init(index: $0, fetchOffset: offsets[$0]!, partitionMaxBytes: 4 << 20) })
            ])
            try await outbound.write(Self.frame(api: .fetch, version: version, correlationID: correlationID) { request.encode(into: &$0, version: version) })
            var reader = try await Self.response(&inbound, expecting: correlationID)
            for partition in try FetchResponse(from: &reader, version: version).topics.flatMap(\.partitions) {
                guard partition.errorCode == .none else {
                    throw BrokerBenchError(message: "Fetch \(topic)-\(partition.index): error \(partition.errorCode.rawValue)")
                }
                var records = partition.records
                var offset = offsets[partition.index]!
                // A response may end in a partial batch (KIP-74 allows it); it is fetched again.
                while records.readableBytes >= RecordBatch.logOverhead,
                    let length = records.getInteger(at: records.readerIndex + 8, as: Int32.self),
                    records.readableBytes >= Int(length) + RecordBatch.logOverhead
                {
                    let batch = try RecordBatch(records.readSlice(length: Int(length) + RecordBatch.logOverhead)!, verifyingCRC: checkCRCs)
                    guard batch.nextOffset > offset else { continue }
                    guard batch.baseOffset == offset else {
                        throw BrokerBenchError(message: "Fetch \(topic)-\(partition.index): batch at \(batch.baseOffset), expected \(offset)")
                    }
                    read += Int(batch.recordCount)
                    offset = batch.nextOffset
                }
                offsets[partition.index] = offset
            }
        }
    }
}

/// Response frames: INT32 size, then that many bytes.
struct ResponseFrameDecoder: ByteToMessageDecoder {
    typealias InboundOut = ByteBuffer

    mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let size = buffer.getInteger(at: buffer.readerIndex, as: Int32.self) else { return .needMoreData }
        guard size >= 0 else { throw BrokerBenchError(message: "negative frame size \(size)") }
        guard buffer.readableBytes >= 4 + Int(size) else { return .needMoreData }
        buffer.moveReaderIndex(forwardBy: 4)
        context.fireChannelRead(Self.wrapInboundOut(buffer.readSlice(length: Int(size))!))
        return .continue
    }
}
