import Foundation
import Wire

/// Writes each harness's seed corpus (`EAGLE_FUZZ_WRITE_SEEDS=DIR`): small, valid inputs
/// built from the test fixtures, so mutation starts from what real peers and files look like.
/// The committed corpora under Fuzz/corpus were made with it (`make fuzz-seeds`).
enum Seeds {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    static func write(_ harness: Harness, to directory: String) {
        try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let seeds: [String: [UInt8]]
        switch harness {
        case .frames: seeds = frames()
        case .safetensors: seeds = safetensors()
        case .torch: seeds = files(["Tests/Fixtures/models/tiny-llama3-bin-sharded/pytorch_model-00004-of-00004.bin"])
        case .config: seeds = files(["Tests/Fixtures/models/tiny-llama3-f16-sharded/config.json", "Tests/Fixtures/models/tiny-qwen2-f32/config.json",
                                     "Tests/Fixtures/models/tiny-llama3-head/config.json", "Models/tiny-pystd/config.json"])
        case .tokenizer: seeds = tokenizer()
        }
        for (name, bytes) in seeds {
            _ = FileManager.default.createFile(atPath: "\(directory)/\(name)", contents: Data(bytes))
        }
    }

    private static func files(_ paths: [String]) -> [String: [UInt8]] {
        var seeds: [String: [UInt8]] = [:]
        for path in paths {
            if let data = FileManager.default.contents(atPath: root.appendingPathComponent(path).path) {
                seeds[path.replacingOccurrences(of: "/", with: "_")] = Array(data)
            }
        }
        return seeds
    }

    private static func frames() -> [String: [UInt8]] {
        func framed(_ requests: [Eagle_V1_Request]) -> [UInt8] {
            requests.flatMap { r -> [UInt8] in
                let payload: [UInt8] = (try? r.serializedBytes()) ?? []
                return withUnsafeBytes(of: UInt32(payload.count).bigEndian) { Array($0) } + payload
            }
        }
        let generate = Eagle_V1_Request.with {
            $0.id = 1
            $0.generate = .with { $0.model = "tiny"; $0.tokens = .with { $0.ids = [1, 5, 9] }; $0.maxTokens = 3 }
        }
        let text = Eagle_V1_Request.with {
            $0.id = 2
            $0.generate = .with {
                $0.text = "def fibonacci(n):"; $0.stream = true; $0.stop = ["\n\n"]
                $0.sampling = .with { $0.temperature = 0.8; $0.topK = 20; $0.topP = 0.9; $0.seed = 7 }
            }
        }
        let eagle = Eagle_V1_Request.with {
            $0.id = 3
            $0.generate = .with {
                $0.text = "import os"; $0.speculative = .with { $0.enabled = true; $0.treeDepth = 2; $0.treeTopK = 2; $0.totalTokens = 4 }
            }
        }
        let chat = Eagle_V1_Request.with {
            $0.id = 4
            $0.generate = .with { $0.chat = .with { $0.messages = [.with { $0.role = "user"; $0.content = "hi" }] } }
        }
        // The same kinds of request on `micro` (token ids only), where an input costs microseconds.
        let micro = Eagle_V1_Request.with {
            $0.id = 13
            $0.generate = .with {
                $0.model = "micro"; $0.tokens = .with { $0.ids = [1, 5, 9, 40, 95] }; $0.maxTokens = 4; $0.stream = true
                $0.ignoreEos = true
            }
        }
        let microEagle = Eagle_V1_Request.with {
            $0.id = 14
            $0.generate = .with {
                $0.model = "micro"; $0.tokens = .with { $0.ids = [3, 2, 1] }
                $0.speculative = .with { $0.enabled = true; $0.treeDepth = 3; $0.treeTopK = 2; $0.totalTokens = 6 }
                $0.sampling = .with { $0.temperature = 1; $0.topK = 5; $0.seed = 11 }
            }
        }
        let microStatic = Eagle_V1_Request.with {
            $0.id = 15
            $0.generate = .with {
                $0.model = "micro"; $0.tokens = .with { $0.ids = [8] }
                $0.speculative = .with { $0.enabled = true; $0.staticTree = true }
            }
        }
        return [
            "micro": framed([micro]),
            "micro-eagle": framed([microEagle, .with { $0.id = 16; $0.cancel = .with { $0.targetID = 14 } }]),
            "micro-static": framed([microStatic]),
            "micro-auto": framed([.with { $0.id = 17; $0.generate = .with { $0.model = "micro"; $0.tokens = .with { $0.ids = [2, 4] }; $0.speculative = .with { $0.enabled = true; $0.treeDepth = 0; $0.treeTopK = 0; $0.totalTokens = 0 } } },
                                  .with { $0.id = 18; $0.detokenize = .with { $0.model = "micro"; $0.ids = [1, 2] } }]),
            "hello-generate": framed([.hello(clientName: "seed"), generate]),
            "text-stream": framed([text]),
            "eagle": framed([eagle]),
            "chat": framed([chat]),
            "tokenize": framed([.with { $0.id = 5; $0.tokenize = .with { $0.text = "hello world"; $0.addSpecialTokens = true } },
                                .with { $0.id = 6; $0.detokenize = .with { $0.ids = [1, 2, 3, 300] } }]),
            "admin": framed([.with { $0.id = 7; $0.listModels = .init() }, .with { $0.id = 8; $0.getStats = .init() },
                             .with { $0.id = 9; $0.health = .init() },
                             .with { $0.id = 10; $0.loadModel = .with { $0.name = "x"; $0.targetDir = "/tmp" } },
                             .with { $0.id = 11; $0.unloadModel = .with { $0.name = "tiny" } },
                             .with { $0.id = 12; $0.cancel = .with { $0.targetID = 1 } }]),
        ]
    }

