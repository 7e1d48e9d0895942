import KafkaWire
import Telemetry

/// What the store keeps of a span beside its body: the fields queries filter on and where
/// the body lies in its segment file.
struct SpanEntry: Equatable {
    var traceID: TraceID
    var spanID: UInt64
    /// 0 for a root (an all-zero span ID is invalid in OTLP).
    var parentSpanID: UInt64
    var startNanos: Int64
    var durationNanos: Int64
    /// Offset of the body in the segment file.
    var bodyOffset: UInt64
    var bodyLength: UInt32
    /// Indexes into the segment's strings.
    var service: UInt32
    var operation: UInt32
    var status: UInt8
    var kind: UInt8

    var key: StoredSpanKey { StoredSpanKey(traceID: traceID, spanID: spanID) }
}

struct StoredSpanKey: Hashable, Comparable {
    var traceID: TraceID
    var spanID: UInt64

    init(traceID: TraceID, spanID: UInt64) {
        self.traceID = traceID
        self.spanID = spanID
    }

    /// From 32 and 16 hex digits; `nil` if either is not.
    init?(hex traceID: String, _ spanID: String) {
        guard let trace = TraceID(hex: traceID), let span = SpanID(hex: spanID) else { return nil }
        self.init(traceID: trace, spanID: span.value)
    }

    /// The key in a `SpanIndex`, whose hashing is a multiply-shift rather than SipHash.
    var indexKey: SpanKey { SpanKey(trace: TraceKey(traceID), span: spanID) }

    static func < (lhs: StoredSpanKey, rhs: StoredSpanKey) -> Bool {
        (lhs.traceID, lhs.spanID) < (rhs.traceID, rhs.spanID)
    }
}

/// A span link, kept so that "who links to this span" is a lookup.
struct LinkEntry {
    var target: StoredSpanKey
    /// The linking span: an index into its segment's entries.
    var source: UInt32
}

/// The bytes of span segments and their index files.
///
/// A segment file (`<12-digit number>.spans`) is a sequence of records, one per span:
///
/// | bytes | field |
/// | --- | --- |
/// | 4 | length of what follows the checksum (little-endian `UInt32`) |
/// | 4 | CRC-32C of those bytes |
/// | 8, 8, 8, 8 | trace ID high and low, span ID, parent span ID (0: none) |
/// | 8, 8 | start and duration in nanoseconds (`Int64`) |
/// | 1, 1, 2 | status code, span kind, zero |
/// | 4, 4, 4 | service length, operation length, link count |
/// | … | service and operation (UTF-8), links (trace ID high and low, span ID: 24 bytes each) |
/// | … | the body: the protobuf of a one-span `ExportTraceServiceRequest` |
///
/// The record carries every indexed field, so a segment whose index is missing or damaged
/// is indexed again from its records, and a record cut short by a crash fails its length
/// or checksum and is where the file is truncated.
///
/// A full segment gets an index file (`<number>.index`): a header, the entries sorted by
/// trace ID and span ID (so a trace is a binary search), the links sorted by target, and
/// the segment's distinct service and operation names.
enum SpanSegmentFormat {
    static let recordHeaderSize = 8
    static let fixedFieldsSize = 64
    static let linkSize = 24
    static let entrySize = 72
    static let indexLinkSize = 32
    static let indexHeaderSize = 48
    static let indexMagic: [UInt8] = Array("CWSPIDX1".utf8)

    /// Appends `record`'s fields (its position fields are not written) and `body` to
    /// `bytes`; the body starts at the returned position.
    static func appendRecord(_ record: Record, body: UnsafeRawBufferPointer, to bytes: inout [UInt8]) -> Int {
        appendRecord(record, bodyCount: body.count, to: &bytes) { destination in
            guard let base = body.baseAddress, body.count > 0 else { return }
            destination.copyMemory(from: base, byteCount: body.count)
        }
    }

    /// Appends `record`'s fields and a span's one-span request, written in place.
    static func appendRecord(_ record: Record, body: OneSpanRequest, to bytes: inout [UInt8]) -> Int {
        appendRecord(record, bodyCount: body.count, to: &bytes, writingBody: body.write(to:))
    }

