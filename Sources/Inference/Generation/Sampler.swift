import CKernels
import Foundation
import Tokenization

/// Turns logits into the distribution the user asked for and draws tokens from it.
///
/// Plain decoding and speculative verification both go through `distribution(_:into:)`,
/// so "the target distribution" is one definition in one place. Buffers are sized to the
/// vocabulary once, at creation: sampling a token allocates nothing.
///
/// Seed-exact sampling: the token at absolute position t is `choose(from: p, position: t)`,
/// an exponential race whose noise is a pure function of (seed, t, token id) — not of a
/// random stream. It is fixed before any draft is seen, so speculative decoding accepts a
/// draft exactly when it equals that token, and the output for a seed is the same with EAGLE
/// on or off, whatever the tree, and (with the batch-invariant engine) whatever shares a pass.
public struct Sampler {
    public let params: SamplingParams
    private var order: [Int32]     // [vocab] candidate indices, sorted when top-p needs it
    private var scratch: [Float]   // [vocab] values for the top-k selection

    public init(params: SamplingParams, vocabularySize: Int) {
        self.params = params
        order = [Int32](repeating: 0, count: vocabularySize)
        scratch = [Float](repeating: 0, count: vocabularySize)
    }

    /// Index of the largest value (the first one on ties, as `torch.argmax`).
    public static func argmax(_ values: UnsafeBufferPointer<Float>) -> TokenID {
        var best = 0
        var bestValue = -Float.infinity
        for i in 0..<values.count where values[i] > bestValue {
            bestValue = values[i]
            best = i
        }
        return TokenID(best)
    }

    /// Refuses a logits row holding NaN or +∞ (corrupt or overflowing weights): greedy
    /// decoding would pick whatever the NaN comparisons leave (token 0) and sampling would
    /// normalize by NaN — wrong tokens, silently. One vectorized pass over the vocabulary,
    /// against the hidden × vocabulary multiply-adds of the lm_head that made the row.
    public static func validate(_ logits: UnsafeBufferPointer<Float>, position: Int) throws(InferenceError) {
        guard let base = logits.baseAddress, eagle_count_unsamplable(base, Int64(logits.count)) == 0 else {
            if logits.isEmpty { return }
            throw .nonFiniteLogits(position: position)
        }
    }

    /// The token at absolute sequence position `position` (0 = the first prompt token):
    /// argmax when greedy, else `choose` over `distribution`. Overwrites `logits` with the
    /// probabilities when sampling. Throws `nonFiniteLogits` for a row with NaN or +∞.
    public mutating func sample(_ logits: UnsafeMutableBufferPointer<Float>, position: Int) throws(InferenceError) -> TokenID {
        try Self.validate(UnsafeBufferPointer(logits), position: position)
        if params.isGreedy { return Self.argmax(UnsafeBufferPointer(logits)) }
        distribution(logits, into: logits)
        return choose(from: UnsafeBufferPointer(logits), position: position)
    }

    /// The token for `position` from a processed distribution: the exponential race
    /// argmax pᵢ / Eᵢ over tokens with pᵢ > 0, Eᵢ = −log Uᵢ with Uᵢ = `Self.uniform(seed,
    /// position, i)`. Token i wins with probability pᵢ / Σp (the race of exponential clocks
    /// with rates pᵢ, equivalently Gumbel-max on log pᵢ), and the noise depends on nothing
    /// but (seed, position, i).
    public func choose(from probabilities: UnsafeBufferPointer<Float>, position: Int) -> TokenID {
        let key = Self.positionKey(seed: params.seed, position: position)
        var best = -1
        var bestScore = -Double.infinity
        for i in 0..<probabilities.count where probabilities[i] > 0 {
            let score = Double(probabilities[i]) / -log(Self.uniform(key: key, token: i))
            if score > bestScore {
                bestScore = score
                best = i
            }
        }
        return TokenID(max(best, 0))
    }

