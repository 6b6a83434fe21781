/// Weights of one decoder layer. Matrices are in the model's dtype ([out × in], q/k/v as
/// one three-block matrix and gate/up as one two-block matrix, so a pass runs one kernel per
/// fused projection); norms and biases are FP32.
public struct LayerWeights: @unchecked Sendable {
    /// Nil for the EAGLE head's layer, which has no input norm.
    public let attentionNorm: UnsafeMutablePointer<Float>?     // [hidden]
    public let qkv: WeightMatrix                               // [(heads + 2·kvHeads)·headDim × hidden]
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
        let d = s.hiddenSize, inter = s.intermediateSize, dtype = store.dtype
        let attn = p + "self_attn.", mlp = p + "mlp."
        func matrix(_ name: String, _ rows: Int, _ columns: Int) throws(CheckpointError) -> (data: UnsafeRawPointer, rows: Int) {
            (try store.matrix(reader, name, rows: rows, columns: columns), rows)
        }
        func vector(_ name: String, _ count: Int) throws(CheckpointError) -> UnsafeMutablePointer<Float> {
            try store.vector(reader, name, count: count)
        }
        /// Biases of fused projections, concatenated in their output order.
        func fusedBias(_ parts: [(String, Int)]) throws(CheckpointError) -> UnsafeMutablePointer<Float> {
            try store.vector(reader, parts: parts)
        }
        attentionNorm = o.inputNorm ? try vector(p + "input_layernorm.weight", d) : nil
        qkv = WeightMatrix(blocks: [try matrix(attn + "q_proj.weight", s.qWidth, d),
                                    try matrix(attn + "k_proj.weight", s.kvWidth, d),
                                    try matrix(attn + "v_proj.weight", s.kvWidth, d)], inputs: d, dtype: dtype)
        qkvBias = o.qkvBias
            ? try fusedBias([(attn + "q_proj.bias", s.qWidth), (attn + "k_proj.bias", s.kvWidth), (attn + "v_proj.bias", s.kvWidth)])
            : nil
        output = WeightMatrix(blocks: [try matrix(attn + "o_proj.weight", d, s.qWidth)], inputs: s.qWidth, dtype: dtype)
        outputBias = o.outputBias ? try vector(attn + "o_proj.bias", d) : nil
        mlpNorm = try vector(p + "post_attention_layernorm.weight", d)
        gateUp = WeightMatrix(blocks: [try matrix(mlp + "gate_proj.weight", inter, d),
                                       try matrix(mlp + "up_proj.weight", inter, d)], inputs: d, dtype: dtype)
        gateUpBias = o.mlpBias ? try fusedBias([(mlp + "gate_proj.bias", inter), (mlp + "up_proj.bias", inter)]) : nil
        down = WeightMatrix(blocks: [try matrix(mlp + "down_proj.weight", d, inter)], inputs: inter, dtype: dtype)
        downBias = o.mlpBias ? try vector(mlp + "down_proj.bias", d) : nil
    }
}

/// Which optional tensors a layer has.
public struct LayerOptions: Sendable, Equatable {
    public var inputNorm = true
    public var qkvBias = false
    public var outputBias = false
    public var mlpBias = false

    public init(inputNorm: Bool = true, qkvBias: Bool = false, outputBias: Bool = false, mlpBias: Bool = false) {
        self.inputNorm = inputNorm
        self.qkvBias = qkvBias
        self.outputBias = outputBias
        self.mlpBias = mlpBias
    }
}
