import CKernels
import Foundation
import Tokenization

/// The k largest entries of a logits row, best first (ties to the lower index), with
/// their log-probabilities under softmax(row) — or, when asked not to normalize, their raw
/// logits (a pass over the vocabulary saved where only the order matters). Reuses its
/// storage across calls.
///
/// NaN ranks as −∞ and is reported as −∞, and the log-probabilities are never NaN (a row with
/// +∞ gives those entries 0 and the rest −∞): the drafter's ordering — a child never
/// outscores its parent — holds for any row an overflowing or corrupt checkpoint produces.
/// The scan and the log-partition are the vectorized `eagle_top_k` and `eagle_log_sum_exp`.
struct TopK {
    private(set) var tokens: [TokenID] = []
    private(set) var logProbs: [Float] = []

    init(capacity: Int) {
        tokens.reserveCapacity(capacity)
        logProbs.reserveCapacity(capacity)
    }

    mutating func select(_ row: UnsafeMutableBufferPointer<Float>, k: Int, normalize: Bool = true) {
        let k = max(0, min(k, row.count, Int(Int32.max)))
        tokens.removeAll(keepingCapacity: true)
        logProbs.removeAll(keepingCapacity: true)
        tokens.append(contentsOf: repeatElement(0, count: k))
        logProbs.append(contentsOf: repeatElement(0, count: k))
        guard let base = row.baseAddress, k > 0 else { return }
        let found = tokens.withUnsafeMutableBufferPointer { ids in
            logProbs.withUnsafeMutableBufferPointer { values in
                Int(eagle_top_k(base, Int64(row.count), Int32(k), ids.baseAddress, values.baseAddress))
            }
        }
        if found < k {
            tokens.removeLast(k - found)
            logProbs.removeLast(k - found)
        }
        guard normalize else { return }
        let logNormalizer = eagle_log_sum_exp(base, Int64(row.count))
        for i in logProbs.indices {
            if logNormalizer.isFinite {
                logProbs[i] -= logNormalizer
            } else {
                // No finite partition: every entry −∞ (all stay −∞), or some +∞ (they share it).
                logProbs[i] = logProbs[i] == .infinity ? 0 : -.infinity
            }
        }
    }
}
