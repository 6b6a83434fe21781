import Foundation

/// Weights of one decoder layer, as views into `LlamaWeights.storage` (FP32, row-major, [out × in]).
///
/// q/k/v are stored as one fused matrix and gate/up as another, so that a decode step is
/// one GEMV per fused projection instead of three and two.
public struct LayerWeights: @unchecked Sendable {
    /// Nil for the EAGLE head's layer, which has no input norm.
    public let attentionNorm: UnsafeMutablePointer<Float>?     // [hidden]
    public let qkv: UnsafeMutablePointer<Float>                // [(heads + 2·kvHeads)·headDim × hidden]
    public let qkvBias: UnsafeMutablePointer<Float>?           // [(heads + 2·kvHeads)·headDim]
    public let output: UnsafeMutablePointer<Float>             // [hidden × heads·headDim]
    public let outputBias: UnsafeMutablePointer<Float>?        // [hidden]
    public let mlpNorm: UnsafeMutablePointer<Float>            // [hidden]
    public let gateUp: UnsafeMutablePointer<Float>             // [2·intermediate × hidden], gate rows first
    public let gateUpBias: UnsafeMutablePointer<Float>?        // [2·intermediate]
    public let down: UnsafeMutablePointer<Float>               // [hidden × intermediate]
    public let downBias: UnsafeMutablePointer<Float>?          // [hidden]
}

/// All weights of a LLaMA-family model in FP32, in one aligned allocation.
///
/// Invariant: written only during `load`, read-only afterwards (hence `@unchecked Sendable`).
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
    public init(config c: ModelConfig, checkpoint: CheckpointDirectory, prefix: String = "model.") throws(CheckpointError) {
        config = c
        let d = c.hiddenSize, hd = c.headDim
        let qRows = c.headCount * hd, kvRows = c.kvHeadCount * hd, qkvRows = qRows + 2 * kvRows
        let inter = c.intermediateSize
        let tiedHead = c.tieWordEmbeddings || !checkpoint.contains("lm_head.weight")
        var layout = StorageLayout()
        let embeddingAt = layout.reserve(c.vocabSize * d)
        var offsets: [(norm: Int, qkv: Int, qkvBias: Int?, out: Int, outBias: Int?, mlpNorm: Int, gateUp: Int, gateUpBias: Int?, down: Int, downBias: Int?)] = []
        for _ in 0..<c.layerCount {
            offsets.append((
                layout.reserve(d), layout.reserve(qkvRows * d), c.qkvBias ? layout.reserve(qkvRows) : nil,
                layout.reserve(d * qRows), c.outputBias ? layout.reserve(d) : nil,
                layout.reserve(d), layout.reserve(2 * inter * d), c.mlpBias ? layout.reserve(2 * inter) : nil,
                layout.reserve(d * inter), c.mlpBias ? layout.reserve(d) : nil))
        }
        let finalNormAt = layout.reserve(d)
        let lmHeadAt = tiedHead ? embeddingAt : layout.reserve(c.vocabSize * d)
        storage = FloatBuffer(count: layout.total)
        let base = storage.pointer
        let at = { (offset: Int) in base + offset }

        try checkpoint.read(prefix + "embed_tokens.weight", shape: [c.vocabSize, d], into: at(embeddingAt))
        var built: [LayerWeights] = []
        for (i, o) in offsets.enumerated() {
            let p = "\(prefix)layers.\(i)."
            let attn = p + "self_attn.", mlp = p + "mlp."
            try checkpoint.read(p + "input_layernorm.weight", shape: [d], into: at(o.norm))
            try checkpoint.read(attn + "q_proj.weight", shape: [qRows, d], into: at(o.qkv))
            try checkpoint.read(attn + "k_proj.weight", shape: [kvRows, d], into: at(o.qkv + qRows * d))
            try checkpoint.read(attn + "v_proj.weight", shape: [kvRows, d], into: at(o.qkv + (qRows + kvRows) * d))
            if let b = o.qkvBias {
                try checkpoint.read(attn + "q_proj.bias", shape: [qRows], into: at(b))
                try checkpoint.read(attn + "k_proj.bias", shape: [kvRows], into: at(b + qRows))
                try checkpoint.read(attn + "v_proj.bias", shape: [kvRows], into: at(b + qRows + kvRows))
            }
            try checkpoint.read(attn + "o_proj.weight", shape: [d, qRows], into: at(o.out))
            if let b = o.outBias { try checkpoint.read(attn + "o_proj.bias", shape: [d], into: at(b)) }
            try checkpoint.read(p + "post_attention_layernorm.weight", shape: [d], into: at(o.mlpNorm))
            try checkpoint.read(mlp + "gate_proj.weight", shape: [inter, d], into: at(o.gateUp))
            try checkpoint.read(mlp + "up_proj.weight", shape: [inter, d], into: at(o.gateUp + inter * d))
            try checkpoint.read(mlp + "down_proj.weight", shape: [d, inter], into: at(o.down))
            if let b = o.gateUpBias {
                try checkpoint.read(mlp + "gate_proj.bias", shape: [inter], into: at(b))
                try checkpoint.read(mlp + "up_proj.bias", shape: [inter], into: at(b + inter))
            }
            if let b = o.downBias { try checkpoint.read(mlp + "down_proj.bias", shape: [d], into: at(b)) }
            built.append(LayerWeights(
                attentionNorm: at(o.norm), qkv: at(o.qkv), qkvBias: o.qkvBias.map(at), output: at(o.out),
                outputBias: o.outBias.map(at), mlpNorm: at(o.mlpNorm), gateUp: at(o.gateUp),
                gateUpBias: o.gateUpBias.map(at), down: at(o.down), downBias: o.downBias.map(at)))
        }
        try checkpoint.read(prefix + "norm.weight", shape: [d], into: at(finalNormAt))
        if !tiedHead { try checkpoint.read("lm_head.weight", shape: [c.vocabSize, d], into: at(lmHeadAt)) }
        embedding = at(embeddingAt)
        layers = built
        finalNorm = at(finalNormAt)
        lmHead = at(lmHeadAt)
    }
}

/// Hands out 16-float-aligned offsets into one allocation.
struct StorageLayout {
    private(set) var total = 0

    mutating func reserve(_ count: Int) -> Int {
        let offset = total
        total += (count + 15) / 16 * 16
        return offset
    }
}
