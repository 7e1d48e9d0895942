/// The W3C `baggage` header: application key-value pairs that travel with a request.
///
/// Implements W3C Baggage (https://www.w3.org/TR/baggage/) §3.3 "Header Content":
///
/// ```
/// baggage-string = list-member 0*179( OWS "," OWS list-member )
/// list-member    = key OWS "=" OWS value *( OWS ";" OWS property )
/// property       = key OWS "=" OWS value / key OWS
/// key            = token                  ; RFC 7230 §3.2.6
/// value          = *baggage-octet         ; percent-encoded
/// ```
///
/// Values (and property values) are percent-decoded when parsed and percent-encoded when
/// formatted; a decoded byte sequence that is not UTF-8 becomes U+FFFD, as §3.3.1.3
/// requires. Keys are tokens and are never decoded.
///
/// A malformed list member is dropped and the others kept: §4 "Mutating baggage" leaves
/// malformed input undefined and names this as one allowed behaviour. Limits (§3.3.2):
/// at most 64 list members and 8192 bytes are kept, whole members only, both when parsing
/// and when formatting; members beyond them are dropped.
public struct Baggage: Hashable, Sendable, CustomStringConvertible {
    /// One list member: a key, its value, and its properties in order.
    public struct Entry: Hashable, Sendable {
        /// The key, a token.
        public var key: String
        /// The decoded value.
        public var value: String
        /// The properties after the value, in order.
        public var properties: [Property]

        /// Creates an entry.
        public init(key: String, value: String, properties: [Property] = []) {
            self.key = key
            self.value = value
            self.properties = properties
        }
    }

    /// A property of a list member: `;key=value` or `;key`. The spec gives properties no
    /// meaning; they are kept and propagated.
    public struct Property: Hashable, Sendable {
        /// The key, a token.
        public var key: String
        /// The decoded value, or `nil` for the `;key` form.
        public var value: String?

        /// Creates a property.
        public init(key: String, value: String? = nil) {
            self.key = key
            self.value = value
        }
    }

    /// The entries in header order. Keys need not be unique (§3.3.1.1).
    public var entries: [Entry] {
        guard !canonical.isEmpty else { return [] }
        var header = canonical
        return header.withUTF8 { Baggage.parse($0) }
    }

    /// The header value as it is propagated: entries in order, values percent-encoded,
    /// within the limits. A service passes almost every baggage on unchanged, so this is
    /// what is kept, and the entries are split out only when asked for.
    private var canonical: String

    /// §3.3.2 condition 1: a platform must propagate up to 64 list members.
    public static let maxMembers = 64
    /// §3.3.2 condition 2: a platform must propagate up to 8192 bytes.
    public static let maxBytes = 8192

    /// An empty baggage.
    public init() { canonical = "" }

    /// Creates a baggage from entries; entries with an invalid key are left out, and so
    /// are members past the limits.
    public init(_ entries: [Entry]) {
        canonical = Baggage.format(
            entries.filter { Baggage.isToken($0.key) && $0.properties.allSatisfy { Baggage.isToken($0.key) } }
        )
    }

    /// Parses a header value, keeping every well-formed list member within the limits.
    ///
    /// Several `baggage` fields of one request are one list: join them with `,` first
    /// (§3.3 "Multiple `baggage` headers are allowed"; the limits apply to the combination).
    public init(_ headerValue: String) {
        var value = headerValue
        let canonical = value.withUTF8 { Baggage.canonicalize($0) }
        // An unchanged header shares the caller's storage.
        self.canonical = canonical == value ? value : canonical
    }

    /// Parses a header value given as UTF-8 bytes, such as a Kafka record header.
    public init(utf8 bytes: some Collection<UInt8>) {
        canonical =
            bytes.withContiguousStorageIfAvailable { Baggage.canonicalize($0) }
            ?? Array(bytes).withUnsafeBufferPointer { Baggage.canonicalize($0) }
    }

