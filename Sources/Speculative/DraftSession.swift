import Inference
import Tokenization

/// The draft head's state for one sequence: its own KV cache (accepted context, plus the
/// tree nodes of the step being drafted) and the buffers one draft pass needs.
///
/// A draft pass takes pairs (token tᵢ₊₁, feature fᵢ) and predicts features f̂ᵢ₊₁, which
/// become draft logits: through the target's `lm_head` (EAGLE-1), or the head's norm and
/// draft-vocabulary `lm_head` (EAGLE-3). Not thread-safe.
final class DraftSession {
    let head: EagleHead
    let target: LlamaModel
    /// The head's keys and values for this sequence.
    let cache: KVCache
    let maxBatch: Int
    /// This session's own pass: scratch for passes run alone, and where the outputs of every
    /// pass land (`feature(row:)`, `logits(row:)`), alone or shared.
    let pass: HeadPass
    /// Shares head passes with the other requests of the target's combiner (nil: alone).
    private var shared: (combiner: PassCombiner, executor: PassExecutor)?
    private let defaultPositions: UnsafeMutablePointer<Int32>  // [maxBatch]

    init(head: EagleHead, target: LlamaModel, capacity: Int, maxBatch: Int) {
        self.head = head
        self.target = target
        self.maxBatch = maxBatch
        cache = KVCache(layerCount: 1, kvHeadCount: head.shape.kvHeadCount, headDim: head.shape.headDim, capacity: capacity)
        pass = HeadPass(head: head, rows: maxBatch, cacheCapacity: capacity)
        defaultPositions = .allocate(capacity: maxBatch)
    }

    deinit { defaultPositions.deallocate() }

    var length: Int { cache.count }
    var capacity: Int { cache.capacity }

    /// Runs this session's passes together with the head passes of the other requests on
    /// `combiner`, whose target session this request has joined (one shared executor per head).
    func share(_ combiner: PassCombiner, rows: Int) {
        let head = head, capacity = combiner.model.contextLength
        let executor = combiner.executor(for: ObjectIdentifier(head)) {
            let pass = HeadPass(head: head, rows: rows, cacheCapacity: capacity)
            return PassExecutor(maxRows: rows) { requests in pass.run(requests.map { $0 as! HeadPassRequest }) }
        }
        guard maxBatch <= executor.maxRows, cache.capacity <= capacity else { return }
        shared = (combiner, executor)
    }

    /// Runs `tokens.count` pairs; `feature(i)` points at fᵢ: a target feature
    /// (`head.featureWidth` floats), or — with `ownFeatures`, for draft steps past the root —
    /// the head's own predicted feature (hidden-size floats; EAGLE-1 reads both the same
    /// way). Computes draft logits for every row when `withLogits`. Tokens were validated by
    /// the target.
    func forward(
        tokens: UnsafeBufferPointer<TokenID>, feature: (Int) -> UnsafePointer<Float>, ownFeatures: Bool = false,
        positions: UnsafeBufferPointer<Int32>? = nil, mask: AttentionMask? = nil, withLogits: Bool
    ) throws(InferenceError) {
        // The pass reads the features through `feature` itself, on whichever thread leads it,
        // before this call returns.
        try withoutActuallyEscaping(feature) { feature throws(InferenceError) in
            try run(tokens: tokens, feature: .computed(feature), ownFeatures: ownFeatures, positions: positions, mask: mask,
                    withLogits: withLogits)
        }
    }

    /// `forward` with fᵢ = `features[i]`: no closure to make escaping for a shared pass (the
    /// drafter keeps these pointers in a buffer of its own; nothing is allocated per pass).
    func forward(
        tokens: UnsafeBufferPointer<TokenID>, features: UnsafeBufferPointer<UnsafePointer<Float>>, ownFeatures: Bool,
        positions: UnsafeBufferPointer<Int32>?, mask: AttentionMask?, withLogits: Bool
    ) throws(InferenceError) {
        precondition(features.count >= tokens.count, "a feature per token")
        try run(tokens: tokens, feature: .pointers(features), ownFeatures: ownFeatures, positions: positions, mask: mask,
                withLogits: withLogits)
    }

    private func run(
        tokens: UnsafeBufferPointer<TokenID>, feature: HeadPassRequest.Features, ownFeatures: Bool,
        positions: UnsafeBufferPointer<Int32>?, mask: AttentionMask?, withLogits: Bool
    ) throws(InferenceError) {
        let n = tokens.count
        try cache.validate(count: n, maxBatch: maxBatch, positions: positions, positionLimit: head.rope.positions, mask: mask)
        if positions == nil { for i in 0..<n { defaultPositions[i] = Int32(cache.count + i) } }
        let request = HeadPassRequest(session: self, tokens: tokens, feature: feature, ownFeatures: ownFeatures,
                                      positions: positions ?? UnsafeBufferPointer(start: defaultPositions, count: n), mask: mask,
                                      withLogits: withLogits)
        if let shared {
            shared.combiner.run(request, rows: n, on: shared.executor) { pass.run(CollectionOfOne(request)) }
        } else {
            pass.run(CollectionOfOne(request))
        }
    }

    /// Predicted feature of row `i` of the last pass.
    func feature(row i: Int) -> UnsafeMutablePointer<Float> { pass.x.pointer + i * head.shape.hiddenSize }

    /// Draft logits of row `i` of the last pass (when computed), over the draft vocabulary:
    /// map an index to a target token with `head.targetToken`.
    func logits(row i: Int) -> UnsafeMutableBufferPointer<Float> {
        let v = head.draftVocabSize
        return UnsafeMutableBufferPointer(start: pass.logits.pointer + i * v, count: v)
    }

    func truncate(to length: Int) { cache.truncate(to: length) }
}
