import Foundation
import Inference
import Tokenization

/// An EAGLE draft head, loaded from an official checkpoint directory unchanged.
///
/// EAGLE-1/2 (as the official implementation): `fc: Linear(2d → d)` over
/// `concat(embed(token), feature)` — embedding first — then one LLaMA decoder layer
/// without its input norm (post-attention norm kept), no final norm. The feature is the
/// target's final-norm hidden state. The target's embedding and `lm_head` are used; a
/// head's own `embed_tokens.weight`, if present, is ignored (a frozen copy of the target's).
///
/// EAGLE-3 (`draft_vocab_size` in config.json; `midlayer.*` tensors): the feature is the
/// inputs of three target layers — 2, N/2 and N−3 for an N-layer target, low to high — fused
/// by `fc: Linear(3·target_hidden → d)`, without bias. The `midlayer`'s attention reads
/// [input_layernorm(embedding) ‖ hidden_norm(feature)] (2d wide), its residual stream is the
/// feature; `norm` and an `lm_head` over the draft vocabulary give draft logits, and `d2t`
/// maps draft ids to target ids. Later draft steps feed the head its own pre-norm output as
/// the feature (no fc). For targets under 7 layers the three layers coincide in part (the
/// official code then fails); here they are clamped into 0…N−1 and a repeated layer is
/// recorded twice.
///
/// Immutable after loading, shared by every request on the model.
public final class EagleHead: @unchecked Sendable {
    /// Which generation of EAGLE head.
    public enum Kind: String, Sendable { case eagle1 = "eagle-1", eagle3 = "eagle-3" }
    public let directory: URL
    /// The head's own config (LlamaConfig keys, `num_hidden_layers: 1`).
    public let config: ModelConfig
    public let shape: StackShape
    /// Which file the weights came from.
    public let weightsFile: String
    /// Owns the head's weights; its dtype is the target's.
    public let store: WeightStore
    public let kind: Kind
    public let fc: WeightMatrix                      // [hidden × 2·hidden] (EAGLE-3: [hidden × 3·target hidden])
    public let fcBias: UnsafeMutablePointer<Float>?  // [hidden]
    public let layer: LayerWeights
    public let rope: RopeTable
    /// Target layers whose inputs form the feature (EAGLE-3), low to high; empty for EAGLE-1.
    public let captureLayers: [Int]
    /// Floats of one feature: the target's hidden size (EAGLE-1) or three times it (EAGLE-3).
    public let featureWidth: Int
    /// Entries of a draft logits row: the target's vocabulary, or EAGLE-3's draft vocabulary.
    public let draftVocabSize: Int
    /// EAGLE-3: the final norm, the draft-vocabulary `lm_head`, and draft id → target id.
    public let norm: UnsafeMutablePointer<Float>?    // [hidden]
    public let lmHead: WeightMatrix                  // [draft vocab × hidden] (EAGLE-1: the target's)
    public let draftToTarget: [TokenID]              // [draft vocab] (EAGLE-1: empty, ids are the target's)
    /// The token embedding the head reads: its own `embed_tokens` (EAGLE-3 heads whose hidden
    /// size differs from the target's), else the target's.
    public let embedding: WeightMatrix

