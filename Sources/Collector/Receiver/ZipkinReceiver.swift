import HTTPTypes
import Hummingbird
import Logging
import Metrics
import NIOCore
import Telemetry

/// The Zipkin v2 receiver: `POST /api/v2/spans` with a JSON array of spans (gzip allowed),
/// answered 202 as Zipkin's own server does.
struct ZipkinReceiver: Sendable {
    var pipeline: TelemetryPipeline
    var gate: ReceiverGate
    var body: RequestBodyReader
    var retryAfterSeconds: Int
    var logger: Logger

    private let acceptedSpans = Counter(label: "causeway_receiver_accepted_spans_total", dimensions: [("receiver", "zipkin")])
    private let refusedSpans = Counter(label: "causeway_receiver_refused_spans_total", dimensions: [("receiver", "zipkin")])
    /// Requests refused 429/503 before they were decoded, whose spans are therefore not counted.
    private let refusedUndecoded = Counter(label: "causeway_receiver_refused_undecoded_requests_total", dimensions: [("receiver", "zipkin")])

    init(pipeline: TelemetryPipeline, configuration: CollectorConfiguration.Receiver, retryAfterSeconds: Int, logger: Logger) {
        self.pipeline = pipeline
        self.gate = ReceiverGate(bearerToken: configuration.bearerToken)
        self.body = RequestBodyReader(limit: configuration.maxRequestBodySize)
        self.retryAfterSeconds = retryAfterSeconds
        self.logger = logger
    }

    func respond(to request: Request) async throws -> Response {
        guard request.uri.path == "/api/v2/spans" else {
            return .text(.notFound, "no Zipkin endpoint at \(request.uri.path); this receiver serves /api/v2/spans")
        }
        guard request.method == .post else {
            return .text(.methodNotAllowed, "\(request.method) is not allowed; /api/v2/spans takes POST", headers: [.allow: "POST"])
        }
        guard gate.authorizes(request) else {
            return .text(.unauthorized, "missing or wrong bearer token", headers: [.wwwAuthenticate: "Bearer"])
        }
        let declared = mediaType(request.headers[.contentType])
        // Zipkin's reporters send JSON as application/json; some send no type at all.
        guard declared == nil || declared == "application/json" || declared == "text/plain" else {
            return .text(.unsupportedMediaType, "unsupported Content-Type \"\(declared!)\"; this receiver reads Zipkin v2 JSON (application/json)")
        }
        let bytes: ByteBuffer
        do {
            bytes = try await body.read(request)
        } catch let fault as RequestBodyFault {
            switch fault {
            case .tooLarge(let limit): return .text(.contentTooLarge, "request body exceeds \(limit) bytes after decompression")
            case .unsupportedEncoding(let name): return .text(.unsupportedMediaType, "unsupported Content-Encoding \"\(name)\"; expected gzip or identity")
            case .corrupt(let reason): return .text(.badRequest, reason)
            }
        }
        if bytes.readableBytes == 0 { return Response(status: .accepted) }
        if let refusal = refusal(pipeline.admission(forReceived: bytes.readableBytes, .jsonSpans)) {
            refusedUndecoded.increment()
            return refusal
        }
        let traces: ExportTraceServiceRequest
        do {
            traces = try bytes.withUnsafeReadableBytes { try ZipkinV2JSON.decode($0) }
        } catch {
            return .text(.badRequest, "cannot decode the Zipkin v2 JSON spans: \(error)")
        }
        let count = traces.spanCount
        if count > 0, let refusal = refusal(pipeline.submit(traces, receivedBytes: bytes.readableBytes, .jsonSpans)) {
            refusedSpans.increment(by: count)
            return refusal
        }
        acceptedSpans.increment(by: count)
        return Response(status: .accepted)
    }

    /// The 429 or 503 answer for a refused request.
    private func refusal(_ admission: PipelineAdmission) -> Response? {
        switch admission {
        case .accepted: nil
        case .full: .text(.tooManyRequests, "the collector's memory limit is reached; retry later", headers: [.retryAfter: String(retryAfterSeconds)])
        case .closed: .text(.serviceUnavailable, "the collector is shutting down; retry later", headers: [.retryAfter: String(retryAfterSeconds)])
        }
    }
}
