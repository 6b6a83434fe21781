/// Weights of one decoder layer. Matrices are in the model's dtype ([out × in], q/k/v as
/// one three-block matrix and gate/up as one two-block matrix, so a pass runs one kernel per
/// fused projection); norms and biases are FP32.
public struct LayerWeights: @unchecked Sendable {
    /// Nil for the EAGLE head's layer, which has no input norm.
    public let attentionNorm: UnsafeMutablePointer<Float>?     // [hidden]
    /// EAGLE-3's layer: its attention reads [input_layernorm(embedding) ‖ hidden_norm(x)]
    /// (2·hidden wide) instead of a normed x; the residual stream is x as usual.
    public let eagle3Norms: (embedding: UnsafeMutablePointer<Float>, hidden: UnsafeMutablePointer<Float>)?
    public let qkv: WeightMatrix                               // [(heads + 2·kvHeads)·headDim × hidden (2·hidden for EAGLE-3)]
    public let qkvBias: UnsafeMutablePointer<Float>?           // [(heads + 2·kvHeads)·headDim]
    public let output: WeightMatrix                            // [hidden × heads·headDim]
    public let outputBias: UnsafeMutablePointer<Float>?        // [hidden]
    public let mlpNorm: UnsafeMutablePointer<Float>            // [hidden]
    public let gateUp: WeightMatrix                            // [2·intermediate × hidden], gate rows first
    public let gateUpBias: UnsafeMutablePointer<Float>?        // [2·intermediate]
    public let down: WeightMatrix                              // [hidden × intermediate]
    public let downBias: UnsafeMutablePointer<Float>?          // [hidden]

    /// Reads the layer stored under `prefix` (e.g. "model.layers.3.") into `store`.
    public init(
        from reader: some TensorReader, prefix p: String, shape s: StackShape, options o: LayerOptions, store: WeightStore
    ) throws(CheckpointError) {
        let d = s.hiddenSize, inter = s.intermediateSize
        let attn = p + "self_attn.", mlp = p + "mlp."
        // Fused projections: their matrices stacked in output order, their biases concatenated.
        let qkvParts = [(attn + "q_proj", s.qWidth), (attn + "k_proj", s.kvWidth), (attn + "v_proj", s.kvWidth)]
        let gateUpParts = [(mlp + "gate_proj", inter), (mlp + "up_proj", inter)]
        attentionNorm = o.inputNorm && !o.eagle3 ? try store.vector(reader, p + "input_layernorm.weight", count: d) : nil
        eagle3Norms = o.eagle3 ? (try store.vector(reader, p + "input_layernorm.weight", count: d),
                                  try store.vector(reader, p + "hidden_norm.weight", count: d)) : nil
        qkv = try store.matrix(reader, qkvParts.map { ($0.0 + ".weight", $0.1) }, columns: o.eagle3 ? 2 * d : d)
        qkvBias = o.qkvBias ? try store.vector(reader, parts: qkvParts.map { ($0.0 + ".bias", $0.1) }) : nil
        output = try store.matrix(reader, [(attn + "o_proj.weight", d)], columns: s.qWidth)
        outputBias = o.outputBias ? try store.vector(reader, attn + "o_proj.bias", count: d) : nil
        mlpNorm = try store.vector(reader, p + "post_attention_layernorm.weight", count: d)
        gateUp = try store.matrix(reader, gateUpParts.map { ($0.0 + ".weight", $0.1) }, columns: d)
        gateUpBias = o.mlpBias ? try store.vector(reader, parts: gateUpParts.map { ($0.0 + ".bias", $0.1) }) : nil
        down = try store.matrix(reader, [(mlp + "down_proj.weight", d)], columns: inter)
        downBias = o.mlpBias ? try store.vector(reader, mlp + "down_proj.bias", count: d) : nil
    }
}

/// Which optional tensors a layer has.
public struct LayerOptions: Sendable, Equatable {
    public var inputNorm = true
    public var qkvBias = false
    public var outputBias = false
    public var mlpBias = false
    /// The EAGLE-3 midlayer (`hidden_norm` + `input_layernorm` over a 2·hidden attention input).
    public var eagle3 = false

    public init(inputNorm: Bool = true, qkvBias: Bool = false, outputBias: Bool = false, mlpBias: Bool = false,
                eagle3: Bool = false) {
        self.inputNorm = inputNorm
        self.qkvBias = qkvBias
        self.outputBias = outputBias
        self.mlpBias = mlpBias
        self.eagle3 = eagle3
    }
}
