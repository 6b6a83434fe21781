/// A stretch of text on its way to the model. `atStart` records whether it begins at offset 0 of
/// the caller's input, which Metaspace's `prepend_scheme: "first"` depends on.
struct TextPiece {
    var scalars: [UInt32]
    var atStart: Bool
}

/// How a split keeps the delimiters it found (tokenizers' `SplitDelimiterBehavior`).
enum SplitBehavior: String, Sendable {
    case removed = "Removed", isolated = "Isolated", mergedWithPrevious = "MergedWithPrevious"
    case mergedWithNext = "MergedWithNext", contiguous = "Contiguous"
}

enum MetaspacePrepend: String, Sendable { case always, first, never }

/// One step of tokenizer.json's `pre_tokenizer` (a `Sequence` is flattened into its steps).
enum PreTokenizerStep: Sendable {
    case byteLevel(addPrefixSpace: Bool, useRegex: Bool)
    case split(Pattern, SplitBehavior, invert: Bool)
    case metaspace(replacement: UInt32, prepend: MetaspacePrepend, split: Bool)
    case digits(individual: Bool)
    case whitespaceSplit

    static func parse(_ json: JSONValue, field: String, reader r: FieldReader, forceRegex: Bool) throws(TokenizerError) -> [PreTokenizerStep] {
        let type = try r.string(json["type"], "\(field).type")
        switch type {
        case "Sequence":
            let items = try r.array(json["pretokenizers"], "\(field).pretokenizers")
            var steps: [PreTokenizerStep] = []
            for (k, item) in items.enumerated() {
                steps += try parse(item, field: "\(field).pretokenizers[\(k)]", reader: r, forceRegex: forceRegex)
            }
            return steps
        case "ByteLevel":
            return [.byteLevel(addPrefixSpace: try r.bool(json["add_prefix_space"], "\(field).add_prefix_space", default: true),
                               useRegex: try r.bool(json["use_regex"], "\(field).use_regex", default: true))]
        case "Split":
            let pattern = try parsePattern(json["pattern"], field: "\(field).pattern", reader: r, forceRegex: forceRegex)
            let name = try r.string(json["behavior"], "\(field).behavior")
            guard let behavior = SplitBehavior(rawValue: name) else { throw r.unsupported("\(field).behavior", name) }
            return [.split(pattern, behavior, invert: try r.bool(json["invert"], "\(field).invert", default: false))]
        case "Metaspace":
            let replacement = try r.scalar(json["replacement"], "\(field).replacement").value
            return [.metaspace(replacement: replacement, prepend: try metaspacePrepend(json, field: field, reader: r),
                               split: try r.bool(json["split"], "\(field).split", default: true))]
        case "Digits":
            return [.digits(individual: try r.bool(json["individual_digits"], "\(field).individual_digits", default: false))]
        case "WhitespaceSplit":
            return [.whitespaceSplit]
        default:
            throw r.unsupported("\(field).type", type)
        }
    }

    /// `prepend_scheme` (default "always"), or the pre-0.14 `add_prefix_space` flag.
    static func metaspacePrepend(_ json: JSONValue, field: String, reader r: FieldReader) throws(TokenizerError) -> MetaspacePrepend {
        var scheme = MetaspacePrepend.always
        if let v = json["prepend_scheme"], !v.isNull {
            let name = try r.string(v, "\(field).prepend_scheme")
            guard let s = MetaspacePrepend(rawValue: name) else { throw r.unsupported("\(field).prepend_scheme", name) }
            scheme = s
        }
        if try !r.bool(json["add_prefix_space"], "\(field).add_prefix_space", default: true) {
            guard scheme == .never || json["prepend_scheme"] == nil else {
                throw r.invalid("\(field).add_prefix_space", "false contradicts prepend_scheme \"\(scheme.rawValue)\"")
            }
            scheme = .never
        }
        return scheme
    }

