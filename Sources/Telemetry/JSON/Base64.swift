/// Base64 as RFC 4648 defines it, for `bytes` fields in JSON (proto3 JSON mapping) and
/// for trace and span IDs that protobuf's default JSON printer and swift-otel emit.
///
/// Encoding uses the standard alphabet with padding (RFC 4648 §4), as the proto3 JSON
/// mapping prescribes. Decoding accepts what proto3 JSON parsers accept: the standard
/// and the URL-safe alphabet (§5), padded or not. Anything else is refused with a reason.
enum Base64 {
    @usableFromInline
    static let alphabet: [UInt8] = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)

    /// 0–63 for a digit of either alphabet, 0xFF for anything else.
    @usableFromInline
    static let digitValues: [UInt8] = {
        var table = [UInt8](repeating: 0xFF, count: 256)
        for (value, digit) in alphabet.enumerated() { table[Int(digit)] = UInt8(value) }
        table[Int(UInt8(ascii: "-"))] = 62
        table[Int(UInt8(ascii: "_"))] = 63
        return table
    }()

    /// How many characters `encode` produces for `count` bytes.
    static func encodedCount(_ count: Int) -> Int { (count + 2) / 3 * 4 }

    /// Appends the padded, standard-alphabet encoding of `input` to `output`.
    static func append(_ input: UnsafeRawBufferPointer, to output: inout [UInt8]) {
        output.reserveCapacity(output.count + encodedCount(input.count))
        alphabet.withUnsafeBufferPointer { digits in
            var i = 0
            let n = input.count
            while i + 3 <= n {
                let word = UInt32(input[i]) << 16 | UInt32(input[i + 1]) << 8 | UInt32(input[i + 2])
                output.append(digits[Int(word >> 18 & 0x3F)])
                output.append(digits[Int(word >> 12 & 0x3F)])
                output.append(digits[Int(word >> 6 & 0x3F)])
                output.append(digits[Int(word & 0x3F)])
                i += 3
            }
            switch n - i {
            case 1:
                let word = UInt32(input[i]) << 16
                output.append(digits[Int(word >> 18 & 0x3F)])
                output.append(digits[Int(word >> 12 & 0x3F)])
                output.append(UInt8(ascii: "="))
                output.append(UInt8(ascii: "="))
            case 2:
                let word = UInt32(input[i]) << 16 | UInt32(input[i + 1]) << 8
                output.append(digits[Int(word >> 18 & 0x3F)])
                output.append(digits[Int(word >> 12 & 0x3F)])
                output.append(digits[Int(word >> 6 & 0x3F)])
                output.append(UInt8(ascii: "="))
            default:
                break
            }
        }
    }

    /// Appends the padded, standard-alphabet encoding of `input` to `output`.
    static func append(_ input: [UInt8], to output: inout [UInt8]) {
        input.withUnsafeBytes { append($0, to: &output) }
    }

    /// The padded, standard-alphabet encoding of `input`.
    static func encode(_ input: [UInt8]) -> String {
        var output = [UInt8]()
        append(input, to: &output)
        return String(decoding: output, as: UTF8.self)
    }

    /// Decodes standard or URL-safe base64, padded or not.
    ///
    /// Refused: characters outside both alphabets (whitespace included), padding that is
    /// not at the end or does not complete a 4-character group, and a final group of one
    /// character, which cannot encode a byte. Non-zero bits left over in the last digit
    /// are ignored, as most decoders do (RFC 4648 §3.5 lets a decoder choose).
    static func decode(_ input: UnsafeRawBufferPointer) throws(TelemetryDecodingError) -> [UInt8] {
        var length = input.count
        var padding = 0
        while length > 0 && input[length - 1] == UInt8(ascii: "=") && padding < 2 {
            length -= 1
            padding += 1
        }
        if padding > 0 && input.count % 4 != 0 {
            throw TelemetryDecodingError(
                reason: "invalid base64: padded input must be a multiple of 4 characters, got \(input.count)")
        }
        if length % 4 == 1 {
            throw TelemetryDecodingError(
                reason: "invalid base64: \(input.count) characters cannot encode whole bytes")
        }
        var output = [UInt8]()
        output.reserveCapacity(length / 4 * 3 + 2)
        return try digitValues.withUnsafeBufferPointer { (table) throws(TelemetryDecodingError) -> [UInt8] in
            var accumulator: UInt32 = 0
            var bits = 0
            for i in 0..<length {
                let c = input[i]
                let value = table[Int(c)]
                if value == 0xFF {
                    let shown = c == UInt8(ascii: "=") ? "padding '='" : JSONReader.describe(byte: c)
                    throw TelemetryDecodingError(reason: "invalid base64: unexpected \(shown) at position \(i)")
                }
                accumulator = accumulator << 6 | UInt32(value)
                bits += 6
                if bits >= 8 {
                    bits -= 8
                    output.append(UInt8(truncatingIfNeeded: accumulator >> UInt32(bits)))
                }
            }
            return output
        }
    }

    /// Decodes standard or URL-safe base64, padded or not.
    static func decode(_ input: [UInt8]) throws(TelemetryDecodingError) -> [UInt8] {
        try input.withUnsafeBufferPointer { (buffer) throws(TelemetryDecodingError) -> [UInt8] in
            try decode(UnsafeRawBufferPointer(buffer))
        }
    }

    /// Decodes standard or URL-safe base64, padded or not.
    static func decode(_ input: String) throws(TelemetryDecodingError) -> [UInt8] {
        try decode(Array(input.utf8))
    }
}
