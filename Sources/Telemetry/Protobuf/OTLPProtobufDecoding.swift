// Decoding of the OTLP protobuf messages, hand-written from the field numbers of
// opentelemetry-proto (opentelemetry/proto/{common,resource,trace,logs,collector}/v1/*.proto)
// and google/rpc/status.proto.
//
// Each message is decoded by a loop over its fields. Before a field is read, `field` (and
// `index` for repeated messages) records which one it is; on the way out of an error the
// catch turns that into the path prefix, so the happy path pays one store per field.

extension ExportTraceServiceRequest {
    /// Decodes the protobuf body of `POST /v1/traces`.
    public init(protobuf bytes: [UInt8]) throws(TelemetryDecodingError) {
        var locations: [ReceivedSpanBytes.Location]?
        self = try ProtobufReader.decoding(bytes) { reader throws(TelemetryDecodingError) in
            try ExportTraceServiceRequest(reader: &reader, locating: &locations)
        }
    }

    /// Decodes the protobuf body of `POST /v1/traces` from memory the caller keeps alive.
    public init(protobuf buffer: UnsafeRawBufferPointer) throws(TelemetryDecodingError) {
        var locations: [ReceivedSpanBytes.Location]?
        self = try ProtobufReader.decoding(buffer) { reader throws(TelemetryDecodingError) in
            try ExportTraceServiceRequest(reader: &reader, locating: &locations)
        }
    }

    /// Decodes the protobuf body of `POST /v1/traces` and, with `keepingSpanBytes`, keeps a
    /// copy of it in `receivedSpans`, so that a store writes each span as received.
    ///
    /// With `skimming` too, the spans' and links' attributes and the spans' events are
    /// validated as a full decode would, but only those `skimming` keeps are built
    /// (`attributesSkimmed`). For consumers that read nothing else of a span but its IDs,
    /// parent, name, kind, times, status, links and resource, and take the rest from
    /// `receivedProtobuf`: building them is most of a decode's cost.
    public init(protobuf buffer: UnsafeRawBufferPointer, keepingSpanBytes: Bool, skimming: AttributeSkim? = nil) throws(TelemetryDecodingError) {
        guard keepingSpanBytes else {
            try self.init(protobuf: buffer)
            return
        }
        try self.init(keeping: Array(buffer), skimming: skimming)
    }

    private init(keeping bytes: [UInt8], skimming: AttributeSkim?) throws(TelemetryDecodingError) {
        var locations: [ReceivedSpanBytes.Location]? = []
        let (request, memoryBytes) = try ProtobufReader.decoding(bytes, skim: skimming) { reader throws(TelemetryDecodingError) in
            (try ExportTraceServiceRequest(reader: &reader, locating: &locations), reader.allocatedBytes)
        }
        self = request
        receivedSpans = ReceivedSpanBytes(
            bytes: bytes, spans: locations ?? [], decodedMemoryBytes: memoryBytes, attributesSkimmed: skimming != nil)
    }

    /// Builds what a skimming decode left out (`attributesSkimmed`), decoding the received
    /// protobuf again; the received bytes stay kept. Nothing to do for any other request.
    public mutating func decodeSkimmedAttributes() {
        guard let received = receivedSpans, received.attributesSkimmed else { return }
        do {
            var full = try ExportTraceServiceRequest(keeping: received.bytes, skimming: nil)
            full.receivedSpans?.gzip = received.gzip
            self = full
        } catch {
            // The skimming decode validated these very bytes as the full one does.
            preconditionFailure("a request that decoded skimming its attributes failed its full decode: \(error)")
        }
    }

    private init(reader: inout ProtobufReader, locating locations: inout [ReceivedSpanBytes.Location]?) throws(TelemetryDecodingError) {
        self.init(
            resourceSpans: try reader.decodeTopLevel("resourceSpans") { child throws(TelemetryDecodingError) in
                try child.decodeResourceSpans(locating: &locations)
            })
    }
}

extension ExportLogsServiceRequest {
    /// Decodes the protobuf body of `POST /v1/logs`.
    public init(protobuf bytes: [UInt8]) throws(TelemetryDecodingError) {
        self = try ProtobufReader.decoding(bytes) { reader throws(TelemetryDecodingError) in
            try ExportLogsServiceRequest(reader: &reader)
        }
    }

