import Inference
import Tokenization

/// One turn of a chat prompt.
public struct ChatTurn: Sendable, Equatable {
    public var role: String
    public var content: String

    public init(role: String, content: String) {
        self.role = role
        self.content = content
    }
}

/// What the daemon needs from a model's tokenizer.
///
/// A seam over `Tokenization.Tokenizer` so that the server, its tests and models without a
/// `tokenizer.json` (token-id-only fixtures) share one code path.
public protocol TextCodec: Sendable {
    var vocabularySize: Int { get }
    func encode(_ text: String, addSpecialTokens: Bool) throws(ServiceError) -> [TokenID]
    func decode(_ ids: [TokenID], skipSpecialTokens: Bool) -> String
    /// Renders chat turns with the model's chat template, ending with the assistant prompt.
    func renderChat(_ turns: [ChatTurn]) throws(ServiceError) -> String
}
