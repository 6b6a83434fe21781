import Foundation

/// All weights of a LLaMA-family model in FP32, in one aligned allocation.
///
/// Invariant: written only during `init`, read-only afterwards (hence `@unchecked Sendable`).
public final class LlamaWeights: @unchecked Sendable {
    public let config: ModelConfig
    let storage: FloatBuffer
    public let embedding: UnsafeMutablePointer<Float>          // [vocab × hidden]
    public let layers: [LayerWeights]
    public let finalNorm: UnsafeMutablePointer<Float>          // [hidden]
    public let lmHead: UnsafeMutablePointer<Float>             // [vocab × hidden] (aliases embedding when tied)

    /// Bytes of FP32 weights held in memory.
    public var byteCount: Int { storage.byteCount }

    /// Loads and converts every tensor of a checkpoint (HF LlamaForCausalLM names).
    public init(config c: ModelConfig, checkpoint: some TensorReader, prefix: String = "model.") throws(CheckpointError) {
        config = c
        let d = c.hiddenSize
        let tiedHead = c.tieWordEmbeddings || !checkpoint.contains("lm_head.weight")
        let options = LayerOptions(qkvBias: c.qkvBias, outputBias: c.outputBias, mlpBias: c.mlpBias)
        var layout = StorageLayout()
        let embeddingAt = layout.reserve(c.vocabSize * d)
        let slots = (0..<c.layerCount).map { _ in LayerSlots(shape: StackShape(c), options: options, layout: &layout) }
        let finalNormAt = layout.reserve(d)
        let lmHeadAt = tiedHead ? embeddingAt : layout.reserve(c.vocabSize * d)
        storage = FloatBuffer(count: layout.total)
        let base = storage.pointer

        try checkpoint.read(prefix + "embed_tokens.weight", shape: [c.vocabSize, d], into: base + embeddingAt)
        var built: [LayerWeights] = []
        for (i, slot) in slots.enumerated() {
            built.append(try slot.read(from: checkpoint, prefix: "\(prefix)layers.\(i).", base: base))
        }
        try checkpoint.read(prefix + "norm.weight", shape: [d], into: base + finalNormAt)
        if !tiedHead { try checkpoint.read("lm_head.weight", shape: [c.vocabSize, d], into: base + lmHeadAt) }
        embedding = base + embeddingAt
        layers = built
        finalNorm = base + finalNormAt
        lmHead = base + lmHeadAt
    }
}
