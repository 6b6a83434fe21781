import Foundation

/// RMSNorm as transformers computes it: `w · x / sqrt(mean(x²) + eps)`, in FP32.
@inline(__always)
public func rmsNorm(_ x: UnsafePointer<Float>, weight: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>,
             rows: Int, width: Int, eps: Float) {
    for r in 0..<rows {
        let xr = x + r * width, yr = y + r * width
        var sum: Float = 0
        for j in 0..<width { sum += xr[j] * xr[j] }
        let scale = 1 / (sum / Float(width) + eps).squareRoot()
        for j in 0..<width { yr[j] = weight[j] * (xr[j] * scale) }
    }
}

/// SwiGLU on a fused [gate | up] row: `out = silu(gate) · up`.
@inline(__always)
func swiGLU(_ gateUp: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>, rows: Int, width: Int) {
    for r in 0..<rows {
        let g = gateUp + r * 2 * width, u = g + width, o = out + r * width
        for j in 0..<width {
            let v = g[j]
            o[j] = v / (1 + expf(-v)) * u[j]
        }
    }
}
