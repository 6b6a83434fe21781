import Inference
import Tokenization

/// One step's draft: a tree of candidate continuations rooted at the last sampled token.
///
/// Node 0 is the root (the token sampled last step, not yet in the target's cache); every
/// other node is a draft token whose parent precedes it. The target verifies all nodes in
/// one forward pass: node i sits at cache row `base + i` and rotary position
/// `base + depth[i]`, and sees exactly its ancestors (the ancestor mask).
public struct DraftTree: Sendable, Equatable {
    public let tokens: [TokenID]
    /// Parent node of each node; -1 for the root.
    public let parents: [Int]
    /// Distance from the root (root 0).
    public let depths: [Int]
    /// Children of each node, in the order acceptance tries them (best draft score first).
    public let children: [[Int]]

    /// Builds a tree; parents must precede children.
    public init(tokens: [TokenID], parents: [Int]) {
        precondition(tokens.count == parents.count && parents.first == -1, "a tree needs a root")
        self.tokens = tokens
        self.parents = parents
        var depths = [Int](repeating: 0, count: tokens.count)
        var children = [[Int]](repeating: [], count: tokens.count)
        for i in 1..<max(tokens.count, 1) {
            precondition(parents[i] >= 0 && parents[i] < i, "parents must precede children")
            depths[i] = depths[parents[i]] + 1
            children[parents[i]].append(i)
        }
        self.depths = depths
        self.children = children
    }

    public var count: Int { tokens.count }
    public var maxDepth: Int { depths.max() ?? 0 }

    /// Whether `ancestor` is `node` or lies on its path to the root.
    public func isAncestor(_ ancestor: Int, of node: Int) -> Bool {
        var n = node
        while n > ancestor { n = parents[n] }
        return n == ancestor
    }

    /// The verification mask: node i sees the committed context (`base` rows) and its ancestors.
    public func ancestorMask(base: Int) -> AttentionMask {
        AttentionMask(start: base, newTokens: count) { i, j in isAncestor(j, of: i) }
    }

    /// Rotary positions of the nodes when the root sits at position `base`.
    public func positions(base: Int) -> [Int32] { depths.map { Int32(base + $0) } }

    /// Root-to-leaf paths (node indices), one per leaf.
    public var paths: [[Int]] {
        (0..<count).filter { children[$0].isEmpty }.map { leaf in
            var path = [leaf]
            while let last = path.last, parents[last] >= 0 { path.append(parents[last]) }
            return path.reversed()
        }
    }
}
