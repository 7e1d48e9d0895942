extension Array {
    /// Calls `body` with a pointer to each element where it lies: `for element in array`
    /// copies each, a retain and release of every string and array in it, which for a
    /// chain's hops was most of encoding them, and for spans about 8 % of the stitcher's
    /// ingest. Passing a buffer's element as `borrowing` still copied it.
    @inline(__always)
    func forEachInPlace(_ body: (UnsafePointer<Element>) -> Void) {
        withUnsafeBufferPointer { buffer in
            guard let base = buffer.baseAddress else { return }
            for position in buffer.indices { body(base + position) }
        }
    }
}
