import Telemetry

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

extension SpanSegmentFiles {
    /// A stored span's body with what orders it.
    struct StoredSpan: Sendable {
        var key: StoredSpanKey
        var startNanos: Int64
        var body: [UInt8]
    }

    /// Every stored span of the traces, each once, in start order (then span ID).
    func spans(of traceIDs: Set<TraceID>) throws(SpanStoreError) -> [StoredSpan] {
        var found: [StoredSpan] = []
        var seen: Set<StoredSpanKey> = []
        for segment in sealed {
            for traceID in traceIDs {
                for position in try segment.entries(of: traceID) {
                    let entry = try segment.entry(at: position)
                    guard seen.insert(entry.key).inserted else { continue }
                    found.append(StoredSpan(key: entry.key, startNanos: entry.startNanos, body: try body(of: entry, in: segment.descriptor, segment.number)))
                }
            }
        }
        for entry in active.entries where traceIDs.contains(entry.traceID) {
            guard seen.insert(entry.key).inserted else { continue }
            found.append(StoredSpan(key: entry.key, startNanos: entry.startNanos, body: try body(of: entry, in: active.descriptor, active.number)))
        }
        return found.sorted { ($0.startNanos, $0.key.spanID) < ($1.startNanos, $1.key.spanID) }
    }

    /// The latest start and the earliest end of the stored spans of a trace, which bound
    /// the chains that hold any of them; `nil` when none is stored.
    func timeBounds(of traceID: TraceID) throws(SpanStoreError) -> (latestStart: Int64, earliestEnd: Int64)? {
        var bounds: (latestStart: Int64, earliestEnd: Int64)?
        func include(_ entry: SpanEntry) {
            let end = entry.startNanos &+ entry.durationNanos
            bounds = (max(bounds?.latestStart ?? .min, entry.startNanos), min(bounds?.earliestEnd ?? .max, end))
        }
        for segment in sealed {
            for position in try segment.entries(of: traceID) { include(try segment.entry(at: position)) }
        }
        for entry in active.entries where entry.traceID == traceID { include(entry) }
        return bounds
    }

    /// The traces with at least one span matching every condition of `query`, the most
    /// recent first; a span's tags are checked on its body.
    func findTraceIDs(_ query: TraceQuery) throws(SpanStoreError) -> [TraceID] {
        guard query.limit > 0 else { return [] }
        // Segments are read newest first, and the search stops once `limit` traces have a
        // match newer than anything in the segments not read yet.
        if query.tags.isEmpty {
            var latest: [TraceID: Int64] = [:]
            try forEachEntry(matching: query, until: { next in latest.values.lazy.filter { $0 > next }.count >= query.limit }) { entry, _, _ in
                if let known = latest[entry.traceID], known >= entry.startNanos { return }
                latest[entry.traceID] = entry.startNanos
            }
            return latest.sorted { ($0.value, $0.key) > ($1.value, $1.key) }.prefix(query.limit).map(\.key)
        }
        // A span can only match a tag whose key its body holds: bodies without one of the
        // keys are not decoded (the special tags are fields, not attributes).
        let keys = query.tags.keys.filter { !["error", "span.kind", "otel.status_code"].contains($0) }.map { Array($0.utf8) }
        var pending: [(entry: SpanEntry, descriptor: Int32, number: UInt64)] = []
        var found: [TraceID] = []
        var matched: Set<TraceID> = []
        /// Checks the pending candidates newer than `next`, newest first.
        func check(newerThan next: Int64) throws(SpanStoreError) {
            pending.sort { ($0.entry.startNanos, $0.entry.traceID) > ($1.entry.startNanos, $1.entry.traceID) }
            var checked = 0
            for candidate in pending {
                guard candidate.entry.startNanos > next, found.count < query.limit else { break }
                checked += 1
                guard !matched.contains(candidate.entry.traceID) else { continue }
                let bytes = try body(of: candidate.entry, in: candidate.descriptor, candidate.number)
                guard keys.allSatisfy({ bytes.contains(subsequence: $0) }),
                    let request = try? ExportTraceServiceRequest(protobuf: bytes), TelemetryStore.matches(request, tags: query.tags)
                else { continue }
                matched.insert(candidate.entry.traceID)
                found.append(candidate.entry.traceID)
            }
            pending.removeFirst(checked)
        }
        var failure: SpanStoreError?
        try forEachEntry(matching: query, until: { next in
            do throws(SpanStoreError) { try check(newerThan: next) } catch { failure = error }
            return failure != nil || found.count >= query.limit
        }) { entry, descriptor, number in pending.append((entry, descriptor, number)) }
        if let failure { throw failure }
        if found.count < query.limit { try check(newerThan: .min) }
        return found
    }

