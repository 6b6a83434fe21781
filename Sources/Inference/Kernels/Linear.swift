import COpenBLAS

/// `y[n × out] = x[n × in] · W[out × in]ᵀ (+ beta · y)`, row-major, HF weight layout.
///
/// A single row goes through GEMV: on these machines a 1-row SGEMM is 3–5× slower.
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
    } else {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(n), Int32(outputs), Int32(inputs), 1,
                    x, Int32(inputs), weight, Int32(inputs), beta, y, Int32(outputs))
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
