public import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1

/// The scenario driver: places orders with the order service over HTTP, then reads each
/// order's chains back from the collector once they are final.
public struct Scenario: Sendable {
    /// A chain as `/api/chains` lists it, with the services of its hops.
    public struct ChainSummary: Sendable {
        public var chainID: String
        public var status: String
        public var isOpen: Bool
        public var hopCount: Int
        public var spanCount: Int
        public var endToEndNanos: Int
        public var retries: Int
        public var deadLetterHops: Int
        public var duplicatesSkipped: Int
        public var errorCount: Int
        public var services: [String]
    }

    public var orderURL: String
    public var collectorQueryURL: String
    public var client: HTTPClient

    public init(orderURL: String, collectorQueryURL: String, client: HTTPClient = .shared) {
        self.orderURL = orderURL
        self.collectorQueryURL = collectorQueryURL
        self.client = client
    }

    /// Places one order; returns its ID and correlation ID.
    public func placeOrder(item: String, customer: String, quantity: Int = 1) async throws -> (orderID: String, correlationID: String) {
        var request = HTTPClientRequest(url: orderURL + "/orders")
        request.method = .POST
        request.headers.add(name: "content-type", value: "application/json")
        let body = try JSONSerialization.data(withJSONObject: ["item": item, "customer": customer, "quantity": quantity])
        request.body = .bytes(ByteBuffer(bytes: body))
        let response = try await client.execute(request, timeout: .seconds(30))
        let bytes = try await response.body.collect(upTo: 1 << 20)
        let object = (try? JSONSerialization.jsonObject(with: Data(bytes.readableBytesView))) as? [String: Any] ?? [:]
        guard response.status == .accepted, let orderID = object["order_id"] as? String, let correlationID = object["correlation_id"] as? String else {
            throw ScenarioError(message: "POST \(orderURL)/orders answered \(response.status.code): \(String(buffer: bytes))")
        }
        return (orderID, correlationID)
    }

    /// The chains of `correlationID` once at least one exists and none is open, or what
    /// there is when `timeout` passes.
    public func chains(of correlationID: String, timeout: Duration) async throws -> [ChainSummary] {
        let deadline = ContinuousClock.now + timeout
        var last: [ChainSummary] = []
        while ContinuousClock.now < deadline {
            last = try await listChains(correlationID)
            if !last.isEmpty, last.allSatisfy({ !$0.isOpen }) { return last }
            try await Task.sleep(for: .milliseconds(250))
        }
        return last
    }

    func listChains(_ correlationID: String) async throws -> [ChainSummary] {
        let encoded = correlationID.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? correlationID
        let list = try await getJSON("/api/chains?limit=100&correlation_id=" + encoded)
        var chains: [ChainSummary] = []
        for summary in list["data"] as? [[String: Any]] ?? [] {
            guard let chainID = summary["chainID"] as? String else { continue }
            let detail = (try await getJSON("/api/chains/" + chainID)["data"] as? [[String: Any]])?.first ?? summary
            var services = Set<String>()
            for hop in detail["hops"] as? [[String: Any]] ?? [] {
                if let producer = (hop["producer"] as? [String: Any])?["service"] as? String { services.insert(producer) }
                for delivery in hop["deliveries"] as? [[String: Any]] ?? [] {
                    if let service = delivery["service"] as? String { services.insert(service) }
                }
            }
            chains.append(ChainSummary(
                chainID: chainID, status: summary["status"] as? String ?? "?", isOpen: summary["open"] as? Bool ?? true,
                hopCount: summary["hopCount"] as? Int ?? 0, spanCount: summary["spanCount"] as? Int ?? 0,
                endToEndNanos: summary["endToEndNanos"] as? Int ?? 0, retries: summary["retries"] as? Int ?? 0,
                deadLetterHops: summary["deadLetterHops"] as? Int ?? 0, duplicatesSkipped: summary["duplicatesSkipped"] as? Int ?? 0,
                errorCount: summary["errorCount"] as? Int ?? 0, services: services.sorted()))
        }
        return chains
    }

    /// A JSON object from the collector's query API.
    public func getJSON(_ path: String) async throws -> [String: Any] {
        let response = try await client.execute(HTTPClientRequest(url: collectorQueryURL + path), timeout: .seconds(30))
        let bytes = try await response.body.collect(upTo: 64 << 20)
        guard response.status == .ok else {
            throw ScenarioError(message: "GET \(collectorQueryURL)\(path) answered \(response.status.code): \(String(buffer: bytes))")
        }
        return (try? JSONSerialization.jsonObject(with: Data(bytes.readableBytesView))) as? [String: Any] ?? [:]
    }
}

public struct ScenarioError: Error, CustomStringConvertible {
    public var message: String
    public var description: String { message }
}
