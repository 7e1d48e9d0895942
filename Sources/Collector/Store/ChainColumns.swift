import Foundation
import Telemetry

/// A chain's message edges as the store keeps them in its row (the `edges` column), for
/// `/api/dependencies` and `/api/graph`: each hop's producer service and topic, and each
/// delivery's consumer service and queue wait.
///
/// Encoding: for each hop, its producer service and topic, the count of its deliveries
/// (`UInt32`), then each delivery's service and queue wait. A name is its UTF-8 length as
/// an `Int32` (-1: none) and its bytes; a queue wait is a flag byte (0: none) and an
/// `Int64`. Integers are little-endian. Bytes that do not decode end the list.
struct ChainEdges: Equatable {
    struct Hop: Equatable {
        var producerService: String?
        var topic: String?
        var deliveries: [Delivery]
    }

    struct Delivery: Equatable {
        var service: String?
        var queueWaitNanos: Int64?
    }

    var hops: [Hop] = []

    init() {}

    var encoded: [UInt8] { Self.encode(hops) }

    /// The column for these hops: a chain's own (`Collector.Hop`) are written as they are,
    /// without first being copied into this type's.
    static func encode(_ hops: [some EdgeHop]) -> [UInt8] {
        var writer = ColumnWriter()
        hops.forEachInPlace { hop in
            writer.name(hop.pointee.producerService)
            writer.name(hop.pointee.topic)
            writer.integer(UInt32(hop.pointee.deliveries.count))
            hop.pointee.deliveries.forEachInPlace { delivery in
                writer.name(delivery.pointee.service)
                writer.optional(delivery.pointee.queueWaitNanos)
            }
        }
        return writer.finish()
    }

    init(encoded: some Collection<UInt8>) {
        var reader = ColumnReader(Array(encoded))
        while !reader.atEnd {
            guard let producer = reader.name(), let topic = reader.name(), let count = reader.integer(UInt32.self) else { return }
            var hop = Hop(producerService: producer.value, topic: topic.value, deliveries: [])
            for _ in 0..<count {
                guard let service = reader.name(), let wait = reader.optionalNumber() else { return }
                hop.deliveries.append(Delivery(service: service.value, queueWaitNanos: wait.value))
            }
            hops.append(hop)
        }
    }
}

/// What the `edges` column keeps of a hop: a chain's hops and `ChainEdges`' both are.
protocol EdgeHop {
    associatedtype EdgeDelivery: EdgeHopDelivery
    var producerService: String? { get }
    var topic: String? { get }
    var deliveries: [EdgeDelivery] { get }
}

/// What the `edges` column keeps of a delivery.
protocol EdgeHopDelivery {
    var service: String? { get }
    var queueWaitNanos: Int64? { get }
}

extension Hop: EdgeHop {}
extension Delivery: EdgeHopDelivery {}
extension ChainEdges.Hop: EdgeHop {}
extension ChainEdges.Delivery: EdgeHopDelivery {}

/// A chain's spans as the store keeps them in its row (the `spans` column): 24 bytes each,
/// trace ID (16) and span ID (8), big-endian as on the wire.
enum ChainSpansColumn {
    static func encode(_ spans: [SpanRef]) -> [UInt8] {
        var writer = ColumnWriter(capacity: spans.count * 24)
        for span in spans {
            writer.integer(span.traceID.high.bigEndian)
            writer.integer(span.traceID.low.bigEndian)
            writer.integer(span.spanID.value.bigEndian)
        }
        return writer.finish()
    }

    static func decode(_ data: some Collection<UInt8>) -> [SpanRef] {
        var reader = ColumnReader(Array(data))
        var spans: [SpanRef] = []
        spans.reserveCapacity(data.count / 24)
        while let high = reader.integer(UInt64.self, bigEndian: true), let low = reader.integer(UInt64.self, bigEndian: true),
            let span = reader.integer(UInt64.self, bigEndian: true)
        {
            spans.append(SpanRef(traceID: TraceID(high: high, low: low), spanID: SpanID(span)))
        }
        return spans
    }
}

