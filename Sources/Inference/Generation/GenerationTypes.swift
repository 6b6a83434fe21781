import Tokenization

/// What a caller asks of one generation, beyond the prompt.
public struct GenerationParams: Sendable, Equatable {
    public var maxTokens: Int
    public var sampling: SamplingParams
    /// Generation stops when the text contains one of these; the text returned ends before it.
    public var stopStrings: [String]
    /// Tokens that end generation (the model's EOS ids when nil).
    public var stopTokens: Set<TokenID>?
    /// Keep going past EOS (benchmarks want fixed-length outputs).
    public var ignoreEOS: Bool

    public init(maxTokens: Int = 128, sampling: SamplingParams = .greedy, stopStrings: [String] = [],
                stopTokens: Set<TokenID>? = nil, ignoreEOS: Bool = false) {
        self.maxTokens = maxTokens
        self.sampling = sampling
        self.stopStrings = stopStrings
        self.stopTokens = stopTokens
        self.ignoreEOS = ignoreEOS
    }

    /// Rejects requests that cannot be served as asked.
    public func validate() throws(InferenceError) {
        guard maxTokens > 0 else { throw .invalidParameter(detail: "max_tokens must be ≥ 1, got \(maxTokens)") }
        try sampling.validate()
        guard !stopStrings.contains("") else { throw .invalidParameter(detail: "stop strings must not be empty") }
    }
}

/// Why a generation ended.
public enum StopReason: String, Sendable {
    case endOfSequence = "eos"
    case stopString = "stop_string"
    case maxTokens = "max_tokens"
    case contextFull = "context_full"
    case cancelled = "cancelled"
}

/// Cost and yield of one decoding step (one target forward pass).
public struct StepStats: Sendable, Equatable {
    /// Tokens this step produced (1 for plain decoding; accepted drafts + bonus for EAGLE).
    public var tokenCount: Int
    public var draftSeconds: Double
    public var verifySeconds: Double

    public init(tokenCount: Int, draftSeconds: Double = 0, verifySeconds: Double = 0) {
        self.tokenCount = tokenCount
        self.draftSeconds = draftSeconds
        self.verifySeconds = verifySeconds
    }
}

/// Tokens and text produced by one step, streamed as they are final.
public struct GenerationEvent: Sendable {
    public var tokens: [TokenID]
    /// Text that is final: complete UTF-8, and not a possible start of a stop string.
    public var text: String
    public var stats: StepStats

    public init(tokens: [TokenID], text: String, stats: StepStats) {
        self.tokens = tokens
        self.text = text
        self.stats = stats
    }
}

/// Whether the generator should go on after an event.
public enum GenerationControl: Sendable {
    case proceed
    case cancel
}

/// The whole of one generation.
public struct GenerationResult: Sendable {
    public var tokens: [TokenID]
    public var text: String
    public var stopReason: StopReason
    public var promptTokenCount: Int
    /// Target forward passes that produced tokens (the prefill counts as the first).
    public var steps: Int
    public var prefillSeconds: Double
    public var decodeSeconds: Double

    public init(tokens: [TokenID], text: String, stopReason: StopReason, promptTokenCount: Int, steps: Int,
                prefillSeconds: Double, decodeSeconds: Double) {
        self.tokens = tokens
        self.text = text
        self.stopReason = stopReason
        self.promptTokenCount = promptTokenCount
        self.steps = steps
        self.prefillSeconds = prefillSeconds
        self.decodeSeconds = decodeSeconds
    }

    /// Mean tokens per decoding step: 1 for plain decoding, τ for speculative decoding.
    public var meanTokensPerStep: Double { steps == 0 ? 0 : Double(tokens.count) / Double(steps) }
    public var decodeTokensPerSecond: Double { decodeSeconds > 0 ? Double(tokens.count) / decodeSeconds : 0 }
}

/// Anything that continues a prompt token by token: plain decoding and speculative
/// decoding offer the same interface, so callers cannot tell them apart but by speed.
public protocol TokenGenerator {
    /// Generates a continuation of `prompt`, calling `onEvent` as tokens become final.
    /// `isCancelled` is polled between prefill chunks (a long prompt can take seconds before
    /// the first event); once it is true the result is `.cancelled` with no tokens.
    func generate(
        prompt: [TokenID], params: GenerationParams, isCancelled: () -> Bool,
        onEvent: (GenerationEvent) -> GenerationControl
    ) throws -> GenerationResult
}

extension TokenGenerator {
    /// Generates without a cancellation check during prefill.
    public func generate(
        prompt: [TokenID], params: GenerationParams, onEvent: (GenerationEvent) -> GenerationControl
    ) throws -> GenerationResult {
        try generate(prompt: prompt, params: params, isCancelled: { false }, onEvent: onEvent)
    }
}

/// Thrown from a prefill chunk callback to stop a prefill whose request was cancelled.
public struct PrefillCancelled: Error, Sendable {
    public init() {}
}

extension GenerationResult {
    /// The result of a request cancelled before it produced a token.
    public static func cancelledInPrefill(promptTokenCount: Int, prefillSeconds: Double) -> GenerationResult {
        GenerationResult(tokens: [], text: "", stopReason: .cancelled, promptTokenCount: promptTokenCount, steps: 0,
                         prefillSeconds: prefillSeconds, decodeSeconds: 0)
    }
}
