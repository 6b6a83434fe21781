import Foundation
import Testing
@testable import Speculative
import Inference
import Tokenization

/// The drafter keeps its buffers between steps, so it is checked against this reference:
/// the straightforward drafter it replaced (fresh arrays, nested ancestor lists, sorted
/// copies every level), which grows the same trees by the same rules.
final class ReferenceDrafter {
    let session: DraftSession
    let config: TreeConfig
    private let hidden: Int
    private let rootFeature: FloatBuffer   // [hidden] f̂ at the root, from the last commit pass
    private let rootLogits: FloatBuffer    // [vocab] draft logits for the root's children
    private let bank: FloatBuffer          // [maxRows × hidden] f̂ of expanded nodes, by draft row − base
    private let maxRows: Int
    private var topK: TopK

    /// Candidate nodes of the step being drafted, in creation order (parents first).
    private var pool = ReferencePool()

    init(session: DraftSession, config: TreeConfig) {
        self.session = session
        self.config = config
        hidden = session.head.shape.hiddenSize
        switch config {
        case .dynamic(let depth, let k, _): maxRows = max(1, (depth - 1) * k)
        case .staticTree(let choices): maxRows = choices.count
        }
        rootFeature = FloatBuffer(count: hidden)
        rootLogits = FloatBuffer(count: session.head.draftVocabSize)
        bank = FloatBuffer(count: maxRows * hidden)
        topK = TopK(capacity: 64)
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
        guard limit >= 2 else { return DraftTree(tokens: [root], parents: [-1]) }
        switch config {
        case .dynamic(let depth, let k, let total):
            let keeping = min(total, limit) - 1
            if k == 1 {
                // A chain: nodes past what is kept would be drafted for nothing, and with
                // every drafted node kept the scores are never compared (no softmax needed).
                try draftDynamic(base: base, depth: min(depth, keeping), k: 1, normalize: false)
            } else {
                try draftDynamic(base: base, depth: depth, k: k, normalize: true)
            }
            return pool.tree(root: root, keeping: keeping)
        case .staticTree(let choices):
            try draftStatic(base: base, choices: choices)
            return pool.tree(root: root, keeping: limit - 1)
        }
    }

    // MARK: - EAGLE-2

    private func draftDynamic(base: Int, depth: Int, k: Int, normalize: Bool) throws(InferenceError) {
        topK.select(UnsafeMutableBufferPointer(start: rootLogits.pointer, count: session.head.draftVocabSize), k: k,
                    normalize: normalize)
        var frontier: [Int] = []
        for (token, logProb) in zip(topK.tokens, topK.logProbs) {
            frontier.append(pool.add(token: session.head.targetToken(token), parent: -1, score: logProb, depth: 1))
        }
        var level = 2
        while level <= depth, pool.expandedRows + frontier.count <= maxRows,
              base + pool.expandedRows + frontier.count <= session.capacity {
            try expand(frontier, base: base)
            var children: [Int] = []
            for (i, node) in frontier.enumerated() {
                topK.select(session.logits(row: i), k: k, normalize: normalize)
                for (token, logProb) in zip(topK.tokens, topK.logProbs) {
                    children.append(pool.add(token: session.head.targetToken(token), parent: node,
                                             score: pool.score[node] + logProb, depth: level))
                }
            }
            frontier = pool.best(of: children, count: k)
            level += 1
        }
    }

    // MARK: - EAGLE-1

