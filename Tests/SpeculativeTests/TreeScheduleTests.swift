import Foundation
import Testing
@testable import Speculative
import Inference
import Tokenization

/// Re-choosing the decoding inside a request (`TreeSchedule`): whatever the schedule does —
/// switch trees, fall back to plain decoding, come back — the output is plain decoding's,
/// token for token, greedy and sampled with the same seed; and the segments account for
/// every step.
@Suite struct TreeScheduleTests {
    let fixture: BundledFixture
    init() throws { fixture = try BundledFixture() }

    /// A schedule cycling through `plan` (nil: plain decoding) every `every` steps.
    static func cycling(_ plan: [TreeConfig?], every: Int) -> TreeSchedule {
        TreeSchedule(everySteps: every) { _, closed in plan[closed % plan.count] }
    }

    /// After the n-th segment: plan[n % 6] (the first segment uses the generator's tree).
    static let plan: [TreeConfig?] = [.cpuDefault, nil, .dynamic(depth: 4, topK: 4, totalTokens: 16), nil,
                                      .staticTree(choices: TreeConfig.mcSim7b63), .dynamic(depth: 3, topK: 2, totalTokens: 6)]

    func generate(_ schedule: TreeSchedule?, prompt: [TokenID], params: GenerationParams) throws -> GenerationResult {
        var eagle = SpeculativeGenerator(model: fixture.model, head: fixture.head, tokenizer: nil, tree: .cpuDefault)
        eagle.schedule = schedule
        return try eagle.generate(prompt: prompt, params: params) { _ in .proceed }
    }

    @Test(arguments: [3, 70])  // 70 steps of plain decoding fill the head's 64-pair backlog
    func greedyEqualsPlainAcrossSwitches(every: Int) throws {
        let plain = PlainGenerator(model: fixture.model, tokenizer: nil)
        let params = GenerationParams(maxTokens: every == 3 ? 160 : 400, ignoreEOS: true)
        for (i, prompt) in fixture.prompts.prefix(every == 3 ? 6 : 3).enumerated() {
            let schedule = Self.cycling(Self.plan, every: every)
            let expected = try plain.generate(prompt: prompt, params: params) { _ in .proceed }
            let result = try generate(schedule, prompt: prompt, params: params)
            #expect(result.tokens == expected.tokens, "prompt \(i)")
            let segments = schedule.segments
            #expect(segments.reduce(0) { $0 + $1.steps } == result.steps - 1, "prompt \(i): every step is in a segment")
            #expect(segments.reduce(0) { $0 + $1.tokens } == result.tokens.count - 1, "prompt \(i): every token after the first")
            #expect(segments.count >= 3, "prompt \(i): the schedule switched")
            for (n, s) in segments.enumerated() {
                #expect(s.tree == (n == 0 ? .cpuDefault : Self.plan[n % Self.plan.count]), "prompt \(i) segment \(n)")
                if s.tree == nil { #expect(s.tokens == s.steps, "plain decoding emits one token per step") }
            }
            // After plain stretches the head drafts again, and is accepted.
            let drafted = segments.filter { $0.tree != nil && $0.steps > 0 }
            #expect(drafted.dropFirst().contains { $0.tokens > $0.steps }, "prompt \(i): drafting resumed")
        }
    }

    @Test func sampledIsSeedExactAcrossSwitches() throws {
        let plain = PlainGenerator(model: fixture.model, tokenizer: nil)
        for seed in 0..<40 {
            var params = GenerationParams(maxTokens: 48, sampling: SamplingParams(temperature: 0.9, topK: 40), ignoreEOS: true)
            params.sampling.seed = UInt64(seed) &* 0x9E37_79B9_7F4A_7C15 &+ 7
            let prompt = fixture.prompts[seed % fixture.prompts.count]
            let expected = try plain.generate(prompt: prompt, params: params) { _ in .proceed }
            let result = try generate(Self.cycling(Self.plan, every: 2 + seed % 3), prompt: prompt, params: params)
            #expect(result.tokens == expected.tokens, "seed \(seed)")
        }
    }

    @Test func summaryMergesRunsAndPolicyLearnsFromSegments() throws {
        let schedule = Self.cycling([.cpuDefault, nil, nil], every: 4)
        let params = GenerationParams(maxTokens: 120, ignoreEOS: true)
        _ = try generate(schedule, prompt: fixture.prompts[0], params: params)
        let summary = schedule.summary
        #expect(summary.hasPrefix("dynamic depth=2 top_k=1 total=3 (4 steps), then plain (8 steps), then dynamic"), "\(summary)")
        let policy = TreePolicy(costs: try PassCosts.measure(model: fixture.model, head: fixture.head))
        let result = GenerationResult(tokens: [], text: "", stopReason: .maxTokens, promptTokenCount: 1, steps: 0,
                                      prefillSeconds: 0, decodeSeconds: 0)
        policy.record(result, tree: .cpuDefault, schedule: schedule, sampled: false)
        let plainTokens = schedule.segments.filter { $0.tree == nil }.reduce(0) { $0 + $1.tokens }
        #expect(policy.statistics(sampled: false).plain[0].tokens == plainTokens)
    }
}
