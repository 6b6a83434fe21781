/// What tokenizer_config.json contributes: special-token names and the chat template source.
struct TokenizerConfig: Sendable {
    var bosToken: String?
    var eosToken: String?
    var unkToken: String?
    var padToken: String?
    /// additional_special_tokens / extra_special_tokens.
    var extraSpecialTokens: [String] = []
    /// The Jinja source (the "default" one when the file lists several).
    var chatTemplate: String?

    init() {}

    init(json: JSONValue) throws(TokenizerError) {
        let r = FieldReader(file: "tokenizer_config.json")
        guard case .object = json else { throw r.invalid("(root)", "expected an object") }
        bosToken = try Self.tokenName(json["bos_token"], "bos_token", r)
        eosToken = try Self.tokenName(json["eos_token"], "eos_token", r)
        unkToken = try Self.tokenName(json["unk_token"], "unk_token", r)
        padToken = try Self.tokenName(json["pad_token"], "pad_token", r)
        for key in ["additional_special_tokens", "extra_special_tokens"] {
            // extra_special_tokens may also be a {name: token} map in transformers 5.
            if let list = json[key]?.arrayValue {
                for (k, item) in list.enumerated() {
                    if let name = try Self.tokenName(item, "\(key)[\(k)]", r) { extraSpecialTokens.append(name) }
                }
            } else if let map = json[key]?.objectValue {
                for (name, item) in map {
                    if let token = try Self.tokenName(item, "\(key).\(name)", r) { extraSpecialTokens.append(token) }
                }
            }
        }
        chatTemplate = try Self.chatTemplate(json["chat_template"], r)
    }

    /// A token given as "<s>" or as {"content": "<s>", …} (older files add "__type": "AddedToken").
    private static func tokenName(_ v: JSONValue?, _ field: String, _ r: FieldReader) throws(TokenizerError) -> String? {
        guard let v, !v.isNull else { return nil }
        if let s = v.stringValue { return s }
        if case .object = v { return try r.string(v["content"], "\(field).content") }
        throw r.invalid(field, "expected a string or an object with `content`")
    }

    /// A template string, or a list of {"name", "template"} of which "default" is used.
    private static func chatTemplate(_ v: JSONValue?, _ r: FieldReader) throws(TokenizerError) -> String? {
        guard let v, !v.isNull else { return nil }
        if let s = v.stringValue { return s }
        guard let list = v.arrayValue else { throw r.invalid("chat_template", "expected a string or a list of named templates") }
        var first: String?
        for (k, item) in list.enumerated() {
            let name = try r.string(item["name"], "chat_template[\(k)].name")
            let source = try r.string(item["template"], "chat_template[\(k)].template")
            if name == "default" { return source }
            first = first ?? source
        }
        return first
    }
}
