import Inference
import Tokenization

/// One step's draft: a tree of candidate continuations rooted at the last sampled token.
///
/// Node 0 is the root (the token sampled last step, not yet in the target's cache); every
/// other node is a draft token whose parent precedes it. The target verifies all nodes in
/// one forward pass: node i sits at cache row `base + i` and rotary position
/// `base + depth[i]`, and sees exactly its ancestors (the ancestor mask).
///
/// Storage is flat and reusable: the drafter rebuilds one tree in place every step
/// (`rebuild`), so a step allocates nothing once the buffers have grown to the tree's size.
public struct DraftTree: Sendable, Equatable {
    public private(set) var tokens: [TokenID] = []
    /// Parent node of each node; -1 for the root.
    public private(set) var parents: [Int] = []
    /// Distance from the root (root 0).
    public private(set) var depths: [Int] = []
    /// Children of node i are `childList[childStart[i]..<childStart[i + 1]]`, in node order,
    /// which is the order acceptance tries them (best draft score first).
    private var childStart: [Int] = [0]
    private var childList: [Int] = []

    /// Builds a tree; parents must precede children.
    public init(tokens: [TokenID], parents: [Int]) {
        precondition(tokens.count == parents.count && parents.first == -1, "a tree needs a root")
        rebuild(count: tokens.count) { (tokens[$0], parents[$0]) }
    }

    /// An empty tree with room for `capacity` nodes, to `rebuild` in place.
    init(capacity: Int) {
        tokens.reserveCapacity(capacity)
        parents.reserveCapacity(capacity)
        depths.reserveCapacity(capacity)
        childStart.reserveCapacity(capacity + 1)
        childList.reserveCapacity(capacity)
    }

    /// Replaces the tree with `count` nodes, node i being `node(i)` = (token, parent); node 0
    /// is the root (parent -1), every other parent precedes its child. Reuses the storage.
    mutating func rebuild(count: Int, _ node: (Int) -> (token: TokenID, parent: Int)) {
        tokens.removeAll(keepingCapacity: true)
        parents.removeAll(keepingCapacity: true)
        depths.removeAll(keepingCapacity: true)
        childStart.removeAll(keepingCapacity: true)
        childList.removeAll(keepingCapacity: true)
        for i in 0..<count {
            let (token, parent) = node(i)
            precondition(i == 0 ? parent == -1 : parent >= 0 && parent < i, "parents must precede children")
            tokens.append(token)
            parents.append(parent)
            depths.append(i == 0 ? 0 : depths[parent] + 1)
        }
        // Children grouped by parent, node order kept within a group (a counting sort):
        // counts, their exclusive prefix sums (group starts), a fill that advances each start
        // to its group's end, and a shift back by one group.
        childStart.append(contentsOf: repeatElement(0, count: count + 1))
        for i in 1..<max(count, 1) { childStart[parents[i]] += 1 }
        var sum = 0
        for k in 0...count { (childStart[k], sum) = (sum, sum + childStart[k]) }
        childList.append(contentsOf: repeatElement(0, count: max(count - 1, 0)))
        for i in 1..<max(count, 1) {
            childList[childStart[parents[i]]] = i
            childStart[parents[i]] += 1
        }
        for k in stride(from: count, to: 0, by: -1) { childStart[k] = childStart[k - 1] }
        childStart[0] = 0
    }

    public var count: Int { tokens.count }
    public var maxDepth: Int { depths.max() ?? 0 }

    /// Children of `node`, in the order acceptance tries them.
    public func children(of node: Int) -> ArraySlice<Int> { childList[childStart[node]..<childStart[node + 1]] }

    /// Whether `ancestor` is `node` or lies on its path to the root.
    public func isAncestor(_ ancestor: Int, of node: Int) -> Bool {
        var n = node
        while n > ancestor { n = parents[n] }
        return n == ancestor
    }

    /// The verification mask: node i sees the committed context (`base` rows) and its ancestors.
    public func ancestorMask(base: Int) -> AttentionMask {
        var mask = AttentionMask(start: base, rows: 0, columns: 0, allowed: [])
        fillAncestorMask(&mask, base: base)
        return mask
    }

    /// Writes the verification mask into `mask`, reusing its storage.
    public func fillAncestorMask(_ mask: inout AttentionMask, base: Int) {
        let n = count
        mask.reshape(start: base, rows: n, columns: n)
        for i in 0..<n {
            var a = i
            while a >= 0 {
                mask.allowed[i * n + a] = true
                a = parents[a]
            }
        }
    }

    /// Rotary positions of the nodes when the root sits at position `base`.
    public func positions(base: Int) -> [Int32] {
        var out: [Int32] = []
        fillPositions(&out, base: base)
        return out
    }

    /// Writes the rotary positions into `positions`, reusing its storage.
    public func fillPositions(_ positions: inout [Int32], base: Int) {
        positions.removeAll(keepingCapacity: true)
        for d in depths { positions.append(Int32(base + d)) }
    }

    /// Root-to-leaf paths (node indices), one per leaf.
    public var paths: [[Int]] {
        (0..<count).filter { children(of: $0).isEmpty }.map { leaf in
            var path = [leaf]
            while let last = path.last, parents[last] >= 0 { path.append(parents[last]) }
            return path.reversed()
        }
    }
}
