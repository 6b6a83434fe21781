import Foundation
import Tokenization

/// How rotary position frequencies are derived (`rope_scaling` / `rope_parameters`).
public enum RopeScaling: Sendable, Equatable {
    case none
    /// Positions divided by `factor`.
    case linear(factor: Double)
    /// Llama 3.1's frequency-band rescaling.
    case llama3(factor: Double, lowFreqFactor: Double, highFreqFactor: Double, originalMaxPositions: Int)
}

/// The architecture of a LLaMA-family model, read from a Hugging Face `config.json`.
///
/// Mistral and Qwen2 load too where they differ from LLaMA only in configuration
/// (GQA, `head_dim`, rope parameters, biases).
public struct ModelConfig: Sendable, Equatable {
    public var modelType: String
    public var vocabSize: Int
    public var hiddenSize: Int
    public var intermediateSize: Int
    public var layerCount: Int
    public var headCount: Int
    public var kvHeadCount: Int
    public var headDim: Int
    public var maxPositions: Int
    public var rmsNormEps: Float
    public var ropeTheta: Double
    public var ropeScaling: RopeScaling
    public var tieWordEmbeddings: Bool
    /// Bias on q/k/v projections (Qwen2 always; LLaMA with `attention_bias`).
    public var qkvBias: Bool
    /// Bias on the output projection (LLaMA's `attention_bias` covers o_proj too).
    public var outputBias: Bool
    public var mlpBias: Bool
    public var bosTokenID: TokenID?
    public var eosTokenIDs: [TokenID]

    static let supportedTypes: Set<String> = ["llama", "mistral", "qwen2"]

