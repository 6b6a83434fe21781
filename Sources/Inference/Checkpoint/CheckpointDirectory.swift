import Foundation

/// The safetensors weights of a Hugging Face model directory: a single `model.safetensors`
/// or shards listed by `model.safetensors.index.json`.
public final class CheckpointDirectory: Sendable {
    public let directory: URL
    private let files: [SafetensorsFile]
    /// Tensor name → index into `files`.
    private let location: [String: Int]

    public init(directory: URL) throws(CheckpointError) {
        self.directory = directory
        let fm = FileManager.default
        let index = directory.appendingPathComponent("model.safetensors.index.json")
        let single = directory.appendingPathComponent("model.safetensors")
        if fm.fileExists(atPath: index.path) {
            (files, location) = try Self.openSharded(index: index, directory: directory)
        } else if fm.fileExists(atPath: single.path) {
            let file = try SafetensorsFile(path: single.path)
            files = [file]
            location = file.tensors.mapValues { _ in 0 }
        } else {
            throw .fileNotFound(path: single.path + " (or model.safetensors.index.json)")
        }
    }

    private static func openSharded(index: URL, directory: URL) throws(CheckpointError) -> ([SafetensorsFile], [String: Int]) {
        let data: Data
        do { data = try Data(contentsOf: index) } catch {
            throw .unreadable(path: index.path, reason: "\(error.localizedDescription)")
        }
        guard let root = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any],
              let map = root["weight_map"] as? [String: Any]
        else { throw .malformedIndex(file: index.path, detail: "expected an object with a \"weight_map\"") }
        var files: [SafetensorsFile] = []
        var fileIndex: [String: Int] = [:]
        var location: [String: Int] = [:]
        for (tensor, value) in map.sorted(by: { $0.key < $1.key }) {
            guard let shard = value as? String, !shard.contains("/"), !shard.isEmpty else {
                throw .malformedIndex(file: index.path, detail: "tensor '\(tensor)' maps to an invalid shard name")
            }
            if fileIndex[shard] == nil {
                fileIndex[shard] = files.count
                files.append(try SafetensorsFile(path: directory.appendingPathComponent(shard).path))
            }
            let i = fileIndex[shard]!
            guard files[i].tensors[tensor] != nil else {
                throw .malformedIndex(file: index.path, detail: "tensor '\(tensor)' is listed in \(shard) but not stored there")
            }
            location[tensor] = i
        }
        return (files, location)
    }

    /// All tensor names in the checkpoint.
    public var tensorNames: [String] { Array(location.keys) }

    public func info(_ name: String) -> TensorInfo? {
        location[name].flatMap { files[$0].tensors[name] }
    }

    public func contains(_ name: String) -> Bool { location[name] != nil }

    /// Reads a tensor converted to `Float`, checking its shape.
    public func read(_ name: String, shape: [Int], into destination: UnsafeMutablePointer<Float>) throws(CheckpointError) {
        guard let i = location[name] else { throw .missingTensor(name: name, directory: directory.path) }
        try files[i].read(name, expectedShape: shape, into: destination)
    }

    /// Tensor `name` in its shard's memory map when stored as `dtype` (see `TensorReader`).
    public func storedInPlace(_ name: String, shape: [Int], dtype: TensorDType) throws(CheckpointError) -> UnsafeRawPointer? {
        guard let i = location[name] else { throw .missingTensor(name: name, directory: directory.path) }
        return try files[i].inPlace(name, expectedShape: shape, dtype: dtype)
    }
}
