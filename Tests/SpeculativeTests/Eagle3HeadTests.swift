import Foundation
import Testing
@testable import Speculative
import Inference
import Tokenization

/// An EAGLE-3 head in the official layout (Tests/Fixtures/models/tiny-eagle3-head) on an
/// 8-layer target, against goldens from a PyTorch implementation of the official head
/// (Tools/make_eagle3_fixture.py): the target's recorded layer inputs, the head's commit
/// pass over target features, one draft step on its own feature — and greedy and seeded
/// EAGLE-3 decoding equal plain decoding.
@Suite struct Eagle3HeadTests {
    /// FP32 compute on both sides from the same BF16-exact weights; observed ~1e-6.
    static let tolerance: Float = 1e-4

    static let targetPath = repositoryRoot.appendingPathComponent("Tests/Fixtures/models/tiny-llama-8layer")
    static let headPath = repositoryRoot.appendingPathComponent("Tests/Fixtures/models/tiny-eagle3-head")

    let golden: [String: Any]

    init() throws {
        let data = try Data(contentsOf: repositoryRoot.appendingPathComponent("Tests/Golden/eagle3-head.json"))
        golden = try JSONSerialization.jsonObject(with: data) as! [String: Any]
    }

    func floats(_ v: Any?) -> [Float] { (v as! [NSNumber]).map(\.floatValue) }
    func rows(_ key: String) -> [[Float]] { (golden[key] as! [Any]).map(floats) }
    func ints(_ key: String) -> [TokenID] { (golden[key] as! [NSNumber]).map { $0.int32Value } }

    func maxDiff(_ a: UnsafePointer<Float>, _ b: [Float]) -> Float {
        b.indices.map { abs(a[$0] - b[$0]) }.max() ?? .infinity
    }

    @Test(arguments: WeightDType.reproducingReference)
    func loadsTheOfficialLayout(dtype: WeightDType) throws {
        let model = try LlamaModel(directory: Self.targetPath, dtype: dtype)
        let head = try EagleHead(directory: Self.headPath, target: model)
        #expect(head.kind == .eagle3)
        #expect(head.captureLayers == (golden["capture_layers"] as! [Int]))
        #expect(head.featureWidth == 3 * model.config.hiddenSize && head.draftVocabSize == 128)
        #expect(head.draftToTarget.count == 128 && zip(head.draftToTarget, head.draftToTarget.dropFirst()).allSatisfy { $0 < $1 })
        #expect(head.draftToTarget.allSatisfy { $0 >= 0 && Int($0) < model.config.vocabSize })
    }

    /// The target records the inputs of layers 2, 4 and 5 as transformers' hidden_states.
    @Test(arguments: WeightDType.reproducingReference)
    func targetRecordsTheLayerInputs(dtype: WeightDType) throws {
        let model = try LlamaModel(directory: Self.targetPath, dtype: dtype)
        let prompt = ints("prompt")
        let out = try model.makeSession(maxBatch: 64, captureLayers: golden["capture_layers"] as! [Int]).forward(prompt, logits: .all)
        for (i, expected) in rows("features").enumerated() {
            #expect(maxDiff(out.captured(forToken: i).baseAddress!, expected) < Self.tolerance, "features of token \(i)")
        }
        for (i, expected) in rows("target_logits").enumerated() {
            #expect(maxDiff(out.logits(forToken: i).baseAddress!, expected) < Self.tolerance, "logits of token \(i)")
        }
    }

    @Test(arguments: WeightDType.reproducingReference)
    func headMatchesThePyTorchReference(dtype: WeightDType) throws {
        let model = try LlamaModel(directory: Self.targetPath, dtype: dtype)
        let head = try EagleHead(directory: Self.headPath, target: model)
        let prompt = ints("prompt"), n = prompt.count
        let target = try model.makeSession(maxBatch: 64, captureLayers: head.captureLayers).forward(prompt, logits: .none)
        let session = DraftSession(head: head, target: model, capacity: 256, maxBatch: 64)
        // Commit pass: row i is (token i+1, target features of token i).
        try Array(prompt[1...]).withUnsafeBufferPointer { t in
            try session.forward(tokens: t, feature: { head.feature(target, token: $0).baseAddress! }, withLogits: true)
        }
        for (i, expected) in rows("commit_hidden").enumerated() {
            #expect(maxDiff(session.feature(row: i), expected) < Self.tolerance, "commit hidden \(i)")
        }
        for (i, expected) in rows("commit_logits").enumerated() {
            #expect(maxDiff(session.logits(row: i).baseAddress!, expected) < Self.tolerance, "commit logits \(i)")
        }
        let best = Sampler.argmax(UnsafeBufferPointer(session.logits(row: n - 2)))
        let draft = head.targetToken(best)
        #expect(draft == TokenID(golden["draft_token"] as! Int))
        // One draft step on the head's own feature, at the next position.
        let own = Array(UnsafeBufferPointer(start: session.feature(row: n - 2), count: model.config.hiddenSize))
        try own.withUnsafeBufferPointer { f in
            try [draft].withUnsafeBufferPointer { t in
                try [Int32(n - 1)].withUnsafeBufferPointer { p in
                    try session.forward(tokens: t, feature: { _ in f.baseAddress! }, ownFeatures: true, positions: p, withLogits: true)
                }
            }
        }
        #expect(maxDiff(session.feature(row: 0), floats(golden["step_hidden"])) < Self.tolerance)
        #expect(maxDiff(session.logits(row: 0).baseAddress!, floats(golden["step_logits"])) < Self.tolerance)
    }

