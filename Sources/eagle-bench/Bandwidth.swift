import Dispatch
import Foundation
import Inference

/// Measures how fast this machine streams memory: the ceiling for FP32 decoding, which
/// reads every weight once per token.
enum Bandwidth {
    /// Median GB/s of summing a 256 MiB buffer with `threads` threads.
    static func measure(threads: Int, megabytes: Int = 256, repetitions: Int = 7) -> Double {
        let count = megabytes * 1024 * 1024 / 4
        let buffer = FloatBuffer(count: count)
        for i in 0..<count { buffer[i] = Float(i & 7) }
        let chunk = count / threads
        let partials = FloatBuffer(count: threads * 16)
        let clock = ContinuousClock()
        var rates: [Double] = []
        for _ in 0..<repetitions {
            let start = clock.now
            DispatchQueue.concurrentPerform(iterations: threads) { t in
                let base = buffer.pointer + t * chunk
                // Eight independent accumulators so the sum is limited by memory, not latency.
                var a0: Float = 0, a1: Float = 0, a2: Float = 0, a3: Float = 0
                var a4: Float = 0, a5: Float = 0, a6: Float = 0, a7: Float = 0
                var i = 0
                while i + 8 <= chunk {
                    a0 += base[i]; a1 += base[i + 1]; a2 += base[i + 2]; a3 += base[i + 3]
                    a4 += base[i + 4]; a5 += base[i + 5]; a6 += base[i + 6]; a7 += base[i + 7]
                    i += 8
                }
                partials.pointer[t * 16] = a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7
            }
            let seconds = (clock.now - start).seconds
            rates.append(Double(chunk * threads * 4) / seconds / 1e9)
        }
        return median(rates)
    }
}

func median(_ values: [Double]) -> Double {
    let sorted = values.sorted()
    guard !sorted.isEmpty else { return 0 }
    return sorted.count % 2 == 1 ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
}
