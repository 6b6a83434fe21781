/// Incremental lossy UTF-8 decoding with the same replacement rule as Rust's
/// `String::from_utf8_lossy` (one U+FFFD per maximal invalid subpart), so decoding a byte stream
/// in pieces gives exactly what decoding it whole gives. An incomplete sequence at the end is
/// held back until more bytes arrive or the stream finishes.
///
/// Decoded scalars are appended to the caller's buffer and the held-back bytes keep their
/// storage, so a streaming caller that reuses its buffers allocates nothing per token.
struct UTF8Stream: Sendable {
    private var pending: [UInt8] = []

    /// Appends to `scalars` the scalar values of what can be decoded of the bytes so far.
    mutating func feed(_ bytes: [UInt8], into scalars: inout [UInt32]) {
        pending.append(contentsOf: bytes)
        drain(final: false, into: &scalars)
    }

    /// Appends the rest; an incomplete trailing sequence becomes one U+FFFD.
    mutating func finish(into scalars: inout [UInt32]) { drain(final: true, into: &scalars) }

    private static let replacement: UInt32 = 0xFFFD

    private mutating func drain(final: Bool, into out: inout [UInt32]) {
        let n = pending.count
        var i = 0
        outer: while i < n {
            let b0 = pending[i]
            if b0 < 0x80 {
                out.append(UInt32(b0))
                i += 1
                continue
            }
            let length: Int, lo: UInt8, hi: UInt8
            switch b0 {
            case 0xC2...0xDF: (length, lo, hi) = (2, 0x80, 0xBF)
            case 0xE0: (length, lo, hi) = (3, 0xA0, 0xBF)
            case 0xE1...0xEC, 0xEE...0xEF: (length, lo, hi) = (3, 0x80, 0xBF)
            case 0xED: (length, lo, hi) = (3, 0x80, 0x9F)
            case 0xF0: (length, lo, hi) = (4, 0x90, 0xBF)
            case 0xF1...0xF3: (length, lo, hi) = (4, 0x80, 0xBF)
            case 0xF4: (length, lo, hi) = (4, 0x80, 0x8F)
            default:
                out.append(Self.replacement)
                i += 1
                continue outer
            }
            var value = UInt32(b0) & (length == 2 ? 0x1F : length == 3 ? 0x0F : 0x07)
            for k in 1..<length {
                if i + k >= n {
                    if final {
                        out.append(Self.replacement)
                        i = n
                        break outer
                    }
                    pending.removeFirst(i)   // keep the incomplete sequence (at most 3 bytes)
                    return
                }
                let b = pending[i + k]
                let ok = k == 1 ? (lo...hi).contains(b) : (0x80...0xBF).contains(b)
                if !ok {
                    out.append(Self.replacement)
                    i += k
                    continue outer
                }
                value = value << 6 | UInt32(b & 0x3F)
            }
            out.append(Unicode.Scalar(value) != nil ? value : Self.replacement)
            i += length
        }
        pending.removeAll(keepingCapacity: true)
    }
}
