extension String {
    /// `==`, lengths first. Equal names met again are mostly the same string (the stitcher
    /// interns them), which `==` answers at once; two different ones went through the
    /// standard library's general comparison, which was most of looking a name up in a
    /// short list (a chain body's names, a write's names, the chain metrics' label sets).
    @inline(__always)
    func isSameText(as other: String) -> Bool { utf8.count == other.utf8.count && self == other }
}

extension Optional<String> {
    /// Both `nil`, or the same text (`String.isSameText(as:)`).
    @inline(__always)
    func isSameText(as other: String?) -> Bool {
        switch (self, other) {
        case (nil, nil): true
        case (let a?, let b?): a.isSameText(as: b)
        default: false
        }
    }
}
