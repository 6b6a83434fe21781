import Foundation

/// A split/replace pattern from tokenizer.json, with a hand-written scanner for the regexes
/// every LLaMA-family tokenizer uses (GPT-2's and Llama-3's / tiktoken's) and Swift `Regex`
/// for any other.
enum Pattern: Sendable {
    case literal([UInt32])
    case gpt2
    /// Llama-3 family; `maxDigits` is 3 for Llama-3's `\p{N}{1,3}`, 1 for Qwen2's `\p{N}`.
    case llama3(maxDigits: Int)
    case regex(RegexBox)

    static let gpt2Source = #"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"#
    static let llama3Source =
        #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#
    static let qwen2Source =
        #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#

    /// A regex pattern: a known one gets its scanner unless `forceRegex` (tests use that to
    /// check the general path against the same goldens).
    static func regex(_ source: String, forceRegex: Bool = false) -> Pattern? {
        if !forceRegex {
            if source == gpt2Source { return .gpt2 }
            if source == llama3Source { return .llama3(maxDigits: 3) }
            if source == qwen2Source { return .llama3(maxDigits: 1) }
        }
        guard let box = RegexBox(source) else { return nil }
        return .regex(box)
    }

    /// Non-overlapping matches, left to right, as scalar offset ranges.
    func matches(in s: [UInt32]) -> [Range<Int>] {
        switch self {
        case .literal(let needle): return Pattern.literalMatches(needle, in: s)
        case .gpt2: return PretokenizerScanners.split(s, scan: PretokenizerScanners.gpt2Match)
        case .llama3(let maxDigits):
            return PretokenizerScanners.split(s) { s, i in PretokenizerScanners.llama3Match(s, i, maxDigits: maxDigits) }
        case .regex(let box): return box.matches(in: s)
        }
    }

    private static func literalMatches(_ needle: [UInt32], in s: [UInt32]) -> [Range<Int>] {
        guard !needle.isEmpty, needle.count <= s.count else { return [] }
        var out: [Range<Int>] = []
        var i = 0
        let first = needle[0]
        while i + needle.count <= s.count {
            if s[i] == first, needle.count == 1 || s[i..<(i + needle.count)].elementsEqual(needle) {
                out.append(i..<(i + needle.count))
                i += needle.count
            } else {
                i += 1
            }
        }
        return out
    }

    /// Replaces every match with `content`.
    func replace(in s: [UInt32], with content: [UInt32]) -> [UInt32] {
        let found = matches(in: s)
        if found.isEmpty { return s }
        var out: [UInt32] = []
        out.reserveCapacity(s.count)
        var last = 0
        for r in found {
            out.append(contentsOf: s[last..<r.lowerBound])
            out.append(contentsOf: content)
            last = r.upperBound
        }
        out.append(contentsOf: s[last...])
        return out
    }
}

/// A Swift `Regex` matched over Unicode scalars (the reference's onig works on code points, not
/// grapheme clusters). Matching is serialized: `Regex` compiles lazily on first use.
final class RegexBox: @unchecked Sendable {
    private let regex: Regex<AnyRegexOutput>
    private let lock = NSLock()

    init?(_ source: String) {
        guard let r = try? Regex(source) else { return nil }
        regex = r.matchingSemantics(.unicodeScalar)
    }

    func matches(in s: [UInt32]) -> [Range<Int>] {
        let text = String(scalarValues: s)
        lock.lock()
        defer { lock.unlock() }
        var out: [Range<Int>] = []
        let scalars = text.unicodeScalars
        var offset = 0
        var index = scalars.startIndex
        for m in text.matches(of: regex) where !m.range.isEmpty {
            offset += scalars.distance(from: index, to: m.range.lowerBound)
            let length = scalars.distance(from: m.range.lowerBound, to: m.range.upperBound)
            out.append(offset..<(offset + length))
            offset += length
            index = m.range.upperBound
        }
        return out
    }
}

/// Hand-written equivalents of the GPT-2 and Llama-3 split regexes (leftmost alternative wins,
/// greedy quantifiers, as onig evaluates them). Each returns the match length at `i`; every
/// position matches one alternative, so the splits cover the whole input.
enum PretokenizerScanners {
    static func split(_ s: [UInt32], scan: ([UInt32], Int) -> Int) -> [Range<Int>] {
        var out: [Range<Int>] = []
        var i = 0
        while i < s.count {
            let n = max(1, scan(s, i))
            out.append(i..<(i + n))
            i += n
        }
        return out
    }

