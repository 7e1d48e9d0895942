public import AsyncHTTPClient
import EventTracing
import Foundation
import Instrumentation
public import NIOCore
import NIOHTTP1
public import Tracing

// Outgoing requests with AsyncHTTPClient.
//
// The trap: AsyncHTTPClient 1.37 has tracing of its own. `HTTPClient.Configuration`
// captures `InstrumentationSystem.tracer` when it is created (`TracingConfiguration.init`),
// and when that tracer is not a `NoOpTracer`, `execute` wraps every request in a CLIENT
// span named after the method and calls the tracer's `inject` with an injector that
// *adds* header fields. A request that already carries a `traceparent` would go out with
// two. So either the client's own tracing is turned off (``AsyncHTTPClient/HTTPClient/Configuration/disableBuiltInTracing()``)
// and we start the span and write the headers, or the client's tracer writes the trace
// context and we write only what it does not.

extension HTTPClient.Configuration {
    /// Turns off AsyncHTTPClient's own request spans and its `traceparent`, so that
    /// ``AsyncHTTPClient/HTTPClient/executeInClientSpan(_:timeout:tracer:)`` starts the
    /// CLIENT span (with the attributes of the HTTP semantic conventions) and writes the
    /// trace context itself.
    ///
    /// ```swift
    /// var configuration = HTTPClient.Configuration()
    /// configuration.disableBuiltInTracing()
    /// let client = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
    /// ```
    public mutating func disableBuiltInTracing() {
        tracing.tracer = nil
    }
}

extension HTTPClientRequest {
    /// Writes `context` into the request's headers: `traceparent`, `tracestate`,
    /// `baggage` (with the `correlation.id` entry) and `correlation-id`, each replacing any
    /// field of the same name. The trace context goes through `tracer`'s `inject` (the
    /// active tracer when `nil`) and ``EventContextPropagator`` writes the rest.
    ///
    /// Send the request with a client whose built-in tracing is off
    /// (``AsyncHTTPClient/HTTPClient/Configuration/disableBuiltInTracing()``), or the client adds a second
    /// `traceparent`; ``AsyncHTTPClient/HTTPClient/executeInClientSpan(_:timeout:tracer:)`` handles both
    /// kinds of client.
    public mutating func setTraceHeaders(from context: ServiceContext, tracer: (any Tracer)? = nil) {
        for field in HTTPPropagation(tracer: tracer).fields(for: context) {
            headers.replaceOrAdd(name: field.name, value: field.value)
        }
    }
}

extension HTTPClient {
    /// Sends `request` inside a CLIENT span of the current `ServiceContext`, with the
    /// span's trace context, baggage and correlation ID in its headers; exactly one
    /// `traceparent` goes out.
    ///
    /// When this client's built-in tracing is off, the span is started with `tracer` (the
    /// active tracer when `nil`), named `{method}` and given `http.request.method`,
    /// `server.address`, `server.port`, `url.full` (without user information) and
    /// `http.response.status_code`; a status of 400 or more, or a thrown error, sets status
    /// error and `error.type`
    /// (https://github.com/open-telemetry/semantic-conventions/blob/v1.37.0/docs/http/http-spans.md#http-client).
    ///
    /// When the client's built-in tracing is on (its configuration captured a tracer),
    /// AsyncHTTPClient starts the CLIENT span and writes that tracer's headers; this method
    /// then removes any `traceparent` and `tracestate` the request had and adds only the
    /// headers that tracer does not write, such as `correlation-id`; `tracer` is not used.
    public func executeInClientSpan(
        _ request: HTTPClientRequest,
        timeout: TimeAmount,
        tracer: (any Tracer)? = nil
    ) async throws -> HTTPClientResponse {
        var context = ServiceContext.current ?? .topLevel
        _ = context.ensureCorrelationID()
        var request = request

        if let builtIn = self.tracer, !(builtIn is NoOpTracer) {
            request.setHeaders(notWrittenBy: builtIn, from: context)
            return try await ServiceContext.$current.withValue(context) {
                try await execute(request, timeout: timeout)
            }
        }

        let propagation = HTTPPropagation(tracer: tracer)
        let method = HTTPMethodName(request.method.rawValue)
        let span = propagation.tracer.startSpan(method.spanName, context: context, ofKind: .client)
        defer { span.end() }
        span.updateAttributes { attributes in
            method.set(on: &attributes)
            if let url = URL(string: request.url) {
                attributes[HTTPAttribute.serverAddress] = url.host
                attributes[HTTPAttribute.serverPort] = url.port ?? Self.defaultPort(scheme: url.scheme)
                attributes[HTTPAttribute.urlFull] = Self.withoutUserInfo(url)
            }
        }
        let spanContext = HTTPPropagation.ensuring(valuesOf: context, in: span.context)
        request.setTraceHeaders(from: spanContext, tracer: propagation.tracer)
        do {
            let response = try await ServiceContext.$current.withValue(spanContext) {
                try await execute(request, timeout: timeout)
            }
            let status = Int(response.status.code)
            span.attributes[HTTPAttribute.responseStatusCode] = status
            // Client spans: a status of 400 or more is an error, `error.type` its code.
            if status >= 400 {
                span.attributes[HTTPAttribute.errorType] = String(status)
                span.setStatus(SpanStatus(code: .error))
            }
            return response
        } catch {
            span.recordError(error)
            span.attributes[HTTPAttribute.errorType] = String(reflecting: type(of: error))
            span.setStatus(SpanStatus(code: .error))
            throw error
        }
    }

    private static func defaultPort(scheme: String?) -> Int? {
        switch scheme?.lowercased() {
        case "http": 80
        case "https": 443
        default: nil
        }
    }

    /// `url.full` "MUST NOT contain credentials passed via URL in form of
    /// `https://username:password@www.example.com/`".
    private static func withoutUserInfo(_ url: URL) -> String {
        guard url.user != nil || url.password != nil,
            var components = URLComponents(url: url, resolvingAgainstBaseURL: false)
        else { return url.absoluteString }
        components.user = nil
        components.password = nil
        return components.string ?? url.absoluteString
    }
}

extension HTTPClientRequest {
    /// For a client with built-in tracing: AsyncHTTPClient will add `tracer`'s headers for
    /// its own span, so the request must not already hold a trace context, and of the
    /// other headers only those the tracer does not write are set here. Which ones it
    /// writes is learnt by letting it inject `context` into a scratch list.
    fileprivate mutating func setHeaders(notWrittenBy tracer: any Tracer, from context: ServiceContext) {
        headers.remove(name: EventContextPropagator.HeaderName.traceparent)
        headers.remove(name: EventContextPropagator.HeaderName.tracestate)
        var written: [(name: String, value: String)] = []
        tracer.inject(context, into: &written, using: HTTPHeaderFieldsInjector())
        var ours: [(name: String, value: String)] = []
        var withoutSpan = context
        withoutSpan.spanContext = nil
        EventContextPropagator(createsCorrelationID: false).inject(withoutSpan, into: &ours, using: HTTPHeaderFieldsInjector())
        for field in ours where !written.contains(where: { HTTPName.equal($0.name, field.name) }) {
            headers.replaceOrAdd(name: field.name, value: field.value)
        }
        for field in written where !HTTPName.equal(field.name, EventContextPropagator.HeaderName.traceparent)
            && !HTTPName.equal(field.name, EventContextPropagator.HeaderName.tracestate)
        {
            // The tracer will add these again; one copy must go out.
            headers.remove(name: field.name)
        }
    }
}