    /// The record is written in place, its room appended at once: appending it a field at
    /// a time, each append checking for room, cost more than copying its body.
    @inline(__always)
    private static func appendRecord(
        _ record: Record, bodyCount: Int, to bytes: inout [UInt8], writingBody writeBody: (UnsafeMutableRawPointer) -> Void
    ) -> Int {
        var (service, operation) = (record.service, record.operation)
        let (serviceCount, operationCount) = (service.utf8.count, operation.utf8.count)
        let start = bytes.count
        let bodyStart = start + recordHeaderSize + fixedFieldsSize + serviceCount + operationCount + record.links.count * linkSize
        bytes.append(contentsOf: repeatElement(0, count: bodyStart - start + bodyCount))
        bytes.withUnsafeMutableBytes { raw in
            let base = raw.baseAddress!
            var position = base + start + recordHeaderSize
            @inline(__always) func put<T: FixedWidthInteger>(_ value: T) {
                position.storeBytes(of: value.littleEndian, as: T.self)
                position += MemoryLayout<T>.size
            }
            @inline(__always) func put(_ text: inout String, _ count: Int) {
                guard count > 0 else { return }
                text.withUTF8 { position.copyMemory(from: $0.baseAddress!, byteCount: count) }
                position += count
            }
            put(record.key.traceID.high)
            put(record.key.traceID.low)
            put(record.key.spanID)
            put(record.parentSpanID)
            put(record.startNanos)
            put(record.durationNanos)
            put(record.status)
            put(record.kind)
            put(UInt16(0))
            put(UInt32(serviceCount))
            put(UInt32(operationCount))
            put(UInt32(record.links.count))
            put(&service, serviceCount)
            put(&operation, operationCount)
            for link in record.links {
                put(link.traceID.high)
                put(link.traceID.low)
                put(link.spanID)
            }
            writeBody(base + bodyStart)
            let payloadStart = start + recordHeaderSize
            let length = bodyStart + bodyCount - payloadStart
            let checksum = CRC32C.checksum(UnsafeRawBufferPointer(start: base + payloadStart, count: length))
            (base + start).storeBytes(of: UInt32(length).littleEndian, as: UInt32.self)
            (base + start + 4).storeBytes(of: checksum.littleEndian, as: UInt32.self)
        }
        return bodyStart
    }

    /// A span's record: what is written, and (read back) where it lies.
    struct Record {
        var key: StoredSpanKey
        var parentSpanID: UInt64
        var startNanos: Int64
        var durationNanos: Int64
        var status: UInt8
        var kind: UInt8
        var service: String
        var operation: String
        var links: [StoredSpanKey]
        var bodyOffset: Int
        var bodyLength: Int
        /// Header included.
        var length: Int
    }

    /// The record at `offset`, or `nil` when what is there is not a whole, intact record
    /// (the torn tail of a crash).
    static func record(in raw: UnsafeRawBufferPointer, at offset: Int) -> Record? {
        guard raw.count - offset >= recordHeaderSize + fixedFieldsSize else { return nil }
        let length = Int(raw.littleEndian(UInt32.self, at: offset))
        let payload = offset + recordHeaderSize
        guard length >= fixedFieldsSize, raw.count - payload >= length else { return nil }
        guard CRC32C.checksum(UnsafeRawBufferPointer(rebasing: raw[payload..<(payload + length)])) == raw.littleEndian(UInt32.self, at: offset + 4) else {
            return nil
        }
        let serviceLength = Int(raw.littleEndian(UInt32.self, at: payload + 52))
        let operationLength = Int(raw.littleEndian(UInt32.self, at: payload + 56))
        let linkCount = Int(raw.littleEndian(UInt32.self, at: payload + 60))
        let variable = serviceLength.addingReportingOverflow(operationLength).partialValue
            .addingReportingOverflow(linkCount.multipliedReportingOverflow(by: linkSize).partialValue).partialValue
        guard serviceLength >= 0, operationLength >= 0, variable >= 0, variable <= length - fixedFieldsSize else { return nil }
        var position = payload + fixedFieldsSize
        let service = String(decoding: raw[position..<(position + serviceLength)], as: UTF8.self)
        position += serviceLength
        let operation = String(decoding: raw[position..<(position + operationLength)], as: UTF8.self)
        position += operationLength
        var links: [StoredSpanKey] = []
        links.reserveCapacity(linkCount)
        for _ in 0..<linkCount {
            links.append(StoredSpanKey(
                traceID: TraceID(high: raw.littleEndian(UInt64.self, at: position), low: raw.littleEndian(UInt64.self, at: position + 8)),
                spanID: raw.littleEndian(UInt64.self, at: position + 16)))
            position += linkSize
        }
        return Record(
            key: StoredSpanKey(
                traceID: TraceID(high: raw.littleEndian(UInt64.self, at: payload), low: raw.littleEndian(UInt64.self, at: payload + 8)),
                spanID: raw.littleEndian(UInt64.self, at: payload + 16)),
            parentSpanID: raw.littleEndian(UInt64.self, at: payload + 24),
            startNanos: raw.littleEndian(Int64.self, at: payload + 32),
            durationNanos: raw.littleEndian(Int64.self, at: payload + 40),
            status: raw[payload + 48], kind: raw[payload + 49],
            service: service, operation: operation, links: links,
            bodyOffset: position, bodyLength: payload + length - position, length: recordHeaderSize + length)
    }

