import Foundation
import Testing
@testable import Tokenization

/// Bad input gives a typed error naming the file and field, never a crash.
@Suite struct ErrorTests {
    static let minimalModel = #"{"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2}, "merges": ["a b"]}"#

    static func tokenizerJSON(model: String = minimalModel, extra: String = "") -> Data {
        Data(#"{"version": "1.0", "added_tokens": [], "normalizer": null, "pre_tokenizer": null, "post_processor": null, "decoder": null, "model": \#(model)\#(extra)}"#.utf8)
    }

    static func loadError(_ json: Data, config: Data? = nil) -> TokenizerError? {
        do {
            _ = try Tokenizer(tokenizerJSON: json, tokenizerConfigJSON: config)
            return nil
        } catch {
            return error
        }
    }

    @Test func minimalTokenizerLoads() throws {
        let t = try Tokenizer(tokenizerJSON: Self.tokenizerJSON(), tokenizerConfigJSON: nil)
        #expect(t.encode("abab") == [2, 2])
        #expect(t.decode([2, 0]) == "ab a")  // no decoder: tokens joined with spaces
        #expect(t.vocabularySize == 3)
        #expect(t.bosToken == nil && t.eosToken == nil && t.chatTemplate == nil)
    }

    @Test func missingDirectory() {
        let dir = URL(fileURLWithPath: "/nonexistent/eagled-tokenizer-\(UUID().uuidString)")
        #expect(throws: TokenizerError.fileNotFound(path: dir.appendingPathComponent("tokenizer.json").path)) {
            try Tokenizer.load(directory: dir)
        }
    }

