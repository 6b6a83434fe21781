import Foundation
import Synchronization
import Testing
@testable import Speculative
import Inference
import Tokenization

/// EAGLE generations sharing passes: target verification passes and the head's draft passes
/// are gathered across requests by one `PassCombiner`; each generation still gets exactly
/// the tokens it gets alone (greedy and seeded sampling, different trees, staggered starts),
/// for an EAGLE-1 head and an EAGLE-3 head (whose target records layer inputs). Drafts
/// cannot change tokens (that is what lossless means), so the head's shared passes are also
/// checked directly: every session's predicted features and draft logits are the same bits
/// as in a pass of its own, and a generation takes the same number of steps shared or alone.
@Suite struct SharedPassTests {
    static let heads: [(target: String, head: String)] = [
        ("Models/tiny-pystd", "Models/tiny-pystd-eagle"),
        ("Tests/Fixtures/models/tiny-llama-8layer", "Tests/Fixtures/models/tiny-eagle3-head"),
    ]

    @Test(arguments: heads)
    func sharedGenerationsEqualSoloGenerations(target: String, head headPath: String) throws {
        let model = try LlamaModel(directory: repositoryRoot.appendingPathComponent(target))
        let head = try EagleHead(directory: repositoryRoot.appendingPathComponent(headPath), target: model)
        let trees: [TreeConfig] = [.cpuDefault, .dynamic(depth: 3, topK: 2, totalTokens: 7), .dynamic(depth: 4, topK: 3, totalTokens: 12)]
        let jobs: [(prompt: [TokenID], params: GenerationParams, tree: TreeConfig, delay: Double)] = (0..<6).map { k in
            let sampling = k % 2 == 0 ? SamplingParams.greedy : SamplingParams(temperature: 0.9, seed: UInt64(50 + k))
            return (syntheticPrompt(seed: UInt64(300 + k), length: 4 + 9 * k, vocabulary: model.config.vocabSize),
                    GenerationParams(maxTokens: 20 + 6 * k, sampling: sampling, ignoreEOS: true), trees[k % trees.count],
                    0.003 * Double(k % 3))
        }
        let solo = try jobs.map {
            let result = try SpeculativeGenerator(model: model, head: head, tokenizer: nil, tree: $0.tree)
                .generate(prompt: $0.prompt, params: $0.params) { _ in .proceed }
            return (result.tokens, result.steps)
        }
        let combiner = PassCombiner(model: model, maxRows: 64, sharedPrefillChunk: 8, captureLayers: head.captureLayers)
        let results = Mutex([([TokenID], Int)?](repeating: nil, count: jobs.count))
        let finished = DispatchGroup()
        for k in jobs.indices {
            finished.enter()
            Thread.detachNewThread {
                Thread.sleep(forTimeInterval: jobs[k].delay)
                var generator = SpeculativeGenerator(model: model, head: head, tokenizer: nil, tree: jobs[k].tree)
                generator.combiner = combiner
                let result = try? generator.generate(prompt: jobs[k].prompt, params: jobs[k].params) { _ in .proceed }
                results.withLock { $0[k] = result.map { ($0.tokens, $0.steps) } }
                finished.leave()
            }
        }
        finished.wait()
        let shared = results.withLock { $0 }
        for k in jobs.indices {
            #expect(shared[k]?.0 == solo[k].0, "generation \(k), tree \(jobs[k].tree): tokens")
            #expect(shared[k]?.1 == solo[k].1, "generation \(k), tree \(jobs[k].tree): steps (the drafts differed)")
        }
        let targetPasses = combiner.snapshot, headPasses = combiner.headSnapshot
        #expect(targetPasses.sessionHistogram.dropFirst().reduce(0, +) > 0, "target passes shared: \(targetPasses.sessionHistogram)")
        #expect(headPasses.sessionHistogram.dropFirst().reduce(0, +) > 0, "head passes shared: \(headPasses.sessionHistogram)")
        #expect(headPasses.sessionHistogram.reduce(0, +) == headPasses.passes)
        #expect(combiner.presentCount == 0)
    }

