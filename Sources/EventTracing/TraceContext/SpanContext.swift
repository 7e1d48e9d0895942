import Synchronization

/// The identity of a span as W3C Trace Context carries it between services: what a
/// ``EventContextPropagator`` extracts from an incoming message or request, and what any
/// `Tracer` (our OTLP SDK or another) reads from the `ServiceContext` to parent or link
/// the spans it starts.
///
/// See W3C Trace Context Level 2, §3.2 "Traceparent Header" and §3.3 "Tracestate Header":
/// https://www.w3.org/TR/trace-context-2/
public struct SpanContext: Hashable, Sendable {
    /// The trace this span belongs to.
    public var traceID: TraceID
    /// The span's own ID; on the wire it is the `parent-id` of the next hop.
    public var spanID: SpanID
    /// The `sampled` and `random` flags.
    public var flags: TraceFlags
    /// Vendor-specific state, propagated as the `tracestate` header.
    public var traceState: TraceState
    /// True when this context was received from another process rather than created here.
    public var isRemote: Bool

    /// Creates a span context.
    public init(
        traceID: TraceID,
        spanID: SpanID,
        flags: TraceFlags = [],
        traceState: TraceState = TraceState(),
        isRemote: Bool = false
    ) {
        self.traceID = traceID
        self.spanID = spanID
        self.flags = flags
        self.traceState = traceState
        self.isRemote = isRemote
    }

    /// The `traceparent` that announces this span as the parent of the next hop.
    public var traceParent: TraceParent {
        TraceParent(traceID: traceID, parentID: spanID, flags: flags)
    }

    /// The context of a new trace: random trace and span IDs, and the `random` flag set,
    /// since all 16 bytes of the trace ID are random (Level 2 §3.2.2.5.2: "When at least
    /// the right-most 7 bytes of the trace-id are randomly (or pseudo-randomly) generated,
    /// the random-trace-id flag SHOULD be set to 1"). The trace state starts empty
    /// (§3.4 "Restart trace": vendors SHOULD clean up `tracestate`).
    public static func newTrace(sampled: Bool) -> SpanContext {
        SpanContext(
            traceID: .random(),
            spanID: .random(),
            flags: sampled ? [.sampled, .random] : .random
        )
    }

    /// The context of a new span in the same trace: a new random span ID, the trace state
    /// kept, the `random` flag kept as it is (§3.2.2.5.2: when continuing a trace it "MUST
    /// also be set" / "MUST also be unset" as it came in), and the `sampled` flag set to
    /// `sampled` when given — §3.4 allows changing it only together with the parent ID.
    public func child(sampled: Bool? = nil) -> SpanContext {
        var flags = self.flags
        if let sampled {
            if sampled { flags.insert(.sampled) } else { flags.remove(.sampled) }
        }
        return SpanContext(traceID: traceID, spanID: .random(), flags: flags, traceState: traceState, isRemote: false)
    }
}

extension SpanContext {
    /// A 16-byte trace ID (W3C Trace Context §3.2.2.3 `trace-id`), held in two words so
    /// that it never touches the heap.
    public struct TraceID: Hashable, Comparable, Sendable, CustomStringConvertible {
        /// Bytes 0–7, big-endian.
        public var high: UInt64
        /// Bytes 8–15, big-endian.
        public var low: UInt64

        /// Creates an ID from its two big-endian halves.
        @inlinable
        public init(high: UInt64, low: UInt64) {
            self.high = high
            self.low = low
        }

        /// A random, valid ID. All 16 bytes are random, so a trace started with it may set
        /// ``TraceFlags/random`` (Level 2 §3.2.2.5.2: at least the right-most 7 bytes random).
        public static func random(using generator: inout some RandomNumberGenerator) -> TraceID {
            while true {
                let id = TraceID(high: generator.next(), low: generator.next())
                if id.isValid { return id }
            }
        }

        /// A random, valid ID from ``IDRandomNumberGenerator``.
        public static func random() -> TraceID {
            var generator = IDRandomNumberGenerator()
            return random(using: &generator)
        }

        /// False for the all-zero ID, which §3.2.2.3 calls invalid.
        @inlinable
        public var isValid: Bool { high != 0 || low != 0 }

        /// The 16 bytes, big-endian.
        public var bytes: [UInt8] {
            var result = [UInt8]()
            result.reserveCapacity(16)
            Hex.appendBigEndian(high, to: &result)
            Hex.appendBigEndian(low, to: &result)
            return result
        }

        /// 32 lowercase hex digits, as in `traceparent`.
        public var description: String {
            String(unsafeUninitializedCapacity: 32) { buffer in
                Hex.write(high, to: buffer, at: 0)
                Hex.write(low, to: buffer, at: 16)
                return 32
            }
        }

        public static func < (lhs: TraceID, rhs: TraceID) -> Bool {
            (lhs.high, lhs.low) < (rhs.high, rhs.low)
        }
    }

    /// An 8-byte span ID (W3C Trace Context §3.2.2.4 `parent-id`), held in one word.
    public struct SpanID: Hashable, Comparable, Sendable, CustomStringConvertible {
        /// The 8 bytes, big-endian.
        public var value: UInt64

        /// Creates an ID from its big-endian value.
        @inlinable
        public init(_ value: UInt64) { self.value = value }

