/// tokenizer.json's `decoder`, compiled into a streaming form.
///
/// The reference decoders map a list of token strings to a list of strings and then join it.
/// Every supported step is causal, so the list can flow through one token at a time:
///   unit steps  — per-list-element steps (Replace, Metaspace, Strip) and ByteFallback, which
///                 holds a run of `<0xNN>` tokens until the run ends;
///   merge       — Fuse / the final join (`concat`), ByteLevel (bytes → lossy UTF-8), or the
///                 space join used when there is no decoder at all;
///   text steps  — steps that come after a Fuse and so see the whole text as one element.
/// `Tokenizer.decode` runs this same machine to the end, so streaming output concatenates to
/// exactly what `decode` returns.
struct DecoderPlan: Sendable {
    enum UnitStep: Sendable {
        case replace(pattern: [UInt32], content: [UInt32])
        case metaspace(replacement: UInt32, dropOnFirst: Bool)
        case strip(content: UInt32, start: Int, stop: Int)
        case byteFallback
    }
    enum Merge: Sendable { case concat, byteLevel, spaceJoin }
    enum TextStep: Sendable {
        case replace(pattern: [UInt32], content: [UInt32])
        case strip(content: UInt32, start: Int, stop: Int)
        case removeAll(UInt32)
        case map(from: UInt32, to: UInt32)
    }

    var unitSteps: [UnitStep] = []
    var merge: Merge = .concat
    var textSteps: [TextStep] = []

    /// True when the decoder reads `<0xNN>` tokens as bytes.
    var hasByteFallback: Bool { unitSteps.contains { if case .byteFallback = $0 { true } else { false } } }

    static func parse(_ json: JSONValue?, reader r: FieldReader) throws(TokenizerError) -> DecoderPlan {
        guard let json, !json.isNull else { return DecoderPlan(merge: .spaceJoin) }
        var plan = DecoderPlan()
        var fused = false
        try plan.add(json, field: "decoder", fused: &fused, reader: r)
        return plan
    }

    private mutating func add(_ json: JSONValue, field: String, fused: inout Bool, reader r: FieldReader) throws(TokenizerError) {
        let type = try r.string(json["type"], "\(field).type")
        switch type {
        case "Sequence":
            let items = try r.array(json["decoders"], "\(field).decoders")
            for (k, item) in items.enumerated() {
                try add(item, field: "\(field).decoders[\(k)]", fused: &fused, reader: r)
            }
        case "Fuse":
            fused = true
        case "ByteLevel":
            guard !fused else { throw r.unsupported("\(field).type", "ByteLevel after Fuse") }
            merge = .byteLevel
            fused = true
        case "ByteFallback":
            guard !fused else { throw r.unsupported("\(field).type", "ByteFallback after Fuse/ByteLevel") }
            unitSteps.append(.byteFallback)
        case "Replace":
            let pattern = try parsePattern(json["pattern"], field: "\(field).pattern", reader: r)
            guard case .literal(let needle) = pattern, !needle.isEmpty else {
                throw r.unsupported("\(field).pattern", "a regex pattern in a decoder")
            }
            let content = try r.string(json["content"], "\(field).content").scalarValues
            if fused { textSteps.append(.replace(pattern: needle, content: content)) } else {
                unitSteps.append(.replace(pattern: needle, content: content))
            }
        case "Strip":
            let content = try r.scalar(json["content"], "\(field).content").value
            let start = try r.int(json["start"], "\(field).start"), stop = try r.int(json["stop"], "\(field).stop")
            guard start >= 0, stop >= 0 else { throw r.invalid(field, "negative strip count") }
            if fused { textSteps.append(.strip(content: content, start: start, stop: stop)) } else {
                unitSteps.append(.strip(content: content, start: start, stop: stop))
            }
        case "Metaspace":
            let replacement = try r.scalar(json["replacement"], "\(field).replacement").value
            let drop = try PreTokenizerStep.metaspacePrepend(json, field: field, reader: r) != .never
            if fused {
                // After a Fuse the whole text is list element 0.
                textSteps.append(drop ? .removeAll(replacement) : .map(from: replacement, to: 0x20))
            } else {
                unitSteps.append(.metaspace(replacement: replacement, dropOnFirst: drop))
            }
        default:
            throw r.unsupported("\(field).type", type)
        }
    }
}

