/// How the next token is chosen from the target's logits.
///
/// Applied in transformers' order: temperature, then top-k, then top-p. A temperature below
/// `greedyTemperature` (1e-5, so 0 too) or top-k 1 is greedy decoding.
public struct SamplingParams: Sendable, Equatable {
    public var temperature: Float
    /// Keep the k most likely tokens (ties at the k-th value kept too); 0 = off.
    public var topK: Int
    /// Keep the smallest set of most likely tokens whose mass reaches p; 1 = off.
    public var topP: Float
    public var seed: UInt64

    public init(temperature: Float = 0, topK: Int = 0, topP: Float = 1, seed: UInt64 = 0) {
        self.temperature = temperature
        self.topK = topK
        self.topP = topP
        self.seed = seed
    }

    public static let greedy = SamplingParams()

    /// Temperatures below this are greedy. Dividing logits by a tinier temperature
    /// overflows Float (1e-39 is subnormal: logits / T are ±inf, exp gives NaN and every
    /// token came out 0), and long before that the distribution is one-hot anyway.
    public static let greedyTemperature: Float = 1e-5

    public var isGreedy: Bool { temperature < Self.greedyTemperature || topK == 1 }

    /// Rejects values no sampler could honour.
    public func validate() throws(InferenceError) {
        guard temperature.isFinite, temperature >= 0 else {
            throw .invalidParameter(detail: "temperature must be a finite number ≥ 0, got \(temperature)")
        }
        guard topK >= 0 else { throw .invalidParameter(detail: "top_k must be ≥ 0, got \(topK)") }
        guard topP.isFinite, topP > 0, topP <= 1 else {
            throw .invalidParameter(detail: "top_p must be in (0, 1], got \(topP)")
        }
    }
}
