import Foundation

/// Ceilings on the sizes a `config.json` may declare, checked before anything is allocated.
///
/// Each is far above every published LLaMA-family model (Llama 3.1 405B: 126 layers, hidden
/// 16384, intermediate 53248, 128 heads; vocabularies up to ~256k; contexts up to 10M) and far
/// below what would overflow the products the loader forms from them (`Int`, and the kernels'
/// `Int32` matrix dimensions). A config beyond them is refused with the field named, so a
/// directory claiming 10⁹ layers is an error, not an allocation.
public enum ModelLimits {
    public static let maxLayers = 1024
    public static let maxHiddenSize = 1 << 16
    public static let maxHeads = 1024
    public static let maxHeadDim = 512
    public static let maxIntermediateSize = 1 << 20
    public static let maxVocabularySize = 1 << 22
    /// `max_position_embeddings` (and `sliding_window`, which caps it for Mistral).
    public static let maxPositions = 1 << 24
}

/// Overflow-checked arithmetic for sizes that come from files: nil instead of a trap (or,
/// under `-Ounchecked`, a silently wrapped size).
public enum CheckedSize {
    /// The product of non-negative factors, nil on overflow.
    public static func product(_ factors: Int...) -> Int? { product(factors) }

    /// The product of non-negative factors, nil on overflow.
    public static func product(_ factors: [Int]) -> Int? {
        var result = 1
        for f in factors {
            guard f >= 0 else { return nil }
            let (p, overflow) = result.multipliedReportingOverflow(by: f)
            if overflow { return nil }
            result = p
        }
        return result
    }

    /// The sum of non-negative terms, nil on overflow.
    public static func sum(_ terms: Int...) -> Int? { sum(terms) }

    /// The sum of non-negative terms, nil on overflow.
    public static func sum(_ terms: [Int]) -> Int? {
        var result = 0
        for t in terms {
            guard t >= 0 else { return nil }
            let (s, overflow) = result.addingReportingOverflow(t)
            if overflow { return nil }
            result = s
        }
        return result
    }
}

extension ModelConfig {
    /// Checks every size against `ModelLimits` (naming the `config.json` field that is out of
    /// range) and that the shapes derived from them are consistent.
    func checkSizes(file: String) throws(CheckpointError) {
        let fields: [(String, Int, Int)] = [
            ("num_hidden_layers", layerCount, ModelLimits.maxLayers),
            ("hidden_size", hiddenSize, ModelLimits.maxHiddenSize),
            ("num_attention_heads", headCount, ModelLimits.maxHeads),
            ("num_key_value_heads", kvHeadCount, ModelLimits.maxHeads),
            ("head_dim", headDim, ModelLimits.maxHeadDim),
            ("intermediate_size", intermediateSize, ModelLimits.maxIntermediateSize),
            ("vocab_size", vocabSize, ModelLimits.maxVocabularySize),
            ("max_position_embeddings", maxPositions, ModelLimits.maxPositions),
        ]
        for (key, value, ceiling) in fields where value < 1 || value > ceiling {
            throw .invalidConfig(file: file, detail: "'\(key)' is \(value); it must be in 1...\(ceiling)")
        }
        guard headCount % kvHeadCount == 0, headDim % 2 == 0 else {
            throw .invalidConfig(file: file, detail: "inconsistent attention shape: hidden_size \(hiddenSize), heads \(headCount), kv heads \(kvHeadCount), head_dim \(headDim)")
        }
        guard ropeTheta.isFinite, ropeTheta > 0 else {
            throw .invalidConfig(file: file, detail: "'rope_theta' is \(ropeTheta); it must be a positive number")
        }
        guard rmsNormEps.isFinite, rmsNormEps >= 0 else {
            throw .invalidConfig(file: file, detail: "'rms_norm_eps' is \(rmsNormEps); it must be a non-negative number")
        }
    }
}
