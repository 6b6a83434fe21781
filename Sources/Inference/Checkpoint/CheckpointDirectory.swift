import Foundation

/// The weights of a Hugging Face model directory, whatever form they were published in:
/// `model.safetensors`, shards listed by `model.safetensors.index.json`, `pytorch_model.bin`,
/// or shards listed by `pytorch_model.bin.index.json` (Vicuna-7B v1.3 and many older LLaMA
/// checkpoints). Safetensors is preferred when both are present; `.bin` files go through the
/// restricted unpickler (`TorchCheckpointFile`). Targets and EAGLE heads load through this.
public final class CheckpointDirectory: Sendable {
    public let directory: URL
    private let files: [any TensorReader & Sendable]
    /// Tensor name → index into `files`.
    private let location: [String: Int]
    /// Called as each shard is opened: (1-based index, count, file name). For progress reports.
    public typealias Progress = @Sendable (Int, Int, String) -> Void

    /// The forms a checkpoint may take, in order of preference.
    enum Layout: CaseIterable {
        case safetensorsIndex, safetensors, binIndex, bin

        var fileName: String {
            switch self {
            case .safetensorsIndex: return "model.safetensors.index.json"
            case .safetensors: return "model.safetensors"
            case .binIndex: return "pytorch_model.bin.index.json"
            case .bin: return "pytorch_model.bin"
            }
        }

        /// Opens one file of this form; returns it with the names of the tensors it holds.
        func open(_ path: String) throws(CheckpointError) -> (reader: any TensorReader & Sendable, names: [String]) {
            switch self {
            case .safetensorsIndex, .safetensors:
                let file = try SafetensorsFile(path: path)
                return (file, Array(file.tensors.keys))
            case .binIndex, .bin:
                let file = try TorchCheckpointFile(path: path)
                return (file, Array(file.tensors.keys))
            }
        }
    }

    public init(directory: URL, progress: Progress? = nil) throws(CheckpointError) {
        self.directory = directory
        let fm = FileManager.default
        guard let layout = Layout.allCases.first(where: { fm.fileExists(atPath: directory.appendingPathComponent($0.fileName).path) }) else {
            throw .fileNotFound(path: directory.appendingPathComponent("model.safetensors").path
                                + " (or model.safetensors.index.json, pytorch_model.bin, pytorch_model.bin.index.json)")
        }
        let path = directory.appendingPathComponent(layout.fileName)
        switch layout {
        case .safetensorsIndex, .binIndex:
            (files, location) = try Self.openSharded(index: path, directory: directory, layout: layout, progress: progress)
        case .safetensors, .bin:
            let (file, names) = try layout.open(path.path)
            progress?(1, 1, layout.fileName)
            files = [file]
            location = Dictionary(uniqueKeysWithValues: names.map { ($0, 0) })
        }
    }

    private static func openSharded(
        index: URL, directory: URL, layout: Layout, progress: Progress?
    ) throws(CheckpointError) -> ([any TensorReader & Sendable], [String: Int]) {
        let data: Data
        do { data = try Data(contentsOf: index) } catch {
            throw .unreadable(path: index.path, reason: "\(error.localizedDescription)")
        }
        guard let root = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any],
              let map = root["weight_map"] as? [String: Any]
        else { throw .malformedIndex(file: index.path, detail: "expected an object with a \"weight_map\"") }
        var shards: [String: String] = [:]
        for (tensor, value) in map {
            guard let shard = value as? String, !shard.contains("/"), !shard.isEmpty, shard != ".", shard != ".." else {
                throw .malformedIndex(file: index.path, detail: "tensor '\(tensor)' maps to an invalid shard name")
            }
            shards[tensor] = shard
        }
        let names = Set(shards.values).sorted()
        var files: [any TensorReader & Sendable] = []
        var fileIndex: [String: Int] = [:]
        for (i, shard) in names.enumerated() {
            fileIndex[shard] = files.count
            files.append(try layout.open(directory.appendingPathComponent(shard).path).reader)
            progress?(i + 1, names.count, shard)
        }
        var location: [String: Int] = [:]
        for (tensor, shard) in shards {
            let i = fileIndex[shard]!
            guard files[i].contains(tensor) else {
                throw .malformedIndex(file: index.path, detail: "tensor '\(tensor)' is listed in \(shard) but not stored there")
            }
            location[tensor] = i
        }
        return (files, location)
    }

    /// All tensor names in the checkpoint.
    public var tensorNames: [String] { Array(location.keys) }

    /// Files the weights were read from (one per shard).
    public var filePaths: [String] { files.map(\.sourcePath) }

    public func contains(_ name: String) -> Bool { location[name] != nil }

    /// Reads a tensor converted to `Float`, checking its shape.
    public func read(_ name: String, shape: [Int], into destination: UnsafeMutablePointer<Float>) throws(CheckpointError) {
        guard let i = location[name] else { throw .missingTensor(name: name, directory: directory.path) }
        try files[i].read(name, shape: shape, into: destination)
    }

    /// A 1-D integer tensor, exactly (see `TensorReader`).
    public func readIntegers(_ name: String, count: Int) throws(CheckpointError) -> [Int] {
        guard let i = location[name] else { throw .missingTensor(name: name, directory: directory.path) }
        return try files[i].readIntegers(name, count: count)
    }

    /// Tensor `name` in its shard's memory map when stored as `dtype` (see `TensorReader`).
    public func storedInPlace(_ name: String, shape: [Int], dtype: TensorDType) throws(CheckpointError) -> UnsafeRawPointer? {
        guard let i = location[name] else { throw .missingTensor(name: name, directory: directory.path) }
        return try files[i].storedInPlace(name, shape: shape, dtype: dtype)
    }
}
