// What a decoded request holds in memory, for a pipeline that bounds the memory of the
// requests it queues. Decoded data is several times its protobuf size (every attribute is
// a 16-byte key plus an enum, every array a heap block), so counting wire bytes would let
// a full queue hold far more than its limit.
//
// The figure is an estimate from the model's layout: inline sizes from `MemoryLayout`, a
// heap block's overhead (`heapHeader`) for every non-empty array, and the UTF-8 bytes of
// every string too long to be stored inline (Swift keeps up to 15 bytes in the string
// itself). A request decoded from protobuf has it measured by its decoder instead, which
// counts a string shared by many spans once.

extension ExportTraceServiceRequest {
    /// An estimate of the bytes this decoded request occupies.
    public var estimatedMemoryBytes: Int {
        if let receivedSpans {
            return receivedSpans.decodedMemoryBytes + MemoryFootprint.array(receivedSpans.bytes) + MemoryFootprint.array(receivedSpans.spans)
                + (receivedSpans.gzip.map(MemoryFootprint.array) ?? 0)
        }
        var total = MemoryFootprint.array(resourceSpans)
        for resourceSpans in self.resourceSpans {
            total += MemoryFootprint.string(resourceSpans.schemaURL) + MemoryFootprint.array(resourceSpans.scopeSpans)
            if let resource = resourceSpans.resource { total += MemoryFootprint.attributes(resource.attributes) }
            for scopeSpans in resourceSpans.scopeSpans {
                total += MemoryFootprint.string(scopeSpans.schemaURL) + MemoryFootprint.array(scopeSpans.spans)
                if let scope = scopeSpans.scope { total += MemoryFootprint.scope(scope) }
                for span in scopeSpans.spans { total += MemoryFootprint.span(span) }
            }
        }
        return total
    }
}

extension ExportLogsServiceRequest {
    /// An estimate of the bytes this decoded request occupies.
    public var estimatedMemoryBytes: Int {
        var total = MemoryFootprint.array(resourceLogs)
        for resourceLogs in self.resourceLogs {
            total += MemoryFootprint.string(resourceLogs.schemaURL) + MemoryFootprint.array(resourceLogs.scopeLogs)
            if let resource = resourceLogs.resource { total += MemoryFootprint.attributes(resource.attributes) }
            for scopeLogs in resourceLogs.scopeLogs {
                total += MemoryFootprint.string(scopeLogs.schemaURL) + MemoryFootprint.array(scopeLogs.logRecords)
                if let scope = scopeLogs.scope { total += MemoryFootprint.scope(scope) }
                for record in scopeLogs.logRecords {
                    total += MemoryFootprint.string(record.severityText) + MemoryFootprint.string(record.eventName)
                        + MemoryFootprint.attributes(record.attributes)
                    if let body = record.body { total += MemoryFootprint.value(body) }
                }
            }
        }
        return total
    }
}

/// The heap bytes behind the model's parts; their inline bytes are counted by the array
/// that holds them.
enum MemoryFootprint {
    /// What a heap block costs beyond its contents: Swift's 32-byte header and the
    /// allocator's own 16 bytes of chunk header and rounding. (Without the allocator's
    /// share, a full pipeline held a fifth more than it counted.)
    static let heapHeader = 32 + 16

    static func array<Element>(_ array: [Element]) -> Int {
        array.isEmpty ? 0 : heapHeader + array.count * MemoryLayout<Element>.stride
    }

    static func string(_ string: String) -> Int {
        self.string(count: string.utf8.count)
    }

    @inline(__always)
    static func string(count: Int) -> Int {
        count <= 15 ? 0 : heapHeader + count
    }

    static func span(_ span: Span) -> Int {
        var total = string(span.traceState) + string(span.name) + attributes(span.attributes)
            + array(span.events) + array(span.links) + string(span.status.message)
        for event in span.events { total += string(event.name) + attributes(event.attributes) }
        for link in span.links { total += string(link.traceState) + attributes(link.attributes) }
        return total
    }

    static func scope(_ scope: InstrumentationScope) -> Int {
        string(scope.name) + string(scope.version) + attributes(scope.attributes)
    }

    static func attributes(_ attributes: [KeyValue]) -> Int {
        var total = array(attributes)
        for attribute in attributes { total += string(attribute.key) + value(attribute.value) }
        return total
    }

    static func value(_ value: AnyValue) -> Int {
        switch value {
        case .empty, .bool, .int, .double: 0
        case .string(let text): string(text)
        case .bytes(let bytes): array(bytes)
        case .array(let values): values.reduce(array(values)) { $0 + self.value($1) }
        case .keyValueList(let pairs): attributes(pairs)
        }
    }
}
