import AsyncHTTPClient
import EventTracing
import EventTracingHTTP
import Hummingbird
import Instrumentation
import NIOCore
import NIOHTTP1
import Synchronization
import Testing
import Tracing

/// A real HTTPClient against a real Hummingbird server on an ephemeral port.
@Suite("AsyncHTTPClient tracing")
struct HTTPClientTracingTests {
    /// A client whose built-in tracing is off.
    static func plainClient() -> HTTPClient {
        var configuration = HTTPClient.Configuration()
        configuration.disableBuiltInTracing()
        return HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
    }

    /// Runs `body` with a client, shutting it down afterwards whatever happens.
    static func with<Result>(_ client: HTTPClient, _ body: (HTTPClient) async throws -> Result) async throws -> Result {
        do {
            let result = try await body(client)
            try await client.shutdown()
            return result
        } catch {
            try? await client.shutdown()
            throw error
        }
    }

    @Test func clientSpanIsTheParentOfTheOneTraceparentSent() async throws {
        let tracer = RecordingTracer()
        let recorder = RequestRecorder()
        try await withServer(recorder.router()) { port in
            try await Self.with(Self.plainClient()) { client in
                try await tracer.withSpan("checkout") { _ in
                    _ = try await client.executeInClientSpan(
                        HTTPClientRequest(url: "http://127.0.0.1:\(port)/stock"),
                        timeout: .seconds(10),
                        tracer: tracer
                    )
                }
            }
        }
        let received = try #require(recorder.requests.first)
        let traceparents = received.values("traceparent")
        try #require(traceparents.count == 1)
        let sent = try #require(TraceParent(traceparents[0]))
        let clientSpan = try #require(tracer.spans(ofKind: .client).first)
        let checkout = try #require(tracer.spans.first { $0.operationName == "checkout" })
        #expect(sent.traceID == clientSpan.identity.traceID)
        #expect(sent.parentID == clientSpan.identity.spanID)
        #expect(clientSpan.parent == checkout.identity)
    }

    @Test func clientSpanHasHTTPClientAttributes() async throws {
        let tracer = RecordingTracer()
        let recorder = RequestRecorder()
        let port = try await withServer(recorder.router()) { port in
            try await Self.with(Self.plainClient()) { client in
                _ = try await client.executeInClientSpan(
                    HTTPClientRequest(url: "http://127.0.0.1:\(port)/stock?sku=1"),
                    timeout: .seconds(10),
                    tracer: tracer
                )
            }
            return port
        }
        let span = try #require(tracer.spans(ofKind: .client).first)
        #expect(span.operationName == "GET")
        #expect(span.string("http.request.method") == "GET")
        #expect(span.string("server.address") == "127.0.0.1")
        #expect(span.int("server.port") == Int64(port))
        #expect(span.string("url.full") == "http://127.0.0.1:\(port)/stock?sku=1")
        #expect(span.int("http.response.status_code") == 200)
        #expect(span.recorded.endCount == 1)
    }

    @Test func correlationIDTravelsAsHeaderAndBaggage() async throws {
        let tracer = RecordingTracer()
        let recorder = RequestRecorder()
        var context = ServiceContext.topLevel
        context.correlationID = CorrelationID("order-42")
        try await withServer(recorder.router()) { port in
            try await Self.with(Self.plainClient()) { client in
                try await ServiceContext.withValue(context) {
                    _ = try await client.executeInClientSpan(
                        HTTPClientRequest(url: "http://127.0.0.1:\(port)/"),
                        timeout: .seconds(10),
                        tracer: tracer
                    )
                }
            }
        }
        let received = try #require(recorder.requests.first)
        #expect(received.values("correlation-id") == ["order-42"])
        let baggage = try #require(received.values("baggage").first)
        #expect(Baggage(baggage)[CorrelationID.baggageKey] == "order-42")
    }

