import Foundation
import Inference

/// Safetensors headers and `pytorch_model.bin` archives (zip + restricted unpickler): any
/// bytes give a reader or a typed `CheckpointError`; every tensor a reader lists can then
/// be read (into a buffer of its declared element count) without touching memory outside
/// the mapping, which AddressSanitizer would report.
enum CheckpointHarness {
    /// Tensors bigger than this are listed but not read (the harness's own allocation).
    static let maxReadElements = 1 << 20

    static func safetensors(_ bytes: UnsafeRawBufferPointer) {
        guard let file = try? SafetensorsFile(path: ScratchFile.write(bytes)) else { return }
        readAll(file, file.tensors)
    }

    static func torch(_ bytes: UnsafeRawBufferPointer) {
        guard let file = try? TorchCheckpointFile(path: ScratchFile.write(bytes)) else { return }
        readAll(file, file.tensors)
    }

    private static func readAll(_ reader: some TensorReader, _ tensors: [String: TensorInfo]) {
        for (name, info) in tensors.sorted(by: { $0.key < $1.key }) where info.elementCount <= maxReadElements {
            let buffer = UnsafeMutablePointer<Float>.allocate(capacity: max(info.elementCount, 1))
            defer { buffer.deallocate() }
            _ = try? reader.read(name, shape: info.shape, into: buffer)
            for dtype in [TensorDType.bf16, .f32] {
                if let p = try? reader.storedInPlace(name, shape: info.shape, dtype: dtype), info.elementCount > 0 {
                    // Touch the first and last byte of the in-place tensor.
                    _ = p.load(as: UInt8.self)
                    _ = p.load(fromByteOffset: info.elementCount * (dtype == .bf16 ? 2 : 4) - 1, as: UInt8.self)
                }
            }
        }
    }
}

/// `config.json` → the weight layout and memory footprint a load would size itself by.
enum ConfigHarness {
    static func run(_ bytes: UnsafeRawBufferPointer) {
        guard let config = try? ModelConfig.parse(Data(bytes)) else { return }
        guard let footprint = try? ModelFootprint(config) else { fatalError("a validated config has no footprint: \(config)") }
        // Every figure of a validated config is computable without overflow.
        for dtype in WeightDType.allCases {
            guard footprint.loadBytes(dtype, contextLength: config.maxPositions) != nil else { fatalError("load bytes overflow: \(config)") }
        }
        guard footprint.sessionBytes(contextLength: config.maxPositions, maxBatch: 64) != nil else { fatalError("session bytes overflow: \(config)") }
        _ = try? ModelFootprint(config, eagleHead: true)
        _ = config.parameterCount
        rope(config)
        let shape = StackShape(config)
        guard shape.qkvWidth <= Int(Int32.max), config.vocabSize <= Int(Int32.max) else { fatalError("matrix beyond Int32: \(config)") }
    }
}

extension ConfigHarness {
    /// The rotary tables a validated config asks for (a few positions: the scaling maths).
    static func rope(_ config: ModelConfig) {
        _ = RopeTable(headDim: config.headDim, theta: config.ropeTheta, scaling: config.ropeScaling,
                      positions: min(config.maxPositions, 16))
    }
}
