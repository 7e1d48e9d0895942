import AsyncHTTPClient
import CompressNIO
public import Logging
import NIOCore
import NIOHTTP1
public import Telemetry
import Synchronization
import Tracing

/// The outcome of one export.
public enum OTLPExportResult: Hashable, Sendable {
    /// The collector took the batch; `rejected` items of it were refused all the same
    /// (`partial_success`).
    case success(rejected: Int64)
    /// The batch is lost: refused (400 and other non-retryable codes), or still failing
    /// after the retries the policy and the timeout allow.
    case failure(String)
}

/// Sends OTLP/HTTP export requests (https://opentelemetry.io/docs/specs/otlp/#otlphttp)
/// with AsyncHTTPClient: protobuf or JSON bodies, optional gzip, configured headers,
/// retries with exponential backoff and jitter that honour `Retry-After`.
///
/// Failures are logged, never thrown: telemetry must not take the service down.
public final class OTLPHTTPExporter: Sendable {
    /// The exporter's settings.
    public let configuration: OTLPExporterConfiguration
    let logger: Logger
    /// Made on the first export, because an `HTTPClient` must be shut down before it is
    /// released, and an SDK that never exports should not need that.
    private let client = Mutex<ClientState>(.notCreated)

    private enum ClientState {
        case notCreated
        case running(HTTPClient)
        case shutDown
    }

    /// Creates an exporter with its own HTTP client; call ``shutdown()`` when done.
    public init(configuration: OTLPExporterConfiguration, logger: Logger = Logger(label: "causeway.otlp")) {
        self.configuration = configuration
        self.logger = logger
    }

    /// The client; `nil` after ``shutdown()``.
    private var httpClient: HTTPClient? {
        client.withLock { state in
            switch state {
            case .running(let client): return client
            case .shutDown: return nil
            case .notCreated: break
            }
            var configuration = HTTPClient.Configuration()
            // AsyncHTTPClient traces its requests with the bootstrapped tracer: here that
            // is our own, and every export would make a span that makes an export.
            configuration.tracing.tracer = nil
            let created = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
            state = .running(created)
            return created
        }
    }

    /// Posts spans to the traces endpoint.
    public func export(_ request: ExportTraceServiceRequest) async -> OTLPExportResult {
        let settings = configuration.effective(configuration.tracesOverrides)
        let body = settings.wireProtocol == .httpJSON ? request.otlpJSONBytes() : request.protobufBytes()
        let outcome = await post(
            body, settings: settings, to: configuration.tracesEndpoint, extraHeaders: configuration.tracesHeaders,
            items: request.spanCount, noun: "spans")
        guard case .accepted(let responseBody, let isJSON) = outcome else {
            if case .refused(let reason) = outcome { return .failure(reason) }
            return .failure("unreachable")
        }
        let response: ExportTraceServiceResponse?
        if responseBody.isEmpty {
            response = ExportTraceServiceResponse()
        } else if isJSON {
            response = try? ExportTraceServiceResponse(otlpJSON: responseBody)
        } else {
            response = try? ExportTraceServiceResponse(protobuf: responseBody)
        }
        // "The client MUST NOT retry the request when it receives a partial success
        // response" (OTLP spec, "Partial Success"); the rejection is only reported.
        guard let partial = response?.partialSuccess, partial.rejectedSpans > 0 || !partial.errorMessage.isEmpty
        else { return .success(rejected: 0) }
        logger.warning(
            "OTLP collector rejected spans",
            metadata: [
                "rejected": "\(partial.rejectedSpans)", "of": "\(request.spanCount)",
                "message": "\(partial.errorMessage)", "endpoint": "\(configuration.tracesEndpoint)",
            ])
        return .success(rejected: partial.rejectedSpans)
    }

    /// Posts log records to the logs endpoint.
    public func export(_ request: ExportLogsServiceRequest) async -> OTLPExportResult {
        let settings = configuration.effective(configuration.logsOverrides)
        let body = settings.wireProtocol == .httpJSON ? request.otlpJSONBytes() : request.protobufBytes()
        let outcome = await post(
            body, settings: settings, to: configuration.logsEndpoint, extraHeaders: configuration.logsHeaders,
            items: request.logRecordCount, noun: "log records")
        guard case .accepted(let responseBody, let isJSON) = outcome else {
            if case .refused(let reason) = outcome { return .failure(reason) }
            return .failure("unreachable")
        }
        let response: ExportLogsServiceResponse?
        if responseBody.isEmpty {
            response = ExportLogsServiceResponse()
        } else if isJSON {
            response = try? ExportLogsServiceResponse(otlpJSON: responseBody)
        } else {
            response = try? ExportLogsServiceResponse(protobuf: responseBody)
        }
        guard let partial = response?.partialSuccess, partial.rejectedLogRecords > 0 || !partial.errorMessage.isEmpty
        else { return .success(rejected: 0) }
        logger.warning(
            "OTLP collector rejected log records",
            metadata: [
                "rejected": "\(partial.rejectedLogRecords)", "of": "\(request.logRecordCount)",
                "message": "\(partial.errorMessage)", "endpoint": "\(configuration.logsEndpoint)",
            ])
        return .success(rejected: partial.rejectedLogRecords)
    }

