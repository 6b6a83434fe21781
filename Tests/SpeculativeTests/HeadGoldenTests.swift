import Foundation
import Testing
@testable import Speculative
import Inference
import Tokenization

/// The draft head against the PyTorch reference (Tools/make_head_goldens.py, fp16 weights
/// upcast to fp32): predicted features and draft logits for every pair, and a 4-step
/// drafted chain through the head's KV cache.
@Suite struct HeadGoldenTests {
    /// FP32 on both sides from the same fp16 weights; observed differences are ~1e-5.
    static let tolerance: Float = 2e-4

    let model: LlamaModel
    let head: EagleHead
    let prompts: [[String: Any]]

    init() throws {
        // FP32: the reference runs the head's F16 weights in FP32 (bf16 would round them).
        model = try LlamaModel(directory: repositoryRoot.appendingPathComponent("Models/tiny-pystd"), dtype: .f32)
        head = try EagleHead(directory: repositoryRoot.appendingPathComponent("Models/tiny-pystd-eagle"), target: model)
        let data = try Data(contentsOf: repositoryRoot.appendingPathComponent("Tests/Golden/eagle-head-tiny-pystd.json"))
        let golden = try JSONSerialization.jsonObject(with: data) as! [String: Any]
        prompts = golden["prompts"] as! [[String: Any]]
    }

    func floats(_ v: Any?) -> [Float] { (v as! [NSNumber]).map(\.floatValue) }
    func ints(_ v: Any?) -> [TokenID] { (v as! [NSNumber]).map { $0.int32Value } }

    func maxDiff(_ a: UnsafePointer<Float>, _ b: [Float]) -> Float {
        b.indices.map { abs(a[$0] - b[$0]) }.max() ?? .infinity
    }

    /// Checks top-10 logits; the argmax only where the reference's top-2 gap is clear.
    func checkTop10(_ logits: UnsafeMutableBufferPointer<Float>, _ top10: [[NSNumber]], _ what: String) {
        for pair in top10 {
            #expect(abs(logits[pair[0].intValue] - pair[1].floatValue) < Self.tolerance, "\(what) token \(pair[0])")
        }
        if top10[0][1].floatValue - top10[1][1].floatValue > 10 * Self.tolerance {
            #expect(Sampler.argmax(UnsafeBufferPointer(logits)) == TokenID(top10[0][0].int32Value), "\(what) argmax")
        }
    }

    @Test func headMatchesThePyTorchReference() throws {
        #expect(prompts.count == 3)
        for prompt in prompts {
            let name = prompt["name"] as! String
            let features = (prompt["features"] as! [Any]).map(floats)
            let pairTokens = ints(prompt["pair_tokens"])
            let pairs = pairTokens.count
            // The target's own features agree with the reference's.
            let out = try model.makeSession(maxBatch: 64).forward(ints(prompt["input_ids"]), logits: .none)
            for t in [0, pairs] { #expect(maxDiff(out.hidden(forToken: t).baseAddress!, features[t]) < Self.tolerance, "\(name) feature \(t)") }

            let session = DraftSession(head: head, target: model, capacity: 1024, maxBatch: 64)
            let flat = features.flatMap { $0 }
            try flat.withUnsafeBufferPointer { f in
                try pairTokens.withUnsafeBufferPointer { t in
                    try session.forward(tokens: t, feature: { f.baseAddress! + $0 * 256 }, withLogits: true)
                }
            }
            #expect(maxDiff(session.feature(row: 0), floats(prompt["pred_first"])) < Self.tolerance, "\(name) pred_first")
            #expect(maxDiff(session.feature(row: pairs - 1), floats(prompt["pred_last"])) < Self.tolerance, "\(name) pred_last")
            let top = prompt["draft_top10"] as! [[[NSNumber]]]
            for i in 0..<pairs { checkTop10(session.logits(row: i), top[i], "\(name) pair \(i)") }

            // The greedy chain: (token_j, f̂_j) at position n−2+j through the head's cache.
            let chain = prompt["chain"] as! [String: Any]
            let chainTokens = ints(chain["tokens"])
            let chainTop = chain["top10"] as! [[[NSNumber]]]
            var feature = Array(UnsafeBufferPointer(start: session.feature(row: pairs - 1), count: 256))
            var token = chainTokens[0]
            for j in 1..<chainTokens.count {
                let position: [Int32] = [Int32(pairs - 1 + j)]
                try [token].withUnsafeBufferPointer { t in
                    try position.withUnsafeBufferPointer { p in
                        try feature.withUnsafeBufferPointer { f in
                            try session.forward(tokens: t, feature: { _ in f.baseAddress! }, positions: p, withLogits: true)
                        }
                    }
                }
                checkTop10(session.logits(row: 0), chainTop[j], "\(name) chain step \(j + 1)")
                token = chainTokens[j]
                feature = Array(UnsafeBufferPointer(start: session.feature(row: 0), count: 256))
            }
        }
    }
}