    /// Decodes the protobuf body of `POST /v1/logs` from memory the caller keeps alive.
    public init(protobuf buffer: UnsafeRawBufferPointer) throws(TelemetryDecodingError) {
        self = try ProtobufReader.decoding(buffer) { reader throws(TelemetryDecodingError) in
            try ExportLogsServiceRequest(reader: &reader)
        }
    }

    private init(reader: inout ProtobufReader) throws(TelemetryDecodingError) {
        self.init(
            resourceLogs: try reader.decodeTopLevel("resourceLogs") { child throws(TelemetryDecodingError) in
                try child.decodeResourceLogs()
            })
    }
}

extension ExportTraceServiceResponse {
    /// Decodes an `ExportTraceServiceResponse`.
    public init(protobuf bytes: [UInt8]) throws(TelemetryDecodingError) {
        let (rejected, message) = try ProtobufReader.decoding(bytes) { reader throws(TelemetryDecodingError) in
            try reader.decodePartialSuccessEnvelope(countName: "rejectedSpans")
        }
        self.init(partialSuccess: rejected.map { ExportTracePartialSuccess(rejectedSpans: $0, errorMessage: message) })
    }
}

extension ExportLogsServiceResponse {
    /// Decodes an `ExportLogsServiceResponse`.
    public init(protobuf bytes: [UInt8]) throws(TelemetryDecodingError) {
        let (rejected, message) = try ProtobufReader.decoding(bytes) { reader throws(TelemetryDecodingError) in
            try reader.decodePartialSuccessEnvelope(countName: "rejectedLogRecords")
        }
        self.init(partialSuccess: rejected.map { ExportLogsPartialSuccess(rejectedLogRecords: $0, errorMessage: message) })
    }
}

extension RPCStatus {
    /// Decodes a `google.rpc.Status`.
    public init(protobuf bytes: [UInt8]) throws(TelemetryDecodingError) {
        self = try ProtobufReader.decoding(bytes) { reader throws(TelemetryDecodingError) in
            try reader.decodeRPCStatus()
        }
    }
}

extension ProtobufReader {
    /// Runs `body` over the bytes of an array, for the `[UInt8]` entry points.
    static func decoding<T>(
        _ bytes: [UInt8], skim: AttributeSkim? = nil, _ body: (inout ProtobufReader) throws(TelemetryDecodingError) -> T
    ) throws(TelemetryDecodingError) -> T {
        try bytes.withUnsafeBytes { buffer in
            Result { () throws(TelemetryDecodingError) in try decoding(buffer, skim: skim, body) }
        }.get()
    }

    /// Both export requests are one repeated message in field 1.
    mutating func decodeTopLevel<T>(
        _ name: StaticString, _ decodeOne: (inout ProtobufReader) throws(TelemetryDecodingError) -> T
    ) throws(TelemetryDecodingError) -> [T] {
        var result: [T] = []
        var index = -1
        do throws(TelemetryDecodingError) {
            while !isAtEnd {
                let (number, wireType) = try readTag()
                if number == 1 {
                    index = result.count
                    try expect(wireType, .lengthDelimited)
                    var child = try readMessage()
                    result.append(try decodeOne(&child))
                    index = -1
                } else {
                    try skip(wireType, field: number)
                }
            }
        } catch {
            throw error.within(index >= 0 ? name : "", index: index)
        }
        allocated(result)
        return result
    }
}

extension ProtobufReader {
    @inline(__always)
    func expect(_ got: WireType, _ expected: WireType) throws(TelemetryDecodingError) {
        guard got == expected else {
            throw TelemetryDecodingError(reason: "expected wire type \(expected.name), got \(got.name)")
        }
    }

    @inline(__always)
    mutating func readTraceID() throws(TelemetryDecodingError) -> TraceID {
        let bytes = try readLengthDelimited()
        guard bytes.count == 16 else {
            throw TelemetryDecodingError(reason: "expected 16 bytes, got \(bytes.count)")
        }
        return TraceID(
            high: UInt64(bigEndian: bytes.loadUnaligned(as: UInt64.self)),
            low: UInt64(bigEndian: bytes.loadUnaligned(fromByteOffset: 8, as: UInt64.self)))
    }

    @inline(__always)
    mutating func readSpanID() throws(TelemetryDecodingError) -> SpanID {
        let bytes = try readLengthDelimited()
        guard bytes.count == 8 else {
            throw TelemetryDecodingError(reason: "expected 8 bytes, got \(bytes.count)")
        }
        return SpanID(UInt64(bigEndian: bytes.loadUnaligned(as: UInt64.self)))
    }

