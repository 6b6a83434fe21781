/// A memory-mapped PyTorch checkpoint (`pytorch_model.bin`) written by `torch.save` ≥ 1.6:
/// the same API as `SafetensorsFile`, tensors read on demand.
///
/// The file is a ZIP archive of stored entries: `<archive>/data.pkl`, a pickle of a dict of
/// name → tensor, and `<archive>/data/<key>`, one entry per storage, little-endian. The
/// pickle is read by `Unpickler`, which refuses every global but tensor rebuilding; the
/// storages are never copied, each tensor is a byte range of the mapping (views sharing a
/// storage included). Non-contiguous tensors are gathered on read.
public final class TorchCheckpointFile: Sendable {
    public let path: String
    public let tensors: [String: TensorInfo]
    /// Element strides of the tensors that are not contiguous row-major (rare in checkpoints).
    private let strides: [String: [Int]]
    private let file: MappedFile

    /// Largest `data.pkl` we interpret; a 7B model's is tens of kilobytes.
    static let maxPickleBytes = 64 << 20

    public init(path: String) throws(CheckpointError) {
        self.path = path
        file = try MappedFile(path: path)
        let archive = try ZipArchive(file: file)
        let prefix = try Self.archivePrefix(archive, path: path)
        if archive.contains(prefix + "byteorder") {
            let order = try archive.bytes(of: prefix + "byteorder", limit: 16)
            guard order == Array("little".utf8) else {
                throw .unsupportedArchive(file: path, detail: "byte order is '\(String(decoding: order, as: UTF8.self))', only little-endian is supported")
            }
        }
        var unpickler = Unpickler(bytes: try archive.bytes(of: prefix + "data.pkl", limit: Self.maxPickleBytes), path: path)
        let entries = try Self.stateDict(try unpickler.load(), path: path)
        var tensors: [String: TensorInfo] = [:]
        var strides: [String: [Int]] = [:]
        var storages: [String: (offset: Int, count: Int)] = [:]
        for (name, ref) in entries {
            let entryName = prefix + "data/" + ref.storage.key
            guard archive.contains(entryName) else {
                throw .tensorOutOfBounds(file: path, tensor: name, detail: "refers to storage '\(entryName)', which the archive lacks")
            }
            let storage: (offset: Int, count: Int)
            if let known = storages[entryName] { storage = known } else {
                storage = try archive.dataRange(of: entryName)
                storages[entryName] = storage
            }
            let (info, contiguous) = try Self.layout(ref, name: name, storage: storage, path: path)
            tensors[name] = info
            if !contiguous { strides[name] = ref.strides }
        }
        self.tensors = tensors
        self.strides = strides
    }

    /// `torch.save` names every entry `<archive>/…`, the archive name being free-form.
    private static func archivePrefix(_ archive: ZipArchive, path: String) throws(CheckpointError) -> String {
        for entry in archive.entries where entry.name.hasSuffix("/data.pkl") {
            let prefix = entry.name.dropLast("data.pkl".count)
            if prefix.dropLast().firstIndex(of: "/") == nil { return String(prefix) }
        }
        throw .unsupportedArchive(file: path, detail: "no '<archive>/data.pkl' entry (not a torch.save checkpoint)")
    }

    /// The top-level dict (plain or OrderedDict) of name → tensor.
    private static func stateDict(_ root: Unpickler.Value, path: String) throws(CheckpointError) -> [(String, Unpickler.TensorRef)] {
        guard case .dict(let items) = root else {
            throw .malformedPickle(file: path, detail: "top-level object is a \(root.kind), expected a dict of tensors")
        }
        var result: [(String, Unpickler.TensorRef)] = []
        var names = Set<String>()
        for i in stride(from: 0, to: items.values.count - 1, by: 2) {
            guard case .string(let name) = items.values[i] else {
                throw .malformedPickle(file: path, detail: "state dict key is a \(items.values[i].kind), expected a string")
            }
            // torch.save writes a dict, so no name comes twice; a file that repeats one is
            // corrupt or crafted (a second entry must not inherit anything of the first).
            guard names.insert(name).inserted else {
                throw .malformedPickle(file: path, detail: "state dict names tensor '\(name)' twice")
            }
            guard case .tensor(let ref) = items.values[i + 1] else {
                throw .malformedPickle(file: path, detail: "entry '\(name)' is not a tensor but a \(items.values[i + 1].kind) (expected a flat state dict)")
            }
            result.append((name, ref))
        }
        return result
    }