/// A chain's figures as the store keeps them in its row (the `body` column), from which
/// the API's JSON (`ChainJSON.detailData`) is written when a chain is read. Writing the
/// JSON for every finalized chain cost several times this encoding, and the JSON was
/// three to four times the bytes. Bodies of rows stored before are JSON, told apart by
/// their first byte (`{`), and served as they are.
///
/// Encoding: a version byte (1); the chain ID (16 bytes); correlation ID, root service,
/// root operation and status as names; a flag byte (1: open, 2: finalized early);
/// revision, start, end and error count (8 bytes each); the critical path (a `UInt32`
/// count, then `Int64`s); the trace IDs (a count, then 16 bytes each); the hops, each its
/// producer (span reference), a flag byte (1: received, 2: error, 4: dead letter),
/// producer service, topic and message ID, then partition, offset, producer start and end
/// as optionals, and its deliveries (a count, then each consumer, service, consumer group,
/// start, end, queue wait as an optional, attempt, and a flag byte: 1 error, 2 duplicate
/// skipped); then the missing parts (a count, then each a kind byte, 0 unconsumed message
/// with producer and topic, 1 orphan link with consumer and target). Names, optionals and
/// integers as in `ChainEdges`; a span reference is a trace ID and a span ID.
/// The spans themselves are the `spans` column.
enum ChainBody {
    static let version: UInt8 = 1

    static func encode(_ chain: Chain) -> [UInt8] {
        // About 150 bytes a hop; one allocation for most chains.
        var writer = ColumnWriter(capacity: 128 + 160 * chain.hops.count + 16 * chain.traceIDs.count)
        writer.integer(version)
        writer.traceID(chain.id.traceID)
        writer.name(chain.correlationID)
        writer.name(chain.rootService)
        writer.name(chain.rootOperation)
        writer.name(chain.status.rawValue)
        writer.integer(UInt8((chain.isOpen ? 1 : 0) | (chain.finalizedEarly ? 2 : 0)))
        writer.integer(Int64(chain.revision))
        writer.integer(chain.startUnixNano)
        writer.integer(chain.endUnixNano)
        writer.integer(Int64(chain.errorCount))
        writer.integer(UInt32(chain.criticalPath.count))
        for position in chain.criticalPath { writer.integer(Int64(position)) }
        writer.integer(UInt32(chain.traceIDs.count))
        for traceID in chain.traceIDs { writer.traceID(traceID) }
        writer.integer(UInt32(chain.hops.count))
        chain.hops.forEachInPlace { hop in
            writer.span(hop.pointee.producer)
            writer.integer(UInt8((hop.pointee.producerReceived ? 1 : 0) | (hop.pointee.producerError ? 2 : 0) | (hop.pointee.isDeadLetter ? 4 : 0)))
            writer.name(hop.pointee.producerService)
            writer.name(hop.pointee.topic)
            writer.name(hop.pointee.messageID)
            writer.optional(hop.pointee.partition.map(Int64.init))
            writer.optional(hop.pointee.offset)
            writer.optional(hop.pointee.producerStartUnixNano.map { Int64(bitPattern: $0) })
            writer.optional(hop.pointee.producerEndUnixNano.map { Int64(bitPattern: $0) })
            writer.integer(UInt32(hop.pointee.deliveries.count))
            hop.pointee.deliveries.forEachInPlace { delivery in
                writer.span(delivery.pointee.consumer)
                writer.name(delivery.pointee.service)
                writer.name(delivery.pointee.consumerGroup)
                writer.integer(delivery.pointee.startUnixNano)
                writer.integer(delivery.pointee.endUnixNano)
                writer.optional(delivery.pointee.queueWaitNanos)
                writer.integer(Int64(delivery.pointee.attempt))
                writer.integer(UInt8((delivery.pointee.isError ? 1 : 0) | (delivery.pointee.duplicateSkipped ? 2 : 0)))
            }
        }
        writer.integer(UInt32(chain.missing.count))
        for part in chain.missing {
            switch part {
            case .unconsumedMessage(let producer, let topic):
                writer.integer(UInt8(0))
                writer.span(producer)
                writer.name(topic)
            case .orphanLink(let consumer, let target):
                writer.integer(UInt8(1))
                writer.span(consumer)
                writer.span(target)
            }
        }
        return writer.finish()
    }

