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
        path.dropFirst().map { tree.tokens[$0] } + [bonus]
    }
}

/// The acceptance rule for sampled decoding. `.exact` is the only one used in serving;
/// `.withoutResidual` deliberately omits the residual update so tests can show that the
/// statistical test catches a broken rule.
enum AcceptanceRule {
    case exact
    case withoutResidual
}

/// The accept phase: walks the verified tree and decides which drafts the target keeps.
///
/// Greedy: follow the child whose token equals the target's argmax; the bonus is the argmax
/// where no child matches. Sampling (multi-candidate speculative sampling with
/// deterministic drafts, as EAGLE-2): at each node, with p the target's processed
/// distribution, try the children in order: accept child x with probability p(x) / (mass
/// left in p); on rejection set p(x) = 0; if every child fails, draw the bonus from what
/// is left of p, renormalised. The emitted tokens then follow the target distribution exactly.
struct Acceptor {
    private var probabilities: [Float]   // [vocab] p at the current node, updated in place
    var rule = AcceptanceRule.exact

    init(vocabularySize: Int) {
        probabilities = [Float](repeating: 0, count: vocabularySize)
    }

    mutating func accept(tree: DraftTree, logits: (Int) -> UnsafeMutableBufferPointer<Float>, sampler: inout Sampler) -> Acceptance {
        var path = [0]
        var node = 0
        if sampler.params.isGreedy {
            while true {
                let best = Sampler.argmax(UnsafeBufferPointer(logits(node)))
                guard let child = tree.children[node].first(where: { tree.tokens[$0] == best }) else {
                    return Acceptance(path: path, bonus: best)
                }
                path.append(child)
                node = child
            }
        }
        while true {
            let bonus: TokenID? = probabilities.withUnsafeMutableBufferPointer { p in
                sampler.distribution(logits(node), into: p)
                let unadjusted = rule == .withoutResidual ? Array(p) : []
                // p stays unnormalised: `mass` is what the residual still holds, so a
                // rejection costs O(1) instead of renormalising the vocabulary.
                var mass: Float = 1
                for child in tree.children[node] {
                    let x = Int(tree.tokens[child])
                    let px = p[x]
                    if sampler.nextUnit() * Double(mass) < Double(px) {
                        node = child
                        return nil
                    }
                    // Residual: the rejected token can no longer be emitted here.
                    p[x] = 0
                    mass -= px
                }
                if rule == .withoutResidual {
                    return unadjusted.withUnsafeBufferPointer { sampler.draw(from: $0) }
                }
                // `draw` normalises by the total, i.e. samples from the residual.
                return sampler.draw(from: UnsafeBufferPointer(p))
            }
            if let bonus { return Acceptance(path: path, bonus: bonus) }
            path.append(node)
        }
    }
}
