import ArgumentParser
import AsyncHTTPClient
import Collector
import Foundation
import NIOCore

/// `causeway chain ID`: a chain's waterfall from a running collector.
struct ChainCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "chain",
        abstract: "Print a chain as a terminal waterfall: services as lanes, queue waits, errors and dead letters.",
        discussion: """
            ID is a chain ID, the trace ID of any span in the chain, or a correlation ID (every \
            chain of that correlation ID is printed). Reads /api/chains from the collector.
            """
    )

    @Argument(help: "A chain ID, trace ID or correlation ID.")
    var id: String

    @Option(help: "The collector's query API.")
    var collector = "http://127.0.0.1:8686"

    @Option(help: "Columns of the time axis.")
    var width = 60

    func run() async throws {
        let base = collector.hasSuffix("/") ? String(collector.dropLast()) : collector
        var chains: [[String: Any]] = []
        let looksLikeID = (1...32).contains(id.count) && id.allSatisfy(\.isHexDigit)
        if looksLikeID {
            chains = try await fetch(base + "/api/chains/" + id)["data"] as? [[String: Any]] ?? []
        }
        if chains.isEmpty {
            let encoded = id.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? id
            let object = try await fetch(base + "/api/chains?limit=1000&correlation_id=" + encoded)
            if let errors = object["errors"] as? [Any] {
                throw ChainLookupFailure(message: "the collector answered: \(errors)")
            }
            for summary in (object["data"] as? [[String: Any]] ?? []).reversed() {
                guard let chainID = summary["chainID"] as? String else { continue }
                chains += try await fetch(base + "/api/chains/" + chainID)["data"] as? [[String: Any]] ?? []
            }
        }
        guard !chains.isEmpty else {
            throw ChainLookupFailure(message: "no chain, trace or correlation ID \"\(id)\" at \(base)")
        }
        print(chains.map { ChainWaterfall.render($0, width: width) }.joined(separator: "\n"), terminator: "")
    }

    /// The JSON object answered; `data` is null and `errors` set when the collector refused.
    func fetch(_ url: String) async throws -> [String: Any] {
        let response: HTTPClientResponse
        do {
            response = try await HTTPClient.shared.execute(HTTPClientRequest(url: url), timeout: .seconds(30))
        } catch {
            throw ChainLookupFailure(message: "cannot reach the collector at \(url): \(error)")
        }
        let body = try await response.body.collect(upTo: 256 << 20)
        let object = (try? JSONSerialization.jsonObject(with: Data(body.readableBytesView))) as? [String: Any] ?? [:]
        return object
    }
}

/// Why `causeway chain` found nothing to print.
struct ChainLookupFailure: Error, CustomStringConvertible {
    var message: String
    var description: String { message }
}
