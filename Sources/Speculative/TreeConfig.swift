/// How draft trees are shaped.
public enum TreeConfig: Sendable, Hashable {
    /// EAGLE-2: expand the `topK` best nodes per level by cumulative draft log-probability
    /// down to `depth` draft tokens, then keep the best `totalTokens - 1` nodes overall.
    /// `totalTokens` counts the root, i.e. it is the number of tokens verified per step.
    case dynamic(depth: Int, topK: Int, totalTokens: Int)
    /// EAGLE-1: a fixed tree given as paths of child ranks, e.g. [[0], [1], [0, 0]] — the
    /// best and second-best first tokens, and the best continuation of the best.
    case staticTree(choices: [[Int]])

    /// The official EAGLE-1 tree `mc_sim_7b_63`: 25 draft nodes, depth 5.
    public static let mcSim7b63: [[Int]] = [
        [0], [1], [2], [3], [0, 0], [0, 1], [0, 2], [1, 0], [1, 1], [2, 0], [2, 1], [3, 0],
        [0, 0, 0], [0, 0, 1], [0, 0, 2], [0, 1, 0], [0, 1, 1], [0, 2, 0], [0, 2, 1], [1, 0, 0],
        [0, 0, 0, 0], [0, 0, 0, 1], [0, 0, 0, 2], [0, 0, 0, 0, 0], [0, 0, 0, 0, 1],
    ]

    /// The default for CPU serving, chosen with `eagle-bench eagle --sweep` on the memory-bound
    /// twin with the BF16 engine (docs/speculative.md): a pass of 2–3 tokens costs what one
    /// token's does, from 4 tokens on the pass is compute-bound (AVX2, 2 cores), so the best
    /// tree is a chain of two drafts — three verified tokens (2.2× plain; six tokens: 1.3–1.7×).
    public static let cpuDefault = TreeConfig.dynamic(depth: 2, topK: 1, totalTokens: 3)

    /// Tokens verified per step (root included).
    public var verifiedTokens: Int {
        switch self {
        case .dynamic(_, _, let total): return total
        case .staticTree(let choices): return choices.count + 1
        }
    }

    /// Rejects shapes that cannot be drafted.
    public func validate(maxVerified: Int) throws(SpeculativeError) {
        switch self {
        case .dynamic(let depth, let topK, let total):
            guard depth >= 1, depth <= 32 else { throw .invalidTree("depth must be in 1...32, got \(depth)") }
            guard topK >= 1, topK <= 64 else { throw .invalidTree("top_k must be in 1...64, got \(topK)") }
            guard total >= 2 else { throw .invalidTree("total_tokens must be ≥ 2 (the root and one draft), got \(total)") }
        case .staticTree(let choices):
            guard !choices.isEmpty else { throw .invalidTree("a static tree needs at least one choice") }
            let set = Set(choices)
            guard set.count == choices.count else { throw .invalidTree("duplicate paths in the static tree") }
            for path in choices {
                guard !path.isEmpty, path.allSatisfy({ $0 >= 0 && $0 < 64 }) else {
                    throw .invalidTree("paths must be non-empty lists of ranks in 0..<64: \(path)")
                }
                guard path.count == 1 || set.contains(Array(path.dropLast())) else {
                    throw .invalidTree("path \(path) has no parent path \(Array(path.dropLast()))")
                }
            }
        }
        guard verifiedTokens <= maxVerified else {
            throw .invalidTree("\(verifiedTokens) tokens per step exceeds the maximum of \(maxVerified)")
        }
    }
}