    /// An ID that may be absent: empty bytes mean "none", and so do all zeros, which the
    /// OTLP spec calls invalid but some SDKs send for "no parent" or "no trace".
    @inline(__always)
    mutating func readOptionalSpanID() throws(TelemetryDecodingError) -> SpanID? {
        let bytes = try readLengthDelimited()
        if bytes.isEmpty { return nil }
        guard bytes.count == 8 else {
            throw TelemetryDecodingError(reason: "expected 8 bytes or none, got \(bytes.count)")
        }
        let id = SpanID(UInt64(bigEndian: bytes.loadUnaligned(as: UInt64.self)))
        return id.isValid ? id : nil
    }

    mutating func readOptionalTraceID() throws(TelemetryDecodingError) -> TraceID? {
        let bytes = try readLengthDelimited()
        if bytes.isEmpty { return nil }
        guard bytes.count == 16 else {
            throw TelemetryDecodingError(reason: "expected 16 bytes or none, got \(bytes.count)")
        }
        let id = TraceID(
            high: UInt64(bigEndian: bytes.loadUnaligned(as: UInt64.self)),
            low: UInt64(bigEndian: bytes.loadUnaligned(fromByteOffset: 8, as: UInt64.self)))
        return id.isValid ? id : nil
    }

    /// `uint32` fields: protobuf keeps the low 32 bits of a longer varint.
    @inline(__always)
    mutating func readUInt32Varint() throws(TelemetryDecodingError) -> UInt32 {
        UInt32(truncatingIfNeeded: try readVarint())
    }

    /// `int32` and enum fields: negative values arrive sign-extended to 64 bits.
    @inline(__always)
    mutating func readInt32Varint() throws(TelemetryDecodingError) -> Int32 {
        Int32(truncatingIfNeeded: try readVarint())
    }

    // MARK: - Trace messages

    /// ResourceSpans, ScopeSpans, ResourceLogs and ScopeLogs share one layout: field 1 is
    /// the resource or scope, field 2 the repeated children, field 3 the schema URL.
    mutating func decodeContainer<Header, Child>(
        _ headerName: StaticString, _ decodeHeader: (inout ProtobufReader) throws(TelemetryDecodingError) -> Header,
        _ childrenName: StaticString, _ decodeChild: (inout ProtobufReader) throws(TelemetryDecodingError) -> Child
    ) throws(TelemetryDecodingError) -> (header: Header?, children: [Child], schemaURL: String) {
        var header: Header?
        var children: [Child] = []
        var schemaURL = ""
        reserve(count(2).0, in: &children)
        var field: StaticString = ""
        var index = -1
        do throws(TelemetryDecodingError) {
            while !isAtEnd {
                let (number, wireType) = try readTag()
                switch number {
                case 1:
                    field = headerName
                    try expect(wireType, .lengthDelimited)
                    var child = try readMessage()
                    header = try decodeHeader(&child)
                case 2:
                    field = childrenName
                    index = children.count
                    try expect(wireType, .lengthDelimited)
                    var child = try readMessage()
                    children.append(try decodeChild(&child))
                    index = -1
                case 3:
                    field = "schemaUrl"
                    try expect(wireType, .lengthDelimited)
                    schemaURL = try readString()
                default:
                    try skip(wireType, field: number)
                }
                field = ""
            }
        } catch {
            throw error.within(field, index: index)
        }
        return (header, children, schemaURL)
    }

    /// With `locations` not nil, appends where each span message lies, in request order.
    mutating func decodeResourceSpans(
        locating locations: inout [ReceivedSpanBytes.Location]?
    ) throws(TelemetryDecodingError) -> ResourceSpans {
        let (resource, scopeSpans, schemaURL) = try decodeContainer(
            "resource", { (r: inout ProtobufReader) throws(TelemetryDecodingError) in try r.decodeResource() },
            "scopeSpans", { (r: inout ProtobufReader) throws(TelemetryDecodingError) in try r.decodeScopeSpans(locating: &locations) })
        return ResourceSpans(resource: resource, scopeSpans: scopeSpans, schemaURL: schemaURL)
    }

