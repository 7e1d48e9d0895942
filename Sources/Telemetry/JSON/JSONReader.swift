/// What the next JSON value is, judged from its first byte.
enum JSONValueKind: Sendable, Equatable {
    case object, array, string, number, bool, null

    /// "an object", "a string", … for error messages.
    var phrase: String {
        switch self {
        case .object: "an object"
        case .array: "an array"
        case .string: "a string"
        case .number: "a number"
        case .bool: "a boolean"
        case .null: "null"
        }
    }
}

/// The bytes of a JSON string after unescaping: a window on the input when the string
/// held no escapes (the usual case, no allocation), an owned copy otherwise.
///
/// A window is only valid while the reader's input is; use it at once.
struct JSONStringView {
    @usableFromInline
    enum Storage {
        case window(UnsafeRawBufferPointer)
        case owned([UInt8])
    }

    @usableFromInline
    let storage: Storage

    @inlinable
    init(_ storage: Storage) { self.storage = storage }

    /// Calls `body` with the UTF-8 bytes (already validated).
    @inlinable
    func withUTF8<R, E: Error>(_ body: (UnsafeRawBufferPointer) throws(E) -> R) throws(E) -> R {
        switch storage {
        case .window(let buffer):
            return try body(buffer)
        case .owned(let array):
            return try array.withUnsafeBufferPointer { (buffer) throws(E) -> R in try body(UnsafeRawBufferPointer(buffer)) }
        }
    }

    /// The number of UTF-8 bytes.
    @inlinable
    var count: Int {
        switch storage {
        case .window(let buffer): buffer.count
        case .owned(let array): array.count
        }
    }

    /// The string, as a newly made `String`.
    var string: String {
        // The typed buffer takes String's direct path; the bytes were validated already.
        withUTF8 { String(decoding: $0.assumingMemoryBound(to: UInt8.self), as: UTF8.self) }
    }

    /// The bytes, as a newly made array.
    var bytes: [UInt8] {
        switch storage {
        case .window(let buffer): Array(buffer)
        case .owned(let array): array
        }
    }

    /// Whether the string equals `literal`, compared byte by byte without allocating.
    @inlinable
    func matches(_ literal: StaticString) -> Bool {
        literal.withUTF8Buffer { expected in
            withUTF8 { actual in
                guard actual.count == expected.count else { return false }
                for i in 0..<expected.count where actual[i] != expected[i] { return false }
                return true
            }
        }
    }

    @inlinable
    static func == (lhs: JSONStringView, rhs: StaticString) -> Bool { lhs.matches(rhs) }

    /// Lets `switch key { case "traceId": … }` compare without allocating.
    @inlinable
    static func ~= (pattern: StaticString, value: JSONStringView) -> Bool { value.matches(pattern) }
}

/// An object member name as `JSONReader.nextKey()` returns it.
typealias JSONKey = JSONStringView

/// A pull parser for JSON text (RFC 8259), strict, over bytes the caller keeps alive.
///
/// The caller walks the document the way it expects it to be: `beginObject()` then
/// `nextKey()` until it returns nil, reading or skipping one value after each key;
/// `beginArray()` then `nextElement()` until false, reading one value after each `true`;
/// finally `expectEnd()`. Each container must be walked to its end before the enclosing
/// one continues, which is what makes a single "first member" flag enough to police the
/// commas.
///
/// Strictness (RFC 8259): no trailing commas, no comments, no leading zeros, no `+`,
/// only the eight escapes of §7, `\u` surrogates must pair, strings must be valid
/// UTF-8 without raw control characters, nothing but whitespace after the document.
/// Nesting deeper than `maxDepth` (by default `DecodingLimits.maxJSONDepth`) is refused,
/// so hostile input cannot exhaust the stack of a recursive caller.
///
/// Errors are `TelemetryDecodingError`s with an empty path and a reason naming the byte
/// offset; the decoder built on the reader adds the path while unwinding.
struct JSONReader {
    /// The JSON text.
    let input: UnsafeRawBufferPointer
    /// Where the next unread byte is.
    private(set) var offset: Int = 0
    /// How many objects and arrays are open.
    private(set) var depth: Int = 0
    /// How many may be open at once.
    let maxDepth: Int
    /// True right after `{` or `[`, until the first `nextKey()`/`nextElement()` call.
    private var atContainerStart = false

