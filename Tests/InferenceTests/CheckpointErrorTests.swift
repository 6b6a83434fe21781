import Foundation
import Testing
@testable import Inference

/// Corrupt, truncated or mismatched checkpoints give typed errors naming file and tensor.
@Suite struct CheckpointErrorTests {
    let goodHeader = #"{"w":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]}}"#
    let sixteenBytes = [UInt8](repeating: 0, count: 16)

    func file(header: String, data: [UInt8], declaredLength: UInt64? = nil) throws -> String {
        let url = try temporaryDirectory().appendingPathComponent("model.safetensors")
        try writeSafetensors(header: header, data: data, to: url, declaredLength: declaredLength)
        return url.path
    }

    @Test func wellFormedFileReads() throws {
        var values: [Float] = [1.5, -2, 0.25, 8]
        let data = values.withUnsafeBytes { Array($0) }
        let f = try SafetensorsFile(path: file(header: goodHeader, data: data))
        #expect(f.tensors["w"]?.shape == [2, 2])
        values = [0, 0, 0, 0]
        try values.withUnsafeMutableBufferPointer { try f.read("w", expectedShape: [2, 2], into: $0.baseAddress!) }
        #expect(values == [1.5, -2, 0.25, 8])
    }

    @Test func halfPrecisionConverts() throws {
        // bf16 1.0 = 0x3F80, -2.5 = 0xC020; f16 1.0 = 0x3C00, -2.5 = 0xC100.
        let header = #"{"b":{"dtype":"BF16","shape":[2],"data_offsets":[0,4]},"h":{"dtype":"F16","shape":[2],"data_offsets":[4,8]}}"#
        let f = try SafetensorsFile(path: file(header: header, data: [0x80, 0x3F, 0x20, 0xC0, 0x00, 0x3C, 0x00, 0xC1]))
        var out: [Float] = [0, 0]
        try out.withUnsafeMutableBufferPointer { try f.read("b", expectedShape: [2], into: $0.baseAddress!) }
        #expect(out == [1, -2.5])
        try out.withUnsafeMutableBufferPointer { try f.read("h", expectedShape: [2], into: $0.baseAddress!) }
        #expect(out == [1, -2.5])
    }

