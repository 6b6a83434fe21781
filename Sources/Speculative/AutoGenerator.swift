import Inference
import Tokenization

/// Plain or EAGLE decoding, whichever the model's `TreePolicy` expects to be fastest for
/// each request, and the policy told how each request went. Output never depends on the
/// choice (EAGLE is lossless), only speed does.
public struct AutoGenerator: TokenGenerator {
    public let model: LlamaModel
    public let head: EagleHead
    public let tokenizer: Tokenizer?
    public let policy: TreePolicy
    public let maxBatch: Int
    /// Told each request's choice before it runs.
    public var onChoice: (@Sendable (TreeChoice) -> Void)?
    /// Shares each target pass with the model's other requests.
    public var combiner: PassCombiner?

    public init(model: LlamaModel, head: EagleHead, tokenizer: Tokenizer?, policy: TreePolicy, maxBatch: Int = 64) {
        self.model = model
        self.head = head
        self.tokenizer = tokenizer
        self.policy = policy
        self.maxBatch = maxBatch
    }

    public func generate(
        prompt: [TokenID], params: GenerationParams, isCancelled: () -> Bool,
        onEvent: (GenerationEvent) -> GenerationControl
    ) throws -> GenerationResult {
        let sampled = !params.sampling.isGreedy
        let choice = policy.choose(sampled: sampled)
        onChoice?(choice)
        let generator: any TokenGenerator
        if let tree = choice.tree {
            var eagle = SpeculativeGenerator(model: model, head: head, tokenizer: tokenizer, tree: tree, maxBatch: maxBatch)
            eagle.policy = policy
            eagle.combiner = combiner
            generator = eagle
        } else {
            generator = PlainGenerator(model: model, tokenizer: tokenizer, maxBatch: maxBatch, combiner: combiner)
        }
        let result = try generator.generate(prompt: prompt, params: params, isCancelled: isCancelled, onEvent: onEvent)
        policy.record(result, tree: choice.tree, sampled: sampled)
        return result
    }
}
