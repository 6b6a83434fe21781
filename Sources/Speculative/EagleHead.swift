import Foundation
import Inference

/// An EAGLE-1/2 draft head, loaded from an official checkpoint directory unchanged.
///
/// Architecture (as the official implementation): `fc: Linear(2d → d)` over
/// `concat(embed(token), feature)` — embedding first — then one LLaMA decoder layer
/// without its input norm (post-attention norm kept), no final norm. The target's
/// embedding and `lm_head` are used; a head's own `embed_tokens.weight`, if present, is
/// ignored (it is a frozen copy of the target's).
///
/// Immutable after loading, shared by every request on the model.
public final class EagleHead: @unchecked Sendable {
    public let directory: URL
    /// The head's own config (LlamaConfig keys, `num_hidden_layers: 1`).
    public let config: ModelConfig
    public let shape: StackShape
    /// Which file the weights came from.
    public let weightsFile: String
    /// Owns the head's weights; its dtype is the target's.
    public let store: WeightStore
    public let fc: WeightMatrix                      // [hidden × 2·hidden]
    public let fcBias: UnsafeMutablePointer<Float>?  // [hidden]
    public let layer: LayerWeights
    public let rope: RopeTable

    /// Loads `config.json` and `model.safetensors` (or `pytorch_model.bin`) from
    /// `directory` and checks the head against its target.
    public init(directory: URL, target: LlamaModel) throws(CheckpointError) {
        self.directory = directory
        let configURL = directory.appendingPathComponent("config.json")
        config = try ModelConfig.load(directory: directory)
        let raw = (try? JSONSerialization.jsonObject(with: Data(contentsOf: configURL))) as? [String: Any] ?? [:]
        let t = target.config
        guard config.hiddenSize == t.hiddenSize else {
            throw .headMismatch(directory: directory.path, detail: "hidden size \(config.hiddenSize) vs target's \(t.hiddenSize)")
        }
        guard config.vocabSize == t.vocabSize else {
            throw .headMismatch(directory: directory.path, detail: "vocabulary \(config.vocabSize) vs target's \(t.vocabSize)")
        }
        // Any form a checkpoint directory takes: safetensors preferred, `.bin` through the
        // restricted unpickler, single or sharded.
        let reader = try CheckpointDirectory(directory: directory)
        weightsFile = reader.filePaths.count == 1 ? reader.filePaths[0] : directory.path
        let prefix = reader.contains("fc.weight") ? "" : (reader.contains("model.fc.weight") ? "model." : "")
        let d = config.hiddenSize
        let hasFCBias = raw["bias"] as? Bool ?? true
        shape = StackShape(config)
        let options = LayerOptions(
            inputNorm: false,
            qkvBias: reader.contains(prefix + "layers.0.self_attn.q_proj.bias"),
            outputBias: reader.contains(prefix + "layers.0.self_attn.o_proj.bias"),
            mlpBias: reader.contains(prefix + "layers.0.mlp.gate_proj.bias"))
        store = WeightStore(dtype: target.dtype)
        fc = try store.matrix(reader, [(prefix + "fc.weight", d)], columns: 2 * d)
        fcBias = hasFCBias ? try store.vector(reader, prefix + "fc.bias", count: d) : nil
        layer = try LayerWeights(from: reader, prefix: prefix + "layers.0.", shape: shape, options: options, store: store)
        rope = RopeTable(headDim: config.headDim, theta: config.ropeTheta, scaling: config.ropeScaling,
                         positions: target.contextLength)
    }

    /// Bytes of weights held (the target's dtype).
    public var byteCount: Int { store.byteCount }
}