    @Test func truncatedData() throws {
        let path = try file(header: goodHeader, data: Array(sixteenBytes.prefix(10)))
        #expect(throws: CheckpointError.truncated(file: path, detail: "tensor 'w' ends at data offset 16 but the file has 10 bytes of data")) {
            try SafetensorsFile(path: path)
        }
    }

    @Test func headerLongerThanFile() throws {
        let path = try file(header: goodHeader, data: sixteenBytes, declaredLength: 1_000_000)
        #expect(throws: CheckpointError.self) { try SafetensorsFile(path: path) }
        let tiny = try temporaryDirectory().appendingPathComponent("tiny.safetensors")
        try Data([1, 2, 3]).write(to: tiny)
        #expect(throws: CheckpointError.truncated(file: tiny.path, detail: "shorter than the 8-byte header length")) {
            try SafetensorsFile(path: tiny.path)
        }
    }

    @Test func hugeHeaderLengthIsRefusedBeforeReading() throws {
        let path = try file(header: goodHeader, data: sixteenBytes, declaredLength: UInt64.max)
        #expect(throws: CheckpointError.self) { try SafetensorsFile(path: path) }
    }

    @Test func malformedJSON() throws {
        let path = try file(header: "{not json", data: sixteenBytes)
        #expect(throws: CheckpointError.malformedHeader(file: path, detail: "header is not valid JSON")) { try SafetensorsFile(path: path) }
    }

    @Test func sizeDisagreesWithShape() throws {
        let path = try file(header: #"{"w":{"dtype":"F32","shape":[3,2],"data_offsets":[0,16]}}"#, data: sixteenBytes)
        #expect(throws: CheckpointError.self) { try SafetensorsFile(path: path) }
    }

    @Test func unknownDType() throws {
        let path = try file(header: #"{"w":{"dtype":"Q4_K","shape":[16],"data_offsets":[0,16]}}"#, data: sixteenBytes)
        #expect(throws: CheckpointError.unsupportedDType(file: path, tensor: "w", dtype: "Q4_K")) { try SafetensorsFile(path: path) }
    }

    @Test func integerTensorCannotBeReadAsWeights() throws {
        let path = try file(header: #"{"w":{"dtype":"I32","shape":[4],"data_offsets":[0,16]}}"#, data: sixteenBytes)
        let f = try SafetensorsFile(path: path)
        var out = [Float](repeating: 0, count: 4)
        #expect(throws: CheckpointError.unsupportedDType(file: path, tensor: "w", dtype: "I32")) {
            try out.withUnsafeMutableBufferPointer { try f.read("w", expectedShape: [4], into: $0.baseAddress!) }
        }
    }

    @Test func wrongShapeNamesTheTensor() throws {
        let path = try file(header: goodHeader, data: sixteenBytes)
        let f = try SafetensorsFile(path: path)
        var out = [Float](repeating: 0, count: 4)
        #expect(throws: CheckpointError.shapeMismatch(file: path, tensor: "w", expected: [4], actual: [2, 2])) {
            try out.withUnsafeMutableBufferPointer { try f.read("w", expectedShape: [4], into: $0.baseAddress!) }
        }
    }

    @Test func missingFile() throws {
        let dir = try temporaryDirectory()
        #expect(throws: CheckpointError.self) { try CheckpointDirectory(directory: dir) }
        #expect(throws: CheckpointError.fileNotFound(path: dir.appendingPathComponent("config.json").path)) {
            try ModelConfig.load(directory: dir)
        }
    }

    /// A model directory copied from a fixture, for corrupting one piece at a time.
    func copyOfFixture(_ name: String) throws -> URL {
        let dir = try temporaryDirectory().appendingPathComponent(name)
        try FileManager.default.copyItem(at: fixtureModel(name), to: dir)
        return dir
    }

    @Test func shardMissingFromIndex() throws {
        let dir = try copyOfFixture("tiny-llama3-f16-sharded")
        try FileManager.default.removeItem(at: dir.appendingPathComponent("model-00002-of-00002.safetensors"))
        #expect(throws: CheckpointError.fileNotFound(path: dir.appendingPathComponent("model-00002-of-00002.safetensors").path)) {
            try LlamaModel(directory: dir)
        }
    }

    @Test func indexPointsAtWrongShard() throws {
        let dir = try copyOfFixture("tiny-llama3-f16-sharded")
        let indexURL = dir.appendingPathComponent("model.safetensors.index.json")
        var index = try JSONSerialization.jsonObject(with: Data(contentsOf: indexURL)) as! [String: Any]
        var map = index["weight_map"] as! [String: String]
        let name = "model.norm.weight"
        map[name] = map[name] == "model-00001-of-00002.safetensors" ? "model-00002-of-00002.safetensors" : "model-00001-of-00002.safetensors"
        index["weight_map"] = map
        try JSONSerialization.data(withJSONObject: index).write(to: indexURL)
        #expect(throws: CheckpointError.self) { try LlamaModel(directory: dir) }
        try Data("[]".utf8).write(to: indexURL)
        #expect(throws: CheckpointError.malformedIndex(file: indexURL.path, detail: "expected an object with a \"weight_map\"")) {
            try LlamaModel(directory: dir)
        }
    }

    @Test func configThatDoesNotMatchTheWeights() throws {
        let dir = try copyOfFixture("tiny-qwen2-f32")
        let configURL = dir.appendingPathComponent("config.json")
        var config = try JSONSerialization.jsonObject(with: Data(contentsOf: configURL)) as! [String: Any]
        config["intermediate_size"] = 81
        try JSONSerialization.data(withJSONObject: config).write(to: configURL)
        let error = #expect(throws: CheckpointError.self) { try LlamaModel(directory: dir) }
        guard case .shapeMismatch(let file, let tensor, _, _)? = error else {
            Issue.record("expected a shape mismatch, got \(String(describing: error))")
            return
        }
        #expect(file.hasSuffix("model.safetensors"))
        #expect(tensor == "model.layers.0.mlp.gate_proj.weight")
    }

    @Test func unsupportedConfigs() throws {
        let cases: [(String, String)] = [
            (#"{"model_type":"gpt2","hidden_size":8}"#, "model_type"),
            (#"{"model_type":"llama","hidden_size":8,"num_attention_heads":3,"num_key_value_heads":2,"num_hidden_layers":1,"intermediate_size":8,"vocab_size":8}"#, "attention shape"),
            (#"{"model_type":"llama","hidden_size":8,"num_attention_heads":2,"num_hidden_layers":1,"vocab_size":8}"#, "intermediate_size"),
            (#"{"model_type":"llama","hidden_size":"8"}"#, "hidden_size"),
            (#"{"model_type":"llama","hidden_size":8,"num_attention_heads":2,"num_hidden_layers":1,"intermediate_size":8,"vocab_size":8,"rope_scaling":{"rope_type":"yarn","factor":2}}"#, "yarn"),
            (#"{"model_type":"llama","hidden_act":"gelu"}"#, "gelu"),
            ("[1,2]", "JSON object"),
        ]
        for (json, mention) in cases {
            let error = #expect(throws: CheckpointError.self) { try ModelConfig.parse(Data(json.utf8)) }
            #expect(error?.description.contains(mention) == true, "\(String(describing: error))")
        }
    }
}

extension CheckpointErrorTests {
    @Test(arguments: [
        #"{"w":{"dtype":"F32","shape":[2,2],"data_offsets":[0,1e30]}}"#,
        #"{"w":{"dtype":"F32","shape":[2,2],"data_offsets":[-16,0]}}"#,
        #"{"w":{"dtype":"F32","shape":[4611686018427387904,4],"data_offsets":[0,16]}}"#,
        #"{"w":{"dtype":"F32","shape":[1e300],"data_offsets":[0,16]}}"#,
        #"{"w":{"dtype":"F32","shape":[2.5],"data_offsets":[0,16]}}"#,
        #"{"w":{"dtype":"F32","shape":"big","data_offsets":[0,16]}}"#,
        #"{"w":[1,2]}"#,
    ])
    func hostileHeadersAreRefused(header: String) throws {
        let path = try file(header: header, data: sixteenBytes)
        #expect(throws: CheckpointError.self) { try SafetensorsFile(path: path) }
    }
}
