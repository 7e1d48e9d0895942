/// What a skimming decode of spans (`ExportTraceServiceRequest.init(protobuf:keepingSpanBytes:skimming:)`)
/// still builds: the span attributes with these keys and the span events with these
/// names, whole. Every other span attribute and event, and every link attribute, is
/// validated and left out.
public struct AttributeSkim: Sendable, Hashable {
    public var keptAttributeKeys: Set<String>
    public var keptEventNames: Set<String>

    public init(keepingAttributes keys: Set<String> = [], keepingEvents names: Set<String> = []) {
        keptAttributeKeys = keys
        keptEventNames = names
    }

    /// Skims every attribute and event.
    public static let keepingNothing = AttributeSkim()

    /// What both keep.
    public func union(_ other: AttributeSkim) -> AttributeSkim {
        AttributeSkim(keepingAttributes: keptAttributeKeys.union(other.keptAttributeKeys), keepingEvents: keptEventNames.union(other.keptEventNames))
    }
}

/// An `AttributeSkim`'s names as bytes, matched against a key or name on the wire without
/// making a string of it: most never match, and are rejected by their length.
final class SkimMatcher {
    private let keys: [[UInt8]]
    private let events: [[UInt8]]
    /// Bit n set when some key (or name) is n bytes long; 63 stands for 63 and longer.
    private let keyLengths: UInt64
    private let eventLengths: UInt64

    init(_ skim: AttributeSkim) {
        keys = skim.keptAttributeKeys.map { Array($0.utf8) }
        events = skim.keptEventNames.map { Array($0.utf8) }
        keyLengths = Self.lengths(keys)
        eventLengths = Self.lengths(events)
    }

    func keepsAttribute(_ key: UnsafeRawBufferPointer) -> Bool { Self.matches(key, keys, keyLengths) }

    func keepsEvent(_ name: UnsafeRawBufferPointer) -> Bool { Self.matches(name, events, eventLengths) }

    private static func lengths(_ names: [[UInt8]]) -> UInt64 {
        names.reduce(0) { $0 | 1 << UInt64(min($1.count, 63)) }
    }

    @inline(__always)
    private static func matches(_ bytes: UnsafeRawBufferPointer, _ names: [[UInt8]], _ lengths: UInt64) -> Bool {
        guard lengths & 1 << UInt64(min(bytes.count, 63)) != 0 else { return false }
        return names.contains { $0.elementsEqual(bytes) }
    }
}
