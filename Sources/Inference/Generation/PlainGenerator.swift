import Foundation
import Tokenization

/// Ordinary autoregressive decoding: one target forward pass per token.
///
/// The baseline speculative decoding is measured against, so it is kept lean: the single
/// token step is GEMV-only and allocates nothing in the model.
public struct PlainGenerator: TokenGenerator {
    public let model: LlamaModel
    public let tokenizer: Tokenizer?
    public let maxBatch: Int
    /// Shares each pass with the model's other requests (same outputs, fewer weight streams).
    public var combiner: PassCombiner?

    public init(model: LlamaModel, tokenizer: Tokenizer?, maxBatch: Int = 64, combiner: PassCombiner? = nil) {
        self.model = model
        self.tokenizer = tokenizer
        self.maxBatch = maxBatch
        self.combiner = combiner
    }

    public func generate(
        prompt: [TokenID], params: GenerationParams, isCancelled: () -> Bool,
        onEvent: (GenerationEvent) -> GenerationControl
    ) throws -> GenerationResult {
        try params.validate()
        let session = model.makeSession(maxBatch: maxBatch)
        if let combiner { session.join(combiner) }
        defer { session.leave() }
        guard prompt.count < session.cache.capacity else {
            throw InferenceError.contextOverflow(needed: prompt.count + 1, capacity: session.cache.capacity)
        }
        var sampler = Sampler(params: params.sampling, vocabularySize: model.config.vocabSize)
        var output = OutputAccumulator(params: params, tokenizer: tokenizer, defaultStopTokens: model.config.eosTokenIDs)
        let clock = ContinuousClock()
        let start = clock.now
        // Chunks of `maxBatch` rows; the kernels are batch-invariant, so the chunking (and a
        // cancellation check between chunks) leaves the logits unchanged.
        let prefilled: ForwardOutput
        do {
            prefilled = try session.prefill(prompt) { _, _ in if isCancelled() { throw PrefillCancelled() } }
        } catch is PrefillCancelled {
            return .cancelledInPrefill(promptTokenCount: prompt.count, prefillSeconds: (clock.now - start).seconds)
        }
        var logits = prefilled.logits(forToken: prefilled.count - 1)
        let prefillDone = clock.now
        var forwardSeconds = (prefillDone - start).seconds
        var steps = 0
        var next: [TokenID] = [0]
        while true {
            next[0] = try sampler.sample(logits, position: session.length)
            steps += 1
            let step = output.take(next)
            let stats = StepStats(tokenCount: 1, verifySeconds: forwardSeconds)
            if onEvent(GenerationEvent(tokens: step.tokens, text: step.text, stats: stats)) == .cancel {
                emitRest(output.stop(.cancelled), onEvent)
            }
            if output.stopReason != nil { break }
            if session.length >= session.cache.capacity {
                emitRest(output.stop(.contextFull), onEvent)
                break
            }
            let forwardStart = clock.now
            logits = try session.forward(next).logits(forToken: 0)
            forwardSeconds = (clock.now - forwardStart).seconds
        }
        let end = clock.now
        return GenerationResult(tokens: output.tokens, text: output.text, stopReason: output.stopReason ?? .maxTokens,
                                promptTokenCount: prompt.count, steps: steps,
                                prefillSeconds: (prefillDone - start).seconds, decodeSeconds: (end - prefillDone).seconds)
    }
}

/// Sends text released by a stop that no token carried (held-back text, a final flush).
public func emitRest(_ text: String, _ onEvent: (GenerationEvent) -> GenerationControl) {
    if !text.isEmpty { _ = onEvent(GenerationEvent(tokens: [], text: text, stats: StepStats(tokenCount: 0))) }
}

extension Duration {
    /// The duration in seconds as a `Double`.
    public var seconds: Double {
        let (s, attoseconds) = components
        return Double(s) + Double(attoseconds) * 1e-18
    }

    /// The duration in whole nanoseconds (fractions of a second kept), saturating at the
    /// bounds of `Int64`.
    public var nanoseconds: Int64 {
        let (s, attoseconds) = components
        let (whole, overflow) = s.multipliedReportingOverflow(by: 1_000_000_000)
        if overflow { return s < 0 ? .min : .max }
        let (total, overflow2) = whole.addingReportingOverflow(attoseconds / 1_000_000_000)
        return overflow2 ? (whole < 0 ? .min : .max) : total
    }
}
