import Foundation
import Inference
import Tokenization

/// EAGLE speculative decoding behind the same interface as plain decoding.
///
/// Each step runs four named phases over a typed tree value:
///   draft  — the head grows a `DraftTree` under the last sampled token;
///   verify — one masked target forward over every tree node;
///   accept — `Acceptor` picks the path the target agrees with, plus a bonus token;
///   commit — the accepted rows are compacted into the target cache, and the head
///            consumes the accepted (token, feature) pairs so its cache holds exactly the
///            accepted context.
/// Greedy output equals plain greedy decoding token for token; sampled output has exactly
/// the target's distribution.
public struct SpeculativeGenerator: TokenGenerator {
    public let model: LlamaModel
    public let head: EagleHead
    public let tokenizer: Tokenizer?
    public let tree: TreeConfig
    /// Rows of one target forward pass (prefill chunks and verified trees).
    public let maxBatch: Int
    /// Told what each step accepted, so it can choose later trees.
    public var policy: TreePolicy?
    /// Shares each target pass with the model's other requests (same outputs, fewer weight streams).
    public var combiner: PassCombiner?
    var rule = AcceptanceRule.exact

    public init(model: LlamaModel, head: EagleHead, tokenizer: Tokenizer?, tree: TreeConfig = .cpuDefault, maxBatch: Int = 64) {
        self.model = model
        self.head = head
        self.tokenizer = tokenizer
        self.tree = tree
        self.maxBatch = maxBatch
    }

    public func generate(
        prompt: [TokenID], params: GenerationParams, isCancelled: () -> Bool,
        onEvent: (GenerationEvent) -> GenerationControl
    ) throws -> GenerationResult {
        try params.validate()
        try tree.validate(maxVerified: maxBatch)
        let target = model.makeSession(maxBatch: maxBatch, captureLayers: head.captureLayers)
        if let combiner { target.join(combiner) }
        defer { target.leave() }
        guard !prompt.isEmpty else { throw InferenceError.emptyInput }
        guard prompt.count < target.cache.capacity else {
            throw InferenceError.contextOverflow(needed: prompt.count + 1, capacity: target.cache.capacity)
        }
        let draft = DraftSession(head: head, target: model, capacity: target.cache.capacity, maxBatch: maxBatch)
        if let combiner = target.combiner { draft.share(combiner, rows: combiner.maxRows) }
        let drafter = Drafter(session: draft, config: tree)
        var sampler = Sampler(params: params.sampling, vocabularySize: model.config.vocabSize)
        var acceptor = Acceptor(vocabularySize: model.config.vocabSize)
        acceptor.rule = rule
        var output = OutputAccumulator(params: params, tokenizer: tokenizer, defaultStopTokens: model.config.eosTokenIDs)
        let clock = ContinuousClock()
        let start = clock.now

        // Prefill: the target reads the prompt; the head reads (xᵢ₊₁, fᵢ) for every pair
        // the prompt already holds. The last pair needs the first sampled token.
        let width = head.featureWidth
        let lastPromptFeature = FloatBuffer(count: width)
        let prefilled: ForwardOutput
        do {
            prefilled = try target.prefill(prompt) { range, out in
                let pairs = range.lowerBound..<min(range.upperBound, prompt.count - 1)
                if !pairs.isEmpty {
                    try prompt[(pairs.lowerBound + 1)...pairs.upperBound].withUnsafeBufferPointer { tokens in
                        try draft.forward(tokens: tokens, feature: { head.feature(out, token: $0).baseAddress! }, withLogits: false)
                    }
                }
                if range.upperBound == prompt.count {
                    lastPromptFeature.pointer.update(from: head.feature(out, token: out.count - 1).baseAddress!, count: width)
                }
                if isCancelled() { throw PrefillCancelled() }
            }
        } catch is PrefillCancelled {
            return .cancelledInPrefill(promptTokenCount: prompt.count, prefillSeconds: (clock.now - start).seconds)
        }
        var root = sampler.sample(prefilled.logits(forToken: prefilled.count - 1), position: prompt.count)
        try [root].withUnsafeBufferPointer { t in
            try draft.forward(tokens: t, feature: { _ in UnsafePointer(lastPromptFeature.pointer) }, withLogits: true)
        }
        drafter.setRoot(fromRow: 0)
        let prefillDone = clock.now
        var steps = 1
        // The verification pass's positions and mask, rebuilt in place every step.
        var verifyPositions: [Int32] = [], verifyMask = AttentionMask(start: 0, rows: 0, columns: 0, allowed: [])
        var keptRows: [Int] = [], emitted: [TokenID] = []
        let first = output.take([root])
        if onEvent(GenerationEvent(tokens: first.tokens, text: first.text, stats: StepStats(tokenCount: 1))) == .cancel {
            emitRest(output.stop(.cancelled), onEvent)
        }

        while output.stopReason == nil {
            let base = target.length
            let room = target.cache.capacity - base
            if room < 1 {
                emitRest(output.stop(.contextFull), onEvent)
                break
            }
            // draft
            let draftStart = clock.now
            let drafted = try drafter.draft(root: root, limit: min(room, tree.verifiedTokens))
            // verify
            let verifyStart = clock.now
            drafted.fillPositions(&verifyPositions, base: base)
            drafted.fillAncestorMask(&verifyMask, base: base)
            let verified = try target.forward(drafted.tokens, positions: verifyPositions, mask: verifyMask, logits: .all)
            // accept
            let accepted = acceptor.accept(tree: drafted, rootPosition: base, logits: { verified.logits(forToken: $0) },
                                           sampler: &sampler)
            let verifyEnd = clock.now
            // commit
            keptRows.removeAll(keepingCapacity: true)
            for node in accepted.path { keptRows.append(base + node) }
            target.cache.compact(from: base, keeping: keptRows)
            accepted.emit(from: drafted, into: &emitted)
            try emitted.withUnsafeBufferPointer { tokens in
                try draft.forward(tokens: tokens, feature: { head.feature(verified, token: accepted.path[$0]).baseAddress! },
                                  withLogits: true)
            }
            drafter.setRoot(fromRow: emitted.count - 1)
            root = accepted.bonus
            steps += 1
            let stats = StepStats(tokenCount: emitted.count,
                                  draftSeconds: (verifyStart - draftStart).seconds + (clock.now - verifyEnd).seconds,
                                  verifySeconds: (verifyEnd - verifyStart).seconds)
            policy?.record(drafted: drafted, accepted: accepted, sampled: !params.sampling.isGreedy)
            let step = output.take(emitted)
            if onEvent(GenerationEvent(tokens: step.tokens, text: step.text, stats: stats)) == .cancel {
                emitRest(output.stop(.cancelled), onEvent)
            }
        }
        let end = clock.now
        return GenerationResult(tokens: output.tokens, text: output.text, stopReason: output.stopReason ?? .maxTokens,
                                promptTokenCount: prompt.count, steps: steps,
                                prefillSeconds: (prefillDone - start).seconds, decodeSeconds: (end - prefillDone).seconds)
    }
}
