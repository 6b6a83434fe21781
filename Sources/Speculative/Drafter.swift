import Inference
import Tokenization

/// The draft phase: grows a `DraftTree` from the draft head, EAGLE-1 static or EAGLE-2
/// dynamic, starting from the head's prediction at the root.
///
/// Tree nodes are appended to the draft cache while drafting (each sees the committed
/// context and its own ancestors) and dropped again at the end: the draft cache only
/// keeps accepted context between steps.
///
/// Nothing is allocated per step once the buffers have grown to the shape's size: the
/// static tree's levels are planned once, candidate nodes, frontiers, the head pass's
/// inputs and mask, and the tree itself are rebuilt in place.
final class Drafter {
    let session: DraftSession
    let config: TreeConfig
    private let hidden: Int
    private let rootFeature: FloatBuffer   // [hidden] f̂ at the root, from the last commit pass
    private let rootLogits: FloatBuffer    // [vocab] draft logits for the root's children
    private let bank: FloatBuffer          // [maxRows × hidden] f̂ of expanded nodes, by draft row − base
    private let maxRows: Int
    private var topK: TopK
    private let plan: StaticPlan?

    /// Candidate nodes of the step being drafted, in creation order (parents first).
    private var pool = Pool()
    /// Pool nodes expanded by the next head pass, and the candidates of the level after.
    private var frontier: [Int] = []
    private var candidates: [Int] = []
    /// Static trees: the pool node of each planned path (-1: not drafted this step), and the
    /// groups of the level being drafted whose parent was.
    private var nodeOfPath: [Int] = []
    private var present: [Int] = []
    /// One head pass's inputs.
    private var tokens: [TokenID] = []
    private var positions: [Int32] = []
    private var features: [UnsafePointer<Float>] = []
    private var mask = AttentionMask(start: 0, rows: 0, columns: 0, allowed: [])
    /// The tree handed out by `draft`, rebuilt in place every step.
    private var tree: DraftTree

    init(session: DraftSession, config: TreeConfig) {
        self.session = session
        self.config = config
        hidden = session.head.shape.hiddenSize
        switch config {
        case .dynamic(let depth, let k, let total):
            let drafted = Self.draftedShape(depth: depth, k: k, keeping: total - 1)
            maxRows = max(1, (drafted.depth - 1) * drafted.k)
            plan = nil
        case .staticTree(let choices):
            maxRows = choices.count
            plan = StaticPlan(choices)
        }
        rootFeature = FloatBuffer(count: hidden)
        rootLogits = FloatBuffer(count: session.head.draftVocabSize)
        bank = FloatBuffer(count: maxRows * hidden)
        topK = TopK(capacity: 64)
        tree = DraftTree(capacity: config.verifiedTokens)
        nodeOfPath = [Int](repeating: -1, count: plan?.rank.count ?? 0)
    }

    /// Takes the root's prediction from row `row` of the draft's last pass.
    func setRoot(fromRow row: Int) {
        rootFeature.pointer.update(from: session.feature(row: row), count: hidden)
        rootLogits.pointer.update(from: session.logits(row: row).baseAddress!, count: session.head.draftVocabSize)
    }

    /// Drafts a tree under `root`; at most `limit` nodes (root included).
    func draft(root: TokenID, limit: Int) throws(InferenceError) -> DraftTree {
        pool.reset()
        let base = session.length
        defer { session.truncate(to: base) }
        guard limit >= 2 else {
            tree.rebuild(count: 1) { _ in (root, -1) }
            return tree
        }
        switch config {
        case .dynamic(let depth, let k, let total):
            let keeping = min(total, limit) - 1
            let drafted = Self.draftedShape(depth: depth, k: k, keeping: keeping)
            // A chain (k = 1) keeps every drafted node: scores are never compared (no softmax).
            try draftDynamic(base: base, depth: drafted.depth, k: drafted.k, normalize: drafted.k > 1)
            pool.buildTree(&tree, root: root, keeping: keeping)
        case .staticTree:
            try draftStatic(base: base, plan: plan!)
            pool.buildTree(&tree, root: root, keeping: limit - 1)
        }
        return tree
    }

    // MARK: - EAGLE-2

    /// The part of a dynamic shape that can reach the `keeping` verified nodes: nothing deeper
    /// than `keeping` or ranked below `keeping` within a level can be kept — a node there has
    /// at least that many better nodes (its ancestors — a child never outscores its parent —,
    /// or the better-ranked nodes of its level), and its descendants score no higher. Drafting
    /// (and sizing buffers for) more would be for nothing: a request asking depth 14, top-k 29
    /// and 4 tokens (found by the frames fuzzer) drafted 13 levels of 29 rows per step.
    private static func draftedShape(depth: Int, k: Int, keeping: Int) -> (depth: Int, k: Int) {
        (min(depth, keeping), min(k, keeping))
    }

