import Inference
import Tokenization
import Wire

/// A generation request checked and translated for the engine.
///
/// Built on the event loop from the wire message with only cheap checks (parameters,
/// model, token-id ranges), so bad requests fail before they take a queue slot. The
/// prompt is tokenized later, on the worker thread.
struct GeneratePlan: Sendable {
    enum Prompt: Sendable {
        case text(String)
        case chat([ChatMessage])
        case tokens([TokenID])
    }

    let model: ServedModel
    let prompt: Prompt
    let params: GenerationParams
    let decoding: DecodingDecision
    let stream: Bool

    /// Most stop strings one request may give; more is INVALID_ARGUMENT. Every generated
    /// token's text is checked against each of them, so the list costs per token.
    static let maxStopStrings = 16
    /// Longest stop string, in UTF-8 bytes.
    static let maxStopStringBytes = 256

    /// Limits that come from the daemon's configuration.
    struct Limits: Sendable {
        var defaultMaxTokens: Int
        var maxTokensLimit: Int
    }

    init(_ request: Eagle_V1_Generate, model: ServedModel, limits: Limits, factory: any GeneratorFactory) throws(ServiceError) {
        self.model = model
        stream = request.stream
        // Checked first: a huge list must be refused before anything else looks at it.
        guard request.stop.count <= Self.maxStopStrings else {
            throw .invalidArgument("\(request.stop.count) stop strings; at most \(Self.maxStopStrings) are allowed")
        }
        if let long = request.stop.first(where: { $0.utf8.count > Self.maxStopStringBytes }) {
            throw .invalidArgument("a stop string of \(long.utf8.count) bytes; at most \(Self.maxStopStringBytes) bytes are allowed")
        }

        switch request.prompt {
        case nil:
            throw .invalidArgument("generate needs a prompt: text, chat or tokens")
        case .text(let text):
            guard !text.isEmpty else { throw .invalidArgument("the prompt text is empty") }
            _ = try model.requireTokenizer()
            prompt = .text(text)
        case .chat(let chat):
            guard !chat.messages.isEmpty else { throw .invalidArgument("the chat prompt has no messages") }
            _ = try model.requireTokenizer()
            prompt = .chat(chat.messages.map { ChatMessage(role: $0.role, content: $0.content) })
        case .tokens(let tokens):
            prompt = .tokens(try Self.checkedTokens(tokens.ids, model: model))
        }

        // Unset = the server default; an explicit 0 is a mistake, not a request for the default.
        let maxTokens = request.hasMaxTokens ? Int(request.maxTokens) : min(limits.defaultMaxTokens, limits.maxTokensLimit)
        guard maxTokens > 0 else {
            throw .invalidArgument("max_tokens must be at least 1 (leave it unset for the server default of \(min(limits.defaultMaxTokens, limits.maxTokensLimit)))")
        }
        guard maxTokens <= limits.maxTokensLimit else {
            throw .invalidArgument("max_tokens \(maxTokens) exceeds the server's limit of \(limits.maxTokensLimit)")
        }
        let sampling = request.sampling
        let seed = sampling.seed != 0 ? sampling.seed : UInt64.random(in: 1...UInt64.max)
        guard sampling.topK <= UInt32(Int32.max) else { throw .invalidArgument("top_k \(sampling.topK) is too large") }
        params = GenerationParams(
            maxTokens: maxTokens,
            sampling: SamplingParams(
                temperature: sampling.temperature, topK: Int(sampling.topK),
                topP: sampling.topP == 0 ? 1 : sampling.topP, seed: seed),
            stopStrings: request.stop,
            ignoreEOS: request.ignoreEos)
        do { try params.validate() } catch { throw ServiceError(error) }
        if !request.stop.isEmpty { _ = try model.requireTokenizer() }
        decoding = try factory.decoding(request.speculative, for: model, sampled: !params.sampling.isGreedy)
    }

    /// Token ids from the wire, checked against the model's vocabulary and context.
    static func checkedTokens(_ ids: [UInt32], model: ServedModel) throws(ServiceError) -> [TokenID] {
        guard !ids.isEmpty else { throw .invalidArgument("the prompt has no tokens") }
        let vocabulary = model.vocabularySize
        for id in ids where id >= UInt32(vocabulary) {
            throw .invalidArgument("token id \(id) is out of range (vocabulary size \(vocabulary))")
        }
        try checkLength(ids.count, model: model)
        return ids.map { TokenID(bitPattern: $0) }
    }

    /// A prompt must leave room for at least one generated token.
    static func checkLength(_ count: Int, model: ServedModel) throws(ServiceError) {
        guard count < model.contextLength else {
            throw .invalidArgument("the prompt has \(count) tokens; model '\(model.name)' holds \(model.contextLength) tokens of context, and at least one must be left for output")
        }
    }

    /// The prompt as token ids (tokenizing text and rendering chats), on the worker thread;
    /// nil when `isCancelled` turned true while a long prompt was being tokenized.
    func promptTokens(isCancelled: () -> Bool = { false }) throws(ServiceError) -> [TokenID]? {
        let encoded: [TokenID]?
        switch prompt {
        case .tokens(let ids):
            return ids
        case .text(let text):
            encoded = try model.requireTokenizer().encode(text, addSpecialTokens: true, isCancelled: isCancelled)
        case .chat(let turns):
            // The rendered template carries its own BOS where the model wants one.
            let tokenizer = try model.requireTokenizer()
            let rendered: String
            do { rendered = try tokenizer.applyChatTemplate(turns) } catch {
                throw .invalidArgument("cannot render the chat prompt: \(error)")
            }
            encoded = tokenizer.encode(rendered, addSpecialTokens: false, isCancelled: isCancelled)
        }
        guard let tokens = encoded else { return nil }
        guard !tokens.isEmpty else { throw .invalidArgument("the prompt encodes to no tokens") }
        try Self.checkLength(tokens.count, model: model)
        return tokens
    }
}