    /// The chain a body holds, with the spans of its row; `nil` for a body that is not
    /// this encoding or is cut short.
    static func decode(_ body: some Collection<UInt8>, spans: [SpanRef]) -> Chain? {
        var reader = ColumnReader(Array(body))
        guard reader.integer(UInt8.self) == version, let id = reader.traceID(),
            let correlationID = reader.name(), let rootService = reader.name(), let rootOperation = reader.name(),
            let statusName = reader.name(), let status = statusName.value.flatMap(ChainStatus.init(rawValue:)),
            let flags = reader.integer(UInt8.self), let revision = reader.integer(Int64.self),
            let start = reader.integer(UInt64.self), let end = reader.integer(UInt64.self),
            let errorCount = reader.integer(Int64.self)
        else { return nil }
        var chain = Chain(
            id: ChainID(id), supersedes: [], revision: Int(revision), isOpen: flags & 1 != 0, finalizedEarly: flags & 2 != 0,
            correlationID: correlationID.value, status: status, rootService: rootService.value, rootOperation: rootOperation.value,
            spans: spans, traceIDs: [], services: [], startUnixNano: start, endUnixNano: end, hops: [], criticalPath: [],
            errorCount: Int(errorCount), missing: [])
        guard let pathCount = reader.integer(UInt32.self) else { return nil }
        for _ in 0..<pathCount {
            guard let position = reader.integer(Int64.self) else { return nil }
            chain.criticalPath.append(Int(position))
        }
        guard let traceCount = reader.integer(UInt32.self) else { return nil }
        for _ in 0..<traceCount {
            guard let traceID = reader.traceID() else { return nil }
            chain.traceIDs.append(traceID)
        }
        guard let hopCount = reader.integer(UInt32.self) else { return nil }
        for _ in 0..<hopCount {
            guard let producer = reader.span(), let hopFlags = reader.integer(UInt8.self),
                let service = reader.name(), let topic = reader.name(), let messageID = reader.name(),
                let partition = reader.optionalNumber(), let offset = reader.optionalNumber(),
                let producerStart = reader.optionalNumber(), let producerEnd = reader.optionalNumber(),
                let deliveryCount = reader.integer(UInt32.self)
            else { return nil }
            var hop = Hop(
                producer: producer, producerReceived: hopFlags & 1 != 0, producerService: service.value, topic: topic.value,
                partition: partition.value.map { Int32(truncatingIfNeeded: $0) }, offset: offset.value, messageID: messageID.value,
                producerStartUnixNano: producerStart.value.map { UInt64(bitPattern: $0) },
                producerEndUnixNano: producerEnd.value.map { UInt64(bitPattern: $0) },
                producerError: hopFlags & 2 != 0, deliveries: [], isDeadLetter: hopFlags & 4 != 0)
            for _ in 0..<deliveryCount {
                guard let consumer = reader.span(), let service = reader.name(), let group = reader.name(),
                    let start = reader.integer(UInt64.self), let end = reader.integer(UInt64.self),
                    let wait = reader.optionalNumber(), let attempt = reader.integer(Int64.self),
                    let deliveryFlags = reader.integer(UInt8.self)
                else { return nil }
                hop.deliveries.append(Delivery(
                    consumer: consumer, service: service.value, consumerGroup: group.value, startUnixNano: start, endUnixNano: end,
                    queueWaitNanos: wait.value, attempt: Int(attempt), isError: deliveryFlags & 1 != 0,
                    duplicateSkipped: deliveryFlags & 2 != 0))
            }
            chain.hops.append(hop)
        }
        guard let missingCount = reader.integer(UInt32.self) else { return nil }
        for _ in 0..<missingCount {
            switch reader.integer(UInt8.self) {
            case 0:
                guard let producer = reader.span(), let topic = reader.name() else { return nil }
                chain.missing.append(.unconsumedMessage(producer: producer, topic: topic.value))
            case 1:
                guard let consumer = reader.span(), let target = reader.span() else { return nil }
                chain.missing.append(.orphanLink(consumer: consumer, target: target))
            default:
                return nil
            }
        }
        return chain
    }

    /// The API's JSON for a stored body, with the spans of its row: JSON as it is, this
    /// encoding written as JSON.
    static func json(_ body: some Collection<UInt8>, spans: [SpanRef]) throws -> Data {
        if body.first == UInt8(ascii: "{") { return Data(body) }
        guard let chain = decode(body, spans: spans) else { throw ChainBodyUnreadable() }
        return ChainJSON.detailData(chain)
    }
}

