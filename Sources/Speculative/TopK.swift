import Foundation
import Tokenization

/// The k largest entries of a logits row, best first (ties to the lower index), with
/// their log-probabilities under softmax(row) — or, when asked not to normalize, their raw
/// logits (a pass over the vocabulary saved where only the order matters). Reuses its
/// storage across calls.
struct TopK {
    private(set) var tokens: [TokenID] = []
    private(set) var logProbs: [Float] = []

    init(capacity: Int) {
        tokens.reserveCapacity(capacity)
        logProbs.reserveCapacity(capacity)
    }

    mutating func select(_ row: UnsafeMutableBufferPointer<Float>, k: Int, normalize: Bool = true) {
        tokens.removeAll(keepingCapacity: true)
        logProbs.removeAll(keepingCapacity: true)
        let k = min(k, row.count)
        var maxValue = -Float.infinity
        for j in 0..<row.count {
            let v = row[j]
            if v > maxValue { maxValue = v }
            if tokens.count == k && v <= logProbs[k - 1] { continue }
            var at = tokens.count
            while at > 0 && v > logProbs[at - 1] { at -= 1 }
            if tokens.count == k {
                tokens.removeLast()
                logProbs.removeLast()
            }
            tokens.insert(TokenID(j), at: at)
            logProbs.insert(v, at: at)
        }
        guard normalize else { return }
        var sum: Float = 0
        for j in 0..<row.count { sum += expf(row[j] - maxValue) }
        let logNormalizer = maxValue + logf(sum)
        for i in 0..<logProbs.count { logProbs[i] -= logNormalizer }
    }
}
