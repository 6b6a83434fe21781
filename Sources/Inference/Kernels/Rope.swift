import Foundation

/// Rotary position tables: cos and sin of position · inverse frequency, [positions × headDim/2].
///
/// Frequencies follow transformers' `_compute_default_rope_parameters` and its linear and
/// llama3 variants, in FP32 as transformers computes them.
public final class RopeTable: Sendable {
    public let positions: Int
    public let half: Int
    let cos: FloatBuffer      // [positions × half]
    let sin: FloatBuffer      // [positions × half]

    public init(headDim: Int, theta: Double, scaling: RopeScaling, positions: Int) {
        self.positions = positions
        half = headDim / 2
        var inverse = (0..<half).map { j in Float(1.0 / pow(theta, Double(2 * j) / Double(headDim))) }
        switch scaling {
        case .none:
            break
        case .linear(let factor):
            inverse = inverse.map { $0 / Float(factor) }
        case .llama3(let factor, let low, let high, let original):
            let lowWavelen = Double(original) / low, highWavelen = Double(original) / high
            inverse = inverse.map { f in
                let wavelen = 2 * Double.pi / Double(f)
                if wavelen < highWavelen { return f }
                if wavelen > lowWavelen { return f / Float(factor) }
                let smooth = (Double(original) / wavelen - low) / (high - low)
                return Float((1 - smooth) * Double(f) / factor + smooth * Double(f))
            }
        }
        cos = FloatBuffer(count: positions * half)
        sin = FloatBuffer(count: positions * half)
        for p in 0..<positions {
            for j in 0..<half {
                let angle = Float(p) * inverse[j]
                cos[p * half + j] = Foundation.cos(angle)
                sin[p * half + j] = Foundation.sin(angle)
            }
        }
    }

    /// Rotates `heads` consecutive head vectors at `x` (rotate-half convention) for `position`.
    @inline(__always)
    func apply(_ x: UnsafeMutablePointer<Float>, heads: Int, position: Int) {
        let c = cos.pointer + position * half, s = sin.pointer + position * half
        let headDim = 2 * half
        for h in 0..<heads {
            let v = x + h * headDim
            for j in 0..<half {
                let a = v[j], b = v[j + half]
                v[j] = a * c[j] - b * s[j]
                v[j + half] = b * c[j] + a * s[j]
            }
        }
    }
}
