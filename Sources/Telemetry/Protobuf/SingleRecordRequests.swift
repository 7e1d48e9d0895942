// Splitting a request into one-record requests, for a store that keeps each span or log
// record whole with its resource and scope. The resource and scope are encoded once per
// group rather than once per record, and one buffer serves every record.

/// The protobuf bytes a request's spans were decoded from: a copy of the request and where
/// each span message lies in it, in request order. A store that keeps each span whole
/// copies these bytes rather than encoding the decoded span again.
public struct ReceivedSpanBytes: Sendable {
    struct Location: Sendable {
        var offset: UInt32
        var count: UInt32
    }

    let bytes: [UInt8]
    let spans: [Location]
    /// The decoded request's `estimatedMemoryBytes`, measured while decoding it rather
    /// than by walking it afterwards.
    public let decodedMemoryBytes: Int
    /// The request's body as received, when it came as one gzip member (`keepReceivedGzip`).
    var gzip: [UInt8]?
    /// Whether the decode left attributes and events out of the spans (`skimming`).
    let attributesSkimmed: Bool
}

extension ExportTraceServiceRequest {
    /// The protobuf this request was decoded from, when the decode kept it and the spans
    /// are unchanged since: an exporter forwards it as received (unknown fields included)
    /// instead of encoding the request again.
    public var receivedProtobuf: [UInt8]? { intactReceivedSpans?.bytes }

    /// The gzip body `receivedProtobuf` was inflated from, when the receiver kept it and
    /// the spans are unchanged since: an exporter that compresses forwards it instead of
    /// compressing the same bytes again.
    public var receivedGzip: [UInt8]? { intactReceivedSpans?.gzip }

    /// Keeps `gzip`, the body this request's protobuf was inflated from, beside the
    /// received protobuf (nothing, when the decode kept no protobuf). The caller vouches
    /// that it inflates to exactly `receivedProtobuf`.
    public mutating func keepReceivedGzip(_ gzip: [UInt8]) {
        receivedSpans?.gzip = gzip
    }

    /// `receivedSpans` when it still locates every span, as it does unless the spans were
    /// changed (which forgets it).
    private var intactReceivedSpans: ReceivedSpanBytes? {
        guard let receivedSpans, receivedSpans.spans.count == spanCount else { return nil }
        return receivedSpans
    }

    /// Calls `body` for each span with the protobuf of a one-span `ExportTraceServiceRequest`
    /// holding that span, its resource and its scope: the bytes `protobufBytes()` gives
    /// for such a request, except that a span whose received bytes were kept
    /// (`receivedSpans`) is copied as received, unknown fields included. The request is
    /// lent in parts (`OneSpanRequest`), valid only during the call, for the caller to
    /// write where it keeps it: assembling it here first cost a copy of every span.
    ///
    /// Neither generic nor throwing, unlike its log twin, and each span is lent by pointer,
    /// valid only during the call: the compiler copies a span passed from an array to a
    /// closure (a dozen reference counts), and those copies were a tenth of storing it.
    public func forEachSpanRequest(_ body: (_ resourceSpans: ResourceSpans, _ span: UnsafePointer<Span>, _ request: OneSpanRequest) -> Void) {
        guard let received = intactReceivedSpans else {
            return forEachSpanRequest(body, received: nil, locations: [])
        }
        received.bytes.withUnsafeBytes { forEachSpanRequest(body, received: $0, locations: received.spans) }
    }

