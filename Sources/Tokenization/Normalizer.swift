import Foundation

/// One step of tokenizer.json's `normalizer` (a `Sequence` is flattened into its steps).
enum NormalizerStep: Sendable {
    case prepend([UInt32])
    case replace(Pattern, content: [UInt32])
    case nfc, nfd, nfkc, nfkd
    case lowercase
    case strip(left: Bool, right: Bool)
    case stripAccents
    /// The `ByteLevel` normalizer: text → byte-level alphabet.
    case byteLevel

    static func parse(_ json: JSONValue, field: String, reader r: FieldReader) throws(TokenizerError) -> [NormalizerStep] {
        let type = try r.string(json["type"], "\(field).type")
        switch type {
        case "Sequence":
            let items = try r.array(json["normalizers"], "\(field).normalizers")
            var steps: [NormalizerStep] = []
            for (k, item) in items.enumerated() {
                steps += try parse(item, field: "\(field).normalizers[\(k)]", reader: r)
            }
            return steps
        case "Prepend":
            return [.prepend(try r.string(json["prepend"], "\(field).prepend").scalarValues)]
        case "Replace":
            let pattern = try parsePattern(json["pattern"], field: "\(field).pattern", reader: r)
            return [.replace(pattern, content: try r.string(json["content"], "\(field).content").scalarValues)]
        case "NFC": return [.nfc]
        case "NFD": return [.nfd]
        case "NFKC": return [.nfkc]
        case "NFKD": return [.nfkd]
        case "Lowercase": return [.lowercase]
        case "Strip":
            return [.strip(left: try r.bool(json["strip_left"], "\(field).strip_left", default: true),
                           right: try r.bool(json["strip_right"], "\(field).strip_right", default: true))]
        case "StripAccents": return [.stripAccents]
        case "ByteLevel": return [.byteLevel]
        default: throw r.unsupported("\(field).type", type)
        }
    }

    func apply(_ s: [UInt32]) -> [UInt32] {
        switch self {
        case .prepend(let p): return s.isEmpty ? s : p + s
        case .replace(let pattern, let content): return pattern.replace(in: s, with: content)
        case .nfc: return String(scalarValues: s).precomposedStringWithCanonicalMapping.scalarValues
        case .nfd: return String(scalarValues: s).decomposedStringWithCanonicalMapping.scalarValues
        case .nfkc: return String(scalarValues: s).precomposedStringWithCompatibilityMapping.scalarValues
        case .nfkd: return String(scalarValues: s).decomposedStringWithCompatibilityMapping.scalarValues
        case .lowercase: return String(scalarValues: s).lowercased().scalarValues
        case .strip(let left, let right):
            var lo = 0, hi = s.count
            if left { while lo < hi, UnicodeClasses.isWhitespace(s[lo]) { lo += 1 } }
            if right { while hi > lo, UnicodeClasses.isWhitespace(s[hi - 1]) { hi -= 1 } }
            return Array(s[lo..<hi])
        case .stripAccents:
            return s.filter { v in
                guard let u = Unicode.Scalar(v) else { return true }
                switch u.properties.generalCategory {
                case .nonspacingMark, .spacingMark, .enclosingMark: return false
                default: return true
                }
            }
        case .byteLevel:
            var out: [UInt32] = []
            out.reserveCapacity(s.count)
            for b in String(scalarValues: s).utf8 { out.append(ByteLevelMap.byteToScalar[Int(b)]) }
            return out
        }
    }
}

/// `{"String": "…"}` or `{"Regex": "…"}` as tokenizer.json spells patterns.
func parsePattern(_ json: JSONValue?, field: String, reader r: FieldReader, forceRegex: Bool = false) throws(TokenizerError) -> Pattern {
    let obj = try r.object(json, field)
    if let literal = obj["String"] {
        return .literal(try r.string(literal, "\(field).String").scalarValues)
    }
    if let source = obj["Regex"] {
        let text = try r.string(source, "\(field).Regex")
        guard let p = Pattern.regex(text, forceRegex: forceRegex) else {
            throw r.unsupported("\(field).Regex", text)
        }
        return p
    }
    throw r.invalid(field, "expected {\"String\": …} or {\"Regex\": …}")
}
