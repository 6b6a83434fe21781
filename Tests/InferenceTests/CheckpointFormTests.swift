import Foundation
import Testing
@testable import Inference
import Tokenization

/// One checkpoint reader for every published form: safetensors (single or sharded) and
/// PyTorch `.bin` (single or sharded, through the restricted unpickler), safetensors preferred.
@Suite struct CheckpointFormTests {
    static let safetensorsTwin = "tiny-llama3-f16-sharded"
    static let binTwin = "tiny-llama3-bin-sharded"   // Tools/make_bin_checkpoint.py

    func tensors(_ model: LlamaModel) -> [[Float]] {
        let w = model.weights
        var rows: [[Float]] = (0..<w.embedding.outputs).map { w.embedding.row($0) }
        for layer in w.layers {
            for matrix in [layer.qkv, layer.output, layer.gateUp, layer.down] {
                rows += (0..<matrix.outputs).map { matrix.row($0) }
            }
            let d = model.config.hiddenSize
            rows.append(Array(UnsafeBufferPointer(start: layer.mlpNorm, count: d)))
            if let norm = layer.attentionNorm { rows.append(Array(UnsafeBufferPointer(start: norm, count: d))) }
            if let bias = layer.qkvBias { rows.append(Array(UnsafeBufferPointer(start: bias, count: layer.qkv.outputs))) }
        }
        return rows
    }

    @Test(arguments: WeightDType.allCases)
    func shardedBinLoadsLikeItsSafetensorsTwin(dtype: WeightDType) throws {
        let bin = try CheckpointDirectory(directory: fixtureModel(Self.binTwin))
        #expect(bin.filePaths.count == 4 && bin.filePaths.allSatisfy { $0.hasSuffix(".bin") })
        let a = try LlamaModel(directory: fixtureModel(Self.binTwin), dtype: dtype)
        let b = try LlamaModel(directory: fixtureModel(Self.safetensorsTwin), dtype: dtype)
        #expect(tensors(a) == tensors(b))
        let prompt: [TokenID] = [5, 17, 42, 8, 63, 21, 9]
        let x = try a.makeSession().forward(prompt, logits: .all)
        let y = try b.makeSession().forward(prompt, logits: .all)
        for i in prompt.indices { #expect(Array(x.logits(forToken: i)) == Array(y.logits(forToken: i))) }
    }

    @Test func safetensorsIsPreferredWhenBothArePresent() throws {
        let dir = try temporaryDirectory()
        for name in try FileManager.default.contentsOfDirectory(atPath: fixtureModel(Self.binTwin).path) {
            try FileManager.default.copyItem(at: fixtureModel(Self.binTwin).appendingPathComponent(name),
                                             to: dir.appendingPathComponent(name))
        }
        for name in try FileManager.default.contentsOfDirectory(atPath: fixtureModel(Self.safetensorsTwin).path)
        where name.contains("safetensors") {
            try FileManager.default.copyItem(at: fixtureModel(Self.safetensorsTwin).appendingPathComponent(name),
                                             to: dir.appendingPathComponent(name))
        }
        #expect(try CheckpointDirectory(directory: dir).filePaths.allSatisfy { $0.hasSuffix(".safetensors") })
    }

    @Test func brokenBinShardsAreTypedErrors() throws {
        let dir = try temporaryDirectory().appendingPathComponent("bin")
        try FileManager.default.copyItem(at: fixtureModel(Self.binTwin), to: dir)
        let shard = dir.appendingPathComponent("pytorch_model-00002-of-00004.bin")
        // Truncated shard: refused with a checkpoint error naming it, never a trap.
        let bytes = try Data(contentsOf: shard)
        try bytes.prefix(bytes.count / 2).write(to: shard)
        #expect { try LlamaModel(directory: dir) } throws: { "\($0)".contains("pytorch_model-00002-of-00004.bin") }
        // A shard that is missing altogether.
        try FileManager.default.removeItem(at: shard)
        #expect(throws: CheckpointError.fileNotFound(path: shard.path)) { try LlamaModel(directory: dir) }
        // A shard name that tries to leave the directory.
        let index = dir.appendingPathComponent("pytorch_model.bin.index.json")
        try Data(#"{"weight_map": {"model.norm.weight": "../x.bin"}}"#.utf8).write(to: index)
        #expect { try CheckpointDirectory(directory: dir) } throws: { "\($0)".contains("invalid shard name") }
    }
}
