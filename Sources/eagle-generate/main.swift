import ArgumentParser
import Foundation
import Inference
import Speculative
import Tokenization

/// One-shot generation in-process: load a model (and optionally its EAGLE head), generate,
/// stream the text to stdout and print statistics to stderr.
@main
struct EagleGenerate: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eagle-generate",
        abstract: "Generate text from a Hugging Face LLaMA-family checkpoint, plain or with EAGLE.")

    @Option(help: "Model directory (config.json, safetensors, tokenizer.json).")
    var model: String

    @Option(help: "EAGLE draft head directory; enables speculative decoding.")
    var draft: String?

    @Option(help: "Prompt text (BOS added).")
    var prompt: String

    @Flag(help: "Wrap the prompt as one user message in the model's chat template.")
    var chat = false

    @Option(help: "Maximum new tokens.")
    var maxTokens = 128

    @Option(help: "Sampling temperature (0 = greedy).")
    var temperature: Float = 0

    @Option(help: "Top-k (0 = off).")
    var topK = 0

    @Option(help: "Top-p (1 = off).")
    var topP: Float = 1

    @Option(help: "Random seed.")
    var seed: UInt64 = 0

    @Option(help: "Weight dtype: bf16 (default; in place from a BF16 checkpoint), f32, or bf16dot (activations rounded to BF16; fast on AVX-512 BF16).")
    var dtype: WeightDType = .bf16

    @Option(help: "Stop string (repeatable).")
    var stop: [String] = []

    @Option(help: "EAGLE tree: 'static' (mc_sim_7b_63) or 'dynamic:DEPTH:TOPK:TOTAL'.")
    var tree = "default"

    func run() throws {
        let directory = URL(fileURLWithPath: model)
        let loaded = try LlamaModel(directory: directory, dtype: dtype)
        let tokenizer = try Tokenizer.load(directory: directory)
        var text = prompt
        if chat { text = try tokenizer.applyChatTemplate([ChatMessage(role: "user", content: prompt)], addGenerationPrompt: true) }
        // As transformers' apply_chat_template(tokenize=True): the template writes any BOS itself.
        let ids = tokenizer.encode(text, addSpecialTokens: !chat)
        let params = GenerationParams(maxTokens: maxTokens,
                                      sampling: SamplingParams(temperature: temperature, topK: topK, topP: topP, seed: seed),
                                      stopStrings: stop)
        let generator: any TokenGenerator
        if let draft {
            let head = try EagleHead(directory: URL(fileURLWithPath: draft), target: loaded)
            generator = SpeculativeGenerator(model: loaded, head: head, tokenizer: tokenizer, tree: try parseTree(tree))
        } else {
            generator = PlainGenerator(model: loaded, tokenizer: tokenizer)
        }
        FileHandle.standardOutput.write(Data(prompt.utf8))
        let result = try generator.generate(prompt: ids, params: params) { event in
            FileHandle.standardOutput.write(Data(event.text.utf8))
            return .proceed
        }
        print("")
        let stats = String(format: "[%d prompt tokens, %d generated, stop: %@; prefill %.3f s, decode %.1f tok/s, %.2f tokens/step; %@ weights, %@]",
                           result.promptTokenCount, result.tokens.count, result.stopReason.rawValue, result.prefillSeconds,
                           result.decodeTokensPerSecond, result.meanTokensPerStep, loaded.dtype.rawValue, KernelInfo.summary)
        FileHandle.standardError.write(Data((stats + "\n").utf8))
    }

    func parseTree(_ value: String) throws -> TreeConfig {
        if value == "default" { return .cpuDefault }
        if value == "static" { return .staticTree(choices: TreeConfig.mcSim7b63) }
        let parts = value.split(separator: ":")
        guard parts.count == 4, parts[0] == "dynamic", let depth = Int(parts[1]), let k = Int(parts[2]), let total = Int(parts[3]) else {
            throw ValidationError("--tree must be 'default', 'static' or 'dynamic:DEPTH:TOPK:TOTAL'")
        }
        return .dynamic(depth: depth, topK: k, totalTokens: total)
    }
}

extension WeightDType: ExpressibleByArgument {}
