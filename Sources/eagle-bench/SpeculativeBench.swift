import ArgumentParser
import Foundation
import Inference
import Speculative
import Tokenization

/// Plain decoding vs EAGLE on the same prompts, in one run: tokens per target step (τ),
/// tokens/s, speedup, and where a step's time goes. Sweeps tree shapes so CPU defaults
/// can be chosen from data.
struct SpeculativeBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eagle",
        abstract: "Plain greedy vs EAGLE-1 static vs EAGLE-2 dynamic trees on held-out prompts.")

    @Option(help: "Target model directory.")
    var model = "Models/tiny-pystd"

    @Option(help: "EAGLE head directory.")
    var draft = "Models/tiny-pystd-eagle"

    @Option(help: "JSON file with an array of prompt strings (held-out text).")
    var prompts = "Tests/Golden/bench-prompts.json"

    @Option(help: "Tokens generated per prompt.")
    var maxTokens = 128

    @Option(help: "Sampling temperature (0 = greedy).")
    var temperature: Float = 0

    @Option(help: "Repetitions (median reported).")
    var repetitions = 3

    @Flag(help: "Sweep dynamic tree sizes and depths.")
    var sweep = false

    @Option(help: "Use only the first N prompts (0 = all).")
    var limit = 0

    @Option(help: "Steps between the automatic choice's re-choices within a request (0: once per request).")
    var rechooseEvery = TreeSchedule.defaultSteps

    @Option(help: "Weight dtype of target and head: bf16, f32 or bf16dot.")
    var dtype: WeightDType = .bf16

    func run() throws {
        let directory = URL(fileURLWithPath: model)
        let target = try LlamaModel(directory: directory, dtype: dtype)
        let tokenizer = try Tokenizer.load(directory: directory)
        let head = try EagleHead(directory: URL(fileURLWithPath: draft), target: target)
        let texts = try JSONDecoder().decode([String].self, from: Data(contentsOf: URL(fileURLWithPath: prompts)))
        let encoded = (limit > 0 ? Array(texts.prefix(limit)) : texts).map { tokenizer.encode($0) }
        let params = GenerationParams(maxTokens: maxTokens, sampling: SamplingParams(temperature: temperature, seed: 1), ignoreEOS: true)
        print("eagle-bench eagle — \(model), \(dtype.rawValue), \(KernelInfo.summary); \(encoded.count) prompts × \(maxTokens) tokens, temperature \(temperature), median of \(repetitions)")
        print("head: \(head.weightsFile)")
        if temperature > 0 { printNoiseCost(vocabularySize: target.config.vocabSize) }
        var configs: [(String, TreeConfig)] = [
            ("EAGLE-1 static mc_sim_7b_63", .staticTree(choices: TreeConfig.mcSim7b63)),
            ("EAGLE-2 default \(describe(.cpuDefault))", .cpuDefault),
            ("EAGLE-2 GPU default (6, 10, 60)", .dynamic(depth: 6, topK: 10, totalTokens: 60)),
            ("EAGLE-2 chain (5, 1, 6)", .dynamic(depth: 5, topK: 1, totalTokens: 6)),
            ("EAGLE-2 (4, 2, 6)", .dynamic(depth: 4, topK: 2, totalTokens: 6)),
        ]
        if sweep {
            // Small trees: on a CPU a verified token is not free (see `eagle-bench batch`).
            let shapes: [(Int, Int, Int)] = [
                (2, 1, 3), (3, 1, 4), (4, 1, 5), (6, 1, 7),
                (3, 2, 5), (5, 2, 8), (6, 2, 8),
                (4, 4, 8), (5, 4, 10), (6, 4, 12), (8, 4, 16), (6, 8, 24), (8, 8, 32),
            ]
            for (depth, k, total) in shapes {
                configs.append(("EAGLE-2 \(describe(.dynamic(depth: depth, topK: k, totalTokens: total)))",
                                .dynamic(depth: depth, topK: k, totalTokens: total)))
            }
        }
        // The daemon's automatic choice, calibrated as eagled calibrates at load; it learns
        // from its own requests as the runs go (its first requests follow the prior).
        let costs = try PassCosts.measure(model: target, head: head)
        print("calibration: \(costs.summary)")
        let policy = TreePolicy(costs: costs)
        let chosen = ChoiceTally()
        var auto = AutoGenerator(model: target, head: head, tokenizer: nil, policy: policy)
        auto.onSegments = { chosen.add($0) }
        auto.rechooseEvery = rechooseEvery
        // Plain and every tree run back to back on each prompt, so a noisy neighbour
        // slows them alike; speedups are medians of per-repetition ratios.
        let generators: [(String, any TokenGenerator)] = [("plain", PlainGenerator(model: target, tokenizer: nil))]
            + configs.map { ($0.0, SpeculativeGenerator(model: target, head: head, tokenizer: nil, tree: $0.1)) }
            + [("plain again (control: the noise floor)", PlainGenerator(model: target, tokenizer: nil)),
               ("automatic (cost-aware choice)", auto)]
        var runs = [[Run]](repeating: [], count: generators.count)
        var warmUp = params
        warmUp.maxTokens = 4
        for _ in 0..<repetitions {
            var totals = [Run](repeating: Run(), count: generators.count)
            for (p, prompt) in encoded.enumerated() {
                // Each prompt starts the round at another generator, so no generator always
                // runs right after the same one (a large tree leaves the caches colder).
                for step in generators.indices {
                    let g = (p + step) % generators.count
                    // Untimed warm-up: the generator before left the caches holding its own
                    // working set (on an in-cache model a large tree's head and buffers evict
                    // part of the target's weights), and whoever runs next would pay for it.
                    _ = measureOne(generators[g].1, prompt, warmUp)
                    totals[g].add(measureOne(generators[g].1, prompt, params))
                }
            }
            for g in generators.indices { runs[g].append(totals[g]) }
        }
        for (g, generator) in generators.enumerated() {
            let rates = runs[g].map(\.tokensPerSecond)
            let speedups = zip(runs[g], runs[0]).map { $0.tokensPerSecond / $1.tokensPerSecond }
            print(String(format: "%-52@ %8.1f tok/s  speedup %5.2f×  τ %5.2f  draft %4.1f%%  verify %4.1f%%  other %4.1f%%",
                         generator.0 as NSString, median(rates), median(speedups), median(runs[g].map(\.tau)),
                         100 * median(runs[g].map(\.draftShare)), 100 * median(runs[g].map(\.verifyShare)),
                         100 * median(runs[g].map { max(0, 1 - $0.draftShare - $0.verifyShare) })))
        }
        // The fixed trees (not the plain control, not the automatic choice).
        let fixed = (1..<(generators.count - 2)).map { g in median(zip(runs[g], runs[0]).map { $0.tokensPerSecond / $1.tokensPerSecond }) }
        let best = max(1, fixed.max() ?? 1)  // plain is a choice too
        let autoSpeedup = median(zip(runs[generators.count - 1], runs[0]).map { $0.tokensPerSecond / $1.tokensPerSecond })
        let control = median(zip(runs[generators.count - 2], runs[0]).map { $0.tokensPerSecond / $1.tokensPerSecond })
        print(String(format: "automatic: %.2f× plain (the same plain generator again: %.2f×), %.1f%% of the best fixed choice (%.2f×); decoded with (steps, re-chosen every %d): %@",
                     autoSpeedup, control, 100 * autoSpeedup / best, best, auto.rechooseEvery, chosen.summary))
        print("automatic now: \(policy.choose(sampled: temperature > 0).reason)")
    }

    func describe(_ tree: TreeConfig) -> String {
        switch tree {
        case .dynamic(let depth, let k, let total): return "(depth \(depth), top_k \(k), total \(total))"
        case .staticTree(let choices): return "(static, \(choices.count) nodes)"
        }
    }

    /// Steps the automatic generator decoded each way (its requests' segments).
    final class ChoiceTally: @unchecked Sendable {
        private var counts: [String: Int] = [:]
        private var order: [String] = []

        func add(_ segments: [TreeSchedule.Segment]) {
            for segment in segments {
                let name = segment.tree.map { TreePolicy.describe($0) } ?? "plain"
                if counts[name] == nil { order.append(name) }
                counts[name, default: 0] += segment.steps
            }
        }

        var summary: String { order.map { "\($0) \(counts[$0]!)" }.joined(separator: ", ") }
    }

    /// Decode-phase totals over prompts (prefill excluded).
    struct Run {
        var tokens = 0, seconds = 0.0, draft = 0.0, verify = 0.0, steps = 0, stepTokens = 0

        mutating func add(_ other: Run) {
            tokens += other.tokens; seconds += other.seconds; draft += other.draft
            verify += other.verify; steps += other.steps; stepTokens += other.stepTokens
        }

        var tokensPerSecond: Double { seconds > 0 ? Double(tokens) / seconds : 0 }
        var tau: Double { steps > 0 ? Double(stepTokens) / Double(steps) : 0 }
        var draftShare: Double { seconds > 0 ? draft / seconds : 0 }
        var verifyShare: Double { seconds > 0 ? verify / seconds : 0 }
    }

    func measureOne(_ generator: any TokenGenerator, _ prompt: [TokenID], _ params: GenerationParams) -> Run {
        var run = Run()
        var first = true
        guard let result = try? generator.generate(prompt: prompt, params: params, onEvent: { event in
            // The first event is the token sampled from the prefill (its time is not
            // decode time); τ counts the decoding steps after it.
            defer { first = false }
            if !first {
                run.draft += event.stats.draftSeconds
                run.verify += event.stats.verifySeconds
                run.steps += 1
                run.stepTokens += event.stats.tokenCount
            }
            return .proceed
        }) else { return run }
        run.tokens = result.tokens.count - 1
        run.seconds = result.decodeSeconds
        return run
    }
}

/// The cost of seed-exact sampling's noise: one position-keyed exponential race over the
/// whole vocabulary (what a sampled token costs on top of the distribution itself).
func printNoiseCost(vocabularySize v: Int) {
    let sampler = Sampler(params: SamplingParams(temperature: 1, seed: 1), vocabularySize: v)
    let p = [Float](repeating: 1 / Float(v), count: v)
    let clock = ContinuousClock()
    let rounds = 2000
    var sink = 0
    let start = clock.now
    p.withUnsafeBufferPointer { probs in
        for t in 0..<rounds { sink &+= Int(sampler.choose(from: probs, position: t)) }
    }
    let perPosition = (clock.now - start).seconds / Double(rounds)
    print(String(format: "noise: %.1f µs per sampled position (vocabulary %d, all tokens live)%@", perPosition * 1e6, v, sink < 0 ? "!" : ""))
}