    private func draftStatic(base: Int, choices: [[Int]]) throws(InferenceError) {
        let sorted = choices.sorted { $0.count != $1.count ? $0.count < $1.count : $0.lexicographicallyPrecedes($1) }
        var nodeOfPath: [[Int]: Int] = [:]
        let vocab = session.head.draftVocabSize
        let firstRanks = sorted.filter { $0.count == 1 }.map { $0[0] }
        topK.select(UnsafeMutableBufferPointer(start: rootLogits.pointer, count: vocab), k: (firstRanks.max() ?? 0) + 1)
        for path in sorted where path.count == 1 && path[0] < topK.tokens.count {
            nodeOfPath[path] = pool.add(token: session.head.targetToken(topK.tokens[path[0]]), parent: -1,
                                        score: topK.logProbs[path[0]], depth: 1)
        }
        let maxLength = sorted.last?.count ?? 1
        for length in 2...max(2, maxLength) where length <= maxLength {
            let level = sorted.filter { $0.count == length }
            // Parents in first-seen order; a parent missing (rank beyond the vocabulary) drops its subtree.
            var parents: [[Int]] = []
            for path in level {
                let prefix = Array(path.dropLast())
                if nodeOfPath[prefix] != nil && !parents.contains(prefix) { parents.append(prefix) }
            }
            let frontier = parents.map { nodeOfPath[$0]! }
            guard !frontier.isEmpty, base + pool.expandedRows + frontier.count <= session.capacity else { break }
            try expand(frontier, base: base)
            for (i, prefix) in parents.enumerated() {
                let ranks = level.filter { Array($0.dropLast()) == prefix }.map { $0.last! }
                topK.select(session.logits(row: i), k: (ranks.max() ?? 0) + 1)
                let parent = frontier[i]
                for rank in ranks.sorted() where rank < topK.tokens.count {
                    nodeOfPath[prefix + [rank]] = pool.add(token: session.head.targetToken(topK.tokens[rank]), parent: parent,
                                                           score: pool.score[parent] + topK.logProbs[rank], depth: length)
                }
            }
        }
    }

    // MARK: - Shared

    /// Runs the draft head on `frontier` nodes (each input: its parent's predicted feature
    /// and its own token), appending them to the draft cache; leaves their logits in the
    /// session's rows 0..<frontier.count and their features in the bank.
    private func expand(_ frontier: [Int], base: Int) throws(InferenceError) {
        let n = frontier.count, firstRow = pool.expandedRows
        let tokens = frontier.map { pool.token[$0] }
        let positions = frontier.map { Int32(base + pool.depth[$0] - 1) }
        var ancestorRows: [[Int]] = []
        for node in frontier {
            var rows: [Int] = []
            var p = pool.parent[node]
            while p >= 0 { rows.append(pool.row[p]); p = pool.parent[p] }
            ancestorRows.append(rows)
        }
        let mask = AttentionMask(start: base, rows: n, columns: firstRow + n, allowed: (0..<n * (firstRow + n)).map { cell in
            let i = cell / (firstRow + n), j = cell % (firstRow + n)
            return j == firstRow + i || ancestorRows[i].contains(j)
        })
        let features = frontier.map { node -> UnsafePointer<Float> in
            let parent = pool.parent[node]
            return UnsafePointer(parent < 0 ? rootFeature.pointer : bank.pointer + pool.row[parent] * hidden)
        }
        try tokens.withUnsafeBufferPointer { t throws(InferenceError) in
            try positions.withUnsafeBufferPointer { p throws(InferenceError) in
                try session.forward(tokens: t, feature: { features[$0] }, ownFeatures: true, positions: p, mask: mask,
                                    withLogits: true)
            }
        }
        for (i, node) in frontier.enumerated() {
            (bank.pointer + (firstRow + i) * hidden).update(from: session.feature(row: i), count: hidden)
            pool.row[node] = firstRow + i
        }
        pool.expandedRows += n
    }
}

/// Candidate draft nodes as parallel arrays, in creation order.
private struct ReferencePool {
    var token: [TokenID] = []
    var parent: [Int] = []      // pool index, -1 = the root
    var score: [Float] = []     // cumulative draft log-probability
    var depth: [Int] = []
    var row: [Int] = []         // draft cache row − base once expanded, else -1
    var expandedRows = 0

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

    /// The `count` best of `candidates` by score (ties to the earlier node), best first.
    func best(of candidates: [Int], count: Int) -> [Int] {
        Array(candidates.sorted { score[$0] != score[$1] ? score[$0] > score[$1] : $0 < $1 }.prefix(count))
    }

    /// The tree of the root and the `keeping` best nodes. A child never outscores its
    /// parent (log-probabilities are ≤ 0) and ties go to the earlier node, so every kept
    /// node's parent is kept too; creation order puts parents first.
    func tree(root: TokenID, keeping: Int) -> DraftTree {
        let kept = best(of: Array(token.indices), count: keeping).sorted()
        var treeIndex = [Int](repeating: -1, count: token.count)
        var tokens: [TokenID] = [root], parents: [Int] = [-1]
        for node in kept {
            let p = parent[node] < 0 ? 0 : treeIndex[parent[node]]
            guard p >= 0 else { continue }  // unreachable by the argument above; never emit an orphan
            treeIndex[node] = tokens.count
            tokens.append(token[node])
            parents.append(p)
        }
        return DraftTree(tokens: tokens, parents: parents)
    }
}