    /// `forEachSpanRequest`, with each span's bytes taken from `received` where
    /// `locations` says, or encoded when there is no `received`.
    private func forEachSpanRequest(
        _ body: (_ resourceSpans: ResourceSpans, _ span: UnsafePointer<Span>, _ request: OneSpanRequest) -> Void,
        received: UnsafeRawBufferPointer?, locations: [ReceivedSpanBytes.Location]
    ) {
        var writer = ReverseProtobufWriter(capacity: received == nil ? 4096 : 16)
        var index = 0
        for resourceSpans in self.resourceSpans {
            // ResourceSpans { resource = 1; scope_spans = 2; schema_url = 3 }
            let resource = OneSpanRequest.group(resourceSpans.resource.map(encodedAsFieldOne), schemaURL: resourceSpans.schemaURL)
            resource.bytes.withUnsafeBytes { resourceBytes in
                let (resourcePart, resourceSchema) = (resourceBytes[..<resource.split], resourceBytes[resource.split...])
                for scopeSpans in resourceSpans.scopeSpans {
                    // ScopeSpans { scope = 1; spans = 2; schema_url = 3 }
                    let scope = OneSpanRequest.group(scopeSpans.scope.map(encodedAsFieldOne), schemaURL: scopeSpans.schemaURL)
                    scope.bytes.withUnsafeBytes { scopeBytes in
                        let (scopePart, scopeSchema) = (scopeBytes[..<scope.split], scopeBytes[scope.split...])
                        scopeSpans.spans.withUnsafeBufferPointer { spans in
                            guard let first = spans.baseAddress else { return }
                            for span in first ..< first + spans.count {
                                @inline(__always) func lend(_ spanBytes: UnsafeRawBufferPointer) {
                                    body(resourceSpans, span, OneSpanRequest(
                                        resource: UnsafeRawBufferPointer(rebasing: resourcePart), scope: UnsafeRawBufferPointer(rebasing: scopePart),
                                        span: spanBytes, scopeSchema: UnsafeRawBufferPointer(rebasing: scopeSchema),
                                        resourceSchema: UnsafeRawBufferPointer(rebasing: resourceSchema)))
                                }
                                if let received {
                                    let location = locations[index]
                                    lend(UnsafeRawBufferPointer(rebasing: received[Int(location.offset) ..< Int(location.offset + location.count)]))
                                } else {
                                    writer.removeAll()
                                    writer.encode(span.pointee)
                                    writer.withBytes { lend($0) }
                                }
                                index += 1
                            }
                        }
                    }
                }
            }
        }
    }
}

/// A one-span `ExportTraceServiceRequest`, lent by `forEachSpanRequest` in the parts it is
/// made of (the resource and scope encoded once per group, the span's own bytes): `count`
/// bytes, which `write(to:)` lays out with the keys and lengths between the parts.
public struct OneSpanRequest {
    /// `ResourceSpans.resource` and `ScopeSpans.scope` with their key and length; empty when absent.
    private let resource: UnsafeRawBufferPointer
    private let scope: UnsafeRawBufferPointer
    /// The `Span` message, without key and length.
    private let span: UnsafeRawBufferPointer
    /// `schema_url` of the scope's and the resource's group with its key and length; empty when empty.
    private let scopeSchema: UnsafeRawBufferPointer
    private let resourceSchema: UnsafeRawBufferPointer
    private let scopeSpansLength: Int
    private let resourceSpansLength: Int
    /// How many bytes `write(to:)` writes.
    public let count: Int

    /// The tag of field 1 or 2, length-delimited.
    private static let fieldOneTag: UInt8 = 1 << 3 | 2
    private static let fieldTwoTag: UInt8 = 2 << 3 | 2

    fileprivate init(
        resource: UnsafeRawBufferPointer, scope: UnsafeRawBufferPointer, span: UnsafeRawBufferPointer,
        scopeSchema: UnsafeRawBufferPointer, resourceSchema: UnsafeRawBufferPointer
    ) {
        (self.resource, self.scope, self.span, self.scopeSchema, self.resourceSchema) = (resource, scope, span, scopeSchema, resourceSchema)
        scopeSpansLength = scope.count + Self.fieldSize(span.count) + scopeSchema.count
        resourceSpansLength = resource.count + Self.fieldSize(scopeSpansLength) + resourceSchema.count
        count = Self.fieldSize(resourceSpansLength)
    }

    /// A length-delimited field with a one-byte key: key, length and content.
    @inline(__always)
    private static func fieldSize(_ length: Int) -> Int {
        1 + ReverseProtobufWriter.varintSize(UInt64(length)) + length
    }

    /// A group's resource or scope (as field 1) followed by its `schema_url` (as field 3),
    /// and where the second starts.
    fileprivate static func group(_ fieldOne: [UInt8]?, schemaURL: String) -> (bytes: [UInt8], split: Int) {
        var writer = ReverseProtobufWriter(capacity: 64)
        writer.writeString(3, schemaURL)
        let fieldOne = fieldOne ?? []
        return (fieldOne + writer.bytes(), fieldOne.count)
    }

