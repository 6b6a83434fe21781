import Foundation
import Tokenization

/// A loaded LLaMA-family model: configuration, weights (BF16 by default) and rotary tables.
///
/// Immutable and shared: any number of `InferenceSession`s (one per request) run on it
/// concurrently, each with its own KV cache and scratch buffers.
public final class LlamaModel: Sendable {
    public let directory: URL
    public let config: ModelConfig
    public let weights: LlamaWeights
    public var dtype: WeightDType { weights.dtype }
    public let rope: RopeTable
    /// Longest sequence a session can hold (KV cache rows and rotary positions).
    public let contextLength: Int

    /// Default cap on the context so that models advertising 128k positions don't ask
    /// for gigabytes of KV cache per session unless the operator says so.
    public static let defaultContextCap = 4096

    /// Loads `directory` with its matrices held as `dtype` (BF16: in place when the checkpoint
    /// stores BF16; FP32: for exact comparison with transformers in FP32).
    /// `progress` sees each checkpoint file as it is opened (index, count, name).
    public init(directory: URL, contextLength: Int? = nil, dtype: WeightDType = .bf16,
                progress: CheckpointDirectory.Progress? = nil) throws(CheckpointError) {
        self.directory = directory
        config = try ModelConfig.load(directory: directory)
        let checkpoint = try CheckpointDirectory(directory: directory, progress: progress)
        weights = try LlamaWeights(config: config, checkpoint: checkpoint, dtype: dtype)
        let length = min(contextLength ?? Self.defaultContextCap, config.maxPositions)
        guard length > 0 else {
            throw .invalidConfig(file: directory.appendingPathComponent("config.json").path, detail: "context length must be positive")
        }
        self.contextLength = length
        rope = RopeTable(headDim: config.headDim, theta: config.ropeTheta, scaling: config.ropeScaling, positions: length)
    }

    /// A fresh session with an empty KV cache. `maxBatch` bounds the tokens of one
    /// forward pass (prompts longer than that are prefilled in chunks).
    public func makeSession(maxBatch: Int = 64, contextLength: Int? = nil, captureLayers: [Int] = []) -> InferenceSession {
        InferenceSession(model: self, maxBatch: maxBatch, contextLength: min(contextLength ?? self.contextLength, self.contextLength),
                         captureLayers: captureLayers.filter { $0 >= 0 && $0 < config.layerCount })
    }
}