    func apply(_ piece: TextPiece, into out: inout [TextPiece]) {
        switch self {
        case .byteLevel(let addPrefixSpace, let useRegex):
            var s = piece.scalars
            if addPrefixSpace, s.first != 0x20 { s.insert(0x20, at: 0) }
            let parts = useRegex ? Self.cut(s, Pattern.gpt2.matches(in: s), .isolated, invert: false, atStart: piece.atStart)
                                 : [TextPiece(scalars: s, atStart: piece.atStart)]
            for part in parts {
                var mapped: [UInt32] = []
                mapped.reserveCapacity(part.scalars.count)
                for v in part.scalars {
                    if v < 0x80 {
                        mapped.append(ByteLevelMap.byteToScalar[Int(v)])
                    } else if let u = Unicode.Scalar(v) {
                        UTF8.encode(u) { mapped.append(ByteLevelMap.byteToScalar[Int($0)]) }
                    }
                }
                out.append(TextPiece(scalars: mapped, atStart: part.atStart))
            }
        case .split(let pattern, let behavior, let invert):
            out += Self.cut(piece.scalars, pattern.matches(in: piece.scalars), behavior, invert: invert, atStart: piece.atStart)
        case .metaspace(let replacement, let prepend, let split):
            var s = piece.scalars
            for k in s.indices where s[k] == 0x20 { s[k] = replacement }
            let doPrepend = switch prepend {
            case .always: s.first != replacement
            case .first: s.first != replacement && piece.atStart
            case .never: false
            }
            if doPrepend { s.insert(replacement, at: 0) }
            if split {
                let marks = s.indices.filter { s[$0] == replacement }.map { $0..<($0 + 1) }
                out += Self.cut(s, marks, .mergedWithNext, invert: false, atStart: piece.atStart)
            } else if !s.isEmpty {
                out.append(TextPiece(scalars: s, atStart: piece.atStart))
            }
        case .digits(let individual):
            let s = piece.scalars
            let marks = s.indices.filter { UnicodeClasses.isNumber(s[$0]) }.map { $0..<($0 + 1) }
            out += Self.cut(s, marks, individual ? .isolated : .contiguous, invert: false, atStart: piece.atStart)
        case .whitespaceSplit:
            let s = piece.scalars
            let marks = s.indices.filter { UnicodeClasses.isWhitespace(s[$0]) }.map { $0..<($0 + 1) }
            out += Self.cut(s, marks, .removed, invert: false, atStart: piece.atStart)
        }
    }

    /// Splits `s` at `matches` the way `NormalizedString::split` does; empty pieces are dropped.
    static func cut(_ s: [UInt32], _ matches: [Range<Int>], _ behavior: SplitBehavior, invert: Bool, atStart: Bool) -> [TextPiece] {
        var marked: [(range: Range<Int>, isMatch: Bool)] = []
        var prev = 0
        for m in matches {
            if prev != m.lowerBound { marked.append((prev..<m.lowerBound, invert)) }
            marked.append((m, !invert))
            prev = m.upperBound
        }
        if prev != s.count { marked.append((prev..<s.count, invert)) }

        var kept: [(range: Range<Int>, remove: Bool)] = []
        switch behavior {
        case .isolated:
            kept = marked.map { ($0.range, false) }
        case .removed:
            kept = marked.map { ($0.range, $0.isMatch) }
        case .contiguous:
            var previous = false
            for m in marked {
                if m.isMatch == previous, let last = kept.last {
                    kept[kept.count - 1].range = last.range.lowerBound..<m.range.upperBound
                } else {
                    kept.append((m.range, false))
                }
                previous = m.isMatch
            }
        case .mergedWithPrevious:
            var previous = false
            for m in marked {
                if m.isMatch, !previous, let last = kept.last {
                    kept[kept.count - 1].range = last.range.lowerBound..<m.range.upperBound
                } else {
                    kept.append((m.range, false))
                }
                previous = m.isMatch
            }
        case .mergedWithNext:
            var previous = false
            for m in marked.reversed() {
                if m.isMatch, !previous, let last = kept.last {
                    kept[kept.count - 1].range = m.range.lowerBound..<last.range.upperBound
                } else {
                    kept.append((m.range, false))
                }
                previous = m.isMatch
            }
            kept.reverse()
        }
        var out: [TextPiece] = []
        out.reserveCapacity(kept.count)
        for k in kept where !k.remove && !k.range.isEmpty {
            out.append(TextPiece(scalars: Array(s[k.range]), atStart: atStart && k.range.lowerBound == 0))
        }
        return out
    }
}
