import Foundation

/// Element types a safetensors file may declare. We convert F32, F16 and BF16 to `Float`;
/// the others are accepted in a header (a file may hold them) but cannot be read as weights.
public enum TensorDType: String, Sendable {
    case f64 = "F64", f32 = "F32", f16 = "F16", bf16 = "BF16"
    case i64 = "I64", i32 = "I32", i16 = "I16", i8 = "I8", u8 = "U8", bool = "BOOL"
    case u16 = "U16", u32 = "U32", u64 = "U64", f8e4m3 = "F8_E4M3", f8e5m2 = "F8_E5M2"

    var byteSize: Int {
        switch self {
        case .f64, .i64, .u64: return 8
        case .f32, .i32, .u32: return 4
        case .f16, .bf16, .i16, .u16: return 2
        case .i8, .u8, .bool, .f8e4m3, .f8e5m2: return 1
        }
    }

    /// Converts `count` little-endian elements at `source` to `Float`; false (nothing
    /// written) for the types we do not read as weights. Shared by every checkpoint format.
    func convertToFloat(from source: UnsafeRawPointer, count: Int, into destination: UnsafeMutablePointer<Float>) -> Bool {
        switch self {
        case .f32:
            UnsafeMutableRawPointer(destination).copyMemory(from: source, byteCount: count * 4)
        case .bf16:
            for i in 0..<count {
                let bits = UInt32(UInt16(littleEndian: source.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)))
                destination[i] = Float(bitPattern: bits << 16)
            }
        case .f16:
            for i in 0..<count {
                let bits = UInt16(littleEndian: source.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))
                destination[i] = Float(Float16(bitPattern: bits))
            }
        default:
            return false
        }
        return true
    }
}

extension TensorInfo {
    /// This tensor as `count` integers, exactly (1-D int64 or int32: token ids, EAGLE-3's
    /// d2t), from a file mapped at `base`. Shared by every checkpoint format.
    func integers(_ name: String, count: Int, base: UnsafeRawPointer, file: String) throws(CheckpointError) -> [Int] {
        guard shape == [count] else { throw .shapeMismatch(file: file, tensor: name, expected: [count], actual: shape) }
        let source = base + offset
        switch dtype {
        case .i64: return (0..<count).map { Int(Int64(littleEndian: source.loadUnaligned(fromByteOffset: 8 * $0, as: Int64.self))) }
        case .i32: return (0..<count).map { Int(Int32(littleEndian: source.loadUnaligned(fromByteOffset: 4 * $0, as: Int32.self))) }
        default: throw .unsupportedDType(file: file, tensor: name, dtype: dtype.rawValue)
        }
    }
}

/// One tensor's entry in a safetensors header.
public struct TensorInfo: Sendable, Equatable {
    public let dtype: TensorDType
    public let shape: [Int]
    /// Byte offset of the data from the start of the file.
    let offset: Int
    let byteCount: Int

    public var elementCount: Int { shape.reduce(1, *) }
}

/// A memory-mapped `.safetensors` file: validated header, tensors read on demand.
///
/// Layout: 8-byte little-endian header length N, N bytes of JSON
/// (`{"name": {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {...}}`),
/// then the data; offsets are relative to the end of the header.
public final class SafetensorsFile: Sendable {
    public let path: String
    public let tensors: [String: TensorInfo]
    public let metadata: [String: String]
    private let file: MappedFile

    /// Largest header we accept (the format's reference implementation caps it at 100 MB).
    static let maxHeaderBytes = 100_000_000

    public init(path: String) throws(CheckpointError) {
        self.path = path
        file = try MappedFile(path: path)
        guard file.size >= 8 else { throw .truncated(file: path, detail: "shorter than the 8-byte header length") }
        let declared = UInt64(littleEndian: file.base.loadUnaligned(as: UInt64.self))
        guard declared <= UInt64(Self.maxHeaderBytes) else {
            throw .malformedHeader(file: path, detail: "header length \(declared) exceeds \(Self.maxHeaderBytes) bytes")
        }
        let headerLength = Int(declared)
        guard 8 + headerLength <= file.size else {
            throw .truncated(file: path, detail: "header claims \(headerLength) bytes but the file has \(file.size - 8)")
        }
        let headerData = Data(bytes: file.base + 8, count: headerLength)
        let parsed = try Self.parseHeader(headerData, dataStart: 8 + headerLength, fileSize: file.size, path: path)
        tensors = parsed.tensors
        metadata = parsed.metadata
    }

