import EventTracing
import HTTPTypes
public import Hummingbird
import Instrumentation
public import Tracing

/// Traces every request a Hummingbird router handles: continues the caller's W3C trace
/// context, keeps or starts the correlation ID, and runs the handler inside a SERVER span.
///
/// ```swift
/// let router = Router()
/// router.add(middleware: EventTracingMiddleware())
/// ```
///
/// For each request it
/// - reads `traceparent`, `tracestate`, `baggage` and `correlation-id` with
///   ``EventContextPropagator`` and then the tracer's own `extract`, creating a correlation
///   ID when the request has none (the request is the edge of the system);
/// - starts a SERVER span named as the HTTP semantic conventions say, `{method} {route}`
///   (just `{method}` when no route matched), with `http.request.method`, `url.path`,
///   `url.query`, `url.scheme`, `http.route`, `http.response.status_code`,
///   `server.address`/`server.port` (from the request's authority) and
///   `user_agent.original`; a 5xx status sets status error and `error.type` (a thrown
///   error counts as 500 unless it is an `HTTPResponseError` with a status of its own)
///   and a thrown error behind it is recorded
///   (https://github.com/open-telemetry/semantic-conventions/blob/v1.37.0/docs/http/http-spans.md#http-server);
/// - runs the rest of the chain with the span's context as `ServiceContext.current`, so
///   that messages sent and requests made by the handler carry the trace and the
///   correlation ID;
/// - writes the correlation ID back as the `correlation-id` response header.
///
/// Use it instead of Hummingbird's `TracingMiddleware`, not together with it: both start a
/// server span per request. The span ends when the handler returns its response; streaming
/// the body afterwards is not part of it. An error thrown by the handler goes on unchanged
/// (the response Hummingbird makes from it has no `correlation-id` header).
public struct EventTracingMiddleware<Context: RequestContext>: RouterMiddleware {
    private let tracer: (any Tracer)?

    /// Creates the middleware.
    ///
    /// - Parameter tracer: The tracer that starts the spans; `nil` uses the active one
    ///   (`InstrumentationSystem.tracer`), looked up per request.
    public init(tracer: (any Tracer)? = nil) {
        self.tracer = tracer
    }

    public func handle(
        _ request: Request,
        context: Context,
        next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        let propagation = HTTPPropagation(tracer: tracer)
        let incoming = propagation.extract(request.headers, using: HTTPFieldsExtractor())
        let method = HTTPMethodName(request.method.rawValue)
        let span = propagation.tracer.startSpan(method.spanName, context: incoming, ofKind: .server)
        span.updateAttributes { attributes in
            method.set(on: &attributes)
            attributes[HTTPAttribute.urlPath] = request.uri.path
            attributes[HTTPAttribute.urlQuery] = request.uri.query
            attributes[HTTPAttribute.urlScheme] = request.head.scheme
            // HTTP/1.1's Host field arrives as the authority; the fallback serves requests
            // built by hand.
            if let authority = request.head.authority ?? HTTPField.Name("host").flatMap({ request.headers[$0] }),
                let (host, port) = HTTPAuthority.split(authority)
            {
                attributes[HTTPAttribute.serverAddress] = host
                attributes[HTTPAttribute.serverPort] = port
            }
            attributes[HTTPAttribute.userAgent] = request.headers[.userAgent]
        }
        var spanContext = HTTPPropagation.ensuring(valuesOf: incoming, in: span.context)
        let correlationID = spanContext.ensureCorrelationID()

        do {
            var response = try await ServiceContext.$current.withValue(spanContext) {
                try await next(request, context)
            }
            finish(span, endpoint: context.endpointPath, method: method, status: Int(response.status.code), error: nil)
            if let name = HTTPField.Name(CorrelationID.headerName) {
                response.headers[name] = correlationID.rawValue
            }
            return response
        } catch {
            let status = (error as? any HTTPResponseError).map { Int($0.status.code) } ?? 500
            finish(span, endpoint: context.endpointPath, method: method, status: status, error: error)
            throw error
        }
    }

    private func finish(_ span: any Span, endpoint: String?, method: HTTPMethodName, status: Int, error: (any Error)?) {
        // Hummingbird reports a matched route as its path template ("/orders/{id}"), and
        // unmatched requests under placeholders such as "NotFound", which are no route.
        let route = endpoint.flatMap { $0.hasPrefix("/") ? $0 : nil }
        if let route {
            // "{method} {target}", where the target of a server span is `http.route`.
            span.operationName = "\(method.spanName) \(route)"
        }
        span.updateAttributes { attributes in
            attributes[HTTPAttribute.route] = route
            attributes[HTTPAttribute.responseStatusCode] = status
        }
        // Server spans: "For HTTP status codes in the 4xx range span status MUST be left
        // unset"; 5xx is an error, with the status code as `error.type`. A thrown error
        // that is not an `HTTPResponseError` becomes a 500, and so is recorded here too.
        if status >= 500 {
            if let error { span.recordError(error) }
            span.attributes[HTTPAttribute.errorType] = String(status)
            span.setStatus(SpanStatus(code: .error))
        }
        span.end()
    }
}

/// Attribute names of the HTTP semantic conventions (registry:
/// https://github.com/open-telemetry/semantic-conventions/blob/v1.37.0/docs/registry/attributes/http.md).
enum HTTPAttribute {
    static let requestMethod = "http.request.method"
    static let requestMethodOriginal = "http.request.method_original"
    static let responseStatusCode = "http.response.status_code"
    static let route = "http.route"
    static let urlPath = "url.path"
    static let urlQuery = "url.query"
    static let urlScheme = "url.scheme"
    static let urlFull = "url.full"
    static let serverAddress = "server.address"
    static let serverPort = "server.port"
    static let userAgent = "user_agent.original"
    static let errorType = "error.type"
}

/// A request method as the HTTP conventions name it: the methods of RFC 9110 and PATCH
/// as they are; any other as `_OTHER`, with the original in
/// `http.request.method_original` and `HTTP` in the span name, so that made-up methods
/// cannot blow up the cardinality of span names.
struct HTTPMethodName {
    static let known: Set<String> = ["CONNECT", "DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT", "TRACE"]

    let original: String
    let isKnown: Bool

    init(_ original: String) {
        self.original = original
        self.isKnown = Self.known.contains(original)
    }

    var spanName: String { isKnown ? original : "HTTP" }

    func set(on attributes: inout SpanAttributes) {
        attributes[HTTPAttribute.requestMethod] = isKnown ? original : "_OTHER"
        if !isKnown { attributes[HTTPAttribute.requestMethodOriginal] = original }
    }
}

enum HTTPAuthority {
    /// The host and port of an authority (`host`, `host:port`, `[v6]:port`; RFC 3986
    /// §3.2.2), without any user information; `nil` when it is empty.
    static func split(_ authority: String) -> (host: String, port: Int?)? {
        var rest = Substring(authority)
        if let at = rest.lastIndex(of: "@") { rest = rest[rest.index(after: at)...] }
        guard !rest.isEmpty else { return nil }
        if rest.first == "[" {
            guard let close = rest.firstIndex(of: "]") else { return (String(rest), nil) }
            let host = rest[rest.index(after: rest.startIndex)..<close]
            let afterHost = rest[rest.index(after: close)...]
            let port = afterHost.first == ":" ? Int(afterHost.dropFirst()) : nil
            return (String(host), port)
        }
        guard let colon = rest.lastIndex(of: ":") else { return (String(rest), nil) }
        return (String(rest[..<colon]), Int(rest[rest.index(after: colon)...]))
    }
}