/// The running state of a `DecoderPlan` over one token stream.
struct DecoderState: Sendable {
    private let plan: DecoderPlan
    private var unitCounts: [Int]           // [unitSteps] elements seen so far (Metaspace index)
    private var pendingBytes: [[UInt8]]     // [unitSteps] held <0xNN> run (ByteFallback)
    private var utf8 = UTF8Stream()
    private var joinedAny = false
    private var held: [[UInt32]]            // [textSteps] text a step cannot emit yet
    private var stripLeft: [Int]            // [textSteps] leading characters Strip may still remove
    private var bytes: [UInt8] = []         // scratch: a byte-level token's bytes (storage kept)
    private var scalars: [UInt32] = []      // scratch: their decoded scalar values (storage kept)

    init(plan: DecoderPlan) {
        self.plan = plan
        unitCounts = Array(repeating: 0, count: plan.unitSteps.count)
        pendingBytes = Array(repeating: [], count: plan.unitSteps.count)
        held = Array(repeating: [], count: plan.textSteps.count)
        stripLeft = plan.textSteps.map { if case .strip(_, let start, _) = $0 { start } else { 0 } }
    }

    /// Feeds one token string; returns the text that is now final.
    mutating func push(_ token: String) -> String {
        var out = ""
        feedUnit(token, step: 0, &out)
        return out
    }

    /// Ends the stream; returns the remaining text.
    mutating func finish() -> String {
        var out = ""
        for k in plan.unitSteps.indices { flushBytes(step: k, &out) }
        if plan.merge == .byteLevel {
            scalars.removeAll(keepingCapacity: true)
            utf8.finish(into: &scalars)
            feedText(scalars, step: 0, &out)
        }
        finishText(step: 0, &out)
        return out
    }

    // MARK: unit steps

    private mutating func feedUnit(_ unit: String, step k: Int, _ out: inout String) {
        guard k < plan.unitSteps.count else { return sinkUnit(unit, &out) }
        switch plan.unitSteps[k] {
        case .replace(let needle, let content):
            feedUnit(String(scalarValues: Pattern.literal(needle).replace(in: unit.scalarValues, with: content)), step: k + 1, &out)
        case .metaspace(let replacement, let dropOnFirst):
            let first = unitCounts[k] == 0
            unitCounts[k] += 1
            var s = String.UnicodeScalarView()
            for u in unit.unicodeScalars {
                if u.value != replacement { s.append(u) } else if !(first && dropOnFirst) { s.append(" ") }
            }
            feedUnit(String(s), step: k + 1, &out)
        case .strip(let content, let start, let stop):
            feedUnit(String(scalarValues: Self.strip(unit.scalarValues, content, start, stop)), step: k + 1, &out)
        case .byteFallback:
            if let byte = Self.byteToken(unit) {
                pendingBytes[k].append(byte)
                return
            }
            flushBytes(step: k, &out)
            feedUnit(unit, step: k + 1, &out)
        }
    }

    /// Ends a `<0xNN>` run: valid UTF-8 becomes one element, otherwise one U+FFFD per byte.
    private mutating func flushBytes(step k: Int, _ out: inout String) {
        guard case .byteFallback = plan.unitSteps[k], !pendingBytes[k].isEmpty else { return }
        let bytes = pendingBytes[k]
        pendingBytes[k].removeAll()
        let text = String(decoding: bytes, as: UTF8.self)
        if text.utf8.elementsEqual(bytes) {
            feedUnit(text, step: k + 1, &out)
        } else {
            for _ in bytes { feedUnit("\u{FFFD}", step: k + 1, &out) }
        }
    }

