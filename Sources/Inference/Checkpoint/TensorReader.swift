/// Anything tensors can be read from by name: a safetensors directory, a single
/// safetensors file, a PyTorch `.bin` archive.
public protocol TensorReader {
    /// Where errors should point (a file or directory path).
    var sourcePath: String { get }
    func contains(_ name: String) -> Bool
    /// Converts tensor `name` to `Float` into `destination`, checking its shape.
    func read(_ name: String, shape: [Int], into destination: UnsafeMutablePointer<Float>) throws(CheckpointError)
    /// Where tensor `name` lies in a memory map, when it is stored as `dtype` with `shape`
    /// and suitably aligned: then it can be used in place. Nil when it must be converted.
    func storedInPlace(_ name: String, shape: [Int], dtype: TensorDType) throws(CheckpointError) -> UnsafeRawPointer?
    /// A 1-D integer tensor (int64 or int32) of `count` elements, exactly: ids and offsets,
    /// never weights (EAGLE-3's d2t).
    func readIntegers(_ name: String, count: Int) throws(CheckpointError) -> [Int]
}

extension TensorReader {
    public func storedInPlace(_ name: String, shape: [Int], dtype: TensorDType) throws(CheckpointError) -> UnsafeRawPointer? { nil }
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
