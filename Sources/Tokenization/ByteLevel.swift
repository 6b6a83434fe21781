/// GPT-2's reversible byte ↔ printable-character map (`bytes_to_unicode`): printable Latin-1
/// bytes map to themselves, the other 68 bytes to U+0100… in order.
enum ByteLevelMap {
    /// byte → scalar value.
    static let byteToScalar: [UInt32] = {
        var table = [UInt32](repeating: 0, count: 256)
        var next: UInt32 = 256
        for b in 0..<256 {
            let printable = (0x21...0x7E).contains(b) || (0xA1...0xAC).contains(b) || (0xAE...0xFF).contains(b)
            if printable { table[b] = UInt32(b) } else { table[b] = next; next += 1 }
        }
        return table
    }()

    /// scalar value (< 0x144) → byte, or -1 where the scalar is not in the alphabet.
    static let scalarToByte: [Int16] = {
        var table = [Int16](repeating: -1, count: 0x144)
        for (b, s) in byteToScalar.enumerated() { table[Int(s)] = Int16(b) }
        return table
    }()

    /// Appends the bytes a byte-level token stands for; a token with any character outside the
    /// alphabet stands for its own UTF-8 (as the reference decoder does).
    static func appendBytes(of token: String, to out: inout [UInt8]) {
        let start = out.count
        for s in token.unicodeScalars {
            let v = Int(s.value)
            guard v < scalarToByte.count, scalarToByte[v] >= 0 else {
                out.removeSubrange(start...)
                out.append(contentsOf: token.utf8)
                return
            }
            out.append(UInt8(scalarToByte[v]))
        }
    }
}
