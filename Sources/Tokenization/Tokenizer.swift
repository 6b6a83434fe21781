import Foundation

/// A tokenizer read from a Hugging Face checkpoint's `tokenizer.json` (+ `tokenizer_config.json`).
///
/// Supports BPE models in both LLaMA-family flavours — byte-level (GPT-2, Llama-3) and
/// SentencePiece-style with byte fallback (Llama-2, Vicuna, Mistral) — with their normalizers,
/// pre-tokenizers, post-processors and decoders, and added/special tokens. Encoding follows the
/// `tokenizers` library step for step:
///   added tokens cut from the raw text → normalizer → normalized added tokens cut →
///   pre-tokenizer → BPE per word → post-processor (BOS etc.) when `addSpecialTokens`.
/// Immutable after loading; safe to share across threads.
public final class Tokenizer: Sendable {
    let model: BPEModel
    let normalizer: [NormalizerStep]
    let preTokenizer: [PreTokenizerStep]
    /// Added tokens matched in the raw input (`normalized: false`).
    let rawMatcher: AddedTokenMatcher
    /// Added tokens matched in normalized text (`normalized: true`).
    let normalizedMatcher: AddedTokenMatcher
    let postProcessor: PostProcessor
    let decoderPlan: DecoderPlan
    let addedByID: [TokenID: AddedToken]
    /// Added token content (as scalars) → id.
    let addedByContent: [[UInt32]: TokenID]
    /// The string the decoder sees for an added token whose normalized form differs.
    let addedDecodeForm: [TokenID: String]
    /// Ids that `skipSpecialTokens` drops (the reference skips by token text).
    let skippedWhenSkippingSpecial: Set<TokenID>
    let chatFormat: ChatFormat?
    /// The checkpoint's chat template source, when it has one.
    public let chatTemplateSource: String?
    let bosText: String
    let eosText: String

    /// Number of ids: the largest id (model or added) + 1.
    public let vocabularySize: Int
    /// tokenizer_config's `bos_token`, else the token the post-processor puts first.
    public let bosToken: TokenID?
    /// tokenizer_config's `eos_token`.
    public let eosToken: TokenID?

    /// The chat format detected from the checkpoint's template, if it is a known one.
    public var chatTemplate: ChatTemplate? { chatFormat?.template }

    /// Reads `tokenizer.json`, and `tokenizer_config.json` and `chat_template.jinja` when present.
    public static func load(directory: URL) throws(TokenizerError) -> Tokenizer {
        let tokenizerURL = directory.appendingPathComponent("tokenizer.json")
        let configURL = directory.appendingPathComponent("tokenizer_config.json")
        let jinjaURL = directory.appendingPathComponent("chat_template.jinja")
        guard let tokenizerData = try read(tokenizerURL) else { throw .fileNotFound(path: tokenizerURL.path) }
        let configData = try read(configURL)
        let jinja = try read(jinjaURL).map { String(decoding: $0, as: UTF8.self) }
        return try Tokenizer(tokenizerJSON: tokenizerData, tokenizerConfigJSON: configData, chatTemplateJinja: jinja)
    }

    /// The file's contents, or nil if it does not exist.
    private static func read(_ url: URL) throws(TokenizerError) -> Data? {
        guard FileManager.default.fileExists(atPath: url.path) else { return nil }
        do {
            return try Data(contentsOf: url)
        } catch {
            throw .unreadableFile(path: url.path, reason: "\(error)")
        }
    }

    /// Builds a tokenizer from file contents. `chatTemplateJinja` (a `chat_template.jinja`,
    /// as transformers 5 saves it) takes precedence over tokenizer_config's `chat_template`.
    public convenience init(tokenizerJSON: Data, tokenizerConfigJSON: Data?, chatTemplateJinja: String? = nil) throws(TokenizerError) {
        try self.init(tokenizerJSON: tokenizerJSON, tokenizerConfigJSON: tokenizerConfigJSON,
                      chatTemplateJinja: chatTemplateJinja, forceRegex: false)
    }

