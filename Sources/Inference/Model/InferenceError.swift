import Tokenization

/// Errors from running a model on client-supplied input. Never a crash.
public enum InferenceError: Error, CustomStringConvertible, Equatable {
    case tokenOutOfRange(token: TokenID, vocabularySize: Int)
    case contextOverflow(needed: Int, capacity: Int)
    case batchTooLarge(count: Int, maximum: Int)
    case emptyInput
    case invalidPositions(detail: String)
    case invalidMask(detail: String)
    case invalidParameter(detail: String)
    /// The model's logits for the token at sequence position `position` hold NaN or +∞:
    /// corrupt or overflowing weights. Nothing sensible can be sampled from them.
    case nonFiniteLogits(position: Int)

    public var description: String {
        switch self {
        case .tokenOutOfRange(let token, let vocabularySize):
            return "token id \(token) is out of range (vocabulary size \(vocabularySize))"
        case .contextOverflow(let needed, let capacity):
            return "context overflow: \(needed) tokens needed, context holds \(capacity)"
        case .batchTooLarge(let count, let maximum):
            return "\(count) tokens in one forward pass exceeds the maximum of \(maximum)"
        case .emptyInput:
            return "no input tokens"
        case .invalidPositions(let detail):
            return "invalid positions: \(detail)"
        case .invalidMask(let detail):
            return "invalid attention mask: \(detail)"
        case .invalidParameter(let detail):
            return "invalid parameter: \(detail)"
        case .nonFiniteLogits(let position):
            return "the model's logits for position \(position) are NaN or +∞ (corrupt or overflowing weights?)"
        }
    }
}