    @Test func existingTraceHeadersAreReplacedNotDuplicated() async throws {
        let tracer = RecordingTracer()
        let recorder = RequestRecorder()
        try await withServer(recorder.router()) { port in
            try await Self.with(Self.plainClient()) { client in
                var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)/")
                request.headers.add(name: "traceparent", value: "00-11111111111111111111111111111111-2222222222222222-01")
                request.headers.add(name: "Correlation-ID", value: "stale")
                _ = try await client.executeInClientSpan(request, timeout: .seconds(10), tracer: tracer)
            }
        }
        let received = try #require(recorder.requests.first)
        let clientSpan = try #require(tracer.spans(ofKind: .client).first)
        #expect(received.values("traceparent") == [clientSpan.identity.traceParent.headerValue])
        #expect(received.values("correlation-id").count == 1)
        #expect(received.values("correlation-id") != ["stale"])
    }

    /// The trap of AsyncHTTPClient 1.37: a client created while a tracer is active wraps
    /// each request in its own span and adds that span's `traceparent`.
    @Test func clientWithBuiltInTracingSendsExactlyOneTraceparent() async throws {
        let tracer = RecordingTracer()
        let recorder = RequestRecorder()
        try await withServer(recorder.router()) { port in
            try await withTracer(tracer) {
                let client = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup)
                #expect(client.tracer is RecordingTracer)
                try await Self.with(client) { client in
                    var context = ServiceContext.topLevel
                    context.correlationID = CorrelationID("order-9")
                    try await ServiceContext.withValue(context) {
                        var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)/")
                        request.headers.add(name: "traceparent", value: "00-11111111111111111111111111111111-2222222222222222-01")
                        _ = try await client.executeInClientSpan(request, timeout: .seconds(10))
                    }
                }
            }
        }
        let received = try #require(recorder.requests.first)
        let traceparents = received.values("traceparent")
        try #require(traceparents.count == 1)
        // AsyncHTTPClient's span is the one CLIENT span, and the parent the server sees.
        let clientSpans = tracer.spans(ofKind: .client)
        try #require(clientSpans.count == 1)
        #expect(TraceParent(traceparents[0])?.parentID == clientSpans[0].identity.spanID)
        #expect(received.values("correlation-id") == ["order-9"])
        #expect(received.values("baggage").count == 1)
    }

    @Test func serverSpanIsAChildOfTheClientSpanAndSharesTheCorrelationID() async throws {
        let tracer = RecordingTracer()
        let router = Router()
        router.add(middleware: EventTracingMiddleware(tracer: tracer))
        router.post("/orders") { _, _ -> HTTPResponse.Status in .accepted }
        let (port, returned) = try await withServer(router) { port in
            try await Self.with(Self.plainClient()) { client in
                var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)/orders")
                request.method = .POST
                let response = try await client.executeInClientSpan(request, timeout: .seconds(10), tracer: tracer)
                return (port, response.headers["correlation-id"])
            }
        }
        let clientSpan = try #require(tracer.spans(ofKind: .client).first)
        let serverSpan = try #require(tracer.spans(ofKind: .server).first)
        #expect(serverSpan.parent?.spanID == clientSpan.identity.spanID)
        #expect(serverSpan.identity.traceID == clientSpan.identity.traceID)
        let correlationID = try #require(clientSpan.context.correlationID)
        #expect(serverSpan.context.correlationID == correlationID)
        #expect(returned == [correlationID.rawValue])
        #expect(serverSpan.operationName == "POST /orders")
        #expect(serverSpan.string("server.address") == "127.0.0.1")
        #expect(serverSpan.int("server.port") == Int64(port))
    }

    @Test func errorStatusMarksTheClientSpan() async throws {
        let tracer = RecordingTracer()
        let router = Router()
        router.get("/missing") { _, _ -> HTTPResponse.Status in .notFound }
        try await withServer(router) { port in
            try await Self.with(Self.plainClient()) { client in
                _ = try await client.executeInClientSpan(
                    HTTPClientRequest(url: "http://127.0.0.1:\(port)/missing"),
                    timeout: .seconds(10),
                    tracer: tracer
                )
            }
        }
        let span = try #require(tracer.spans(ofKind: .client).first)
        #expect(span.recorded.status?.code == .error)
        #expect(span.string("error.type") == "404")
    }

    /// A tracer with its own span key (as swift-otel) writes `traceparent`; the
    /// correlation ID and baggage are still ours, and one of each goes out.
    @Test func thirdPartyTracerWritesTheTraceparentAndWeTheCorrelationID() async throws {
        let tracer = RecordingTracer(identity: .ownKey)
        let recorder = RequestRecorder()
        var context = ServiceContext.topLevel
        context.correlationID = CorrelationID("order-5")
        try await withServer(recorder.router()) { port in
            try await Self.with(Self.plainClient()) { client in
                try await ServiceContext.withValue(context) {
                    _ = try await client.executeInClientSpan(
                        HTTPClientRequest(url: "http://127.0.0.1:\(port)/"),
                        timeout: .seconds(10),
                        tracer: tracer
                    )
                }
            }
        }
        let received = try #require(recorder.requests.first)
        let clientSpan = try #require(tracer.spans(ofKind: .client).first)
        #expect(received.values("traceparent") == [clientSpan.identity.traceParent.headerValue])
        #expect(received.values("correlation-id") == ["order-5"])
        #expect(received.values("baggage").count == 1)
    }

    /// The same trap with a third-party tracer: AsyncHTTPClient's span writes the one
    /// `traceparent`, we add the correlation ID the tracer does not know.
    @Test func clientWithBuiltInThirdPartyTracingSendsOneTraceparentAndTheCorrelationID() async throws {
        let tracer = RecordingTracer(identity: .ownKey)
        let recorder = RequestRecorder()
        var context = ServiceContext.topLevel
        context.correlationID = CorrelationID("order-6")
        try await withServer(recorder.router()) { port in
            var configuration = HTTPClient.Configuration()
            configuration.tracing.tracer = tracer
            try await Self.with(HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)) { client in
                try await ServiceContext.withValue(context) {
                    _ = try await client.executeInClientSpan(
                        HTTPClientRequest(url: "http://127.0.0.1:\(port)/"),
                        timeout: .seconds(10)
                    )
                }
            }
        }
        let received = try #require(recorder.requests.first)
        let clientSpans = tracer.spans(ofKind: .client)
        try #require(clientSpans.count == 1)
        #expect(received.values("traceparent") == [clientSpans[0].identity.traceParent.headerValue])
        #expect(received.values("correlation-id") == ["order-6"])
    }

    @Test func connectionFailureIsRecordedOnTheClientSpan() async throws {
        let tracer = RecordingTracer()
        // A port that was just free: nothing listens there any more.
        let port = try await withServer(Router()) { $0 }
        try await Self.with(Self.plainClient()) { client in
            await #expect(throws: (any Error).self) {
                _ = try await client.executeInClientSpan(
                    HTTPClientRequest(url: "http://127.0.0.1:\(port)/"),
                    // AsyncHTTPClient retries a refused connection until the deadline.
                    timeout: .seconds(1),
                    tracer: tracer
                )
            }
        }
        let span = try #require(tracer.spans(ofKind: .client).first)
        #expect(span.recorded.errors.count == 1)
        #expect(span.recorded.status?.code == .error)
        #expect(span.string("error.type") != nil)
        #expect(span.recorded.endCount == 1)
    }
}
