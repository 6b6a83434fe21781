import Foundation
import Testing
@testable import Speculative
import Inference
import Tokenization

/// The drafter on the bundled model and its trained head: the trees it grows, in buffers it
/// reuses from step to step, equal the reference drafter's fresh ones.
@Suite struct DrafterTests {
    let model: LlamaModel
    let head: EagleHead
    let prompts: [[TokenID]]

    init() throws {
        let fixture = try BundledFixture()
        (model, head, prompts) = (fixture.model, fixture.head, Array(fixture.prompts.prefix(6)))
    }

    static let trees: [TreeConfig] = [
        .staticTree(choices: TreeConfig.mcSim7b63),
        .staticTree(choices: [[0], [2], [0, 1], [2, 0], [2, 0, 3]]),
        .cpuDefault,
        .dynamic(depth: 5, topK: 1, totalTokens: 6),
        .dynamic(depth: 4, topK: 2, totalTokens: 6),
        .dynamic(depth: 6, topK: 10, totalTokens: 60),
        // Deeper and wider than the tokens kept: drafted only as far as what can be kept, the
        // same tree as drafting everything.
        .dynamic(depth: 14, topK: 29, totalTokens: 4),
        .dynamic(depth: 9, topK: 8, totalTokens: 6),
    ]

    /// Reads `prompt` as the generator does: target prefill, the head's pairs, the root's pair.
    /// Returns the draft session ready to draft under the returned root.
    func prepare(_ prompt: [TokenID]) throws -> (session: DraftSession, root: TokenID) {
        let target = model.makeSession(maxBatch: 64, captureLayers: head.captureLayers)
        let out = try target.forward(prompt, logits: .last)
        let root = Sampler.argmax(UnsafeBufferPointer(out.logits(forToken: prompt.count - 1)))
        let session = DraftSession(head: head, target: model, capacity: 256, maxBatch: 64)
        try Array(prompt[1...]).withUnsafeBufferPointer { t in
            try session.forward(tokens: t, feature: { head.feature(out, token: $0).baseAddress! }, withLogits: false)
        }
        let last = Array(head.feature(out, token: prompt.count - 1))
        try [root].withUnsafeBufferPointer { t in
            try last.withUnsafeBufferPointer { f in try session.forward(tokens: t, feature: { _ in f.baseAddress! }, withLogits: true) }
        }
        return (session, root)
    }

    @Test(arguments: trees)
    func treesEqualTheReferenceDrafters(tree: TreeConfig) throws {
        var nodes = 0
        for prompt in prompts {
            let (session, root) = try prepare(prompt)
            let drafter = Drafter(session: session, config: tree), reference = ReferenceDrafter(session: session, config: tree)
            drafter.setRoot(fromRow: 0)
            reference.setRoot(fromRow: 0)
            // Smaller trees, then the full one again: nothing of a step lingers into the next.
            for limit in [tree.verifiedTokens, 4, 2, 1, tree.verifiedTokens] {
                let drafted = try drafter.draft(root: root, limit: limit)
                let expected = try reference.draft(root: root, limit: limit)
                #expect(drafted == expected, "\(tree) limit \(limit)")
                #expect(drafted.count <= max(limit, 1))
                nodes += drafted.count
            }
        }
        #expect(nodes > prompts.count * 4)
    }
}
