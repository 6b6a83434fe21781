import Foundation
import Testing
@testable import Speculative
import Inference
import Tokenization

/// EAGLE on the bundled model with its trained head: long accepted paths, real prompts.
@Suite struct FixtureSpeculativeTests {
    let model: LlamaModel
    let head: EagleHead
    let tokenizer: Tokenizer
    let prompts: [[TokenID]]

    init() throws {
        let fixture = try BundledFixture()
        (model, head, tokenizer, prompts) = (fixture.model, fixture.head, fixture.tokenizer, fixture.prompts)
    }

    static let trees: [TreeConfig] = [
        .staticTree(choices: TreeConfig.mcSim7b63),
        .cpuDefault,
        .dynamic(depth: 3, topK: 2, totalTokens: 6),
        .dynamic(depth: 6, topK: 10, totalTokens: 60),
    ]

    @Test(arguments: trees)
    func greedyEqualsPlainOnHeldOutPrompts(tree: TreeConfig) throws {
        #expect(prompts.count >= 20)
        let plain = PlainGenerator(model: model, tokenizer: tokenizer)
        let eagle = SpeculativeGenerator(model: model, head: head, tokenizer: tokenizer, tree: tree)
        var steps = 0, tokens = 0, stops: Set<StopReason> = []
        for (i, prompt) in prompts.enumerated() {
            // Mixed lengths: some prompts run into max tokens, short budgets end mid-step.
            let params = GenerationParams(maxTokens: 17 + (i % 4) * 11)
            let expected = try plain.generate(prompt: prompt, params: params) { _ in .proceed }
            let result = try eagle.generate(prompt: prompt, params: params) { _ in .proceed }
            #expect(result.tokens == expected.tokens, "prompt \(i)")
            #expect(result.text == expected.text, "prompt \(i)")
            #expect(result.stopReason == expected.stopReason, "prompt \(i)")
            steps += result.steps
            tokens += result.tokens.count
            stops.insert(result.stopReason)
        }
        // The trained head must actually be accepted: well above one token per step.
        #expect(Double(tokens) / Double(steps) > 1.5, "τ = \(Double(tokens) / Double(steps))")
        #expect(stops.contains(.maxTokens))
    }

    /// The guarantee, on long runs: with batch-invariant kernels a token's logits do not
    /// depend on how many tokens shared its pass or on the tree mask, so greedy EAGLE equals
    /// plain greedy for every prompt and length, not only where no near-tie occurs. 20 prompts
    /// × 512 tokens (no EOS), per tree.
    @Test(arguments: [TreeConfig.cpuDefault, .dynamic(depth: 4, topK: 4, totalTokens: 16)])
    func greedyEqualsPlainOnLongRuns(tree: TreeConfig) throws {
        let plain = PlainGenerator(model: model, tokenizer: nil)
        let eagle = SpeculativeGenerator(model: model, head: head, tokenizer: nil, tree: tree)
        let params = GenerationParams(maxTokens: 512, ignoreEOS: true)
        var tokens = 0, steps = 0
        for (i, prompt) in prompts.prefix(20).enumerated() {
            let expected = try plain.generate(prompt: prompt, params: params) { _ in .proceed }
            let result = try eagle.generate(prompt: prompt, params: params) { _ in .proceed }
            #expect(expected.tokens.count == 512)
            let firstDifference = zip(result.tokens, expected.tokens).enumerated().first { $0.element.0 != $0.element.1 }?.offset
            #expect(result.tokens == expected.tokens, "prompt \(i): first difference at token \(firstDifference.map(String.init) ?? "end")")
            tokens += result.tokens.count
            steps += result.steps
        }
        #expect(Double(tokens) / Double(steps) > 1.5)
    }

    /// The guarantee holds within `bf16dot` too (its products round activations, but the same
    /// way whatever shares the pass): greedy EAGLE equals plain greedy in that dtype, 8
    /// prompts × 256 tokens.
    @Test func greedyEqualsPlainInBF16Dot() throws {
        let fixture = try BundledFixture(dtype: .bf16Dot)
        let plain = PlainGenerator(model: fixture.model, tokenizer: nil)
        let eagle = SpeculativeGenerator(model: fixture.model, head: fixture.head, tokenizer: nil,
                                         tree: .dynamic(depth: 4, topK: 4, totalTokens: 16))
        let params = GenerationParams(maxTokens: 256, ignoreEOS: true)
        for (i, prompt) in fixture.prompts.prefix(8).enumerated() {
            let expected = try plain.generate(prompt: prompt, params: params) { _ in .proceed }
            let result = try eagle.generate(prompt: prompt, params: params) { _ in .proceed }
            #expect(result.tokens == expected.tokens, "prompt \(i)")
            #expect(result.steps < expected.tokens.count * 2 / 3, "prompt \(i): the head is accepted")
        }
    }