    /// Reads `config.json` from a model directory.
    public static func load(directory: URL) throws(CheckpointError) -> ModelConfig {
        let url = directory.appendingPathComponent("config.json")
        guard FileManager.default.fileExists(atPath: url.path) else { throw .fileNotFound(path: url.path) }
        let data: Data
        do { data = try Data(contentsOf: url) } catch { throw .unreadable(path: url.path, reason: "\(error.localizedDescription)") }
        var config = try parse(data, file: url.path)
        // generation_config.json may name more end-of-sequence tokens (Llama 3 lists several).
        let generation = directory.appendingPathComponent("generation_config.json")
        if let data = try? Data(contentsOf: generation),
           let json = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] {
            for id in tokenIDs(json["eos_token_id"]) where !config.eosTokenIDs.contains(id) {
                config.eosTokenIDs.append(id)
            }
        }
        return config
    }

    public static func parse(_ data: Data, file: String = "config.json") throws(CheckpointError) -> ModelConfig {
        guard let json = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
            throw .invalidConfig(file: file, detail: "not a JSON object")
        }
        let reader = ConfigReader(json: json, file: file)
        let modelType = (json["model_type"] as? String) ?? "llama"
        guard supportedTypes.contains(modelType) else {
            throw .unsupportedModel(file: file, detail: "model_type '\(modelType)' (supported: \(supportedTypes.sorted().joined(separator: ", ")))")
        }
        if let act = json["hidden_act"] as? String, act != "silu" {
            throw .unsupportedModel(file: file, detail: "hidden_act '\(act)' (only silu)")
        }
        let hidden = try reader.int("hidden_size")
        let heads = try reader.int("num_attention_heads")
        let kvHeads = try reader.int("num_key_value_heads", default: heads)
        let headDim = try reader.int("head_dim", default: heads > 0 ? hidden / heads : 0)
        guard heads > 0 else {
            throw .invalidConfig(file: file, detail: "'num_attention_heads' is \(heads); it must be in 1...\(ModelLimits.maxHeads)")
        }
        let rope = (json["rope_parameters"] as? [String: Any]) ?? (json["rope_scaling"] as? [String: Any])
        let theta = (rope?["rope_theta"] as? NSNumber)?.doubleValue ?? (json["rope_theta"] as? NSNumber)?.doubleValue ?? 10000
        let attentionBias = json["attention_bias"] as? Bool ?? false
        var config = ModelConfig(
            modelType: modelType,
            vocabSize: try reader.int("vocab_size"),
            hiddenSize: hidden,
            intermediateSize: try reader.int("intermediate_size"),
            layerCount: try reader.int("num_hidden_layers"),
            headCount: heads,
            kvHeadCount: kvHeads,
            headDim: headDim,
            maxPositions: try reader.int("max_position_embeddings", default: 2048),
            rmsNormEps: Float((json["rms_norm_eps"] as? NSNumber)?.doubleValue ?? 1e-6),
            ropeTheta: theta,
            ropeScaling: try parseScaling(rope, file: file),
            tieWordEmbeddings: json["tie_word_embeddings"] as? Bool ?? false,
            qkvBias: modelType == "qwen2" || attentionBias,
            outputBias: modelType != "qwen2" && attentionBias,
            mlpBias: json["mlp_bias"] as? Bool ?? false,
            bosTokenID: (json["bos_token_id"] as? NSNumber).map { TokenID($0.int32Value) },
            eosTokenIDs: tokenIDs(json["eos_token_id"])
        )
        if modelType == "mistral", json["sliding_window"] is NSNumber, case let window = try reader.int("sliding_window"),
           window < config.maxPositions {
            // Sliding-window attention only differs beyond `window` tokens: serve up to it.
            config.maxPositions = window
        }
        // Before anything is sized from them: every field in range, with its name in the error.
        try config.checkSizes(file: file)
        return config
    }

    private static func parseScaling(_ rope: [String: Any]?, file: String) throws(CheckpointError) -> RopeScaling {
        guard let rope else { return .none }
        let type = (rope["rope_type"] as? String) ?? (rope["type"] as? String) ?? "default"
        let number = { (key: String) in (rope[key] as? NSNumber)?.doubleValue }
        switch type {
        case "default":
            return .none
        case "linear":
            guard let factor = number("factor"), factor > 0 else { throw .invalidConfig(file: file, detail: "linear rope scaling needs a positive factor") }
            return .linear(factor: factor)
        case "llama3":
            guard let factor = number("factor"), let low = number("low_freq_factor"), let high = number("high_freq_factor"),
                  let original = number("original_max_position_embeddings"), factor > 0, high > low
            else { throw .invalidConfig(file: file, detail: "llama3 rope scaling needs factor, low/high_freq_factor and original_max_position_embeddings") }
            guard let originalPositions = Int(exactly: original.rounded()), originalPositions > 0,
                  originalPositions <= ModelLimits.maxPositions, factor.isFinite, low.isFinite, high.isFinite
            else { throw .invalidConfig(file: file, detail: "llama3 rope scaling has an out-of-range value (original_max_position_embeddings \(original), factor \(factor))") }
            return .llama3(factor: factor, lowFreqFactor: low, highFreqFactor: high, originalMaxPositions: originalPositions)
        default:
            throw .unsupportedModel(file: file, detail: "rope type '\(type)' (supported: default, linear, llama3)")
        }
    }

    static func tokenIDs(_ value: Any?) -> [TokenID] {
        if let n = value as? NSNumber { return [TokenID(n.int32Value)] }
        if let list = value as? [Any] { return list.compactMap { ($0 as? NSNumber).map { TokenID($0.int32Value) } } }
        return []
    }

    /// Weight parameters (what the forward pass streams per token, plus the embedding).
    public var parameterCount: Int {
        let attention = hiddenSize * headDim * (2 * headCount + 2 * kvHeadCount)
        let mlp = 3 * hiddenSize * intermediateSize
        let perLayer = attention + mlp + 2 * hiddenSize
        return vocabSize * hiddenSize * (tieWordEmbeddings ? 1 : 2) + layerCount * perLayer + hiddenSize
    }
}

/// Typed access to a JSON config that names the file and key in its errors.
private struct ConfigReader {
    let json: [String: Any]
    let file: String

    func int(_ key: String, default fallback: Int? = nil) throws(CheckpointError) -> Int {
        switch json[key] {
        case let n as NSNumber:
            // Exact conversion: 1e30 or 2.5 is an error here, not a wrapped or trapping `intValue`.
            guard let value = n as? Int else {
                throw .invalidConfig(file: file, detail: "'\(key)' must be an integer, got \(n)")
            }
            return value
        case nil, is NSNull:
            if let fallback { return fallback }
            throw .invalidConfig(file: file, detail: "missing required key '\(key)'")
        default:
            throw .invalidConfig(file: file, detail: "'\(key)' must be an integer")
        }
    }
}