    mutating func decodeScopeSpans(
        locating locations: inout [ReceivedSpanBytes.Location]?
    ) throws(TelemetryDecodingError) -> ScopeSpans {
        let (scope, spans, schemaURL) = try decodeContainer(
            "scope", { (r: inout ProtobufReader) throws(TelemetryDecodingError) in try r.decodeScope() },
            "spans", { (r: inout ProtobufReader) throws(TelemetryDecodingError) in
                if locations != nil {
                    locations!.append(ReceivedSpanBytes.Location(offset: UInt32(r.offset), count: UInt32(r.remainingCount)))
                }
                return try r.decodeSpan()
            })
        return ScopeSpans(scope: scope, spans: spans, schemaURL: schemaURL)
    }

    /// The room a skimming decode makes for a span's kept attributes at the first of them.
    static let keptAttributesReserved = 4

    mutating func decodeSpan() throws(TelemetryDecodingError) -> Span {
        var span = Span(traceID: .zero, spanID: .zero, name: "", kind: .unspecified, startTimeUnixNano: 0, endTimeUnixNano: 0)
        // Skimming, only links are built, mostly one or none: not worth a pass to count them.
        if !skimsAttributes {
            let (attributes, events, links) = count(9, 11, 13)
            reserve(attributes, in: &span.attributes)
            reserve(events, in: &span.events)
            reserve(links, in: &span.links)
        }
        let (traceID, spanID) = try decodeSpanFields(into: &span)
        (span.traceID, span.spanID) = try Self.required(traceID, spanID)
        if skimsAttributes {
            allocated(span.attributes)
            allocated(span.events)
            allocated(span.links)
        }
        return span
    }

    /// A span's or link's IDs, both present and valid. trace.proto: "The ID of the trace ...
    /// An ID with all zeroes OR of length other than 16 bytes is considered invalid (empty
    /// string in OTLP/JSON is zero-length and thus is also invalid)." The same holds for
    /// span_id with 8 bytes.
    static func required(_ traceID: TraceID?, _ spanID: SpanID?) throws(TelemetryDecodingError) -> (TraceID, SpanID) {
        guard let traceID else { throw TelemetryDecodingError(path: "traceId", reason: "required, missing") }
        guard traceID.isValid else { throw TelemetryDecodingError(path: "traceId", reason: "all-zero trace ID is invalid") }
        guard let spanID else { throw TelemetryDecodingError(path: "spanId", reason: "required, missing") }
        guard spanID.isValid else { throw TelemetryDecodingError(path: "spanId", reason: "all-zero span ID is invalid") }
        return (traceID, spanID)
    }

