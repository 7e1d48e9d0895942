/// The protobuf wire types (https://protobuf.dev/programming-guides/encoding/#structure).
enum WireType: UInt8 {
    case varint = 0
    case fixed64 = 1
    case lengthDelimited = 2
    case startGroup = 3
    case endGroup = 4
    case fixed32 = 5

    var name: String {
        switch self {
        case .varint: "0 (varint)"
        case .fixed64: "1 (64-bit)"
        case .lengthDelimited: "2 (length-delimited)"
        case .startGroup: "3 (start group)"
        case .endGroup: "4 (end group)"
        case .fixed32: "5 (32-bit)"
        }
    }
}

/// A cursor over protobuf bytes that the caller keeps alive.
///
/// Every read checks bounds and throws rather than trapping, since the bytes come from the
/// network. Nested messages are read through a child reader limited to the message's
/// length, so a message can never read past its own end.
struct ProtobufReader {
    private let base: UnsafeRawPointer?
    private var position: Int
    private let end: Int
    /// Shared by a reader and its children; `decoding(_:_:)` keeps it alive for the whole
    /// decode, which is what makes skipping the reference count safe.
    private unowned(unsafe) let strings: StringTable
    /// What of the spans' attributes and events is built when the rest is only validated
    /// (`ExportTraceServiceRequest.attributesSkimmed`); children inherit it. A pointer,
    /// which `decoding(_:skim:_:)` keeps valid, for its checks cost no reference counting.
    private var skim: UnsafePointer<SkimMatcher>?

    var skimsAttributes: Bool { skim != nil }

    private init(base: UnsafeRawPointer?, position: Int, end: Int, strings: StringTable) {
        self.base = base
        self.position = position
        self.end = end
        self.strings = strings
    }

    /// Runs `body` with a reader over `buffer` and a string table that lives as long as it;
    /// with `skim`, the reader skims span attributes (`skimsAttributes`).
    static func decoding<T>(
        _ buffer: UnsafeRawBufferPointer, skim: AttributeSkim? = nil, _ body: (inout ProtobufReader) throws(TelemetryDecodingError) -> T
    ) throws(TelemetryDecodingError) -> T {
        let strings = StringTable()
        var matcher: UnsafeMutablePointer<SkimMatcher>?
        if let skim {
            matcher = .allocate(capacity: 1)
            matcher?.initialize(to: SkimMatcher(skim))
        }
        defer {
            matcher?.pointee.deallocate()
            matcher?.deinitialize(count: 1)
            matcher?.deallocate()
        }
        return try withExtendedLifetime(strings) { () throws(TelemetryDecodingError) -> T in
            var reader = ProtobufReader(base: buffer.baseAddress, position: 0, end: buffer.count, strings: strings)
            reader.skim = matcher.map { UnsafePointer($0) }
            return try body(&reader)
        }
    }

    var isAtEnd: Bool { position >= end }

    /// How many bytes of this message are left to read.
    var remainingCount: Int { end - position }

    /// Where the reader is, from the start of the outermost buffer.
    var offset: Int { position }

    @inline(__always)
    private func byte(at offset: Int) -> UInt8 {
        base.unsafelyUnwrapped.load(fromByteOffset: offset, as: UInt8.self)
    }

    /// Reads a base-128 varint of at most 10 bytes.
    @inline(__always)
    mutating func readVarint() throws(TelemetryDecodingError) -> UInt64 {
        guard position < end else { throw .truncated("a varint") }
        let first = byte(at: position)
        if first < 0x80 {
            position &+= 1
            return UInt64(first)
        }
        return try readVarintSlow()
    }