    // MARK: Index files

    static func store(_ entry: SpanEntry, into raw: UnsafeMutableRawBufferPointer, at offset: Int) {
        raw.storeLittleEndian(entry.traceID.high, at: offset)
        raw.storeLittleEndian(entry.traceID.low, at: offset + 8)
        raw.storeLittleEndian(entry.spanID, at: offset + 16)
        raw.storeLittleEndian(entry.parentSpanID, at: offset + 24)
        raw.storeLittleEndian(entry.startNanos, at: offset + 32)
        raw.storeLittleEndian(entry.durationNanos, at: offset + 40)
        raw.storeLittleEndian(entry.bodyOffset, at: offset + 48)
        raw.storeLittleEndian(entry.bodyLength, at: offset + 56)
        raw.storeLittleEndian(entry.service, at: offset + 60)
        raw.storeLittleEndian(entry.operation, at: offset + 64)
        raw[offset + 68] = entry.status
        raw[offset + 69] = entry.kind
    }

    static func entry(in raw: UnsafeRawBufferPointer, at offset: Int) -> SpanEntry {
        SpanEntry(
            traceID: TraceID(high: raw.littleEndian(UInt64.self, at: offset), low: raw.littleEndian(UInt64.self, at: offset + 8)),
            spanID: raw.littleEndian(UInt64.self, at: offset + 16),
            parentSpanID: raw.littleEndian(UInt64.self, at: offset + 24),
            startNanos: raw.littleEndian(Int64.self, at: offset + 32),
            durationNanos: raw.littleEndian(Int64.self, at: offset + 40),
            bodyOffset: raw.littleEndian(UInt64.self, at: offset + 48),
            bodyLength: raw.littleEndian(UInt32.self, at: offset + 56),
            service: raw.littleEndian(UInt32.self, at: offset + 60),
            operation: raw.littleEndian(UInt32.self, at: offset + 64),
            status: raw[offset + 68], kind: raw[offset + 69])
    }

    static func store(_ link: LinkEntry, into raw: UnsafeMutableRawBufferPointer, at offset: Int) {
        raw.storeLittleEndian(link.target.traceID.high, at: offset)
        raw.storeLittleEndian(link.target.traceID.low, at: offset + 8)
        raw.storeLittleEndian(link.target.spanID, at: offset + 16)
        raw.storeLittleEndian(link.source, at: offset + 24)
    }

    static func link(in raw: UnsafeRawBufferPointer, at offset: Int) -> LinkEntry {
        LinkEntry(
            target: StoredSpanKey(
                traceID: TraceID(high: raw.littleEndian(UInt64.self, at: offset), low: raw.littleEndian(UInt64.self, at: offset + 8)),
                spanID: raw.littleEndian(UInt64.self, at: offset + 16)),
            source: raw.littleEndian(UInt32.self, at: offset + 24))
    }

    /// An index file's bytes: entries and links must already be sorted.
    static func index(entries: [SpanEntry], links: [LinkEntry], strings: [String], minStart: Int64, maxStart: Int64, segmentBytes: Int) -> [UInt8] {
        var bytes: [UInt8] = []
        index(entries: entries, links: links, strings: strings, minStart: minStart, maxStart: maxStart, segmentBytes: segmentBytes, into: &bytes)
        return bytes
    }

