import Daemon
import Foundation
import Testing
import Wire

let fixtureHeadPath = repositoryRoot.appendingPathComponent("Tests/Fixtures/models/tiny-llama3-head").path

@Suite("Live socket: EAGLE")
struct LiveEagleTests {
    let daemon: LiveDaemon

    init() throws {
        daemon = try LiveDaemon { $0.models = [ModelSpec(name: "tiny", target: fixtureModelPath, draft: fixtureHeadPath)] }
    }

    private func eagle(_ request: Eagle_V1_Request, staticTree: Bool = false, depth: UInt32 = 0, topK: UInt32 = 0,
                       total: UInt32 = 0) -> Eagle_V1_Request {
        var request = request
        request.generate.speculative = .with {
            $0.enabled = true
            $0.staticTree = staticTree
            $0.treeDepth = depth
            $0.treeTopK = topK
            $0.totalTokens = total
        }
        return request
    }

    @Test func modelReportsItsDraftHead() throws {
        let info = try daemon.client().call(.with { $0.listModels = .init() }).models.models[0]
        #expect(info.hasDraft_p && info.draftDir == fixtureHeadPath)
        // The head follows its target's dtype; its bytes are part of weight_bytes.
        #expect(info.dtype == "bf16" && info.draftWeightBytes > 0 && info.draftWeightBytes < info.weightBytes)
        // KV per token: target 2 layers × 2 KV heads × head_dim 8, head 1 layer × 2 KV heads × head_dim 16; K and V, FP32.
        #expect(info.kvBytesPerToken == 2 * (2 * 2 * 8 + 1 * 2 * 16) * 4)
    }

    /// The bundled model stores BF16: with dtype bf16 its matrices are used in place from the
    /// memory map; with f32 nothing is mapped and the matrices take twice the bytes.
    @Test(.enabled(if: bundledModelPresent)) func bundledBF16ModelIsMappedInPlaceUnlessF32() throws {
        let head = repositoryRoot.appendingPathComponent("Models/tiny-pystd-eagle").path
        let daemon = try LiveDaemon {
            $0.models = [ModelSpec(name: "bf16", target: bundledModelPath, draft: head),
                         ModelSpec(name: "f32", target: bundledModelPath, dtype: .f32)]
        }
        let models = try daemon.client().call(.with { $0.listModels = .init() }).models.models
        let bf16 = try #require(models.first { $0.name == "bf16" })
        let f32 = try #require(models.first { $0.name == "f32" })
        #expect(bf16.dtype == "bf16" && f32.dtype == "f32")
        #expect(bf16.mappedWeightBytes > bf16.weightBytes / 2 && bf16.mappedWeightBytes <= bf16.weightBytes)
        #expect(bf16.draftWeightBytes > 0 && f32.draftWeightBytes == 0)
        #expect(f32.mappedWeightBytes == 0 && f32.weightBytes > (bf16.weightBytes - bf16.draftWeightBytes) * 3 / 2)
        #expect(bf16.kvBytesPerToken > f32.kvBytesPerToken)  // the head's layer
    }

    @Test func greedyEAGLEEqualsPlainGreedyOverTheSocket() throws {
        let client = try daemon.client()
        for prompt: [UInt32] in [[1, 5, 9, 17], [1, 40, 41, 42, 43, 44], [2, 3]] {
            let plain = try client.call(generateRequest(prompt, maxTokens: 40)).generate
            let dynamic = try client.call(eagle(generateRequest(prompt, maxTokens: 40))).generate
            let wide = try client.call(eagle(generateRequest(prompt, maxTokens: 40), depth: 3, topK: 2, total: 6)).generate
            var chunks: [UInt32] = []
            let fixed = try client.call(eagle(generateRequest(prompt, maxTokens: 40, stream: true), staticTree: true)) { chunks += $0.ids }.generate
            #expect(dynamic.ids == plain.ids)
            #expect(wide.ids == plain.ids)
            #expect(fixed.ids == plain.ids && chunks == plain.ids)
            #expect(dynamic.meanAccepted >= 1 && dynamic.steps <= plain.steps)
        }
        let stats = try client.call(.with { $0.getStats = .init() }).stats.models[0]
        #expect(stats.meanAccepted >= 1)
    }