    /// True when there are no entries.
    public var isEmpty: Bool { canonical.isEmpty }

    /// The value of the last entry with `key`: with duplicates the last one wins, as for
    /// message headers (DESIGN.md) and as OpenTelemetry's baggage propagators read them.
    public subscript(key: String) -> String? {
        occurrences(of: key).values.last
    }

    /// What the canonical header holds for `key`: the decoded value of each member with
    /// that key in order, and whether the first of them has properties.
    private func occurrences(of key: String) -> (values: [String], firstHasProperties: Bool) {
        var header = canonical
        return header.withUTF8 { bytes in
            var values: [String] = []
            var firstHasProperties = false
            var start = 0
            while start < bytes.count {
                var end = start
                while end < bytes.count, bytes[end] != UInt8(ascii: ",") { end += 1 }
                // Canonical members are `key=value(;property)*` with no spaces.
                var equals = start
                while bytes[equals] != UInt8(ascii: "=") { equals += 1 }
                if bytes[start..<equals].elementsEqual(key.utf8) {
                    var valueEnd = equals + 1
                    while valueEnd < end, bytes[valueEnd] != UInt8(ascii: ";") { valueEnd += 1 }
                    if values.isEmpty { firstHasProperties = valueEnd < end }
                    values.append(Baggage.percentDecode(bytes[(equals + 1)..<valueEnd]))
                }
                start = end + 1
            }
            return (values, firstHasProperties)
        }
    }

    /// This baggage with `key` set to `value`: the first entry with that key is replaced
    /// in place and any later duplicates removed (§4 allows updating and deduplicating);
    /// a new key goes to the front, so that formatting, which drops from the end when
    /// over the limits, keeps what this service added.
    public func setting(
        _ value: String,
        forKey key: String,
        properties: [Property] = []
    ) throws(BaggageError) -> Baggage {
        guard Baggage.isToken(key) else { throw .invalidKey(key) }
        for property in properties where !Baggage.isToken(property.key) { throw .invalidKey(property.key) }
        if properties.isEmpty {
            // The propagation path: the entry is already there as it should be, or it is
            // new and goes in front of the canonical header.
            let existing = occurrences(of: key)
            if existing.values == [value], !existing.firstHasProperties { return self }
            if existing.values.isEmpty {
                var member = [UInt8]()
                Baggage.encode(Entry(key: key, value: value), into: &member)
                var header = canonical
                let members = header.isEmpty ? 0 : header.withUTF8 { 1 + $0.count(where: { $0 == UInt8(ascii: ",") }) }
                let size = member.count + (canonical.isEmpty ? 0 : 1 + canonical.utf8.count)
                if members < Baggage.maxMembers, size <= Baggage.maxBytes {
                    var copy = self
                    if !canonical.isEmpty {
                        member.append(UInt8(ascii: ","))
                        member.append(contentsOf: canonical.utf8)
                    }
                    copy.canonical = String(decoding: member, as: UTF8.self)
                    return copy
                }
            }
        }
        let entry = Entry(key: key, value: value, properties: properties)
        var entries = self.entries
        if let first = entries.firstIndex(where: { $0.key == key }) {
            if entries[first] == entry, !entries[(first + 1)...].contains(where: { $0.key == key }) { return self }
            entries[first] = entry
            var index = entries.count - 1
            while index > first {
                if entries[index].key == key { entries.remove(at: index) }
                index -= 1
            }
        } else {
            entries.insert(entry, at: 0)
        }
        var copy = self
        copy.canonical = Baggage.format(entries)
        return copy
    }

    /// This baggage without any entry for `key`.
    public func removing(key: String) -> Baggage {
        var copy = self
        copy.canonical = Baggage.format(entries.filter { $0.key != key })
        return copy
    }

    /// The header value: entries in order, values percent-encoded, members past 64 or past
    /// 8192 bytes left out whole (§3.3.2: "it MUST NOT propagate any partial list-members").
    public var headerValue: String { canonical }

    public var description: String { canonical }