    private func draftDynamic(base: Int, depth: Int, k: Int, normalize: Bool) throws(InferenceError) {
        topK.select(UnsafeMutableBufferPointer(start: rootLogits.pointer, count: session.head.draftVocabSize), k: k,
                    normalize: normalize)
        frontier.removeAll(keepingCapacity: true)
        for j in 0..<topK.tokens.count {
            frontier.append(pool.add(token: session.head.targetToken(topK.tokens[j]), parent: -1, score: topK.logProbs[j], depth: 1))
        }
        var level = 2
        while level <= depth, pool.expandedRows + frontier.count <= maxRows,
              base + pool.expandedRows + frontier.count <= session.capacity {
            try expand(base: base)
            candidates.removeAll(keepingCapacity: true)
            for i in 0..<frontier.count {
                let node = frontier[i]
                topK.select(session.logits(row: i), k: k, normalize: normalize)
                for j in 0..<topK.tokens.count {
                    candidates.append(pool.add(token: session.head.targetToken(topK.tokens[j]), parent: node,
                                               score: pool.score[node] + topK.logProbs[j], depth: level))
                }
            }
            pool.selectBest(of: candidates, count: k, into: &frontier)
            level += 1
        }
    }

    // MARK: - EAGLE-1

    private func draftStatic(base: Int, plan: StaticPlan) throws(InferenceError) {
        for i in nodeOfPath.indices { nodeOfPath[i] = -1 }
        topK.select(UnsafeMutableBufferPointer(start: rootLogits.pointer, count: session.head.draftVocabSize), k: plan.rootK)
        for path in plan.roots where plan.rank[path] < topK.tokens.count {
            nodeOfPath[path] = pool.add(token: session.head.targetToken(topK.tokens[plan.rank[path]]), parent: -1,
                                        score: topK.logProbs[plan.rank[path]], depth: 1)
        }
        for (l, groups) in plan.levels.enumerated() {
            // Parents in first-seen order; a parent missing (rank beyond the vocabulary) drops its subtree.
            frontier.removeAll(keepingCapacity: true)
            present.removeAll(keepingCapacity: true)
            for g in groups.indices where nodeOfPath[groups[g].parent] >= 0 {
                frontier.append(nodeOfPath[groups[g].parent])
                present.append(g)
            }
            guard !frontier.isEmpty, base + pool.expandedRows + frontier.count <= session.capacity else { break }
            try expand(base: base)
            for i in present.indices {
                let group = groups[present[i]], parent = frontier[i]
                topK.select(session.logits(row: i), k: group.k)
                for path in group.children where plan.rank[path] < topK.tokens.count {
                    nodeOfPath[path] = pool.add(token: session.head.targetToken(topK.tokens[plan.rank[path]]), parent: parent,
                                                score: pool.score[parent] + topK.logProbs[plan.rank[path]], depth: l + 2)
                }
            }
        }
    }

    // MARK: - Shared

    /// Runs the draft head on the `frontier` nodes (each input: its parent's predicted feature
    /// and its own token), appending them to the draft cache; leaves their logits in the
    /// session's rows 0..<frontier.count and their features in the bank.
    private func expand(base: Int) throws(InferenceError) {
        let n = frontier.count, firstRow = pool.expandedRows, columns = firstRow + n
        tokens.removeAll(keepingCapacity: true)
        positions.removeAll(keepingCapacity: true)
        features.removeAll(keepingCapacity: true)
        mask.reshape(start: base, rows: n, columns: columns)
        for (i, node) in frontier.enumerated() {
            tokens.append(pool.token[node])
            positions.append(Int32(base + pool.depth[node] - 1))
            let parent = pool.parent[node]
            features.append(UnsafePointer(parent < 0 ? rootFeature.pointer : bank.pointer + pool.row[parent] * hidden))
            // Each node sees itself and its expanded ancestors.
            mask.allowed[i * columns + firstRow + i] = true
            var p = parent
            while p >= 0 {
                mask.allowed[i * columns + pool.row[p]] = true
                p = pool.parent[p]
            }
        }
        try tokens.withUnsafeBufferPointer { t throws(InferenceError) in
            try positions.withUnsafeBufferPointer { p throws(InferenceError) in
                try features.withUnsafeBufferPointer { f throws(InferenceError) in
                    try session.forward(tokens: t, features: f, ownFeatures: true, positions: p, mask: mask, withLogits: true)
                }
            }
        }
        for (i, node) in frontier.enumerated() {
            (bank.pointer + (firstRow + i) * hidden).update(from: session.feature(row: i), count: hidden)
            pool.row[node] = firstRow + i
        }
        pool.expandedRows += n
    }
}

