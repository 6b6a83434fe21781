import Inference
import Tokenization

/// Plain or EAGLE decoding, whichever the model's `TreePolicy` expects to be fastest for
/// each request, and the policy told how each request went. A request that starts with a
/// tree asks the policy again every `rechooseEvery` steps (`TreeSchedule`) and may switch to
/// another tree or to plain decoding and back; one that starts plain stays plain (it has no
/// head state to draft from). Output never depends on the choices (EAGLE is lossless and
/// seed-exact), only speed does.
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
    /// Steps between re-choices within a request (0: the first choice holds throughout).
    public var rechooseEvery = TreeSchedule.defaultSteps
    /// Told each request's segments (how it was decoded, in order) when it ends.
    public var onSegments: (@Sendable ([TreeSchedule.Segment]) -> Void)?

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
        var schedule: TreeSchedule?
        if let tree = choice.tree {
            var eagle = SpeculativeGenerator(model: model, head: head, tokenizer: tokenizer, tree: tree, maxBatch: maxBatch)
            eagle.policy = policy
            eagle.combiner = combiner
            if rechooseEvery > 0 {
                schedule = TreeSchedule(policy: policy, sampled: sampled, everySteps: rechooseEvery)
                eagle.schedule = schedule
            }
            generator = eagle
        } else {
            generator = PlainGenerator(model: model, tokenizer: tokenizer, maxBatch: maxBatch, combiner: combiner)
        }
        let result = try generator.generate(prompt: prompt, params: params, isCancelled: isCancelled, onEvent: onEvent)
        policy.record(result, tree: choice.tree, schedule: schedule, sampled: sampled)
        onSegments?(schedule?.segments ?? [TreeSchedule.Segment(tree: choice.tree, steps: result.steps - 1,
                                                                 tokens: result.tokens.count - 1, seconds: result.decodeSeconds)])
        return result
    }
}
