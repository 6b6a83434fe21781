import ArgumentParser
import CKernels
import Foundation
import Inference

/// The drafter's per-node selection over a logits row — top k and log-softmax normalizer —
/// with the vectorized kernels next to the scalar loop they replaced, on the same rows.
struct SelectBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "select",
        abstract: "Top-k + log-partition of one logits row: kernels vs the scalar loop, per vocabulary size.")

    @Option(help: "Comma-separated vocabulary sizes.")
    var vocabularies = "4096,32000,128256"

    @Option(help: "Comma-separated k.")
    var ks = "1,10,64"

    @Option(help: "Repetitions (the median is reported).")
    var repetitions = 31

    func run() throws {
        print("eagle-bench select — \(KernelInfo.summary); rows of Gaussian-like logits (σ 3), 64 distinct rows per timing")
        print("vocab      k   kernels µs   scalar µs   speed-up   kernels ns/entry")
        for vocabulary in vocabularies.split(separator: ",").compactMap({ Int($0) }) {
            var random = RandomSource(seed: UInt64(vocabulary))
            let rows = (0..<64).map { _ in
                (0..<vocabulary).map { _ in
                    // Sum of 4 uniforms: roughly normal; σ ≈ 3.
                    (0..<4).reduce(Float(0)) { sum, _ in sum + Float(random.next() >> 40) / Float(1 << 24) - 0.5 } * 5.2
                }
            }
            for k in ks.split(separator: ",").compactMap({ Int($0) }) {
                var indices = [Int32](repeating: 0, count: k), values = [Float](repeating: 0, count: k)
                var sink: Float = 0
                let kernel = time(rows) { row in
                    _ = eagle_top_k(row.baseAddress, Int64(row.count), Int32(k), &indices, &values)
                    sink += eagle_log_sum_exp(row.baseAddress, Int64(row.count))
                }
                var scalar = ScalarTopK()
                let baseline = time(rows) { row in scalar.select(row, k: k) }
                precondition(scalar.tokens == indices.map { Int($0) }, "the kernel and the scalar loop disagree")
                print(String(format: "%6d  %3d   %10.2f  %10.2f   %7.1f×   %8.3f", vocabulary, k, kernel, baseline,
                             baseline / kernel, kernel * 1000 / Double(vocabulary)) + (sink.isNaN ? " NaN" : ""))
            }
        }
    }

    /// Median µs per row over `repetitions` passes over every row.
    func time(_ rows: [[Float]], _ body: (UnsafeBufferPointer<Float>) -> Void) -> Double {
        let clock = ContinuousClock()
        var samples: [Double] = []
        for _ in 0..<repetitions {
            let start = clock.now
            for row in rows { row.withUnsafeBufferPointer(body) }
            samples.append((clock.now - start).seconds * 1e6 / Double(rows.count))
        }
        return median(samples)
    }
}

/// The drafter's selection before the kernels (kept as the baseline): insertion into a
/// sorted list for every entry that beats the k-th, then Σ expf over the row.
struct ScalarTopK {
    var tokens: [Int] = [], logProbs: [Float] = []

    mutating func select(_ row: UnsafeBufferPointer<Float>, k: Int) {
        tokens.removeAll(keepingCapacity: true)
        logProbs.removeAll(keepingCapacity: true)
        var maxValue = -Float.infinity
        for j in 0..<row.count {
            let v = row[j]
            if v > maxValue { maxValue = v }
            if tokens.count == k && v <= logProbs[k - 1] { continue }
            var at = tokens.count
            while at > 0 && v > logProbs[at - 1] { at -= 1 }
            if tokens.count == k {
                tokens.removeLast()
                logProbs.removeLast()
            }
            tokens.insert(j, at: at)
            logProbs.insert(v, at: at)
        }
        var sum: Float = 0
        for j in 0..<row.count { sum += expf(row[j] - maxValue) }
        let logNormalizer = maxValue + logf(sum)
        for i in 0..<logProbs.count { logProbs[i] -= logNormalizer }
    }
}
