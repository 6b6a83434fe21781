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
    /// Re-chooses the tree — or plain decoding — while the request runs (nil: `tree` throughout).
    public var schedule: TreeSchedule?
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
        var drafter = Drafter(session: draft, config: tree)
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
        var root = try sampler.sample(prefilled.logits(forToken: prefilled.count - 1), position: prompt.count)
        try [root].withUnsafeBufferPointer { t in
            try draft.forward(tokens: t, feature: { _ in UnsafePointer(lastPromptFeature.pointer) }, withLogits: true)
        }
        drafter.setRoot(fromRow: 0)
        var rootRow = 0   // the head's row that drafts the next root (its last commit pass)
        let prefillDone = clock.now
        var steps = 1
        // The verification pass's positions and mask, rebuilt in place every step.
        var verifyPositions: [Int32] = [], verifyMask = AttentionMask(start: 0, rows: 0, columns: 0, allowed: [])
        var keptRows: [Int] = [], emitted: [TokenID] = []
        let first = output.take([root])
        if onEvent(GenerationEvent(tokens: first.tokens, text: first.text, stats: StepStats(tokenCount: 1))) == .cancel {
            emitRest(output.stop(.cancelled), onEvent)
        }
        // The decoding in use (nil: plain decoding inside this request, after a schedule chose
        // it), and the schedule's current segment.
        var current: TreeConfig? = tree
        var segment = TreeSchedule.Segment(tree: tree, steps: 0, tokens: 0, seconds: 0)
        var segmentStart = clock.now
        // While decoding plainly the head does no drafting, but it still has to read every
        // (token, feature) pair to draft again later: pairs wait here and are read in batches.
        let pending = PendingPairs(capacity: maxBatch, width: width)

        while output.stopReason == nil {
            if let schedule, segment.steps >= schedule.everySteps {
                segment.seconds = (clock.now - segmentStart).seconds
                let next = schedule.close(segment)
                if next != current {
                    if let next {
                        try next.validate(maxVerified: maxBatch)
                        if current == nil {
                            // Back from plain decoding: the head catches up on the waiting pairs;
                            // the last one drafts the root.
                            try pending.flushAllButLast(into: draft)
                            try pending.flushLast(into: draft)
                            rootRow = 0
                        }
                        drafter = Drafter(session: draft, config: next)
                        drafter.setRoot(fromRow: rootRow)
                    }
                    current = next
                }
                segment = TreeSchedule.Segment(tree: current, steps: 0, tokens: 0, seconds: 0)
                segmentStart = clock.now
            }
            let base = target.length
            let room = target.cache.capacity - base
            if room < 1 {
                emitRest(output.stop(.contextFull), onEvent)
                break
            }
            // draft (plain decoding: the root alone, no head pass)
            let draftStart = clock.now
            let drafted = try drafter.draft(root: root, limit: current.map { min(room, $0.verifiedTokens) } ?? 1)
            // verify
            let verifyStart = clock.now
            drafted.fillPositions(&verifyPositions, base: base)
            drafted.fillAncestorMask(&verifyMask, base: base)
            let verified = try target.forward(drafted.tokens, positions: verifyPositions, mask: verifyMask, logits: .all)
            // accept
            let accepted = try acceptor.accept(tree: drafted, rootPosition: base, logits: { verified.logits(forToken: $0) },
                                           sampler: &sampler)
            let verifyEnd = clock.now
            // commit
            keptRows.removeAll(keepingCapacity: true)
            for node in accepted.path { keptRows.append(base + node) }
            target.cache.compact(from: base, keeping: keptRows)
            accepted.emit(from: drafted, into: &emitted)
            if current != nil {
                try emitted.withUnsafeBufferPointer { tokens in
                    try draft.forward(tokens: tokens, feature: { head.feature(verified, token: accepted.path[$0]).baseAddress! },
                                      withLogits: true)
                }
                rootRow = emitted.count - 1
                drafter.setRoot(fromRow: rootRow)
                policy?.record(drafted: drafted, accepted: accepted, sampled: !params.sampling.isGreedy)
            } else {
                try pending.add(emitted[0], feature: head.feature(verified, token: 0).baseAddress!, session: draft)
            }
            root = accepted.bonus
            steps += 1
            segment.steps += 1
            let stats = StepStats(tokenCount: emitted.count,
                                  draftSeconds: (verifyStart - draftStart).seconds + (clock.now - verifyEnd).seconds,
                                  verifySeconds: (verifyEnd - verifyStart).seconds)
            let step = output.take(emitted)
            segment.tokens += step.tokens.count
            if onEvent(GenerationEvent(tokens: step.tokens, text: step.text, stats: stats)) == .cancel {
                emitRest(output.stop(.cancelled), onEvent)
            }
        }
        segment.seconds = (clock.now - segmentStart).seconds
        schedule?.finish(segment)
        let end = clock.now
        return GenerationResult(tokens: output.tokens, text: output.text, stopReason: output.stopReason ?? .maxTokens,
                                promptTokenCount: prompt.count, steps: steps,
                                prefillSeconds: (prefillDone - start).seconds, decodeSeconds: (end - prefillDone).seconds)
    }
}

/// (token, feature) pairs the head has not read yet, while a request decodes plainly: read in
/// batches of `capacity − 1` without draft logits, the newest always kept back so that going
/// back to drafting can read it with logits (the root's draft distribution).
final class PendingPairs {
    private let tokens: UnsafeMutablePointer<TokenID>
    private let features: FloatBuffer
    private let width: Int
    let capacity: Int
    private(set) var count = 0

    init(capacity: Int, width: Int) {
        precondition(capacity >= 2, "one pair waits while the others are read")
        self.capacity = capacity
        self.width = width
        tokens = .allocate(capacity: capacity)
        features = FloatBuffer(count: capacity * width)
    }

    deinit { tokens.deallocate() }

    /// Adds a pair; when full, the head reads all but the newest.
    func add(_ token: TokenID, feature: UnsafePointer<Float>, session: DraftSession) throws(InferenceError) {
        if count == capacity { try flushAllButLast(into: session) }
        tokens[count] = token
        (features.pointer + count * width).update(from: feature, count: width)
        count += 1
    }

    /// The head reads every waiting pair but the newest, without logits.
    func flushAllButLast(into session: DraftSession) throws(InferenceError) {
        let reading = count - 1
        guard reading > 0 else { return }
        let base = features.pointer, width = width
        try session.forward(tokens: UnsafeBufferPointer(start: tokens, count: reading),
                            feature: { UnsafePointer(base + $0 * width) }, withLogits: false)
        let kept = count - reading
        if kept > 0 {
            tokens.update(from: tokens + reading, count: kept)
            base.update(from: base + reading * width, count: kept * width)
        }
        count = kept
    }

    /// The head reads the one waiting pair with its draft logits (row 0 of the session's pass).
    func flushLast(into session: DraftSession) throws(InferenceError) {
        precondition(count == 1, "flushAllButLast first")
        let base = features.pointer
        try session.forward(tokens: UnsafeBufferPointer(start: tokens, count: 1), feature: { _ in UnsafePointer(base) },
                            withLogits: true)
        count = 0
    }
}
