import CKernels

/// How a model's large matrices are stored and multiplied. Accumulation is FP32 in every case,
/// and so are activations except where `bf16dot` rounds them for the products.
public enum WeightDType: String, Sendable, CaseIterable, Codable {
    /// BF16 weights, used in place from the checkpoint's memory map when it stores BF16
    /// (F16 and F32 checkpoints are rounded once at load). Half the bytes of FP32: the default.
    case bf16
    /// FP32 weights (a BF16 or F16 checkpoint is widened, exactly): for comparison with
    /// transformers in FP32.
    case f32
    /// BF16 weights as `bf16`, multiplied with activations rounded to BF16 (FP32
    /// accumulation) by AVX-512 BF16's `vdpbf16ps`: twice the multiply-adds per instruction,
    /// for results that differ from the reference by the activations' rounding (measured in
    /// docs/engine.md). Portable C computes the same bits where the CPU lacks the instruction,
    /// slowly. Opt-in.
    case bf16Dot = "bf16dot"

    var kernelType: Int32 {
        switch self {
        case .bf16: Int32(EAGLE_BF16.rawValue)
        case .f32: Int32(EAGLE_F32.rawValue)
        case .bf16Dot: Int32(EAGLE_BF16_DOT.rawValue)
        }
    }
    /// Whether the matrices are stored as BF16.
    public var storesBF16: Bool { self != .f32 }
    /// Bytes per stored element.
    public var byteSize: Int { storesBF16 ? 2 : 4 }
}

/// A weight matrix [outputs × inputs] (row-major, the Hugging Face layout) as the kernels
/// take it: up to four row blocks stored apart (q, k and v used in place from a checkpoint
/// form one matrix), all of one dtype.
///
/// Invariant: the memory it points at is read-only and owned by a `WeightStore` that lives as
/// long as the model (hence `@unchecked Sendable`).
public struct WeightMatrix: @unchecked Sendable {
    var descriptor: eagle_matrix
    public var outputs: Int { Int(descriptor.N) }
    public var inputs: Int { Int(descriptor.K) }
    public let dtype: WeightDType

    /// Blocks in output order, each `rows` × `inputs`.
    public init(blocks: [(data: UnsafeRawPointer, rows: Int)], inputs: Int, dtype: WeightDType) {
        precondition((1...4).contains(blocks.count), "a weight matrix has 1 to 4 blocks")
        self.dtype = dtype
        func data(_ i: Int) -> UnsafeRawPointer? { i < blocks.count ? blocks[i].data : nil }
        func rows(_ i: Int) -> Int32 { i < blocks.count ? Int32(blocks[i].rows) : 0 }
        descriptor = eagle_matrix()
        descriptor.data = (data(0), data(1), data(2), data(3))
        descriptor.rows = (rows(0), rows(1), rows(2), rows(3))
        descriptor.segments = Int32(blocks.count)
        descriptor.dtype = dtype.kernelType
        descriptor.K = Int32(inputs)
        descriptor.N = Int32(blocks.reduce(0) { $0 + $1.rows })
    }

    /// Row `r` widened to FP32 into `destination` (embedding lookups, once per token: no
    /// allocation).
    public func copyRow(_ r: Int, into destination: UnsafeMutablePointer<Float>) {
        let k = inputs
        let (base, local) = withUnsafeBytes(of: descriptor.rows) { rowsBytes in
            withUnsafeBytes(of: descriptor.data) { dataBytes in
                let rows = rowsBytes.bindMemory(to: Int32.self), blocks = dataBytes.bindMemory(to: UnsafeRawPointer?.self)
                var local = r, b = 0
                while local >= Int(rows[b]) { local -= Int(rows[b]); b += 1 }
                return (blocks[b]!, local)
            }
        }
        if dtype.storesBF16 {
            eagle_bf16_to_f32(base.assumingMemoryBound(to: UInt16.self) + local * k, destination, Int64(k))
        } else {
            UnsafeMutableRawPointer(destination).copyMemory(from: base + local * k * 4, byteCount: k * 4)
        }
    }

    /// Row `r` as FP32 values.
    public func row(_ r: Int) -> [Float] {
        [Float](unsafeUninitializedCapacity: inputs) { buffer, count in
            copyRow(r, into: buffer.baseAddress!)
            count = inputs
        }
    }

    /// Stored bytes.
    public var byteCount: Int { outputs * inputs * dtype.byteSize }
}
