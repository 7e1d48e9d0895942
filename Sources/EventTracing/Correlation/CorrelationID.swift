import Tracing
import Synchronization

/// The ID of one business transaction, carried across every message and call it causes.
///
/// It arrives in the `correlation-id` header or, failing that, in the baggage entry
/// `correlation.id`; where neither is present (at the edge of the system) a new one is
/// made with ``generate()``. ``EventContextPropagator`` keeps it in the `ServiceContext`
/// and writes it on every outgoing message as both the header and the baggage entry.
///
/// An incoming ID is accepted as it is when it is 1 to 255 visible ASCII characters
/// (`!` to `~`): IDs from other systems (UUIDs, request IDs) keep working, while spaces
/// and control characters, which would let a caller forge log lines, are refused.
public struct CorrelationID: Hashable, Sendable, CustomStringConvertible {
    /// The ID as it travels in headers and logs.
    public let rawValue: String

    /// The header that carries the ID.
    public static let headerName = "correlation-id"
    /// The baggage key that carries the ID.
    public static let baggageKey = "correlation.id"

    /// Accepts an ID received from elsewhere; `nil` when it is empty, longer than 255
    /// bytes, or has characters outside `!`...`~`.
    public init?(_ rawValue: String) {
        guard !rawValue.utf8.isEmpty, rawValue.utf8.count <= 255,
            rawValue.utf8.allSatisfy({ $0 >= 0x21 && $0 <= 0x7E })
        else { return nil }
        self.rawValue = rawValue
    }

    init(validated rawValue: String) { self.rawValue = rawValue }

    public var description: String { rawValue }

    /// A new, unique ID that sorts by creation time: a ULID (https://github.com/ulid/spec),
    /// 26 Crockford base-32 characters for a 48-bit Unix time in milliseconds and 80 random
    /// bits. IDs made in the same millisecond by this process increase monotonically.
    public static func generate() -> CorrelationID {
        let now = DefaultTracerClock.now.nanosecondsSinceEpoch / 1_000_000
        return ulidGenerator.withLock { generator in
            var random = SystemRandomNumberGenerator()
            return generator.next(milliseconds: now, using: &random)
        }
    }

    private static let ulidGenerator = Mutex(ULIDGenerator())
}

/// The state that makes ULIDs monotonic within one process.
struct ULIDGenerator: Sendable {
    private var lastMilliseconds: UInt64 = 0
    /// The 80 random bits of the last ID: 16 in `randomHigh`, 64 in `randomLow`.
    private var randomHigh: UInt16 = 0
    private var randomLow: UInt64 = 0

    /// The ULID spec's monotonic mode: in the same millisecond, the random part is the
    /// previous one plus one. A clock that steps back reuses the last time, so that IDs
    /// from this process still sort in creation order; an 80-bit overflow moves to the
    /// next millisecond instead of failing.
    mutating func next(milliseconds: UInt64, using generator: inout some RandomNumberGenerator) -> CorrelationID {
        let time = min(milliseconds, 0xFFFF_FFFF_FFFF)
        if time > lastMilliseconds {
            lastMilliseconds = time
            randomHigh = UInt16(truncatingIfNeeded: generator.next())
            randomLow = generator.next()
        } else {
            let (low, overflow) = randomLow.addingReportingOverflow(1)
            randomLow = low
            if overflow {
                let (high, highOverflow) = randomHigh.addingReportingOverflow(1)
                randomHigh = high
                if highOverflow { lastMilliseconds += 1 }
            }
        }
        return CorrelationID(validated: ULIDGenerator.encode(time: lastMilliseconds, randomHigh: randomHigh, randomLow: randomLow))
    }

    /// Crockford's base 32, as the ULID spec uses it.
    private static let alphabet = Array("0123456789ABCDEFGHJKMNPQRSTVWXYZ".utf8)

    /// The 128 bits (time, then randomness) as 26 characters, most significant first; the
    /// first character holds only 3 bits.
    static func encode(time: UInt64, randomHigh: UInt16, randomLow: UInt64) -> String {
        var high = time << 16 | UInt64(randomHigh)
        var low = randomLow
        return String(unsafeUninitializedCapacity: 26) { buffer in
            for index in stride(from: 25, through: 0, by: -1) {
                buffer[index] = alphabet[Int(low & 0x1F)]
                low = low >> 5 | (high & 0x1F) << 59
                high >>= 5
            }
            return 26
        }
    }
}
