import Foundation
import Inference

/// A text model for the frames harness that costs microseconds a pass: the bundled
/// `Models/tiny-pystd`'s tokenizer, chat template and special tokens (vocabulary 4096) over a
/// 1-layer, 64-wide LLaMA with random weights, and a random EAGLE-1 head of the same width —
/// written as HF and official-EAGLE safetensors into a temporary directory at start-up.
/// The harness fuzzes request handling, not the model: with the bundled 6-layer, 256-wide
/// model, long-run corpora spent half their time in its prefills (~200 executions/s).
enum MicroTextModel {
    static let hidden = 64, intermediate = 128, heads = 4, kvHeads = 2, vocabulary = 4096

    /// Writes the model and its head under `directory`; returns their paths.
    static func write(to directory: URL, tokenizerFrom source: URL) throws -> (target: String, head: String) {
        let target = directory.appendingPathComponent("text-model"), head = directory.appendingPathComponent("text-head")
        for dir in [target, head] { try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true) }
        for name in ["tokenizer.json", "tokenizer_config.json", "chat_template.jinja", "generation_config.json"] {
            let from = source.appendingPathComponent(name)
            if FileManager.default.fileExists(atPath: from.path) {
                try? FileManager.default.removeItem(at: target.appendingPathComponent(name))
                try FileManager.default.copyItem(at: from, to: target.appendingPathComponent(name))
            }
        }
        let kv = hidden / heads * kvHeads
        var random = RandomSource(seed: 0x5EED)  // the same weights every run
        func layer(_ prefix: String) -> [(String, [Int])] {
            [("\(prefix)self_attn.q_proj.weight", [hidden, hidden]), ("\(prefix)self_attn.k_proj.weight", [kv, hidden]),
             ("\(prefix)self_attn.v_proj.weight", [kv, hidden]), ("\(prefix)self_attn.o_proj.weight", [hidden, hidden]),
             ("\(prefix)post_attention_layernorm.weight", [hidden]), ("\(prefix)mlp.gate_proj.weight", [intermediate, hidden]),
             ("\(prefix)mlp.up_proj.weight", [intermediate, hidden]), ("\(prefix)mlp.down_proj.weight", [hidden, intermediate])]
        }
        let model = [("model.embed_tokens.weight", [vocabulary, hidden]), ("model.layers.0.input_layernorm.weight", [hidden])]
            + layer("model.layers.0.") + [("model.norm.weight", [hidden]), ("lm_head.weight", [vocabulary, hidden])]
        try safetensors(model, random: &random).write(to: target.appendingPathComponent("model.safetensors"))
        let eagle = [("fc.weight", [hidden, 2 * hidden]), ("fc.bias", [hidden])] + layer("layers.0.")
        try safetensors(eagle, random: &random).write(to: head.appendingPathComponent("model.safetensors"))
        try Data(config().utf8).write(to: target.appendingPathComponent("config.json"))
        try Data(config(head: true).utf8).write(to: head.appendingPathComponent("config.json"))
        return (target.path, head.path)
    }

    static func config(head: Bool = false) -> String {
        """
        {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_act": "silu",
         "hidden_size": \(hidden), "intermediate_size": \(intermediate), "num_attention_heads": \(heads),
         "num_key_value_heads": \(kvHeads), "num_hidden_layers": 1, "max_position_embeddings": 1024,
         "rms_norm_eps": 1e-05, "rope_theta": 10000.0, "vocab_size": \(vocabulary), "bos_token_id": 0,
         "eos_token_id": 1, "pad_token_id": 4, "tie_word_embeddings": false, "torch_dtype": "float32"\(head ? ", \"bias\": true" : "")}
        """
    }

    /// F32 tensors: norms 1, the rest uniform in ±0.2.
    static func safetensors(_ tensors: [(String, [Int])], random: inout RandomSource) -> Data {
        var header: [String] = [], data = Data(), offset = 0
        for (name, shape) in tensors {
            let count = shape.reduce(1, *)
            var values = [Float](repeating: 1, count: count)
            if !name.hasSuffix("norm.weight") {
                for i in 0..<count { values[i] = Float(random.next() >> 40) / Float(1 << 24) * 0.4 - 0.2 }
            }
            values.withUnsafeBytes { data.append(contentsOf: $0) }
            header.append("\"\(name)\": {\"dtype\": \"F32\", \"shape\": \(shape), \"data_offsets\": [\(offset), \(offset + 4 * count)]}")
            offset += 4 * count
        }
        var json = Array(("{" + header.joined(separator: ", ") + "}").utf8)
        while json.count % 8 != 0 { json.append(0x20) }
        var file = Data()
        withUnsafeBytes(of: UInt64(json.count).littleEndian) { file.append(contentsOf: $0) }
        file.append(contentsOf: json)
        file.append(data)
        return file
    }
}
