/// Builds JSON text (RFC 8259) straight into a byte array, inserting the commas itself.
///
/// Calls mirror the document: `beginObject()`, then `key(_:)` and one value per member,
/// then `endObject()`; arrays likewise with values only. The writer trusts its caller to
/// nest correctly — it is fed by encoders, never by input — and spends no time checking.
/// Values are appended byte by byte; only `double(_:)` of long numbers builds a String.
struct JSONWriter {
    /// The JSON text written so far, UTF-8.
    private(set) var bytes: [UInt8]
    /// True after a value, so the next key or element needs a comma in front.
    private var needsComma = false

    /// A writer whose buffer is reserved for about `capacity` bytes.
    init(capacity: Int = 1024) {
        bytes = []
        bytes.reserveCapacity(capacity)
    }

    /// The JSON text written so far.
    var string: String { String(decoding: bytes, as: UTF8.self) }

    @inline(__always)
    private mutating func separate() {
        if needsComma { bytes.append(UInt8(ascii: ",")) }
    }

    mutating func beginObject() {
        separate()
        bytes.append(UInt8(ascii: "{"))
        needsComma = false
    }

    mutating func endObject() {
        bytes.append(UInt8(ascii: "}"))
        needsComma = true
    }

    mutating func beginArray() {
        separate()
        bytes.append(UInt8(ascii: "["))
        needsComma = false
    }

    mutating func endArray() {
        bytes.append(UInt8(ascii: "]"))
        needsComma = true
    }

    /// A member name; escaped like any string.
    mutating func key(_ name: String) {
        separate()
        appendQuoted(name)
        bytes.append(UInt8(ascii: ":"))
        needsComma = false
    }

