import Foundation
import Testing
@testable import Inference
import Tokenization

/// The bundled model against transformers (Tools/make_goldens.py): logits, features and
/// 64-token greedy continuations.
@Suite struct FixtureModelTests {
    /// Both sides compute in FP32 from the same BF16 weights (the checkpoint is BF16, so the
    /// default dtype=bf16 and dtype=f32 hold the same values and give the same bits); only
    /// summation order (our kernels' fixed 16-lane order vs torch's) and libm differ, and the
    /// goldens are rounded to 6 significant digits. Observed: max |Δlogit| 8.1e-6 (logits of
    /// magnitude ~10), max |Δhidden| 6.4e-6. The tolerances leave ~20× margin and stay well below the smallest
    /// top-1/top-2 gap the greedy goldens depend on (0.0047, recorded in their margins).
    static let logitTolerance: Float = 2e-4
    static let hiddenTolerance: Float = 1.5e-4

    let golden: [String: Any]
    let model: LlamaModel

    init() throws {
        golden = try goldenJSON("model-tiny-pystd.json")
        model = try LlamaModel(directory: repositoryRoot.appendingPathComponent("Models/tiny-pystd"))
    }

    var logitCases: [[String: Any]] { golden["logits"] as? [[String: Any]] ?? [] }
    var greedyCases: [[String: Any]] { golden["greedy"] as? [[String: Any]] ?? [] }

    @Test func lastPositionLogitsAndFeaturesMatch() throws {
        #expect(logitCases.count >= 4)
        for entry in logitCases {
            let ids = ints(entry["input_ids"])
            let last = entry["last"] as! [String: Any]
            let session = model.makeSession(maxBatch: 64)
            let out = try session.prefill(ids)
            let logits = out.logits(forToken: out.count - 1)
            let expected = floats(last["logits"])
            #expect(expected.count == model.config.vocabSize)
            let worst = zip(logits, expected).map { abs($0 - $1) }.max() ?? .infinity
            #expect(worst < Self.logitTolerance, "\(entry["name"]!): max |Δlogit| \(worst)")
            #expect(Sampler.argmax(UnsafeBufferPointer(logits)) == TokenID((last["argmax"] as! NSNumber).int32Value))
            let hidden = out.hidden(forToken: out.count - 1)
            let worstHidden = zip(hidden, floats(last["hidden"])).map { abs($0 - $1) }.max() ?? .infinity
            #expect(worstHidden < Self.hiddenTolerance, "\(entry["name"]!): max |Δhidden| \(worstHidden)")
        }
    }

    @Test func everyPositionOfACodePromptMatches() throws {
        let entry = try #require(logitCases.first { $0["positions"] != nil })
        let ids = ints(entry["input_ids"])
        let positions = entry["positions"] as! [[String: Any]]
        let session = model.makeSession(maxBatch: max(64, ids.count))
        let out = try session.forward(ids, logits: .all)
        for (i, position) in positions.enumerated() {
            let logits = out.logits(forToken: i)
            #expect(Sampler.argmax(UnsafeBufferPointer(logits)) == TokenID((position["argmax"] as! NSNumber).int32Value), "position \(i)")
            for pair in position["top10"] as! [[NSNumber]] {
                let diff = abs(logits[pair[0].intValue] - pair[1].floatValue)
                #expect(diff < Self.logitTolerance, "position \(i) token \(pair[0])")
            }
        }
    }

    @Test func greedyContinuationsAreIdentical() throws {
        #expect(greedyCases.count >= 6)
        let generator = PlainGenerator(model: model, tokenizer: nil)
        for entry in greedyCases {
            let expected = ints(entry["output_ids"])
            let params = GenerationParams(maxTokens: (entry["max_new_tokens"] as! NSNumber).intValue)
            let result = try generator.generate(prompt: ints(entry["input_ids"]), params: params) { _ in .proceed }
            #expect(result.tokens == expected, "\(entry["name"]!)")
            #expect((result.stopReason == .endOfSequence) == (entry["stopped_at_eos"] as! Bool))
        }
    }

    /// `bf16dot` (activations rounded to BF16 for every matrix product) against the same
    /// goldens: its logits stay within `bf16DotTolerance` of the reference, and a greedy
    /// continuation may leave the reference's only where the reference's own top-1/top-2
    /// margin is smaller than twice that (a near-tie), never at a confident step.
    /// Observed here: max |Δlogit| 0.016 at the golden prompts' last positions (5× margin
    /// below), 8 of 9 continuations identical, and `class_def` leaving at step 17, where the
    /// reference's margin is 0.0054 (bf16 and f32 reproduce all nine).
    static let bf16DotTolerance: Float = 0.08

    @Test func bf16DotStaysNearTheReference() throws {
        let dot = try LlamaModel(directory: repositoryRoot.appendingPathComponent("Models/tiny-pystd"), dtype: .bf16Dot)
        var worst: Float = 0
        for entry in logitCases {
            let out = try dot.makeSession(maxBatch: 64).prefill(ints(entry["input_ids"]))
            let expected = floats((entry["last"] as! [String: Any])["logits"])
            worst = max(worst, zip(out.logits(forToken: out.count - 1), expected).map { abs($0 - $1) }.max() ?? .infinity)
        }
        print("bf16dot on the fixture: max |Δlogit| \(worst)")
        #expect(worst < Self.bf16DotTolerance, "max |Δlogit| \(worst)")
        let generator = PlainGenerator(model: dot, tokenizer: nil)
        var identical = 0
        for entry in greedyCases {
            let expected = ints(entry["output_ids"]), margins = floats(entry["margins"])
            let params = GenerationParams(maxTokens: expected.count, ignoreEOS: true)
            let tokens = try generator.generate(prompt: ints(entry["input_ids"]), params: params) { _ in .proceed }.tokens
            guard let split = zip(tokens, expected).enumerated().first(where: { $0.element.0 != $0.element.1 })?.offset else { identical += 1; continue }
            print("bf16dot on the fixture: \(entry["name"]!) leaves the reference at step \(split) (reference margin \(margins[split]))")
            #expect(margins[split] < 2 * Self.bf16DotTolerance,
                    "\(entry["name"]!): left the reference at step \(split), where its margin was \(margins[split])")
        }
        print("bf16dot on the fixture: \(identical) of \(greedyCases.count) greedy continuations identical")
    }
}
