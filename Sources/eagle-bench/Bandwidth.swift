import CKernels
import Dispatch
import Foundation
import Inference

/// Measures how fast this machine streams memory: the ceiling for decoding, which reads
/// every weight once per token. The reads run on the kernels' own worker pool (all its
/// threads) or on the calling thread alone, with vectorized loads, so the figure is what the
/// engine's threads can stream.
enum Bandwidth {
    /// Median GB/s of reading a 256 MiB buffer, on every pool thread (`pooled`) or one.
    static func measure(pooled: Bool, megabytes: Int = 256, repetitions: Int = 7) -> Double {
        let bytes = megabytes * 1024 * 1024
        let buffer = FloatBuffer(count: bytes / 4)
        for i in 0..<bytes / 4 { buffer[i] = Float(i & 7) }
        let clock = ContinuousClock()
        var rates: [Double] = []
        var checksum: UInt64 = 0
        for _ in 0..<repetitions {
            let start = clock.now
            checksum ^= eagle_read_memory(buffer.pointer, Int64(bytes), pooled ? 1 : 0)
            rates.append(Double(bytes) / (clock.now - start).seconds / 1e9)
        }
        if checksum == 0x5EED { print("", terminator: "") }  // keeps the reads observable
        return median(rates)
    }
}

func median(_ values: [Double]) -> Double {
    let sorted = values.sorted()
    guard !sorted.isEmpty else { return 0 }
    return sorted.count % 2 == 1 ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
}