    /// `forceRegex`: run known split patterns through Swift `Regex` instead of the scanners (tests).
    init(tokenizerJSON: Data, tokenizerConfigJSON: Data?, chatTemplateJinja: String?, forceRegex: Bool) throws(TokenizerError) {
        let r = FieldReader(file: "tokenizer.json")
        let root = try Self.parseJSON(tokenizerJSON, file: "tokenizer.json")
        guard case .object = root else { throw r.invalid("(root)", "expected an object") }
        var config = TokenizerConfig()
        if let tokenizerConfigJSON {
            config = try TokenizerConfig(json: try Self.parseJSON(tokenizerConfigJSON, file: "tokenizer_config.json"))
        }

        let model = try BPEModel(json: try r.object(root["model"], "model"), reader: r)
        self.model = model
        if let n = root["normalizer"], !n.isNull {
            normalizer = try NormalizerStep.parse(n, field: "normalizer", reader: r)
        } else {
            normalizer = []
        }
        if let p = root["pre_tokenizer"], !p.isNull {
            preTokenizer = try PreTokenizerStep.parse(p, field: "pre_tokenizer", reader: r, forceRegex: forceRegex)
        } else {
            preTokenizer = []
        }
        decoderPlan = try DecoderPlan.parse(root["decoder"], reader: r)

        // Added tokens, then the special tokens tokenizer_config names (transformers marks them
        // special, adding those that exist only in the model vocabulary).
        var added: [TokenID: AddedToken] = [:]
        var order: [TokenID] = []
        if let list = root["added_tokens"], !list.isNull {
            for (k, item) in try r.array(list, "added_tokens").enumerated() {
                let f = "added_tokens[\(k)]"
                let token = AddedToken(
                    id: try r.tokenID(item["id"], "\(f).id"),
                    content: try r.string(item["content"], "\(f).content"),
                    singleWord: try r.bool(item["single_word"], "\(f).single_word", default: false),
                    lstrip: try r.bool(item["lstrip"], "\(f).lstrip", default: false),
                    rstrip: try r.bool(item["rstrip"], "\(f).rstrip", default: false),
                    normalized: try r.bool(item["normalized"], "\(f).normalized", default: true),
                    special: try r.bool(item["special"], "\(f).special", default: false))
                if added[token.id] == nil { order.append(token.id) }
                added[token.id] = token
            }
        }
        var byContent: [[UInt32]: TokenID] = [:]
        for id in order { if let t = added[id] { byContent[t.content.scalarValues] = id } }
        let named = [config.bosToken, config.eosToken, config.unkToken, config.padToken].compactMap { $0 }
            + config.extraSpecialTokens
        for name in named where !name.isEmpty {
            let key = name.scalarValues
            if let id = byContent[key] {
                added[id]?.special = true
            } else if let id = model.vocab[key] {
                added[id] = AddedToken(id: id, content: name, singleWord: false, lstrip: false, rstrip: false,
                                       normalized: false, special: true)
                order.append(id)
                byContent[key] = id
            }
        }

        var raw = AddedTokenMatcher(), normalizedMatcher = AddedTokenMatcher()
        var decodeForm: [TokenID: String] = [:]
        for id in order {
            guard let t = added[id] else { continue }
            let content = t.content.scalarValues
            if t.normalized {
                var form = content
                for step in normalizer { form = step.apply(form) }
                if form != content { decodeForm[id] = String(scalarValues: form) }
                normalizedMatcher.insert(form, t)
            } else {
                raw.insert(content, t)
            }
        }
        rawMatcher = raw
        self.normalizedMatcher = normalizedMatcher
        addedByID = added
        addedByContent = byContent
        addedDecodeForm = decodeForm

        let specialContents = Set(added.values.filter(\.special).map { $0.content.scalarValues })
        var skipped = Set<TokenID>()
        for (id, t) in added where specialContents.contains((decodeForm[id] ?? t.content).scalarValues) { skipped.insert(id) }
        for content in specialContents { if let id = model.vocab[content], added[id] == nil { skipped.insert(id) } }
        skippedWhenSkippingSpecial = skipped

        let maxAdded = added.keys.max() ?? -1
        vocabularySize = Int(max(model.maxID, maxAdded)) + 1

        func idOf(_ name: String?) -> TokenID? {
            guard let name else { return nil }
            let key = name.scalarValues
            return byContent[key] ?? model.vocab[key]
        }
        // tokenizer_config's add_bos_token / add_eos_token are not applied: transformers 5 drops
        // them whenever tokenizer.json exists, so the post-processor alone decides.
        let post = try PostProcessor.parse(root["post_processor"], reader: r)
        postProcessor = post
        bosToken = idOf(config.bosToken) ?? post.leadingToken
        eosToken = idOf(config.eosToken)
        // Without a config, templates use the post-processor's BOS.
        bosText = config.bosToken ?? post.leadingToken.flatMap { id in
            added[id]?.content ?? (Int(id) < model.idToToken.count ? model.idToToken[Int(id)] : nil)
        } ?? ""
        eosText = config.eosToken ?? ""

        let source = chatTemplateJinja ?? config.chatTemplate
        chatTemplateSource = source
        chatFormat = source.flatMap { ChatFormat(jinja: $0) }
    }

    private static func parseJSON(_ data: Data, file: String) throws(TokenizerError) -> JSONValue {
        do {
            return try JSONParser.parse(data)
        } catch {
            throw .malformedJSON(file: file, offset: error.offset, reason: error.message)
        }
    }

    // MARK: encoding

    /// Token ids for `text`; with `addSpecialTokens` the post-processor's tokens (BOS) are added.
    public func encode(_ text: String, addSpecialTokens: Bool = true) -> [TokenID] {
        encode(text, addSpecialTokens: addSpecialTokens, isCancelled: { false }) ?? []
    }

