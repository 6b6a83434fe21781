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

    @Test func badTreeOptionsAreInvalidArgument() throws {
        let client = try daemon.client()
        expectStatus(.invalidArgument) { _ = try client.call(eagle(generateRequest(), total: 1)) }
        expectStatus(.invalidArgument) { _ = try client.call(eagle(generateRequest(), total: 500)) }
        expectStatus(.invalidArgument) { _ = try client.call(eagle(generateRequest(), staticTree: true, depth: 3)) }
    }
}
