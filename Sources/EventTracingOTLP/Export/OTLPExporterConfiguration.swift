/// Where and how ``OTLPHTTPExporter`` sends spans and logs (OTel spec, "OTLP Exporter
/// Configuration": https://opentelemetry.io/docs/specs/otel/protocol/exporter/).
public struct OTLPExporterConfiguration: Sendable {
    /// The body encoding (`OTEL_EXPORTER_OTLP_PROTOCOL`).
    public enum WireProtocol: String, Hashable, Sendable {
        /// `http/protobuf`, `Content-Type: application/x-protobuf`: the default.
        case httpProtobuf = "http/protobuf"
        /// `http/json`, `Content-Type: application/json`.
        case httpJSON = "http/json"
    }

    /// The body compression (`OTEL_EXPORTER_OTLP_COMPRESSION`).
    public enum Compression: String, Hashable, Sendable {
        case none
        /// `Content-Encoding: gzip`.
        case gzip
    }

    /// Full URL spans are posted to; default `http://localhost:4318/v1/traces`.
    public var tracesEndpoint: String = "http://localhost:4318/v1/traces"
    /// Full URL log records are posted to; default `http://localhost:4318/v1/logs`.
    public var logsEndpoint: String = "http://localhost:4318/v1/logs"
    /// Headers sent with every export, such as an authorization header.
    public var headers: [(name: String, value: String)] = []
    /// Headers sent with span exports only, after ``headers``.
    public var tracesHeaders: [(name: String, value: String)] = []
    /// Headers sent with log exports only, after ``headers``.
    public var logsHeaders: [(name: String, value: String)] = []
    /// The body encoding; protobuf by default.
    public var wireProtocol: WireProtocol = .httpProtobuf
    /// The body compression; none by default.
    public var compression: Compression = .none
    /// How long one export may take, retries included (`OTEL_EXPORTER_OTLP_TIMEOUT`, 10 s).
    public var timeout: Duration = .seconds(10)
    /// How failed exports are retried.
    public var retry: OTLPRetryPolicy = OTLPRetryPolicy()
    /// What span exports do differently (`OTEL_EXPORTER_OTLP_TRACES_PROTOCOL`,
    /// `..._COMPRESSION`, `..._TIMEOUT`).
    public var tracesOverrides = SignalOverrides()
    /// What log exports do differently (`OTEL_EXPORTER_OTLP_LOGS_PROTOCOL`,
    /// `..._COMPRESSION`, `..._TIMEOUT`).
    public var logsOverrides = SignalOverrides()

    /// Settings one signal may set apart from the common ones; `nil` keeps the common one.
    public struct SignalOverrides: Hashable, Sendable {
        public var wireProtocol: WireProtocol?
        public var compression: Compression?
        public var timeout: Duration?

        /// No override.
        public init(wireProtocol: WireProtocol? = nil, compression: Compression? = nil, timeout: Duration? = nil) {
            self.wireProtocol = wireProtocol
            self.compression = compression
            self.timeout = timeout
        }
    }

    /// The settings one export uses.
    struct Settings {
        var wireProtocol: WireProtocol
        var compression: Compression
        var timeout: Duration
    }

    func effective(_ overrides: SignalOverrides) -> Settings {
        Settings(
            wireProtocol: overrides.wireProtocol ?? wireProtocol, compression: overrides.compression ?? compression,
            timeout: overrides.timeout ?? timeout)
    }

    /// The spec's defaults: a collector on `localhost:4318`.
    public init() {}

    /// Sets both signal endpoints from a base URL, appending `v1/traces` and `v1/logs`
    /// as the spec says for `OTEL_EXPORTER_OTLP_ENDPOINT`.
    public mutating func setBaseEndpoint(_ base: String) {
        let trimmed = base.hasSuffix("/") ? String(base.dropLast()) : base
        tracesEndpoint = trimmed + "/v1/traces"
        logsEndpoint = trimmed + "/v1/logs"
    }
}

/// Retries of exports that failed for a reason that may pass: HTTP 429, 502, 503 and 504
/// and connection errors (OTel spec, "OTLP/HTTP Throttling" and "Retryable Response
/// Codes": https://opentelemetry.io/docs/specs/otlp/#failures-1).
public struct OTLPRetryPolicy: Hashable, Sendable {
    /// Attempts in all, the first one included.
    public var maxAttempts: Int = 5
    /// The delay before the first retry; each following one doubles, up to ``maxBackoff``.
    public var initialBackoff: Duration = .seconds(1)
    /// The longest delay computed by the backoff.
    public var maxBackoff: Duration = .seconds(5)
    /// A `Retry-After` longer than this gives up on the batch instead of waiting.
    public var maxRetryAfter: Duration = .seconds(30)

    /// The defaults: 5 attempts, 1 s doubling to at most 5 s, `Retry-After` up to 30 s.
    public init() {}

    /// Custom retries.
    public init(maxAttempts: Int, initialBackoff: Duration, maxBackoff: Duration, maxRetryAfter: Duration = .seconds(30)) {
        self.maxAttempts = max(1, maxAttempts)
        self.initialBackoff = initialBackoff
        self.maxBackoff = maxBackoff
        self.maxRetryAfter = maxRetryAfter
    }

    /// The delay before retry number `retry` (1 for the first): exponential, capped, with
    /// "equal jitter" — half of it fixed, half random — so that many clients that failed
    /// together do not retry together.
    func backoff(retry: Int, using generator: inout some RandomNumberGenerator) -> Duration {
        var delay = initialBackoff
        for _ in 1..<max(1, retry) where delay < maxBackoff { delay *= 2 }
        delay = min(delay, maxBackoff)
        let half = delay / 2
        let jitterNanos = Self.nanoseconds(half)
        guard jitterNanos > 0 else { return delay }
        return half + .nanoseconds(Int64.random(in: 0...jitterNanos, using: &generator))
    }

    static func nanoseconds(_ duration: Duration) -> Int64 {
        let (seconds, attoseconds) = duration.components
        return seconds.multipliedReportingOverflow(by: 1_000_000_000).partialValue + attoseconds / 1_000_000_000
    }
}