        /// A random, valid ID.
        public static func random(using generator: inout some RandomNumberGenerator) -> SpanID {
            while true {
                let id = SpanID(generator.next())
                if id.isValid { return id }
            }
        }

        /// A random, valid ID from ``IDRandomNumberGenerator``.
        public static func random() -> SpanID {
            var generator = IDRandomNumberGenerator()
            return random(using: &generator)
        }

        /// False for the all-zero ID, which §3.2.2.4 calls invalid.
        @inlinable
        public var isValid: Bool { value != 0 }

        /// The 8 bytes, big-endian.
        public var bytes: [UInt8] {
            var result = [UInt8]()
            result.reserveCapacity(8)
            Hex.appendBigEndian(value, to: &result)
            return result
        }

        /// 16 lowercase hex digits, as in `traceparent`.
        public var description: String {
            String(unsafeUninitializedCapacity: 16) { buffer in
                Hex.write(value, to: buffer, at: 0)
                return 16
            }
        }

        public static func < (lhs: SpanID, rhs: SpanID) -> Bool { lhs.value < rhs.value }
    }
}

/// The `trace-flags` bit field (W3C Trace Context Level 2 §3.2.2.5).
///
/// Only the two flags the spec defines survive parsing and formatting: "Other Flags ...
/// [are] reserved for future use. Vendors MUST set those to zero" (§3.2.2.5.3).
public struct TraceFlags: OptionSet, Hashable, Sendable {
    /// The bit field as it appears, in hex, in `traceparent`.
    public var rawValue: UInt8

    /// Creates flags from the raw bit field.
    @inlinable
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    /// Bit 0: the caller may have recorded trace data (§3.2.2.5.1).
    public static let sampled = TraceFlags(rawValue: 0x01)
    /// Bit 1 (Level 2): at least the right-most 7 bytes of the trace ID are random
    /// (§3.2.2.5.2).
    public static let random = TraceFlags(rawValue: 0x02)

    /// The bits this implementation knows; everything else is reserved and set to zero.
    @usableFromInline
    static let known: UInt8 = 0x03
}

/// Lowercase hex for the headers; the specs allow no other case (§3.2.2.1 `HEXDIGLC`).
@usableFromInline
enum Hex {
    @usableFromInline
    static let digits: StaticString = "0123456789abcdef"

    /// The value of a lowercase hex digit, or nil.
    @inlinable
    static func value(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return byte &- UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return byte &- UInt8(ascii: "a") &+ 10
        default: return nil
        }
    }

    /// Reads `count` (≤ 16) lowercase hex digits starting at `offset`.
    @inlinable
    static func uint64(_ bytes: UnsafeBufferPointer<UInt8>, at offset: Int, count: Int) -> UInt64? {
        var result: UInt64 = 0
        for index in offset..<(offset + count) {
            guard let nibble = value(bytes[index]) else { return nil }
            result = result << 4 | UInt64(nibble)
        }
        return result
    }

    /// Writes the 16 hex digits of `value` at `offset`.
    @inlinable
    static func write(_ value: UInt64, to buffer: UnsafeMutableBufferPointer<UInt8>, at offset: Int) {
        digits.withUTF8Buffer { digits in
            for index in 0..<16 {
                let shift = UInt64(60 - 4 * index)
                buffer[offset + index] = digits[Int(truncatingIfNeeded: (value >> shift) & 0xF)]
            }
        }
    }

    /// Writes the 2 hex digits of `value` at `offset`.
    @inlinable
    static func write(_ value: UInt8, to buffer: UnsafeMutableBufferPointer<UInt8>, at offset: Int) {
        digits.withUTF8Buffer { digits in
            buffer[offset] = digits[Int(value >> 4)]
            buffer[offset + 1] = digits[Int(value & 0xF)]
        }
    }

    static func appendBigEndian(_ value: UInt64, to bytes: inout [UInt8]) {
        for shift in stride(from: 56, through: 0, by: -8) {
            bytes.append(UInt8(truncatingIfNeeded: value >> UInt64(shift)))
        }
    }
}

/// The generator of trace and span IDs: wyrand, a 64-bit generator whose state is one
/// counter, so every thread can draw from it with a single atomic add, seeded once from
/// the system's secure generator.
///
/// IDs need to be unique and unpredictable enough for sampling decisions, not secret:
/// W3C Trace Context Level 2 §3.2.2.5.2 asks for IDs "randomly (or pseudo-randomly)
/// generated", and the OpenTelemetry SDKs use non-cryptographic generators too. The
/// system generator costs a `getrandom` system call per draw, which was the largest single
/// cost of starting a span.
public struct IDRandomNumberGenerator: RandomNumberGenerator, Sendable {
    private static let state = Atomic<UInt64>({
        var system = SystemRandomNumberGenerator()
        return system.next()
    }())

    /// Creates a handle on the shared generator.
    public init() {}

    public mutating func next() -> UInt64 {
        // wyrand (Wang Yi): add an odd constant, then fold a full-width multiply.
        let counter = Self.state.wrappingAdd(0xa076_1d64_78bd_642f, ordering: .relaxed).newValue
        let product = counter.multipliedFullWidth(by: counter ^ 0xe703_7ed1_a0b4_28db)
        return product.high ^ product.low
    }
}
