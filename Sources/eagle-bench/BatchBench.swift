import ArgumentParser
import Foundation
import Inference
import Tokenization

/// Cost of one target forward pass as a function of the tokens it carries: the number
/// that decides how big a draft tree a CPU can afford to verify.
struct BatchBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "batch",
        abstract: "Time of one forward pass of n tokens (on a 256-token context), relative to n = 1.")

    @Argument(help: "Model directory.")
    var model: String

    @Option(help: "Comma-separated batch sizes.")
    var sizes = "1,2,3,4,6,8,12,16,24,32,48,64"

    @Option(help: "Repetitions per size (median reported).")
    var repetitions = 15

    @Option(help: "Weight dtype: bf16, f32 or bf16dot.")
    var dtype: WeightDType = .bf16

    func run() throws {
        let loaded = try LlamaModel(directory: URL(fileURLWithPath: model), contextLength: 1024, dtype: dtype)
        let session = loaded.makeSession(maxBatch: 64)
        var random = RandomSource(seed: 3)
        let context = (0..<256).map { _ in TokenID(random.next() % UInt64(loaded.config.vocabSize)) }
        _ = try session.prefill(context)
        print("eagle-bench batch — \(model), \(dtype.rawValue), \(KernelInfo.summary), context 256, median of \(repetitions)")
        let clock = ContinuousClock()
        // Sizes interleaved within each repetition, so a noisy neighbour (these machines are
        // shared, and their memory bandwidth wanders by 20 % within minutes) slows all alike.
        let counts = sizes.split(separator: ",").compactMap { Int($0) }.filter { (1...64).contains($0) }
        var times = [[Double]](repeating: [], count: counts.count)
        for _ in 0..<repetitions {
            for (i, n) in counts.enumerated() {
                let tokens = Array(context.prefix(n))
                let start = clock.now
                _ = try session.forward(tokens, logits: .all)
                times[i].append((clock.now - start).seconds)
                session.truncate(to: context.count)
            }
        }
        let base = counts.firstIndex(of: 1).map { median(times[$0]) } ?? 0
        for (i, n) in counts.enumerated() {
            let t = median(times[i])
            let gflops = 2 * Double(loaded.config.parameterCount) * Double(n) / t / 1e9
            print(String(format: "n = %2d: %8.3f ms  (%.2f× n=1, %.3f ms per token, %.1f GFLOP/s)", n, t * 1e3, base > 0 ? t / base : 1, t * 1e3 / Double(n), gflops))
        }
    }
}