    private static func safetensors() -> [String: [UInt8]] {
        func file(_ header: String, _ data: [UInt8]) -> [UInt8] {
            withUnsafeBytes(of: UInt64(header.utf8.count).littleEndian) { Array($0) } + Array(header.utf8) + data
        }
        var seeds = [
            "f32": file(#"{"w":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]}}"#, [UInt8](repeating: 0x3F, count: 16)),
            "mixed": file(#"{"__metadata__":{"format":"pt"},"b":{"dtype":"BF16","shape":[2],"data_offsets":[0,4]},"h":{"dtype":"F16","shape":[2],"data_offsets":[4,8]},"i":{"dtype":"I64","shape":[1],"data_offsets":[8,16]}}"#,
                          [0x80, 0x3F, 0x20, 0xC0, 0x00, 0x3C, 0x00, 0xC1, 1, 0, 0, 0, 0, 0, 0, 0]),
            "empty": file(#"{"e":{"dtype":"F32","shape":[0,4],"data_offsets":[0,0]}}"#, []),
        ]
        seeds.merge(files(["Tests/Fixtures/models/tiny-llama3-head/model.safetensors"])) { a, _ in a }
        return seeds
    }

    private static func tokenizer() -> [String: [UInt8]] {
        let texts = ["def fibonacci(n):\n    return n", "Hello, world! 🦅 ünï", "<|begin_of_text|>x  y\t\tz", "   leading spaces", ""]
        var seeds: [String: [UInt8]] = [:]
        for (i, text) in texts.enumerated() {
            for pick: UInt8 in [0, 1, 2, 3, 4, 5, 6, 0x87] {
                seeds["text-\(i)-\(pick)"] = [1, pick] + Array(text.utf8)
            }
        }
        let minimal = #"{"model":{"type":"BPE","vocab":{"a":0,"b":1,"ab":2,"<s>":3},"merges":["a b"]},"added_tokens":[{"id":3,"content":"<s>","special":true}],"pre_tokenizer":{"type":"ByteLevel","add_prefix_space":false},"decoder":{"type":"ByteLevel"}}"#
        seeds["json-minimal"] = [0] + Array(minimal.utf8)
        return seeds
    }
}
