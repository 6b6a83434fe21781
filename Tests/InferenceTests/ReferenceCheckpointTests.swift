import Foundation
import Testing
@testable import Inference

/// Tiny random checkpoints covering loader and architecture options the fixture model does
/// not use (F16, sharding, tied embeddings, biases, llama3 rope scaling, qwen2, head_dim),
/// compared with logits from transformers (Tools/make_reference_checkpoints.py).
@Suite struct ReferenceCheckpointTests {
    /// FP32 on both sides; differences come only from summation order in BLAS and
    /// transcendental functions. Logits here are O(1–10); observed max |Δ| is 1.3e-6, so
    /// 1e-4 is ~100× margin and far below any gap that would change an argmax we test.
    static let tolerance: Float = 1e-4

    @Test(arguments: ["tiny-llama3-f16-sharded", "tiny-qwen2-f32"])
    func logitsMatchTransformers(name: String) throws {
        let golden = try goldenJSON("reference-\(name).json")
        let model = try LlamaModel(directory: fixtureModel(name))
        let session = model.makeSession(maxBatch: 32)
        let prompt = ints(golden["prompt"])
        let output = try session.forward(prompt, logits: .all)
        let expected = (golden["logits"] as! [[NSNumber]]).map { $0.map(\.floatValue) }
        #expect(expected.count == prompt.count)
        var worst: Float = 0
        for (i, row) in expected.enumerated() {
            let actual = output.logits(forToken: i)
            for (j, value) in row.enumerated() { worst = max(worst, abs(actual[j] - value)) }
        }
        #expect(worst < Self.tolerance, "max |Δlogit| = \(worst)")
    }

    @Test(arguments: ["tiny-llama3-f16-sharded", "tiny-qwen2-f32"])
    func greedyMatchesTransformers(name: String) throws {
        let golden = try goldenJSON("reference-\(name).json")
        let model = try LlamaModel(directory: fixtureModel(name))
        let expected = ints(golden["greedy"])
        // The goldens were generated without an EOS (eos_token_id=None).
        let params = GenerationParams(maxTokens: expected.count, ignoreEOS: true)
        let tokens = try PlainGenerator(model: model, tokenizer: nil, maxBatch: 8)
            .generate(prompt: ints(golden["prompt"]), params: params) { _ in .proceed }.tokens
        #expect(tokens == expected)
    }

    @Test func configOptionsAreRead() throws {
        let llama = try ModelConfig.load(directory: fixtureModel("tiny-llama3-f16-sharded"))
        #expect(llama.qkvBias && llama.outputBias && llama.mlpBias && llama.tieWordEmbeddings)
        #expect(llama.eosTokenIDs == [2, 3])
        #expect(llama.ropeScaling == .llama3(factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositions: 32))
        let qwen = try ModelConfig.load(directory: fixtureModel("tiny-qwen2-f32"))
        #expect(qwen.qkvBias && !qwen.outputBias && qwen.headDim == 16 && qwen.ropeTheta == 1_000_000)
    }
}