    /// `encode`, polling `isCancelled` every few hundred pre-tokenized pieces (a long prompt
    /// takes seconds); nil once it is true. The ids are those of `encode`.
    public func encode(_ text: String, addSpecialTokens: Bool = true, isCancelled: () -> Bool) -> [TokenID]? {
        var ids: [TokenID] = []
        var piecesSinceCheck = 0
        ids.reserveCapacity(text.utf8.count / 3 + 4)
        var outer: [AddedSplit] = []
        rawMatcher.split(TextPiece(scalars: text.scalarValues, atStart: true), into: &outer)
        var inner: [AddedSplit] = []
        var pieces: [TextPiece] = [], next: [TextPiece] = []
        for split in outer {
            guard case .text(var piece) = split else {
                if case .token(let id) = split { ids.append(id) }
                continue
            }
            for step in normalizer { piece.scalars = step.apply(piece.scalars) }
            inner.removeAll(keepingCapacity: true)
            normalizedMatcher.split(piece, into: &inner)
            for split in inner {
                switch split {
                case .token(let id):
                    ids.append(id)
                case .text(let piece):
                    pieces.removeAll(keepingCapacity: true)
                    pieces.append(piece)
                    for step in preTokenizer {
                        next.removeAll(keepingCapacity: true)
                        for p in pieces { step.apply(p, into: &next) }
                        swap(&pieces, &next)
                    }
                    for p in pieces {
                        piecesSinceCheck += 1
                        if piecesSinceCheck >= 256 {
                            if isCancelled() { return nil }
                            piecesSinceCheck = 0
                        }
                        model.tokenize(p.scalars, into: &ids)
                    }
                }
            }
        }
        return addSpecialTokens ? postProcessor.apply(ids) : ids
    }

    // MARK: decoding

    /// Text for `ids`; unknown ids are ignored, special tokens dropped when `skipSpecialTokens`.
    public func decode(_ ids: [TokenID], skipSpecialTokens: Bool = true) -> String {
        var state = DecoderState(plan: decoderPlan)
        var out = ""
        for id in ids {
            if let token = decoderInput(id, skipSpecialTokens: skipSpecialTokens) { out += state.push(token) }
        }
        out += state.finish()
        return out
    }

    /// The string the decoder receives for `id`, or nil if it contributes nothing.
    func decoderInput(_ id: TokenID, skipSpecialTokens: Bool) -> String? {
        if skipSpecialTokens, skippedWhenSkippingSpecial.contains(id) { return nil }
        if let t = addedByID[id] { return addedDecodeForm[id] ?? t.content }
        guard id >= 0, Int(id) < model.idToToken.count else { return nil }
        return model.idToToken[Int(id)]
    }

    // MARK: vocabulary

    /// The id of a token string (added tokens first, then the model vocabulary).
    public func id(of token: String) -> TokenID? {
        let key = token.scalarValues
        return addedByContent[key] ?? model.vocab[key]
    }

    /// The token string of an id (its vocabulary form: "Ġthe", "▁the", "<0x0A>", "<s>").
    public func token(of id: TokenID) -> String? {
        if let t = addedByID[id] { return t.content }
        guard id >= 0, Int(id) < model.idToToken.count else { return nil }
        return model.idToToken[Int(id)]
    }

    /// Whether `id` is a special added token (BOS, EOS, chat markers …).
    public func isSpecial(_ id: TokenID) -> Bool { addedByID[id]?.special ?? false }

    /// The ids of all special tokens, ascending.
    public var specialTokens: [TokenID] { addedByID.values.filter(\.special).map(\.id).sorted() }

    // MARK: chat

    /// Renders a conversation in the checkpoint's chat format. The result already contains the
    /// BOS text where the template writes it, so encode it with `addSpecialTokens: false`
    /// (as transformers' `apply_chat_template(tokenize=True)` does).
    public func applyChatTemplate(_ messages: [ChatMessage], addGenerationPrompt: Bool = true) throws(TokenizerError) -> String {
        guard let chatFormat else {
            guard let source = chatTemplateSource else { throw .noChatTemplate }
            throw .unrecognizedChatTemplate(excerpt: String(source.prefix(120)))
        }
        return try chatFormat.render(messages, addGenerationPrompt: addGenerationPrompt, bos: bosText, eos: eosText)
    }

    /// Renders a conversation in an explicitly chosen format (its published template's
    /// behaviour), with this tokenizer's BOS/EOS text.
    public func applyChatTemplate(_ messages: [ChatMessage], template: ChatTemplate, addGenerationPrompt: Bool = true) throws(TokenizerError) -> String {
        try ChatFormat(template: template).render(messages, addGenerationPrompt: addGenerationPrompt, bos: bosText, eos: eosText)
    }

    /// The prompt ids for a conversation: the rendered template, encoded without adding specials.
    public func encodeChat(_ messages: [ChatMessage], addGenerationPrompt: Bool = true) throws(TokenizerError) -> [TokenID] {
        encode(try applyChatTemplate(messages, addGenerationPrompt: addGenerationPrompt), addSpecialTokens: false)
    }
}
