import Foundation

/// All weights of a LLaMA-family model: matrices in the chosen dtype (BF16 in place from the
/// checkpoint's memory map where it stores BF16), norms in FP32.
///
/// Invariant: written only during `init`, read-only afterwards (hence `@unchecked Sendable`).
public final class LlamaWeights: @unchecked Sendable {
    public let config: ModelConfig
    /// Owns the memory (maps and converted buffers) every pointer below points into.
    public let store: WeightStore
    public let embedding: WeightMatrix                         // [vocab × hidden]
    public let layers: [LayerWeights]
    public let finalNorm: UnsafeMutablePointer<Float>          // [hidden]
    public let lmHead: WeightMatrix                            // [vocab × hidden] (the embedding when tied)

    public var dtype: WeightDType { store.dtype }
    /// Bytes of weights (mapped in place and converted).
    public var byteCount: Int { store.byteCount }

    /// Loads every tensor of a checkpoint (HF LlamaForCausalLM names).
    public init(config c: ModelConfig, checkpoint: some TensorReader, dtype: WeightDType = .bf16,
                prefix: String = "model.") throws(CheckpointError) {
        config = c
        let d = c.hiddenSize
        let tiedHead = c.tieWordEmbeddings || !checkpoint.contains("lm_head.weight")
        let options = LayerOptions(qkvBias: c.qkvBias, outputBias: c.outputBias, mlpBias: c.mlpBias)
        let store = WeightStore(dtype: dtype)
        self.store = store
        embedding = try store.matrix(checkpoint, [(prefix + "embed_tokens.weight", c.vocabSize)], columns: d)
        var built: [LayerWeights] = []
        for i in 0..<c.layerCount {
            built.append(try LayerWeights(from: checkpoint, prefix: "\(prefix)layers.\(i).", shape: StackShape(c),
                                          options: options, store: store))
        }
        layers = built
        finalNorm = try store.vector(checkpoint, prefix + "norm.weight", count: d)
        lmHead = tiedHead ? embedding : try store.matrix(checkpoint, [("lm_head.weight", c.vocabSize)], columns: d)
    }
}
