import Inference
import Speculative
import Wire

/// How one request is decoded, decided once when the request is planned: the wire's
/// `SpeculativeOptions` stop at `GeneratorFactory.decoding`, and the worker gets this.
public enum DecodingChoice: Sendable {
    case plain
    /// EAGLE over the model's head with a validated tree.
    case eagle(EagleHead, TreeConfig)
}

/// Chooses and builds the token generator for each generation request.
///
/// The single place where decoding strategies are wired in: plain decoding, or EAGLE
/// speculative decoding when the request asks for it and the model has a draft head.
public protocol GeneratorFactory: Sendable {
    /// Translates and checks a request's options, before it is queued (typed errors for
    /// requests that cannot be served as asked).
    func decoding(_ options: Eagle_V1_SpeculativeOptions, for model: ServedModel) throws(ServiceError) -> DecodingChoice
    /// Builds the generator for one request, on the worker thread that will run it.
    /// Its KV cache lives as long as the generator: it is freed when the request ends.
    func makeGenerator(_ decoding: DecodingChoice, for model: ServedModel) -> any TokenGenerator
}

/// Plain decoding, or `SpeculativeGenerator` over the model's EAGLE head.
public struct StandardGeneratorFactory: GeneratorFactory {
    /// Tokens of one target forward pass (prefill chunks, verified trees).
    public var maxBatch = 64

    public init() {}

    public func makeGenerator(_ decoding: DecodingChoice, for model: ServedModel) -> any TokenGenerator {
        switch decoding {
        case .plain:
            return PlainGenerator(model: model.model, tokenizer: model.tokenizer, maxBatch: maxBatch)
        case .eagle(let head, let tree):
            return SpeculativeGenerator(model: model.model, head: head, tokenizer: model.tokenizer, tree: tree, maxBatch: maxBatch)
        }
    }

    /// The decoding a request asks for: plain, or EAGLE with its options over the CPU defaults.
    public func decoding(_ options: Eagle_V1_SpeculativeOptions, for model: ServedModel) throws(ServiceError) -> DecodingChoice {
        guard options.enabled else { return .plain }
        guard let head = model.head else { throw .failedPrecondition("model \(model.name) has no draft head") }
        let tree: TreeConfig
        if options.staticTree {
            guard options.treeDepth == 0, options.treeTopK == 0, options.totalTokens == 0 else {
                throw .invalidArgument("static_tree uses the EAGLE-1 tree mc_sim_7b_63; leave tree_depth, tree_top_k and total_tokens at 0")
            }
            tree = .staticTree(choices: TreeConfig.mcSim7b63)
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
        return .eagle(head, tree)
    }
}
