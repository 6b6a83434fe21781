import Foundation
import Testing
@testable import Speculative
import Inference
import Tokenization

/// EAGLE with greedy acceptance must reproduce plain greedy decoding token for token,
/// whatever the head drafts. A random head on a random tiny model exercises the
/// rejection paths (mostly one token per step, sometimes more); the trained fixture head
/// (FixtureSpeculativeTests) exercises long accepted paths.
@Suite struct GreedyLosslessTests {
    let model: LlamaModel
    let head: EagleHead

    init() throws {
        model = try LlamaModel(directory: fixtureModel("tiny-llama3-f16-sharded"))
        head = try EagleHead(directory: fixtureModel("tiny-llama3-head"), target: model)
    }

    static let trees: [TreeConfig] = [
        .staticTree(choices: TreeConfig.mcSim7b63),
        .dynamic(depth: 3, topK: 2, totalTokens: 5),
        .dynamic(depth: 6, topK: 10, totalTokens: 60),
        .dynamic(depth: 1, topK: 4, totalTokens: 4),
    ]

    @Test(arguments: trees)
    func matchesPlainGreedy(tree: TreeConfig) throws {
        let generator = SpeculativeGenerator(model: model, head: head, tokenizer: nil, tree: tree)
        for seed in 0..<6 {
            let prompt = syntheticPrompt(seed: UInt64(seed), length: 3 + seed * 7, vocabulary: 96)
            let params = GenerationParams(maxTokens: 40, ignoreEOS: true)
            let expected = try plainTokens(model, prompt: prompt, params: params)
            let result = try generator.generate(prompt: prompt, params: params) { _ in .proceed }
            #expect(result.tokens == expected, "prompt seed \(seed)")
            #expect(result.stopReason == .maxTokens)
        }
    }

    @Test func stopsAtEOSLikePlainDecoding() throws {
        // Make a token that greedy decoding produces an EOS: generation must stop there.
        let prompt = syntheticPrompt(seed: 3, length: 12, vocabulary: 96)
        let free = try plainTokens(model, prompt: prompt, params: GenerationParams(maxTokens: 30, ignoreEOS: true))
        let eos = free[17]
        let params = GenerationParams(maxTokens: 30, stopTokens: [eos])
        let expected = try plainTokens(model, prompt: prompt, params: params)
        #expect(expected.last == eos && expected.count <= 18)
        let result = try SpeculativeGenerator(model: model, head: head, tokenizer: nil, tree: .dynamic(depth: 4, topK: 4, totalTokens: 16))
            .generate(prompt: prompt, params: params) { _ in .proceed }
        #expect(result.tokens == expected)
        #expect(result.stopReason == .endOfSequence)
    }

    @Test func runsIntoTheEndOfTheContext() throws {
        // 256 positions: a long prompt leaves room for fewer tokens than asked.
        let prompt = syntheticPrompt(seed: 5, length: 240, vocabulary: 96)
        let params = GenerationParams(maxTokens: 64, ignoreEOS: true)
        let expected = try PlainGenerator(model: model, tokenizer: nil).generate(prompt: prompt, params: params) { _ in .proceed }
        let result = try SpeculativeGenerator(model: model, head: head, tokenizer: nil, tree: .dynamic(depth: 5, topK: 4, totalTokens: 20))
            .generate(prompt: prompt, params: params) { _ in .proceed }
        #expect(result.tokens == expected.tokens)
        #expect(result.stopReason == .contextFull && expected.stopReason == .contextFull)
    }

    @Test func cancelStopsTheGeneration() throws {
        let prompt = syntheticPrompt(seed: 1, length: 8, vocabulary: 96)
        var events = 0
        let result = try SpeculativeGenerator(model: model, head: head, tokenizer: nil)
            .generate(prompt: prompt, params: GenerationParams(maxTokens: 50, ignoreEOS: true)) { _ in
                events += 1
                return events == 3 ? .cancel : .proceed
            }
        #expect(result.stopReason == .cancelled)
        #expect(result.tokens.count < 50)
    }

    @Test func headThatDoesNotFitItsTargetIsRefused() throws {
        let other = try LlamaModel(directory: fixtureModel("tiny-qwen2-f32"))
        #expect(throws: CheckpointError.self) { try EagleHead(directory: fixtureModel("tiny-llama3-head"), target: other) }
    }
}

/// Official heads ship as `model.safetensors` or `pytorch_model.bin`; both must load to the
/// same weights.
@Suite struct HeadCheckpointFormTests {
    @Test func binAndSafetensorsLoadIdenticalWeights() throws {
        let model = try LlamaModel(directory: fixtureModel("tiny-llama3-f16-sharded"))
        let fromSafetensors = try EagleHead(directory: fixtureModel("tiny-llama3-head"), target: model)
        let fromBin = try EagleHead(directory: fixtureModel("tiny-llama3-head-bin"), target: model)
        #expect(fromBin.weightsFile.hasSuffix("pytorch_model.bin"))
        #expect(fromSafetensors.weightsFile.hasSuffix("model.safetensors"))
        #expect(fromBin.byteCount == fromSafetensors.byteCount)
        func same(_ a: WeightMatrix, _ b: WeightMatrix) -> Bool {
            a.outputs == b.outputs && (0..<a.outputs).allSatisfy { a.row($0) == b.row($0) }
        }
        #expect(same(fromBin.fc, fromSafetensors.fc))
        let (x, y) = (fromBin.layer, fromSafetensors.layer)
        #expect(same(x.qkv, y.qkv) && same(x.output, y.output) && same(x.gateUp, y.gateUp) && same(x.down, y.down))
        let d = model.config.hiddenSize
        #expect(Array(UnsafeBufferPointer(start: x.mlpNorm, count: d)) == Array(UnsafeBufferPointer(start: y.mlpNorm, count: d)))
    }
}
