/// Everything that can be wrong with a model directory on disk.
///
/// Each case names the file (and tensor, where there is one) so that an operator can find
/// the problem without a debugger. None of these is ever a crash.
public enum CheckpointError: Error, CustomStringConvertible, Equatable {
    case fileNotFound(path: String)
    case unreadable(path: String, reason: String)
    case truncated(file: String, detail: String)
    case malformedHeader(file: String, detail: String)
    case unsupportedDType(file: String, tensor: String, dtype: String)
    case tensorOutOfBounds(file: String, tensor: String, detail: String)
    case missingTensor(name: String, directory: String)
    case shapeMismatch(file: String, tensor: String, expected: [Int], actual: [Int])
    case malformedIndex(file: String, detail: String)
    case invalidConfig(file: String, detail: String)
    case unsupportedModel(file: String, detail: String)
    /// A draft head that cannot serve its target (hidden size or vocabulary differ).
    case headMismatch(directory: String, detail: String)
    /// A pickle (in a PyTorch checkpoint) asked for something beyond rebuilding tensors:
    /// a global outside the allow-list, or an opcode we do not interpret.
    case forbiddenPickle(file: String, detail: String)
    /// A pickle that is cut short, inconsistent, or not shaped like a state dict.
    case malformedPickle(file: String, detail: String)
    /// A container we cannot read: not a zip, a compressed or encrypted entry, a legacy
    /// (pre-1.6) `torch.save` file, a big-endian archive.
    case unsupportedArchive(file: String, detail: String)

    public var description: String {
        switch self {
        case .fileNotFound(let path):
            return "checkpoint file not found: \(path)"
        case .unreadable(let path, let reason):
            return "cannot read \(path): \(reason)"
        case .truncated(let file, let detail):
            return "\(file) is truncated: \(detail)"
        case .malformedHeader(let file, let detail):
            return "\(file) has a malformed safetensors header: \(detail)"
        case .unsupportedDType(let file, let tensor, let dtype):
            return "\(file): tensor '\(tensor)' has unsupported dtype \(dtype) (supported: F32, F16, BF16)"
        case .tensorOutOfBounds(let file, let tensor, let detail):
            return "\(file): tensor '\(tensor)' \(detail)"
        case .missingTensor(let name, let directory):
            return "tensor '\(name)' not found in checkpoint \(directory)"
        case .shapeMismatch(let file, let tensor, let expected, let actual):
            return "\(file): tensor '\(tensor)' has shape \(actual), expected \(expected)"
        case .malformedIndex(let file, let detail):
            return "\(file) is not a valid safetensors index: \(detail)"
        case .invalidConfig(let file, let detail):
            return "\(file): \(detail)"
        case .unsupportedModel(let file, let detail):
            return "\(file): unsupported model: \(detail)"
        case .headMismatch(let directory, let detail):
            return "draft head \(directory) does not fit its target: \(detail)"
        case .forbiddenPickle(let file, let detail):
            return "\(file): refused to unpickle: \(detail)"
        case .malformedPickle(let file, let detail):
            return "\(file) has a malformed pickle: \(detail)"
        case .unsupportedArchive(let file, let detail):
            return "\(file): unsupported archive: \(detail)"
        }
    }
}
