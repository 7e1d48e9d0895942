#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

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
/// making a string of it: most never match, and are rejected by their length. Plain
/// memory, so that a check costs no reference counting; `ProtobufReader.decoding` owns it.
struct SkimMatcher {
    private let storage: UnsafeMutableRawBufferPointer
    private let keys: Names
    private let events: Names

    /// Names laid end to end in `storage`: where each starts and how long it is.
    private struct Names {
        var entries: UnsafeMutableBufferPointer<(offset: Int, count: Int)>
        /// Bit n set when some name is n bytes long; bit 63 stands for 63 and longer.
        var lengths: UInt64

        @inline(__always)
        func contains(_ bytes: UnsafeRawBufferPointer, in storage: UnsafeMutableRawBufferPointer) -> Bool {
            guard lengths & 1 << UInt64(min(bytes.count, 63)) != 0 else { return false }
            for entry in entries where entry.count == bytes.count {
                if entry.count == 0 || memcmp(storage.baseAddress! + entry.offset, bytes.baseAddress!, entry.count) == 0 { return true }
            }
            return false
        }
    }

    init(_ skim: AttributeSkim) {
        let keyNames = skim.keptAttributeKeys.map { Array($0.utf8) }
        let eventNames = skim.keptEventNames.map { Array($0.utf8) }
        let storage = UnsafeMutableRawBufferPointer.allocate(byteCount: max((keyNames + eventNames).reduce(0) { $0 + $1.count }, 1), alignment: 8)
        var offset = 0
        self.storage = storage
        keys = Self.lay(keyNames, in: storage, at: &offset)
        events = Self.lay(eventNames, in: storage, at: &offset)
    }

    private static func lay(_ names: [[UInt8]], in storage: UnsafeMutableRawBufferPointer, at offset: inout Int) -> Names {
        let entries = UnsafeMutableBufferPointer<(offset: Int, count: Int)>.allocate(capacity: names.count)
        var lengths: UInt64 = 0
        for (index, name) in names.enumerated() {
            UnsafeMutableRawBufferPointer(rebasing: storage[offset ..< offset + name.count]).copyBytes(from: name)
            entries[index] = (offset, name.count)
            lengths |= 1 << UInt64(min(name.count, 63))
            offset += name.count
        }
        return Names(entries: entries, lengths: lengths)
    }

    func deallocate() {
        storage.deallocate()
        keys.entries.deallocate()
        events.entries.deallocate()
    }

    @inline(__always)
    func keepsAttribute(_ key: UnsafeRawBufferPointer) -> Bool { keys.contains(key, in: storage) }

    @inline(__always)
    func keepsEvent(_ name: UnsafeRawBufferPointer) -> Bool { events.contains(name, in: storage) }
}
