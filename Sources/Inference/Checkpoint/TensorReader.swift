/// Anything tensors can be read from by name: a safetensors directory, a single
/// safetensors file, a PyTorch `.bin` archive.
public protocol TensorReader {
    /// Where errors should point (a file or directory path).
    var sourcePath: String { get }
    func contains(_ name: String) -> Bool
    /// Converts tensor `name` to `Float` into `destination`, checking its shape.
    func read(_ name: String, shape: [Int], into destination: UnsafeMutablePointer<Float>) throws(CheckpointError)
}

extension CheckpointDirectory: TensorReader {
    public var sourcePath: String { directory.path }
}

extension SafetensorsFile: TensorReader {
    public var sourcePath: String { path }
    public func contains(_ name: String) -> Bool { tensors[name] != nil }
    public func read(_ name: String, shape: [Int], into destination: UnsafeMutablePointer<Float>) throws(CheckpointError) {
        try read(name, expectedShape: shape, into: destination)
    }
}

extension TorchCheckpointFile: TensorReader {
    public var sourcePath: String { path }
    public func contains(_ name: String) -> Bool { tensors[name] != nil }
    public func read(_ name: String, shape: [Int], into destination: UnsafeMutablePointer<Float>) throws(CheckpointError) {
        try read(name, expectedShape: shape, into: destination)
    }
}
