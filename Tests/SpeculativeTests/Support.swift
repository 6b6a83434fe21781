import Foundation
import Inference
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
