import Testing
@testable import Inference

/// `linear` picks GEMV, the skinny kernel or SGEMM by row count; all must agree with a
/// double-precision reference, including odd shapes, accumulation and the threaded split.
@Suite struct LinearKernelTests {
    func check(n: Int, outputs: Int, inputs: Int, accumulate: Bool) {
        var random = RandomSource(seed: UInt64(n * 1_000_003 + outputs * 7 + inputs))
        let x = (0..<n * inputs).map { _ in Float(random.nextUnit() - 0.5) }
        let w = (0..<outputs * inputs).map { _ in Float(random.nextUnit() - 0.5) }
        let start = (0..<n * outputs).map { _ in Float(random.nextUnit()) }
        var y = start
        y.withUnsafeMutableBufferPointer { out in
            linear(x, rows: n, inputs: inputs, weight: w, outputs: outputs, into: out.baseAddress!, accumulate: accumulate)
        }
        var worst = 0.0
        for i in 0..<n {
            for j in 0..<outputs {
                var s = accumulate ? Double(start[i * outputs + j]) : 0
                for k in 0..<inputs { s += Double(x[i * inputs + k]) * Double(w[j * inputs + k]) }
                worst = max(worst, abs(s - Double(y[i * outputs + j])))
            }
        }
        #expect(worst < 1e-3 * Double(inputs).squareRoot(), "n \(n) out \(outputs) in \(inputs) acc \(accumulate): \(worst)")
    }

    @Test(arguments: [1, 2, 3, 4, 5, 7, 8, 13, 32, 33, 40])
    func agreesWithReference(n: Int) {
        check(n: n, outputs: 37, inputs: 29, accumulate: false)
        check(n: n, outputs: 64, inputs: 256, accumulate: true)
    }

    @Test func largeWeightsSplitAcrossCores() {
        // outputs × inputs ≥ parallelThreshold, odd row count.
        check(n: 6, outputs: 1025, inputs: 264, accumulate: true)
        check(n: 3, outputs: 1023, inputs: 512, accumulate: false)
    }
}
