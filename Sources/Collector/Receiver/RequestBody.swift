import Foundation
import CompressNIO
import HTTPTypes
import Hummingbird
import NIOCore

/// Why a request body could not be read.
enum RequestBodyFault: Error, Equatable {
    /// Over the limit, counted after decompression.
    case tooLarge(limit: Int)
    case unsupportedEncoding(String)
    case corrupt(String)
}

/// Reads request bodies up to a limit that applies after decompression.
///
/// The compressed bytes are bounded by the same limit, and inflation writes into an output
/// capped at the limit plus one byte: a gzip bomb is stopped once that cap is reached,
/// never inflated in full.
struct RequestBodyReader {
    var limit: Int

    func read(_ request: Request) async throws -> ByteBuffer {
        let encoding = (request.headers[.contentEncoding] ?? "identity")
            .lowercased().trimmingCharacters(in: .whitespaces)
        var raw = ByteBuffer()
        // Room for the declared length up front: growing a buffer chunk by chunk copied
        // each request's body about twice over. At most 4 MiB on a header's word alone,
        // so that idle connections declaring the limit cannot claim it each.
        if let declared = request.headers[.contentLength].flatMap(Int.init), declared > 0, declared <= limit {
            raw.reserveCapacity(min(declared, 4 << 20))
        }
        for try await chunk in request.body {
            if raw.readableBytes + chunk.readableBytes > limit {
                throw RequestBodyFault.tooLarge(limit: limit)
            }
            var chunk = chunk
            raw.writeBuffer(&chunk)
        }
        switch encoding {
        case "", "identity":
            return raw
        case "gzip", "x-gzip":
            return try inflate(raw, algorithm: .gzip())
        case "deflate":
            // RFC 9110 §8.4.1.2: "deflate" is the zlib format, but many clients send raw
            // deflate; accept both.
            do {
                return try inflate(raw, algorithm: .zlib())
            } catch RequestBodyFault.corrupt {
                return try inflate(raw, algorithm: .deflate())
            }
        default:
            throw RequestBodyFault.unsupportedEncoding(encoding)
        }
    }

    func inflate(_ compressed: ByteBuffer, algorithm: CompressionAlgorithm) throws -> ByteBuffer {
        var input = compressed
        if input.readableBytes == 0 { return input }
        let decompressor = algorithm.decompressor
        do {
            try decompressor.startStream()
        } catch {
            throw RequestBodyFault.corrupt("cannot start \(algorithm) decompression")
        }
        defer { try? decompressor.finishStream() }
        let step = 64 * 1024
        var output = ByteBuffer()
        output.reserveCapacity(min(limit + 1, max(step, compressed.readableBytes * 4)))
        while true {
            let room = limit + 1 - output.readableBytes
            if room <= 0 { throw RequestBodyFault.tooLarge(limit: limit) }
            // Never give zlib much more room than is left below the cap.
            var window = ByteBuffer()
            window.reserveCapacity(min(room, step))
            let windowSize = window.writableBytes
            let before = input.readableBytes
            do {
                try decompressor.streamInflate(from: &input, to: &window)
            } catch let error as CompressNIOError where error == .bufferOverflow {
                // The window filled; go round with more room.
            } catch let error as CompressNIOError where error == .inputBufferOverflow {
                output.writeBuffer(&window)
                throw RequestBodyFault.corrupt("truncated \(algorithm) body")
            } catch {
                throw RequestBodyFault.corrupt("invalid \(algorithm) body: \(error)")
            }
            let produced = window.readableBytes
            output.writeBuffer(&window)
            if output.readableBytes > limit { throw RequestBodyFault.tooLarge(limit: limit) }
            if produced == 0 && input.readableBytes == before {
                // No progress: the stream ended (Z_STREAM_END) or zlib needs input it does not have.
                break
            }
            if input.readableBytes == 0 && produced < windowSize {
                break
            }
        }
        return output
    }
}
