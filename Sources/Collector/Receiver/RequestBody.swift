import CLibDeflate
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

/// A request body as read: the bytes after decompression and, when the body came as one
/// gzip member and nothing else, the bytes as received (an exporter that sends gzip
/// forwards them instead of compressing the same bytes again).
struct ReadBody {
    var bytes: ByteBuffer
    var gzip: ByteBuffer?
}

/// Reads request bodies up to a limit that applies after decompression.
///
/// The compressed bytes are bounded by the same limit, and inflation writes into an output
/// capped at the limit plus one byte: a gzip bomb is stopped once that cap is reached,
/// never inflated in full. A gzip body may hold several members, as RFC 1952 allows
/// (each is inflated in turn), and zero bytes after the last; any other bytes after the
/// end of a compressed stream are refused rather than ignored, since they may be data.
struct RequestBodyReader {
    var limit: Int

    func read(_ request: Request) async throws -> ByteBuffer {
        try await readKeepingGzip(request).bytes
    }

    func readKeepingGzip(_ request: Request) async throws -> ReadBody {
        let encoding = trimmedLowercased((request.headers[.contentEncoding] ?? "identity")[...])
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
            return ReadBody(bytes: raw)
        case "gzip", "x-gzip":
            if let bytes = inflateSingleMember(raw) { return ReadBody(bytes: bytes, gzip: raw) }
            let (bytes, members) = try inflate(raw, algorithm: .gzip(), isGzip: true)
            return ReadBody(bytes: bytes, gzip: members == 1 && bytes.readableBytes > 0 ? raw : nil)
        case "deflate":
            // RFC 9110 §8.4.1.2: "deflate" is the zlib format, but many clients send raw
            // deflate; accept both.
            do {
                return ReadBody(bytes: try inflate(raw, algorithm: .zlib()).bytes)
            } catch RequestBodyFault.corrupt {
                return ReadBody(bytes: try inflate(raw, algorithm: .deflate()).bytes)
            }
        default:
            throw RequestBodyFault.unsupportedEncoding(encoding)
        }
    }

    /// The common case first: a body of one gzip member whose trailer gives its size
    /// (ISIZE, RFC 1952 §2.3.1) within the limit, inflated in one pass by libdeflate into a
    /// buffer of exactly that size (zlib's streaming inflate, into windows copied out, was
    /// a fifth of the collector's CPU with gzip requests; this is about half of it).
    /// `nil` for anything else, which `inflate` then reads and, if wrong, names: several
    /// members, bytes after the member, an empty one, a size over the limit or not the one
    /// the trailer claims (a bomb stops at that size here), a bad checksum, corrupt data.
    func inflateSingleMember(_ compressed: ByteBuffer) -> ByteBuffer? {
        let count = compressed.readableBytes
        guard count >= 18, let size = compressed.getInteger(at: compressed.readerIndex + count - 4, endianness: .little, as: UInt32.self),
            size > 0, Int(size) <= limit, let decompressor = libdeflate_alloc_decompressor()
        else { return nil }
        defer { libdeflate_free_decompressor(decompressor) }
        var output = ByteBufferAllocator().buffer(capacity: Int(size))
        var succeeded = false
        output.writeWithUnsafeMutableBytes(minimumWritableBytes: Int(size)) { destination in
            compressed.withUnsafeReadableBytes { source in
                var consumed = 0
                var produced = 0
                let result = libdeflate_gzip_decompress_ex(
                    decompressor, source.baseAddress, source.count, destination.baseAddress, Int(size), &consumed, &produced)
                succeeded = result == LIBDEFLATE_SUCCESS && consumed == source.count && produced == Int(size)
                return succeeded ? produced : 0
            }
        }
        return succeeded ? output : nil
    }

    /// The inflated bytes, and how many compressed streams (gzip members, when `isGzip`)
    /// they came from.
    func inflate(_ compressed: ByteBuffer, algorithm: CompressionAlgorithm, isGzip: Bool = false) throws -> (bytes: ByteBuffer, streams: Int) {
        var input = compressed
        if input.readableBytes == 0 { return (input, 0) }
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
        var streams = 1
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
                // No progress with input left: the stream ended (Z_STREAM_END) before it.
                guard input.readableBytes > 0 else { break }
                if isGzip, input.readableBytesView.starts(with: [0x1f, 0x8b]) {
                    do {
                        try decompressor.resetStream()
                    } catch {
                        throw RequestBodyFault.corrupt("cannot restart \(algorithm) decompression for the next member")
                    }
                    streams += 1
                    continue
                }
                if isGzip, input.readableBytesView.allSatisfy({ $0 == 0 }) { break }
                throw RequestBodyFault.corrupt("\(input.readableBytes) bytes after the end of the \(algorithm) stream")
            }
            if input.readableBytes == 0 && produced < windowSize {
                break
            }
        }
        return (output, streams)
    }
}
