import Foundation
import Testing
@testable import Speculative
import Inference
import Tokenization

/// The acceptance rule on a hand-made tree with fixed target logits, where the exact
/// distribution of the emitted tokens is known: the first token must follow p(root), and
/// after an accepted child the next token must follow p(child). Many cheap draws make the
/// chi-square test sharp; the same test must reject a deliberately broken rule.
@Suite struct AcceptanceTests {
    //          root
    //        /  |   \
    //   (2)n1 (0)n2 (4)n3        children tried in this order
    //    /  \
    // (1)n4 (3)n5
    let tree = DraftTree(tokens: [5, 2, 0, 4, 1, 3], parents: [-1, 0, 0, 0, 1, 1])
    let nodeLogits: [[Float]] = [
        [1.0, 0.2, 1.5, -0.5, 0.8, 0.0],   // root
        [0.1, 1.2, -1.0, 0.9, 0.3, 0.5],   // n1 (token 2)
        [0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
        [0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
        [0.5, 0.5, 0.5, 0.5, 0.5, 0.5],
        [0.5, 0.5, 0.5, 0.5, 0.5, 0.5],
    ]

    func softmax(_ l: [Float]) -> [Double] {
        let e = l.map { exp(Double($0)) }
        let s = e.reduce(0, +)
        return e.map { $0 / s }
    }

    /// Draws `n` acceptances; returns counts of the first emitted token and of the second
    /// emitted token among draws whose first token was 2.
    func draw(_ n: Int, rule: AcceptanceRule, sampling: SamplingParams) throws -> (first: [Int], second: [Int]) {
        var acceptor = Acceptor(vocabularySize: 6)
        acceptor.rule = rule
        var first = [Int](repeating: 0, count: 6), second = [Int](repeating: 0, count: 6)
        for i in 0..<n {
            // Each draw with its own seed (the noise is a function of seed, position and token).
            var params = sampling
            params.seed = sampling.seed &+ UInt64(i) &* 0x9E37_79B9_7F4A_7C15
            var sampler = Sampler(params: params, vocabularySize: 6)
            let acceptance = try accept(&acceptor, &sampler, rootPosition: 17)
            let emitted = acceptance.emitted(from: tree)
            first[Int(emitted[0])] += 1
            if emitted[0] == 2 && emitted.count > 1 { second[Int(emitted[1])] += 1 }
        }
        return (first, second)
    }

    /// One acceptance over a fresh copy of the node logits ([node × 6], flat).
    func accept(_ acceptor: inout Acceptor, _ sampler: inout Sampler, rootPosition: Int = 0) throws -> Acceptance {
        var flat = nodeLogits.flatMap { $0 }
        return try flat.withUnsafeMutableBufferPointer { rows in
            try acceptor.accept(tree: tree, rootPosition: rootPosition, logits: { node in
                UnsafeMutableBufferPointer(rebasing: rows[(node * 6)..<(node * 6 + 6)])
            }, sampler: &sampler)
        }
    }

    func chiSquare(_ counts: [Int], _ p: [Double]) -> Double {
        let n = Double(counts.reduce(0, +))
        return zip(counts, p).reduce(0) { acc, pair in
            let expected = n * pair.1
            return expected == 0 ? acc : acc + pow(Double(pair.0) - expected, 2) / expected
        }
    }

    /// χ² 0.999 quantile with 5 degrees of freedom.
    static let critical = 20.52

    @Test func exactRuleReproducesTheTargetDistribution() throws {
        let (first, second) = try draw(40_000, rule: .exact, sampling: SamplingParams(temperature: 1, seed: 2024))
        #expect(chiSquare(first, softmax(nodeLogits[0])) < Self.critical, "first \(first)")
        #expect(chiSquare(second, softmax(nodeLogits[1])) < Self.critical, "second \(second)")
    }

    @Test func brokenRuleIsCaught() throws {
        // Deciding drafts with noise keyed by node (the bonus still by position) accepts a
        // drafted token on two chances: drafted tokens are over-produced.
        let (first, _) = try draw(40_000, rule: .noiseKeyedByNode, sampling: SamplingParams(temperature: 1, seed: 2024))
        #expect(chiSquare(first, softmax(nodeLogits[0])) > 10 * Self.critical, "first \(first)")
    }

    /// The sampled token at each position is the one plain sampling picks for that position:
    /// the accepted path is exactly the drafts that equal it, and the bonus is it.
    @Test func acceptanceEmitsThePlainSamplersTokens() throws {
        let sampling = SamplingParams(temperature: 0.9, topP: 0.95, seed: 77)
        var acceptor = Acceptor(vocabularySize: 6)
        var sampler = Sampler(params: sampling, vocabularySize: 6)
        for base in 0..<300 {
            let acceptance = try accept(&acceptor, &sampler, rootPosition: base)
            let emitted = acceptance.emitted(from: tree)
            #expect(emitted.count == acceptance.path.count)
            // Token j comes from the logits of the j-th node on the path (depth j).
            for (j, token) in emitted.enumerated() {
                var values = nodeLogits[acceptance.path[j]]
                let expected = try values.withUnsafeMutableBufferPointer { try sampler.sample($0, position: base + 1 + j) }
                #expect(token == expected, "base \(base), token \(j)")
            }
        }
    }

    @Test func temperatureAndTopKApplyToTheTargetSide() throws {
        let sampling = SamplingParams(temperature: 0.7, topK: 3, seed: 99)
        let (first, _) = try draw(30_000, rule: .exact, sampling: sampling)
        // top-3 of the root logits are tokens 2, 0, 4; probabilities ∝ exp(l / 0.7).
        var p = [Double](repeating: 0, count: 6)
        for t in [2, 0, 4] { p[t] = exp(Double(nodeLogits[0][t]) / 0.7) }
        let s = p.reduce(0, +)
        p = p.map { $0 / s }
        #expect(first[1] == 0 && first[3] == 0 && first[5] == 0)
        #expect(chiSquare(first, p) < Self.critical, "first \(first)")
    }

    @Test func greedyFollowsTheArgmaxPath() throws {
        var acceptor = Acceptor(vocabularySize: 6)
        var sampler = Sampler(params: .greedy, vocabularySize: 6)
        let acceptance = try accept(&acceptor, &sampler)
        // root argmax = 2 → n1; n1 argmax = 1 → n4; n4 has no children: bonus = argmax(n4) = 0.
        #expect(acceptance == Acceptance(path: [0, 1, 4], bonus: 0))
    }
}
