#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// `pwrite` and `pread` of whole ranges, retried after a signal or a short count: what the
/// span segments and the exporters' queues both need of their files.
enum PositionalIO {
    /// A system call's failure.
    struct Failure: Error {
        var errno: Int32
    }

    static func write(_ descriptor: Int32, _ bytes: UnsafeRawBufferPointer, at offset: Int) throws(Failure) {
        let written = try transfer(bytes.count) { done in
            pwrite(descriptor, bytes.baseAddress! + done, bytes.count - done, off_t(offset + done))
        }
        // A write that makes no progress: the device is full or gone.
        guard written == bytes.count else { throw Failure(errno: EIO) }
    }

    static func write(_ descriptor: Int32, _ bytes: ArraySlice<UInt8>, at offset: Int) throws(Failure) {
        try bytes.withUnsafeBytes { raw in Result { () throws(Failure) in try write(descriptor, raw, at: offset) } }.get()
    }

    /// Reads up to `bytes.count` bytes from `offset`; returns how many there were.
    static func read(_ descriptor: Int32, into bytes: inout [UInt8], at offset: Int) throws(Failure) -> Int {
        try bytes.withUnsafeMutableBytes { raw in
            Result { () throws(Failure) -> Int in
                try transfer(raw.count) { done in pread(descriptor, raw.baseAddress! + done, raw.count - done, off_t(offset + done)) }
            }
        }.get()
    }

    /// Calls `call` with the bytes done so far until `count` are done, it returns 0 (the end
    /// of the file) or it fails with anything but EINTR.
    private static func transfer(_ count: Int, _ call: (_ done: Int) -> Int) throws(Failure) -> Int {
        var done = 0
        while done < count {
            let result = call(done)
            if result < 0 {
                if errno == EINTR { continue }
                throw Failure(errno: errno)
            }
            if result == 0 { break }
            done += result
        }
        return done
    }
}