    /// Seed-exact sampling over the socket: the same seed gives the same tokens with EAGLE
    /// off, with the default tree, a wider dynamic tree and the static tree.
    @Test func sampledEAGLEEqualsPlainForTheSameSeedOverTheSocket() throws {
        let client = try daemon.client()
        var accepted = 0.0
        for seed: UInt64 in 1...40 {
            let prompt: [UInt32] = [1, UInt32(5 + seed % 50), 9, 17]
            let request = generateRequest(prompt, maxTokens: 24, temperature: 1, seed: seed)
            let plain = try client.call(request).generate
            let dynamic = try client.call(eagle(request)).generate
            let wide = try client.call(eagle(request, depth: 4, topK: 4, total: 16)).generate
            let fixed = try client.call(eagle(request, staticTree: true)).generate
            #expect(dynamic.ids == plain.ids && wide.ids == plain.ids && fixed.ids == plain.ids, "seed \(seed)")
            accepted += Double(wide.meanAccepted)
        }
        #expect(accepted / 40 > 1, "drafts were accepted")
    }

    @Test func badTreeOptionsAreInvalidArgument() throws {
        let client = try daemon.client()
        expectStatus(.invalidArgument) { _ = try client.call(eagle(generateRequest(), total: 1)) }
        expectStatus(.invalidArgument) { _ = try client.call(eagle(generateRequest(), total: 500)) }
        expectStatus(.invalidArgument) { _ = try client.call(eagle(generateRequest(), staticTree: true, depth: 3)) }
    }
}

@Suite("Live socket: automatic tree choice")
struct LiveAutoTreeTests {
    /// A model with a head is calibrated at load; a request that leaves the tree to the
    /// daemon is told what was chosen and why, and its tokens are plain decoding's whatever
    /// the choice; explicit trees are reported as requested.
    @Test func automaticChoiceIsReportedAndLossless() throws {
        let daemon = try LiveDaemon { $0.models = [ModelSpec(name: "tiny", target: fixtureModelPath, draft: fixtureHeadPath)] }
        let client = try daemon.client()
        let info = try client.call(.with { $0.listModels = .init() }).models.models[0]
        #expect(info.targetPassCosts.count >= 2 && info.headPassCosts.count >= 2)
        #expect(info.targetPassCosts.first?.tokens == 1 && info.targetPassCosts.allSatisfy { $0.seconds > 0 })
        for prompt: [UInt32] in [[1, 5, 9, 17], [1, 40, 41, 42, 43, 44]] {
            let plain = try client.call(generateRequest(prompt, maxTokens: 40)).generate
            #expect(plain.decoding == "plain" && plain.decodingReason == "requested")
            var auto = generateRequest(prompt, maxTokens: 40)
            auto.generate.speculative = .with { $0.enabled = true }
            let chosen = try client.call(auto).generate
            #expect(chosen.ids == plain.ids)
            #expect(chosen.decodingReason.hasPrefix("automatic: ") && !chosen.decoding.isEmpty, "\(chosen.decodingReason)")
            #expect(chosen.expectedAccepted >= 1)
            var explicit = auto
            explicit.generate.speculative.treeDepth = 3
            let requested = try client.call(explicit).generate
            #expect(requested.ids == plain.ids)
            #expect(requested.decoding == "dynamic depth=3 top_k=1 total=3" && requested.decodingReason == "requested")
        }
        let stats = try client.call(.with { $0.getStats = .init() }).stats.models[0]
        #expect(!stats.autoGreedy.isEmpty && !stats.autoSampled.isEmpty)
    }
}

@Suite("Live socket: EAGLE-3 head")
struct LiveEagle3Tests {
    /// A daemon serving an 8-layer target with an EAGLE-3 head in the official layout:
    /// reported as such, and greedy EAGLE-3 output over the socket equals plain output.
    @Test func eagle3HeadServesLosslessly() throws {
        let target = repositoryRoot.appendingPathComponent("Tests/Fixtures/models/tiny-llama-8layer").path
        let head = repositoryRoot.appendingPathComponent("Tests/Fixtures/models/tiny-eagle3-head").path
        let daemon = try LiveDaemon { $0.models = [ModelSpec(name: "e3", target: target, draft: head)] }
        let client = try daemon.client()
        let info = try client.call(.with { $0.listModels = .init() }).models.models[0]
        #expect(info.draftKind == "eagle-3" && info.draftVocabSize == 128 && info.targetPassCosts.count >= 2)
        for prompt: [UInt32] in [[1, 17, 301, 44, 5], [1, 9, 130, 411, 8, 3, 77]] {
            let plain = try client.call(generateRequest(prompt, maxTokens: 32)).generate
            for depth: UInt32 in [2, 4] {
                var eagle = generateRequest(prompt, maxTokens: 32)
                eagle.generate.speculative = .with { $0.enabled = true; $0.treeDepth = depth; $0.treeTopK = 2; $0.totalTokens = 2 * depth + 1 }
                let result = try client.call(eagle).generate
                #expect(result.ids == plain.ids, "depth \(depth)")
                #expect(result.decoding.hasPrefix("dynamic depth=\(depth)"))
            }
        }
    }
}
