import CKernels
import Testing
@testable import Inference

/// Random weights in both dtypes, kept alive for the WeightMatrix views.
final class TestMatrix {
    let f32: [Float]
    let bf16: [UInt16]
    let outputs: Int, inputs: Int
    /// Output rows of each block (the matrix is split into blocks stored apart, as q/k/v).
    let split: [Int]

    init(outputs: Int, inputs: Int, split: [Int]? = nil, seed: UInt64) {
        var random = RandomSource(seed: seed)
        var w = (0..<outputs * inputs).map { _ in Float(random.nextUnit() - 0.5) }
        var half = [UInt16](repeating: 0, count: w.count)
        eagle_f32_to_bf16(w, &half, Int64(w.count))
        eagle_bf16_to_f32(half, &w, Int64(w.count))   // same values in both dtypes
        f32 = w
        bf16 = half
        self.outputs = outputs
        self.inputs = inputs
        self.split = split ?? [outputs]
    }

    func withMatrix<R>(_ dtype: WeightDType, _ body: (WeightMatrix) -> R) -> R {
        func blocks(_ base: UnsafeRawPointer, _ size: Int) -> [(data: UnsafeRawPointer, rows: Int)] {
            var at = 0
            return split.map { rows in
                defer { at += rows }
                return (base + at * inputs * size, rows)
            }
        }
        switch dtype {
        case .f32:
            return f32.withUnsafeBytes { body(WeightMatrix(blocks: blocks($0.baseAddress!, 4), inputs: inputs, dtype: .f32)) }
        case .bf16, .bf16Dot:
            return bf16.withUnsafeBytes { body(WeightMatrix(blocks: blocks($0.baseAddress!, 2), inputs: inputs, dtype: dtype)) }
        }
    }
}

func randomRows(_ n: Int, _ width: Int, seed: UInt64) -> [Float] {
    var random = RandomSource(seed: seed)
    return (0..<n * width).map { _ in Float(random.nextUnit() * 2 - 1) }
}

/// The values rounded to BF16 (what `bf16dot` multiplies).
func roundedToBF16(_ x: [Float]) -> [Float] {
    var half = [UInt16](repeating: 0, count: x.count), back = [Float](repeating: 0, count: x.count)
    eagle_f32_to_bf16(x, &half, Int64(x.count))
    eagle_bf16_to_f32(half, &back, Int64(x.count))
    return back
}

/// Runs the kernel on one thread over all outputs with instruction set `isa`.
func linearOnThread(_ m: WeightMatrix, _ x: [Float], rows n: Int, start: [Float]?, isa: Int32) -> [Float] {
    var y = start ?? [Float](repeating: 0, count: n * m.outputs)
    withUnsafePointer(to: m.descriptor) { w in
        eagle_linear_range(w, x, Int32(n), &y, Int32(m.outputs), start == nil ? 0 : 1, 0, Int32(m.outputs), isa)
    }
    return y
}

/// The engine's linear kernel: correct against a double-precision reference, and batch
/// invariant — a row's result is bit-identical alone, in any pass size, on any thread split
/// and on every instruction set the CPU has.
@Suite struct LinearKernelTests {
    static let isas: [Int32] = (Int32(EAGLE_ISA_C.rawValue)...eagle_isa_best()).map { $0 }

    @Test(arguments: [1, 2, 3, 4, 5, 7, 8, 13, 33, 64])
    func agreesWithReference(n: Int) {
        for (outputs, inputs, split) in [(37, 29, [37]), (64, 256, [40, 8, 16]), (21, 300, [5, 16])] {
            let m = TestMatrix(outputs: outputs, inputs: inputs, split: split, seed: UInt64(n * 31 + inputs))
            let x = randomRows(n, inputs, seed: UInt64(n))
            let start = randomRows(n, outputs, seed: 99)
            for dtype in WeightDType.allCases {
                // bf16dot multiplies the activations rounded to BF16; everything else is exact.
                let multiplied = dtype == .bf16Dot ? roundedToBF16(x) : x
                for accumulate in [false, true] {
                    var y = accumulate ? start : [Float](repeating: 0, count: n * outputs)
                    m.withMatrix(dtype) { linear(x, rows: n, weight: $0, into: &y, accumulate: accumulate) }
                    var worst = 0.0
                    for i in 0..<n {
                        for o in 0..<outputs {
                            var s = accumulate ? Double(start[i * outputs + o]) : 0
                            for k in 0..<inputs { s += Double(multiplied[i * inputs + k]) * Double(m.f32[o * inputs + k]) }
                            worst = max(worst, abs(s - Double(y[i * outputs + o])))
                        }
                    }
                    #expect(worst < 1e-5 * Double(inputs), "n \(n) \(outputs)×\(inputs) \(dtype) acc \(accumulate): \(worst)")
                }
            }
        }
    }

