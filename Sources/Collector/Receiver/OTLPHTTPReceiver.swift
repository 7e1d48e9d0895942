import HTTPTypes
import Hummingbird
import Logging
import Metrics
import NIOCore
import Telemetry

/// The OTLP/HTTP receiver: `POST /v1/traces` and `POST /v1/logs`, protobuf or JSON,
/// identity, gzip or deflate, following https://opentelemetry.io/docs/specs/otlp/#otlphttp.
struct OTLPHTTPReceiver: Sendable {
    enum Encoding {
        case protobuf
        case json

        var contentType: String {
            switch self {
            case .protobuf: "application/x-protobuf"
            case .json: "application/json"
            }
        }
    }

    /// `google.rpc.Code` values used in error bodies.
    enum RPCCode {
        static let invalidArgument: Int32 = 3
        static let resourceExhausted: Int32 = 8
        static let unauthenticated: Int32 = 16
        static let unavailable: Int32 = 14
        static let unimplemented: Int32 = 12
    }

    var pipeline: TelemetryPipeline
    var gate: ReceiverGate
    var body: RequestBodyReader
    var retryAfterSeconds: Int
    var acceptsTraces: Bool
    var acceptsLogs: Bool
    var logger: Logger

    private let acceptedSpans = Counter(label: "causeway_receiver_accepted_spans_total", dimensions: [("receiver", "otlp")])
    private let refusedSpans = Counter(label: "causeway_receiver_refused_spans_total", dimensions: [("receiver", "otlp")])
    private let acceptedLogs = Counter(label: "causeway_receiver_accepted_log_records_total", dimensions: [("receiver", "otlp")])
    private let refusedLogs = Counter(label: "causeway_receiver_refused_log_records_total", dimensions: [("receiver", "otlp")])
    /// Requests refused 429/503 before they were decoded, whose spans or records are therefore not counted.
    private let refusedUndecoded = Counter(label: "causeway_receiver_refused_undecoded_requests_total", dimensions: [("receiver", "otlp")])

    init(
        pipeline: TelemetryPipeline, configuration: CollectorConfiguration.Receiver, retryAfterSeconds: Int,
        acceptsTraces: Bool, acceptsLogs: Bool, logger: Logger
    ) {
        self.pipeline = pipeline
        self.gate = ReceiverGate(bearerToken: configuration.bearerToken)
        self.body = RequestBodyReader(limit: configuration.maxRequestBodySize)
        self.retryAfterSeconds = retryAfterSeconds
        self.acceptsTraces = acceptsTraces
        self.acceptsLogs = acceptsLogs
        self.logger = logger
    }

