import Foundation
import Testing
import TestSupport
@testable import Inference

/// Sizes from config.json are validated (field named) before anything is allocated, size
/// arithmetic is overflow-checked, and the footprint bounds what a load really allocates.
@Suite struct ModelLimitTests {
    static let fixture = fixtureModel("tiny-llama3-f16-sharded")

    func fixtureConfig() throws -> [String: Any] {
        let data = try Data(contentsOf: Self.fixture.appendingPathComponent("config.json"))
        return try #require(JSONSerialization.jsonObject(with: data) as? [String: Any])
    }

    func parse(_ json: [String: Any]) throws -> ModelConfig {
        try ModelConfig.parse(JSONSerialization.data(withJSONObject: json), file: "config.json")
    }

    /// The fixture's weights next to an edited config.json.
    func directory(with json: [String: Any]) throws -> URL {
        let dir = try temporaryDirectory()
        for name in try FileManager.default.contentsOfDirectory(atPath: Self.fixture.path) where name != "config.json" {
            try FileManager.default.createSymbolicLink(at: dir.appendingPathComponent(name),
                                                       withDestinationURL: Self.fixture.appendingPathComponent(name))
        }
        try JSONSerialization.data(withJSONObject: json).write(to: dir.appendingPathComponent("config.json"))
        return dir
    }

    @Test func billionLayersIsAClearErrorInProcess() throws {
        var json = try fixtureConfig()
        json["num_hidden_layers"] = 1_000_000_000
        let dir = try directory(with: json)
        let expected = CheckpointError.invalidConfig(file: dir.appendingPathComponent("config.json").path,
                                                     detail: "'num_hidden_layers' is 1000000000; it must be in 1...1024")
        #expect(throws: expected) { try LlamaModel(directory: dir) }
        // The unedited fixture still loads from the same files.
        json["num_hidden_layers"] = 2
        #expect(try LlamaModel(directory: directory(with: json)).config.layerCount == 2)
    }

    @Test(arguments: [
        ("num_hidden_layers", 1025), ("hidden_size", 1 << 17), ("num_attention_heads", 4096),
        ("num_key_value_heads", 0), ("head_dim", 1024), ("intermediate_size", 1 << 21),
        ("vocab_size", 1 << 23), ("max_position_embeddings", 1 << 25), ("vocab_size", -5),
    ])
    func everySizeFieldHasACeiling(key: String, value: Int) throws {
        var json = try fixtureConfig()
        json[key] = value
        do {
            _ = try parse(json)
            Issue.record("\(key) = \(value) was accepted")
        } catch let error as CheckpointError {
            guard case .invalidConfig(_, let detail) = error else { Issue.record("\(error)"); return }
            #expect(detail.contains("'\(key)'") || detail.contains("attention shape"), "\(detail)")
        }
    }

    @Test func nonIntegerSizesAreRefusedNotWrapped() throws {
        for value: Any in [1e300, 2.5, "64", UInt64.max] {
            var json = try fixtureConfig()
            json["hidden_size"] = value
            #expect(throws: CheckpointError.self, "hidden_size = \(value)") { try parse(json) }
        }
        var json = try fixtureConfig()
        var rope = try #require(json["rope_parameters"] as? [String: Any])
        rope["original_max_position_embeddings"] = 1e300
        json["rope_parameters"] = rope
        #expect(throws: CheckpointError.self) { try parse(json) }
    }

    @Test func checkedArithmetic() {
        #expect(CheckedSize.product(1 << 40, 1 << 30) == nil)
        #expect(CheckedSize.product(3, 4, 5) == 60)
        #expect(CheckedSize.sum(Int.max, 1) == nil)
        #expect(CheckedSize.sum(-1, 2) == nil)
        #expect(CheckedSize.sum(1, 2) == 3)
    }

    @Test func safetensorsOffsetsNearIntMaxAreAnErrorNotACrash() throws {
        let begin = Int.max - 4, end = Int.max
        let header = #"{"w":{"dtype":"F32","shape":[1],"data_offsets":[\#(begin),\#(end)]}}"#
        let url = try temporaryDirectory().appendingPathComponent("model.safetensors")
        try writeSafetensors(header: header, data: [0, 0, 0, 0], to: url)
        #expect(throws: CheckpointError.truncated(file: url.path, detail: "tensor 'w' ends at data offset \(end) but the file has 4 bytes of data")) {
            try SafetensorsFile(path: url.path)
        }
        // Beyond Int (and not integers at all) is malformed, not wrapped.
        for offsets in ["[0, 18446744073709551615]", "[0, 1e300]", "[0.5, 4]"] {
            let bad = #"{"w":{"dtype":"F32","shape":[1],"data_offsets":\#(offsets)}}"#
            try writeSafetensors(header: bad, data: [0, 0, 0, 0], to: url)
            #expect(throws: CheckpointError.self, "\(offsets)") { try SafetensorsFile(path: url.path) }
        }
    }

    @Test func footprintBoundsWhatALoadAllocates() throws {
        for dtype in WeightDType.allCases {
            let model = try LlamaModel(directory: Self.fixture, dtype: dtype)
            let footprint = try ModelFootprint(model.config)
            let estimate = try #require(footprint.weightBytes(dtype))
            // Counted: every matrix in the serving dtype, the output head even when tied.
            let untiedHead = model.config.vocabSize * model.config.hiddenSize * dtype.byteSize
            #expect(estimate >= model.weights.byteCount)
            #expect(estimate <= model.weights.byteCount + untiedHead)
            #expect(footprint.kvBytesPerToken == KVCache.bytesPerToken(
                layerCount: model.config.layerCount, kvHeadCount: model.config.kvHeadCount, headDim: model.config.headDim))
            let session = model.makeSession(maxBatch: 64)
            let sessionEstimate = try #require(footprint.sessionBytes(contextLength: model.contextLength, maxBatch: 64))
            let logitsAndStreams = 64 * (model.config.vocabSize + 2 * model.config.hiddenSize) * 4
            #expect(sessionEstimate >= session.stack.byteCount + logitsAndStreams)
            #expect(sessionEstimate <= 2 * (session.stack.byteCount + logitsAndStreams))
        }
    }
}