    @Test func missingTokenizerJSONInExistingDirectory() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tok-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        try Data("{}".utf8).write(to: dir.appendingPathComponent("tokenizer_config.json"))
        let error = #expect(throws: TokenizerError.self) { try Tokenizer.load(directory: dir) }
        guard case .fileNotFound(let path)? = error else { Issue.record("got \(String(describing: error))"); return }
        #expect(path.hasSuffix("tokenizer.json"))
    }

    @Test(arguments: ["", "{", "[1, 2", "{\"model\": }", "{\"a\": \"\\x\"}", "nul", "{} extra", "{\"a\": 01}",
                      "{\"a\": \"\u{1}\"}", String(repeating: "[", count: 10_000)])
    func malformedJSON(text: String) {
        guard case .malformedJSON(let file, _, _)? = Self.loadError(Data(text.utf8)) else {
            Issue.record("no malformedJSON error for \(show(String(text.prefix(40))))")
            return
        }
        #expect(file == "tokenizer.json")
    }

    @Test func invalidUTF8() {
        var bytes = Array(#"{"model": ""#.utf8)
        bytes += [0xFF, 0xFE]
        bytes += Array(#""}"#.utf8)
        guard case .malformedJSON? = Self.loadError(Data(bytes)) else { Issue.record("accepted invalid UTF-8"); return }
    }

    @Test func malformedConfig() {
        let error = Self.loadError(Self.tokenizerJSON(), config: Data("{\"bos_token\": ".utf8))
        guard case .malformedJSON(let file, _, _)? = error else { Issue.record("got \(String(describing: error))"); return }
        #expect(file == "tokenizer_config.json")
        #expect(Self.loadError(Self.tokenizerJSON(), config: Data("{\"bos_token\": 3}".utf8))
                == .invalidField(file: "tokenizer_config.json", field: "bos_token", reason: "expected a string or an object with `content`"))
    }

    @Test func unsupportedModelType() {
        let unigram = #"{"type": "Unigram", "unk_id": 0, "vocab": [["<unk>", 0.0]]}"#
        #expect(Self.loadError(Self.tokenizerJSON(model: unigram))
                == .unsupported(file: "tokenizer.json", field: "model.type", value: "Unigram"))
        let wordPiece = #"{"type": "WordPiece", "vocab": {"a": 0}}"#
        #expect(Self.loadError(Self.tokenizerJSON(model: wordPiece))
                == .unsupported(file: "tokenizer.json", field: "model.type", value: "WordPiece"))
    }

    @Test func unsupportedComponentsNameTheirField() {
        let json = Data(#"{"model": \#(Self.minimalModel), "pre_tokenizer": {"type": "Sequence", "pretokenizers": [{"type": "BertPreTokenizer"}]}}"#.utf8)
        #expect(Self.loadError(json) == .unsupported(file: "tokenizer.json", field: "pre_tokenizer.pretokenizers[0].type", value: "BertPreTokenizer"))
        let badRegex = Data(#"{"model": \#(Self.minimalModel), "pre_tokenizer": {"type": "Split", "pattern": {"Regex": "(unclosed"}, "behavior": "Isolated", "invert": false}}"#.utf8)
        #expect(Self.loadError(badRegex) == .unsupported(file: "tokenizer.json", field: "pre_tokenizer.pattern.Regex", value: "(unclosed"))
        let normalizer = Data(#"{"model": \#(Self.minimalModel), "normalizer": {"type": "Precompiled", "precompiled_charsmap": ""}}"#.utf8)
        #expect(Self.loadError(normalizer) == .unsupported(file: "tokenizer.json", field: "normalizer.type", value: "Precompiled"))
        let decoder = Data(#"{"model": \#(Self.minimalModel), "decoder": {"type": "WordPiece", "prefix": "@@"}}"#.utf8)
        #expect(Self.loadError(decoder) == .unsupported(file: "tokenizer.json", field: "decoder.type", value: "WordPiece"))
    }

    @Test func brokenModelFields() {
        #expect(Self.loadError(Data(#"{"version": "1.0"}"#.utf8)) == .missingField(file: "tokenizer.json", field: "model"))
        #expect(Self.loadError(Data(#"[1, 2]"#.utf8)) == .invalidField(file: "tokenizer.json", field: "(root)", reason: "expected an object"))
        #expect(Self.loadError(Self.tokenizerJSON(model: #"{"type": "BPE", "merges": []}"#)) == .missingField(file: "tokenizer.json", field: "model.vocab"))
        #expect(Self.loadError(Self.tokenizerJSON(model: #"{"type": "BPE", "vocab": {"a": -1}, "merges": []}"#))
                == .invalidField(file: "tokenizer.json", field: "model.vocab[\"a\"]", reason: "expected a non-negative integer id"))
        #expect(Self.loadError(Self.tokenizerJSON(model: #"{"type": "BPE", "vocab": {"a": 0}, "merges": ["a"]}"#))
                == .invalidField(file: "tokenizer.json", field: "model.merges[0]", reason: "expected \"left right\", got \"a\""))
        #expect(Self.loadError(Self.tokenizerJSON(model: #"{"type": "BPE", "vocab": {"a": 0}, "merges": [["a", "c"]]}"#))
                == .invalidField(file: "tokenizer.json", field: "model.merges[0]", reason: "\"c\" is not in the vocabulary"))
        #expect(Self.loadError(Self.tokenizerJSON(model: #"{"type": "BPE", "vocab": {"a": 0}, "merges": [["a", "a"]]}"#))
                == .invalidField(file: "tokenizer.json", field: "model.merges[0]", reason: "merged token \"aa\" is not in the vocabulary"))
        #expect(Self.loadError(Self.tokenizerJSON(model: #"{"type": "BPE", "vocab": {"a": 0}, "merges": [], "byte_fallback": "yes"}"#))
                == .invalidField(file: "tokenizer.json", field: "model.byte_fallback", reason: "expected a boolean"))
        #expect(Self.loadError(Self.tokenizerJSON(model: #"{"type": "BPE", "vocab": {"a": 2000000000}, "merges": []}"#))
                == .invalidField(file: "tokenizer.json", field: "model.vocab[\"a\"]", reason: "token id 2000000000 out of range 0...16777216"))
        let addedWithoutID = Data(#"{"model": \#(Self.minimalModel), "added_tokens": [{"content": "<s>"}]}"#.utf8)
        #expect(Self.loadError(addedWithoutID) == .missingField(file: "tokenizer.json", field: "added_tokens[0].id"))
    }

    @Test func errorsDescribeThemselves() {
        let e = TokenizerError.unsupported(file: "tokenizer.json", field: "model.type", value: "Unigram")
        #expect(e.description == "tokenizer.json: unsupported `model.type` = Unigram")
    }

    @Test func chatTemplateErrors() throws {
        let plain = try Tokenizer(tokenizerJSON: Self.tokenizerJSON(), tokenizerConfigJSON: nil)
        #expect(throws: TokenizerError.noChatTemplate) { try plain.applyChatTemplate([ChatMessage(role: "user", content: "hi")]) }
        let odd = try Tokenizer(tokenizerJSON: Self.tokenizerJSON(), tokenizerConfigJSON: Data(#"{"chat_template": "{{ messages }}"}"#.utf8))
        #expect(odd.chatTemplateSource == "{{ messages }}")
        #expect(throws: TokenizerError.unrecognizedChatTemplate(excerpt: "{{ messages }}")) {
            try odd.applyChatTemplate([ChatMessage(role: "user", content: "hi")])
        }
    }
}