    /// A member name known at compile time. It is copied as is, so it must need no
    /// escaping (every OTLP, Zipkin and Jaeger field name qualifies).
    mutating func key(_ name: StaticString) {
        separate()
        bytes.append(UInt8(ascii: "\""))
        name.withUTF8Buffer { utf8 in
            assert(!utf8.contains { $0 < 0x20 || $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\\") })
            bytes.append(contentsOf: utf8)
        }
        bytes.append(UInt8(ascii: "\""))
        bytes.append(UInt8(ascii: ":"))
        needsComma = false
    }

    mutating func string(_ value: String) {
        separate()
        appendQuoted(value)
        needsComma = true
    }

    /// A string value known at compile time that needs no escaping.
    mutating func string(_ value: StaticString) {
        separate()
        bytes.append(UInt8(ascii: "\""))
        value.withUTF8Buffer { bytes.append(contentsOf: $0) }
        bytes.append(UInt8(ascii: "\""))
        needsComma = true
    }

    mutating func int(_ value: Int64) {
        separate()
        appendDecimal(value)
        needsComma = true
    }

    mutating func uint(_ value: UInt64) {
        separate()
        appendDecimal(value)
        needsComma = true
    }

    /// A 64-bit integer as a decimal string, as the proto3 JSON mapping writes int64,
    /// fixed64 and uint64 so that JavaScript readers do not lose precision.
    mutating func quotedInt(_ value: Int64) {
        separate()
        bytes.append(UInt8(ascii: "\""))
        appendDecimal(value)
        bytes.append(UInt8(ascii: "\""))
        needsComma = true
    }

    /// An unsigned 64-bit integer as a decimal string (proto3 JSON mapping).
    mutating func quotedUInt(_ value: UInt64) {
        separate()
        bytes.append(UInt8(ascii: "\""))
        appendDecimal(value)
        bytes.append(UInt8(ascii: "\""))
        needsComma = true
    }

    /// A finite double as the shortest text that reads back to the same value; NaN and
    /// the infinities, which JSON numbers cannot express, as the strings the proto3 JSON
    /// mapping uses: "NaN", "Infinity", "-Infinity".
    mutating func double(_ value: Double) {
        separate()
        if value.isFinite {
            bytes.append(contentsOf: Self.doubleText(value).utf8)
        } else {
            bytes.append(UInt8(ascii: "\""))
            bytes.append(contentsOf: Self.doubleText(value).utf8)
            bytes.append(UInt8(ascii: "\""))
        }
        needsComma = true
    }

    /// The text `double(_:)` writes, without quotes: for a finite value the shortest
    /// round-trip form, which is always a valid JSON number (`1.0`, `1e-07`, `-0.0`,
    /// `1e+100`); otherwise "NaN", "Infinity" or "-Infinity".
    static func doubleText(_ value: Double) -> String {
        if value.isNaN { return "NaN" }
        if value.isInfinite { return value < 0 ? "-Infinity" : "Infinity" }
        // Swift's description is the shortest round-trip form (Errol/SwiftDtoa) and uses
        // only digits, '-', '.', 'e' and '+': a JSON number in every finite case.
        return value.description
    }

    mutating func bool(_ value: Bool) {
        separate()
        if value {
            bytes.append(contentsOf: [UInt8(ascii: "t"), UInt8(ascii: "r"), UInt8(ascii: "u"), UInt8(ascii: "e")])
        } else {
            bytes.append(contentsOf: [
                UInt8(ascii: "f"), UInt8(ascii: "a"), UInt8(ascii: "l"), UInt8(ascii: "s"), UInt8(ascii: "e"),
            ])
        }
        needsComma = true
    }

    mutating func null() {
        separate()
        bytes.append(contentsOf: [UInt8(ascii: "n"), UInt8(ascii: "u"), UInt8(ascii: "l"), UInt8(ascii: "l")])
        needsComma = true
    }

    /// A trace ID as a string of 32 lowercase hex digits, as the OTLP JSON encoding,
    /// Zipkin and Jaeger all want it.
    mutating func hexID(_ id: TraceID) {
        separate()
        bytes.append(UInt8(ascii: "\""))
        HexCoding.appendHex(id.high, to: &bytes)
        HexCoding.appendHex(id.low, to: &bytes)
        bytes.append(UInt8(ascii: "\""))
        needsComma = true
    }

    /// A span ID as a string of 16 lowercase hex digits.
    mutating func hexID(_ id: SpanID) {
        separate()
        bytes.append(UInt8(ascii: "\""))
        HexCoding.appendHex(id.value, to: &bytes)
        bytes.append(UInt8(ascii: "\""))
        needsComma = true
    }

    /// Bytes as a padded, standard-alphabet base64 string (proto3 JSON `bytes`).
    mutating func base64(_ value: [UInt8]) {
        separate()
        bytes.append(UInt8(ascii: "\""))
        Base64.append(value, to: &bytes)
        bytes.append(UInt8(ascii: "\""))
        needsComma = true
    }

    /// An `AnyValue` as plain JSON: strings, numbers, booleans, arrays and key-value lists
    /// as objects (a repeated key written twice, as received), bytes as base64 strings,
    /// an empty value as `null`. Int64 values are written as numbers: plain-JSON readers
    /// (Zipkin tags, Jaeger) want them so. For the tagged OTLP form see the OTLP JSON codec.
    mutating func plainValue(_ value: AnyValue) {
        switch value {
        case .empty: null()
        case .string(let s): string(s)
        case .bool(let b): bool(b)
        case .int(let i): int(i)
        case .double(let d): double(d)
        case .bytes(let b): base64(b)
        case .array(let values):
            beginArray()
            for element in values { plainValue(element) }
            endArray()
        case .keyValueList(let pairs):
            beginObject()
            for pair in pairs {
                key(pair.key)
                plainValue(pair.value)
            }
            endObject()
        }
    }

    // MARK: - Byte-level helpers

    private mutating func appendDecimal(_ value: Int64) {
        if value < 0 { bytes.append(UInt8(ascii: "-")) }
        appendDecimal(value.magnitude)
    }

    private mutating func appendDecimal(_ value: UInt64) {
        if value < 10 {
            bytes.append(UInt8(ascii: "0") &+ UInt8(truncatingIfNeeded: value))
            return
        }
        let start = bytes.count
        var rest = value
        while rest > 0 {
            let (quotient, digit) = rest.quotientAndRemainder(dividingBy: 10)
            bytes.append(UInt8(ascii: "0") &+ UInt8(truncatingIfNeeded: digit))
            rest = quotient
        }
        bytes[start...].reverse()
    }

    /// Whether any of the eight bytes in `word` is '"', '\\' or below 0x20 (exact as a
    /// yes/no answer: the "has a zero byte" and "has a byte less than n" bit tricks).
    @inline(__always)
    private static func mayNeedEscape(_ word: UInt64) -> Bool {
        let ones: UInt64 = 0x0101_0101_0101_0101
        let quotes = word ^ (ones &* 0x22)
        let backslashes = word ^ (ones &* 0x5C)
        let hasQuote = (quotes &- ones) & ~quotes
        let hasBackslash = (backslashes &- ones) & ~backslashes
        let hasControl = (word &- ones &* 0x20) & ~word
        return (hasQuote | hasBackslash | hasControl) & 0x8080_8080_8080_8080 != 0
    }

    /// Writes `value` as a JSON string. RFC 8259 §7: '"', '\' and U+0000–U+001F must be
    /// escaped; the two-character forms are used where they exist. A Swift String is
    /// always valid UTF-8, so the remaining bytes are copied as they are.
    private mutating func appendQuoted(_ value: String) {
        bytes.append(UInt8(ascii: "\""))
        var value = value
        value.withUTF8 { utf8 in
            let raw = UnsafeRawBufferPointer(utf8)
            let count = utf8.count
            var runStart = 0
            var i = 0
            while i < count {
                if i &+ 8 <= count, !Self.mayNeedEscape(raw.loadUnaligned(fromByteOffset: i, as: UInt64.self)) {
                    i &+= 8
                    continue
                }
                let c = utf8[i]
                i &+= 1
                guard c < 0x20 || c == UInt8(ascii: "\"") || c == UInt8(ascii: "\\") else { continue }
                let escapeAt = i &- 1
                if runStart < escapeAt { bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[runStart..<escapeAt])) }
                runStart = i
                bytes.append(UInt8(ascii: "\\"))
                switch c {
                case UInt8(ascii: "\""): bytes.append(UInt8(ascii: "\""))
                case UInt8(ascii: "\\"): bytes.append(UInt8(ascii: "\\"))
                case 0x0A: bytes.append(UInt8(ascii: "n"))
                case 0x0D: bytes.append(UInt8(ascii: "r"))
                case 0x09: bytes.append(UInt8(ascii: "t"))
                case 0x08: bytes.append(UInt8(ascii: "b"))
                case 0x0C: bytes.append(UInt8(ascii: "f"))
                default:
                    bytes.append(UInt8(ascii: "u"))
                    bytes.append(UInt8(ascii: "0"))
                    bytes.append(UInt8(ascii: "0"))
                    bytes.append(HexCoding.digits[Int(c >> 4)])
                    bytes.append(HexCoding.digits[Int(c & 0xF)])
                }
            }
            if runStart < utf8.count {
                bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[runStart...]))
            }
        }
        bytes.append(UInt8(ascii: "\""))
    }
}
