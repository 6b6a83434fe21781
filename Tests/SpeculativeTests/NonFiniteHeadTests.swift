import Foundation
import Testing
@testable import Speculative
import Inference
import Tokenization

/// A head whose weights hold NaN (a corrupt or overflowing checkpoint) drafts NaN logits.
/// That killed the daemon on the first EAGLE step (the top-k insertion ran past a full list);
/// now NaN ranks as −∞, the drafts are poor, and verification keeps the output the target's.
@Suite struct NonFiniteHeadTests {
    let model: LlamaModel

    init() throws {
        model = try LlamaModel(directory: fixtureModel("tiny-llama3-f16-sharded"))
    }

    static let trees: [TreeConfig] = [
        .staticTree(choices: TreeConfig.mcSim7b63),
        .dynamic(depth: 3, topK: 2, totalTokens: 5),
        .dynamic(depth: 6, topK: 10, totalTokens: 60),
        .dynamic(depth: 5, topK: 1, totalTokens: 6),
    ]

    @Test(arguments: trees)
    func aHeadDraftingNaNStillMatchesPlainGreedy(tree: TreeConfig) throws {
        // fc.weight NaN: every feature and every draft logit is NaN. fc.bias +∞: features
        // overflow (norms of ∞ give NaN, some logits ±∞).
        for (tensor, bits) in [("fc.weight", UInt16(0x7E00)), ("fc.bias", UInt16(0x7C00))] {
            let directory = try patchedFixture("tiny-llama3-head", tensor: tensor, f16Bits: bits)
            defer { try? FileManager.default.removeItem(at: directory) }
            let head = try EagleHead(directory: directory, target: model)
            let generator = SpeculativeGenerator(model: model, head: head, tokenizer: nil, tree: tree)
            for seed in 0..<3 {
                let prompt = syntheticPrompt(seed: UInt64(seed), length: 5 + seed * 9, vocabulary: 96)
                let params = GenerationParams(maxTokens: 24, ignoreEOS: true)
                let expected = try plainTokens(model, prompt: prompt, params: params)
                let result = try generator.generate(prompt: prompt, params: params) { _ in .proceed }
                #expect(result.tokens == expected, "\(tensor), prompt seed \(seed)")
            }
        }
    }

    /// A target whose logits are NaN (a NaN final norm) used to emit token 0 at every step —
    /// greedy or sampled, plain or EAGLE —, silently. Now the request fails with
    /// `nonFiniteLogits` at the first token, the same way on every path.
    @Test func aTargetWithNaNLogitsFailsClearly() throws {
        let directory = try patchedFixture("tiny-llama3-f16-sharded", tensor: "model.norm.weight", f16Bits: 0x7E00)
        defer { try? FileManager.default.removeItem(at: directory) }
        let model = try LlamaModel(directory: directory)
        let head = try EagleHead(directory: fixtureModel("tiny-llama3-head"), target: model)
        let prompt = syntheticPrompt(seed: 7, length: 9, vocabulary: 96)
        for sampling in [SamplingParams(), SamplingParams(temperature: 0.8, topK: 20, topP: 0.9, seed: 3)] {
            let params = GenerationParams(maxTokens: 12, sampling: sampling, ignoreEOS: true)
            #expect(throws: InferenceError.nonFiniteLogits(position: 9)) {
                try PlainGenerator(model: model, tokenizer: nil).generate(prompt: prompt, params: params) { _ in .proceed }
            }
            for tree in Self.trees {
                #expect(throws: InferenceError.nonFiniteLogits(position: 9), "\(tree)") {
                    try SpeculativeGenerator(model: model, head: head, tokenizer: nil, tree: tree)
                        .generate(prompt: prompt, params: params) { _ in .proceed }
                }
            }
        }
    }

    @Test func validateFindsNaNAndPositiveInfinityAnywhere() throws {
        var row = [Float](repeating: -3, count: 1000)
        row[999] = -.infinity
        try row.withUnsafeBufferPointer { try Sampler.validate($0, position: 0) }
        for (at, bad) in [(0, Float.nan), (517, .infinity), (999, .nan)] {
            var copy = row
            copy[at] = bad
            #expect(throws: InferenceError.nonFiniteLogits(position: 4)) { try copy.withUnsafeBufferPointer { try Sampler.validate($0, position: 4) } }
        }
    }
}
