/// Weights of one decoder layer, as views into a weight arena (FP32, row-major, [out × in]).
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

/// Offsets of one layer's tensors in a weight arena: reserved first, read once allocated.
public struct LayerSlots {
    let shape: StackShape
    let norm: Int?, qkv: Int, qkvBias: Int?, output: Int, outputBias: Int?
    let mlpNorm: Int, gateUp: Int, gateUpBias: Int?, down: Int, downBias: Int?

    public init(shape s: StackShape, options o: LayerOptions, layout: inout StorageLayout) {
        shape = s
        let d = s.hiddenSize, inter = s.intermediateSize
        norm = o.inputNorm ? layout.reserve(d) : nil
        qkv = layout.reserve(s.qkvWidth * d)
        qkvBias = o.qkvBias ? layout.reserve(s.qkvWidth) : nil
        output = layout.reserve(d * s.qWidth)
        outputBias = o.outputBias ? layout.reserve(d) : nil
        mlpNorm = layout.reserve(d)
        gateUp = layout.reserve(2 * inter * d)
        gateUpBias = o.mlpBias ? layout.reserve(2 * inter) : nil
        down = layout.reserve(d * inter)
        downBias = o.mlpBias ? layout.reserve(d) : nil
    }

    /// Reads the layer stored under `prefix` (e.g. "model.layers.3.") into the arena at `base`.
    public func read(from reader: some TensorReader, prefix p: String, base: UnsafeMutablePointer<Float>) throws(CheckpointError) -> LayerWeights {
        let s = shape, d = s.hiddenSize, inter = s.intermediateSize
        let attn = p + "self_attn.", mlp = p + "mlp."
        let at = { (offset: Int) in base + offset }
        if let norm { try reader.read(p + "input_layernorm.weight", shape: [d], into: at(norm)) }
        try reader.read(attn + "q_proj.weight", shape: [s.qWidth, d], into: at(qkv))
        try reader.read(attn + "k_proj.weight", shape: [s.kvWidth, d], into: at(qkv + s.qWidth * d))
        try reader.read(attn + "v_proj.weight", shape: [s.kvWidth, d], into: at(qkv + (s.qWidth + s.kvWidth) * d))
        if let b = qkvBias {
            try reader.read(attn + "q_proj.bias", shape: [s.qWidth], into: at(b))
            try reader.read(attn + "k_proj.bias", shape: [s.kvWidth], into: at(b + s.qWidth))
            try reader.read(attn + "v_proj.bias", shape: [s.kvWidth], into: at(b + s.qWidth + s.kvWidth))
        }
        try reader.read(attn + "o_proj.weight", shape: [d, s.qWidth], into: at(output))
        if let b = outputBias { try reader.read(attn + "o_proj.bias", shape: [d], into: at(b)) }
        try reader.read(p + "post_attention_layernorm.weight", shape: [d], into: at(mlpNorm))
        try reader.read(mlp + "gate_proj.weight", shape: [inter, d], into: at(gateUp))
        try reader.read(mlp + "up_proj.weight", shape: [inter, d], into: at(gateUp + inter * d))
        try reader.read(mlp + "down_proj.weight", shape: [d, inter], into: at(down))
        if let b = gateUpBias {
            try reader.read(mlp + "gate_proj.bias", shape: [inter], into: at(b))
            try reader.read(mlp + "up_proj.bias", shape: [inter], into: at(b + inter))
        }
        if let b = downBias { try reader.read(mlp + "down_proj.bias", shape: [d], into: at(b)) }
        return LayerWeights(
            attentionNorm: norm.map(at), qkv: at(qkv), qkvBias: qkvBias.map(at), output: at(output),
            outputBias: outputBias.map(at), mlpNorm: at(mlpNorm), gateUp: at(gateUp),
            gateUpBias: gateUpBias.map(at), down: at(down), downBias: downBias.map(at))
    }
}

/// Hands out 16-float-aligned offsets into one allocation.
public struct StorageLayout {
    public private(set) var total = 0

    public init() {}

    public mutating func reserve(_ count: Int) -> Int {
        let offset = total
        total += (count + 15) / 16 * 16
        return offset
    }
}