    /// SplitMix64's finaliser: a bijection on 64 bits that mixes every input bit.
    @inline(__always)
    static func mix(_ value: UInt64) -> UInt64 {
        var z = value
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// The per-position key of the noise: a keyed hash of (seed, position).
    static func positionKey(seed: UInt64, position: Int) -> UInt64 {
        mix(mix(seed ^ 0x5EED_5EED_5EED_5EED) &+ UInt64(bitPattern: Int64(position)) &* 0x9E37_79B9_7F4A_7C15)
    }

    /// Uᵢ in (0, 1): a counter-based draw keyed by (seed, position), counted by token id.
    @inline(__always)
    static func uniform(key: UInt64, token: Int) -> Double {
        let bits = mix(key &+ UInt64(token) &* 0xD1B5_4A32_D192_ED03)
        return (Double(bits >> 11) + 0.5) * 0x1p-53
    }

    /// The processed target distribution over the whole vocabulary (zeros for filtered
    /// tokens). `logits` and `probabilities` may be the same buffer.
    public mutating func distribution(_ logits: UnsafeMutableBufferPointer<Float>, into probabilities: UnsafeMutableBufferPointer<Float>) {
        let n = logits.count
        if params.isGreedy {
            let best = Int(Self.argmax(UnsafeBufferPointer(logits)))
            for i in 0..<n { probabilities[i] = 0 }
            probabilities[best] = 1
            return
        }
        let inverseT = 1 / params.temperature
        var threshold = -Float.infinity
        if params.topK > 0 && params.topK < n {
            for i in 0..<n { scratch[i] = logits[i] }
            threshold = scratch.withUnsafeMutableBufferPointer { Self.kthLargest($0, k: params.topK) }
        }
        var maxValue = -Float.infinity
        for i in 0..<n where logits[i] >= threshold { maxValue = max(maxValue, logits[i]) }
        var sum: Float = 0
        for i in 0..<n {
            let v = logits[i]
            let p: Float = v >= threshold ? expf((v - maxValue) * inverseT) : 0
            probabilities[i] = p
            sum += p
        }
        let inverseSum = 1 / sum
        for i in 0..<n { probabilities[i] *= inverseSum }
        if params.topP < 1 { applyTopP(probabilities) }
    }

    /// Keeps the most likely tokens until their mass reaches top-p (transformers' rule: a
    /// token survives if the mass strictly above it is below p), renormalised.
    private mutating func applyTopP(_ p: UnsafeMutableBufferPointer<Float>) {
        var count = 0
        for i in 0..<p.count where p[i] > 0 {
            order[count] = Int32(i)
            count += 1
        }
        order.withUnsafeMutableBufferPointer { buffer in
            var candidates = UnsafeMutableBufferPointer(rebasing: buffer[0..<count])
            candidates.sort { (a: Int32, b: Int32) -> Bool in
                let pa = p[Int(a)], pb = p[Int(b)]
                return pa > pb || (pa == pb && a < b)
            }
        }
        var above: Float = 0
        var kept = 0
        for j in 0..<count {
            if above >= params.topP { break }
            above += p[Int(order[j])]
            kept = j + 1
        }
        for j in kept..<count { p[Int(order[j])] = 0 }
        let inverse = 1 / above
        for j in 0..<kept { p[Int(order[j])] *= inverse }
    }

    /// The k-th largest value (1-based) by quickselect; reorders `values`.
    static func kthLargest(_ values: UnsafeMutableBufferPointer<Float>, k: Int) -> Float {
        var low = 0, high = values.count - 1
        let target = k - 1
        while low < high {
            let pivot = values[(low + high) / 2]
            var i = low, j = high
            while i <= j {
                while values[i] > pivot { i += 1 }
                while values[j] < pivot { j -= 1 }
                if i <= j {
                    values.swapAt(i, j)
                    i += 1
                    j -= 1
                }
            }
            if target <= j { high = j } else if target >= i { low = i } else { break }
        }
        return values[target]
    }
}
