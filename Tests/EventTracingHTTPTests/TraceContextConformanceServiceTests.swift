import AsyncHTTPClient
import EventTracing
@testable import EventTracingHTTP
import NIOCore
import NIOHTTP1
import Testing

/// The service behind `causeway conformance w3c`, driven the way the W3C Trace Context
/// harness drives it, with cases taken from W3C Trace Context Level 2
/// (https://www.w3.org/TR/trace-context-2/).
@Suite("W3C conformance service")
struct TraceContextConformanceServiceTests {
    static let traceID = "12345678901234567890123456789012"
    static let parentID = "1234567890123456"

    /// Sends the harness request with `headers` to the service, asking for `calls`
    /// callbacks to a recording server, and returns what the recording server received.
    static func callbacks(headers: [(String, String)], calls: Int = 1) async throws -> [ReceivedRequest] {
        var configuration = HTTPClient.Configuration()
        configuration.disableBuiltInTracing()
        let client = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
        let recorder = RequestRecorder()
        do {
            let service = TraceContextConformanceService(client: client)
            try await withServer(recorder.router()) { recorderPort in
                try await withServer(service.router()) { servicePort in
                    let elements = (0..<calls).map { #"{"url": "http://127.0.0.1:\#(recorderPort)/\#($0)", "arguments": [{"n": \#($0)}]}"# }
                    var request = HTTPClientRequest(url: "http://127.0.0.1:\(servicePort)/test")
                    request.method = .POST
                    for (name, value) in headers { request.headers.add(name: name, value: value) }
                    request.body = .bytes(ByteBuffer(string: "[" + elements.joined(separator: ",") + "]"))
                    let response = try await client.execute(request, timeout: .seconds(10))
                    #expect(response.status == .ok)
                }
            }
            try await client.shutdown()
        } catch {
            try? await client.shutdown()
            throw error
        }
        return recorder.requests
    }

    /// The one callback's single `traceparent`, parsed, and its `tracestate` fields.
    static func propagated(_ headers: [(String, String)]) async throws -> (TraceParent, [String]) {
        let received = try #require(try await callbacks(headers: headers).first)
        let traceparents = received.values("traceparent")
        try #require(traceparents.count == 1, "exactly one traceparent, got \(traceparents)")
        let traceparent = try #require(TraceParent(traceparents[0]))
        #expect(traceparents[0].hasPrefix("00-"))
        return (traceparent, received.values("tracestate"))
    }

    @Test func postsTheArgumentsToEachURLInOrder() async throws {
        let received = try await Self.callbacks(headers: [], calls: 3)
        #expect(received.map(\.path) == ["/0", "/1", "/2"])
        #expect(String(decoding: received[1].body, as: UTF8.self).contains("\"n\""))
        #expect(received[1].values("content-type") == ["application/json"])
    }

    /// §3.2: a participant keeps the trace ID and sends its own span as the parent.
    @Test func validTraceparentKeepsTheTraceWithANewParentID() async throws {
        let (traceparent, _) = try await Self.propagated([("traceparent", "00-\(Self.traceID)-\(Self.parentID)-01")])
        #expect(traceparent.traceID.description == Self.traceID)
        #expect(traceparent.parentID.description != Self.parentID)
        #expect(traceparent.flags == .sampled)
    }

    /// §3.2.4: a higher version is parsed by the version-00 layout and sent as 00.
    @Test func higherVersionIsReadAsVersion00() async throws {
        let (traceparent, _) = try await Self.propagated([
            ("traceparent", "cc-\(Self.traceID)-\(Self.parentID)-01-what-the-future-will-be-like")
        ])
        #expect(traceparent.traceID.description == Self.traceID)
    }

    /// §3.2.2.3: an all-zero trace ID is invalid; §3.4: restart the trace, dropping the
    /// `tracestate`.
    @Test func invalidTraceparentRestartsTheTraceWithoutTracestate() async throws {
        let (traceparent, tracestate) = try await Self.propagated([
            ("traceparent", "00-00000000000000000000000000000000-\(Self.parentID)-01"),
            ("tracestate", "foo=1"),
        ])
        #expect(traceparent.traceID.isValid)
        #expect(traceparent.flags.contains(.random))
        #expect(tracestate.isEmpty)
    }

    /// §3.2.1: two `traceparent` fields make no valid value.
    @Test func duplicatedTraceparentRestartsTheTrace() async throws {
        let (traceparent, _) = try await Self.propagated([
            ("traceparent", "00-\(Self.traceID)-\(Self.parentID)-01"),
            ("traceparent", "00-\(Self.traceID)-\(Self.parentID)-01"),
        ])
        #expect(traceparent.traceID.description != Self.traceID)
    }

    /// §3.2.2.5.2: the `random` flag received is the `random` flag sent.
    @Test func randomFlagIsPropagated() async throws {
        let (traceparent, _) = try await Self.propagated([("traceparent", "00-\(Self.traceID)-\(Self.parentID)-02")])
        #expect(traceparent.flags == .random)
        #expect(traceparent.parentID.description != Self.parentID)
    }

    /// §3.3.2: several `tracestate` fields are one list, kept in order.
    @Test func tracestateFieldsAreCombinedInOrder() async throws {
        let (_, tracestate) = try await Self.propagated([
            ("traceparent", "00-\(Self.traceID)-\(Self.parentID)-00"),
            ("tracestate", "foo=1,bar=2"),
            ("tracestate", "rojo=1,congo=2"),
            ("tracestate", "baz=3"),
        ])
        #expect(tracestate == ["foo=1,bar=2,rojo=1,congo=2,baz=3"])
    }

    /// §3.3.2: at most 32 members; a header of 33 is invalid and dropped.
    @Test func thirtyTwoMembersPassAndThirtyThreeAreDropped() async throws {
        let members = (1...33).map { "bar\($0)=\($0)" }
        let (_, kept) = try await Self.propagated([
            ("traceparent", "00-\(Self.traceID)-\(Self.parentID)-00"),
            ("tracestate", members.prefix(32).joined(separator: ",")),
        ])
        #expect(kept.first.map { TraceState($0)?.entries.count } == 32)

        let (traceparent, dropped) = try await Self.propagated([
            ("traceparent", "00-\(Self.traceID)-\(Self.parentID)-00"),
            ("tracestate", members.joined(separator: ",")),
        ])
        #expect(dropped.isEmpty)
        #expect(traceparent.traceID.description == Self.traceID)
    }

    /// §3.3: an invalid `tracestate` never costs the `traceparent`.
    @Test func invalidTracestateKeepsTheTraceparent() async throws {
        let (traceparent, tracestate) = try await Self.propagated([
            ("traceparent", "00-\(Self.traceID)-\(Self.parentID)-01"),
            ("tracestate", "Foo=1"),
        ])
        #expect(traceparent.traceID.description == Self.traceID)
        #expect(tracestate.isEmpty)
    }

    /// §3.3.2: empty members and optional whitespace are allowed and ignored.
    @Test func tracestateWhitespaceAndEmptyMembersAreIgnored() async throws {
        let (_, tracestate) = try await Self.propagated([
            ("traceparent", "00-\(Self.traceID)-\(Self.parentID)-00"),
            ("tracestate", "foo=1 ,\t,, bar=2"),
        ])
        #expect(tracestate == ["foo=1,bar=2"])
    }

    /// Every call is a new span of the same trace.
    @Test func eachCallGetsItsOwnParentID() async throws {
        let received = try await Self.callbacks(
            headers: [("traceparent", "00-\(Self.traceID)-\(Self.parentID)-01")],
            calls: 3
        )
        let parents = received.compactMap { $0.values("traceparent").first.flatMap(TraceParent.init) }
        #expect(parents.count == 3)
        #expect(Set(parents.map(\.traceID.description)) == [Self.traceID])
        #expect(Set(parents.map(\.parentID)).count == 3)
    }

    @Test func malformedBodyIsABadRequest() async throws {
        let client = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup)
        let service = TraceContextConformanceService(client: client)
        let status = try await withServer(service.router()) { port in
            var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)/")
            request.method = .POST
            request.body = .bytes(ByteBuffer(string: "{\"not\": \"an array\"}"))
            let response = try await client.execute(request, timeout: .seconds(10))
            return response.status
        }
        try await client.shutdown()
        #expect(status == .badRequest)
    }
}
