/// A W3C / OpenTelemetry trace ID: 16 bytes, stored as two big-endian halves so that
/// comparing, hashing and copying never touch the heap.
public struct TraceID: Hashable, Comparable, Sendable {
    /// The first 8 bytes, big-endian.
    public var high: UInt64
    /// The last 8 bytes, big-endian.
    public var low: UInt64

    @inlinable
    public init(high: UInt64, low: UInt64) {
        self.high = high
        self.low = low
    }

    /// Builds an ID from exactly 16 bytes; `nil` for any other length.
    @inlinable
    public init?(bytes: some Collection<UInt8>) {
        guard bytes.count == 16 else { return nil }
        var high: UInt64 = 0
        var low: UInt64 = 0
        for (index, byte) in bytes.enumerated() {
            if index < 8 { high = high << 8 | UInt64(byte) } else { low = low << 8 | UInt64(byte) }
        }
        self.init(high: high, low: low)
    }

    /// Parses 32 hex digits, either case.
    public init?(hex: some StringProtocol) {
        var utf8 = Array(hex.utf8)
        guard utf8.count == 32,
            let high = HexCoding.uint64(utf8[0..<16]),
            let low = HexCoding.uint64(utf8[16..<32])
        else { return nil }
        utf8.removeAll()
        self.init(high: high, low: low)
    }

    /// The all-zero ID, which the W3C and OTLP specs call invalid.
    public static let zero = TraceID(high: 0, low: 0)

    /// False for the all-zero ID.
    @inlinable
    public var isValid: Bool { high != 0 || low != 0 }

    /// The 16 bytes, big-endian.
    public var bytes: [UInt8] {
        var result = [UInt8]()
        result.reserveCapacity(16)
        HexCoding.appendBigEndian(high, to: &result)
        HexCoding.appendBigEndian(low, to: &result)
        return result
    }

    /// 32 lowercase hex digits.
    public var hex: String { HexCoding.hex(high) + HexCoding.hex(low) }

    public static func < (lhs: TraceID, rhs: TraceID) -> Bool {
        (lhs.high, lhs.low) < (rhs.high, rhs.low)
    }
}

/// A W3C / OpenTelemetry span ID: 8 bytes, stored big-endian in one word.
public struct SpanID: Hashable, Comparable, Sendable {
    /// The 8 bytes, big-endian.
    public var value: UInt64

    @inlinable
    public init(_ value: UInt64) { self.value = value }

    /// Builds an ID from exactly 8 bytes; `nil` for any other length.
    @inlinable
    public init?(bytes: some Collection<UInt8>) {
        guard bytes.count == 8 else { return nil }
        var value: UInt64 = 0
        for byte in bytes { value = value << 8 | UInt64(byte) }
        self.init(value)
    }

    /// Parses 16 hex digits, either case.
    public init?(hex: some StringProtocol) {
        let utf8 = Array(hex.utf8)
        guard utf8.count == 16, let value = HexCoding.uint64(utf8[...]) else { return nil }
        self.init(value)
    }

    /// The all-zero ID, which the W3C and OTLP specs call invalid.
    public static let zero = SpanID(0)

    /// False for the all-zero ID.
    @inlinable
    public var isValid: Bool { value != 0 }

    /// The 8 bytes, big-endian.
    public var bytes: [UInt8] {
        var result = [UInt8]()
        result.reserveCapacity(8)
        HexCoding.appendBigEndian(value, to: &result)
        return result
    }

    /// 16 lowercase hex digits.
    public var hex: String { HexCoding.hex(value) }

    public static func < (lhs: SpanID, rhs: SpanID) -> Bool { lhs.value < rhs.value }
}

extension TraceID: CustomStringConvertible {
    public var description: String { hex }
}

extension SpanID: CustomStringConvertible {
    public var description: String { hex }
}

/// Lowercase hex for IDs. Shared by every codec so that all of them print IDs alike.
@usableFromInline
enum HexCoding {
    @usableFromInline
    static let digits: [UInt8] = Array("0123456789abcdef".utf8)

    /// The value of one hex digit, either case; `nil` for anything else.
    @inlinable
    static func nibble(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return c &- UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return c &- UInt8(ascii: "a") &+ 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return c &- UInt8(ascii: "A") &+ 10
        default: return nil
        }
    }

    /// Reads up to 16 hex digits as one big-endian word.
    @inlinable
    static func uint64(_ digits: some Collection<UInt8>) -> UInt64? {
        var value: UInt64 = 0
        for c in digits {
            guard let n = nibble(c) else { return nil }
            value = value << 4 | UInt64(n)
        }
        return value
    }

    /// 16 lowercase hex digits.
    static func hex(_ value: UInt64) -> String {
        String(unsafeUninitializedCapacity: 16) { buffer in
            for i in 0..<16 {
                buffer[i] = digits[Int((value >> UInt64(60 - 4 * i)) & 0xF)]
            }
            return 16
        }
    }

    static func appendHex(_ value: UInt64, to output: inout [UInt8]) {
        for i in 0..<16 {
            output.append(digits[Int((value >> UInt64(60 - 4 * i)) & 0xF)])
        }
    }

    @inlinable
    static func appendBigEndian(_ value: UInt64, to output: inout [UInt8]) {
        for shift in stride(from: 56, through: 0, by: -8) {
            output.append(UInt8(truncatingIfNeeded: value >> UInt64(shift)))
        }
    }
}