    static let trees: [TreeConfig] = [
        .cpuDefault, .dynamic(depth: 4, topK: 3, totalTokens: 10), .staticTree(choices: TreeConfig.mcSim7b63),
    ]

    /// Lossless with an EAGLE-3 head: greedy output equals plain greedy (and transformers'
    /// continuation); seeded sampling equals plain sampling with the same seed.
    @Test(arguments: trees)
    func eagle3DecodingEqualsPlainDecoding(tree: TreeConfig) throws {
        let model = try LlamaModel(directory: Self.targetPath)
        let head = try EagleHead(directory: Self.headPath, target: model)
        let eagle = SpeculativeGenerator(model: model, head: head, tokenizer: nil, tree: tree)
        let greedy = GenerationParams(maxTokens: 24, ignoreEOS: true)
        let prompt = ints("prompt")
        let tokens = try eagle.generate(prompt: prompt, params: greedy) { _ in .proceed }.tokens
        #expect(tokens == ints("greedy"))
        for seed: UInt64 in 1...12 {
            let prompt = syntheticPrompt(seed: seed, length: 6 + Int(seed % 5), vocabulary: model.config.vocabSize)
            for params in [GenerationParams(maxTokens: 40, ignoreEOS: true),
                           GenerationParams(maxTokens: 40, sampling: SamplingParams(temperature: 1, seed: seed), ignoreEOS: true)] {
                let expected = try plainTokens(model, prompt: prompt, params: params)
                let got = try eagle.generate(prompt: prompt, params: params) { _ in .proceed }.tokens
                #expect(got == expected, "seed \(seed), temperature \(params.sampling.temperature)")
            }
        }
    }

    /// A head whose d2t points outside the target's vocabulary, or whose draft vocabulary is
    /// larger than the target's, is refused with a clear error.
    @Test func inconsistentHeadsAreRefused() throws {
        let model = try LlamaModel(directory: Self.targetPath)
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("eagle3-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: scratch) }
        try FileManager.default.copyItem(at: Self.headPath.appendingPathComponent("model.safetensors"),
                                         to: scratch.appendingPathComponent("model.safetensors"))
        var config = try JSONSerialization.jsonObject(with: Data(contentsOf: Self.headPath.appendingPathComponent("config.json"))) as! [String: Any]
        config["draft_vocab_size"] = 100_000
        try JSONSerialization.data(withJSONObject: config).write(to: scratch.appendingPathComponent("config.json"))
        #expect(throws: CheckpointError.self) { _ = try EagleHead(directory: scratch, target: model) }
        config["draft_vocab_size"] = 64   // the tensors hold 128 rows
        try JSONSerialization.data(withJSONObject: config).write(to: scratch.appendingPathComponent("config.json"))
        #expect(throws: CheckpointError.self) { _ = try EagleHead(directory: scratch, target: model) }
    }
}

/// The EAGLE-3 head trained for the bundled 6-layer model (Tools/train_eagle3_head.py):
/// under 7 layers the recorded layers are 2, N/2, N−3 clamped — 2, 3, 3, the repeated layer
/// recorded twice — and decoding with it is lossless.
@Suite struct BundledEagle3HeadTests {
    @Test func shallowTargetRecordsARepeatedLayerTwice() throws {
        let model = try LlamaModel(directory: repositoryRoot.appendingPathComponent("Models/tiny-pystd"))
        let head = try EagleHead(directory: repositoryRoot.appendingPathComponent("Models/tiny-pystd-eagle3"), target: model)
        #expect(head.kind == .eagle3 && head.captureLayers == [2, 3, 3] && head.draftVocabSize == 1024)
        let out = try model.makeSession(maxBatch: 64, captureLayers: head.captureLayers).forward([0, 100, 200, 300], logits: .none)
        let d = model.config.hiddenSize
        for i in 0..<out.count {
            let f = out.captured(forToken: i)
            #expect(Array(f[d..<2 * d]) == Array(f[2 * d..<3 * d]), "token \(i): layer 3 recorded twice")
            #expect(Array(f[0..<d]) != Array(f[d..<2 * d]))
        }
        let eagle = SpeculativeGenerator(model: model, head: head, tokenizer: nil, tree: .dynamic(depth: 4, topK: 2, totalTokens: 8))
        let texts = try JSONDecoder().decode([String].self, from: Data(contentsOf: repositoryRoot.appendingPathComponent("Tests/Golden/bench-prompts.json")))
        let tokenizer = try Tokenizer.load(directory: repositoryRoot.appendingPathComponent("Models/tiny-pystd"))
        var steps = 0, tokens = 0
        for text in texts.prefix(6) {
            let prompt = tokenizer.encode(text)
            let params = GenerationParams(maxTokens: 48, ignoreEOS: true)
            let result = try eagle.generate(prompt: prompt, params: params) { _ in .proceed }
            #expect(result.tokens == (try plainTokens(model, prompt: prompt, params: params)))
            steps += result.steps
            tokens += result.tokens.count
        }
        #expect(Double(tokens) / Double(steps) > 1.2, "the trained head's drafts are accepted")
    }
}
