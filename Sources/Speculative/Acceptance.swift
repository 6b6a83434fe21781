import Inference
import Tokenization

/// What verification decided: the accepted path through the tree and the bonus token.
public struct Acceptance: Sendable, Equatable {
    /// Accepted nodes from the root (always node 0) down.
    public var path: [Int]
    /// The token the target adds after the path: its own choice where the draft stopped.
    public var bonus: TokenID

    /// Tokens emitted this step: the accepted draft tokens, then the bonus.
    public func emitted(from tree: DraftTree) -> [TokenID] {
        var out: [TokenID] = []
        emit(from: tree, into: &out)
        return out
    }

    /// Writes the emitted tokens into `out`, reusing its storage.
    public func emit(from tree: DraftTree, into out: inout [TokenID]) {
        out.removeAll(keepingCapacity: true)
        for node in path.dropFirst() { out.append(tree.tokens[node]) }
        out.append(bonus)
    }
}

/// The acceptance rule for sampled decoding. `.exact` is the only one used in serving;
/// `.noiseKeyedByNode` deliberately keys the noise that decides a draft by the tree node
/// instead of the position (the bonus still by position), so tests can show that the
/// statistical and equality tests catch a broken rule.
enum AcceptanceRule {
    case exact
    case noiseKeyedByNode
}

/// The accept phase: walks the verified tree and decides which drafts the target keeps.
///
/// Greedy: follow the child whose token equals the target's argmax; the bonus is the argmax
/// where no child matches. Sampling (seed-exact): at a node of depth d the target's token
/// for position root + d + 1 is fixed by `Sampler.choose` — position-keyed noise over the
/// target's processed distribution p — before the drafts are looked at; follow the child
/// whose token equals it, and where none does it is the bonus. Each emitted token follows p
/// exactly; the probability that some child is accepted is the children's total mass under
/// p, as with the residual rule; and the output equals plain sampling with the same seed.
struct Acceptor {
    private var probabilities: [Float]   // [vocab] p at the current node
    private var path: [Int] = []         // reused step to step (the caller lets go of each result)
    var rule = AcceptanceRule.exact

    init(vocabularySize: Int) {
        probabilities = [Float](repeating: 0, count: vocabularySize)
    }

    /// `rootPosition`: the absolute sequence position of the tree's root token.
    mutating func accept(
        tree: DraftTree, rootPosition: Int, logits: (Int) -> UnsafeMutableBufferPointer<Float>, sampler: inout Sampler
    ) throws(InferenceError) -> Acceptance {
        path.removeAll(keepingCapacity: true)
        path.append(0)
        var node = 0
        var position = rootPosition + 1
        while true {
            let target: TokenID, match: TokenID
            try Sampler.validate(UnsafeBufferPointer(logits(node)), position: position)
            if sampler.params.isGreedy {
                target = Sampler.argmax(UnsafeBufferPointer(logits(node)))
                match = target
            } else {
                (target, match) = probabilities.withUnsafeMutableBufferPointer { p in
                    sampler.distribution(logits(node), into: p)
                    let token = sampler.choose(from: UnsafeBufferPointer(p), position: position)
                    let keyedByNode = rule == .noiseKeyedByNode
                        ? sampler.choose(from: UnsafeBufferPointer(p), position: -1 - node) : token
                    return (token, keyedByNode)
                }
            }
            guard let child = tree.children(of: node).first(where: { tree.tokens[$0] == match }) else {
                return Acceptance(path: path, bonus: target)
            }
            path.append(child)
            node = child
            position += 1
        }
    }
}
