/// Incremental lossy UTF-8 decoding with the same replacement rule as Rust's
/// `String::from_utf8_lossy` (one U+FFFD per maximal invalid subpart), so decoding a byte stream
/// in pieces gives exactly what decoding it whole gives. An incomplete sequence at the end is
/// held back until more bytes arrive or the stream finishes.
struct UTF8Stream: Sendable {
    private var pending: [UInt8] = []

    /// Decodes what can be decoded of the bytes so far.
    mutating func feed(_ bytes: [UInt8]) -> String {
        if pending.isEmpty {
            pending = bytes
        } else {
            pending.append(contentsOf: bytes)
        }
        return drain(final: false)
    }

    /// Decodes the rest; an incomplete trailing sequence becomes one U+FFFD.
    mutating func finish() -> String { drain(final: true) }

    private mutating func drain(final: Bool) -> String {
        var out = String.UnicodeScalarView()
        let buf = pending
        let n = buf.count
        var i = 0
        outer: while i < n {
            let b0 = buf[i]
            if b0 < 0x80 {
                out.append(Unicode.Scalar(b0))
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
                out.append("\u{FFFD}")
                i += 1
                continue outer
            }
            var value = UInt32(b0) & (length == 2 ? 0x1F : length == 3 ? 0x0F : 0x07)
            for k in 1..<length {
                if i + k >= n {
                    if final {
                        out.append("\u{FFFD}")
                        i = n
                        break outer
                    }
                    pending = Array(buf[i...])
                    return String(out)
                }
                let b = buf[i + k]
                let ok = k == 1 ? (lo...hi).contains(b) : (0x80...0xBF).contains(b)
                if !ok {
                    out.append("\u{FFFD}")
                    i += k
                    continue outer
                }
                value = value << 6 | UInt32(b & 0x3F)
            }
            out.append(Unicode.Scalar(value) ?? "\u{FFFD}")
            i += length
        }
        pending.removeAll(keepingCapacity: true)
        return String(out)
    }
}