    /// The span's fields, decoded into `span`, but for its IDs, which it returns. Apart from
    /// `decodeSpan` because there, inside the `do`/`catch` that names the failing field, the
    /// returned span was copied and the local destroyed (a retain and release of every
    /// array and string in it).
    private mutating func decodeSpanFields(into span: inout Span) throws(TelemetryDecodingError) -> (TraceID?, SpanID?) {
        var traceID: TraceID?
        var spanID: SpanID?
        var field: StaticString = ""
        var index = -1
        // Counted apart from the arrays, which a skimming decode leaves empty.
        var (attributesSeen, eventsSeen) = (0, 0)
        do throws(TelemetryDecodingError) {
            while !isAtEnd {
                let (number, wireType) = try readTag()
                switch number {
                case 1:
                    field = "traceId"
                    try expect(wireType, .lengthDelimited)
                    traceID = try readTraceID()
                case 2:
                    field = "spanId"
                    try expect(wireType, .lengthDelimited)
                    spanID = try readSpanID()
                case 3:
                    field = "traceState"
                    try expect(wireType, .lengthDelimited)
                    span.traceState = try readString()
                case 4:
                    field = "parentSpanId"
                    try expect(wireType, .lengthDelimited)
                    span.parentSpanID = try readOptionalSpanID()
                case 5:
                    field = "name"
                    try expect(wireType, .lengthDelimited)
                    span.name = try readString()
                case 6:
                    field = "kind"
                    try expect(wireType, .varint)
                    span.kind = SpanKind(rawValue: try readInt32Varint())
                case 7:
                    field = "startTimeUnixNano"
                    try expect(wireType, .fixed64)
                    span.startTimeUnixNano = try readFixed64()
                case 8:
                    field = "endTimeUnixNano"
                    try expect(wireType, .fixed64)
                    span.endTimeUnixNano = try readFixed64()
                case 9:
                    field = "attributes"
                    index = attributesSeen
                    attributesSeen += 1
                    try expect(wireType, .lengthDelimited)
                    var child = try readMessage()
                    if skimsAttributes {
                        if let kept = try child.skimKeyValue() {
                            // Grown one by one from empty, the array was allocated three times
                            // for a span's usual three or four kept attributes (a messaging
                            // span's topic, partition, offset, message ID, group).
                            if span.attributes.isEmpty { span.attributes.reserveCapacity(Self.keptAttributesReserved) }
                            span.attributes.append(kept)
                        }
                    } else {
                        span.attributes.append(try child.decodeKeyValue(depth: 0))
                    }
                    index = -1
                case 10:
                    field = "droppedAttributesCount"
                    try expect(wireType, .varint)
                    span.droppedAttributesCount = try readUInt32Varint()
                case 11:
                    field = "events"
                    index = eventsSeen
                    eventsSeen += 1
                    try expect(wireType, .lengthDelimited)
                    var child = try readMessage()
                    if skimsAttributes {
                        var whole = child
                        if keepsEvent(try child.validateEvent()) {
                            span.events.append(try whole.decodeEvent())
                        }
                    } else {
                        span.events.append(try child.decodeEvent())
                    }
                    index = -1
                case 12:
                    field = "droppedEventsCount"
                    try expect(wireType, .varint)
                    span.droppedEventsCount = try readUInt32Varint()
                case 13:
                    field = "links"
                    index = span.links.count
                    try expect(wireType, .lengthDelimited)
                    var child = try readMessage()
                    span.links.append(try child.decodeLink())
                    index = -1
                case 14:
                    field = "droppedLinksCount"
                    try expect(wireType, .varint)
                    span.droppedLinksCount = try readUInt32Varint()
                case 15:
                    field = "status"
                    try expect(wireType, .lengthDelimited)
                    var child = try readMessage()
                    span.status = try child.decodeStatus()
                case 16:
                    field = "flags"
                    try expect(wireType, .fixed32)
                    span.flags = try readFixed32()
                default:
                    try skip(wireType, field: number)
                }
                field = ""
            }
        } catch {
            throw error.within(field, index: index)
        }
        return (traceID, spanID)
    }

    mutating func decodeEvent() throws(TelemetryDecodingError) -> SpanEvent {
        var event = SpanEvent()
        reserve(count(3).0, in: &event.attributes)
        var field: StaticString = ""
        var index = -1
        do throws(TelemetryDecodingError) {
            while !isAtEnd {
                let (number, wireType) = try readTag()
                switch number {
                case 1:
                    field = "timeUnixNano"
                    try expect(wireType, .fixed64)
                    event.timeUnixNano = try readFixed64()
                case 2:
                    field = "name"
                    try expect(wireType, .lengthDelimited)
                    event.name = try readString()
                case 3:
                    field = "attributes"
                    index = event.attributes.count
                    try expect(wireType, .lengthDelimited)
                    var child = try readMessage()
                    event.attributes.append(try child.decodeKeyValue(depth: 0))
                    index = -1
                case 4:
                    field = "droppedAttributesCount"
                    try expect(wireType, .varint)
                    event.droppedAttributesCount = try readUInt32Varint()
                default:
                    try skip(wireType, field: number)
                }
                field = ""
            }
        } catch {
            throw error.within(field, index: index)
        }
        return event
    }

    mutating func decodeLink() throws(TelemetryDecodingError) -> SpanLink {
        var traceID: TraceID?
        var spanID: SpanID?
        var link = SpanLink(traceID: .zero, spanID: .zero)
        if !skimsAttributes { reserve(count(4).0, in: &link.attributes) }
        var field: StaticString = ""
        var index = -1
        var attributesSeen = 0
        do throws(TelemetryDecodingError) {
            while !isAtEnd {
                let (number, wireType) = try readTag()
                switch number {
                case 1:
                    field = "traceId"
                    try expect(wireType, .lengthDelimited)
                    traceID = try readTraceID()
                case 2:
                    field = "spanId"
                    try expect(wireType, .lengthDelimited)
                    spanID = try readSpanID()
                case 3:
                    field = "traceState"
                    try expect(wireType, .lengthDelimited)
                    link.traceState = try readString()
                case 4:
                    field = "attributes"
                    index = attributesSeen
                    attributesSeen += 1
                    try expect(wireType, .lengthDelimited)
                    var child = try readMessage()
                    if skimsAttributes {
                        try child.validateKeyValue(depth: 0)
                    } else {
                        link.attributes.append(try child.decodeKeyValue(depth: 0))
                    }
                    index = -1
                case 5:
                    field = "droppedAttributesCount"
                    try expect(wireType, .varint)
                    link.droppedAttributesCount = try readUInt32Varint()
                case 6:
                    field = "flags"
                    try expect(wireType, .fixed32)
                    link.flags = try readFixed32()
                default:
                    try skip(wireType, field: number)
                }
                field = ""
            }
        } catch {
            throw error.within(field, index: index)
        }
        (link.traceID, link.spanID) = try Self.required(traceID, spanID)
        return link
    }