    /// The index file's bytes written over `bytes`, whose capacity is kept (sealing reuses
    /// one buffer, so its pages are not faulted in again for every segment).
    static func index(
        entries: [SpanEntry], links: [LinkEntry], strings: [String], minStart: Int64, maxStart: Int64, segmentBytes: Int,
        into bytes: inout [UInt8]
    ) {
        bytes.removeAll(keepingCapacity: true)
        bytes.reserveCapacity(indexHeaderSize + entries.count * entrySize + links.count * indexLinkSize + strings.count * 24)
        bytes.append(contentsOf: indexMagic)
        bytes.appendLittleEndian(UInt32(entries.count))
        bytes.appendLittleEndian(UInt32(links.count))
        bytes.appendLittleEndian(UInt32(strings.count))
        bytes.appendLittleEndian(UInt32(0))
        bytes.appendLittleEndian(minStart)
        bytes.appendLittleEndian(maxStart)
        bytes.appendLittleEndian(UInt64(segmentBytes))
        // Entries and links are fixed-size: zeros first, then each stored in place.
        let entriesStart = bytes.count
        bytes.append(contentsOf: repeatElement(0, count: entries.count * entrySize + links.count * indexLinkSize))
        bytes.withUnsafeMutableBytes { raw in
            for (position, entry) in entries.enumerated() { store(entry, into: raw, at: entriesStart + position * entrySize) }
            let linksStart = entriesStart + entries.count * entrySize
            for (position, link) in links.enumerated() { store(link, into: raw, at: linksStart + position * indexLinkSize) }
        }
        for string in strings {
            bytes.appendLittleEndian(UInt32(string.utf8.count))
            bytes.append(contentsOf: string.utf8)
        }
    }

    /// An index file's header, with its strings still to read (`strings` is empty).
    struct IndexHeader {
        var entryCount: Int
        var linkCount: Int
        var stringCount: Int
        var minStart: Int64
        var maxStart: Int64
        var segmentBytes: Int
        var strings: [String] = []
        var entriesOffset: Int { indexHeaderSize }
        var linksOffset: Int { indexHeaderSize + entryCount * entrySize }
        var stringsOffset: Int { linksOffset + linkCount * indexLinkSize }
    }

    /// The header at the start of an index file of `fileLength` bytes; `nil` when it is not
    /// one or its counts do not fit the file.
    static func indexHeader(_ raw: UnsafeRawBufferPointer, fileLength: Int) -> IndexHeader? {
        guard raw.count >= indexHeaderSize, raw[0..<8].elementsEqual(indexMagic) else { return nil }
        let header = IndexHeader(
            entryCount: Int(raw.littleEndian(UInt32.self, at: 8)), linkCount: Int(raw.littleEndian(UInt32.self, at: 12)),
            stringCount: Int(raw.littleEndian(UInt32.self, at: 16)),
            minStart: raw.littleEndian(Int64.self, at: 24), maxStart: raw.littleEndian(Int64.self, at: 32),
            segmentBytes: Int(raw.littleEndian(UInt64.self, at: 40)))
        guard header.stringsOffset + header.stringCount * 4 <= fileLength else { return nil }
        return header
    }

    /// The `count` strings that end an index file; `nil` unless they fill `raw` exactly.
    static func strings(_ raw: UnsafeRawBufferPointer, count: Int) -> [String]? {
        var position = 0
        var strings: [String] = []
        for _ in 0..<count {
            guard raw.count - position >= 4 else { return nil }
            let length = Int(raw.littleEndian(UInt32.self, at: position))
            position += 4
            guard raw.count - position >= length else { return nil }
            strings.append(String(decoding: raw[position..<(position + length)], as: UTF8.self))
            position += length
        }
        return position == raw.count ? strings : nil
    }
}

extension UnsafeMutableRawBufferPointer {
    func storeLittleEndian<T: FixedWidthInteger>(_ value: T, at offset: Int) {
        storeBytes(of: value.littleEndian, toByteOffset: offset, as: T.self)
    }
}

extension UnsafeRawBufferPointer {
    func littleEndian<T: FixedWidthInteger>(_: T.Type, at offset: Int) -> T {
        T(littleEndian: loadUnaligned(fromByteOffset: offset, as: T.self))
    }
}