    /// The header of `entries` within the limits.
    static func format(_ entries: [Entry]) -> String {
        var result = [UInt8]()
        var members = 0
        for entry in entries where members < Baggage.maxMembers {
            let start = result.count
            if start > 0 { result.append(UInt8(ascii: ",")) }
            Baggage.encode(entry, into: &result)
            if result.count > Baggage.maxBytes {
                result.removeSubrange(start...)
            } else {
                members += 1
            }
        }
        return String(decoding: result, as: UTF8.self)
    }

    /// The header that parsing `bytes` and formatting the entries would give, without
    /// building the entries: members that are already canonical (no whitespace, no `%`)
    /// are copied as they are, the others decoded and encoded again.
    static func canonicalize(_ bytes: UnsafeBufferPointer<UInt8>) -> String {
        var result = [UInt8]()
        result.reserveCapacity(bytes.count)
        var parsedMembers = 0
        var parsedSize = 0
        var start = 0
        while start <= bytes.count, parsedMembers < maxMembers {
            var end = start
            while end < bytes.count, bytes[end] != UInt8(ascii: ",") { end += 1 }
            let member = HeaderSyntax.trimmingOWS(start..<end, in: bytes)
            // The limits as `parse` applies them, on the incoming member.
            let added = member.count + (parsedMembers == 0 ? 0 : 1)
            if !member.isEmpty, parsedSize + added <= maxBytes {
                let outputStart = result.count
                if outputStart > 0 { result.append(UInt8(ascii: ",")) }
                var accepted = false
                if isCanonicalMember(bytes[member]) {
                    result.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[member]))
                    accepted = true
                } else if let entry = parseMember(member, in: bytes) {
                    encode(entry, into: &result)
                    accepted = true
                }
                if accepted {
                    parsedMembers += 1
                    parsedSize += added
                }
                // The limits as formatting applies them, on the outgoing member.
                if !accepted || result.count > maxBytes { result.removeSubrange(outputStart...) }
            }
            start = end + 1
        }
        return String(decoding: result, as: UTF8.self)
    }

    /// Whether a member formats to itself: `token=octets(;token(=octets)?)*` with no
    /// whitespace, and `%` only where encoding would write it again.
    static func isCanonicalMember(_ member: Slice<UnsafeBufferPointer<UInt8>>) -> Bool {
        var index = member.startIndex
        var part = 0
        while index < member.endIndex {
            // A key: a token.
            let keyStart = index
            while index < member.endIndex, isTokenCharacter(member[index]), member[index] != UInt8(ascii: "%") {
                index += 1
            }
            guard index > keyStart else { return false }
            if index == member.endIndex { return part > 0 }
            if member[index] == UInt8(ascii: "=") {
                index += 1
                while index < member.endIndex, member[index] != UInt8(ascii: ";") {
                    let byte = member[index]
                    guard isBaggageOctet(byte) else { return false }
                    if byte == UInt8(ascii: "%") {
                        // `%XX` formats to itself when XX is upper-case hex of an ASCII byte
                        // that encoding escapes again (non-ASCII may be invalid UTF-8, which
                        // decodes to U+FFFD).
                        guard index + 2 < member.endIndex,
                            let high = upperHexValue(member[index + 1]), let low = upperHexValue(member[index + 2]),
                            high < 8
                        else { return false }
                        let decoded = high << 4 | low
                        guard !isBaggageOctet(decoded) || decoded == UInt8(ascii: "%") else { return false }
                        index += 3
                    } else {
                        index += 1
                    }
                }
            } else if part == 0 {
                return false
            }
            guard index == member.endIndex || member[index] == UInt8(ascii: ";") else { return false }
            if index < member.endIndex {
                index += 1
                // `k=v;` formats without its empty property.
                if index == member.endIndex { return false }
            }
            part += 1
        }
        return part > 0
    }

    // MARK: Parsing

    static func parse(_ bytes: UnsafeBufferPointer<UInt8>) -> [Entry] {
        var entries: [Entry] = []
        var size = 0
        var start = 0
        while start <= bytes.count, entries.count < maxMembers {
            var end = start
            while end < bytes.count, bytes[end] != UInt8(ascii: ",") { end += 1 }
            let member = HeaderSyntax.trimmingOWS(start..<end, in: bytes)
            // §3.3.2: the limits apply to the combined header; whole members only. Checked
            // before decoding, so an oversized member costs no allocation.
            let added = member.count + (entries.isEmpty ? 0 : 1)
            if !member.isEmpty, size + added <= maxBytes, let entry = parseMember(member, in: bytes) {
                entries.append(entry)
                size += added
            }
            start = end + 1
        }
        return entries
    }

    static func parseMember(_ member: Range<Int>, in bytes: UnsafeBufferPointer<UInt8>) -> Entry? {
        var parts = split(member, at: UInt8(ascii: ";"), in: bytes)
        let first = parts.removeFirst()
        guard let equals = first.firstIndex(where: { bytes[$0] == UInt8(ascii: "=") }) else { return nil }
        let keyRange = HeaderSyntax.trimmingOWS(first.lowerBound..<equals, in: bytes)
        let valueRange = HeaderSyntax.trimmingOWS((equals + 1)..<first.upperBound, in: bytes)
        let key = bytes[keyRange]
        let value = bytes[valueRange]
        guard isToken(key), value.allSatisfy(isBaggageOctet) else { return nil }
        var properties: [Property] = []
        for part in parts {
            let trimmed = HeaderSyntax.trimmingOWS(part, in: bytes)
            // An empty property (`k=v;`) is not in the grammar; it carries nothing, so it is
            // skipped like an empty list member rather than costing the whole member.
            if trimmed.isEmpty { continue }
            if let propertyEquals = trimmed.firstIndex(where: { bytes[$0] == UInt8(ascii: "=") }) {
                let propertyKey = bytes[HeaderSyntax.trimmingOWS(trimmed.lowerBound..<propertyEquals, in: bytes)]
                let propertyValue = bytes[HeaderSyntax.trimmingOWS((propertyEquals + 1)..<trimmed.upperBound, in: bytes)]
                guard isToken(propertyKey), propertyValue.allSatisfy(isBaggageOctet) else { return nil }
                properties.append(
                    Property(key: String(decoding: propertyKey, as: UTF8.self), value: percentDecode(propertyValue))
                )
            } else {
                let propertyKey = bytes[trimmed]
                guard isToken(propertyKey) else { return nil }
                properties.append(Property(key: String(decoding: propertyKey, as: UTF8.self)))
            }
        }
        return Entry(key: String(decoding: key, as: UTF8.self), value: percentDecode(value), properties: properties)
    }

    static func split(_ range: Range<Int>, at separator: UInt8, in bytes: UnsafeBufferPointer<UInt8>) -> [Range<Int>] {
        var parts: [Range<Int>] = []
        var start = range.lowerBound
        for index in range where bytes[index] == separator {
            parts.append(start..<index)
            start = index + 1
        }
        parts.append(start..<range.upperBound)
        return parts
    }

    /// §3.3.1.3: decode `%XX`; "percent-encoded octet sequences that do not match the
    /// UTF-8 encoding scheme MUST be replaced with the replacement code point (U+FFFD)".
    /// A `%` not followed by two hex digits is kept as it is.
    static func percentDecode(_ value: Slice<UnsafeBufferPointer<UInt8>>) -> String {
        guard value.contains(UInt8(ascii: "%")) else { return String(decoding: value, as: UTF8.self) }
        var decoded = [UInt8]()
        decoded.reserveCapacity(value.count)
        var index = value.startIndex
        while index < value.endIndex {
            let byte = value[index]
            if byte == UInt8(ascii: "%"), index + 2 < value.endIndex,
                let high = hexValue(value[index + 1]), let low = hexValue(value[index + 2])
            {
                decoded.append(high << 4 | low)
                index += 3
            } else {
                decoded.append(byte)
                index += 1
            }
        }
        return String(decoding: decoded, as: UTF8.self)
    }

    /// The value of an upper-case hex digit, the case formatting writes.
    static func upperHexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }

    /// RFC 3986 §2.1: percent-encoding uses hex digits of either case.
    static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }

    // MARK: Formatting

    static func encode(_ entry: Entry, into result: inout [UInt8]) {
        result.append(contentsOf: entry.key.utf8)
        result.append(UInt8(ascii: "="))
        percentEncode(entry.value, into: &result)
        for property in entry.properties {
            result.append(UInt8(ascii: ";"))
            result.append(contentsOf: property.key.utf8)
            if let value = property.value {
                result.append(UInt8(ascii: "="))
                percentEncode(value, into: &result)
            }
        }
    }

    /// §3.3.1.3: "Any code points outside of the baggage-octet range MUST be
    /// percent-encoded. The percent code point (U+0025) MUST be percent-encoded."
    static func percentEncode(_ value: String, into result: inout [UInt8]) {
        let copied: Bool? = value.utf8.withContiguousStorageIfAvailable { bytes in
            guard bytes.allSatisfy({ isBaggageOctet($0) && $0 != UInt8(ascii: "%") }) else { return false }
            result.append(contentsOf: bytes)
            return true
        }
        if copied == true { return }
        for byte in value.utf8 {
            if isBaggageOctet(byte), byte != UInt8(ascii: "%") {
                result.append(byte)
            } else {
                result.append(UInt8(ascii: "%"))
                result.append(upperHexDigit(byte >> 4))
                result.append(upperHexDigit(byte & 0xF))
            }
        }
    }

    /// RFC 3986 §2.1: "producers and normalizers should use uppercase hexadecimal digits".
    @inline(__always)
    static func upperHexDigit(_ nibble: UInt8) -> UInt8 {
        nibble < 10 ? UInt8(ascii: "0") + nibble : UInt8(ascii: "A") + nibble - 10
    }

    // MARK: Grammar

    /// `baggage-octet = %x21 / %x23-2B / %x2D-3A / %x3C-5B / %x5D-7E`.
    static func isBaggageOctet(_ byte: UInt8) -> Bool {
        switch byte {
        case 0x21, 0x23...0x2B, 0x2D...0x3A, 0x3C...0x5B, 0x5D...0x7E: true
        default: false
        }
    }

    /// RFC 7230 §3.2.6: `token = 1*tchar`.
    static func isToken(_ key: String) -> Bool { isToken(Array(key.utf8)) }

    static func isToken(_ bytes: some Collection<UInt8>) -> Bool {
        !bytes.isEmpty && bytes.allSatisfy(isTokenCharacter)
    }

    /// `tchar = "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" / "-" / "." / "^" / "_" /
    /// "`" / "|" / "~" / DIGIT / ALPHA`.
    static func isTokenCharacter(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "a")...UInt8(ascii: "z"),
            UInt8(ascii: "A")...UInt8(ascii: "Z"):
            true
        case UInt8(ascii: "!"), UInt8(ascii: "#"), UInt8(ascii: "$"), UInt8(ascii: "%"), UInt8(ascii: "&"),
            UInt8(ascii: "'"), UInt8(ascii: "*"), UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: "."),
            UInt8(ascii: "^"), UInt8(ascii: "_"), UInt8(ascii: "`"), UInt8(ascii: "|"), UInt8(ascii: "~"):
            true
        default:
            false
        }
    }
}

/// Why a baggage entry could not be set.
public enum BaggageError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The key is not an RFC 7230 token (W3C Baggage §3.3.1.2).
    case invalidKey(String)

    public var description: String {
        switch self {
        case .invalidKey(let key):
            "invalid baggage key \"\(key)\": expected an RFC 7230 token (letters, digits and !#$%&'*+-.^_`|~)"
        }
    }
}
