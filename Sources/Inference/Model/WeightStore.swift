#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CKernels

/// Owns the memory behind a model's weights: the checkpoint readers whose memory maps hold
/// tensors used in place, and the buffers of tensors converted at load.
///
/// Invariant: filled during loading only, read-only afterwards (hence `@unchecked Sendable`).
public final class WeightStore: @unchecked Sendable {
    public let dtype: WeightDType
    private var buffers: [UnsafeMutableRawPointer] = []
    private var readers: [any TensorReader] = []
    /// Bytes of tensors used in place from memory-mapped checkpoint files (page cache, shared
    /// between processes mapping the same files).
    public private(set) var mappedBytes = 0
    /// Bytes of tensors converted into memory of our own.
    public private(set) var ownedBytes = 0

    public init(dtype: WeightDType) { self.dtype = dtype }

    deinit { buffers.forEach { free($0) } }

    /// Total weight bytes.
    public var byteCount: Int { mappedBytes + ownedBytes }

    private func allocate(_ bytes: Int) -> UnsafeMutableRawPointer {
        var raw: UnsafeMutableRawPointer?
        guard posix_memalign(&raw, 64, max(bytes, 64)) == 0, let raw else {
            fatalError("out of memory allocating \(bytes) bytes of weights")
        }
        buffers.append(raw)
        ownedBytes += bytes
        return raw
    }

    /// A small vector (norm weight, bias) in FP32. With BF16 weights it holds the BF16-rounded
    /// values, as the reference (the checkpoint rounded to bf16, computed in FP32) has them.
    public func vector(_ reader: some TensorReader, _ name: String, count: Int) throws(CheckpointError) -> UnsafeMutablePointer<Float> {
        try vector(reader, parts: [(name, count)])
    }

    /// Several vectors concatenated (the biases of a fused projection), as `vector`.
    public func vector(_ reader: some TensorReader, parts: [(name: String, count: Int)]) throws(CheckpointError) -> UnsafeMutablePointer<Float> {
        let total = parts.reduce(0) { $0 + $1.count }
        let p = allocate(total * 4).bindMemory(to: Float.self, capacity: total)
        var at = 0
        for (name, count) in parts {
            try reader.read(name, shape: [count], into: p + at)
            at += count
        }
        if dtype.storesBF16 { roundToBF16(p, count: total) }
        return p
    }

    /// A weight matrix made of the named tensors ([rows × columns] each, stacked in order:
    /// q/k/v or gate/up as one matrix) in the store's dtype.
    public func matrix(_ reader: some TensorReader, _ blocks: [(name: String, rows: Int)], columns: Int) throws(CheckpointError) -> WeightMatrix {
        var stored: [(data: UnsafeRawPointer, rows: Int)] = []
        for (name, rows) in blocks {
            stored.append((try block(reader, name, rows: rows, columns: columns), rows))
        }
        return WeightMatrix(blocks: stored, inputs: columns, dtype: dtype)
    }

    /// One tensor [rows × columns] in the store's dtype: in place when the checkpoint stores it
    /// so, else converted once.
    private func block(_ reader: some TensorReader, _ name: String, rows: Int, columns: Int) throws(CheckpointError) -> UnsafeRawPointer {
        let count = rows * columns
        if let p = try reader.storedInPlace(name, shape: [rows, columns], dtype: dtype.storesBF16 ? .bf16 : .f32) {
            if !readers.contains(where: { $0.sourcePath == reader.sourcePath }) { readers.append(reader) }
            mappedBytes += count * dtype.byteSize
            return p
        }
        if !dtype.storesBF16 {
            let p = allocate(count * 4).bindMemory(to: Float.self, capacity: count)
            try reader.read(name, shape: [rows, columns], into: p)
            return UnsafeRawPointer(p)
        } else {
            let wide = UnsafeMutablePointer<Float>.allocate(capacity: count)
            defer { wide.deallocate() }
            try reader.read(name, shape: [rows, columns], into: wide)
            let p = allocate(count * 2).bindMemory(to: UInt16.self, capacity: count)
            eagle_f32_to_bf16(wide, p, Int64(count))
            return UnsafeRawPointer(p)
        }
    }

    /// Rounds FP32 values to the nearest BF16 value, in place.
    private func roundToBF16(_ p: UnsafeMutablePointer<Float>, count: Int) {
        let half = UnsafeMutablePointer<UInt16>.allocate(capacity: count)
        defer { half.deallocate() }
        eagle_f32_to_bf16(p, half, Int64(count))
        eagle_bf16_to_f32(half, p, Int64(count))
    }
}
