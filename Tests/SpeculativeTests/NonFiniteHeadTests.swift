import Foundation
import Testing
@testable import Speculative
import Inference
import Tokenization

/// A head whose weights hold NaN (a corrupt or overflowing checkpoint) drafts NaN logits.
/// That killed the daemon on the first EAGLE step (the top-k insertion ran past a full list);
/// now NaN ranks as −∞, the drafts are poor, and verification keeps the output the target's.
@Suite struct NonFiniteHeadTests {
    let model: LlamaModel

    init() throws {
        model = try LlamaModel(directory: fixtureModel("tiny-llama3-f16-sharded"))
    }

    /// A copy of the fixture head with every F16 entry of `tensor` set to `bits`.
    static func patchedHead(tensor: String, bits: UInt16) throws -> URL {
        let source = fixtureModel("tiny-llama3-head")
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("eagle-nan-head-\(getpid())-\(tensor)-\(bits)")
        try? FileManager.default.removeItem(at: directory)
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try FileManager.default.copyItem(at: source.appendingPathComponent("config.json"), to: directory.appendingPathComponent("config.json"))
        var file = try Data(contentsOf: source.appendingPathComponent("model.safetensors"))
        let headerBytes = Int(file.prefix(8).withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) })
        let header = try JSONSerialization.jsonObject(with: file.subdata(in: 8..<(8 + headerBytes))) as! [String: Any]
        let entry = try #require(header[tensor] as? [String: Any])
        #expect(entry["dtype"] as? String == "F16")
        let offsets = try #require(entry["data_offsets"] as? [Int])
        let start = 8 + headerBytes + offsets[0]
        for at in stride(from: start, to: 8 + headerBytes + offsets[1], by: 2) {
            file[at] = UInt8(bits & 0xFF)
            file[at + 1] = UInt8(bits >> 8)
        }
        try file.write(to: directory.appendingPathComponent("model.safetensors"))
        return directory
    }

    static let trees: [TreeConfig] = [
        .staticTree(choices: TreeConfig.mcSim7b63),
        .dynamic(depth: 3, topK: 2, totalTokens: 5),
        .dynamic(depth: 6, topK: 10, totalTokens: 60),
        .dynamic(depth: 5, topK: 1, totalTokens: 6),
    ]

    @Test(arguments: trees)
    func aHeadDraftingNaNStillMatchesPlainGreedy(tree: TreeConfig) throws {
        // fc.weight NaN: every feature and every draft logit is NaN. fc.bias +∞: features
        // overflow (norms of ∞ give NaN, some logits ±∞).
        for (tensor, bits) in [("fc.weight", UInt16(0x7E00)), ("fc.bias", UInt16(0x7C00))] {
            let directory = try Self.patchedHead(tensor: tensor, bits: bits)
            defer { try? FileManager.default.removeItem(at: directory) }
            let head = try EagleHead(directory: directory, target: model)
            let generator = SpeculativeGenerator(model: model, head: head, tokenizer: nil, tree: tree)
            for seed in 0..<3 {
                let prompt = syntheticPrompt(seed: UInt64(seed), length: 5 + seed * 9, vocabulary: 96)
                let params = GenerationParams(maxTokens: 24, ignoreEOS: true)
                let expected = try plainTokens(model, prompt: prompt, params: params)
                let result = try generator.generate(prompt: prompt, params: params) { _ in .proceed }
                #expect(result.tokens == expected, "\(tensor), prompt seed \(seed)")
            }
        }
    }
}