    @inline(__always) private static func isL(_ v: UInt32) -> Bool { UnicodeClasses.isLetter(v) }
    @inline(__always) private static func isN(_ v: UInt32) -> Bool { UnicodeClasses.isNumber(v) }
    @inline(__always) private static func isS(_ v: UInt32) -> Bool { UnicodeClasses.isWhitespace(v) }
    @inline(__always) private static func isOther(_ v: UInt32) -> Bool { !isS(v) && !isL(v) && !isN(v) }
    @inline(__always) private static func isCRLF(_ v: UInt32) -> Bool { v == 0x0A || v == 0x0D }

    private static func run(_ s: [UInt32], from i: Int, while p: (UInt32) -> Bool) -> Int {
        var j = i
        while j < s.count, p(s[j]) { j += 1 }
        return j
    }

    /// `'s|'t|'re|'ve|'m|'ll|'d` (optionally case-insensitive, with onig's case folding:
    /// U+017F LATIN SMALL LETTER LONG S folds to s).
    private static func contraction(_ s: [UInt32], _ i: Int, caseInsensitive: Bool) -> Int {
        guard s[i] == 0x27, i + 1 < s.count else { return 0 }
        func lower(_ v: UInt32) -> UInt32 {
            guard caseInsensitive else { return v }
            if v >= 0x41 && v <= 0x5A { return v | 0x20 }
            if v == 0x17F { return 0x73 }
            return v
        }
        let a = lower(s[i + 1])
        switch a {
        case 0x73, 0x74, 0x6D, 0x64: return 2  // s t m d
        case 0x72, 0x76:  // re ve
            return i + 2 < s.count && lower(s[i + 2]) == 0x65 ? 3 : 0
        case 0x6C:  // ll
            return i + 2 < s.count && lower(s[i + 2]) == 0x6C ? 3 : 0
        default: return 0
        }
    }

    /// `\s+(?!\S)|\s+` at a whitespace character.
    private static func trailingWhitespace(_ s: [UInt32], _ i: Int) -> Int {
        let e = run(s, from: i, while: isS)
        if e == s.count || e - i < 2 { return e - i }
        return e - 1 - i
    }

    /// GPT-2: `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`
    static func gpt2Match(_ s: [UInt32], _ i: Int) -> Int {
        let c = s[i]
        if c == 0x27 {
            let n = contraction(s, i, caseInsensitive: false)
            if n > 0 { return n }
        }
        let j = c == 0x20 && i + 1 < s.count ? i + 1 : i
        let d = s[j]
        if isL(d) { return run(s, from: j, while: isL) - i }
        if isN(d) { return run(s, from: j, while: isN) - i }
        if isOther(d) { return run(s, from: j, while: isOther) - i }
        return trailingWhitespace(s, i)
    }

    /// Llama-3: `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|
    /// ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
    static func llama3Match(_ s: [UInt32], _ i: Int, maxDigits: Int) -> Int {
        let c = s[i]
        if c == 0x27 {
            let n = contraction(s, i, caseInsensitive: true)
            if n > 0 { return n }
        }
        if isL(c) { return run(s, from: i, while: isL) - i }
        if !isCRLF(c), !isN(c), i + 1 < s.count, isL(s[i + 1]) { return run(s, from: i + 1, while: isL) - i }
        if isN(c) { return min(run(s, from: i, while: isN) - i, maxDigits) }
        let j = c == 0x20 && i + 1 < s.count && isOther(s[i + 1]) ? i + 1 : i
        if isOther(s[j]) {
            let e = run(s, from: j, while: isOther)
            return run(s, from: e, while: isCRLF) - i
        }
        // Whitespace: `\s*[\r\n]+` ends at the last CR/LF of the run, if any.
        let e = run(s, from: i, while: isS)
        var k = e - 1
        while k >= i, !isCRLF(s[k]) { k -= 1 }
        if k >= i { return k + 1 - i }
        return trailingWhitespace(s, i)
    }
}
