import Foundation
import Testing
@testable import Inference

@Suite struct SamplerTests {
    func distribution(_ logits: [Float], _ params: SamplingParams) -> [Float] {
        var sampler = Sampler(params: params, vocabularySize: logits.count)
        var values = logits
        var probs = [Float](repeating: -1, count: logits.count)
        values.withUnsafeMutableBufferPointer { l in
            probs.withUnsafeMutableBufferPointer { p in sampler.distribution(l, into: p) }
        }
        return probs
    }

    let logits: [Float] = [2.0, 1.0, 0.5, 3.0, -1.0, 0.0]

    @Test func greedyIsOneHotAtArgmax() throws {
        #expect(distribution(logits, .greedy) == [0, 0, 0, 1, 0, 0])
        var sampler = Sampler(params: .greedy, vocabularySize: 6)
        var values = logits
        #expect(try values.withUnsafeMutableBufferPointer { try sampler.sample($0, position: 0) } == 3)
    }

    @Test func temperatureIsSoftmaxOfScaledLogits() {
        let p = distribution(logits, SamplingParams(temperature: 0.5))
        let e = logits.map { exp(Double($0) / 0.5) }
        let total = e.reduce(0, +)
        for (a, b) in zip(p, e.map { $0 / total }) { #expect(abs(Double(a) - b) < 1e-6) }
    }

    @Test func topKKeepsTheKLargest() {
        let p = distribution(logits, SamplingParams(temperature: 1, topK: 2))
        #expect(p.enumerated().filter { $0.element > 0 }.map(\.offset) == [0, 3])
        #expect(abs(p.reduce(0, +) - 1) < 1e-6)
        let e0 = exp(2.0), e3 = exp(3.0)
        #expect(abs(Double(p[3]) - e3 / (e0 + e3)) < 1e-6)
    }

    @Test func topKKeepsTiesAtTheThreshold() {
        let p = distribution([1, 5, 5, 5, 0], SamplingParams(temperature: 1, topK: 2))
        #expect(p.map { $0 > 0 } == [false, true, true, true, false])
    }

    @Test func topPKeepsTheSmallestSetReachingP() {
        // probabilities ≈ [0.237, 0.087, 0.053, 0.644, 0.012, 0.032] (softmax of logits)
        let full = distribution(logits, SamplingParams(temperature: 1))
        let p = distribution(logits, SamplingParams(temperature: 1, topP: 0.8))
        // 0.644 < 0.8, so the next most likely (index 0) is kept too; then mass ≥ 0.8.
        #expect(p.enumerated().filter { $0.element > 0 }.map(\.offset) == [0, 3])
        #expect(abs(Double(p[3]) - Double(full[3] / (full[0] + full[3]))) < 1e-6)
        let tight = distribution(logits, SamplingParams(temperature: 1, topP: 0.5))
        #expect(tight.enumerated().filter { $0.element > 0 }.map(\.offset) == [3])
    }

    @Test func kthLargestAgreesWithSorting() {
        var random = RandomSource(seed: 9)
        for _ in 0..<50 {
            let n = Int(random.next() % 200) + 1
            let values = (0..<n).map { _ in Float(Int(random.next() % 40)) }
            let k = Int(random.next() % UInt64(n)) + 1
            var copy = values
            let kth = copy.withUnsafeMutableBufferPointer { Sampler.kthLargest($0, k: k) }
            #expect(kth == values.sorted(by: >)[k - 1])
        }
    }

    @Test func seededDrawsAreReproducible() throws {
        func run(_ seed: UInt64) throws -> [Int32] {
            var sampler = Sampler(params: SamplingParams(temperature: 1, seed: seed), vocabularySize: 6)
            return try (0..<32).map { i in
                var values = logits
                return try values.withUnsafeMutableBufferPointer { try sampler.sample($0, position: 100 + i) }
            }
        }
        #expect(try run(42) == run(42))
        #expect(try run(42) != run(43))
    }

    @Test func drawFrequenciesFollowTheDistribution() {
        // Chi-square with 5 degrees of freedom; 20.5 is the 0.999 quantile.
        let p = distribution(logits, SamplingParams(temperature: 1))
        // Over positions with one seed, and over seeds at one position: position-keyed noise
        // must give the distribution either way.
        let n = 20_000
        var counts = [Int](repeating: 0, count: 6), seedCounts = [Int](repeating: 0, count: 6)
        let sampler = Sampler(params: SamplingParams(temperature: 1, seed: 7), vocabularySize: 6)
        p.withUnsafeBufferPointer { probs in
            for t in 0..<n { counts[Int(sampler.choose(from: probs, position: t))] += 1 }
            for seed in 0..<n {
                let other = Sampler(params: SamplingParams(temperature: 1, seed: UInt64(seed)), vocabularySize: 6)
                seedCounts[Int(other.choose(from: probs, position: 12))] += 1
            }
        }
        for c in [counts, seedCounts] {
            let chi2 = zip(c, p).reduce(0.0) { acc, pair in
                let expected = Double(n) * Double(pair.1)
                return acc + pow(Double(pair.0) - expected, 2) / expected
            }
            #expect(chi2 < 20.5, "chi² = \(chi2), counts \(c)")
        }
    }

    @Test func chosenTokenIsAPureFunctionOfSeedPositionAndDistribution() throws {
        let p = distribution(logits, SamplingParams(temperature: 1))
        let a = Sampler(params: SamplingParams(temperature: 1, seed: 5), vocabularySize: 6)
        var b = Sampler(params: SamplingParams(temperature: 1, seed: 5), vocabularySize: 6)
        p.withUnsafeBufferPointer { probs in
            for t in 0..<200 { #expect(a.choose(from: probs, position: t) == b.choose(from: probs, position: t)) }
        }
        // What was sampled before (another position's draw) changes nothing.
        var values = logits
        _ = try values.withUnsafeMutableBufferPointer { try b.sample($0, position: 3) }
        p.withUnsafeBufferPointer { probs in #expect(a.choose(from: probs, position: 9) == b.choose(from: probs, position: 9)) }
        // A zero-probability token is never chosen.
        var masked = p
        masked[2] = 0
        masked.withUnsafeBufferPointer { probs in
            #expect((0..<2000).allSatisfy { a.choose(from: probs, position: $0) != 2 })
        }
    }

    @Test func invalidParametersAreRejected() {
        #expect(throws: InferenceError.self) { try SamplingParams(temperature: -1).validate() }
        #expect(throws: InferenceError.self) { try SamplingParams(temperature: .nan).validate() }
        #expect(throws: InferenceError.self) { try SamplingParams(topK: -3).validate() }
        #expect(throws: InferenceError.self) { try SamplingParams(topP: 0).validate() }
        #expect(throws: InferenceError.self) { try SamplingParams(topP: 1.5).validate() }
        #expect(throws: InferenceError.self) { try GenerationParams(maxTokens: 0).validate() }
        #expect(throws: InferenceError.self) { try GenerationParams(stopStrings: [""]).validate() }
    }
}
