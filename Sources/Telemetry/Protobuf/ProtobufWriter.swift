/// Writes protobuf back to front.
///
/// A length-delimited field's length is known only once its content is written; writing
/// the content first (last field first) and the length and key after it — in front of it —
/// encodes a whole tree in one pass, with no size pre-computation and no shifting.
struct ReverseProtobufWriter: ~Copyable {
    private var storage: UnsafeMutableRawPointer
    private var capacity: Int
    /// The written bytes are `storage[start..<capacity]`.
    private var start: Int

    init(capacity: Int = 1024) {
        self.capacity = max(capacity, 16)
        self.storage = UnsafeMutableRawPointer.allocate(byteCount: self.capacity, alignment: 8)
        self.start = self.capacity
    }

    deinit {
        storage.deallocate()
    }

    /// How many bytes have been written so far: the mark for `writeLengthAndKey(_:since:)`.
    var count: Int { capacity - start }

    /// The finished encoding, front to back.
    consuming func bytes() -> [UInt8] {
        Array(UnsafeRawBufferPointer(start: storage + start, count: count))
    }

    /// Lends the encoding so far, front to back, without copying it.
    func withBytes<Result, Failure: Error>(_ body: (UnsafeRawBufferPointer) throws(Failure) -> Result) throws(Failure) -> Result {
        try body(UnsafeRawBufferPointer(start: storage + start, count: count))
    }

    /// Forgets what was written and keeps the storage, for the next message.
    mutating func removeAll() {
        start = capacity
    }

    @inline(__always)
    private mutating func reserve(_ byteCount: Int) {
        if start < byteCount { grow(byteCount) }
    }

    @inline(never)
    private mutating func grow(_ byteCount: Int) {
        let used = count
        let newCapacity = max(capacity * 2, used + byteCount + 64)
        let newStorage = UnsafeMutableRawPointer.allocate(byteCount: newCapacity, alignment: 8)
        (newStorage + (newCapacity - used)).copyMemory(from: storage + start, byteCount: used)
        storage.deallocate()
        storage = newStorage
        capacity = newCapacity
        start = newCapacity - used
    }

    @inline(__always)
    static func varintSize(_ value: UInt64) -> Int {
        // Each byte carries 7 bits; (bits needed + 6) / 7, at least one byte.
        let bits = 64 - (value | 1).leadingZeroBitCount
        return (bits + 6) / 7
    }

    @inline(__always)
    mutating func writeVarint(_ value: UInt64) {
        if value < 0x80 {
            reserve(1)
            start -= 1
            storage.storeBytes(of: UInt8(value), toByteOffset: start, as: UInt8.self)
            return
        }
        let size = Self.varintSize(value)
        reserve(size)
        start -= size
        var remaining = value
        var offset = start
        while remaining >= 0x80 {
            storage.storeBytes(of: UInt8(truncatingIfNeeded: remaining) | 0x80, toByteOffset: offset, as: UInt8.self)
            remaining >>= 7
            offset += 1
        }
        storage.storeBytes(of: UInt8(remaining), toByteOffset: offset, as: UInt8.self)
    }

    @inline(__always)
    mutating func writeKey(_ field: UInt32, _ wireType: WireType) {
        writeVarint(UInt64(field) << 3 | UInt64(wireType.rawValue))
    }

    @inline(__always)
    mutating func writeFixed64(_ value: UInt64) {
        reserve(8)
        start -= 8
        storage.storeBytes(of: value.littleEndian, toByteOffset: start, as: UInt64.self)
    }

    /// IDs are byte strings on the wire, most significant byte first.
    @inline(__always)
    mutating func writeBigEndian(_ value: UInt64) {
        reserve(8)
        start -= 8
        storage.storeBytes(of: value.bigEndian, toByteOffset: start, as: UInt64.self)
    }

    @inline(__always)
    mutating func writeFixed32(_ value: UInt32) {
        reserve(4)
        start -= 4
        storage.storeBytes(of: value.littleEndian, toByteOffset: start, as: UInt32.self)
    }

    @inline(__always)
    mutating func writeRaw(_ bytes: UnsafeRawBufferPointer) {
        reserve(bytes.count)
        start -= bytes.count
        if let base = bytes.baseAddress {
            (storage + start).copyMemory(from: base, byteCount: bytes.count)
        }
    }

    /// Closes a length-delimited field whose content was written since `mark`.
    @inline(__always)
    mutating func writeLengthAndKey(_ field: UInt32, since mark: Int) {
        writeVarint(UInt64(count - mark))
        writeKey(field, .lengthDelimited)
    }

    // MARK: - Fields; each writes nothing for a proto3 default value

    @inline(__always)
    mutating func writeString(_ field: UInt32, _ value: String) {
        if value.isEmpty { return }
        writeStringAlways(field, value)
    }

    @inline(__always)
    mutating func writeStringAlways(_ field: UInt32, _ value: String) {
        let mark = count
        var value = value
        value.withUTF8 { writeRaw(UnsafeRawBufferPointer($0)) }
        writeLengthAndKey(field, since: mark)
    }

    mutating func writeBytes(_ field: UInt32, _ value: [UInt8]) {
        let mark = count
        value.withUnsafeBytes { writeRaw($0) }
        writeLengthAndKey(field, since: mark)
    }

    @inline(__always)
    mutating func writeUInt64Varint(_ field: UInt32, _ value: UInt64) {
        if value == 0 { return }
        writeVarint(value)
        writeKey(field, .varint)
    }

    /// `int32` and enums: negative numbers are sign-extended to ten bytes, as protobuf says.
    @inline(__always)
    mutating func writeInt32Varint(_ field: UInt32, _ value: Int32) {
        writeUInt64Varint(field, UInt64(bitPattern: Int64(value)))
    }

    @inline(__always)
    mutating func writeFixed64(_ field: UInt32, _ value: UInt64) {
        if value == 0 { return }
        writeFixed64(value)
        writeKey(field, .fixed64)
    }

    @inline(__always)
    mutating func writeFixed32(_ field: UInt32, _ value: UInt32) {
        if value == 0 { return }
        writeFixed32(value)
        writeKey(field, .fixed32)
    }

    @inline(__always)
    mutating func writeTraceID(_ field: UInt32, _ id: TraceID) {
        writeBigEndian(id.low)
        writeBigEndian(id.high)
        writeVarint(16)
        writeKey(field, .lengthDelimited)
    }

    @inline(__always)
    mutating func writeSpanID(_ field: UInt32, _ id: SpanID) {
        writeBigEndian(id.value)
        writeVarint(8)
        writeKey(field, .lengthDelimited)
    }
}
