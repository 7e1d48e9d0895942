/// UTF-8 validation for decoders that must refuse, not repair, ill-formed text.
///
/// `String(validating:as:)` would do, but it is generic over the encoding and costs a
/// metadata lookup per call, which dominated protobuf decoding; this checks eight ASCII
/// bytes at a time and falls back to the well-formed byte sequences of Unicode 15,
/// Table 3-7, for the rest.
enum UTF8Validation {
    /// A `String` of these bytes, or `nil` when they are not well-formed UTF-8.
    @inline(__always)
    static func string(_ bytes: UnsafeRawBufferPointer) -> String? {
        guard isWellFormed(bytes) else { return nil }
        return String(decoding: bytes.assumingMemoryBound(to: UInt8.self), as: UTF8.self)
    }

    @inline(__always)
    static func isWellFormed(_ bytes: UnsafeRawBufferPointer) -> Bool {
        guard let base = bytes.baseAddress else { return true }
        let count = bytes.count
        var i = 0
        while i + 8 <= count {
            if base.loadUnaligned(fromByteOffset: i, as: UInt64.self) & 0x8080_8080_8080_8080 != 0 {
                return validateFrom(base, i, count)
            }
            i += 8
        }
        while i < count {
            if base.load(fromByteOffset: i, as: UInt8.self) >= 0x80 { return validateFrom(base, i, count) }
            i += 1
        }
        return true
    }

    @inline(never)
    private static func validateFrom(_ base: UnsafeRawPointer, _ start: Int, _ count: Int) -> Bool {
        var i = start
        @inline(__always) func byte(_ at: Int) -> UInt8 { base.load(fromByteOffset: at, as: UInt8.self) }
        @inline(__always) func isContinuation(_ b: UInt8) -> Bool { b & 0xC0 == 0x80 }
        while i < count {
            let b0 = byte(i)
            if b0 < 0x80 {
                i += 1
                continue
            }
            switch b0 {
            case 0xC2...0xDF:
                guard i + 1 < count, isContinuation(byte(i + 1)) else { return false }
                i += 2
            case 0xE0...0xEF:
                guard i + 2 < count else { return false }
                let b1 = byte(i + 1)
                // E0 needs A0–BF (no overlongs); ED needs 80–9F (no surrogates).
                let low: UInt8 = b0 == 0xE0 ? 0xA0 : 0x80
                let high: UInt8 = b0 == 0xED ? 0x9F : 0xBF
                guard b1 >= low, b1 <= high, isContinuation(byte(i + 2)) else { return false }
                i += 3
            case 0xF0...0xF4:
                guard i + 3 < count else { return false }
                let b1 = byte(i + 1)
                // F0 needs 90–BF (no overlongs); F4 needs 80–8F (nothing past U+10FFFF).
                let low: UInt8 = b0 == 0xF0 ? 0x90 : 0x80
                let high: UInt8 = b0 == 0xF4 ? 0x8F : 0xBF
                guard b1 >= low, b1 <= high, isContinuation(byte(i + 2)), isContinuation(byte(i + 3)) else {
                    return false
                }
                i += 4
            default:
                return false
            }
        }
        return true
    }
}