    /// Writes the request's `count` bytes at `destination`.
    public func write(to destination: UnsafeMutableRawPointer) {
        var position = destination
        @inline(__always) func byte(_ value: UInt8) {
            position.storeBytes(of: value, as: UInt8.self)
            position += 1
        }
        @inline(__always) func length(_ value: Int) {
            var remaining = UInt64(value)
            while remaining >= 0x80 {
                byte(UInt8(truncatingIfNeeded: remaining) | 0x80)
                remaining >>= 7
            }
            byte(UInt8(remaining))
        }
        @inline(__always) func raw(_ bytes: UnsafeRawBufferPointer) {
            guard let base = bytes.baseAddress, bytes.count > 0 else { return }
            position.copyMemory(from: base, byteCount: bytes.count)
            position += bytes.count
        }
        // ExportTraceServiceRequest { resource_spans = 1 }, ResourceSpans { resource = 1;
        // scope_spans = 2; schema_url = 3 }, ScopeSpans { scope = 1; spans = 2; schema_url = 3 }.
        byte(Self.fieldOneTag)
        length(resourceSpansLength)
        raw(resource)
        byte(Self.fieldTwoTag)
        length(scopeSpansLength)
        raw(scope)
        byte(Self.fieldTwoTag)
        length(span.count)
        raw(span)
        raw(scopeSchema)
        raw(resourceSchema)
    }

    /// The request's bytes in an array of their own.
    public var protobuf: [UInt8] {
        [UInt8](unsafeUninitializedCapacity: count) { buffer, initialized in
            write(to: UnsafeMutableRawPointer(buffer.baseAddress!))
            initialized = count
        }
    }
}

extension ExportLogsServiceRequest {
    /// Calls `body` for each log record with the protobuf of a one-record
    /// `ExportLogsServiceRequest` holding that record, its resource and its scope: the
    /// bytes `protobufBytes()` gives for such a request. The bytes are valid only during the call.
    public func forEachLogRecordRequest<Failure: Error>(
        _ body: (_ resourceLogs: ResourceLogs, _ record: LogRecord, _ protobuf: UnsafeRawBufferPointer) throws(Failure) -> Void
    ) throws(Failure) {
        var writer = ReverseProtobufWriter(capacity: 2048)
        for resourceLogs in self.resourceLogs {
            let resource = resourceLogs.resource.map(encodedAsFieldOne)
            for scopeLogs in resourceLogs.scopeLogs {
                let scope = scopeLogs.scope.map(encodedAsFieldOne)
                for record in scopeLogs.logRecords {
                    writer.removeAll()
                    // ResourceLogs { resource = 1; scope_logs = 2; schema_url = 3 }, last field first.
                    writer.writeString(3, resourceLogs.schemaURL)
                    let scopeMark = writer.count
                    writer.writeString(3, scopeLogs.schemaURL)
                    let recordMark = writer.count
                    writer.encode(record)
                    writer.writeLengthAndKey(2, since: recordMark)
                    if let scope { scope.withUnsafeBytes { writer.writeRaw($0) } }
                    writer.writeLengthAndKey(2, since: scopeMark)
                    if let resource { resource.withUnsafeBytes { writer.writeRaw($0) } }
                    writer.writeLengthAndKey(1, since: 0)
                    try writer.withBytes { (bytes) throws(Failure) in try body(resourceLogs, record, bytes) }
                }
            }
        }
    }
}

/// A resource or scope as field 1 of its parent message, key and length included.
private func encodedAsFieldOne(_ resource: Resource) -> [UInt8] {
    var writer = ReverseProtobufWriter(capacity: 256)
    writer.encode(resource)
    writer.writeLengthAndKey(1, since: 0)
    return writer.bytes()
}

private func encodedAsFieldOne(_ scope: InstrumentationScope) -> [UInt8] {
    var writer = ReverseProtobufWriter(capacity: 128)
    writer.encode(scope)
    writer.writeLengthAndKey(1, since: 0)
    return writer.bytes()
}
