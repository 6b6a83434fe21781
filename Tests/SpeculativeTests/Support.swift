import Foundation
import Inference
import Speculative
import Tokenization

@_exported import TestSupport

/// Plain decoding's tokens, the reference every speculative run must reproduce.
func plainTokens(_ model: LlamaModel, prompt: [TokenID], params: GenerationParams) throws -> [TokenID] {
    try PlainGenerator(model: model, tokenizer: nil).generate(prompt: prompt, params: params) { _ in .proceed }.tokens
}

/// A deterministic pseudo-random prompt over a vocabulary.
func syntheticPrompt(seed: UInt64, length: Int, vocabulary: Int) -> [TokenID] {
    var random = RandomSource(seed: seed)
    return (0..<length).map { _ in TokenID(random.next() % UInt64(vocabulary)) }
}

/// The bundled model, its tokenizer and trained EAGLE head, and the held-out bench prompts.
struct BundledFixture {
    let model: LlamaModel
    let head: EagleHead
    let tokenizer: Tokenizer
    let prompts: [[TokenID]]

    init(dtype: WeightDType = .bf16) throws {
        let directory = repositoryRoot.appendingPathComponent("Models/tiny-pystd")
        model = try LlamaModel(directory: directory, dtype: dtype)
        tokenizer = try Tokenizer.load(directory: directory)
        head = try EagleHead(directory: repositoryRoot.appendingPathComponent("Models/tiny-pystd-eagle"), target: model)
        let texts = try JSONDecoder().decode([String].self, from: Data(contentsOf: repositoryRoot.appendingPathComponent("Tests/Golden/bench-prompts.json")))
        let tokenizer = self.tokenizer
        prompts = texts.map { tokenizer.encode($0) }
    }
}

extension WeightDType {
    /// The dtypes whose results reproduce the PyTorch references (`bf16dot` rounds activations).
    static let reproducingReference: [WeightDType] = [.bf16, .f32]
}