    /// Row i of a 64-row pass equals the same row computed alone and in every smaller pass,
    /// bit for bit, on every instruction set, and the instruction sets agree with each other.
    @Test(arguments: WeightDType.allCases)
    func rowsAreIndependentOfThePass(dtype: WeightDType) {
        let inputs = 264, outputs = 45   // K with a tail past the 16-lane blocks, odd output count
        let m = TestMatrix(outputs: outputs, inputs: inputs, split: [20, 25], seed: 7)
        let x = randomRows(64, inputs, seed: 8)
        m.withMatrix(dtype) { w in
            let reference = linearOnThread(w, x, rows: 64, start: nil, isa: Int32(EAGLE_ISA_C.rawValue))
            for isa in Self.isas {
                #expect(linearOnThread(w, x, rows: 64, start: nil, isa: isa) == reference, "isa \(isa) differs from C")
                for n in [1, 2, 3, 4, 5, 6, 8, 11, 16, 31] {
                    for first in stride(from: 0, to: 64 - n + 1, by: max(1, 64 / 5)) {
                        let y = linearOnThread(w, Array(x[first * inputs..<(first + n) * inputs]), rows: n, start: nil, isa: isa)
                        #expect(y == Array(reference[first * outputs..<(first + n) * outputs]),
                                "isa \(isa): rows \(first)..<\(first + n) in a pass of \(n) differ from the 64-row pass")
                    }
                }
            }
        }
    }

    /// The pooled kernel (outputs split across threads in tasks) equals one thread.
    @Test(arguments: WeightDType.allCases)
    func threadSplitDoesNotChangeResults(dtype: WeightDType) {
        let m = TestMatrix(outputs: 1031, inputs: 512, split: [512, 256, 263], seed: 11)
        for n in [1, 3, 8, 64] {
            let x = randomRows(n, 512, seed: UInt64(n))
            let start = randomRows(n, 1031, seed: 5)
            m.withMatrix(dtype) { w in
                var pooled = start
                linear(x, rows: n, weight: w, into: &pooled, accumulate: true)
                #expect(pooled == linearOnThread(w, x, rows: n, start: start, isa: eagle_isa_current()), "n \(n)")
            }
        }
    }

    /// bf16dot reproduces vdpbf16ps's handling of subnormals on every path: BF16 inputs below
    /// the normal range read as zero, and products or sums below it are flushed to zero.
    @Test func bf16DotFlushesSubnormalsOnEveryPath() {
        let inputs = 32, outputs = 3
        func bf16(_ v: Float) -> UInt16 { UInt16(v.bitPattern >> 16) }   // exact for these values
        var w = [UInt16](repeating: 0, count: inputs * outputs)
        var x = [Float](repeating: 0, count: inputs)
        w[1] = 0x0040; x[1] = 1                                     // row 0: a subnormal weight (2^-127)
        w[inputs + 3] = bf16(0x1p-64); x[3] = 0x1p-63               // row 1: a subnormal product (2^-127)
        w[2 * inputs + 5] = bf16(1); x[5] = 3                       // row 2: a control
        func run(_ dtype: WeightDType, _ isa: Int32) -> [Float] {
            var y = [Float](repeating: -1, count: outputs)
            w.withUnsafeBytes { raw in
                let m = WeightMatrix(blocks: [(raw.baseAddress!, outputs)], inputs: inputs, dtype: dtype)
                withUnsafePointer(to: m.descriptor) { d in
                    eagle_linear_range(d, x, 1, &y, Int32(outputs), 0, 0, Int32(outputs), isa)
                }
            }
            return y
        }
        for isa in Self.isas {
            #expect(run(.bf16Dot, isa) == [0, 0, 3], "isa \(isa)")
            #expect(run(.bf16, isa) == [0x1p-127, 0x1p-127, 3], "isa \(isa): the FP32 path keeps subnormals")
        }
    }

    @Test func bf16RoundingIsNearestEven() {
        let values: [Float] = [1, 1 + 0x1p-8, 1 + 0x1p-7 + 0x1p-8, -3.140625, 0x1p-130, .infinity, -.infinity]
        var half = [UInt16](repeating: 0, count: values.count)
        eagle_f32_to_bf16(values, &half, Int64(values.count))
        #expect(half == [0x3F80, 0x3F80, 0x3F82, 0xC049, 0x0000 | UInt16(Float(0x1p-130).bitPattern >> 16), 0x7F80, 0xFF80])
        var nan = [UInt16](repeating: 0, count: 1)
        eagle_f32_to_bf16([Float.nan], &nan, 1)
        var back = [Float](repeating: 0, count: 1)
        eagle_bf16_to_f32(nan, &back, 1)
        #expect(back[0].isNaN)
    }
}