    /// Calls `visit` with each span matching the query's service, operation, start and
    /// duration (not its tags), with the descriptor and number of its segment file.
    /// Segments are visited newest first (by their latest start); before each, `until` is
    /// given that segment's latest start and ends the visit by returning true.
    private func forEachEntry(
        matching query: TraceQuery, until: (_ laterStartsAtMost: Int64) -> Bool = { _ in false },
        _ visit: (SpanEntry, Int32, UInt64) -> Void
    ) throws(SpanStoreError) {
        /// Whether a segment can hold a match, and the IDs of the service and operation
        /// asked for in its strings.
        func filter(stringID: (String) -> UInt32?, minStart: Int64, maxStart: Int64) -> (service: UInt32?, operation: UInt32?)? {
            if let start = query.startNanos, maxStart < start { return nil }
            if let end = query.endNanos, minStart > end { return nil }
            var ids: (service: UInt32?, operation: UInt32?) = (nil, nil)
            if let name = query.service {
                guard let id = stringID(name) else { return nil }
                ids.service = id
            }
            if let name = query.operation {
                guard let id = stringID(name) else { return nil }
                ids.operation = id
            }
            return ids
        }
        func scan(_ entries: [SpanEntry], _ ids: (service: UInt32?, operation: UInt32?), descriptor: Int32, number: UInt64) {
            for entry in entries {
                if let service = ids.service, entry.service != service { continue }
                if let operation = ids.operation, entry.operation != operation { continue }
                if let start = query.startNanos, entry.startNanos < start { continue }
                if let end = query.endNanos, entry.startNanos > end { continue }
                if let minimum = query.minDurationNanos, entry.durationNanos < minimum { continue }
                if let maximum = query.maxDurationNanos, entry.durationNanos > maximum { continue }
                visit(entry, descriptor, number)
            }
        }
        var order: [(maxStart: Int64, sealed: SealedSpanSegment?)] = sealed.map { ($0.header.maxStart, $0) }
        if !active.entries.isEmpty { order.append((active.maxStart, nil)) }
        order.sort { $0.maxStart > $1.maxStart }
        for (maxStart, segment) in order {
            if until(maxStart) { return }
            if let segment {
                guard let ids = filter(stringID: { segment.stringIDs[$0] }, minStart: segment.header.minStart, maxStart: segment.header.maxStart) else { continue }
                scan(try segment.entries(), ids, descriptor: segment.descriptor, number: segment.number)
            } else if let ids = filter(stringID: active.stringID(of:), minStart: active.minStart, maxStart: active.maxStart) {
                scan(active.entries, ids, descriptor: active.descriptor, number: active.number)
            }
        }
    }

    /// The spans that link to `target`, each once, in start order.
    func backlinks(to target: StoredSpanKey) throws(SpanStoreError) -> [SpanReference] {
        var references: [StoredSpanKey: SpanReference] = [:]
        func reference(_ source: SpanEntry, _ strings: [String]) -> SpanReference {
            SpanReference(
                traceID: source.traceID.hex, spanID: SpanID(source.spanID).hex,
                service: strings[Int(source.service)], operation: strings[Int(source.operation)], startNanos: source.startNanos)
        }
        for segment in sealed {
            for position in try segment.links(to: target) {
                let source = try segment.entry(at: Int(try segment.link(at: position).source))
                references[source.key] = reference(source, segment.header.strings)
            }
        }
        for link in active.links where link.target == target {
            let source = active.entries[Int(link.source)]
            references[source.key] = reference(source, active.strings.values)
        }
        return references.values.sorted { ($0.startNanos, $0.traceID, $0.spanID) < ($1.startNanos, $1.traceID, $1.spanID) }
    }

    /// Parent → child span counts between different services, for child spans starting in
    /// the window.
    func serviceCalls(startNanos: Int64, endNanos: Int64) throws(SpanStoreError) -> [String: [String: Int]] {
        var children: [StoredSpanKey: [String]] = [:]
        try forEachEntry { entry, strings in
            guard entry.parentSpanID != 0, entry.startNanos >= startNanos, entry.startNanos <= endNanos else { return }
            children[StoredSpanKey(traceID: entry.traceID, spanID: entry.parentSpanID), default: []].append(strings[Int(entry.service)])
        }
        guard !children.isEmpty else { return [:] }
        var counts: [String: [String: Int]] = [:]
        try forEachEntry { entry, strings in
            guard let services = children.removeValue(forKey: entry.key) else { return }
            let parent = strings[Int(entry.service)]
            for child in services where child != parent { counts[parent, default: [:]][child, default: 0] += 1 }
        }
        return counts
    }

    private func forEachEntry(_ visit: (SpanEntry, [String]) -> Void) throws(SpanStoreError) {
        for segment in sealed {
            let strings = segment.header.strings
            for entry in try segment.entries() { visit(entry, strings) }
        }
        for entry in active.entries { visit(entry, active.strings.values) }
    }

    private func body(of entry: SpanEntry, in descriptor: Int32, _ number: UInt64) throws(SpanStoreError) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: Int(entry.bodyLength))
        let path = segmentPath(number)
        guard try Self.readFully(descriptor, into: &bytes, at: Int(entry.bodyOffset), path: path) == bytes.count else {
            throw .io(operation: "read", path: path, errno: EIO)
        }
        return bytes
    }
}

extension [UInt8] {
    /// Whether `needle` occurs in these bytes (`memchr` to each candidate first byte, then
    /// `memcmp`; glibc's `memmem` needs `_GNU_SOURCE`, which Swift's import does not set).
    func contains(subsequence needle: [UInt8]) -> Bool {
        guard let first = needle.first else { return true }
        guard needle.count <= count else { return false }
        return withUnsafeBytes { haystack in
            needle.withUnsafeBytes { needle in
                let base = haystack.baseAddress!
                let last = haystack.count - needle.count
                var position = 0
                while position <= last {
                    guard let found = memchr(base + position, Int32(first), last - position + 1) else { return false }
                    position = base.distance(to: UnsafeRawPointer(found))
                    if memcmp(base + position, needle.baseAddress!, needle.count) == 0 { return true }
                    position += 1
                }
                return false
            }
        }
    }
}
