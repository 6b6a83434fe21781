import Foundation
import Testing
@testable import Inference
import Tokenization

/// Stop rules and streaming, shared by every generator.
@Suite struct GenerationTests {
    let tokenizer: Tokenizer
    let model: LlamaModel

    init() throws {
        let directory = repositoryRoot.appendingPathComponent("Models/tiny-pystd")
        tokenizer = try Tokenizer.load(directory: directory)
        model = try LlamaModel(directory: directory)
    }

    /// Feeds `tokens` one at a time; returns the streamed chunks and the accumulator.
    func stream(_ tokens: [TokenID], _ params: GenerationParams, eos: [TokenID] = []) -> ([String], OutputAccumulator) {
        var output = OutputAccumulator(params: params, tokenizer: tokenizer, defaultStopTokens: eos)
        var chunks: [String] = []
        for t in tokens where output.stopReason == nil {
            chunks.append(output.take([t]).text)
        }
        if output.stopReason == nil { chunks.append(output.stop(.cancelled)) }
        return (chunks, output)
    }

    @Test func stopStringCutsTheTextAndIsNeverStreamed() {
        let text = "    return value  # STOP here, please"
        let tokens = tokenizer.encode(text, addSpecialTokens: false)
        let (chunks, output) = stream(tokens, GenerationParams(maxTokens: 100, stopStrings: ["STOP"]))
        #expect(output.stopReason == .stopString)
        #expect(output.text == "    return value  # ")
        #expect(chunks.joined() == output.text)
        // The held-back "S", "ST", "STO" never reached the stream.
        #expect(!chunks.joined().contains("S"))
    }

    @Test func textThatOnlyLooksLikeAStopStringIsReleased() {
        let text = "a = STO + ST + S"
        let tokens = tokenizer.encode(text, addSpecialTokens: false)
        let (chunks, output) = stream(tokens, GenerationParams(maxTokens: 100, stopStrings: ["STOP"]))
        #expect(output.stopReason == .cancelled)
        #expect(output.text == text)
        #expect(chunks.joined() == text)
    }

    @Test func earliestOfSeveralStopStringsWins() {
        let tokens = tokenizer.encode("x = 1\ny = 2\n\nz = 3", addSpecialTokens: false)
        let (_, output) = stream(tokens, GenerationParams(maxTokens: 100, stopStrings: ["z =", "\n\n"]))
        #expect(output.text == "x = 1\ny = 2")
    }

    @Test func eosEndsWithTheTokenButNoText() {
        let eos = tokenizer.eosToken!
        let tokens = tokenizer.encode("pass", addSpecialTokens: false) + [eos] + tokenizer.encode(" more", addSpecialTokens: false)
        let (_, output) = stream(tokens, GenerationParams(maxTokens: 100), eos: [eos])
        #expect(output.stopReason == .endOfSequence)
        #expect(output.tokens.last == eos)
        #expect(output.text == "pass")
        let (_, ignoring) = stream(tokens, GenerationParams(maxTokens: 100, ignoreEOS: true), eos: [eos])
        #expect(ignoring.tokens.count == tokens.count)
    }

    @Test func maxTokensCountsEveryToken() {
        let tokens = tokenizer.encode("for i in range(10): print(i)", addSpecialTokens: false)
        var output = OutputAccumulator(params: GenerationParams(maxTokens: 3), tokenizer: tokenizer, defaultStopTokens: [])
        let taken = output.take(tokens)
        #expect(taken.tokens == Array(tokens.prefix(3)))
        #expect(output.stopReason == .maxTokens)
        #expect(output.text == tokenizer.decode(Array(tokens.prefix(3))))
    }

    @Test func plainGeneratorStreamsWhatItReturns() throws {
        let prompt = tokenizer.encode("import os\n\ndef main():")
        var streamed: [TokenID] = [], text = ""
        let result = try PlainGenerator(model: model, tokenizer: tokenizer)
            .generate(prompt: prompt, params: GenerationParams(maxTokens: 24, ignoreEOS: true)) { event in
                streamed += event.tokens
                text += event.text
                return .proceed
            }
        #expect(result.tokens == streamed && result.tokens.count == 24)
        #expect(result.text == text && text == tokenizer.decode(result.tokens))
        #expect(result.steps == 24 && result.meanTokensPerStep == 1)
    }

    @Test func seededSamplingIsReproducible() throws {
        let prompt = tokenizer.encode("class Foo:")
        let params = GenerationParams(maxTokens: 16, sampling: SamplingParams(temperature: 0.9, topK: 40, topP: 0.95, seed: 11), ignoreEOS: true)
        let generator = PlainGenerator(model: model, tokenizer: tokenizer)
        let a = try generator.generate(prompt: prompt, params: params) { _ in .proceed }
        let b = try generator.generate(prompt: prompt, params: params) { _ in .proceed }
        #expect(a.tokens == b.tokens)
        var other = params
        other.sampling.seed = 12
        let c = try generator.generate(prompt: prompt, params: other) { _ in .proceed }
        #expect(c.tokens != a.tokens)
    }

    @Test func badRequestsAreRejected() throws {
        let generator = PlainGenerator(model: model, tokenizer: tokenizer)
        #expect(throws: InferenceError.self) { try generator.generate(prompt: [], params: GenerationParams()) { _ in .proceed } }
        #expect(throws: InferenceError.self) {
            try generator.generate(prompt: [TokenID(model.config.vocabSize)], params: GenerationParams()) { _ in .proceed }
        }
        let long = [TokenID](repeating: 10, count: model.contextLength)
        #expect(throws: InferenceError.contextOverflow(needed: model.contextLength + 1, capacity: model.contextLength)) {
            try generator.generate(prompt: long, params: GenerationParams()) { _ in .proceed }
        }
        #expect(throws: InferenceError.self) {
            try generator.generate(prompt: [1], params: GenerationParams(sampling: SamplingParams(temperature: -0.5))) { _ in .proceed }
        }
    }
}
