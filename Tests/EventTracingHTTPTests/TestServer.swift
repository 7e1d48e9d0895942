import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import Synchronization
import Testing

/// A real Hummingbird server on an ephemeral port of 127.0.0.1 for the duration of `body`.
func withServer<Result: Sendable>(
    _ router: Router<BasicRequestContext>,
    _ body: (_ port: Int) async throws -> Result
) async throws -> Result {
    let (ports, continuation) = AsyncStream<Int>.makeStream()
    var logger = Logger(label: "test-server")
    logger.logLevel = .critical
    let app = Application(
        router: router,
        configuration: .init(address: .hostname("127.0.0.1", port: 0)),
        onServerRunning: { channel in
            continuation.yield(channel.localAddress?.port ?? 0)
            continuation.finish()
        },
        logger: logger
    )
    return try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask { try await app.run() }
        defer { group.cancelAll() }
        var iterator = ports.makeAsyncIterator()
        let port = try #require(await iterator.next())
        return try await body(port)
    }
}

/// A request as a server received it.
struct ReceivedRequest: Sendable {
    var path: String
    /// Every header field in order, names as sent.
    var headers: [(name: String, value: String)]
    var body: [UInt8]

    /// The values of every field named `name`, in any case.
    func values(_ name: String) -> [String] {
        headers.filter { $0.name.lowercased() == name.lowercased() }.map(\.value)
    }
}

/// A server endpoint that records what it receives and answers 200.
final class RequestRecorder: Sendable {
    private let received = Mutex<[ReceivedRequest]>([])

    var requests: [ReceivedRequest] { received.withLock { $0 } }

    /// A router that records every POST and GET on any path.
    func router() -> Router<BasicRequestContext> {
        let router = Router()
        let handler: @Sendable (Request, BasicRequestContext) async throws -> Response = { request, _ in
            let body = try await request.body.collect(upTo: 1 << 20)
            let headers = request.headers.map { (name: $0.name.rawName, value: $0.value) }
            self.received.withLock {
                $0.append(ReceivedRequest(path: request.uri.path, headers: headers, body: Array(body.readableBytesView)))
            }
            return Response(status: .ok)
        }
        // "**" matches one or more path components, so "/" needs its own routes.
        router.post("/", use: handler)
        router.get("/", use: handler)
        router.post("**", use: handler)
        router.get("**", use: handler)
        return router
    }
}