    /// Loads `config.json` and `model.safetensors` (or `pytorch_model.bin`) from
    /// `directory` and checks the head against its target.
    public init(directory: URL, target: LlamaModel) throws(CheckpointError) {
        self.directory = directory
        let configURL = directory.appendingPathComponent("config.json")
        config = try ModelConfig.load(directory: directory)
        let raw = (try? JSONSerialization.jsonObject(with: Data(contentsOf: configURL))) as? [String: Any] ?? [:]
        let t = target.config
        // Any form a checkpoint directory takes: safetensors preferred, `.bin` through the
        // restricted unpickler, single or sharded.
        let reader = try CheckpointDirectory(directory: directory)
        weightsFile = reader.filePaths.count == 1 ? reader.filePaths[0] : directory.path
        store = WeightStore(dtype: target.dtype)
        shape = StackShape(config)
        rope = RopeTable(headDim: config.headDim, theta: config.ropeTheta, scaling: config.ropeScaling,
                         positions: target.contextLength)
        let d = config.hiddenSize
        guard config.vocabSize == t.vocabSize else {
            throw .headMismatch(directory: directory.path, detail: "vocabulary \(config.vocabSize) vs target's \(t.vocabSize)")
        }
        if raw["draft_vocab_size"] != nil || reader.contains("midlayer.self_attn.q_proj.weight") {
            kind = .eagle3
            let targetHidden = raw["target_hidden_size"] as? Int ?? d
            guard targetHidden == t.hiddenSize else {
                throw .headMismatch(directory: directory.path, detail: "target_hidden_size \(targetHidden) vs target's \(t.hiddenSize)")
            }
            let draftVocab = raw["draft_vocab_size"] as? Int ?? config.vocabSize
            guard draftVocab > 0, draftVocab <= t.vocabSize else {
                throw .headMismatch(directory: directory.path, detail: "draft_vocab_size must be in 1...\(t.vocabSize)")
            }
            let n = t.layerCount
            captureLayers = [2, n / 2, n - 3].map { min(max($0, 0), n - 1) }.sorted()
            featureWidth = 3 * t.hiddenSize
            draftVocabSize = draftVocab
            fc = try store.matrix(reader, [("fc.weight", d)], columns: 3 * targetHidden)
            fcBias = nil
            layer = try LayerWeights(from: reader, prefix: "midlayer.", shape: shape, options: LayerOptions(eagle3: true), store: store)
            norm = try store.vector(reader, "norm.weight", count: d)
            lmHead = try store.matrix(reader, [("lm_head.weight", draftVocab)], columns: d)
            // d2t, exactly (int64): target id = draft id + d2t[draft id].
            var offsets = [Int](repeating: 0, count: draftVocab)
            if reader.contains("d2t") {
                offsets = try reader.readIntegers("d2t", count: draftVocab)
            } else if draftVocab != t.vocabSize {
                throw .missingTensor(name: "d2t", directory: directory.path)
            }
            draftToTarget = try offsets.enumerated().map { i, offset throws(CheckpointError) in
                let id = i + offset
                guard id >= 0, id < t.vocabSize else {
                    throw .headMismatch(directory: directory.path, detail: "d2t maps draft id \(i) to \(id), outside the target's vocabulary")
                }
                return TokenID(id)
            }
            if reader.contains("embed_tokens.weight") {
                embedding = try store.matrix(reader, [("embed_tokens.weight", t.vocabSize)], columns: d)
            } else {
                guard d == t.hiddenSize else {
                    throw .headMismatch(directory: directory.path, detail: "hidden size \(d) differs from the target's \(t.hiddenSize) and the head has no embed_tokens")
                }
                embedding = target.weights.embedding
            }
        } else {
            kind = .eagle1
            guard d == t.hiddenSize else {
                throw .headMismatch(directory: directory.path, detail: "hidden size \(d) vs target's \(t.hiddenSize)")
            }
            let prefix = reader.contains("fc.weight") ? "" : (reader.contains("model.fc.weight") ? "model." : "")
            let hasFCBias = raw["bias"] as? Bool ?? true
            let options = LayerOptions(
                inputNorm: false,
                qkvBias: reader.contains(prefix + "layers.0.self_attn.q_proj.bias"),
                outputBias: reader.contains(prefix + "layers.0.self_attn.o_proj.bias"),
                mlpBias: reader.contains(prefix + "layers.0.mlp.gate_proj.bias"))
            fc = try store.matrix(reader, [(prefix + "fc.weight", d)], columns: 2 * d)
            fcBias = hasFCBias ? try store.vector(reader, prefix + "fc.bias", count: d) : nil
            layer = try LayerWeights(from: reader, prefix: prefix + "layers.0.", shape: shape, options: options, store: store)
            captureLayers = []
            featureWidth = d
            draftVocabSize = t.vocabSize
            norm = nil
            lmHead = target.weights.lmHead
            draftToTarget = []
            embedding = target.weights.embedding
        }
    }

    /// The target id of draft-logits entry `i`.
    @inline(__always) public func targetToken(_ i: TokenID) -> TokenID {
        draftToTarget.isEmpty ? i : draftToTarget[Int(i)]
    }

    /// The feature this head reads for new token `i` of a target pass: the final-norm hidden
    /// state (EAGLE-1), or the recorded layer inputs (EAGLE-3; the session must capture
    /// `captureLayers`).
    public func feature(_ output: ForwardOutput, token i: Int) -> UnsafeBufferPointer<Float> {
        kind == .eagle3 ? output.captured(forToken: i) : output.hidden(forToken: i)
    }

    /// Bytes of weights held (the target's dtype).
    public var byteCount: Int { store.byteCount }
}
