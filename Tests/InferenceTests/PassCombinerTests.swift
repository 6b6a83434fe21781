import Foundation
import Synchronization
import Testing
@testable import Inference
import Tokenization

/// Company invariance, bit for bit: a session's logits, features and recorded layer inputs
/// are the same whether its pass ran alone or inside a batched pass beside other sessions
/// (other lengths, other row counts, masks), and a generation's tokens are the same whether
/// it ran alone or while other generations shared its passes.
@Suite struct PassCombinerTests {
    static let cases: [(String, WeightDType)] = [
        ("Models/tiny-pystd", .bf16), ("Models/tiny-pystd", .f32), ("Tests/Fixtures/models/tiny-llama3-f16-sharded", .bf16),
    ]

    struct Row: Equatable {
        let logits: [Float]?
        let hidden: [Float]
        let captured: [Float]
    }

    func load(_ path: String, _ dtype: WeightDType = .bf16) throws -> LlamaModel {
        try LlamaModel(directory: repositoryRoot.appendingPathComponent(path), dtype: dtype)
    }

    func tokens(_ model: LlamaModel, count: Int, seed: UInt64) -> [TokenID] {
        var random = RandomSource(seed: seed)
        return (0..<count).map { _ in TokenID(random.next() % UInt64(model.config.vocabSize)) }
    }

    /// One session's pass in a batched-pass test: its history and what it asks.
    struct Case {
        let history: [TokenID]
        let new: [TokenID]
        let positions: [Int32]?
        let mask: AttentionMask?
        let selection: LogitsSelection
    }

    func rows(_ out: ForwardOutput, _ selection: LogitsSelection) -> [Row] {
        (0..<out.count).map { i in
            let hasLogits = selection == .all || (selection == .last && i == out.count - 1)
            return Row(logits: hasLogits ? Array(out.logits(forToken: i)) : nil, hidden: Array(out.hidden(forToken: i)),
                       captured: Array(out.captured(forToken: i)))
        }
    }

    func passCases(_ model: LlamaModel) -> [Case] {
        // A tree of 4 nodes: root, two children of the root, one grandchild of the first.
        let parents = [-1, 0, 0, 1]
        let tree = AttentionMask(start: 9, newTokens: 4) { i, j in
            var node = i
            while node >= 0 { if node == j { return true }; node = parents[node] }
            return false
        }
        return [
            Case(history: tokens(model, count: 20, seed: 1), new: tokens(model, count: 1, seed: 2), positions: nil, mask: nil, selection: .last),
            Case(history: [], new: tokens(model, count: 7, seed: 3), positions: nil, mask: nil, selection: .all),
            Case(history: tokens(model, count: 9, seed: 4), new: tokens(model, count: 4, seed: 5), positions: [9, 10, 10, 11], mask: tree,
                 selection: .all),
            Case(history: tokens(model, count: 3, seed: 6), new: tokens(model, count: 5, seed: 7), positions: nil, mask: nil, selection: .none),
            Case(history: tokens(model, count: 33, seed: 8), new: tokens(model, count: 2, seed: 9), positions: nil, mask: nil, selection: .last),
        ]
    }

    func session(_ model: LlamaModel, _ c: Case, captureLayers: [Int]) throws -> InferenceSession {
        let session = model.makeSession(maxBatch: 64, captureLayers: captureLayers)
        if !c.history.isEmpty { _ = try session.forward(c.history, logits: .none) }
        return session
    }

    func check(_ model: LlamaModel, captureLayers: [Int], label: String) throws {
        let all = passCases(model)
        let solo = try all.map { c in
            let s = try session(model, c, captureLayers: captureLayers)
            return rows(try s.forward(c.new, positions: c.positions, mask: c.mask, logits: c.selection), c.selection)
        }
        // Every subset of two or more cases, in one pass.
        for subset in 1..<(1 << all.count) where subset.nonzeroBitCount >= 2 {
            let chosen = all.indices.filter { subset & (1 << $0) != 0 }
            let sessions = try chosen.map { try session(model, all[$0], captureLayers: captureLayers) }
            let pass = BatchedPass(model: model, rows: 64, captureLayers: captureLayers)
            let newTokens = chosen.map { all[$0].new }, positions = chosen.map { all[$0].positions }
            withBuffers(newTokens) { tokenBuffers in
                withOptionalBuffers(positions) { positionBuffers in
                    pass.run(chosen.indices.map { k in
                        PassRequest(session: sessions[k], tokens: tokenBuffers[k], positions: positionBuffers[k], mask: all[chosen[k]].mask,
                                    selection: all[chosen[k]].selection)
                    })
                }
            }
            for (k, index) in chosen.enumerated() {
                let c = all[index], s = sessions[k]
                #expect(s.length == c.history.count + c.new.count)
                let first = c.selection == .all ? 0 : c.selection == .last ? c.new.count - 1 : c.new.count
                let out = s.output(count: c.new.count, firstLogitsToken: first)
                #expect(rows(out, c.selection) == solo[index], "\(label): case \(index) beside \(chosen)")
            }
        }
    }