/// A stored chain body that is neither JSON nor `ChainBody`'s encoding.
struct ChainBodyUnreadable: Error, CustomStringConvertible {
    var description: String { "a stored chain's body is neither JSON nor a chain body of version \(ChainBody.version)" }
}

/// Writes the integers, names and optionals of a chain row's binary columns.
///
/// Values are stored into spare capacity, grown by doubling: appending each integer's
/// bytes as a collection (`append(contentsOf:)`) was half of encoding a chain.
struct ColumnWriter {
    private var storage: [UInt8]
    private var count = 0

    init(capacity: Int = 0) { storage = [UInt8](repeating: 0, count: max(capacity, 64)) }

    /// What was written; the writer is done with.
    mutating func finish() -> [UInt8] {
        storage.removeLast(storage.count - count)
        return storage
    }

    private mutating func reserve(_ extra: Int) {
        if storage.count - count < extra { storage += repeatElement(0, count: max(storage.count, extra)) }
    }

    mutating func integer<T: FixedWidthInteger>(_ value: T) {
        reserve(MemoryLayout<T>.size)
        let offset = count
        storage.withUnsafeMutableBytes { $0.storeBytes(of: value.littleEndian, toByteOffset: offset, as: T.self) }
        count += MemoryLayout<T>.size
    }

    /// Its UTF-8 length as an `Int32` (-1: none) and its bytes.
    mutating func name(_ name: String?) {
        guard var name else { return integer(Int32(-1)) }
        name.withUTF8 { utf8 in
            integer(Int32(utf8.count))
            reserve(utf8.count)
            let offset = count
            storage.withUnsafeMutableBytes { UnsafeMutableRawBufferPointer(rebasing: $0[offset..<offset + utf8.count]).copyMemory(from: UnsafeRawBufferPointer(utf8)) }
            count += utf8.count
        }
    }

    /// A flag byte (0: none) and the value (0 when none).
    mutating func optional(_ value: Int64?) {
        integer(UInt8(value == nil ? 0 : 1))
        integer(value ?? 0)
    }

    mutating func traceID(_ id: TraceID) {
        integer(id.high)
        integer(id.low)
    }

    mutating func span(_ span: SpanRef) {
        traceID(span.traceID)
        integer(span.spanID.value)
    }
}

/// Reads the integers and names of a chain row's binary columns; `nil` past the end.
private struct ColumnReader {
    let bytes: [UInt8]
    var offset = 0

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    var atEnd: Bool { offset >= bytes.count }

    mutating func integer<T: FixedWidthInteger>(_: T.Type, bigEndian: Bool = false) -> T? {
        let size = MemoryLayout<T>.size
        guard bytes.count - offset >= size else { return nil }
        let value = bytes.withUnsafeBytes { $0.littleEndian(T.self, at: offset) }
        offset += size
        return bigEndian ? value.byteSwapped : value
    }

    /// A name as read: `value` is `nil` for one recorded as absent.
    struct Name { var value: String? }

    /// The next name; `nil` past the end.
    mutating func name() -> Name? {
        guard let length = integer(Int32.self) else { return nil }
        if length < 0 { return Name(value: nil) }
        guard bytes.count - offset >= Int(length) else { return nil }
        defer { offset += Int(length) }
        return Name(value: String(decoding: bytes[offset..<offset + Int(length)], as: UTF8.self))
    }

    /// An optional number as read: `value` is `nil` for one recorded as absent.
    struct Number { var value: Int64? }

    /// The next optional number (see `ColumnWriter.optional`); `nil` past the end.
    mutating func optionalNumber() -> Number? {
        guard let flag = integer(UInt8.self), let value = integer(Int64.self) else { return nil }
        return Number(value: flag == 0 ? nil : value)
    }

    mutating func traceID() -> TraceID? {
        guard let high = integer(UInt64.self), let low = integer(UInt64.self) else { return nil }
        return TraceID(high: high, low: low)
    }

    mutating func span() -> SpanRef? {
        guard let traceID = traceID(), let span = integer(UInt64.self) else { return nil }
        return SpanRef(traceID: traceID, spanID: SpanID(span))
    }
}