/// A static tree's paths of child ranks, planned once: sorted by length then ranks, each
/// path's rank and the groups of each level (a parent path and its children in rank order).
private struct StaticPlan {
    struct Group {
        var parent: Int        // path index
        var children: [Int]    // path indices, by rank
        var k: Int             // top-k that reaches the last child's rank
    }
    /// Per path (in sorted order): its last rank.
    let rank: [Int]
    /// Paths of length 1, and the top-k that reaches them.
    let roots: [Int]
    let rootK: Int
    /// Levels of length 2, 3, …: groups in first-seen parent order.
    let levels: [[Group]]

    init(_ choices: [[Int]]) {
        let sorted = choices.sorted { $0.count != $1.count ? $0.count < $1.count : $0.lexicographicallyPrecedes($1) }
        var index: [[Int]: Int] = [:]
        for (i, path) in sorted.enumerated() { index[path] = i }
        let rank = sorted.map { $0.last! }
        let roots = sorted.indices.filter { sorted[$0].count == 1 }
        self.rank = rank
        self.roots = roots
        rootK = (roots.map { rank[$0] }.max() ?? 0) + 1
        var levels: [[Group]] = []
        for length in stride(from: 2, through: sorted.last?.count ?? 1, by: 1) {
            var groups: [Group] = []
            for i in sorted.indices where sorted[i].count == length {
                let parent = index[Array(sorted[i].dropLast())]!
                if let g = groups.firstIndex(where: { $0.parent == parent }) {
                    groups[g].children.append(i)
                    groups[g].k = max(groups[g].k, rank[i] + 1)
                } else {
                    groups.append(Group(parent: parent, children: [i], k: rank[i] + 1))
                }
            }
            levels.append(groups)
        }
        self.levels = levels
    }
}

/// Candidate draft nodes as parallel arrays, in creation order.
private struct Pool {
    var token: [TokenID] = []
    var parent: [Int] = []      // pool index, -1 = the root
    var score: [Float] = []     // cumulative draft log-probability
    var depth: [Int] = []
    var row: [Int] = []         // draft cache row − base once expanded, else -1
    var expandedRows = 0
    private var kept: [Int] = []
    private var treeIndex: [Int] = []

    mutating func reset() {
        token.removeAll(keepingCapacity: true)
        parent.removeAll(keepingCapacity: true)
        score.removeAll(keepingCapacity: true)
        depth.removeAll(keepingCapacity: true)
        row.removeAll(keepingCapacity: true)
        expandedRows = 0
    }

    mutating func add(token t: TokenID, parent p: Int, score s: Float, depth d: Int) -> Int {
        token.append(t)
        parent.append(p)
        score.append(s)
        depth.append(d)
        row.append(-1)
        return token.count - 1
    }

    /// Whether node `a` ranks before node `b`: higher score, ties to the earlier node.
    private func before(_ a: Int, _ b: Int) -> Bool { score[a] != score[b] ? score[a] > score[b] : a < b }

    /// The `count` best of `candidates` (in creation order) by score, best first, into `out`.
    func selectBest(of candidates: some Sequence<Int>, count: Int, into out: inout [Int]) {
        out.removeAll(keepingCapacity: true)
        for c in candidates { insert(c, count: count, into: &out) }
    }

    private func insert(_ c: Int, count: Int, into out: inout [Int]) {
        guard count > 0, out.count < count || before(c, out[out.count - 1]) else { return }
        if out.count == count { out.removeLast() }
        var at = out.count
        out.append(c)
        while at > 0, before(c, out[at - 1]) {
            out[at] = out[at - 1]
            at -= 1
        }
        out[at] = c
    }

    /// Rebuilds `tree` as the root and the `keeping` best nodes. A child never outscores its
    /// parent (log-probabilities are ≤ 0) and ties go to the earlier node, so every kept
    /// node's parent is kept too; creation order puts parents first.
    mutating func buildTree(_ tree: inout DraftTree, root: TokenID, keeping: Int) {
        // Worked on out of `self` (the selection reads the scores while it writes the list).
        var kept: [Int] = []
        swap(&kept, &self.kept)
        defer { swap(&kept, &self.kept) }
        selectBest(of: token.indices, count: keeping, into: &kept)
        // Creation order (insertion sort: at most a few dozen nodes).
        for i in kept.indices.dropFirst() {
            let node = kept[i]
            var at = i
            while at > 0, kept[at - 1] > node {
                kept[at] = kept[at - 1]
                at -= 1
            }
            kept[at] = node
        }
        treeIndex.removeAll(keepingCapacity: true)
        treeIndex.append(contentsOf: repeatElement(-1, count: token.count))
        var n = 0
        for i in kept.indices {
            let node = kept[i]
            // An orphan is unreachable by the argument above; never emit one.
            guard parent[node] < 0 || treeIndex[parent[node]] >= 0 else { continue }
            treeIndex[node] = n + 1
            kept[n] = node
            n += 1
        }
        tree.rebuild(count: n + 1) { i in
            guard i > 0 else { return (root, -1) }
            let node = kept[i - 1]
            return (token[node], parent[node] < 0 ? 0 : treeIndex[parent[node]])
        }
    }
}