    @Test(arguments: cases)
    func batchedRowsEqualSoloPasses(path: String, dtype: WeightDType) throws {
        try check(try load(path, dtype), captureLayers: [], label: "\(path) \(dtype)")
    }

    /// An EAGLE-3 target records three layers' inputs for each row; they too are the solo bits.
    @Test func recordedLayerInputsEqualSoloPasses() throws {
        try check(try load("Tests/Fixtures/models/tiny-llama-8layer"), captureLayers: [2, 4, 5], label: "8-layer")
    }

    /// Generations started at different times, of different lengths, greedy and seeded
    /// sampling, sharing one combiner: each gets exactly the tokens it gets alone.
    @Test(arguments: [WeightDType.bf16, .f32])
    func concurrentGenerationsEqualSoloGenerations(dtype: WeightDType) throws {
        let model = try load("Models/tiny-pystd", dtype)
        let jobs: [(prompt: [TokenID], params: GenerationParams, delay: Double)] = (0..<8).map { k in
            let sampling = k % 2 == 0 ? SamplingParams.greedy : SamplingParams(temperature: 0.8, topP: 0.95, seed: UInt64(k))
            let params = GenerationParams(maxTokens: 24 + 9 * k, sampling: sampling, ignoreEOS: true)
            return (tokens(model, count: 5 + 11 * k, seed: UInt64(100 + k)), params, 0.004 * Double(k % 4))
        }
        let solo = try jobs.map { try PlainGenerator(model: model, tokenizer: nil).generate(prompt: $0.prompt, params: $0.params) { _ in .proceed }.tokens }
        // Small prefill chunks so that prompts join passes that are decoding.
        let combiner = PassCombiner(model: model, maxRows: 64, sharedPrefillChunk: 4)
        let results = Mutex([[TokenID]?](repeating: nil, count: jobs.count))
        // One thread each (concurrentPerform would run only as many as there are cores).
        let finished = DispatchGroup()
        for k in jobs.indices {
            finished.enter()
            Thread.detachNewThread {
                Thread.sleep(forTimeInterval: jobs[k].delay)
                let generator = PlainGenerator(model: model, tokenizer: nil, combiner: combiner)
                let tokens = try? generator.generate(prompt: jobs[k].prompt, params: jobs[k].params) { _ in .proceed }.tokens
                results.withLock { $0[k] = tokens }
                finished.leave()
            }
        }
        finished.wait()
        let shared = results.withLock { $0 }
        for k in jobs.indices { #expect(shared[k] == solo[k], "generation \(k)") }
        let stats = combiner.snapshot
        let decodeSteps = jobs.reduce(0) { $0 + $1.params.maxTokens - 1 }
        #expect(stats.passes < decodeSteps, "passes were shared: \(stats.passes) passes for \(decodeSteps) decoding steps")
        #expect(stats.sessionHistogram.dropFirst().reduce(0, +) > 0)
        #expect(combiner.presentCount == 0)
    }

    /// A session that cannot join (its passes are larger than the combiner's) runs alone.
    @Test func sessionsThatDoNotFitRunAlone() throws {
        let model = try load("Models/tiny-pystd")
        let combiner = PassCombiner(model: model, maxRows: 8)
        let session = model.makeSession(maxBatch: 64)
        #expect(!session.join(combiner))
        #expect(combiner.presentCount == 0)
        let small = model.makeSession(maxBatch: 8)
        #expect(small.join(combiner))
        #expect(combiner.presentCount == 1)
        small.leave()
        #expect(combiner.presentCount == 0)
    }
}

private func withBuffers<R>(_ arrays: [[TokenID]], _ body: ([UnsafeBufferPointer<TokenID>]) -> R) -> R {
    let copies = arrays.map { a -> UnsafeMutableBufferPointer<TokenID> in
        let b = UnsafeMutableBufferPointer<TokenID>.allocate(capacity: a.count)
        _ = b.initialize(from: a)
        return b
    }
    defer { copies.forEach { $0.deallocate() } }
    return body(copies.map { UnsafeBufferPointer($0) })
}

private func withOptionalBuffers<R>(_ arrays: [[Int32]?], _ body: ([UnsafeBufferPointer<Int32>?]) -> R) -> R {
    let copies = arrays.map { a -> UnsafeMutableBufferPointer<Int32>? in
        guard let a else { return nil }
        let b = UnsafeMutableBufferPointer<Int32>.allocate(capacity: a.count)
        _ = b.initialize(from: a)
        return b
    }
    defer { copies.forEach { $0?.deallocate() } }
    return body(copies.map { $0.map { UnsafeBufferPointer($0) } })
}
