import Foundation
import Testing
@testable import Inference
import Tokenization

/// The multi-token forward pass that tree verification relies on: masked batches,
/// explicit positions, truncation and compaction must each give exactly what plain
/// sequential decoding gives.
@Suite struct MaskedForwardTests {
    let model: LlamaModel
    let prefix: [TokenID] = [5, 17, 42, 8, 63, 21, 9]

    init() throws { model = try LlamaModel(directory: fixtureModel("tiny-llama3-f16-sharded")) }

    /// Logits after feeding `tokens` one batch at a time on a fresh session.
    func sequentialLogits(_ tokens: [TokenID]) throws -> [Float] {
        let session = model.makeSession(maxBatch: 64)
        let out = try session.forward(tokens)
        return Array(out.logits(forToken: tokens.count - 1))
    }

    func maxDifference(_ a: some Collection<Float>, _ b: some Collection<Float>) -> Float {
        zip(a, b).map { abs($0 - $1) }.max() ?? .infinity
    }

    // A tree over the prefix:      a(0)
    //                             /    \
    //                          b(1)    c(2)
    //                           |
    //                          d(3)
    let treeTokens: [TokenID] = [30, 31, 32, 33]
    let parents = [-1, 0, 0, 1]

    func ancestorMask(start: Int) -> AttentionMask {
        AttentionMask(start: start, newTokens: parents.count) { i, j in
            var node = i
            while node >= 0 { if node == j { return true }; node = parents[node] }
            return false
        }
    }

    func depth(_ i: Int) -> Int { parents[i] < 0 ? 0 : 1 + depth(parents[i]) }

    func path(_ i: Int) -> [TokenID] { (parents[i] < 0 ? [] : path(parents[i])) + [treeTokens[i]] }

    @Test func treeMaskMatchesEachBranchDecodedAlone() throws {
        let session = model.makeSession(maxBatch: 16)
        _ = try session.forward(prefix)
        let positions = parents.indices.map { Int32(prefix.count + depth($0)) }
        let out = try session.forward(treeTokens, positions: positions, mask: ancestorMask(start: prefix.count), logits: .all)
        for node in treeTokens.indices {
            let expected = try sequentialLogits(prefix + path(node))
            #expect(maxDifference(out.logits(forToken: node), expected) < 1e-4, "node \(node)")
        }
    }

    @Test func compactionKeepsTheAcceptedPath() throws {
        let session = model.makeSession(maxBatch: 16)
        _ = try session.forward(prefix)
        let positions = parents.indices.map { Int32(prefix.count + depth($0)) }
        _ = try session.forward(treeTokens, positions: positions, mask: ancestorMask(start: prefix.count), logits: .all)
        // Accept a → b → d: rows 0, 1, 3 of the tree.
        session.cache.compact(from: prefix.count, keeping: [0, 1, 3].map { prefix.count + $0 })
        #expect(session.length == prefix.count + 3)
        let next = try session.forward([44])
        let expected = try sequentialLogits(prefix + [30, 31, 33, 44])
        #expect(maxDifference(next.logits(forToken: 0), expected) < 1e-4)
    }

    @Test func truncateThenContinueEqualsFreshDecoding() throws {
        let session = model.makeSession(maxBatch: 16)
        _ = try session.forward(prefix + [70, 71, 72])
        session.truncate(to: prefix.count)
        let out = try session.forward([50, 51])
        let expected = try sequentialLogits(prefix + [50, 51])
        #expect(maxDifference(out.logits(forToken: 1), expected) < 1e-4)
    }

    @Test func chunkedPrefillEqualsOnePass() throws {
        let long = (0..<45).map { TokenID(($0 * 37 + 11) % 96) }
        let small = model.makeSession(maxBatch: 4)
        let chunked = try small.prefill(long)
        #expect(small.length == long.count)
        let expected = try sequentialLogits(long)
        #expect(maxDifference(chunked.logits(forToken: chunked.count - 1), expected) < 1e-4)
    }

    @Test func hiddenStatesAreTheFinalNormFeatures() throws {
        // lm_head(hidden) must reproduce the logits: the feature EAGLE reads is the one
        // that enters lm_head.
        let session = model.makeSession(maxBatch: 16)
        let out = try session.forward(prefix, logits: .all)
        let d = model.config.hiddenSize
        var row = [Float](repeating: 0, count: d)
        for t in [0, prefix.count - 1] {
            let h = out.hidden(forToken: t)
            var worst: Float = 0
            for v in 0..<model.config.vocabSize {
                model.weights.lmHead.copyRow(v, into: &row)
                var dot: Float = 0
                for j in 0..<d { dot += h[j] * row[j] }
                worst = max(worst, abs(dot - out.logits(forToken: t)[v]))
            }
            #expect(worst < 1e-4)
        }
    }

    @Test func badInputIsRejectedWithoutTouchingTheCache() throws {
        let session = model.makeSession(maxBatch: 4, contextLength: 10)
        _ = try session.forward([1, 2])
        #expect(throws: InferenceError.tokenOutOfRange(token: 96, vocabularySize: 96)) { try session.forward([96]) }
        #expect(throws: InferenceError.tokenOutOfRange(token: -1, vocabularySize: 96)) { try session.forward([-1]) }
        #expect(throws: InferenceError.batchTooLarge(count: 5, maximum: 4)) { try session.forward([1, 2, 3, 4, 5]) }
        #expect(throws: InferenceError.emptyInput) { try session.forward([TokenID]()) }
        #expect(throws: InferenceError.contextOverflow(needed: 11, capacity: 10)) {
            try session.prefill([TokenID](repeating: 1, count: 9))
        }
        #expect(throws: InferenceError.self) { try session.forward([1], positions: [10_000]) }
        #expect(throws: InferenceError.self) { try session.forward([1, 2], positions: [3]) }
        let wrongShape = AttentionMask(start: 0, newTokens: 2) { _, _ in true }
        #expect(throws: InferenceError.self) { try session.forward([1, 2], mask: wrongShape) }
        let blind = AttentionMask(start: 2, newTokens: 2) { i, j in i != j }
        #expect(throws: InferenceError.self) { try session.forward([1, 2], mask: blind) }
        #expect(session.length == 2)
        _ = try session.forward([3])
        #expect(session.length == 3)
    }
}
