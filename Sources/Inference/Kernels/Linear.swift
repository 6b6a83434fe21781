import CKernels

/// `y[n × out] = x[n × in] · Wᵀ (+ y)`, row-major: the engine's own kernel for every row
/// count (see `Sources/CKernels/linear.c` for its bound and its fixed summation order, which
/// makes each row's result independent of the other rows in the pass).
@inline(__always)
public func linear(
    _ x: UnsafePointer<Float>, rows n: Int, weight: WeightMatrix,
    into y: UnsafeMutablePointer<Float>, accumulate: Bool = false
) {
    withUnsafePointer(to: weight.descriptor) { w in
        eagle_linear(w, x, Int32(n), y, Int32(weight.outputs), accumulate ? 1 : 0)
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

/// The kernels in use, for logs and benchmark output.
public enum KernelInfo {
    /// Instruction set of the kernels in use ("avx512-bf16", "avx512f", "avx2+fma" or "c").
    public static var isa: String { String(cString: eagle_isa_name(eagle_isa_current())) }
    /// The best instruction set this CPU supports.
    public static var bestISA: String { String(cString: eagle_isa_name(eagle_isa_best())) }
    /// Whether `bf16dot` matrices run on AVX-512 BF16 (else on the portable C emulation).
    public static var bf16DotInHardware: Bool { eagle_isa_current() >= Int32(EAGLE_ISA_AVX512_BF16.rawValue) }
    /// Threads of the kernels' worker pool (EAGLE_THREADS, else the CPUs this process may use).
    public static var threads: Int { Int(eagle_pool_threads()) }
    /// One line for start-up logs: "kernels avx2+fma, 2 threads".
    public static var summary: String { "kernels \(isa), \(threads) threads" }
}
