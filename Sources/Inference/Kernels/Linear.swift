import CKernels
import COpenBLAS
import Dispatch

/// Largest row count for which `linear` uses the skinny kernel instead of SGEMM.
/// Measured with `eagle-bench batch`: OpenBLAS SGEMM with few rows packs the weights and
/// costs several GEMVs; the skinny kernel reads each weight row once for all rows.
public let skinnyRowLimit = 12

/// Weight blocks at least this large are split across the cores.
let parallelThreshold = 1 << 18

/// `y[n × out] = x[n × in] · W[out × in]ᵀ (+ y)`, row-major, HF weight layout.
///
/// One row: GEMV (a 1-row SGEMM is 3–5× slower here). A few rows: the skinny kernel, so
/// verifying a small draft tree streams the weights once. Many rows: SGEMM.
@inline(__always)
public func linear(
    _ x: UnsafePointer<Float>, rows n: Int, inputs: Int,
    weight: UnsafePointer<Float>, outputs: Int,
    into y: UnsafeMutablePointer<Float>, accumulate: Bool = false
) {
    let beta: Float = accumulate ? 1 : 0
    if n == 1 {
        cblas_sgemv(CblasRowMajor, CblasNoTrans, Int32(outputs), Int32(inputs), 1,
                    weight, Int32(inputs), x, 1, beta, y, 1)
    } else if n <= skinnyRowLimit {
        skinnyLinear(x, rows: n, inputs: inputs, weight: weight, outputs: outputs, into: y, accumulate: accumulate)
    } else {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(n), Int32(outputs), Int32(inputs), 1,
                    x, Int32(inputs), weight, Int32(inputs), beta, y, Int32(outputs))
    }
}

/// The skinny kernel over output rows, split across cores for large weights.
func skinnyLinear(
    _ x: UnsafePointer<Float>, rows n: Int, inputs: Int,
    weight: UnsafePointer<Float>, outputs: Int,
    into y: UnsafeMutablePointer<Float>, accumulate: Bool
) {
    let job = SkinnyJob(x: x, weight: weight, y: y, n: Int32(n), outputs: Int32(outputs), inputs: Int32(inputs),
                        accumulate: accumulate ? 1 : 0)
    let parts = outputs * inputs >= parallelThreshold ? workerCount : 1
    if parts == 1 {
        job.run(rows: 0..<outputs)
        return
    }
    // Even split, rounded to pairs of rows (the kernel's unit).
    let step = (outputs / parts + 1) & ~1
    DispatchQueue.concurrentPerform(iterations: parts) { p in
        let begin = min(outputs, p * step), end = p == parts - 1 ? outputs : min(outputs, (p + 1) * step)
        job.run(rows: begin..<end)
    }
}

/// Cores the skinny kernel splits work over (OpenBLAS's thread count).
let workerCount = max(1, Int(openblas_get_num_threads()))

/// Pointers for one skinny product. Each task writes a disjoint set of output columns, so
/// sharing them across the tasks of `concurrentPerform` is safe.
private struct SkinnyJob: @unchecked Sendable {
    let x: UnsafePointer<Float>
    let weight: UnsafePointer<Float>
    let y: UnsafeMutablePointer<Float>
    let n: Int32, outputs: Int32, inputs: Int32, accumulate: Int32

    func run(rows: Range<Int>) {
        guard !rows.isEmpty else { return }
        eagle_skinny_gemm(n, outputs, inputs, x, inputs, weight, y, accumulate, Int32(rows.lowerBound), Int32(rows.upperBound))
    }
}

/// Adds `bias[width]` to each of `rows` rows of `y`.
@inline(__always)
public func addBias(_ bias: UnsafePointer<Float>?, to y: UnsafeMutablePointer<Float>, rows: Int, width: Int) {
    guard let bias else { return }
    for r in 0..<rows {
        let row = y + r * width
        for j in 0..<width { row[j] += bias[j] }
    }
}