    private mutating func readVarintSlow() throws(TelemetryDecodingError) -> UInt64 {
        var value: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            guard position < end else { throw .truncated("a varint") }
            let b = byte(at: position)
            position &+= 1
            if shift == 63 && b > 1 {
                throw TelemetryDecodingError(reason: "malformed varint: more than 64 bits")
            }
            value |= UInt64(b & 0x7F) << shift
            if b < 0x80 { return value }
            shift += 7
        }
    }

    /// Reads a field key: the field number and wire type.
    @inline(__always)
    mutating func readTag() throws(TelemetryDecodingError) -> (field: UInt32, wireType: WireType) {
        let key = try readVarint()
        let field = key >> 3
        guard field > 0, field <= 536_870_911, let wireType = WireType(rawValue: UInt8(key & 7)) else {
            throw TelemetryDecodingError(
                reason: "invalid field key \(key): field \(field), wire type \(key & 7)")
        }
        return (UInt32(field), wireType)
    }

    @inline(__always)
    mutating func readFixed64() throws(TelemetryDecodingError) -> UInt64 {
        guard end - position >= 8 else { throw .truncated("a 64-bit field") }
        let value = base.unsafelyUnwrapped.loadUnaligned(fromByteOffset: position, as: UInt64.self)
        position &+= 8
        return UInt64(littleEndian: value)
    }

    @inline(__always)
    mutating func readFixed32() throws(TelemetryDecodingError) -> UInt32 {
        guard end - position >= 4 else { throw .truncated("a 32-bit field") }
        let value = base.unsafelyUnwrapped.loadUnaligned(fromByteOffset: position, as: UInt32.self)
        position &+= 4
        return UInt32(littleEndian: value)
    }

    /// Reads a length prefix and returns the bytes it covers.
    @inline(__always)
    mutating func readLengthDelimited() throws(TelemetryDecodingError) -> UnsafeRawBufferPointer {
        let length = try readVarint()
        guard length <= UInt64(end - position) else {
            throw TelemetryDecodingError(
                reason: "truncated: length \(length) exceeds the \(end - position) bytes left")
        }
        let start = position
        position &+= Int(length)
        return UnsafeRawBufferPointer(start: base.map { $0 + start }, count: Int(length))
    }

    /// Reads a length prefix and returns a reader confined to those bytes.
    @inline(__always)
    mutating func readMessage() throws(TelemetryDecodingError) -> ProtobufReader {
        let length = try readVarint()
        guard length <= UInt64(end - position) else {
            throw TelemetryDecodingError(
                reason: "truncated: length \(length) exceeds the \(end - position) bytes left")
        }
        var child = ProtobufReader(base: base, position: position, end: position &+ Int(length), strings: strings)
        child.skim = skim
        position &+= Int(length)
        return child
    }

    /// Reads a proto3 `string`, which must be valid UTF-8.
    @inline(__always)
    mutating func readString() throws(TelemetryDecodingError) -> String {
        let bytes = try readLengthDelimited()
        if bytes.isEmpty { return "" }
        guard let string = strings.string(bytes) else { throw .invalidUTF8 }
        return string
    }

    /// Checks a proto3 `string` as `readString` does, without making it; returns its bytes.
    @inline(__always)
    @discardableResult
    mutating func validateString() throws(TelemetryDecodingError) -> UnsafeRawBufferPointer {
        let bytes = try readLengthDelimited()
        guard UTF8Validation.isWellFormed(bytes) else { throw .invalidUTF8 }
        return bytes
    }

    /// With `skimsAttributes`: whether the attribute with this key is built all the same.
    @inline(__always)
    func keepsAttribute(_ key: UnsafeRawBufferPointer) -> Bool { skim?.pointee.keepsAttribute(key) ?? false }

    /// With `skimsAttributes`: whether the event with this name is built all the same.
    @inline(__always)
    func keepsEvent(_ name: UnsafeRawBufferPointer) -> Bool { skim?.pointee.keepsEvent(name) ?? false }

    /// How many times each of three repeated fields occurs in the rest of this message,
    /// so their arrays can be allocated once. Malformed input counts as far as it can;
    /// the decode that follows reports the fault.
    func count(_ a: UInt32, _ b: UInt32 = 0, _ c: UInt32 = 0) -> (Int, Int, Int) {
        var copy = self
        var counts = (0, 0, 0)
        // Tags are compared whole (number << 3 | wire type 2), which also skips a field
        // of the right number but the wrong wire type; the decode reports that one.
        let (tagA, tagB, tagC) = (UInt64(a) << 3 | 2, UInt64(b) << 3 | 2, UInt64(c) << 3 | 2)
        while !copy.isAtEnd {
            guard let tag = try? copy.readVarint() else { break }
            if tag & 7 == 2 {
                if tag == tagA { counts.0 += 1 } else if tag == tagB { counts.1 += 1 } else if tag == tagC { counts.2 += 1 }
                guard let length = try? copy.readVarint(), length <= UInt64(copy.end - copy.position) else { break }
                copy.position &+= Int(length)
            } else {
                guard let wireType = WireType(rawValue: UInt8(tag & 7)),
                    (try? copy.skip(wireType, field: UInt32(truncatingIfNeeded: tag >> 3))) != nil
                else { break }
            }
        }
        return counts
    }

    /// Reserves room for `count` elements, but never more memory than eight times the
    /// bytes left in this message: counts come from input that has not been validated
    /// yet, and a request of empty two-byte submessages must not make the decoder reserve
    /// a hundred times its size before the first element is found invalid.
    func reserve<Element>(_ count: Int, in array: inout [Element]) {
        guard count > 0 else { return }
        let bound = remainingCount * 8 / max(MemoryLayout<Element>.stride, 1)
        let capacity = min(count, max(bound, 1))
        array.reserveCapacity(capacity)
        strings.allocatedBytes &+= MemoryFootprint.heapHeader + capacity * MemoryLayout<Element>.stride
    }

    /// Counts an array built without `reserve` in `allocatedBytes`.
    func allocated<Element>(_ array: [Element]) {
        strings.allocatedBytes &+= MemoryFootprint.array(array)
    }

    /// The heap bytes of what this decode allocated so far (`StringTable.allocatedBytes`).
    var allocatedBytes: Int { strings.allocatedBytes }

    mutating func readBytes() throws(TelemetryDecodingError) -> [UInt8] {
        let bytes = Array(try readLengthDelimited())
        allocated(bytes)
        return bytes
    }

    /// Skips a field this decoder does not know; protobuf requires readers to tolerate them.
    mutating func skip(_ wireType: WireType, field: UInt32) throws(TelemetryDecodingError) {
        switch wireType {
        case .varint: _ = try readVarint()
        case .fixed64: _ = try readFixed64()
        case .fixed32: _ = try readFixed32()
        case .lengthDelimited: _ = try readLengthDelimited()
        case .startGroup: try skipGroup(field: field)
        case .endGroup:
            throw TelemetryDecodingError(reason: "unexpected end-group marker for field \(field)")
        }
    }

    /// Groups are deprecated but legal on the wire; a sender's unknown field may be one.
    /// Nesting is counted rather than recursed so a deep group bomb cannot exhaust the stack.
    private mutating func skipGroup(field: UInt32) throws(TelemetryDecodingError) {
        var open: [UInt32] = [field]
        while let innermost = open.last {
            let (number, wireType) = try readTag()
            switch wireType {
            case .startGroup:
                guard open.count < 100 else {
                    throw TelemetryDecodingError(reason: "groups nested more than 100 deep")
                }
                open.append(number)
            case .endGroup:
                guard number == innermost else {
                    throw TelemetryDecodingError(
                        reason: "end-group marker for field \(number) closes group \(innermost)")
                }
                open.removeLast()
            default:
                try skip(wireType, field: number)
            }
        }
    }
}

extension TelemetryDecodingError {
    static func truncated(_ what: String) -> TelemetryDecodingError {
        TelemetryDecodingError(reason: "truncated: input ends inside \(what)")
    }

    static var invalidUTF8: TelemetryDecodingError { TelemetryDecodingError(reason: "invalid UTF-8 in a string field") }

    static func wireType(_ got: WireType, expected: WireType, field: String) -> TelemetryDecodingError {
        TelemetryDecodingError(path: field, reason: "expected wire type \(expected.name), got \(got.name)")
    }
}
