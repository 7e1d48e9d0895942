import EventTracing
import EventTracingHTTP
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Instrumentation
import Synchronization
import Testing
import Tracing

@Suite("EventTracingMiddleware")
struct EventTracingMiddlewareTests {
    static let traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    static let traceID = "0af7651916cd43dd8448eb211c80319c"
    static let parentID = "b7ad6b7169203331"

    /// A router traced by `tracer` with `GET /orders/{id}`, `GET /fail` (500) and
    /// `GET /throw` (a thrown 503).
    static func router(tracer: RecordingTracer) -> Router<BasicRequestContext> {
        let router = Router()
        router.add(middleware: EventTracingMiddleware(tracer: tracer))
        router.get("/orders/{id}") { _, _ -> HTTPResponse.Status in .ok }
        router.get("/fail") { _, _ -> HTTPResponse.Status in .internalServerError }
        router.get("/throw") { _, _ -> HTTPResponse.Status in throw HTTPError(.serviceUnavailable) }
        return router
    }

    static func headers(_ fields: [(String, String)]) -> HTTPFields {
        var headers = HTTPFields()
        for (name, value) in fields {
            headers.append(HTTPField(name: HTTPField.Name(name)!, value: value))
        }
        return headers
    }

    @Test func serverSpanContinuesTheIncomingTraceparent() async throws {
        let tracer = RecordingTracer()
        let app = Application(router: Self.router(tracer: tracer))
        try await app.test(.router) { client in
            _ = try await client.execute(uri: "/orders/42", method: .get, headers: Self.headers([("traceparent", Self.traceparent)]))
        }
        let span = try #require(tracer.spans(ofKind: .server).first)
        #expect(span.identity.traceID.description == Self.traceID)
        #expect(span.parent?.spanID.description == Self.parentID)
        #expect(span.parent?.isRemote == true)
        #expect(span.identity.spanID.description != Self.parentID)
    }

    @Test func invalidTraceparentStartsANewTrace() async throws {
        let tracer = RecordingTracer()
        let app = Application(router: Self.router(tracer: tracer))
        try await app.test(.router) { client in
            _ = try await client.execute(
                uri: "/orders/42",
                method: .get,
                headers: Self.headers([("traceparent", "00-00000000000000000000000000000000-b7ad6b7169203331-01")])
            )
        }
        let span = try #require(tracer.spans(ofKind: .server).first)
        #expect(span.parent == nil)
        #expect(span.identity.flags.contains(.random))
    }

    @Test func spanIsNamedMethodAndRouteWithHTTPServerAttributes() async throws {
        let tracer = RecordingTracer()
        let app = Application(router: Self.router(tracer: tracer))
        try await app.test(.router) { client in
            _ = try await client.execute(
                uri: "/orders/42?verbose=1",
                method: .get,
                headers: Self.headers([("user-agent", "causeway-test/1")])
            )
        }
        let span = try #require(tracer.spans(ofKind: .server).first)
        #expect(span.operationName == "GET /orders/{id}")
        #expect(span.string("http.request.method") == "GET")
        #expect(span.string("url.path") == "/orders/42")
        #expect(span.string("url.query") == "verbose=1")
        #expect(span.string("http.route") == "/orders/{id}")
        #expect(span.int("http.response.status_code") == 200)
        #expect(span.string("user_agent.original") == "causeway-test/1")
        #expect(span.recorded.status == nil)
        #expect(span.recorded.endCount == 1)
    }

    @Test func createsACorrelationIDAtTheEdgeAndReturnsIt() async throws {
        let tracer = RecordingTracer()
        let app = Application(router: Self.router(tracer: tracer))
        let returned = try await app.test(.router) { client in
            let response = try await client.execute(uri: "/orders/1", method: .get)
            return response.headers[HTTPField.Name("correlation-id")!]
        }
        let span = try #require(tracer.spans(ofKind: .server).first)
        let created = try #require(span.context.correlationID)
        #expect(returned == created.rawValue)
    }

    @Test func keepsTheIncomingCorrelationID() async throws {
        let tracer = RecordingTracer()
        let app = Application(router: Self.router(tracer: tracer))
        let returned = try await app.test(.router) { client in
            let response = try await client.execute(
                uri: "/orders/1",
                method: .get,
                headers: Self.headers([("correlation-id", "order-7")])
            )
            return response.headers[HTTPField.Name("correlation-id")!]
        }
        #expect(returned == "order-7")
        #expect(tracer.spans(ofKind: .server).first?.context.correlationID?.rawValue == "order-7")
    }

    @Test func handlerRunsInTheServerSpansContext() async throws {
        let tracer = RecordingTracer()
        let seen = Mutex<ServiceContext?>(nil)
        let router = Router()
        router.add(middleware: EventTracingMiddleware(tracer: tracer))
        router.get("/inside") { _, _ -> HTTPResponse.Status in
            let current = ServiceContext.current
            seen.withLock { $0 = current }
            return .ok
        }
        try await Application(router: router).test(.router) { client in
            _ = try await client.execute(
                uri: "/inside",
                method: .get,
                headers: Self.headers([("traceparent", Self.traceparent), ("baggage", "tenant=acme")])
            )
        }
        let span = try #require(tracer.spans(ofKind: .server).first)
        let context = try #require(seen.withLock { $0 })
        #expect(context.spanContext == span.identity)
        #expect(context.correlationID != nil)
        #expect(context.baggage?["tenant"] == "acme")
    }