    private static func parseHeader(
        _ data: Data, dataStart: Int, fileSize: Int, path: String
    ) throws(CheckpointError) -> (tensors: [String: TensorInfo], metadata: [String: String]) {
        let object: Any
        do { object = try JSONSerialization.jsonObject(with: data) } catch {
            throw .malformedHeader(file: path, detail: "header is not valid JSON")
        }
        guard let root = object as? [String: Any] else {
            throw .malformedHeader(file: path, detail: "header is not a JSON object")
        }
        var tensors: [String: TensorInfo] = [:]
        var metadata: [String: String] = [:]
        for (name, value) in root {
            if name == "__metadata__" {
                for (k, v) in value as? [String: Any] ?? [:] { metadata[k] = v as? String ?? "\(v)" }
                continue
            }
            guard let entry = value as? [String: Any],
                  let dtypeName = entry["dtype"] as? String,
                  let shapeValues = entry["shape"] as? [Any],
                  let offsets = entry["data_offsets"] as? [Any], offsets.count == 2
            else { throw .malformedHeader(file: path, detail: "entry for '\(name)' lacks dtype, shape or data_offsets") }
            guard let dtype = TensorDType(rawValue: dtypeName) else {
                throw .unsupportedDType(file: path, tensor: name, dtype: dtypeName)
            }
            // `as? Int` converts exactly: 1e300, 2.5 or 2⁶⁴ are refused, not wrapped.
            let shape = shapeValues.compactMap { $0 as? Int }
            guard shape.count == shapeValues.count, shape.allSatisfy({ $0 >= 0 }) else {
                throw .malformedHeader(file: path, detail: "tensor '\(name)' has an invalid shape")
            }
            guard let begin = offsets[0] as? Int, let end = offsets[1] as? Int,
                  begin >= 0, end >= begin
            else { throw .malformedHeader(file: path, detail: "tensor '\(name)' has invalid data_offsets") }
            let (count, overflow) = shape.reduce((1, false)) { acc, d in
                let r = acc.0.multipliedReportingOverflow(by: d); return (r.partialValue, acc.1 || r.overflow)
            }
            guard !overflow, count.multipliedReportingOverflow(by: dtype.byteSize).overflow == false,
                  count * dtype.byteSize == end - begin
            else {
                throw .tensorOutOfBounds(file: path, tensor: name,
                                         detail: "declares \(end - begin) bytes but shape \(shape) of \(dtypeName) needs \(count &* dtype.byteSize)")
            }
            // `dataStart + end` could overflow for offsets near Int.max: compare with what is left.
            guard end <= fileSize - dataStart else {
                throw .truncated(file: path, detail: "tensor '\(name)' ends at data offset \(end) but the file has \(fileSize - dataStart) bytes of data")
            }
            tensors[name] = TensorInfo(dtype: dtype, shape: shape, offset: dataStart + begin, byteCount: end - begin)
        }
        return (tensors, metadata)
    }

    /// Converts a tensor to `Float` into `destination` (which holds `elementCount` floats),
    /// after checking its shape, then drops its pages from the resident set.
    public func read(_ name: String, expectedShape: [Int], into destination: UnsafeMutablePointer<Float>) throws(CheckpointError) {
        guard let info = tensors[name] else { throw .missingTensor(name: name, directory: path) }
        guard info.shape == expectedShape else {
            throw .shapeMismatch(file: path, tensor: name, expected: expectedShape, actual: info.shape)
        }
        guard info.dtype.convertToFloat(from: file.base + info.offset, count: info.elementCount, into: destination) else {
            throw .unsupportedDType(file: path, tensor: name, dtype: info.dtype.rawValue)
        }
        file.release(offset: info.offset, count: info.byteCount)
    }

    /// A 1-D integer tensor (int64 or int32) of `count` elements, exactly.
    public func readIntegers(_ name: String, count: Int) throws(CheckpointError) -> [Int] {
        guard let info = tensors[name] else { throw .missingTensor(name: name, directory: path) }
        return try info.integers(name, count: count, base: file.base, file: path)
    }

    /// The bytes of tensor `name` in the mapping when it is stored as `dtype` (aligned to its
    /// element size); nil otherwise. Checks the shape either way.
    public func storedInPlace(_ name: String, shape: [Int], dtype: TensorDType) throws(CheckpointError) -> UnsafeRawPointer? {
        guard let info = tensors[name] else { throw .missingTensor(name: name, directory: path) }
        guard info.shape == shape else {
            throw .shapeMismatch(file: path, tensor: name, expected: shape, actual: info.shape)
        }
        let address = file.base + info.offset
        guard info.dtype == dtype, Int(bitPattern: address) % dtype.byteSize == 0 else { return nil }
        return address
    }
}
