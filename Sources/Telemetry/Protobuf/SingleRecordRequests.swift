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
    /// (`receivedSpans`) is copied as received, unknown fields included. The bytes are
    /// valid only during the call.
    ///
    /// Neither generic nor throwing, unlike its log twin, and each span is lent by pointer,
    /// valid only during the call: the compiler copies a span passed from an array to a
    /// closure (a dozen reference counts), and those copies were a tenth of storing it.
    public func forEachSpanRequest(_ body: (_ resourceSpans: ResourceSpans, _ span: UnsafePointer<Span>, _ protobuf: UnsafeRawBufferPointer) -> Void) {
        guard let received = intactReceivedSpans else {
            return forEachSpanRequest(body) { _, span, writer in writer.encode(span.pointee) }
        }
        received.bytes.withUnsafeBytes { request in
            forEachSpanRequest(body) { index, _, writer in
                let location = received.spans[index]
                writer.writeRaw(UnsafeRawBufferPointer(rebasing: request[Int(location.offset) ..< Int(location.offset + location.count)]))
            }
        }
    }

    private func forEachSpanRequest(
        _ body: (_ resourceSpans: ResourceSpans, _ span: UnsafePointer<Span>, _ protobuf: UnsafeRawBufferPointer) -> Void,
        writingSpan writeSpan: (_ index: Int, _ span: UnsafePointer<Span>, _ writer: inout ReverseProtobufWriter) -> Void
    ) {
        var writer = ReverseProtobufWriter(capacity: 4096)
        var index = 0
        for resourceSpans in self.resourceSpans {
            let resource = resourceSpans.resource.map(encodedAsFieldOne)
            for scopeSpans in resourceSpans.scopeSpans {
                let scope = scopeSpans.scope.map(encodedAsFieldOne)
                scopeSpans.spans.withUnsafeBufferPointer { spans in
                    guard let first = spans.baseAddress else { return }
                    for span in first ..< first + spans.count {
                        writer.removeAll()
                        // ResourceSpans { resource = 1; scope_spans = 2; schema_url = 3 }, last field first.
                        writer.writeString(3, resourceSpans.schemaURL)
                        let scopeMark = writer.count
                        writer.writeString(3, scopeSpans.schemaURL)
                        let spanMark = writer.count
                        writeSpan(index, span, &writer)
                        index += 1
                        writer.writeLengthAndKey(2, since: spanMark)
                        if let scope { scope.withUnsafeBytes { writer.writeRaw($0) } }
                        writer.writeLengthAndKey(2, since: scopeMark)
                        if let resource { resource.withUnsafeBytes { writer.writeRaw($0) } }
                        writer.writeLengthAndKey(1, since: 0)
                        writer.withBytes { bytes in body(resourceSpans, span, bytes) }
                    }
                }
            }
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