    /// Seed-exact sampling: for a given (prompt, seed, sampling parameters) EAGLE emits
    /// exactly the tokens plain sampling emits, whatever the tree. 500 seeds per setting,
    /// trees taken in turn.
    @Test(arguments: [
        SamplingParams(temperature: 1),
        SamplingParams(temperature: 0.7, topK: 20),
        SamplingParams(temperature: 1.3, topP: 0.9),
    ])
    func sampledEqualsPlainForTheSameSeed(sampling: SamplingParams) throws {
        let plain = PlainGenerator(model: model, tokenizer: nil)
        let trees: [TreeConfig] = [.cpuDefault, .dynamic(depth: 4, topK: 4, totalTokens: 16), .staticTree(choices: TreeConfig.mcSim7b63)]
        let eagles = trees.map { SpeculativeGenerator(model: model, head: head, tokenizer: nil, tree: $0) }
        var differing = 0, tokens = 0, steps = 0
        for seed in 0..<500 {
            var params = GenerationParams(maxTokens: 12, sampling: sampling, ignoreEOS: true)
            params.sampling.seed = UInt64(seed) &* 0x9E37_79B9_7F4A_7C15 &+ 1
            let prompt = prompts[seed % prompts.count]
            let expected = try plain.generate(prompt: prompt, params: params) { _ in .proceed }
            let result = try eagles[seed % trees.count].generate(prompt: prompt, params: params) { _ in .proceed }
            if result.tokens != expected.tokens { differing += 1 }
            tokens += result.tokens.count
            steps += result.steps
        }
        #expect(differing == 0, "\(differing) of 500 seeds differ")
        // Drafts are still accepted: more than one token per target step on average.
        #expect(Double(tokens) / Double(steps) > 1.2, "τ = \(Double(tokens) / Double(steps))")
    }

    @Test func greedyStopsAtEOSAndStopStringsLikePlain() throws {
        // Ask for an EOS the model actually produces: the token that ends a continuation.
        let prompt = prompts[3]
        let free = try PlainGenerator(model: model, tokenizer: tokenizer)
            .generate(prompt: prompt, params: GenerationParams(maxTokens: 40, ignoreEOS: true)) { _ in .proceed }
        for params in [
            GenerationParams(maxTokens: 40, stopTokens: [free.tokens[23]]),
            GenerationParams(maxTokens: 40, stopStrings: [String(free.text.dropFirst(20).prefix(3))]),
        ] {
            let expected = try PlainGenerator(model: model, tokenizer: tokenizer).generate(prompt: prompt, params: params) { _ in .proceed }
            let result = try SpeculativeGenerator(model: model, head: head, tokenizer: tokenizer)
                .generate(prompt: prompt, params: params) { _ in .proceed }
            #expect(result.tokens == expected.tokens && result.text == expected.text)
            #expect(result.stopReason == expected.stopReason && expected.stopReason != .maxTokens)
        }
    }

    // MARK: - Sampling

    let sampling = SamplingParams(temperature: 1, topK: 12)

    /// Exact distribution of the second generated token: Σ over first tokens t of
    /// p(t | prompt) · p(· | prompt, t), each after temperature/top-k.
    func secondTokenMarginal(_ prompt: [TokenID]) throws -> [Double] {
        var sampler = Sampler(params: sampling, vocabularySize: model.config.vocabSize)
        func distribution(_ tokens: [TokenID]) throws -> [Float] {
            let out = try model.makeSession().prefill(tokens)
            var p = [Float](repeating: 0, count: model.config.vocabSize)
            p.withUnsafeMutableBufferPointer { sampler.distribution(out.logits(forToken: out.count - 1), into: $0) }
            return p
        }
        let first = try distribution(prompt)
        var marginal = [Double](repeating: 0, count: model.config.vocabSize)
        for (t, pt) in first.enumerated() where pt > 0 {
            for (x, px) in try distribution(prompt + [TokenID(t)]).enumerated() where px > 0 {
                marginal[x] += Double(pt) * Double(px)
            }
        }
        return marginal
    }

    /// χ² of second-token counts from `n` seeds against `marginal`; bins with an expected
    /// count under 5 are pooled. Returns the statistic and its 0.999 critical value.
    func secondTokenChiSquare(_ prompt: [TokenID], marginal: [Double], n: Int, rule: AcceptanceRule) throws -> (Double, Double) {
        var generator = SpeculativeGenerator(model: model, head: head, tokenizer: nil, tree: .dynamic(depth: 4, topK: 4, totalTokens: 10))
        generator.rule = rule
        var counts = [Int](repeating: 0, count: marginal.count)
        for seed in 0..<n {
            var params = GenerationParams(maxTokens: 2, sampling: sampling, ignoreEOS: true)
            params.sampling.seed = UInt64(seed) &* 0x9E37_79B9 &+ 1
            let result = try generator.generate(prompt: prompt, params: params) { _ in .proceed }
            counts[Int(result.tokens[1])] += 1
        }
        var chi2 = 0.0, bins = 0, pooledObserved = 0.0, pooledExpected = 0.0
        for (x, p) in marginal.enumerated() {
            let expected = p * Double(n)
            if expected >= 5 {
                chi2 += pow(Double(counts[x]) - expected, 2) / expected
                bins += 1
            } else {
                pooledObserved += Double(counts[x])
                pooledExpected += expected
            }
        }
        if pooledExpected > 0 {
            chi2 += pow(pooledObserved - pooledExpected, 2) / pooledExpected
            bins += 1
        }
        // Wilson–Hilferty approximation of the χ² quantile, z(0.999) = 3.09.
        let df = Double(bins - 1)
        let critical = df * pow(1 - 2 / (9 * df) + 3.09 * (2 / (9 * df)).squareRoot(), 3)
        return (chi2, critical)
    }

    @Test func sampledOutputFollowsTheTargetDistributionAndABrokenRuleIsCaught() throws {
        let prompt = tokenizer.encode("import os\nimport sys\n\ndef ")
        let marginal = try secondTokenMarginal(prompt)
        #expect(abs(marginal.reduce(0, +) - 1) < 1e-4)
        let (exact, critical) = try secondTokenChiSquare(prompt, marginal: marginal, n: 1500, rule: .exact)
        #expect(exact < critical, "χ² \(exact) vs critical \(critical)")
        let (broken, _) = try secondTokenChiSquare(prompt, marginal: marginal, n: 1500, rule: .noiseKeyedByNode)
        #expect(broken > critical, "a broken rule gave χ² \(broken) vs critical \(critical)")
    }
}
