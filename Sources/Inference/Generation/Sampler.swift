import Foundation
import Tokenization

/// Turns logits into the distribution the user asked for and draws tokens from it.
///
/// Plain decoding and speculative verification both go through `distribution(_:into:)`,
/// so "the target distribution" is one definition in one place. Buffers are sized to the
/// vocabulary once, at creation: sampling a token allocates nothing.
public struct Sampler {
    public let params: SamplingParams
    public private(set) var random: RandomSource
    private var order: [Int32]     // [vocab] candidate indices, sorted when top-p needs it
    private var scratch: [Float]   // [vocab] values for the top-k selection

    public init(params: SamplingParams, vocabularySize: Int) {
        self.params = params
        random = RandomSource(seed: params.seed)
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

    /// Next token from logits: argmax when greedy, else a draw from `distribution`.
    /// Overwrites `logits` with the probabilities when sampling.
    public mutating func sample(_ logits: UnsafeMutableBufferPointer<Float>) -> TokenID {
        if params.isGreedy { return Self.argmax(UnsafeBufferPointer(logits)) }
        distribution(logits, into: logits)
        return draw(from: UnsafeBufferPointer(logits))
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

    /// A uniform draw in [0, 1) from this sampler's stream (acceptance tests use it, so a
    /// seed fixes the whole generation).
    public mutating func nextUnit() -> Double { random.nextUnit() }

    /// Draws an index from a distribution that sums to ~1.
    public mutating func draw(from probabilities: UnsafeBufferPointer<Float>) -> TokenID {
        var total: Double = 0
        for p in probabilities { total += Double(p) }
        let u = random.nextUnit() * total
        var cumulative: Double = 0
        var last = 0
        for i in 0..<probabilities.count where probabilities[i] > 0 {
            cumulative += Double(probabilities[i])
            last = i
            if u < cumulative { return TokenID(i) }
        }
        return TokenID(last)
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