    @Test func serverErrorResponseSetsErrorStatus() async throws {
        let tracer = RecordingTracer()
        try await Application(router: Self.router(tracer: tracer)).test(.router) { client in
            _ = try await client.execute(uri: "/fail", method: .get)
        }
        let span = try #require(tracer.spans(ofKind: .server).first)
        #expect(span.recorded.status?.code == .error)
        #expect(span.int("http.response.status_code") == 500)
        #expect(span.string("error.type") == "500")
    }

    @Test func thrownErrorIsRecordedWithItsStatus() async throws {
        let tracer = RecordingTracer()
        try await Application(router: Self.router(tracer: tracer)).test(.router) { client in
            let response = try await client.execute(uri: "/throw", method: .get)
            #expect(response.status == .serviceUnavailable)
        }
        let span = try #require(tracer.spans(ofKind: .server).first)
        #expect(span.recorded.errors.count == 1)
        #expect(span.recorded.status?.code == .error)
        #expect(span.int("http.response.status_code") == 503)
        #expect(span.recorded.endCount == 1)
    }

    @Test func clientErrorLeavesStatusUnset() async throws {
        let tracer = RecordingTracer()
        try await Application(router: Self.router(tracer: tracer)).test(.router) { client in
            _ = try await client.execute(uri: "/nowhere", method: .get)
        }
        let span = try #require(tracer.spans(ofKind: .server).first)
        #expect(span.int("http.response.status_code") == 404)
        #expect(span.recorded.status == nil)
        #expect(span.operationName == "GET")
        #expect(span.string("http.route") == nil)
    }
}

@Suite("EventTracingMiddleware with other tracers")
struct EventTracingMiddlewareOtherTracerTests {
    /// A tracer that keeps span identities under its own key, as swift-otel does, still
    /// gets the caller as the parent (through its own `extract`), and the correlation ID
    /// is still ours.
    @Test func thirdPartyTracerParentsTheServerSpanThroughItsOwnExtract() async throws {
        let tracer = RecordingTracer(identity: .ownKey)
        let router = Router()
        router.add(middleware: EventTracingMiddleware(tracer: tracer))
        router.get("/") { _, _ -> HTTPResponse.Status in .ok }
        let returned = try await Application(router: router).test(.router) { client in
            let response = try await client.execute(
                uri: "/",
                method: .get,
                headers: EventTracingMiddlewareTests.headers([("traceparent", EventTracingMiddlewareTests.traceparent)])
            )
            return response.headers[HTTPField.Name("correlation-id")!]
        }
        let span = try #require(tracer.spans(ofKind: .server).first)
        #expect(span.parent?.spanID.description == EventTracingMiddlewareTests.parentID)
        #expect(span.identity.traceID.description == EventTracingMiddlewareTests.traceID)
        #expect(returned != nil)
        #expect(span.context.correlationID?.rawValue == returned)
    }

    /// With no tracer at all the extracted context is passed on unchanged, so requests
    /// made by the handler continue the caller's trace.
    @Test func withoutATracerTheIncomingContextPassesThrough() async throws {
        let outgoing = Mutex<HTTPFields?>(nil)
        let router = Router()
        router.add(middleware: EventTracingMiddleware(tracer: NoOpTracer()))
        router.get("/") { _, _ -> HTTPResponse.Status in
            var fields = HTTPFields()
            EventContextPropagator().inject(ServiceContext.current ?? .topLevel, into: &fields, using: HTTPFieldsInjector())
            outgoing.withLock { $0 = fields }
            return .ok
        }
        try await Application(router: router).test(.router) { client in
            _ = try await client.execute(
                uri: "/",
                method: .get,
                headers: EventTracingMiddlewareTests.headers([
                    ("traceparent", EventTracingMiddlewareTests.traceparent), ("tracestate", "vendor=1"),
                ])
            )
        }
        let fields = try #require(outgoing.withLock { $0 })
        #expect(fields[HTTPField.Name("traceparent")!] == EventTracingMiddlewareTests.traceparent)
        #expect(fields[HTTPField.Name("tracestate")!] == "vendor=1")
        #expect(fields[HTTPField.Name("correlation-id")!] != nil)
    }

    /// Methods outside RFC 9110 and PATCH are `_OTHER`, and the span name is `HTTP`.
    @Test func unknownMethodIsOther() async throws {
        let tracer = RecordingTracer()
        let router = Router()
        router.add(middleware: EventTracingMiddleware(tracer: tracer))
        try await Application(router: router).test(.router) { client in
            _ = try await client.execute(uri: "/", method: HTTPRequest.Method("FROB")!)
        }
        let span = try #require(tracer.spans(ofKind: .server).first)
        #expect(span.operationName == "HTTP")
        #expect(span.string("http.request.method") == "_OTHER")
        #expect(span.string("http.request.method_original") == "FROB")
    }
}
