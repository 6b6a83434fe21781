import Foundation
import Inference
import Tokenization

/// The daemon's view of a model's tokenizer.
///
/// Interim: until `Tokenization.Tokenizer` lands on main, no tokenizer is loaded and
/// models serve token-id prompts only.
enum TokenizerCodec {
    static func loadIfPresent(directory: URL, modelName: String) throws(ServiceError) -> (any TextCodec)? {
        nil
    }
}