    /// One head pass over three sessions' rows (prefills of different lengths, then draft
    /// rows on the head's own features under a tree mask) gives each session the features and
    /// draft logits of a pass of its own, bit for bit.
    @Test(arguments: heads)
    func headPassRowsEqualSoloPasses(target: String, head headPath: String) throws {
        let model = try LlamaModel(directory: repositoryRoot.appendingPathComponent(target))
        let head = try EagleHead(directory: repositoryRoot.appendingPathComponent(headPath), target: model)
        let d = head.shape.hiddenSize
        let lengths = [5, 12, 9]
        func session() -> DraftSession { DraftSession(head: head, target: model, capacity: 64, maxBatch: 16) }
        let solo = lengths.map { _ in session() }, shared = lengths.map { _ in session() }
        var random = RandomSource(seed: 9)
        func floats(_ n: Int) -> [Float] { (0..<n).map { _ in Float(Int(random.next() % 2001) - 1000) / 1000 } }
        let prompts = lengths.enumerated().map { k, n in syntheticPrompt(seed: UInt64(40 + k), length: n, vocabulary: model.config.vocabSize) }
        let features = lengths.map { n in floats(n * head.featureWidth) }
        // Draft rows: a root and two children, each child seeing the root and itself.
        let draftTokens = lengths.indices.map { k in syntheticPrompt(seed: UInt64(70 + k), length: 3, vocabulary: model.config.vocabSize) }
        let ownFeatures = lengths.map { _ in floats(3 * d) }
        let masks = lengths.map { n in
            AttentionMask(start: 0, rows: 3, columns: n + 3, allowed: (0..<3).flatMap { r in (0..<(n + 3)).map { c in c < n || c == n || c == n + r } })
        }
        let positions = lengths.map { n in [Int32(n), Int32(n + 1), Int32(n + 1)] }

        func outputs(_ s: DraftSession, rows: Int) -> [[UInt32]] {
            (0..<rows).map { i in
                (0..<d).map { s.feature(row: i)[$0].bitPattern } + s.logits(row: i).map(\.bitPattern)
            }
        }
        // Alone.
        var expected: [[[UInt32]]] = []
        for k in lengths.indices {
            let s = solo[k]
            try prompts[k].withUnsafeBufferPointer { t in
                try features[k].withUnsafeBufferPointer { f in
                    try s.forward(tokens: t, feature: { f.baseAddress! + $0 * head.featureWidth }, withLogits: true)
                }
            }
            var rows = outputs(s, rows: lengths[k])
            try draftTokens[k].withUnsafeBufferPointer { t in
                try ownFeatures[k].withUnsafeBufferPointer { f in
                    try positions[k].withUnsafeBufferPointer { p in
                        try s.forward(tokens: t, feature: { f.baseAddress! + $0 * d }, ownFeatures: true, positions: p,
                                      mask: masks[k], withLogits: true)
                    }
                }
            }
            rows += outputs(s, rows: 3)
            expected.append(rows)
        }
        // Together, in one pass per step.
        let pass = HeadPass(head: head, rows: 64, cacheCapacity: 64)
        let buffers = (prompts + draftTokens).map { tokens in
            let b = UnsafeMutableBufferPointer<TokenID>.allocate(capacity: tokens.count)
            _ = b.initialize(from: tokens)
            return UnsafeBufferPointer(b)
        }
        let positionBuffers = lengths.indices.map { k in
            (0..<lengths[k]).map(Int32.init) + positions[k]
        }.map { p in
            let b = UnsafeMutableBufferPointer<Int32>.allocate(capacity: p.count)
            _ = b.initialize(from: p)
            return UnsafeBufferPointer(b)
        }
        let featureBuffers = (features + ownFeatures).map { f in
            let b = UnsafeMutableBufferPointer<Float>.allocate(capacity: f.count)
            _ = b.initialize(from: f)
            return UnsafePointer(b.baseAddress!)
        }
        defer {
            for b in buffers { b.deallocate() }
            for b in positionBuffers { b.deallocate() }
            for f in featureBuffers { f.deallocate() }
        }
        pass.run(lengths.indices.map { k in
            HeadPassRequest(session: shared[k], tokens: buffers[k], feature: .computed { featureBuffers[k] + $0 * head.featureWidth },
                            ownFeatures: false, positions: UnsafeBufferPointer(rebasing: positionBuffers[k][0..<lengths[k]]),
                            mask: nil, withLogits: true)
        })
        var got = lengths.indices.map { outputs(shared[$0], rows: lengths[$0]) }
        // The second step in another order: the rows of a session move within the pass.
        pass.run(lengths.indices.reversed().map { k in
            HeadPassRequest(session: shared[k], tokens: buffers[lengths.count + k],
                            feature: .computed { featureBuffers[lengths.count + k] + $0 * d }, ownFeatures: true,
                            positions: UnsafeBufferPointer(rebasing: positionBuffers[k][lengths[k]...]), mask: masks[k], withLogits: true)
        })
        for k in lengths.indices { got[k] += outputs(shared[k], rows: 3) }
        for k in lengths.indices {
            let differing = got[k].indices.filter { $0 < expected[k].count }.filter { got[k][$0] != expected[k][$0] }
            #expect(got[k].count == expected[k].count && differing.isEmpty, "session \(k): rows \(differing) differ from its solo pass")
            #expect(shared[k].length == solo[k].length)
        }
    }
}