    mutating func decodeStatus() throws(TelemetryDecodingError) -> SpanStatus {
        var status = SpanStatus()
        var field: StaticString = ""
        do throws(TelemetryDecodingError) {
            while !isAtEnd {
                let (number, wireType) = try readTag()
                switch number {
                case 2:
                    field = "message"
                    try expect(wireType, .lengthDelimited)
                    status.message = try readString()
                case 3:
                    field = "code"
                    try expect(wireType, .varint)
                    status.code = StatusCode(rawValue: try readInt32Varint())
                default:
                    // Field 1 is the deprecated `deprecated_code`; like any unknown field it is skipped.
                    try skip(wireType, field: number)
                }
                field = ""
            }
        } catch {
            throw error.within(field)
        }
        return status
    }

    // MARK: - Common messages

    mutating func decodeResource() throws(TelemetryDecodingError) -> Resource {
        var resource = Resource()
        reserve(count(1).0, in: &resource.attributes)
        var field: StaticString = ""
        var index = -1
        do throws(TelemetryDecodingError) {
            while !isAtEnd {
                let (number, wireType) = try readTag()
                switch number {
                case 1:
                    field = "attributes"
                    index = resource.attributes.count
                    try expect(wireType, .lengthDelimited)
                    var child = try readMessage()
                    resource.attributes.append(try child.decodeKeyValue(depth: 0))
                    index = -1
                case 2:
                    field = "droppedAttributesCount"
                    try expect(wireType, .varint)
                    resource.droppedAttributesCount = try readUInt32Varint()
                default:
                    try skip(wireType, field: number)
                }
                field = ""
            }
        } catch {
            throw error.within(field, index: index)
        }
        return resource
    }

    mutating func decodeScope() throws(TelemetryDecodingError) -> InstrumentationScope {
        var scope = InstrumentationScope()
        var field: StaticString = ""
        var index = -1
        do throws(TelemetryDecodingError) {
            while !isAtEnd {
                let (number, wireType) = try readTag()
                switch number {
                case 1:
                    field = "name"
                    try expect(wireType, .lengthDelimited)
                    scope.name = try readString()
                case 2:
                    field = "version"
                    try expect(wireType, .lengthDelimited)
                    scope.version = try readString()
                case 3:
                    field = "attributes"
                    index = scope.attributes.count
                    try expect(wireType, .lengthDelimited)
                    var child = try readMessage()
                    scope.attributes.append(try child.decodeKeyValue(depth: 0))
                    index = -1
                case 4:
                    field = "droppedAttributesCount"
                    try expect(wireType, .varint)
                    scope.droppedAttributesCount = try readUInt32Varint()
                default:
                    try skip(wireType, field: number)
                }
                field = ""
            }
        } catch {
            throw error.within(field, index: index)
        }
        allocated(scope.attributes)
        return scope
    }

    mutating func decodeKeyValue(depth: Int) throws(TelemetryDecodingError) -> KeyValue {
        var key = ""
        var value = AnyValue.empty
        var field: StaticString = ""
        do throws(TelemetryDecodingError) {
            while !isAtEnd {
                let (number, wireType) = try readTag()
                switch number {
                case 1:
                    field = "key"
                    try expect(wireType, .lengthDelimited)
                    key = try readString()
                case 2:
                    field = "value"
                    try expect(wireType, .lengthDelimited)
                    var child = try readMessage()
                    value = try child.decodeAnyValue(depth: depth)
                default:
                    try skip(wireType, field: number)
                }
                field = ""
            }
        } catch {
            throw error.within(field)
        }
        return KeyValue(key: key, value: value)
    }

