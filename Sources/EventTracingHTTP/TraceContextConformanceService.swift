package import AsyncHTTPClient
import EventTracing
import Foundation
import HTTPTypes
package import Hummingbird
import Instrumentation
import NIOCore
import NIOHTTP1

/// The service the official W3C Trace Context test harness drives
/// (https://github.com/w3c/trace-context/tree/main/test, behind `causeway conformance w3c`).
///
/// The harness POSTs a JSON array `[{"url": ..., "arguments": [...]}]` to any path, with
/// the trace context under test in the request headers. For each element, in order, the
/// service POSTs `arguments` as the JSON body to `url`, as a participant of the trace
/// that starts a span per call: the same trace ID, a new parent ID, the `sampled` and
/// `random` flags as they came in, and the `tracestate` passed on — all through
/// ``EventContextPropagator``. An invalid `traceparent` starts a new trace (random IDs,
/// `random` flag set, sampled) and drops the `tracestate` (Level 2 §3.2.2 and §3.3; the
/// `baggage` and `correlation-id` that came in are passed on as well.
package struct TraceContextConformanceService: Sendable {
    /// The most bytes of a harness request read.
    static let maxBodyBytes = 1 << 20

    private let client: HTTPClient

    /// Creates the service; its calls go out through `client`, which should not trace on
    /// its own (see ``AsyncHTTPClient/HTTPClient/Configuration/disableBuiltInTracing()``).
    package init(client: HTTPClient) {
        self.client = client
    }

    /// A router that answers every POST, whatever its path, with the harness protocol.
    package func router() -> Router<BasicRequestContext> {
        let router = Router()
        let handler: @Sendable (Request, BasicRequestContext) async throws -> Response = { request, context in
            try await self.handle(request)
        }
        router.post("/", use: handler)
        router.post("**", use: handler)
        return router
    }

    /// Runs the harness request in `request`: one outgoing call per array element.
    func handle(_ request: Request) async throws -> Response {
        let body = try await request.body.collect(upTo: Self.maxBodyBytes)
        let calls: [Call]
        do {
            calls = try Call.decode(Data(body.readableBytesView))
        } catch {
            throw HTTPError(.badRequest, message: "expected a JSON array of {\"url\": ..., \"arguments\": ...}")
        }

        var incoming = ServiceContext.topLevel
        EventContextPropagator(createsCorrelationID: false).extract(request.headers, into: &incoming, using: HTTPFieldsExtractor())
        // §3.4 "Restart trace" when traceparent is absent or invalid; the extraction has
        // then left no span context, and no tracestate either.
        let parent = incoming.spanContext

        for call in calls {
            var context = incoming
            context.spanContext = parent?.child() ?? SpanContext.newTrace(sampled: true)
            var outgoing = HTTPClientRequest(url: call.url)
            outgoing.method = .POST
            outgoing.headers.add(name: "content-type", value: "application/json")
            EventContextPropagator(createsCorrelationID: false).inject(context, into: &outgoing.headers, using: HTTPHeadersInjector())
            outgoing.body = .bytes(ByteBuffer(bytes: call.arguments))
            let response = try await client.execute(outgoing, timeout: .seconds(10))
            // Drain the body so that the connection can be reused.
            _ = try await response.body.collect(upTo: Self.maxBodyBytes)
        }
        return Response(status: .ok)
    }

    /// One element of the harness's array.
    struct Call {
        var url: String
        /// `arguments` re-encoded as JSON.
        var arguments: Data

        static func decode(_ data: Data) throws -> [Call] {
            guard let array = try JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed]) as? [Any]
            else { throw DecodingError.dataCorrupted(.init(codingPath: [], debugDescription: "not an array")) }
            return try array.map { element in
                guard let object = element as? [String: Any], let url = object["url"] as? String else {
                    throw DecodingError.dataCorrupted(.init(codingPath: [], debugDescription: "no url"))
                }
                let arguments = try JSONSerialization.data(
                    withJSONObject: object["arguments"] ?? [Any](),
                    options: [.fragmentsAllowed]
                )
                return Call(url: url, arguments: arguments)
            }
        }
    }
}