    /// A reader over `input` that refuses nesting deeper than `maxDepth`.
    init(_ input: UnsafeRawBufferPointer, maxDepth: Int = DecodingLimits.maxJSONDepth) {
        self.input = input
        self.maxDepth = maxDepth
    }

    /// Runs `body` with a reader over `bytes`.
    static func read<R>(
        _ bytes: [UInt8], _ body: (inout JSONReader) throws(TelemetryDecodingError) -> R
    ) throws(TelemetryDecodingError) -> R {
        try bytes.withUnsafeBufferPointer { (buffer) throws(TelemetryDecodingError) -> R in
            var reader = JSONReader(UnsafeRawBufferPointer(buffer))
            return try body(&reader)
        }
    }

    // MARK: - Errors

    /// A syntax error at `position`.
    func syntaxError(_ message: String, at position: Int) -> TelemetryDecodingError {
        TelemetryDecodingError(reason: "invalid JSON at byte \(position): \(message)")
    }

    /// A byte shown for a human: `'x'` when printable ASCII, `byte 0xNN` otherwise.
    static func describe(byte: UInt8) -> String {
        if byte >= 0x20 && byte < 0x7F { return "'\(Character(Unicode.Scalar(byte)))'" }
        let hex = HexCoding.digits
        return "byte 0x" + String(decoding: [hex[Int(byte >> 4)], hex[Int(byte & 0xF)]], as: UTF8.self)
    }

    /// The error for a value of the wrong kind (or no value at all) where `expected` was
    /// wanted. Call with `offset` at the first byte of the value, whitespace skipped.
    func unexpectedValue(expected: String) -> TelemetryDecodingError {
        guard offset < input.count else {
            return syntaxError("unexpected end of input, expected \(expected)", at: offset)
        }
        if let kind = Self.kind(of: input[offset]) {
            return TelemetryDecodingError(reason: "expected \(expected), got \(kind.phrase) (at byte \(offset))")
        }
        return syntaxError("unexpected \(Self.describe(byte: input[offset])), expected \(expected)", at: offset)
    }

    // MARK: - Structure

    @inline(__always)
    mutating func skipWhitespace() {
        while offset < input.count {
            switch input[offset] {
            case 0x20, 0x0A, 0x0D, 0x09: offset &+= 1
            default: return
            }
        }
    }