    func respond(to request: Request) async throws -> Response {
        let isTraces: Bool
        switch request.uri.path {
        case "/v1/traces" where acceptsTraces: isTraces = true
        case "/v1/logs" where acceptsLogs: isTraces = false
        default:
            return .text(.notFound, "no OTLP/HTTP endpoint at \(request.uri.path); this receiver serves \(servedPaths)")
        }
        let declared = mediaType(request.headers[.contentType])
        let encoding: Encoding? =
            switch declared {
            case "application/x-protobuf", "application/protobuf": .protobuf
            case "application/json": .json
            default: nil
            }
        // Error bodies use the request's content type; JSON when it is not one of OTLP's.
        let replyEncoding = encoding ?? .json
        guard request.method == .post else {
            return status(.methodNotAllowed, RPCCode.unimplemented, "\(request.method) is not allowed; OTLP/HTTP takes POST", replyEncoding, headers: [.allow: "POST"])
        }
        guard gate.authorizes(request) else {
            return status(.unauthorized, RPCCode.unauthenticated, "missing or wrong bearer token", replyEncoding, headers: [.wwwAuthenticate: "Bearer"])
        }
        guard let encoding else {
            return status(
                .unsupportedMediaType, RPCCode.invalidArgument,
                "unsupported Content-Type \(declared.map { "\"\($0)\"" } ?? "(none)"); expected application/x-protobuf or application/json",
                replyEncoding)
        }
        let received: ReadBody
        do {
            received = try await body.readKeepingGzip(request)
        } catch let fault as RequestBodyFault {
            switch fault {
            case .tooLarge(let limit):
                return status(.contentTooLarge, RPCCode.invalidArgument, "request body exceeds \(limit) bytes after decompression", encoding)
            case .unsupportedEncoding(let name):
                return status(.unsupportedMediaType, RPCCode.invalidArgument, "unsupported Content-Encoding \"\(name)\"; expected gzip, deflate or identity", encoding)
            case .corrupt(let reason):
                return status(.badRequest, RPCCode.invalidArgument, reason, encoding)
            }
        }
        let kind: TelemetryPipeline.BodyKind = switch (isTraces, encoding) {
        case (true, .protobuf): .protobufSpans
        case (true, .json): .jsonSpans
        case (false, .protobuf): .protobufLogs
        case (false, .json): .jsonLogs
        }
        if let refusal = refusal(pipeline.admission(forReceived: received.bytes.readableBytes, kind), encoding) {
            refusedUndecoded.increment()
            return refusal
        }
        return isTraces ? receiveTraces(received, encoding) : receiveLogs(received.bytes, encoding)
    }

    /// The 429 or 503 answer for a refused request.
    private func refusal(_ admission: PipelineAdmission, _ encoding: Encoding) -> Response? {
        switch admission {
        case .accepted: nil
        case .full: status(.tooManyRequests, RPCCode.resourceExhausted, "the collector's memory limit is reached; retry later", encoding, headers: retryAfter)
        case .closed: status(.serviceUnavailable, RPCCode.unavailable, "the collector is shutting down; retry later", encoding, headers: retryAfter)
        }
    }

    private var servedPaths: String {
        [acceptsTraces ? "/v1/traces" : nil, acceptsLogs ? "/v1/logs" : nil].compactMap { $0 }.joined(separator: " and ")
    }

    private func receiveTraces(_ received: ReadBody, _ encoding: Encoding) -> Response {
        var traces: ExportTraceServiceRequest
        do {
            traces = try received.bytes.withUnsafeReadableBytes { buffer in
                switch encoding {
                case .protobuf:
                    try ExportTraceServiceRequest(protobuf: buffer, keepingSpanBytes: true, skimming: pipeline.attributeSkim)
                case .json: try ExportTraceServiceRequest(otlpJSON: buffer)
                }
            }
        } catch {
            return status(.badRequest, RPCCode.invalidArgument, "cannot decode the ExportTraceServiceRequest: \(error)", encoding)
        }
        // A fifth or so of the protobuf's size; forgotten with the protobuf if a span is dropped below.
        if pipeline.keepsReceivedGzip, encoding == .protobuf, let gzip = received.gzip { traces.keepReceivedGzip(Array(gzip.readableBytesView)) }
        // The decoder already refuses whole requests with invalid IDs. A span that ends
        // before it starts decodes but has no duration to show or stitch: drop it and say
        // so in partial_success (OTLP/HTTP "Partial Success").
        var rejected = 0
        var firstFault = ""
        if Self.hasSpanEndingBeforeStart(traces) {
            // The request changes, and is encoded again rather than forwarded: it must be whole.
            traces.decodeSkimmedAttributes()
            (rejected, firstFault) = Self.dropSpansEndingBeforeStart(&traces)
        }
        let count = traces.spanCount
        if count > 0, let refusal = refusal(pipeline.submit(traces, receivedBytes: received.bytes.readableBytes, encoding == .protobuf ? .protobufSpans : .jsonSpans), encoding) {
            refusedSpans.increment(by: count + rejected)
            return refusal
        }
        acceptedSpans.increment(by: count)
        if rejected > 0 { refusedSpans.increment(by: rejected) }
        let response = ExportTraceServiceResponse(
            partialSuccess: rejected > 0
                ? ExportTracePartialSuccess(rejectedSpans: Int64(rejected), errorMessage: "\(rejected) span(s) rejected; first: \(firstFault)") : nil)
        return .bytes(.ok, contentType: encoding.contentType, encoding == .protobuf ? response.protobufBytes() : response.otlpJSONBytes())
    }

    private static func endsBeforeStart(_ span: Span) -> Bool { span.endTimeUnixNano < span.startTimeUnixNano }

    /// Whether some span ends before it starts, read in place (`forEachInPlace`): passing
    /// each span to a predicate copied it (a dozen reference counts), about 1 % of the
    /// collector's CPU.
    private static func hasSpanEndingBeforeStart(_ traces: ExportTraceServiceRequest) -> Bool {
        var found = false
        for resourceSpans in traces.resourceSpans {
            for scopeSpans in resourceSpans.scopeSpans {
                scopeSpans.spans.forEachInPlace { found = found || endsBeforeStart($0.pointee) }
            }
        }
        return found
    }

    /// Drops the spans that end before they start; returns how many, and where the first was.
    private static func dropSpansEndingBeforeStart(_ traces: inout ExportTraceServiceRequest) -> (count: Int, first: String) {
        var dropped = 0
        var first = ""
        for r in traces.resourceSpans.indices {
            for s in traces.resourceSpans[r].scopeSpans.indices {
                let spans = traces.resourceSpans[r].scopeSpans[s].spans
                // Looked for before filtering, which copies every span.
                guard let index = spans.firstIndex(where: endsBeforeStart) else { continue }
                if dropped == 0 {
                    first = "resourceSpans[\(r)].scopeSpans[\(s)].spans[\(index)].endTimeUnixNano: before startTimeUnixNano"
                }
                let valid = spans.filter { !endsBeforeStart($0) }
                dropped += spans.count - valid.count
                traces.resourceSpans[r].scopeSpans[s].spans = valid
            }
        }
        return (dropped, first)
    }

    private func receiveLogs(_ bytes: ByteBuffer, _ encoding: Encoding) -> Response {
        let logs: ExportLogsServiceRequest
        do {
            logs = try bytes.withUnsafeReadableBytes { buffer in
                switch encoding {
                case .protobuf: try ExportLogsServiceRequest(protobuf: buffer)
                case .json: try ExportLogsServiceRequest(otlpJSON: buffer)
                }
            }
        } catch {
            return status(.badRequest, RPCCode.invalidArgument, "cannot decode the ExportLogsServiceRequest: \(error)", encoding)
        }
        let count = logs.logRecordCount
        if count > 0, let refusal = refusal(pipeline.submit(logs, receivedBytes: bytes.readableBytes, encoding == .protobuf ? .protobufLogs : .jsonLogs), encoding) {
            refusedLogs.increment(by: count)
            return refusal
        }
        acceptedLogs.increment(by: count)
        let response = ExportLogsServiceResponse()
        return .bytes(.ok, contentType: encoding.contentType, encoding == .protobuf ? response.protobufBytes() : response.otlpJSONBytes())
    }

    private var retryAfter: HTTPFields { [.retryAfter: String(retryAfterSeconds)] }

    /// An error answer: a `google.rpc.Status` in the request's encoding.
    private func status(_ status: HTTPResponse.Status, _ code: Int32, _ message: String, _ encoding: Encoding, headers: HTTPFields = [:]) -> Response {
        let body = RPCStatus(code: code, message: message)
        return .bytes(status, contentType: encoding.contentType, encoding == .protobuf ? body.protobufBytes() : body.otlpJSONBytes(), headers: headers)
    }
}