    /// Checks a tensor against its storage and says where its bytes are.
    private static func layout(
        _ ref: Unpickler.TensorRef, name: String, storage: (offset: Int, count: Int), path: String
    ) throws(CheckpointError) -> (TensorInfo, contiguous: Bool) {
        let dtype = ref.storage.dtype, size = dtype.byteSize
        func outOfBounds(_ detail: String) -> CheckpointError { .tensorOutOfBounds(file: path, tensor: name, detail: detail) }
        let storageBytes = ref.storage.count.multipliedReportingOverflow(by: size)
        guard !storageBytes.overflow, storageBytes.partialValue <= storage.count else {
            throw outOfBounds("declares a storage of \(ref.storage.count) \(dtype.rawValue) elements but '\(ref.storage.key)' holds \(storage.count) bytes")
        }
        // Element count, and the furthest element reached: offset + Σ (size_d − 1)·stride_d.
        var count = 1, last = ref.storageOffset, overflow = false
        for (extent, step) in zip(ref.shape, ref.strides) {
            let c = count.multipliedReportingOverflow(by: extent)
            let reach = (extent - 1).multipliedReportingOverflow(by: step)
            let l = last.addingReportingOverflow(extent > 0 ? reach.partialValue : 0)
            overflow = overflow || c.overflow || reach.overflow || l.overflow
            (count, last) = (c.partialValue, l.partialValue)
        }
        guard !overflow else { throw outOfBounds("has a shape \(ref.shape) or strides \(ref.strides) that overflow") }
        guard ref.storageOffset <= ref.storage.count, count == 0 || last < ref.storage.count else {
            throw outOfBounds("with shape \(ref.shape), strides \(ref.strides) and offset \(ref.storageOffset) reaches element \(last) of a storage of \(ref.storage.count)")
        }
        // Row-major contiguous: each stride is the product of the later extents (size-1 dims are free).
        var contiguous = true, expected = 1
        for (extent, step) in zip(ref.shape, ref.strides).reversed() where extent != 1 {
            if step != expected { contiguous = false }
            expected &*= extent
        }
        contiguous = contiguous || count == 0
        let offset = storage.offset + ref.storageOffset * size
        let byteCount = count == 0 ? 0 : (contiguous ? count : last - ref.storageOffset + 1) * size
        return (TensorInfo(dtype: dtype, shape: ref.shape, offset: offset, byteCount: byteCount), contiguous)
    }

    /// Converts a tensor to `Float` into `destination` (which holds `elementCount` floats),
    /// after checking its shape, then drops its pages from the resident set.
    /// A 1-D integer tensor (int64 or int32) of `count` elements, exactly (contiguous storage).
    public func readIntegers(_ name: String, count: Int) throws(CheckpointError) -> [Int] {
        guard let info = tensors[name] else { throw .missingTensor(name: name, directory: path) }
        guard strides[name] == nil else { throw .unsupportedDType(file: path, tensor: name, dtype: "strided \(info.dtype.rawValue)") }
        return try info.integers(name, count: count, base: file.base, file: path)
    }

    public func read(_ name: String, expectedShape: [Int], into destination: UnsafeMutablePointer<Float>) throws(CheckpointError) {
        guard let info = tensors[name] else { throw .missingTensor(name: name, directory: path) }
        guard info.shape == expectedShape else {
            throw .shapeMismatch(file: path, tensor: name, expected: expectedShape, actual: info.shape)
        }
        let source = file.base + info.offset
        // A zero-element conversion only asks whether the dtype is readable.
        guard info.dtype.convertToFloat(from: source, count: 0, into: destination) else {
            throw .unsupportedDType(file: path, tensor: name, dtype: info.dtype.rawValue)
        }
        if let strides = strides[name] {
            Self.gather(info, strides: strides, from: source, into: destination)
        } else {
            _ = info.dtype.convertToFloat(from: source, count: info.elementCount, into: destination)
        }
        file.release(offset: info.offset, count: info.byteCount)
    }

    /// Row-major copy of a strided tensor, a run along the last dimension at a time.
    private static func gather(_ info: TensorInfo, strides: [Int], from source: UnsafeRawPointer, into destination: UnsafeMutablePointer<Float>) {
        let shape = info.shape, rank = shape.count, size = info.dtype.byteSize
        guard rank > 0, info.elementCount > 0 else { return }
        let inner = shape[rank - 1], innerStride = strides[rank - 1]
        var index = [Int](repeating: 0, count: rank - 1)  // [rank − 1] position over the outer dims
        var out = destination
        for _ in 0..<(info.elementCount / inner) {
            var base = 0
            for d in 0..<(rank - 1) { base += index[d] * strides[d] }
            if innerStride == 1 {
                _ = info.dtype.convertToFloat(from: source + base * size, count: inner, into: out)
            } else {
                for j in 0..<inner {
                    _ = info.dtype.convertToFloat(from: source + (base + j * innerStride) * size, count: 1, into: out + j)
                }
            }
            out += inner
            var d = rank - 2
            while d >= 0 {
                index[d] += 1
                if index[d] < shape[d] { break }
                index[d] = 0
                d -= 1
            }
        }
    }
}
