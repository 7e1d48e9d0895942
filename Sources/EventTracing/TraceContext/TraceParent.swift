/// The W3C `traceparent` header: which trace a request belongs to and which span sent it.
///
/// Parsing follows W3C Trace Context Level 2 (https://www.w3.org/TR/trace-context-2/)
/// §3.2.2 "traceparent Header Field Values" and §3.2.4 "Versioning of traceparent":
///
/// - version `00` is exactly 55 characters: `00-<32 hex>-<16 hex>-<2 hex>`;
/// - a higher version is read by the version-00 layout: at least 55 characters, and
///   anything after the flags must start with `-` (those extra fields are ignored);
/// - version `ff`, an all-zero trace ID or parent ID, and uppercase hex are invalid;
/// - optional whitespace around the value is not part of it (RFC 9110 §5.5).
///
/// Formatting always emits version `00`, "the highest version of the specification known
/// to the implementation" (§3.2.4), with the reserved flags set to zero (§3.2.2.5.3).
/// Parsing and formatting work on UTF-8 bytes: a parse allocates nothing, a format one
/// string.
public struct TraceParent: Hashable, Sendable, CustomStringConvertible {
    /// The trace ID (§3.2.2.3); never all zero once parsed.
    public var traceID: SpanContext.TraceID
    /// The ID of the span that sent the request (§3.2.2.4); never all zero once parsed.
    public var parentID: SpanContext.SpanID
    /// The `sampled` and `random` flags (§3.2.2.5); reserved bits are dropped.
    public var flags: TraceFlags

    /// The length of a version-00 value.
    static let length = 55

    /// Creates a `traceparent` from its fields.
    public init(traceID: SpanContext.TraceID, parentID: SpanContext.SpanID, flags: TraceFlags) {
        self.traceID = traceID
        self.parentID = parentID
        self.flags = flags
    }

    /// Parses a header value; `nil` when the spec says to ignore the header and restart
    /// the trace.
    public init?(_ headerValue: String) {
        var value = headerValue
        guard let parsed = value.withUTF8({ TraceParent.parse($0) }) else { return nil }
        self = parsed
    }

    /// Parses a header value given as UTF-8 bytes, such as a Kafka record header.
    public init?(utf8 bytes: some Collection<UInt8>) {
        let parsed =
            bytes.withContiguousStorageIfAvailable { TraceParent.parse($0) }
            ?? Array(bytes).withUnsafeBufferPointer { TraceParent.parse($0) }
        guard let parsed else { return nil }
        self = parsed
    }

    /// The version-00 header value.
    public var headerValue: String {
        String(unsafeUninitializedCapacity: TraceParent.length) { buffer in
            // §3.2.4: whatever version came in, we send the version we implement.
            buffer[0] = UInt8(ascii: "0")
            buffer[1] = UInt8(ascii: "0")
            buffer[2] = UInt8(ascii: "-")
            Hex.write(traceID.high, to: buffer, at: 3)
            Hex.write(traceID.low, to: buffer, at: 19)
            buffer[35] = UInt8(ascii: "-")
            Hex.write(parentID.value, to: buffer, at: 36)
            buffer[52] = UInt8(ascii: "-")
            // §3.2.2.5.3: reserved flags "Vendors MUST set those to zero".
            Hex.write(flags.rawValue & TraceFlags.known, to: buffer, at: 53)
            return TraceParent.length
        }
    }

    public var description: String { headerValue }

    static func parse(_ raw: UnsafeBufferPointer<UInt8>) -> TraceParent? {
        let value = HeaderSyntax.trimmingOWS(raw)
        // §3.2.4: "If the size of the header is shorter than 55 characters, the vendor
        // should not parse the header and should restart the trace."
        guard value.count >= length,
            let versionHigh = Hex.value(value[0]),
            let versionLow = Hex.value(value[1]),
            value[2] == UInt8(ascii: "-")
        else { return nil }
        let version = versionHigh << 4 | versionLow
        switch version {
        case 0xFF:
            // §3.2.2.1: "Version 255 ("ff") is invalid."
            return nil
        case 0x00:
            // §3.2.2.2: version 00 is exactly the four fields; trailing data is invalid.
            guard value.count == length else { return nil }
        default:
            // §3.2.4: for a higher version the flags must be "either at the end of the
            // string or followed by a dash"; the fields after it are not ours to read.
            guard value.count == length || value[length] == UInt8(ascii: "-") else { return nil }
        }
        guard value[35] == UInt8(ascii: "-"), value[52] == UInt8(ascii: "-"),
            let traceHigh = Hex.uint64(value, at: 3, count: 16),
            let traceLow = Hex.uint64(value, at: 19, count: 16),
            let parent = Hex.uint64(value, at: 36, count: 16),
            let flags = Hex.uint64(value, at: 53, count: 2)
        else { return nil }
        let traceID = SpanContext.TraceID(high: traceHigh, low: traceLow)
        let parentID = SpanContext.SpanID(parent)
        // §3.2.2.3 / §3.2.2.4: all-zero IDs are invalid and the header MUST be ignored.
        guard traceID.isValid, parentID.isValid else { return nil }
        // §3.2.2.5.3 and §5.1.2 step 2.2 (processing model): only the flags this version
        // defines are kept; unknown ones go out as zero.
        return TraceParent(
            traceID: traceID,
            parentID: parentID,
            flags: TraceFlags(rawValue: UInt8(truncatingIfNeeded: flags) & TraceFlags.known)
        )
    }
}

/// Bits of HTTP field syntax shared by the three headers.
enum HeaderSyntax {
    /// RFC 9110 §5.6.3: `OWS = *( SP / HTAB )`.
    @inline(__always)
    static func isOWS(_ byte: UInt8) -> Bool {
        byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t")
    }

    /// The bytes without leading and trailing OWS; RFC 9110 §5.5 excludes that
    /// whitespace from a field value, and the W3C harness sends it around `traceparent`.
    static func trimmingOWS(_ bytes: UnsafeBufferPointer<UInt8>) -> UnsafeBufferPointer<UInt8> {
        var start = 0
        var end = bytes.count
        while start < end, isOWS(bytes[start]) { start += 1 }
        while end > start, isOWS(bytes[end - 1]) { end -= 1 }
        return UnsafeBufferPointer(rebasing: bytes[start..<end])
    }

    /// The range of `range` in `bytes` without leading and trailing OWS.
    static func trimmingOWS(_ range: Range<Int>, in bytes: UnsafeBufferPointer<UInt8>) -> Range<Int> {
        var start = range.lowerBound
        var end = range.upperBound
        while start < end, isOWS(bytes[start]) { start += 1 }
        while end > start, isOWS(bytes[end - 1]) { end -= 1 }
        return start..<end
    }
}
