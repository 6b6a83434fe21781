import Foundation
import Testing
import CKernels
@testable import Speculative
import Inference
import Tokenization

/// `TopK` (the vectorized `eagle_top_k` + `eagle_log_sum_exp`) against a plain reference:
/// the k best by (value, lower index first), NaN as −∞, log-probabilities in double precision.
@Suite struct TopKTests {
    /// The reference selection and log-probabilities.
    static func reference(_ row: [Float], k: Int) -> (tokens: [TokenID], logProbs: [Double]) {
        let values = row.map { $0.isNaN ? -Float.infinity : $0 }
        let order = values.indices.sorted { values[$0] != values[$1] ? values[$0] > values[$1] : $0 < $1 }
        let chosen = Array(order.prefix(k))
        let top = Double(values.max() ?? -.infinity)
        let logZ = top + log(values.reduce(0.0) { $0 + exp(Double($1) - top) })
        return (chosen.map { TokenID($0) }, chosen.map { Double(values[$0]) - logZ })
    }

    static func select(_ row: [Float], k: Int, normalize: Bool = true) -> TopK {
        var topK = TopK(capacity: 64)
        var row = row
        row.withUnsafeMutableBufferPointer { topK.select($0, k: k, normalize: normalize) }
        return topK
    }

    static func randomRow(seed: UInt64, count: Int, scale: Float = 8) -> [Float] {
        var random = RandomSource(seed: seed)
        return (0..<count).map { _ in (Float(random.next() >> 40) / Float(1 << 24) - 0.5) * 2 * scale }
    }

    @Test(arguments: [1, 15, 16, 17, 100, 4096, 4099, 128_256])
    func matchesTheReference(count: Int) {
        for k in [1, 2, 5, 16, 64] {
            let row = Self.randomRow(seed: UInt64(count * 100 + k), count: count)
            let expected = Self.reference(row, k: min(k, count))
            let got = Self.select(row, k: k)
            #expect(got.tokens == expected.tokens, "count \(count) k \(k)")
            for (g, e) in zip(got.logProbs, expected.logProbs) {
                #expect(abs(Double(g) - e) <= 2e-5 * max(1, abs(e)), "count \(count) k \(k): \(g) vs \(e)")
            }
            // Raw mode: the same entries, their logits.
            let raw = Self.select(row, k: k, normalize: false)
            #expect(raw.tokens == expected.tokens)
            #expect(raw.logProbs == expected.tokens.map { row[Int($0)] })
        }
    }

    @Test func tiesGoToTheLowerIndex() {
        // Few distinct values over many entries, so chunks tie with the k-th.
        let row = (0..<1000).map { Float(($0 * 7) % 5) }
        for k in [1, 3, 64] {
            #expect(Self.select(row, k: k).tokens == Self.reference(row, k: k).tokens)
        }
        #expect(Self.select([Float](repeating: 2, count: 40), k: 5).tokens == [0, 1, 2, 3, 4])
    }

    @Test func kBeyondTheRowGivesTheWholeRowSorted() {
        let got = Self.select([0.5, 3, -1], k: 8)
        #expect(got.tokens == [1, 0, 2])
        #expect(got.logProbs.count == 3)
        #expect(Self.select([], k: 4).tokens.isEmpty)
        #expect(Self.select([1, 2], k: 0).tokens.isEmpty)
    }

    /// A NaN logit (an overflowing or corrupt checkpoint) crashed the drafter: the insertion
    /// compared it with nothing and inserted past the end of a full list.
    @Test func nanRanksLastAndNeverPoisonsTheScores() {
        var row = Self.randomRow(seed: 9, count: 4096)
        for i in stride(from: 0, to: 4096, by: 37) { row[i] = .nan }
        row[0] = .nan
        row[1] = .nan
        for k in [1, 4, 64] {
            let got = Self.select(row, k: k)
            let expected = Self.reference(row, k: k)
            #expect(got.tokens == expected.tokens)
            #expect(got.logProbs.allSatisfy { !$0.isNaN && $0 <= 0 })
            for (g, e) in zip(got.logProbs, expected.logProbs) { #expect(abs(Double(g) - e) <= 2e-5 * max(1, abs(e))) }
        }
        // Fewer numbers than k: the NaNs fill in after them, as −∞.
        let sparse: [Float] = [.nan, 1, .nan, .nan, 2]
        let got = Self.select(sparse, k: 4)
        #expect(got.tokens == [4, 1, 0, 2])
        #expect(got.logProbs[2] == -.infinity && got.logProbs[3] == -.infinity)
        #expect(Self.select(sparse, k: 4, normalize: false).logProbs == [2, 1, -.infinity, -.infinity])
    }

    @Test func rowsWithoutAFinitePartitionStayOrdered() {
        let allNaN = Self.select([Float](repeating: .nan, count: 50), k: 3)
        #expect(allNaN.tokens == [0, 1, 2])
        #expect(allNaN.logProbs == [-.infinity, -.infinity, -.infinity])
        let infinite = Self.select([1, .infinity, .nan, .infinity, -.infinity], k: 4)
        #expect(infinite.tokens == [1, 3, 0, 2])  // the NaN at 2 ranks as −∞, before the −∞ at 4
        #expect(infinite.logProbs == [0, 0, -.infinity, -.infinity])
    }

    /// The lanes are fixed at 16, so every instruction-set path gives the same bits: a draft
    /// tree does not depend on the machine (or on EAGLE_KERNELS).
    @Test func everyInstructionSetGivesTheSameBits() {
        for (seed, count) in [(1, 5), (2, 4096), (3, 4111), (4, 128_256)] {
            var row = Self.randomRow(seed: UInt64(seed), count: count)
            if count > 100 { row[77] = .nan; row[78] = -.infinity }
            var reference: (Int32, [Int32], [Float], Float)?
            for isa in Int32(0)...eagle_isa_best() {
                var indices = [Int32](repeating: -1, count: 64), values = [Float](repeating: 0, count: 64)
                let found = eagle_top_k_on(isa, row, Int64(count), 64, &indices, &values)
                let partition = eagle_log_sum_exp_on(isa, row, Int64(count))
                if let reference {
                    #expect(found == reference.0 && indices == reference.1 && values == reference.2, "isa \(isa), count \(count)")
                    #expect(partition.bitPattern == reference.3.bitPattern, "isa \(isa), count \(count)")
                } else {
                    reference = (found, indices, values, partition)
                }
            }
        }
    }

    @Test func logPartitionOverAWideRange() {
        // Logits from −200 to +60: entries far below the max underflow to 0 as in double.
        var row = Self.randomRow(seed: 4, count: 50_000, scale: 130)
        for i in row.indices { row[i] -= 70 }
        let top = Double(row.max()!)
        let expected = top + log(row.reduce(0.0) { $0 + exp(Double($1) - top) })
        let got = Double(eagle_log_sum_exp(row, Int64(row.count)))
        #expect(abs(got - expected) <= 1e-5 * abs(expected))
    }
}
