/// tokenizer.json's `post_processor`, reduced to what a single sequence needs: the ids to put
/// before and after it when special tokens are requested.
struct PostProcessor: Sendable {
    var prefix: [TokenID] = []
    var suffix: [TokenID] = []

    /// The first token the template puts before the sequence (the BOS it adds, if any).
    var leadingToken: TokenID? { prefix.first }

    func apply(_ ids: [TokenID]) -> [TokenID] {
        prefix.isEmpty && suffix.isEmpty ? ids : prefix + ids + suffix
    }

    static func parse(_ json: JSONValue?, reader r: FieldReader) throws(TokenizerError) -> PostProcessor {
        guard let json, !json.isNull else { return PostProcessor() }
        var p = PostProcessor()
        try p.add(json, field: "post_processor", reader: r)
        return p
    }

    private mutating func add(_ json: JSONValue, field: String, reader r: FieldReader) throws(TokenizerError) {
        let type = try r.string(json["type"], "\(field).type")
        switch type {
        case "Sequence":
            let items = try r.array(json["processors"], "\(field).processors")
            for (k, item) in items.enumerated() { try add(item, field: "\(field).processors[\(k)]", reader: r) }
        case "ByteLevel":
            break  // only trims offsets
        case "TemplateProcessing":
            try addTemplate(json, field: field, reader: r)
        case "RobertaProcessing", "BertProcessing":
            // {"cls": ["<s>", 0], "sep": ["</s>", 2]}: cls A sep
            func pair(_ key: String) throws(TokenizerError) -> TokenID {
                let a = try r.array(json[key], "\(field).\(key)")
                guard a.count == 2 else { throw r.invalid("\(field).\(key)", "expected [token, id]") }
                return try r.tokenID(a[1], "\(field).\(key)[1]")
            }
            let cls = try pair("cls"), sep = try pair("sep")
            prefix = [cls] + prefix
            suffix = suffix + [sep]
        default:
            throw r.unsupported("\(field).type", type)
        }
    }

    private mutating func addTemplate(_ json: JSONValue, field: String, reader r: FieldReader) throws(TokenizerError) {
        var specials: [String: [TokenID]] = [:]
        if let map = json["special_tokens"]?.objectValue {
            for (name, entry) in map {
                let ids = try r.array(entry["ids"], "\(field).special_tokens[\"\(name)\"].ids")
                var out: [TokenID] = []
                for (k, id) in ids.enumerated() {
                    out.append(try r.tokenID(id, "\(field).special_tokens[\"\(name)\"].ids[\(k)]"))
                }
                specials[name] = out
            }
        }
        let pieces = try r.array(json["single"], "\(field).single")
        var before: [TokenID] = [], after: [TokenID] = []
        var seenSequence = false
        for (k, piece) in pieces.enumerated() {
            let f = "\(field).single[\(k)]"
            if let special = piece["SpecialToken"] {
                let name = try r.string(special["id"], "\(f).SpecialToken.id")
                guard let ids = specials[name] else { throw r.invalid(f, "special token \"\(name)\" is not in special_tokens") }
                if seenSequence { after += ids } else { before += ids }
            } else if piece["Sequence"] != nil {
                seenSequence = true
            } else {
                throw r.invalid(f, "expected SpecialToken or Sequence")
            }
        }
        // A later processor in a Sequence wraps the output of the earlier ones.
        prefix = before + prefix
        suffix = suffix + after
    }
}
