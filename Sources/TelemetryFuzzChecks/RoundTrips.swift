public import Telemetry

/// The messages with both OTLP codecs.
public protocol OTLPMessage {
    init(protobuf: [UInt8]) throws(TelemetryDecodingError)
    init(otlpJSON: [UInt8]) throws(TelemetryDecodingError)
    func protobufBytes() -> [UInt8]
    func otlpJSONBytes() -> [UInt8]
    /// Every NaN double replaced by `Double.nan`: OTLP JSON writes any NaN as `"NaN"`, so
    /// the payload bits of a NaN cannot survive it, and need not.
    mutating func canonicalizeNaNs()
}

extension OTLPMessage {
    public mutating func canonicalizeNaNs() {}
}

extension ExportTraceServiceRequest: OTLPMessage {
    public mutating func canonicalizeNaNs() {
        for r in resourceSpans.indices {
            resourceSpans[r].resource?.attributes.canonicalizeNaNs()
            for s in resourceSpans[r].scopeSpans.indices {
                resourceSpans[r].scopeSpans[s].scope?.attributes.canonicalizeNaNs()
                for i in resourceSpans[r].scopeSpans[s].spans.indices {
                    resourceSpans[r].scopeSpans[s].spans[i].canonicalizeNaNs()
                }
            }
        }
    }
}

extension ExportLogsServiceRequest: OTLPMessage {
    public mutating func canonicalizeNaNs() {
        for r in resourceLogs.indices {
            resourceLogs[r].resource?.attributes.canonicalizeNaNs()
            for s in resourceLogs[r].scopeLogs.indices {
                resourceLogs[r].scopeLogs[s].scope?.attributes.canonicalizeNaNs()
                for i in resourceLogs[r].scopeLogs[s].logRecords.indices {
                    resourceLogs[r].scopeLogs[s].logRecords[i].attributes.canonicalizeNaNs()
                    resourceLogs[r].scopeLogs[s].logRecords[i].body?.canonicalizeNaNs()
                }
            }
        }
    }
}

extension ExportTraceServiceResponse: OTLPMessage {}
extension ExportLogsServiceResponse: OTLPMessage {}
extension RPCStatus: OTLPMessage {}

extension Span {
    mutating func canonicalizeNaNs() {
        attributes.canonicalizeNaNs()
        for e in events.indices { events[e].attributes.canonicalizeNaNs() }
        for l in links.indices { links[l].attributes.canonicalizeNaNs() }
    }
}

extension [KeyValue] {
    mutating func canonicalizeNaNs() {
        for i in indices { self[i].value.canonicalizeNaNs() }
    }
}

extension AnyValue {
    mutating func canonicalizeNaNs() {
        switch self {
        case .double(let value) where value.isNaN:
            self = .double(.nan)
        case .array(var values):
            for i in values.indices { values[i].canonicalizeNaNs() }
            self = .array(values)
        case .keyValueList(var list):
            list.canonicalizeNaNs()
            self = .keyValueList(list)
        default:
            break
        }
    }
}

/// Whatever decoded must come back unchanged through our own protobuf and our own OTLP
/// JSON: each format exactly, byte for byte, and across formats up to NaN payloads.
/// Bytes are compared rather than models because a NaN is unequal to itself.
public func checkRoundTrips<Message: OTLPMessage>(_ message: Message) {
    let protobuf = message.protobufBytes()
    let json = message.otlpJSONBytes()
    let fromProtobuf: Message
    let fromJSON: Message
    do {
        fromProtobuf = try Message(protobuf: protobuf)
    } catch {
        fatalError("\(Message.self): our own protobuf does not decode: \(error)")
    }
    do {
        fromJSON = try Message(otlpJSON: json)
    } catch {
        fatalError("\(Message.self): our own OTLP JSON does not decode: \(error)")
    }
    if fromProtobuf.protobufBytes() != protobuf {
        fatalError("\(Message.self): protobuf encode→decode→encode changed the bytes")
    }
    if fromJSON.otlpJSONBytes() != json {
        fatalError("\(Message.self): OTLP JSON encode→decode→encode changed the bytes")
    }
    var original = message
    var crossed = fromJSON
    original.canonicalizeNaNs()
    crossed.canonicalizeNaNs()
    if crossed.protobufBytes() != original.protobufBytes() {
        fatalError("\(Message.self): OTLP JSON encode→decode lost or changed a field")
    }
}

/// Zipkin cannot carry everything OTLP can, and tags are a JSON object whose order means
/// nothing, so bytes may differ; but our own Zipkin output must decode, to the same spans.
public func checkZipkinRoundTrip(_ request: ExportTraceServiceRequest) {
    let decoded: ExportTraceServiceRequest
    do {
        decoded = try ZipkinV2JSON.decode(ZipkinV2JSON.encode(request))
    } catch {
        fatalError("our own Zipkin v2 JSON does not decode: \(error)")
    }
    if spanIdentities(decoded) != spanIdentities(request) {
        fatalError("Zipkin encode→decode lost, added or changed a span's IDs")
    }
}

private struct SpanIdentity: Hashable, Comparable {
    var traceID: TraceID
    var spanID: SpanID
    var parentSpanID: SpanID?

    static func < (lhs: SpanIdentity, rhs: SpanIdentity) -> Bool {
        (lhs.traceID, lhs.spanID, lhs.parentSpanID?.value ?? 0)
            < (rhs.traceID, rhs.spanID, rhs.parentSpanID?.value ?? 0)
    }
}

private func spanIdentities(_ request: ExportTraceServiceRequest) -> [SpanIdentity] {
    var result: [SpanIdentity] = []
    for resourceSpans in request.resourceSpans {
        for scopeSpans in resourceSpans.scopeSpans {
            for span in scopeSpans.spans {
                result.append(SpanIdentity(traceID: span.traceID, spanID: span.spanID, parentSpanID: span.parentSpanID))
            }
        }
    }
    return result.sorted()
}
