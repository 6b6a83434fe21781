/// Character classes used by pre-tokenizer patterns and added-token rules, over Unicode scalar
/// values. \p{L} and \p{N} come from the reference's own tables (`UnicodeTables`); the other
/// classes from the stdlib. The BMP is served from a flag table built once.
enum UnicodeClasses {
    private static let letter: UInt8 = 1        // \p{L}
    private static let number: UInt8 = 2        // \p{N}
    private static let whitespace: UInt8 = 4    // \s (Unicode White_Space, as onig and Rust regex use it)
    private static let word: UInt8 = 8          // Rust regex \w: Alphabetic, M, Nd, Pc, Join_Control
    private static let pythonSpace: UInt8 = 16  // str.isspace(): what Jinja's trim / Python's strip remove

    private static let bmp: [UInt8] = (0..<0x10000).map { computeFlags(UInt32($0)) }

    private static func computeFlags(_ v: UInt32) -> UInt8 {
        guard let s = Unicode.Scalar(v) else { return 0 }
        let p = s.properties
        var f: UInt8 = 0
        if inRanges(UnicodeTables.letterRanges, v) { f |= letter }
        if inRanges(UnicodeTables.numberRanges, v) { f |= number }
        if p.isWhitespace { f |= whitespace | pythonSpace }
        if (0x1C...0x1F).contains(v) { f |= pythonSpace }
        switch p.generalCategory {
        case .nonspacingMark, .spacingMark, .enclosingMark, .decimalNumber, .connectorPunctuation: f |= word
        default: if p.isAlphabetic || p.isJoinControl { f |= word }
        }
        return f
    }

    /// Binary search in flattened [lo, hi, lo, hi, …] ranges.
    private static func inRanges(_ r: [UInt32], _ v: UInt32) -> Bool {
        var lo = 0, hi = r.count / 2
        while lo < hi {
            let mid = (lo + hi) / 2
            if r[2 * mid + 1] < v { lo = mid + 1 } else { hi = mid }
        }
        return lo < r.count / 2 && r[2 * lo] <= v
    }

    @inline(__always) private static func flags(_ v: UInt32) -> UInt8 {
        v < 0x10000 ? bmp[Int(v)] : computeFlags(v)
    }

    @inline(__always) static func isLetter(_ v: UInt32) -> Bool {
        if v < 0x80 { return (v | 0x20) >= 0x61 && (v | 0x20) <= 0x7A }
        return flags(v) & letter != 0
    }

    @inline(__always) static func isNumber(_ v: UInt32) -> Bool {
        if v < 0x80 { return v >= 0x30 && v <= 0x39 }
        return flags(v) & number != 0
    }

    @inline(__always) static func isWhitespace(_ v: UInt32) -> Bool {
        if v < 0x80 { return v == 0x20 || (v >= 0x09 && v <= 0x0D) }
        return flags(v) & whitespace != 0
    }

    @inline(__always) static func isWord(_ v: UInt32) -> Bool { flags(v) & word != 0 }

    /// Python's `str.isspace()`, which Jinja's `trim` and `str.strip()` use.
    @inline(__always) static func isPythonSpace(_ v: UInt32) -> Bool { flags(v) & pythonSpace != 0 }
}

extension String {
    /// The string's Unicode scalar values: the unit every pipeline stage works in, as the
    /// reference works in Rust `char`s.
    var scalarValues: [UInt32] {
        var out: [UInt32] = []
        out.reserveCapacity(utf8.count)
        for s in unicodeScalars { out.append(s.value) }
        return out
    }

    /// A string made of exactly these scalars (no normalization happens on construction).
    init<C: Collection>(scalarValues: C) where C.Element == UInt32 {
        var s = String.UnicodeScalarView()
        for v in scalarValues { if let u = Unicode.Scalar(v) { s.append(u) } }
        self = String(s)
    }

    /// Python's `str.strip()` (Jinja's `trim`).
    func pythonStripped() -> String {
        let v = scalarValues
        var lo = 0, hi = v.count
        while lo < hi, UnicodeClasses.isPythonSpace(v[lo]) { lo += 1 }
        while hi > lo, UnicodeClasses.isPythonSpace(v[hi - 1]) { hi -= 1 }
        return String(scalarValues: v[lo..<hi])
    }
}
