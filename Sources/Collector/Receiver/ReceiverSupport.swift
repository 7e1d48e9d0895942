import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// What every receiver checks before reading a body.
struct ReceiverGate: Sendable {
    var bearerToken: String?

    /// Whether the request carries the configured bearer token (always, when none is set).
    func authorizes(_ request: Request) -> Bool {
        guard let bearerToken else { return true }
        guard let header = request.headers[.authorization] else { return false }
        let parts = header.split(separator: " ", maxSplits: 1)
        guard parts.count == 2, parts[0].lowercased() == "bearer" else { return false }
        return constantTimeEqual(Array(parts[1].utf8), Array(bearerToken.utf8))
    }

    /// Compares without stopping at the first difference, so the time taken does not
    /// tell how much of a guessed token was right.
    private func constantTimeEqual(_ lhs: [UInt8], _ rhs: [UInt8]) -> Bool {
        guard lhs.count == rhs.count else { return false }
        var difference: UInt8 = 0
        for index in lhs.indices { difference |= lhs[index] ^ rhs[index] }
        return difference == 0
    }
}

extension Response {
    static func bytes(_ status: HTTPResponse.Status, contentType: String, _ bytes: [UInt8], headers: HTTPFields = [:]) -> Response {
        var fields = headers
        fields[.contentType] = contentType
        return Response(status: status, headers: fields, body: ResponseBody(byteBuffer: ByteBuffer(bytes: bytes)))
    }

    static func text(_ status: HTTPResponse.Status, _ text: String, headers: HTTPFields = [:]) -> Response {
        bytes(status, contentType: "text/plain; charset=utf-8", Array((text + "\n").utf8), headers: headers)
    }
}

/// The media type of a `Content-Type` value, lowercased, without parameters and without
/// the spaces and tabs around it.
func mediaType(_ value: String?) -> String? {
    guard let value else { return nil }
    let type = trimmedLowercased(value[..<(value.utf8.firstIndex(of: UInt8(ascii: ";")) ?? value.endIndex)])
    return type.isEmpty ? nil : type
}

/// A header value's token without the spaces and tabs HTTP allows around it, lowercased.
/// Byte by byte: Foundation's `trimmingCharacters` took over 1 % of the collector's CPU,
/// on every request.
func trimmedLowercased(_ value: Substring) -> String {
    let utf8 = value.utf8
    @inline(__always) func isSpace(_ byte: UInt8) -> Bool { byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") }
    var lower = utf8.startIndex
    var upper = utf8.endIndex
    while lower < upper, isSpace(utf8[lower]) { lower = utf8.index(after: lower) }
    while upper > lower, isSpace(utf8[utf8.index(before: upper)]) { upper = utf8.index(before: upper) }
    return String(value[lower..<upper]).lowercased()
}
