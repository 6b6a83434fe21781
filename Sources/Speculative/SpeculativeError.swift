/// Errors specific to speculative decoding.
public enum SpeculativeError: Error, CustomStringConvertible, Equatable {
    case invalidTree(String)

    public var description: String {
        switch self {
        case .invalidTree(let detail): return "invalid draft tree: \(detail)"
        }
    }
}
