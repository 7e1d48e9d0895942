#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Appends to a file with `O_DIRECT`, bypassing the page cache.
///
/// On this project's 2-core VM a buffered write costs about 2.7 s of kernel CPU per GB
/// (copying into freshly allocated page-cache pages), a fifth of the collector's CPU at
/// 100k spans/s, while a direct write of the same GB costs 0.07 s and runs five times
/// faster. Spans are written once and rarely read back, so the page cache buys nothing.
///
/// Direct I/O moves whole blocks from aligned memory to aligned offsets, so each append
/// rewrites the file's last partial block (kept in `tail`) with the new bytes after it,
/// staged through one aligned buffer a chunk at a time, and the file holds zeros after
/// its logical end up to the next block boundary. The owner truncates the file to its
/// logical size when it is done with it; a reader of a file left padded by a crash sees
/// the zeros as the end of its records.
final class DirectAppender {
    static let block = 4096
    static let chunk = 1 << 20
    let descriptor: Int32
    private let staging: UnsafeMutableRawPointer
    /// The bytes of the file from its last block boundary to its logical end.
    private var tail: [UInt8]

    /// Opens `path` for direct writes; `nil` where the file system does not take them
    /// (tmpfs, for one), and the caller writes through the page cache instead.
    init?(path: String, tail: [UInt8]) {
        guard let direct = Self.directFlag else { return nil }
        let descriptor = open(path, O_WRONLY | direct | O_CLOEXEC)
        guard descriptor >= 0 else { return nil }
        var memory: UnsafeMutableRawPointer?
        guard posix_memalign(&memory, Self.block, Self.chunk) == 0, let memory else {
            close(descriptor)
            return nil
        }
        self.descriptor = descriptor
        self.staging = memory
        self.tail = tail
    }

    /// Glibc defines `O_DIRECT` only under `_GNU_SOURCE`, which Swift's import does not
    /// set; the values are the kernel's (asm-generic/fcntl.h, arm64's asm/fcntl.h).
    static var directFlag: Int32? {
        #if os(Linux) && arch(x86_64)
        return 0o40000
        #elseif os(Linux) && arch(arm64)
        return 0o200000
        #else
        return nil
        #endif
    }

    deinit {
        free(staging)
        close(descriptor)
    }

    /// Starts a batch in `buffer` (emptied, its capacity kept) so that it can be written
    /// from where it lies, without staging: filler up to a block-aligned address, then the
    /// file's last partial block. The caller appends the new bytes after the returned
    /// prefix length and hands the buffer to `appendPrepared`. Copying every batch into the
    /// staging buffer was 7 % of storing spans.
    func prepare(_ buffer: inout [UInt8], expecting count: Int) -> Int {
        buffer.removeAll(keepingCapacity: true)
        // Room for the filler, the tail, the bytes and the zeros to the next block, so
        // that the buffer is not moved (and misaligned) as the caller appends.
        buffer.reserveCapacity(2 * Self.block + tail.count + count)
        let address = buffer.withUnsafeBufferPointer { UInt(bitPattern: $0.baseAddress) }
        let filler = Int((UInt(Self.block) - address % UInt(Self.block)) % UInt(Self.block))
        buffer.append(contentsOf: repeatElement(0, count: filler))
        buffer.append(contentsOf: tail)
        return filler + tail.count
    }

    /// Writes the bytes after `prefix` in `buffer` (started by `prepare`) at `size`, the
    /// file's logical end, from the buffer itself; through the staging buffer when the
    /// caller's appends moved it. Throws as `append` does. The buffer is left as given.
    func appendPrepared(_ buffer: inout [UInt8], prefix: Int, at size: Int) throws(DirectWriteError) {
        let filler = prefix - tail.count
        let total = buffer.count - filler
        let padded = (total + Self.block - 1) / Self.block * Self.block
        guard filler >= 0, buffer.capacity >= filler + padded,
            buffer.withUnsafeBufferPointer({ UInt(bitPattern: $0.baseAddress) &+ UInt(filler) }) % UInt(Self.block) == 0
        else {
            return try append(buffer[prefix...], at: size)
        }
        buffer.append(contentsOf: repeatElement(0, count: padded - total))
        defer { buffer.removeLast(padded - total) }
        do throws(PositionalIO.Failure) {
            let start = size - tail.count
            try buffer.withUnsafeBytes { raw in
                Result { () throws(PositionalIO.Failure) in
                    try PositionalIO.write(descriptor, UnsafeRawBufferPointer(rebasing: raw[filler ..< filler + padded]), at: start)
                }
            }.get()
        } catch {
            throw DirectWriteError(errno: error.errno)
        }
        tail = Array(buffer[filler + total - total % Self.block ..< filler + total])
    }

    /// Writes `bytes` at `size`, the file's logical end. Throws the `errno` of a failed
    /// write; nothing before `size` is changed by a failure.
    func append(_ bytes: ArraySlice<UInt8>, at size: Int) throws(DirectWriteError) {
        let start = size - tail.count
        let total = tail.count + bytes.count
        var done = 0
        while done < total {
            let count = min(Self.chunk, total - done)
            // Stage bytes done..<done+count of tail + bytes.
            var filled = 0
            if done < tail.count {
                let fromTail = min(tail.count - done, count)
                tail.withUnsafeBytes { staging.copyMemory(from: $0.baseAddress! + done, byteCount: fromTail) }
                filled = fromTail
            }
            if filled < count {
                let from = done + filled - tail.count
                bytes.withUnsafeBytes { raw in
                    (staging + filled).copyMemory(from: raw.baseAddress! + from, byteCount: count - filled)
                }
            }
            let padded = (count + Self.block - 1) / Self.block * Self.block
            (staging + count).initializeMemory(as: UInt8.self, repeating: 0, count: padded - count)
            do throws(PositionalIO.Failure) {
                try PositionalIO.write(descriptor, UnsafeRawBufferPointer(start: staging, count: padded), at: start + done)
            } catch {
                throw DirectWriteError(errno: error.errno)
            }
            done += count
        }
        // The new partial last block: the end of tail + bytes.
        let kept = total % Self.block
        if kept <= bytes.count {
            tail = Array(bytes.suffix(kept))
        } else {
            tail = Array(tail.suffix(kept - bytes.count)) + bytes
        }
    }
}

struct DirectWriteError: Error {
    var errno: Int32
}