    /// Closes the HTTP client's connections.
    public func shutdown() async {
        let running: HTTPClient? = client.withLock { state in
            defer { state = .shutDown }
            if case .running(let client) = state { return client }
            return nil
        }
        guard let running else { return }
        do {
            try await running.shutdown()
        } catch {
            logger.debug("OTLP exporter HTTP client shutdown failed", metadata: ["error": "\(error)"])
        }
    }

    enum Outcome {
        case accepted(body: [UInt8], isJSON: Bool)
        case refused(String)
    }

    /// One export with its retries, within the signal's timeout.
    func post(
        _ payload: [UInt8], settings: OTLPExporterConfiguration.Settings, to endpoint: String, extraHeaders: [(name: String, value: String)], items: Int,
        noun: String
    ) async -> Outcome {
        var request = HTTPClientRequest(url: endpoint)
        request.method = .POST
        let isJSON = settings.wireProtocol == .httpJSON
        request.headers.add(name: "Content-Type", value: isJSON ? "application/json" : "application/x-protobuf")
        request.headers.add(name: "User-Agent", value: "causeway-otlp-swift/\(OTLPResource.sdkVersion)")
        var body = ByteBuffer(bytes: payload)
        if settings.compression == .gzip {
            do {
                body = try body.compress(with: .gzip())
                request.headers.add(name: "Content-Encoding", value: "gzip")
            } catch {
                logger.warning("gzip failed, sending uncompressed", metadata: ["error": "\(error)"])
                body = ByteBuffer(bytes: payload)
            }
        }
        for header in configuration.headers + extraHeaders {
            request.headers.replaceOrAdd(name: header.name, value: header.value)
        }
        request.body = .bytes(body)

        let clock = ContinuousClock()
        let deadline = clock.now + settings.timeout
        let policy = configuration.retry
        var generator = SystemRandomNumberGenerator()
        var lastFailure = "no attempt"
        guard let httpClient else {
            return drop(items, noun, endpoint: endpoint, attempts: nil, reason: "the exporter is shut down")
        }
        for attempt in 1...policy.maxAttempts {
            let remaining = deadline - clock.now
            guard remaining > .zero else { break }
            var delay = policy.backoff(retry: attempt, using: &generator)
            do {
                let response = try await httpClient.execute(
                    request, timeout: .nanoseconds(OTLPRetryPolicy.nanoseconds(remaining)))
                let responseBody = Array(try await response.body.collect(upTo: 4 << 20).readableBytesView)
                let responseIsJSON = response.headers.first(name: "Content-Type")?.lowercased().hasPrefix("application/json") ?? isJSON
                switch response.status.code {
                case 200..<300:
                    return .accepted(body: responseBody, isJSON: responseIsJSON)
                case 429, 502, 503, 504:
                    lastFailure = "HTTP \(response.status.code)"
                    if let header = response.headers.first(name: "Retry-After") {
                        let now = Int64(DefaultTracerClock.now.nanosecondsSinceEpoch / 1_000_000_000)
                        if let asked = RetryAfter.delay(header, nowUnixSeconds: now) {
                            guard asked <= policy.maxRetryAfter else {
                                lastFailure += ", Retry-After \(header) is longer than \(policy.maxRetryAfter)"
                                return drop(items, noun, endpoint: endpoint, attempts: attempt, reason: lastFailure)
                            }
                            delay = asked
                        }
                    }
                default:
                    let status = Self.decodeStatus(responseBody, isJSON: responseIsJSON)
                    let reason =
                        "HTTP \(response.status.code)" + (status.map { ": \($0.message) (code \($0.code))" } ?? "")
                    // 400 and the other client errors "MUST NOT" be retried: the same
                    // request would fail the same way (OTLP spec, "Failures").
                    return drop(items, noun, endpoint: endpoint, attempts: attempt, reason: reason)
                }
            } catch {
                // AsyncHTTPClient keeps retrying a refused connection until the request's
                // deadline, so a collector that is down costs the whole timeout; errors
                // that surface earlier (a reset mid-request) are retried here.
                lastFailure = "\(error)"
            }
            guard attempt < policy.maxAttempts else { break }
            guard clock.now + delay < deadline else {
                lastFailure += "; the next retry would pass the \(settings.timeout) timeout"
                break
            }
            do {
                try await Task.sleep(for: delay)
            } catch {
                lastFailure += "; cancelled"
                break
            }
        }
        return drop(items, noun, endpoint: endpoint, attempts: nil, reason: lastFailure)
    }

    private func drop(_ items: Int, _ noun: String, endpoint: String, attempts: Int?, reason: String) -> Outcome {
        logger.error(
            "OTLP export failed, \(items) \(noun) dropped",
            metadata: ["endpoint": "\(endpoint)", "reason": "\(reason)"])
        return .refused(reason)
    }

    /// The `google.rpc.Status` of an error response, in the response's encoding.
    static func decodeStatus(_ body: [UInt8], isJSON: Bool) -> RPCStatus? {
        guard !body.isEmpty else { return nil }
        return isJSON ? try? RPCStatus(otlpJSON: body) : try? RPCStatus(protobuf: body)
    }
}