    /// An `AnyValue` is a oneof: the last field on the wire wins, as protobuf says.
    mutating func decodeAnyValue(depth: Int) throws(TelemetryDecodingError) -> AnyValue {
        var value = AnyValue.empty
        var field: StaticString = ""
        var index = -1
        do throws(TelemetryDecodingError) {
            while !isAtEnd {
                let (number, wireType) = try readTag()
                switch number {
                case 1:
                    field = "stringValue"
                    try expect(wireType, .lengthDelimited)
                    value = .string(try readString())
                case 2:
                    field = "boolValue"
                    try expect(wireType, .varint)
                    value = .bool(try readVarint() != 0)
                case 3:
                    field = "intValue"
                    try expect(wireType, .varint)
                    value = .int(Int64(bitPattern: try readVarint()))
                case 4:
                    field = "doubleValue"
                    try expect(wireType, .fixed64)
                    value = .double(Double(bitPattern: try readFixed64()))
                case 5, 6:
                    let isArray = number == 5
                    field = isArray ? "arrayValue" : "kvlistValue"
                    try expect(wireType, .lengthDelimited)
                    guard depth < DecodingLimits.maxAnyValueDepth else {
                        throw TelemetryDecodingError(
                            reason: "AnyValue nested more than \(DecodingLimits.maxAnyValueDepth) deep")
                    }
                    var list = try readMessage()
                    var values: [AnyValue] = []
                    var pairs: [KeyValue] = []
                    while !list.isAtEnd {
                        let (entry, entryWireType) = try list.readTag()
                        guard entry == 1 else {
                            try list.skip(entryWireType, field: entry)
                            continue
                        }
                        try list.expect(entryWireType, .lengthDelimited)
                        var element = try list.readMessage()
                        if isArray {
                            index = values.count
                            values.append(try element.decodeAnyValue(depth: depth + 1))
                        } else {
                            index = pairs.count
                            pairs.append(try element.decodeKeyValue(depth: depth + 1))
                        }
                        index = -1
                    }
                    if isArray { allocated(values) } else { allocated(pairs) }
                    value = isArray ? .array(values) : .keyValueList(pairs)
                case 7:
                    field = "bytesValue"
                    try expect(wireType, .lengthDelimited)
                    value = .bytes(try readBytes())
                default:
                    try skip(wireType, field: number)
                }
                field = ""
            }
        } catch {
            if index >= 0 {
                throw error.within("values", index: index).within(field)
            }
            throw error.within(field)
        }
        return value
    }

    // MARK: - Log messages

    mutating func decodeResourceLogs() throws(TelemetryDecodingError) -> ResourceLogs {
        let (resource, scopeLogs, schemaURL) = try decodeContainer(
            "resource", { (r: inout ProtobufReader) throws(TelemetryDecodingError) in try r.decodeResource() },
            "scopeLogs", { (r: inout ProtobufReader) throws(TelemetryDecodingError) in try r.decodeScopeLogs() })
        return ResourceLogs(resource: resource, scopeLogs: scopeLogs, schemaURL: schemaURL)
    }

    mutating func decodeScopeLogs() throws(TelemetryDecodingError) -> ScopeLogs {
        let (scope, logRecords, schemaURL) = try decodeContainer(
            "scope", { (r: inout ProtobufReader) throws(TelemetryDecodingError) in try r.decodeScope() },
            "logRecords", { (r: inout ProtobufReader) throws(TelemetryDecodingError) in try r.decodeLogRecord() })
        return ScopeLogs(scope: scope, logRecords: logRecords, schemaURL: schemaURL)
    }

