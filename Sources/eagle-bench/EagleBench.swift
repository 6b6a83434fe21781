import ArgumentParser
import Foundation
import Inference
import Tokenization

extension WeightDType: ExpressibleByArgument {}

/// Benchmarks that print figures (never timed tests).
@main
struct EagleBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eagle-bench",
        abstract: "Print speed figures for the inference core and for EAGLE.",
        subcommands: [CoreBench.self, SpeculativeBench.self, BatchBench.self, SelectBench.self],
        defaultSubcommand: CoreBench.self)
}

/// Prints prefill and decode speed of the inference core next to the machine's memory
/// bandwidth, so decode speed can be read as a fraction of its bandwidth bound.
struct CoreBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "core",
        abstract: "Prefill and plain decoding against the memory-bandwidth bound.")

    @Argument(help: "Model directories (HF safetensors checkpoints).")
    var models: [String]

    @Option(help: "Prompt tokens for the prefill measurement.")
    var promptTokens = 128

    @Option(help: "Tokens decoded per repetition.")
    var decodeTokens = 64

    @Option(help: "Repetitions per model (the median is reported).")
    var repetitions = 3

    @Option(help: "Context length of the session (KV cache rows).")
    var context = 1024

    @Option(help: "Weight dtype: bf16, f32 or bf16dot.")
    var dtype: WeightDType = .bf16

    func run() throws {
        print("eagle-bench — \(KernelInfo.summary), OpenBLAS core \(BLASInfo.coreName), \(ProcessInfo.processInfo.activeProcessorCount) CPUs, dtype \(dtype.rawValue)")
        // The bandwidth probe before and after (machines are shared), after the models so
        // its 256 MiB buffer does not set the peak RSS; the bound uses the median of both.
        let results = try models.map { try benchmark(URL(fileURLWithPath: $0)) }
        let probes = (0..<2).map { _ in (Bandwidth.measure(pooled: false), Bandwidth.measure(pooled: true)) }
        for (i, (bw1, bw2)) in probes.enumerated() {
            print(String(format: "memory read bandwidth (probe %d): %.1f GB/s (1 thread), %.1f GB/s (%d threads)", i + 1, bw1, bw2, KernelInfo.threads))
        }
        let bandwidth = probes.map { max($0.0, $0.1) }.max()!
        for report in results { report(bandwidth) }
    }

    /// Runs the measurements; returns a printer that needs the bandwidth figure.
    func benchmark(_ directory: URL) throws -> (Double) -> Void {
        let clock = ContinuousClock()
        let rssBefore = MemoryStats.residentBytes
        let loadStart = clock.now
        let model = try LlamaModel(directory: directory, contextLength: context, dtype: dtype)
        let loadSeconds = (clock.now - loadStart).seconds
        let c = model.config
        let weightBytes = model.weights.byteCount
        // Per decoded token the forward pass streams every layer, the final norm and the
        // lm_head; of the embedding table it reads one row.
        let embeddingBytes = c.tieWordEmbeddings ? 0 : c.vocabSize * c.hiddenSize * dtype.byteSize
        let bytesPerToken = weightBytes - embeddingBytes
        let generator = PlainGenerator(model: model, tokenizer: nil, maxBatch: 128)
        var random = RandomSource(seed: 1)
        let prompt = (0..<promptTokens).map { _ in TokenID(random.next() % UInt64(c.vocabSize)) }
        let params = GenerationParams(maxTokens: decodeTokens, ignoreEOS: true)

        var prefillRates: [Double] = [], decodeRates: [Double] = []
        var kvBytes = 0
        for _ in 0..<repetitions {
            let result = try generator.generate(prompt: prompt, params: params) { _ in .proceed }
            prefillRates.append(Double(prompt.count) / result.prefillSeconds)
            // The first token comes from the prefill; the rest from single-token steps.
            decodeRates.append(Double(result.tokens.count - 1) / result.decodeSeconds)
            kvBytes = model.makeSession(maxBatch: 1).cache.byteCount
        }
        let decode = median(decodeRates), prefill = median(prefillRates)
        let peak = MemoryStats.peakResidentBytes
        let (promptCount, decodeCount, reps, contextRows) = (prompt.count, decodeTokens, repetitions, context)
        return { bandwidth in
        let bound = bandwidth * 1e9 / Double(bytesPerToken)
        print("")
        print("model: \(directory.path)")
        print(String(format: "  %d layers, hidden %d, heads %d/%d, vocab %d: %.1fM parameters, %.1f MB %@ weights (%.1f MB in place from the checkpoint's map), loaded in %.2f s",
                     c.layerCount, c.hiddenSize, c.headCount, c.kvHeadCount, c.vocabSize,
                     Double(c.parameterCount) / 1e6, Double(weightBytes) / 1e6, model.dtype.rawValue,
                     Double(model.weights.store.mappedBytes) / 1e6, loadSeconds))
        print(String(format: "  prefill (%d tokens): %.1f tok/s (median of %d)", promptCount, prefill, reps))
        print(String(format: "  decode  (%d tokens): %.2f tok/s (median of %d)", decodeCount, decode, reps))
        print(String(format: "  bandwidth bound: %.2f tok/s (%.1f GB/s ÷ %.1f MB read per token) → decode at %.2f of the bound",
                     bound, bandwidth, Double(bytesPerToken) / 1e6, decode / bound))
        print(String(format: "  peak RSS %.1f MB, %.1f MB above the process before loading; weights + one KV cache (%d rows) %.1f MB → ratio %.3f",
                     Double(peak) / 1e6, Double(peak - rssBefore) / 1e6, contextRows, Double(weightBytes + kvBytes) / 1e6,
                     Double(peak - rssBefore) / Double(weightBytes + kvBytes)))
        }
    }
}
