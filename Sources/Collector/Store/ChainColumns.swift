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

    init(_ chain: Chain) {
        hops = chain.hops.map { hop in
            Hop(
                producerService: hop.producerService, topic: hop.topic,
                deliveries: hop.deliveries.map { Delivery(service: $0.service, queueWaitNanos: $0.queueWaitNanos) })
        }
    }

    var encoded: Data {
        var bytes: [UInt8] = []
        func append<T: FixedWidthInteger>(_ value: T) { withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) } }
        func append(_ name: String?) {
            guard let name else { return append(Int32(-1)) }
            append(Int32(name.utf8.count))
            bytes.append(contentsOf: name.utf8)
        }
        for hop in hops {
            append(hop.producerService)
            append(hop.topic)
            append(UInt32(hop.deliveries.count))
            for delivery in hop.deliveries {
                append(delivery.service)
                append(UInt8(delivery.queueWaitNanos == nil ? 0 : 1))
                append(delivery.queueWaitNanos ?? 0)
            }
        }
        return Data(bytes)
    }

    init(encoded: Data) {
        var reader = ColumnReader(Array(encoded))
        while !reader.atEnd {
            guard let producer = reader.name(), let topic = reader.name(), let count = reader.integer(UInt32.self) else { return }
            var hop = Hop(producerService: producer.value, topic: topic.value, deliveries: [])
            for _ in 0..<count {
                guard let service = reader.name(), let flag = reader.integer(UInt8.self), let wait = reader.integer(Int64.self) else { return }
                hop.deliveries.append(Delivery(service: service.value, queueWaitNanos: flag == 0 ? nil : wait))
            }
            hops.append(hop)
        }
    }
}

/// A chain's spans as the store keeps them in its row (the `spans` column): 24 bytes each,
/// trace ID (16) and span ID (8), big-endian as on the wire.
enum ChainSpansColumn {
    static func encode(_ spans: [SpanRef]) -> Data {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(spans.count * 24)
        for span in spans {
            for word in [span.traceID.high, span.traceID.low, span.spanID.value] {
                withUnsafeBytes(of: word.bigEndian) { bytes.append(contentsOf: $0) }
            }
        }
        return Data(bytes)
    }

    static func decode(_ data: Data) -> [SpanRef] {
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
}
