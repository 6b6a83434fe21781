import Foundation
import Inference
import Tokenization
import Testing

/// Cancellation reaches a generation between prefill chunks, and chunking does not change
/// what the prompt produces (the kernels are batch-invariant).
@Suite("Prefill cancellation and temperature edge")
struct PrefillCancellationTests {
    let model: LlamaModel

    init() throws {
        model = try LlamaModel(directory: fixtureModel("tiny-llama3-f16-sharded"))
    }

    /// A 200-token prompt, deterministic and inside the fixture's vocabulary of 96.
    private var prompt: [TokenID] { (0..<200).map { TokenID(1 + ($0 * 7) % 90) } }

    @Test func chunkedPrefillEqualsOnePass() throws {
        let params = GenerationParams(maxTokens: 12, ignoreEOS: true)
        let chunked = try PlainGenerator(model: model, tokenizer: nil, maxBatch: 16).generate(prompt: prompt, params: params) { _ in .proceed }
        let whole = try PlainGenerator(model: model, tokenizer: nil, maxBatch: 256).generate(prompt: prompt, params: params) { _ in .proceed }
        #expect(chunked.tokens == whole.tokens)
        #expect(chunked.tokens.count == 12)
    }

    @Test func cancellationIsSeenBetweenPrefillChunks() throws {
        let params = GenerationParams(maxTokens: 12, ignoreEOS: true)
        var checks = 0
        var events = 0
        let result = try PlainGenerator(model: model, tokenizer: nil, maxBatch: 16).generate(
            prompt: prompt, params: params,
            isCancelled: { checks += 1; return checks >= 2 },
            onEvent: { _ in events += 1; return .proceed })
        #expect(result.stopReason == .cancelled)
        #expect(result.tokens.isEmpty && events == 0)
        // Checked after each 16-row chunk: the second check stopped it; 11 chunks never ran.
        #expect(checks == 2)
    }

    @Test func uncancelledPrefillIsCheckedOncePerChunk() throws {
        var checks = 0
        let result = try PlainGenerator(model: model, tokenizer: nil, maxBatch: 16).generate(
            prompt: prompt, params: GenerationParams(maxTokens: 2, ignoreEOS: true),
            isCancelled: { checks += 1; return false }, onEvent: { _ in .proceed })
        #expect(result.tokens.count == 2)
        #expect(checks == (200 + 15) / 16)
    }

    /// 1e-39 is subnormal: logits ÷ T overflowed and every sampled token was 0.
    @Test func tinyTemperaturesAreGreedy() throws {
        let greedy = try PlainGenerator(model: model, tokenizer: nil).generate(
            prompt: Array(prompt.prefix(8)), params: GenerationParams(maxTokens: 16, ignoreEOS: true)) { _ in .proceed }
        for temperature in [Float("1e-39")!, 1e-30, 9e-6] {
            let params = GenerationParams(maxTokens: 16, sampling: SamplingParams(temperature: temperature, seed: 7), ignoreEOS: true)
            #expect(params.sampling.isGreedy)
            let tiny = try PlainGenerator(model: model, tokenizer: nil).generate(prompt: Array(prompt.prefix(8)), params: params) { _ in .proceed }
            #expect(tiny.tokens == greedy.tokens, "temperature \(temperature)")
        }
        #expect(greedy.tokens.contains { $0 != 0 })
        #expect(!SamplingParams(temperature: SamplingParams.greedyTemperature).isGreedy)
    }
}
