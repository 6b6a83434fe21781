import Inference
import Speculative
import Wire

/// How one request is decoded, decided once when the request is planned: the wire's
/// `SpeculativeOptions` stop at `GeneratorFactory.decoding`, and the worker gets this.
public enum DecodingChoice: Sendable {
    case plain
    /// EAGLE over the model's head with a validated tree.
    case eagle(EagleHead, TreeConfig)

    /// The tree, or nil for plain decoding.
    public var tree: TreeConfig? {
        if case .eagle(_, let tree) = self { return tree }
        return nil
    }
}

/// A decoding choice with what the result reports about it.
public struct DecodingDecision: Sendable {
    public var choice: DecodingChoice
    /// "plain", or the tree ("dynamic depth=2 top_k=1 total=3").
    public var description: String
    /// Why: "requested", or the cost-aware choice's reasoning.
    public var reason: String
    /// Tokens per step expected when the choice was made (1 for plain decoding).
    public var expectedTokensPerStep: Double
    /// Requests expected to share each target pass (1: alone, or batching is off); the
    /// request's speed is recorded under it.
    public var company: Int
    /// The model's cost-aware policy made the choice (the request left the tree to the
    /// daemon), so it may also re-choose while the request runs.
    public var automatic: Bool

    public init(_ choice: DecodingChoice, reason: String, expectedTokensPerStep: Double, company: Int = 1,
                automatic: Bool = false) {
        self.choice = choice
        description = choice.tree.map(TreePolicy.describe) ?? "plain"
        self.reason = reason
        self.expectedTokensPerStep = expectedTokensPerStep
        self.company = company
        self.automatic = automatic
    }
}

/// Chooses and builds the token generator for each generation request.
///
/// The single place where decoding strategies are wired in: plain decoding, or EAGLE
/// speculative decoding when the request asks for it and the model has a draft head.
public protocol GeneratorFactory: Sendable {
    /// Translates and checks a request's options, before it is queued (typed errors for
    /// requests that cannot be served as asked). `sampled`: the request samples (it is not
    /// greedy), which the automatic tree choice keeps apart.
    func decoding(_ options: Eagle_V1_SpeculativeOptions, for model: ServedModel, sampled: Bool) throws(ServiceError) -> DecodingDecision
    /// Builds the generator for one request, on the worker thread that will run it.
    /// Its KV cache lives as long as the generator: it is freed when the request ends.
    func makeGenerator(_ decoding: DecodingChoice, for model: ServedModel) -> any TokenGenerator
    /// The same, with a schedule that re-chooses an automatic EAGLE request's tree while it
    /// runs (factories that cannot re-choose ignore it).
    func makeGenerator(_ decoding: DecodingChoice, for model: ServedModel, schedule: TreeSchedule?) -> any TokenGenerator
}

extension GeneratorFactory {
    public func makeGenerator(_ decoding: DecodingChoice, for model: ServedModel, schedule: TreeSchedule?) -> any TokenGenerator {
        makeGenerator(decoding, for: model)
    }
}

/// Plain decoding, or `SpeculativeGenerator` over the model's EAGLE head.
public struct StandardGeneratorFactory: GeneratorFactory {
    /// Tokens of one target forward pass (prefill chunks, verified trees).
    public var maxBatch = 64

    public init() {}

    public func makeGenerator(_ decoding: DecodingChoice, for model: ServedModel) -> any TokenGenerator {
        makeGenerator(decoding, for: model, schedule: nil)
    }

    public func makeGenerator(_ decoding: DecodingChoice, for model: ServedModel, schedule: TreeSchedule?) -> any TokenGenerator {
        switch decoding {
        case .plain:
            return PlainGenerator(model: model.model, tokenizer: model.tokenizer, maxBatch: maxBatch, combiner: model.combiner)
        case .eagle(let head, let tree):
            var generator = SpeculativeGenerator(model: model.model, head: head, tokenizer: model.tokenizer, tree: tree, maxBatch: maxBatch)
            generator.policy = model.treePolicy
            generator.combiner = model.combiner
            generator.schedule = schedule
            return generator
        }
    }

    /// The decoding a request asks for: plain; EAGLE with the tree it names (its fields over
    /// the CPU default); or, when EAGLE is on and every tree field is left at 0, the tree —
    /// or plain decoding — the model's `TreePolicy` expects to be fastest.
    public func decoding(_ options: Eagle_V1_SpeculativeOptions, for model: ServedModel, sampled: Bool) throws(ServiceError) -> DecodingDecision {
        guard options.enabled else { return DecodingDecision(.plain, reason: "requested", expectedTokensPerStep: 1) }
        guard let head = model.head else { throw .failedPrecondition("model \(model.name) has no draft head") }
        let tree: TreeConfig
        if options.staticTree {
            guard options.treeDepth == 0, options.treeTopK == 0, options.totalTokens == 0 else {
                throw .invalidArgument("static_tree uses the EAGLE-1 tree mc_sim_7b_63; leave tree_depth, tree_top_k and total_tokens at 0")
            }
            tree = .staticTree(choices: TreeConfig.mcSim7b63)
        } else if options.treeDepth == 0, options.treeTopK == 0, options.totalTokens == 0 {
            guard let policy = model.treePolicy else {
                return DecodingDecision(.eagle(head, .cpuDefault), reason: "automatic: the CPU default tree (the model was not calibrated)",
                                        expectedTokensPerStep: 0)
            }
            let auto = policy.choose(sampled: sampled, company: model.expectedCompany)
            let choice: DecodingChoice = auto.tree.map { .eagle(head, $0) } ?? .plain
            return DecodingDecision(choice, reason: "automatic: " + auto.reason, expectedTokensPerStep: auto.expectedTokensPerStep,
                                    company: auto.company, automatic: true)
        } else {
            // The CPU default is a dynamic tree; its fields fill what the request leaves at 0.
            guard case .dynamic(let depth, let topK, let total) = TreeConfig.cpuDefault else {
                preconditionFailure("TreeConfig.cpuDefault must be a dynamic tree")
            }
            tree = .dynamic(depth: options.treeDepth == 0 ? depth : Int(min(options.treeDepth, 1024)),
                            topK: options.treeTopK == 0 ? topK : Int(min(options.treeTopK, 1024)),
                            totalTokens: options.totalTokens == 0 ? total : Int(min(options.totalTokens, 1024)))
        }
        do { try tree.validate(maxVerified: maxBatch) } catch { throw .invalidArgument("\(error)") }
        return DecodingDecision(.eagle(head, tree), reason: "requested", expectedTokensPerStep: 0)
    }
}
