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

    func run() throws {
        let directory = URL(fileURLWithPath: model)
        let target = try LlamaModel(directory: directory)
        let tokenizer = try Tokenizer.load(directory: directory)
        let head = try EagleHead(directory: URL(fileURLWithPath: draft), target: target)
        let texts = try JSONDecoder().decode([String].self, from: Data(contentsOf: URL(fileURLWithPath: prompts)))
        let encoded = (limit > 0 ? Array(texts.prefix(limit)) : texts).map { tokenizer.encode($0) }
        let params = GenerationParams(maxTokens: maxTokens, sampling: SamplingParams(temperature: temperature, seed: 1), ignoreEOS: true)
        print("eagle-bench eagle — \(model), OpenBLAS core \(BLASInfo.coreName); \(encoded.count) prompts × \(maxTokens) tokens, temperature \(temperature), median of \(repetitions)")
        print("head: \(head.weightsFile)")
        let plain = measure("plain", PlainGenerator(model: target, tokenizer: nil), encoded, params)
        plain.print(baseline: plain.tokensPerSecond)
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
                (2, 1, 3), (3, 1, 4), (4, 1, 5), (5, 1, 6), (6, 1, 7),
                (3, 2, 5), (4, 2, 6), (5, 2, 8), (6, 2, 8),
                (4, 4, 8), (5, 4, 10), (6, 4, 12), (8, 4, 16), (6, 8, 24), (8, 8, 32),
            ]
            for (depth, k, total) in shapes {
                configs.append(("sweep", .dynamic(depth: depth, topK: k, totalTokens: total)))
            }
        }
        for (name, tree) in configs {
            let generator = SpeculativeGenerator(model: target, head: head, tokenizer: nil, tree: tree)
            let label = name == "sweep" ? "EAGLE-2 \(describe(tree))" : name
            measure(label, generator, encoded, params).print(baseline: plain.tokensPerSecond)
        }
    }

    func describe(_ tree: TreeConfig) -> String {
        switch tree {
        case .dynamic(let depth, let k, let total): return "(depth \(depth), top_k \(k), total \(total))"
        case .staticTree(let choices): return "(static, \(choices.count) nodes)"
        }
    }

    struct Figures {
        var label: String
        var tokensPerSecond: Double
        var tau: Double
        var draftShare: Double
        var verifyShare: Double

        func print(baseline: Double) {
            Swift.print(String(format: "%-52@ %7.1f tok/s  speedup %5.2f×  τ %5.2f  draft %4.1f%%  verify %4.1f%%  other %4.1f%%",
                               label as NSString, tokensPerSecond, tokensPerSecond / baseline, tau,
                               100 * draftShare, 100 * verifyShare, 100 * max(0, 1 - draftShare - verifyShare)))
        }
    }

    /// Decode speed (prefill excluded) and per-step split, median over repetitions.
    func measure(_ label: String, _ generator: some TokenGenerator, _ prompts: [[TokenID]], _ params: GenerationParams) -> Figures {
        var rates: [Double] = [], taus: [Double] = [], draftShares: [Double] = [], verifyShares: [Double] = []
        for _ in 0..<repetitions {
            var tokens = 0, seconds = 0.0, draft = 0.0, verify = 0.0, verifySteps = 0, stepTokens = 0
            for prompt in prompts {
                var first = true
                guard let result = try? generator.generate(prompt: prompt, params: params, onEvent: { event in
                    // The first event is the token sampled from the prefill (its time is not
                    // decode time); τ counts the decoding steps after it.
                    defer { first = false }
                    if !first {
                        draft += event.stats.draftSeconds
                        verify += event.stats.verifySeconds
                        verifySteps += 1
                        stepTokens += event.stats.tokenCount
                    }
                    return .proceed
                }) else { continue }
                tokens += result.tokens.count
                seconds += result.decodeSeconds
            }
            rates.append(Double(tokens) / seconds)
            taus.append(verifySteps > 0 ? Double(stepTokens) / Double(verifySteps) : 0)
            draftShares.append(draft / seconds)
            verifyShares.append(verify / seconds)
        }
        return Figures(label: label, tokensPerSecond: median(rates), tau: median(taus),
                       draftShare: median(draftShares), verifyShare: median(verifyShares))
    }
}
