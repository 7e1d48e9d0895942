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

    var encoded: [UInt8] {
        var writer = ColumnWriter()
        Self.encode(hops, into: &writer)
        return writer.finish()
    }

    /// Appends the column for these hops: a chain's own (`Collector.Hop`) are written as
    /// they are, without first being copied into this type's.
    static func encode(_ hops: [some EdgeHop], into writer: inout ColumnWriter) {
        hops.forEachInPlace { hop in
            writer.name(hop.pointee.producerService)
            writer.name(hop.pointee.topic)
            writer.integer(UInt32(hop.pointee.deliveries.count))
            hop.pointee.deliveries.forEachInPlace { delivery in
                writer.name(delivery.pointee.service)
                writer.optional(delivery.pointee.queueWaitNanos)
            }
        }
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
        encode(spans, into: &writer)
        return writer.finish()
    }

    static func encode(_ spans: [SpanRef], into writer: inout ColumnWriter) {
        writer.reserve(spans.count * 24)
        for span in spans {
            writer.integer(span.traceID.high.bigEndian)
            writer.integer(span.traceID.low.bigEndian)
            writer.integer(span.spanID.value.bigEndian)
        }
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
/// Encoding: a version byte; the chain ID (16 bytes); correlation ID, root service, root
/// operation and status as names; a flag byte (1: open, 2: finalized early); revision;
/// start (8 bytes), end and error count; the critical path (a count, then positions); the
/// trace IDs (a count, then 16 bytes each); the hops, each its producer (span reference),
/// a flag byte (1: received, 2: error, 4: dead letter), producer service, topic and message
/// ID, then partition, offset, producer start and end as optionals, and its deliveries (a
/// count, then each consumer, service, consumer group, start, end, queue wait as an
/// optional, attempt, and a flag byte: 1 error, 2 duplicate skipped); then the missing
/// parts (a count, then each a kind byte, 0 unconsumed message with producer and topic, 1
/// orphan link with consumer and target).
///
/// Version 2, written now, is version 1 with its values made smaller (`BodyWriter`): the
/// body was most of a chain's row, and the database now grows by about a quarter less per
/// chain (2,130 to 1,617 bytes, `causeway bench stitcher`). Storing a chain costs the same
/// CPU either way: SQLite's work per row, not per byte, is most of it. Version 1 rows are
/// still read.
enum ChainBody {
    static let version: UInt8 = 2

    /// - Parameter version: 1 or 2; 1 only to prove that rows stored before are still read.
    static func encode(_ chain: Chain, version: UInt8 = version) -> [UInt8] {
        // About 150 bytes a hop in version 1; one allocation for most chains.
        var writer = BodyWriter(version: version, capacity: 128 + 160 * chain.hops.count + 16 * chain.traceIDs.count)
        encode(chain, with: &writer)
        return writer.columns.finish()
    }

    /// Appends the chain's body to `writer.columns`; a writer is used for chain after chain
    /// (`TelemetryStore.ChainRows`).
    static func encode(_ chain: borrowing Chain, with writer: inout BodyWriter) {
        writer.startBody()
        writer.columns.integer(writer.version)
        writer.columns.traceID(chain.id.traceID)
        writer.name(chain.correlationID)
        writer.name(chain.rootService)
        writer.name(chain.rootOperation)
        writer.name(chain.status.rawValue)
        writer.columns.integer(UInt8((chain.isOpen ? 1 : 0) | (chain.finalizedEarly ? 2 : 0)))
        writer.number(Int64(chain.revision))
        writer.columns.integer(chain.startUnixNano)
        writer.base = chain.startUnixNano
        writer.time(chain.endUnixNano)
        writer.number(Int64(chain.errorCount))
        writer.count(chain.criticalPath.count)
        for position in chain.criticalPath { writer.number(Int64(position)) }
        writer.count(chain.traceIDs.count)
        for traceID in chain.traceIDs { writer.columns.traceID(traceID) }
        writer.traces = chain.traceIDs
        writer.count(chain.hops.count)
        chain.hops.forEachInPlace { hop in
            writer.span(hop.pointee.producer)
            writer.columns.integer(UInt8((hop.pointee.producerReceived ? 1 : 0) | (hop.pointee.producerError ? 2 : 0) | (hop.pointee.isDeadLetter ? 4 : 0)))
            writer.name(hop.pointee.producerService)
            writer.name(hop.pointee.topic)
            writer.name(hop.pointee.messageID)
            writer.optional(hop.pointee.partition.map(Int64.init))
            writer.optional(hop.pointee.offset)
            writer.optionalTime(hop.pointee.producerStartUnixNano)
            writer.optionalTime(hop.pointee.producerEndUnixNano)
            writer.count(hop.pointee.deliveries.count)
            hop.pointee.deliveries.forEachInPlace { delivery in
                writer.span(delivery.pointee.consumer)
                writer.name(delivery.pointee.service)
                writer.name(delivery.pointee.consumerGroup)
                writer.time(delivery.pointee.startUnixNano)
                writer.time(delivery.pointee.endUnixNano)
                writer.optional(delivery.pointee.queueWaitNanos)
                writer.number(Int64(delivery.pointee.attempt))
                writer.columns.integer(UInt8((delivery.pointee.isError ? 1 : 0) | (delivery.pointee.duplicateSkipped ? 2 : 0)))
            }
        }
        writer.count(chain.missing.count)
        for part in chain.missing {
            switch part {
            case .unconsumedMessage(let producer, let topic):
                writer.columns.integer(UInt8(0))
                writer.span(producer)
                writer.name(topic)
            case .orphanLink(let consumer, let target):
                writer.columns.integer(UInt8(1))
                writer.span(consumer)
                writer.span(target)
            }
        }
    }

    /// The chain a body holds, with the spans of its row; `nil` for a body that is not
    /// this encoding or is cut short.
    static func decode(_ body: some Collection<UInt8>, spans: [SpanRef]) -> Chain? {
        var columns = ColumnReader(Array(body))
        guard let version = columns.integer(UInt8.self), version == 1 || version == 2 else { return nil }
        var reader = BodyReader(columns: columns, version: version)
        guard let id = reader.columns.traceID(),
            let correlationID = reader.name(), let rootService = reader.name(), let rootOperation = reader.name(),
            let statusName = reader.name(), let status = statusName.value.flatMap(ChainStatus.init(rawValue:)),
            let flags = reader.columns.integer(UInt8.self), let revision = reader.number(),
            let start = reader.columns.integer(UInt64.self)
        else { return nil }
        reader.base = start
        guard let end = reader.time(), let errorCount = reader.number() else { return nil }
        var chain = Chain(
            id: ChainID(id), supersedes: [], revision: Int(revision), isOpen: flags & 1 != 0, finalizedEarly: flags & 2 != 0,
            correlationID: correlationID.value, status: status, rootService: rootService.value, rootOperation: rootOperation.value,
            spans: spans, traceIDs: [], services: [], startUnixNano: start, endUnixNano: end, hops: [], criticalPath: [],
            errorCount: Int(errorCount), missing: [])
        guard let pathCount = reader.count() else { return nil }
        for _ in 0..<pathCount {
            guard let position = reader.number() else { return nil }
            chain.criticalPath.append(Int(position))
        }
        guard let traceCount = reader.count() else { return nil }
        for _ in 0..<traceCount {
            guard let traceID = reader.columns.traceID() else { return nil }
            chain.traceIDs.append(traceID)
        }
        reader.traces = chain.traceIDs
        guard let hopCount = reader.count() else { return nil }
        for _ in 0..<hopCount {
            guard let producer = reader.span(), let hopFlags = reader.columns.integer(UInt8.self),
                let service = reader.name(), let topic = reader.name(), let messageID = reader.name(),
                let partition = reader.optional(), let offset = reader.optional(),
                let producerStart = reader.optionalTime(), let producerEnd = reader.optionalTime(),
                let deliveryCount = reader.count()
            else { return nil }
            var hop = Hop(
                producer: producer, producerReceived: hopFlags & 1 != 0, producerService: service.value, topic: topic.value,
                partition: partition.value.map { Int32(truncatingIfNeeded: $0) }, offset: offset.value, messageID: messageID.value,
                producerStartUnixNano: producerStart.value, producerEndUnixNano: producerEnd.value,
                producerError: hopFlags & 2 != 0, deliveries: [], isDeadLetter: hopFlags & 4 != 0)
            for _ in 0..<deliveryCount {
                guard let consumer = reader.span(), let service = reader.name(), let group = reader.name(),
                    let start = reader.time(), let end = reader.time(),
                    let wait = reader.optional(), let attempt = reader.number(),
                    let deliveryFlags = reader.columns.integer(UInt8.self)
                else { return nil }
                hop.deliveries.append(Delivery(
                    consumer: consumer, service: service.value, consumerGroup: group.value, startUnixNano: start, endUnixNano: end,
                    queueWaitNanos: wait.value, attempt: Int(attempt), isError: deliveryFlags & 1 != 0,
                    duplicateSkipped: deliveryFlags & 2 != 0))
            }
            chain.hops.append(hop)
        }
        guard let missingCount = reader.count() else { return nil }
        for _ in 0..<missingCount {
            switch reader.columns.integer(UInt8.self) {
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

    /// Writes a body's values as its version says.
    ///
    /// Version 1: counts as `UInt32`, numbers and times as 8 bytes, names and optionals as
    /// in `ChainEdges`, a span reference as its trace ID and span ID.
    ///
    /// Version 2: counts as varints; numbers as zigzag varints; times after the chain's
    /// start as zigzag varints of their distance from it (a few bytes where 8 were); an
    /// optional as a flag byte and, when present, its zigzag varint. A name is a varint: 0
    /// none, 1 a name not written before in this body (a varint length and its bytes
    /// follow), n > 1 the (n-2)th such name again (a chain's services, topics and groups
    /// recur hop after hop). A span reference is a varint and its span ID (8 bytes): 0 a
    /// trace ID written next (16 bytes), n > 0 the chain's (n-1)th trace ID.
    struct BodyWriter {
        let version: UInt8
        var columns: ColumnWriter
        /// What times are written from (version 2): the chain's start, once written.
        var base: UInt64 = 0
        var traces: [TraceID] = []
        private var names: [String] = []

        init(version: UInt8, capacity: Int) {
            self.version = version
            columns = ColumnWriter(capacity: capacity)
        }

        /// Forgets the names and traces of the body before, keeping their arrays' room.
        mutating func startBody() {
            base = 0
            traces = []
            names.removeAll(keepingCapacity: true)
        }

        mutating func count(_ count: Int) {
            if version == 1 { columns.integer(UInt32(truncatingIfNeeded: count)) } else { columns.varint(UInt64(count)) }
        }

        mutating func number(_ value: Int64) {
            if version == 1 { columns.integer(value) } else { columns.varint(Zigzag.encode(value)) }
        }

        mutating func time(_ value: UInt64) {
            if version == 1 { columns.integer(value) } else { columns.varint(Zigzag.encode(Int64(bitPattern: value &- base))) }
        }

        mutating func optional(_ value: Int64?) {
            guard version != 1 else { return columns.optional(value) }
            columns.integer(UInt8(value == nil ? 0 : 1))
            if let value { columns.varint(Zigzag.encode(value)) }
        }

        mutating func optionalTime(_ value: UInt64?) {
            guard version != 1 else { return columns.optional(value.map { Int64(bitPattern: $0) }) }
            columns.integer(UInt8(value == nil ? 0 : 1))
            if let value { time(value) }
        }

        mutating func name(_ name: String?) {
            guard version != 1 else { return columns.name(name) }
            guard let name else { return columns.varint(0) }
            if let earlier = names.firstIndex(where: { $0.isSameText(as: name) }) {
                return columns.varint(UInt64(earlier) + 2)
            }
            names.append(name)
            columns.varint(1)
            columns.text(name)
        }

        mutating func span(_ span: SpanRef) {
            if version == 1 {
                columns.traceID(span.traceID)
            } else if let position = traces.firstIndex(of: span.traceID) {
                columns.varint(UInt64(position) + 1)
            } else {
                columns.varint(0)
                columns.traceID(span.traceID)
            }
            columns.integer(span.spanID.value)
        }
    }

    /// Reads what `BodyWriter` wrote; `nil` past the end or for a value out of range.
    struct BodyReader {
        var columns: ColumnReader
        let version: UInt8
        var base: UInt64 = 0
        var traces: [TraceID] = []
        private var names: [String] = []

        init(columns: ColumnReader, version: UInt8) {
            self.columns = columns
            self.version = version
        }

        mutating func count() -> Int? {
            let count = version == 1 ? columns.integer(UInt32.self).map(UInt64.init) : columns.varint()
            // Each thing counted takes a byte at least: a count larger than the bytes left
            // is a broken body, not a reason to loop.
            guard let count, count <= columns.remaining else { return nil }
            return Int(count)
        }

        mutating func number() -> Int64? {
            version == 1 ? columns.integer(Int64.self) : columns.varint().map(Zigzag.decode)
        }

        mutating func time() -> UInt64? {
            if version == 1 { return columns.integer(UInt64.self) }
            return columns.varint().map { base &+ UInt64(bitPattern: Zigzag.decode($0)) }
        }

        mutating func optional() -> ColumnReader.Number? {
            if version == 1 { return columns.optionalNumber() }
            guard let flag = columns.integer(UInt8.self) else { return nil }
            if flag == 0 { return ColumnReader.Number(value: nil) }
            return columns.varint().map { ColumnReader.Number(value: Zigzag.decode($0)) }
        }

        /// An optional time as read: `value` is `nil` for one recorded as absent.
        struct OptionalTime { var value: UInt64? }

        mutating func optionalTime() -> OptionalTime? {
            if version == 1 { return columns.optionalNumber().map { OptionalTime(value: $0.value.map { UInt64(bitPattern: $0) }) } }
            guard let flag = columns.integer(UInt8.self) else { return nil }
            if flag == 0 { return OptionalTime(value: nil) }
            return time().map { OptionalTime(value: $0) }
        }

        mutating func name() -> ColumnReader.Name? {
            if version == 1 { return columns.name() }
            guard let code = columns.varint() else { return nil }
            switch code {
            case 0: return ColumnReader.Name(value: nil)
            case 1:
                guard let text = columns.text() else { return nil }
                names.append(text)
                return ColumnReader.Name(value: text)
            default:
                guard code - 2 < UInt64(names.count) else { return nil }
                return ColumnReader.Name(value: names[Int(code - 2)])
            }
        }

        mutating func span() -> SpanRef? {
            if version == 1 { return columns.span() }
            guard let code = columns.varint() else { return nil }
            let traceID: TraceID
            if code == 0 {
                guard let written = columns.traceID() else { return nil }
                traceID = written
            } else {
                guard code - 1 < UInt64(traces.count) else { return nil }
                traceID = traces[Int(code - 1)]
            }
            return columns.integer(UInt64.self).map { SpanRef(traceID: traceID, spanID: SpanID($0)) }
        }
    }
}

/// Zigzag: signed values as unsigned ones, small magnitudes small (protobuf's `sint64`).
enum Zigzag {
    static func encode(_ value: Int64) -> UInt64 { UInt64(bitPattern: (value << 1) ^ (value >> 63)) }
    static func decode(_ value: UInt64) -> Int64 { Int64(bitPattern: value >> 1) ^ -Int64(bitPattern: value & 1) }
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

    /// Where the next byte goes: a column written after it ends at the new `position`.
    var position: Int { count }

    mutating func reserve(_ extra: Int) {
        if storage.count - count < extra { storage += repeatElement(0, count: max(storage.count, extra)) }
    }

    /// The bytes written so far, for binding columns that lie in them.
    func withWritten<T>(_ body: (UnsafeRawBufferPointer) throws -> T) rethrows -> T {
        try storage.withUnsafeBytes { try body(UnsafeRawBufferPointer(rebasing: $0[..<count])) }
    }

    /// Names as one text column, each between separators (U+001F), as
    /// `TelemetryStore.separated` makes it.
    mutating func separated(_ names: some Sequence<String>) {
        integer(UInt8(0x1F))
        for var name in names {
            name.withUTF8 { bytes(UnsafeRawBufferPointer($0)) }
            integer(UInt8(0x1F))
        }
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
            bytes(UnsafeRawBufferPointer(utf8))
        }
    }

    /// LEB128, as protobuf's varints.
    mutating func varint(_ value: UInt64) {
        reserve(10)
        var rest = value
        var end = count
        storage.withUnsafeMutableBytes { bytes in
            while rest >= 0x80 {
                bytes[end] = UInt8(truncatingIfNeeded: rest) | 0x80
                end += 1
                rest >>= 7
            }
            bytes[end] = UInt8(rest)
            end += 1
        }
        count = end
    }

    /// Its UTF-8 length as a varint and its bytes.
    mutating func text(_ text: String) {
        var text = text
        text.withUTF8 { utf8 in
            varint(UInt64(utf8.count))
            bytes(UnsafeRawBufferPointer(utf8))
        }
    }

    mutating func bytes(_ array: [UInt8]) {
        array.withUnsafeBytes { bytes($0) }
    }

    private mutating func bytes(_ bytes: UnsafeRawBufferPointer) {
        reserve(bytes.count)
        let offset = count
        storage.withUnsafeMutableBytes { UnsafeMutableRawBufferPointer(rebasing: $0[offset..<offset + bytes.count]).copyMemory(from: bytes) }
        count += bytes.count
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
struct ColumnReader {
    let bytes: [UInt8]
    var offset = 0

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    var atEnd: Bool { offset >= bytes.count }
    var remaining: Int { bytes.count - offset }

    /// A LEB128 varint of at most 10 bytes; `nil` past the end or for a longer one.
    mutating func varint() -> UInt64? {
        var value: UInt64 = 0
        var shift: UInt64 = 0
        while offset < bytes.count, shift < 64 {
            let byte = bytes[offset]
            offset += 1
            value |= UInt64(byte & 0x7F) << shift
            if byte < 0x80 { return value }
            shift += 7
        }
        return nil
    }

    /// A varint length and that many bytes of UTF-8.
    mutating func text() -> String? {
        guard let length = varint(), length <= UInt64(remaining) else { return nil }
        return utf8(count: Int(length))
    }

    /// The next `count` bytes as UTF-8; `nil` past the end.
    private mutating func utf8(count: Int) -> String? {
        guard remaining >= count else { return nil }
        defer { offset += count }
        return String(decoding: bytes[offset..<offset + count], as: UTF8.self)
    }

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
        return utf8(count: Int(length)).map { Name(value: $0) }
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
