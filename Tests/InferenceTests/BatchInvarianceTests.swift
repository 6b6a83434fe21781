import CKernels
import Foundation
import Testing
@testable import Inference
import Tokenization

/// Batch invariance, bit for bit: a token's logits and features are the same whether it is
/// decoded alone, inside a prefill pass of any size, or inside a masked tree-verification
/// pass beside other branches — in both dtypes and on every instruction set. This is what
/// makes greedy EAGLE equal plain greedy as a guarantee rather than an observation.
@Suite struct BatchInvarianceTests {
    static let models = ["Models/tiny-pystd", "Tests/Fixtures/models/tiny-llama3-f16-sharded"]
    static let cases: [(String, WeightDType)] = models.flatMap { m in WeightDType.allCases.map { (m, $0) } }

    struct Row: Equatable {
        let logits: [Float]
        let hidden: [Float]
    }

    func load(_ path: String, _ dtype: WeightDType) throws -> LlamaModel {
        try LlamaModel(directory: repositoryRoot.appendingPathComponent(path), dtype: dtype)
    }

    func sequence(_ model: LlamaModel, count: Int) -> [TokenID] {
        var random = RandomSource(seed: 42)
        return (0..<count).map { _ in TokenID(random.next() % UInt64(model.config.vocabSize)) }
    }

    /// Every position decoded one token at a time.
    func alone(_ model: LlamaModel, _ tokens: [TokenID]) throws -> [Row] {
        let session = model.makeSession(maxBatch: 64)
        return try tokens.map { t in
            let out = try session.forward([t], logits: .all)
            return Row(logits: Array(out.logits(forToken: 0)), hidden: Array(out.hidden(forToken: 0)))
        }
    }

    @Test(arguments: cases)
    func prefillChunksEqualSingleTokenSteps(path: String, dtype: WeightDType) throws {
        let model = try load(path, dtype)
        let tokens = sequence(model, count: 70)
        let reference = try alone(model, tokens)
        for chunk in [2, 3, 5, 8, 13, 64] {
            let session = model.makeSession(maxBatch: 64)
            var at = 0
            while at < tokens.count {
                let end = min(at + chunk, tokens.count)
                let out = try session.forward(Array(tokens[at..<end]), logits: .all)
                for i in 0..<(end - at) {
                    let row = Row(logits: Array(out.logits(forToken: i)), hidden: Array(out.hidden(forToken: i)))
                    #expect(row == reference[at + i], "\(path) \(dtype): position \(at + i) in a pass of \(end - at)")
                }
                at = end
            }
        }
    }

    /// A verification pass: the true continuation as one branch of a tree, with siblings and
    /// cousins beside it under an ancestor mask. Its nodes must reproduce sequential decoding.
    @Test(arguments: cases)
    func treeNodesEqualSequentialDecoding(path: String, dtype: WeightDType) throws {
        let model = try load(path, dtype)
        let tokens = sequence(model, count: 30)
        let prefix = 24
        let reference = try alone(model, tokens)
        // Nodes: path[0] (root), then alternating true-path nodes and distractors.
        // parents: true path 0 → 1 → 3 → 5 → 7 → 9; distractors hang off each true node.
        var treeTokens: [TokenID] = [tokens[prefix]]
        var parents = [-1]
        var truth = [0]
        for depth in 1..<(tokens.count - prefix) {
            let distractor = (tokens[prefix + depth] + 1) % TokenID(model.config.vocabSize)
            treeTokens.append(distractor); parents.append(truth[depth - 1])
            treeTokens.append(tokens[prefix + depth]); parents.append(truth[depth - 1])
            truth.append(treeTokens.count - 1)
        }
        let depths = parents.indices.map { i -> Int in var d = 0, n = i; while parents[n] >= 0 { n = parents[n]; d += 1 }; return d }
        let mask = AttentionMask(start: prefix, newTokens: treeTokens.count) { i, j in
            var node = i
            while node >= 0 { if node == j { return true }; node = parents[node] }
            return false
        }
        let session = model.makeSession(maxBatch: 64)
        _ = try session.forward(Array(tokens[..<prefix]), logits: .none)
        let positions = depths.map { Int32(prefix + $0) }
        let out = try session.forward(treeTokens, positions: positions, mask: mask, logits: .all)
        for (depth, node) in truth.enumerated() {
            let row = Row(logits: Array(out.logits(forToken: node)), hidden: Array(out.hidden(forToken: node)))
            #expect(row == reference[prefix + depth], "\(path) \(dtype): tree node at depth \(depth)")
        }
    }

    /// A BF16 checkpoint holds the same values in either dtype, and the kernels do the same
    /// FP32 arithmetic on them: bf16 and f32 serving are bit-identical for it.
    @Test func bf16CheckpointGivesTheSameBitsInBothDtypes() throws {
        let tokens = sequence(try load(Self.models[0], .bf16), count: 20)
        let a = try alone(try load(Self.models[0], .bf16), tokens)
        let b = try alone(try load(Self.models[0], .f32), tokens)
        #expect(a == b)
    }

    /// Every instruction set the CPU has (AVX-512 BF16, AVX-512F, AVX2, portable C) computes
    /// the same bits, in each dtype's order.
    @Test(arguments: [WeightDType.bf16, .bf16Dot])
    func everyInstructionSetGivesTheSameBits(dtype: WeightDType) throws {
        let model = try load(Self.models[0], dtype)
        let tokens = sequence(model, count: 12)
        let best = eagle_isa_best()
        defer { _ = eagle_isa_force(best) }
        let vector = try alone(model, tokens)
        for isa in Int32(EAGLE_ISA_C.rawValue)..<best {
            #expect(eagle_isa_force(isa) == 0)
            #expect(try alone(model, tokens) == vector, "\(String(cString: eagle_isa_name(isa))) differs from \(String(cString: eagle_isa_name(best)))")
        }
    }
}
