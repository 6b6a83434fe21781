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
    let stack: DecoderStack
    private let input: FloatBuffer   // [maxBatch × (hidden + feature width)] EAGLE-1: embedding ‖ feature; EAGLE-3: feature
    private let embedded: FloatBuffer // [maxBatch × hidden] EAGLE-3: token embeddings (the midlayer's second input)
    private let x: FloatBuffer       // [maxBatch × hidden] residual stream → predicted features
    private let normed: FloatBuffer  // [maxBatch × hidden] EAGLE-3: norm(x), the lm_head's input
    private let logits: FloatBuffer  // [maxBatch × draft vocab]

    init(head: EagleHead, target: LlamaModel, capacity: Int, maxBatch: Int) {
        self.head = head
        self.target = target
        stack = DecoderStack(shape: head.shape, layers: [head.layer], rope: head.rope, capacity: capacity, maxBatch: maxBatch)
        let d = head.shape.hiddenSize
        input = FloatBuffer(count: maxBatch * (d + head.featureWidth))
        embedded = FloatBuffer(count: head.kind == .eagle3 ? maxBatch * d : 0)
        x = FloatBuffer(count: maxBatch * d)
        normed = FloatBuffer(count: head.kind == .eagle3 ? maxBatch * d : 0)
        logits = FloatBuffer(count: maxBatch * head.draftVocabSize)
    }

    var length: Int { stack.cache.count }
    var capacity: Int { stack.cache.capacity }
    var maxBatch: Int { stack.maxBatch }

    /// Runs `tokens.count` pairs; `feature(i)` points at fᵢ: a target feature
    /// (`head.featureWidth` floats), or — with `ownFeatures`, for draft steps past the root —
    /// the head's own predicted feature (hidden-size floats; EAGLE-1 reads both the same
    /// way). Computes draft logits for every row when `withLogits`. Tokens were validated by
    /// the target.
    func forward(
        tokens: UnsafeBufferPointer<TokenID>, feature: (Int) -> UnsafePointer<Float>, ownFeatures: Bool = false,
        positions: UnsafeBufferPointer<Int32>? = nil, mask: AttentionMask? = nil, withLogits: Bool
    ) throws(InferenceError) {
        let n = tokens.count, d = head.shape.hiddenSize
        try stack.validate(count: n, positions: positions, mask: mask)
        switch head.kind {
        case .eagle1:
            for i in 0..<n {
                let row = input.pointer + i * 2 * d
                head.embedding.copyRow(Int(tokens[i]), into: row)
                (row + d).update(from: feature(i), count: d)
            }
            linear(input.pointer, rows: n, weight: head.fc, into: x.pointer)
            addBias(head.fcBias, to: x.pointer, rows: n, width: d)
            stack.run(x.pointer, count: n, positions: positions, mask: mask)
            if withLogits {
                linear(x.pointer, rows: n, weight: head.lmHead, into: logits.pointer)
            }
        case .eagle3:
            for i in 0..<n { head.embedding.copyRow(Int(tokens[i]), into: embedded.pointer + i * d) }
            if ownFeatures {
                for i in 0..<n { (x.pointer + i * d).update(from: feature(i), count: d) }
            } else {
                let w = head.featureWidth
                for i in 0..<n { (input.pointer + i * w).update(from: feature(i), count: w) }
                linear(input.pointer, rows: n, weight: head.fc, into: x.pointer)
            }
            stack.run(x.pointer, count: n, positions: positions, mask: mask, embeddings: UnsafePointer(embedded.pointer))
            if withLogits, let norm = head.norm {
                rmsNorm(x.pointer, weight: norm, into: normed.pointer, rows: n, width: d, eps: head.shape.rmsNormEps)
                linear(normed.pointer, rows: n, weight: head.lmHead, into: logits.pointer)
            }
        }
    }

    /// Predicted feature of row `i` of the last pass.
    func feature(row i: Int) -> UnsafeMutablePointer<Float> { x.pointer + i * head.shape.hiddenSize }

    /// Draft logits of row `i` of the last pass (when computed), over the draft vocabulary:
    /// map an index to a target token with `head.targetToken`.
    func logits(row i: Int) -> UnsafeMutableBufferPointer<Float> {
        let v = head.draftVocabSize
        return UnsafeMutableBufferPointer(start: logits.pointer + i * v, count: v)
    }

    func truncate(to length: Int) { stack.cache.truncate(to: length) }
}