    @inline(__always)
    static func kind(of byte: UInt8) -> JSONValueKind? {
        switch byte {
        case UInt8(ascii: "{"): .object
        case UInt8(ascii: "["): .array
        case UInt8(ascii: "\""): .string
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): .number
        case UInt8(ascii: "t"), UInt8(ascii: "f"): .bool
        case UInt8(ascii: "n"): .null
        default: nil
        }
    }

    /// The kind of the next value, without consuming it.
    mutating func peek() throws(TelemetryDecodingError) -> JSONValueKind {
        skipWhitespace()
        if offset < input.count, let kind = Self.kind(of: input[offset]) { return kind }
        throw unexpectedValue(expected: "a value")
    }

    private mutating func enterContainer() throws(TelemetryDecodingError) {
        guard depth < maxDepth else {
            throw syntaxError("nesting deeper than \(maxDepth) levels", at: offset)
        }
        depth &+= 1
        offset &+= 1
        atContainerStart = true
    }

    /// Consumes `{`.
    mutating func beginObject() throws(TelemetryDecodingError) {
        skipWhitespace()
        guard offset < input.count, input[offset] == UInt8(ascii: "{") else {
            throw unexpectedValue(expected: "an object")
        }
        try enterContainer()
    }

    /// Consumes `[`.
    mutating func beginArray() throws(TelemetryDecodingError) {
        skipWhitespace()
        guard offset < input.count, input[offset] == UInt8(ascii: "[") else {
            throw unexpectedValue(expected: "an array")
        }
        try enterContainer()
    }

    /// The next member name of the current object, its `:` consumed; nil after the
    /// closing `}` (consumed too). The value must be read or skipped before calling again.
    mutating func nextKey() throws(TelemetryDecodingError) -> JSONKey? {
        skipWhitespace()
        guard offset < input.count else {
            throw syntaxError("unexpected end of input, expected '}'", at: offset)
        }
        if atContainerStart {
            atContainerStart = false
            if input[offset] == UInt8(ascii: "}") {
                offset &+= 1
                depth &-= 1
                return nil
            }
        } else {
            switch input[offset] {
            case UInt8(ascii: ","):
                offset &+= 1
                skipWhitespace()
            case UInt8(ascii: "}"):
                offset &+= 1
                depth &-= 1
                return nil
            default:
                throw syntaxError("expected ',' or '}', got \(Self.describe(byte: input[offset]))", at: offset)
            }
        }
        guard offset < input.count, input[offset] == UInt8(ascii: "\"") else {
            if offset >= input.count {
                throw syntaxError("unexpected end of input, expected a member name", at: offset)
            }
            throw syntaxError("expected a member name in double quotes, got \(Self.describe(byte: input[offset]))", at: offset)
        }
        let key = try scanString()
        skipWhitespace()
        guard offset < input.count, input[offset] == UInt8(ascii: ":") else {
            if offset >= input.count { throw syntaxError("unexpected end of input, expected ':'", at: offset) }
            throw syntaxError("expected ':', got \(Self.describe(byte: input[offset]))", at: offset)
        }
        offset &+= 1
        return key
    }

    /// Whether the current array has another element (then read or skip it); false after
    /// the closing `]`, which is consumed.
    mutating func nextElement() throws(TelemetryDecodingError) -> Bool {
        skipWhitespace()
        guard offset < input.count else {
            throw syntaxError("unexpected end of input, expected ']'", at: offset)
        }
        if atContainerStart {
            atContainerStart = false
            if input[offset] == UInt8(ascii: "]") {
                offset &+= 1
                depth &-= 1
                return false
            }
            return true
        }
        switch input[offset] {
        case UInt8(ascii: ","):
            offset &+= 1
            return true
        case UInt8(ascii: "]"):
            offset &+= 1
            depth &-= 1
            return false
        default:
            throw syntaxError("expected ',' or ']', got \(Self.describe(byte: input[offset]))", at: offset)
        }
    }

    /// Requires that nothing but whitespace follows the document.
    func expectEnd() throws(TelemetryDecodingError) {
        var copy = self
        copy.skipWhitespace()
        if copy.offset < input.count {
            throw syntaxError("unexpected \(Self.describe(byte: input[copy.offset])) after the end of the document", at: copy.offset)
        }
    }

    /// Consumes the next value, whatever it is, validating it as strictly as if it were read.
    mutating func skipValue() throws(TelemetryDecodingError) {
        switch try peek() {
        case .object:
            try beginObject()
            while try nextKey() != nil { try skipValue() }
        case .array:
            try beginArray()
            while try nextElement() { try skipValue() }
        case .string:
            _ = try scanString()
        case .number:
            offset = try Self.scanNumber(input, from: offset, end: input.count, reportingFrom: 0).end
        case .bool:
            _ = try readBool()
        case .null:
            _ = try readNull()
        }
    }

    // MARK: - Literals

    private mutating func expectLiteral(_ literal: StaticString) throws(TelemetryDecodingError) {
        let matched = literal.withUTF8Buffer { expected in
            guard input.count - offset >= expected.count else { return false }
            for i in 0..<expected.count where input[offset + i] != expected[i] { return false }
            return true
        }
        guard matched else { throw syntaxError("invalid literal, expected '\(literal)'", at: offset) }
        offset &+= literal.utf8CodeUnitCount
    }

    /// Reads `true` or `false`.
    mutating func readBool() throws(TelemetryDecodingError) -> Bool {
        skipWhitespace()
        guard offset < input.count else { throw unexpectedValue(expected: "a boolean") }
        switch input[offset] {
        case UInt8(ascii: "t"):
            try expectLiteral("true")
            return true
        case UInt8(ascii: "f"):
            try expectLiteral("false")
            return false
        default:
            throw unexpectedValue(expected: "a boolean")
        }
    }

    /// Consumes `null` and returns true if it is next; otherwise consumes nothing.
    mutating func readNull() throws(TelemetryDecodingError) -> Bool {
        skipWhitespace()
        guard offset < input.count, input[offset] == UInt8(ascii: "n") else { return false }
        try expectLiteral("null")
        return true
    }

    // MARK: - Strings

    /// Reads a string value.
    mutating func readString() throws(TelemetryDecodingError) -> String {
        try readStringView().string
    }

    /// Reads a string value as bytes, without allocating when it holds no escapes.
    mutating func readStringView() throws(TelemetryDecodingError) -> JSONStringView {
        skipWhitespace()
        guard offset < input.count, input[offset] == UInt8(ascii: "\"") else {
            throw unexpectedValue(expected: "a string")
        }
        return try scanString()
    }

    /// Scans the string starting at `offset` (its opening quote).
    private mutating func scanString() throws(TelemetryDecodingError) -> JSONStringView {
        let start = offset &+ 1
        var i = start
        let end = input.count
        while i < end {
            // Eight plain ASCII bytes at a time: most of an OTLP payload is such strings.
            while i &+ 8 <= end, !Self.mayEndPlainRun(input.loadUnaligned(fromByteOffset: i, as: UInt64.self)) {
                i &+= 8
            }
            guard i < end else { break }
            let c = input[i]
            if c == UInt8(ascii: "\"") {
                offset = i &+ 1
                return JSONStringView(.window(UnsafeRawBufferPointer(rebasing: input[start..<i])))
            }
            if c == UInt8(ascii: "\\") { return try scanEscapedString(contentStart: start, firstEscape: i) }
            if c < 0x20 {
                throw syntaxError("control character \(Self.describe(byte: c)) in a string must be escaped", at: i)
            }
            if c < 0x80 {
                i &+= 1
            } else {
                i = try validateUTF8Sequence(at: i)
            }
        }
        throw syntaxError("unterminated string", at: offset)
    }

    /// Whether any of the eight bytes in `word` is '"', '\\', below 0x20 or above 0x7F,
    /// the bytes a string scan must look at one by one. Exact as a yes/no answer: these
    /// are the classic "has a zero byte" and "has a byte less than n" bit tricks.
    @inline(__always)
    static func mayEndPlainRun(_ word: UInt64) -> Bool {
        let ones: UInt64 = 0x0101_0101_0101_0101
        let highs: UInt64 = 0x8080_8080_8080_8080
        let quotes = word ^ (ones &* 0x22)
        let backslashes = word ^ (ones &* 0x5C)
        let hasQuote = (quotes &- ones) & ~quotes
        let hasBackslash = (backslashes &- ones) & ~backslashes
        let hasControl = (word &- ones &* 0x20) & ~word
        return (hasQuote | hasBackslash | hasControl | word) & highs != 0
    }

    /// Checks one multi-byte UTF-8 sequence starting at `i` (RFC 3629 §4: no overlong
    /// forms, no surrogates, nothing past U+10FFFF) and returns the index after it.
    private func validateUTF8Sequence(at i: Int) throws(TelemetryDecodingError) -> Int {
        let lead = input[i]
        let length: Int
        var lowerBound: UInt8 = 0x80
        var upperBound: UInt8 = 0xBF
        switch lead {
        case 0xC2...0xDF: length = 2
        case 0xE0: length = 3; lowerBound = 0xA0
        case 0xE1...0xEC, 0xEE...0xEF: length = 3
        case 0xED: length = 3; upperBound = 0x9F
        case 0xF0: length = 4; lowerBound = 0x90
        case 0xF1...0xF3: length = 4
        case 0xF4: length = 4; upperBound = 0x8F
        default: throw syntaxError("invalid UTF-8 in a string", at: i)
        }
        guard i + length <= input.count else { throw syntaxError("invalid UTF-8 in a string", at: i) }
        let second = input[i + 1]
        guard second >= lowerBound && second <= upperBound else {
            throw syntaxError("invalid UTF-8 in a string", at: i)
        }
        var k = 2
        while k < length {
            guard input[i + k] & 0xC0 == 0x80 else { throw syntaxError("invalid UTF-8 in a string", at: i) }
            k += 1
        }
        return i + length
    }

    /// The slow path for strings with escapes: decodes into a new buffer.
    private mutating func scanEscapedString(contentStart: Int, firstEscape: Int) throws(TelemetryDecodingError) -> JSONStringView {
        var output = [UInt8]()
        output.reserveCapacity(firstEscape - contentStart + 16)
        output.append(contentsOf: UnsafeRawBufferPointer(rebasing: input[contentStart..<firstEscape]))
        var i = firstEscape
        let end = input.count
        while i < end {
            let c = input[i]
            if c == UInt8(ascii: "\"") {
                offset = i + 1
                return JSONStringView(.owned(output))
            }
            if c == UInt8(ascii: "\\") {
                i = try decodeEscape(at: i, into: &output)
            } else if c < 0x20 {
                throw syntaxError("control character \(Self.describe(byte: c)) in a string must be escaped", at: i)
            } else if c < 0x80 {
                output.append(c)
                i += 1
            } else {
                let next = try validateUTF8Sequence(at: i)
                output.append(contentsOf: UnsafeRawBufferPointer(rebasing: input[i..<next]))
                i = next
            }
        }
        throw syntaxError("unterminated string", at: offset)
    }

    /// Decodes the escape at `i` (its backslash) into `output`; returns the index after it.
    private func decodeEscape(at i: Int, into output: inout [UInt8]) throws(TelemetryDecodingError) -> Int {
        guard i + 1 < input.count else { throw syntaxError("unterminated string", at: offset) }
        let simple: UInt8
        switch input[i + 1] {
        case UInt8(ascii: "\""): simple = UInt8(ascii: "\"")
        case UInt8(ascii: "\\"): simple = UInt8(ascii: "\\")
        case UInt8(ascii: "/"): simple = UInt8(ascii: "/")
        case UInt8(ascii: "b"): simple = 0x08
        case UInt8(ascii: "f"): simple = 0x0C
        case UInt8(ascii: "n"): simple = 0x0A
        case UInt8(ascii: "r"): simple = 0x0D
        case UInt8(ascii: "t"): simple = 0x09
        case UInt8(ascii: "u"):
            let unit = try hexQuad(at: i + 2)
            var scalarValue = UInt32(unit)
            var next = i + 6
            switch unit {
            case 0xD800...0xDBFF:
                // RFC 8259 §7: a character outside the BMP is a surrogate pair of escapes.
                guard next + 1 < input.count, input[next] == UInt8(ascii: "\\"), input[next + 1] == UInt8(ascii: "u")
                else { throw syntaxError("unpaired surrogate \\u\(hex4(unit)) in a string", at: i) }
                let low = try hexQuad(at: next + 2)
                guard (0xDC00...0xDFFF).contains(low) else {
                    throw syntaxError("unpaired surrogate \\u\(hex4(unit)) in a string", at: i)
                }
                scalarValue = 0x10000 + ((UInt32(unit) - 0xD800) << 10) + (UInt32(low) - 0xDC00)
                next += 6
            case 0xDC00...0xDFFF:
                throw syntaxError("unpaired surrogate \\u\(hex4(unit)) in a string", at: i)
            default:
                break
            }
            // Any value left is a valid scalar: surrogates were handled above.
            let scalar = Unicode.Scalar(scalarValue)!
            output.append(contentsOf: UTF8.encode(scalar)!)
            return next
        default:
            throw syntaxError("invalid escape '\\\(Self.describe(byte: input[i + 1]).dropFirst().dropLast())' in a string", at: i)
        }
        output.append(simple)
        return i + 2
    }

    private func hex4(_ unit: UInt16) -> String {
        let digits = HexCoding.digits
        return String(decoding: (0..<4).map { digits[Int(unit >> UInt16(12 - 4 * $0) & 0xF)] }, as: UTF8.self)
    }

    private func hexQuad(at i: Int) throws(TelemetryDecodingError) -> UInt16 {
        guard i + 4 <= input.count else { throw syntaxError("truncated \\u escape", at: i - 2) }
        var value: UInt16 = 0
        for k in 0..<4 {
            guard let n = HexCoding.nibble(input[i + k]) else {
                throw syntaxError("\\u must be followed by 4 hex digits", at: i - 2)
            }
            value = value << 4 | UInt16(n)
        }
        return value
    }

    // MARK: - Numbers

    /// Where the parts of a JSON number are, in some buffer.
    struct NumberParts {
        var negative = false
        var integerDigits: Range<Int> = 0..<0
        var fractionDigits: Range<Int> = 0..<0
        /// The decimal exponent, clamped to ±1_000_000 (far beyond any finite result).
        var exponent = 0
        var hasFractionOrExponent = false
        /// The index after the number.
        var end = 0
    }

    /// Scans a JSON number (RFC 8259 §6) in `buffer` from `start`. Errors give positions
    /// offset by `reportingFrom` so that numbers inside strings report their string.
    static func scanNumber(
        _ buffer: UnsafeRawBufferPointer, from start: Int, end: Int, reportingFrom base: Int
    ) throws(TelemetryDecodingError) -> NumberParts {
        func fail(_ message: String, _ at: Int) -> TelemetryDecodingError {
            TelemetryDecodingError(reason: "invalid JSON at byte \(base + at): \(message)")
        }
        @inline(__always) func isDigit(_ i: Int) -> Bool {
            i < end && buffer[i] &- UInt8(ascii: "0") < 10
        }
        var parts = NumberParts()
        var i = start
        if i < end && buffer[i] == UInt8(ascii: "-") {
            parts.negative = true
            i += 1
        }
        let integerStart = i
        guard isDigit(i) else { throw fail("a number needs a digit after '-'", i) }
        if buffer[i] == UInt8(ascii: "0") {
            i += 1
            if isDigit(i) { throw fail("leading zeros are not allowed in numbers", integerStart) }
        } else {
            while isDigit(i) { i += 1 }
        }
        parts.integerDigits = integerStart..<i
        if i < end && buffer[i] == UInt8(ascii: ".") {
            i += 1
            let fractionStart = i
            guard isDigit(i) else { throw fail("a number needs a digit after '.'", i) }
            while isDigit(i) { i += 1 }
            parts.fractionDigits = fractionStart..<i
            parts.hasFractionOrExponent = true
        }
        if i < end && (buffer[i] == UInt8(ascii: "e") || buffer[i] == UInt8(ascii: "E")) {
            i += 1
            var negativeExponent = false
            if i < end && (buffer[i] == UInt8(ascii: "+") || buffer[i] == UInt8(ascii: "-")) {
                negativeExponent = buffer[i] == UInt8(ascii: "-")
                i += 1
            }
            guard isDigit(i) else { throw fail("a number needs a digit in its exponent", i) }
            var exponent = 0
            while isDigit(i) {
                exponent = min(exponent * 10 + Int(buffer[i] &- UInt8(ascii: "0")), 1_000_000)
                i += 1
            }
            parts.exponent = negativeExponent ? -exponent : exponent
            parts.hasFractionOrExponent = true
        }
        parts.end = i
        return parts
    }

    /// What an integer read found.
    enum IntegerValue {
        case magnitude(UInt64, negative: Bool)
        case notAnInteger
        case tooLarge
    }

    /// The exact integer a number denotes. Fractions and exponents are allowed when the
    /// value is still a whole number (`1.0`, `15e2`, `1500e-1`), as protobuf's JSON
    /// parsers allow; the digits are used directly, never through a Double.
    static func integerValue(_ parts: NumberParts, in buffer: UnsafeRawBufferPointer) -> IntegerValue {
        if !parts.hasFractionOrExponent {
            var value: UInt64 = 0
            for i in parts.integerDigits {
                let (times10, o1) = value.multipliedReportingOverflow(by: 10)
                let (sum, o2) = times10.addingReportingOverflow(UInt64(buffer[i] &- UInt8(ascii: "0")))
                if o1 || o2 { return .tooLarge }
                value = sum
            }
            return .magnitude(value, negative: parts.negative)
        }
        let integerCount = parts.integerDigits.count
        let digitCount = integerCount + parts.fractionDigits.count
        let shift = parts.exponent - parts.fractionDigits.count
        let kept = digitCount + min(shift, 0)
        var value: UInt64 = 0
        var overflow = false
        for j in 0..<digitCount {
            let index = j < integerCount ? parts.integerDigits.lowerBound + j : parts.fractionDigits.lowerBound + j - integerCount
            let digit = UInt64(buffer[index] &- UInt8(ascii: "0"))
            if j < kept {
                let (times10, o1) = value.multipliedReportingOverflow(by: 10)
                let (sum, o2) = times10.addingReportingOverflow(digit)
                if o1 || o2 { overflow = true } else { value = sum }
            } else if digit != 0 {
                return .notAnInteger
            }
        }
        if overflow { return .tooLarge }
        if shift > 0 && value != 0 {
            for _ in 0..<shift {
                let (times10, o) = value.multipliedReportingOverflow(by: 10)
                if o { return .tooLarge }
                value = times10
            }
        }
        return .magnitude(value, negative: parts.negative)
    }

    /// Reads a number, or a string holding one (the proto3 JSON mapping allows both for
    /// every integer type), as an exact integer.
    private mutating func readInteger(typeName: String) throws(TelemetryDecodingError) -> (UInt64, negative: Bool) {
        skipWhitespace()
        let start = offset
        let result: IntegerValue
        if offset < input.count && input[offset] == UInt8(ascii: "\"") {
            let view = try scanString()
            let parsed: Result<IntegerValue, TelemetryDecodingError> = view.withUTF8 { bytes in
                do throws(TelemetryDecodingError) {
                    let parts = try Self.scanNumber(bytes, from: 0, end: bytes.count, reportingFrom: start + 1)
                    guard parts.end == bytes.count else {
                        return .failure(TelemetryDecodingError(
                            reason: "expected \(typeName), got a string that is not a number (at byte \(start))"))
                    }
                    return .success(Self.integerValue(parts, in: bytes))
                } catch {
                    return .failure(TelemetryDecodingError(
                        reason: "expected \(typeName), got a string that is not a number (at byte \(start))"))
                }
            }
            result = try parsed.get()
        } else if offset < input.count && Self.kind(of: input[offset]) == .number {
            let parts = try Self.scanNumber(input, from: offset, end: input.count, reportingFrom: 0)
            offset = parts.end
            result = Self.integerValue(parts, in: input)
        } else {
            throw unexpectedValue(expected: typeName)
        }
        switch result {
        case .magnitude(let magnitude, let negative): return (magnitude, negative)
        case .notAnInteger:
            throw TelemetryDecodingError(reason: "expected \(typeName), got a number with a fraction (at byte \(start))")
        case .tooLarge:
            throw TelemetryDecodingError(reason: "number out of range for \(typeName) (at byte \(start))")
        }
    }

    /// Reads a signed 64-bit integer: a number or a string holding one, exactly.
    mutating func readInt64() throws(TelemetryDecodingError) -> Int64 {
        let start = offset
        let (magnitude, negative) = try readInteger(typeName: "an int64")
        if negative {
            guard magnitude <= UInt64(Int64.max) + 1 else { throw outOfRange("an int64", start) }
            return Int64(truncatingIfNeeded: 0 &- magnitude)
        }
        guard magnitude <= UInt64(Int64.max) else { throw outOfRange("an int64", start) }
        return Int64(magnitude)
    }

    /// Reads an unsigned 64-bit integer: a number or a string holding one, exactly.
    mutating func readUInt64() throws(TelemetryDecodingError) -> UInt64 {
        let start = offset
        let (magnitude, negative) = try readInteger(typeName: "a uint64")
        guard !negative || magnitude == 0 else { throw outOfRange("a uint64", start) }
        return magnitude
    }

    /// Reads a signed 32-bit integer: a number or a string holding one, exactly.
    mutating func readInt32() throws(TelemetryDecodingError) -> Int32 {
        let start = offset
        let (magnitude, negative) = try readInteger(typeName: "an int32")
        if negative {
            guard magnitude <= UInt64(Int32.max) + 1 else { throw outOfRange("an int32", start) }
            return Int32(truncatingIfNeeded: 0 &- magnitude)
        }
        guard magnitude <= UInt64(Int32.max) else { throw outOfRange("an int32", start) }
        return Int32(magnitude)
    }

    /// Reads an unsigned 32-bit integer: a number or a string holding one, exactly.
    mutating func readUInt32() throws(TelemetryDecodingError) -> UInt32 {
        let start = offset
        let (magnitude, negative) = try readInteger(typeName: "a uint32")
        guard (!negative || magnitude == 0) && magnitude <= UInt64(UInt32.max) else {
            throw outOfRange("a uint32", start)
        }
        return UInt32(magnitude)
    }

    private func outOfRange(_ typeName: String, _ start: Int) -> TelemetryDecodingError {
        var copy = self
        copy.offset = start
        copy.skipWhitespace()
        return TelemetryDecodingError(reason: "number out of range for \(typeName) (at byte \(copy.offset))")
    }

    /// Reads a double: a number, a string holding one, or the proto3 JSON strings "NaN",
    /// "Infinity" and "-Infinity". A finite literal too large for a double is refused.
    mutating func readDouble() throws(TelemetryDecodingError) -> Double {
        skipWhitespace()
        let start = offset
        guard offset < input.count, let kind = Self.kind(of: input[offset]), kind == .number || kind == .string else {
            throw unexpectedValue(expected: "a number")
        }
        let parsed: Double?
        if kind == .number {
            let parts = try Self.scanNumber(input, from: offset, end: input.count, reportingFrom: 0)
            let end = parts.end
            parsed = Double(String(decoding: UnsafeRawBufferPointer(rebasing: input[offset..<end]), as: UTF8.self))
            offset = end
        } else {
            let view = try scanString()
            if view == "NaN" { return .nan }
            if view == "Infinity" { return .infinity }
            if view == "-Infinity" { return -.infinity }
            parsed = view.withUTF8 { bytes -> Double? in
                guard let parts = try? Self.scanNumber(bytes, from: 0, end: bytes.count, reportingFrom: 0),
                    parts.end == bytes.count
                else { return nil }
                return Double(String(decoding: bytes, as: UTF8.self))
            }
            guard parsed != nil else {
                throw TelemetryDecodingError(reason: "expected a number, got a string that is not a number (at byte \(start))")
            }
        }
        guard let value = parsed, value.isFinite else {
            throw TelemetryDecodingError(reason: "number out of range for a double (at byte \(start))")
        }
        return value
    }
}
