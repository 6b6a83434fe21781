import Inference
import Tokenization

/// The draft head's state for one sequence: its own KV cache (accepted context, plus the
/// tree nodes of the step being drafted) and the buffers one draft pass needs.
///
/// A draft pass takes pairs (token tᵢ₊₁, feature fᵢ) and predicts features f̂ᵢ₊₁; the
/// target's `lm_head` turns those into draft logits. Not thread-safe.
final class DraftSession {
    let head: EagleHead
    let target: LlamaModel
    let stack: DecoderStack
    private let input: FloatBuffer   // [maxBatch × 2·hidden] embedding ‖ feature
    private let x: FloatBuffer       // [maxBatch × hidden] residual stream → predicted features
    private let logits: FloatBuffer  // [maxBatch × vocab]

    init(head: EagleHead, target: LlamaModel, capacity: Int, maxBatch: Int) {
        self.head = head
        self.target = target
        stack = DecoderStack(shape: head.shape, layers: [head.layer], rope: head.rope, capacity: capacity, maxBatch: maxBatch)
        let d = head.shape.hiddenSize
        input = FloatBuffer(count: maxBatch * 2 * d)
        x = FloatBuffer(count: maxBatch * d)
        logits = FloatBuffer(count: maxBatch * target.config.vocabSize)
    }

    var length: Int { stack.cache.count }
    var capacity: Int { stack.cache.capacity }
    var maxBatch: Int { stack.maxBatch }

    /// Runs `tokens.count` pairs; `feature(i)` points at fᵢ ([hidden]). Computes draft
    /// logits for every row when `withLogits`. Tokens were validated by the target.
    func forward(
        tokens: UnsafeBufferPointer<TokenID>, feature: (Int) -> UnsafePointer<Float>,
        positions: UnsafeBufferPointer<Int32>? = nil, mask: AttentionMask? = nil, withLogits: Bool
    ) throws(InferenceError) {
        let n = tokens.count, d = head.shape.hiddenSize
        try stack.validate(count: n, positions: positions, mask: mask)
        let embedding = target.weights.embedding
        for i in 0..<n {
            let row = input.pointer + i * 2 * d
            embedding.copyRow(Int(tokens[i]), into: row)
            (row + d).update(from: feature(i), count: d)
        }
        linear(input.pointer, rows: n, weight: head.fc, into: x.pointer)
        addBias(head.fcBias, to: x.pointer, rows: n, width: d)
        stack.run(x.pointer, count: n, positions: positions, mask: mask)
        if withLogits {
            linear(x.pointer, rows: n, weight: target.weights.lmHead, into: logits.pointer)
        }
    }

    /// Predicted feature of row `i` of the last pass.
    func feature(row i: Int) -> UnsafeMutablePointer<Float> { x.pointer + i * head.shape.hiddenSize }

    /// Draft logits of row `i` of the last pass (when computed).
    func logits(row i: Int) -> UnsafeMutableBufferPointer<Float> {
        let v = target.config.vocabSize
        return UnsafeMutableBufferPointer(start: logits.pointer + i * v, count: v)
    }

    func truncate(to length: Int) { stack.cache.truncate(to: length) }
}
