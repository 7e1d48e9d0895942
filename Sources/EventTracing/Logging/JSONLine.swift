import Logging

/// The bytes of one JSON log line, built by appending: no Foundation, no intermediate
/// strings for escaping or numbers.
struct JSONLine {
    private(set) var bytes: [UInt8] = []
    /// Whether the object being written already has a member, so the next needs a comma.
    private var needsComma = false

    init(capacity: Int = 512) {
        bytes.reserveCapacity(capacity)
    }

    mutating func beginObject() {
        bytes.append(UInt8(ascii: "{"))
        needsComma = false
    }

    mutating func endObject() {
        bytes.append(UInt8(ascii: "}"))
        needsComma = true
    }

    mutating func beginArray() {
        bytes.append(UInt8(ascii: "["))
        needsComma = false
    }

    mutating func endArray() {
        bytes.append(UInt8(ascii: "]"))
        needsComma = true
    }

    /// A comma before every element but the first.
    mutating func separate() {
        if needsComma { bytes.append(UInt8(ascii: ",")) }
        needsComma = true
    }

    mutating func key(_ key: String) {
        separate()
        appendString(key)
        bytes.append(UInt8(ascii: ":"))
        needsComma = false
    }

    /// A member name that needs no escaping, such as the handler's fixed members.
    mutating func key(literal key: StaticString) {
        separate()
        bytes.append(UInt8(ascii: "\""))
        key.withUTF8Buffer { bytes.append(contentsOf: $0) }
        bytes.append(UInt8(ascii: "\""))
        bytes.append(UInt8(ascii: ":"))
        needsComma = false
    }

    mutating func string(_ value: String) {
        separate()
        appendString(value)
    }

    mutating func unsigned(_ value: UInt64) {
        separate()
        // At most 20 digits: a small string that lives inline, not on the heap.
        bytes.append(contentsOf: String(value).utf8)
    }

    /// A string value whose characters the caller writes, for the timestamp and IDs.
    mutating func rawString(count: Int, _ write: (UnsafeMutableBufferPointer<UInt8>) -> Void) {
        separate()
        bytes.append(UInt8(ascii: "\""))
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: count) { buffer in
            write(buffer)
            bytes.append(contentsOf: buffer)
        }
        bytes.append(UInt8(ascii: "\""))
    }

    mutating func metadataValue(_ value: Logger.MetadataValue) {
        switch value {
        case .string(let string):
            self.string(string)
        case .stringConvertible(let convertible):
            self.string(convertible.description)
        case .dictionary(let dictionary):
            separate()
            beginObject()
            for key in dictionary.keys.sorted() {
                self.key(key)
                metadataValue(dictionary[key]!)
            }
            endObject()
        case .array(let array):
            separate()
            beginArray()
            for element in array { metadataValue(element) }
            endArray()
        }
    }

    /// A JSON string per RFC 8259 §7: `"` and `\` escaped, the control characters U+0000
    /// to U+001F escaped ("All Unicode characters may be placed within the quotation
    /// marks, except for the characters that MUST be escaped"), with the two-character
    /// forms where §7 has one, everything else copied as UTF-8. A Swift `String` is
    /// always valid UTF-8 (bytes that were not are already U+FFFD), so the output is too.
    private mutating func appendString(_ value: String) {
        bytes.append(UInt8(ascii: "\""))
        let copied: Void? = value.utf8.withContiguousStorageIfAvailable { appendEscaped($0) }
        if copied == nil {
            var contiguous = value
            contiguous.withUTF8 { appendEscaped($0) }
        }
        bytes.append(UInt8(ascii: "\""))
    }

    private mutating func appendEscaped(_ utf8: UnsafeBufferPointer<UInt8>) {
        var runStart = 0
        for index in 0..<utf8.count {
            let byte = utf8[index]
            guard byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") else { continue }
            bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[runStart..<index]))
            runStart = index + 1
            bytes.append(UInt8(ascii: "\\"))
            switch byte {
            case UInt8(ascii: "\""): bytes.append(UInt8(ascii: "\""))
            case UInt8(ascii: "\\"): bytes.append(UInt8(ascii: "\\"))
            case 0x08: bytes.append(UInt8(ascii: "b"))
            case 0x09: bytes.append(UInt8(ascii: "t"))
            case 0x0A: bytes.append(UInt8(ascii: "n"))
            case 0x0C: bytes.append(UInt8(ascii: "f"))
            case 0x0D: bytes.append(UInt8(ascii: "r"))
            default:
                bytes.append(contentsOf: [UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0")])
                bytes.append(JSONLine.hexDigits[Int(byte >> 4)])
                bytes.append(JSONLine.hexDigits[Int(byte & 0xF)])
            }
        }
        bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[runStart..<utf8.count]))
    }

    private static let hexDigits = Array("0123456789abcdef".utf8)
}

/// RFC 3339 timestamps, UTC, with nanoseconds: `2026-11-28T17:35:44.123456789Z`.
enum RFC3339 {
    /// The formatted length: 19 for the date and time, 10 for the fraction, 1 for `Z`.
    static let length = 30

    /// Writes the timestamp of `nanoseconds` since the Unix epoch into `buffer`
    /// (`length` bytes). RFC 3339 §5.6 `date-time` with `time-secfrac` and the `Z` offset.
    static func write(nanoseconds: UInt64, to buffer: UnsafeMutableBufferPointer<UInt8>) {
        let seconds = nanoseconds / 1_000_000_000
        let fraction = nanoseconds % 1_000_000_000
        let (year, month, day) = civilDate(daysSinceEpoch: seconds / 86_400)
        let secondOfDay = seconds % 86_400
        var offset = 0
        func put(_ value: UInt64, digits: Int) {
            var rest = value
            for index in stride(from: offset + digits - 1, through: offset, by: -1) {
                buffer[index] = UInt8(ascii: "0") + UInt8(rest % 10)
                rest /= 10
            }
            offset += digits
        }
        func put(_ character: Unicode.Scalar) {
            buffer[offset] = UInt8(ascii: character)
            offset += 1
        }
        put(year, digits: 4)
        put("-")
        put(month, digits: 2)
        put("-")
        put(day, digits: 2)
        put("T")
        put(secondOfDay / 3600, digits: 2)
        put(":")
        put(secondOfDay / 60 % 60, digits: 2)
        put(":")
        put(secondOfDay % 60, digits: 2)
        put(".")
        put(fraction, digits: 9)
        put("Z")
    }

    /// The proleptic Gregorian date of a day count from 1970-01-01. The year is split
    /// into 400-year eras of 146 097 days that start on March 1st, so that the leap day
    /// falls at the end of the computed year and each era has the same shape.
    static func civilDate(daysSinceEpoch days: UInt64) -> (year: UInt64, month: UInt64, day: UInt64) {
        // 719 468 days separate 0000-03-01 from 1970-01-01.
        let shifted = days + 719_468
        let era = shifted / 146_097
        let dayOfEra = shifted % 146_097
        // Leap days inside the era: every 4 years (1 460 days) except every 100 years
        // (36 524 days) except the 400th (the era's last day, 146 096).
        let yearOfEra = (dayOfEra - dayOfEra / 1_460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        // Months from March, of 31, 30, 31, 30, 31 days repeating: 153 days a five-month run.
        let marchMonth = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * marchMonth + 2) / 5 + 1
        let month = marchMonth < 10 ? marchMonth + 3 : marchMonth - 9
        let year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
        return (year, month, day)
    }
}