    mutating func decodeLogRecord() throws(TelemetryDecodingError) -> LogRecord {
        var record = LogRecord()
        reserve(count(6).0, in: &record.attributes)
        var field: StaticString = ""
        var index = -1
        do throws(TelemetryDecodingError) {
            while !isAtEnd {
                let (number, wireType) = try readTag()
                switch number {
                case 1:
                    field = "timeUnixNano"
                    try expect(wireType, .fixed64)
                    record.timeUnixNano = try readFixed64()
                case 2:
                    field = "severityNumber"
                    try expect(wireType, .varint)
                    record.severityNumber = SeverityNumber(rawValue: try readInt32Varint())
                case 3:
                    field = "severityText"
                    try expect(wireType, .lengthDelimited)
                    record.severityText = try readString()
                case 5:
                    field = "body"
                    try expect(wireType, .lengthDelimited)
                    var child = try readMessage()
                    record.body = try child.decodeAnyValue(depth: 0)
                case 6:
                    field = "attributes"
                    index = record.attributes.count
                    try expect(wireType, .lengthDelimited)
                    var child = try readMessage()
                    record.attributes.append(try child.decodeKeyValue(depth: 0))
                    index = -1
                case 7:
                    field = "droppedAttributesCount"
                    try expect(wireType, .varint)
                    record.droppedAttributesCount = try readUInt32Varint()
                case 8:
                    field = "flags"
                    try expect(wireType, .fixed32)
                    record.flags = try readFixed32()
                case 9:
                    field = "traceId"
                    try expect(wireType, .lengthDelimited)
                    record.traceID = try readOptionalTraceID()
                case 10:
                    field = "spanId"
                    try expect(wireType, .lengthDelimited)
                    record.spanID = try readOptionalSpanID()
                case 11:
                    field = "observedTimeUnixNano"
                    try expect(wireType, .fixed64)
                    record.observedTimeUnixNano = try readFixed64()
                case 12:
                    field = "eventName"
                    try expect(wireType, .lengthDelimited)
                    record.eventName = try readString()
                default:
                    try skip(wireType, field: number)
                }
                field = ""
            }
        } catch {
            throw error.within(field, index: index)
        }
        return record
    }

    // MARK: - Responses and google.rpc.Status

    /// Both export responses are `{ partial_success = 1 { rejected = 1 (int64); error_message = 2 } }`.
    mutating func decodePartialSuccessEnvelope(
        countName: StaticString
    ) throws(TelemetryDecodingError) -> (rejected: Int64?, message: String) {
        var rejected: Int64?
        var message = ""
        var field: StaticString = ""
        var inner: StaticString = ""
        do throws(TelemetryDecodingError) {
            while !isAtEnd {
                let (number, wireType) = try readTag()
                guard number == 1 else {
                    try skip(wireType, field: number)
                    continue
                }
                field = "partialSuccess"
                try expect(wireType, .lengthDelimited)
                var child = try readMessage()
                rejected = rejected ?? 0
                while !child.isAtEnd {
                    let (innerNumber, innerWireType) = try child.readTag()
                    switch innerNumber {
                    case 1:
                        inner = countName
                        try child.expect(innerWireType, .varint)
                        rejected = Int64(bitPattern: try child.readVarint())
                    case 2:
                        inner = "errorMessage"
                        try child.expect(innerWireType, .lengthDelimited)
                        message = try child.readString()
                    default:
                        try child.skip(innerWireType, field: innerNumber)
                    }
                    inner = ""
                }
                field = ""
            }
        } catch {
            throw error.within(inner).within(field)
        }
        return (rejected, message)
    }

    mutating func decodeRPCStatus() throws(TelemetryDecodingError) -> RPCStatus {
        var status = RPCStatus(code: 0, message: "")
        var field: StaticString = ""
        var index = -1
        do throws(TelemetryDecodingError) {
            while !isAtEnd {
                let (number, wireType) = try readTag()
                switch number {
                case 1:
                    field = "code"
                    try expect(wireType, .varint)
                    status.code = try readInt32Varint()
                case 2:
                    field = "message"
                    try expect(wireType, .lengthDelimited)
                    status.message = try readString()
                case 3:
                    field = "details"
                    index = status.details.count
                    try expect(wireType, .lengthDelimited)
                    var child = try readMessage()
                    var any = ProtobufAny(typeURL: "", value: [])
                    while !child.isAtEnd {
                        let (anyNumber, anyWireType) = try child.readTag()
                        switch anyNumber {
                        case 1:
                            try child.expect(anyWireType, .lengthDelimited)
                            any.typeURL = try child.readString()
                        case 2:
                            try child.expect(anyWireType, .lengthDelimited)
                            any.value = try child.readBytes()
                        default:
                            try child.skip(anyWireType, field: anyNumber)
                        }
                    }
                    status.details.append(any)
                    index = -1
                default:
                    try skip(wireType, field: number)
                }
                field = ""
            }
        } catch {
            throw error.within(field, index: index)
        }
        return status
    }
}

extension TelemetryDecodingError {
    /// `within` for the decoders' bookkeeping: an empty field name adds nothing, and a
    /// negative index means "not a repeated field".
    @inline(never)
    func within(_ field: StaticString, index: Int = -1) -> TelemetryDecodingError {
        guard field.utf8CodeUnitCount > 0 else { return self }
        return within(field.description, index: index >= 0 ? index : nil)
    }
}