    /// `<0xNN>` as the reference reads it: six bytes, `u8::from_str_radix` of the middle two.
    static func byteToken(_ token: String) -> UInt8? {
        let u = Array(token.utf8)
        guard u.count == 6, u[0] == 0x3C, u[1] == 0x30, u[2] == 0x78, u[5] == 0x3E else { return nil }
        func digit(_ c: UInt8) -> UInt8? {
            switch c {
            case 0x30...0x39: c - 0x30
            case 0x41...0x46: c - 0x41 + 10
            case 0x61...0x66: c - 0x61 + 10
            default: nil
            }
        }
        if u[3] == 0x2B { return digit(u[4]) }  // "+F" parses in Rust
        guard let hi = digit(u[3]), let lo = digit(u[4]) else { return nil }
        return hi << 4 | lo
    }

    static func strip(_ s: [UInt32], _ content: UInt32, _ start: Int, _ stop: Int) -> [UInt32] {
        var lo = 0
        while lo < min(start, s.count), s[lo] == content { lo += 1 }
        var hi = s.count
        var removed = 0
        while removed < stop, hi > lo, s[hi - 1] == content { hi -= 1; removed += 1 }
        return Array(s[lo..<hi])
    }

    // MARK: merge

    private mutating func sinkUnit(_ unit: String, _ out: inout String) {
        switch plan.merge {
        case .concat, .spaceJoin:
            scalars.removeAll(keepingCapacity: true)
            if plan.merge == .spaceJoin, joinedAny { scalars.append(0x20) }
            for u in unit.unicodeScalars { scalars.append(u.value) }
            joinedAny = true
            feedText(scalars, step: 0, &out)
        case .byteLevel:
            bytes.removeAll(keepingCapacity: true)
            ByteLevelMap.appendBytes(of: unit, to: &bytes)
            scalars.removeAll(keepingCapacity: true)
            utf8.feed(bytes, into: &scalars)
            feedText(scalars, step: 0, &out)
        }
    }

    // MARK: text steps

    private mutating func feedText(_ text: [UInt32], step k: Int, _ out: inout String) {
        if text.isEmpty { return }
        guard k < plan.textSteps.count else {
            // A plain loop: `append(contentsOf:)` of a lazy map runs unspecialized inside the
            // standard library (generic metadata lookups per call).
            for v in text { if let u = Unicode.Scalar(v) { out.unicodeScalars.append(u) } }
            return
        }
        switch plan.textSteps[k] {
        case .removeAll(let c):
            feedText(text.filter { $0 != c }, step: k + 1, &out)
        case .map(let from, let to):
            feedText(text.map { $0 == from ? to : $0 }, step: k + 1, &out)
        case .replace(let needle, let content):
            let buffer = held[k] + text
            // Matches found now are final (leftmost scanning never revisits them); after the
            // last one, hold back the longest tail that could still grow into a match.
            let tailStart = Pattern.literal(needle).matches(in: buffer).last?.upperBound ?? 0
            var keep = min(needle.count - 1, buffer.count - tailStart)
            while keep > 0, !buffer.suffix(keep).elementsEqual(needle.prefix(keep)) { keep -= 1 }
            let ready = Array(buffer.dropLast(keep))
            held[k] = Array(buffer.suffix(keep))
            feedText(Pattern.literal(needle).replace(in: ready, with: content), step: k + 1, &out)
        case .strip(let content, _, let stop):
            var s = text[...]
            while stripLeft[k] > 0, let c = s.first {
                if c == content { s = s.dropFirst(); stripLeft[k] -= 1 } else { stripLeft[k] = 0 }
            }
            if s.isEmpty { return }
            stripLeft[k] = 0
            var buffer = held[k] + s
            var run = 0
            while run < min(stop, buffer.count), buffer[buffer.count - 1 - run] == content { run += 1 }
            held[k] = Array(buffer.suffix(run))
            buffer.removeLast(run)
            feedText(buffer, step: k + 1, &out)
        }
    }

    private mutating func finishText(step k: Int, _ out: inout String) {
        guard k < plan.textSteps.count else { return }
        let rest = held[k]
        held[k] = []
        switch plan.textSteps[k] {
        case .replace: feedText(rest, step: k + 1, &out)
        case .strip: break  // held characters are the stripped trailing ones
        case .removeAll, .map: break
        }
        finishText(step: k + 1, &out)
    }
}
