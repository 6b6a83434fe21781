import Foundation
import Testing
@testable import Tokenization

/// Pieces checked in isolation, and file variants the fixtures do not cover.
@Suite struct UnitTests {
    static func tokenizer(_ json: String, config: String? = nil) throws -> Tokenizer {
        try Tokenizer(tokenizerJSON: Data(json.utf8), tokenizerConfigJSON: config.map { Data($0.utf8) })
    }

    // MARK: UTF-8

    @Test func utf8StreamMatchesWholeDecoding() {
        let samples: [[UInt8]] = [
            Array("héllo 日本 😀".utf8), [0xE6, 0x97], [0xFF, 0x41], [0x80, 0x80, 0x41], [0xC3, 0xA9, 0xFF, 0x41],
            [0xED, 0xA0, 0x80], [0xF0, 0x9F, 0x98], [0xF4, 0x90, 0x80, 0x80], [0xE0, 0x80, 0x41], [0xC0, 0xAF], [0xF0, 0x9F, 0x41],
        ]
        for bytes in samples {
            var whole = UTF8Stream()
            let expected = whole.feed(bytes) + whole.finish()
            #expect(expected == String(decoding: bytes, as: UTF8.self), "\(bytes)")
            for cut in 0...bytes.count {
                var s = UTF8Stream()
                let a = s.feed(Array(bytes[..<cut]))
                let b = s.feed(Array(bytes[cut...]))
                #expect(a + b + s.finish() == expected, "\(bytes) cut at \(cut)")
            }
            var s = UTF8Stream()
            let pieces = bytes.map { s.feed([$0]) } + [s.finish()]
            #expect(pieces.joined() == expected)
        }
    }

    @Test func byteTokenNames() {
        #expect(DecoderState.byteToken("<0x0A>") == 0x0A)
        #expect(DecoderState.byteToken("<0xff>") == 0xFF)
        #expect(DecoderState.byteToken("<0xG0>") == nil)
        #expect(DecoderState.byteToken("<0x0A") == nil)
        #expect(DecoderState.byteToken("0x0A>") == nil)
        #expect(BPEModel.byteTokenName(0xAB) == "<0xAB>")
    }

    // MARK: streaming

    @Test func streamingEmitsAsSoonAsTextIsFinal() throws {
        let sp = try Fixtures.tokenizer("sp-bpe")
        let ids = sp.encode("Hello world, again", addSpecialTokens: true)
        let (chunks, text) = streamDecode(sp, ids, skipSpecialTokens: true)
        #expect(text == "Hello world, again")
        #expect(chunks.last == "", "nothing should wait for finish()")
        #expect(chunks.dropLast().joined() == text)

        let bl = try Fixtures.tokenizer("llama3-bpe")
        let emoji = bl.encode("😀", addSpecialTokens: false)
        #expect(emoji.count > 1)
        let (parts, whole) = streamDecode(bl, emoji, skipSpecialTokens: true)
        #expect(whole == "😀")
        #expect(parts.filter { !$0.isEmpty } == ["😀"])
    }

    @Test func streamingHoldsByteFallbackRuns() throws {
        let sp = try Fixtures.tokenizer("sp-bpe")
        let ids = sp.encode("日本 ok", addSpecialTokens: false)
        var stream = StreamingDetokenizer(tokenizer: sp)
        var out: [String] = []
        for id in ids { out.append(stream.append(id)) }
        out.append(stream.finish())
        #expect(out.joined() == "日本 ok")
        #expect(!out.contains { $0.contains("\u{FFFD}") })
        // A byte run that ends the stream invalid decodes as one U+FFFD per byte, as decode() does.
        let cut = [sp.id(of: "<0xE6>")!, sp.id(of: "<0x97>")!]
        #expect(streamDecode(sp, cut, skipSpecialTokens: true).text == "\u{FFFD}\u{FFFD}")
        #expect(sp.decode(cut) == "\u{FFFD}\u{FFFD}")
    }

    @Test func streamingThroughTextSteps() throws {
        // Replace after Fuse sees the whole text: "aa" → "b" must not depend on token boundaries.
        let json = #"{"model": {"type": "BPE", "vocab": {"a": 0, "x": 1, " ": 2}, "merges": []},"#
            + #""decoder": {"type": "Sequence", "decoders": [{"type": "Fuse"}, {"type": "Replace", "pattern": {"String": "aa"}, "content": "b"},"#
            + #"{"type": "Strip", "content": " ", "start": 1, "stop": 2}]}}"#
        let t = try Self.tokenizer(json)
        let sequences: [[TokenID]] = [[0, 0, 0, 0], [0, 0, 0], [2, 2, 0, 1, 0, 0, 2, 2, 2], [0, 2, 0, 0, 2], [1, 0, 2, 2]]
        for ids in sequences {
            let want = t.decode(ids)
            #expect(streamDecode(t, ids, skipSpecialTokens: true).text == want, "\(ids)")
        }
        #expect(t.decode([0, 0, 0, 0]) == "bb")
        #expect(t.decode([2, 2, 0, 1, 0, 0, 2, 2, 2]) == " axb ")
    }

    @Test func streamingAfterFinishStartsOver() throws {
        let sp = try Fixtures.tokenizer("sp-bpe")
        var stream = StreamingDetokenizer(tokenizer: sp)
        let ids = sp.encode("two words", addSpecialTokens: false)
        let first = ids.map { stream.append($0) }.joined() + stream.finish()
        let second = ids.map { stream.append($0) }.joined() + stream.finish()
        #expect(first == "two words" && second == first)
    }

    // MARK: file variants

    static let abModel = #"{"type": "BPE", "vocab": {"<s>": 0, "</s>": 1, "a": 2, "b": 3, "ab": 4, "▁": 5, "▁a": 6, "▁ab": 7}, "merges": [["a", "b"], ["▁", "a"], ["▁a", "b"]]}"#

    @Test func mergesAsPairsOrStrings() throws {
        let pairs = try Self.tokenizer(#"{"model": \#(Self.abModel)}"#)
        let strings = try Self.tokenizer(#"{"model": {"type": "BPE", "vocab": {"<s>": 0, "</s>": 1, "a": 2, "b": 3, "ab": 4, "▁": 5, "▁a": 6, "▁ab": 7}, "merges": ["a b", "▁ a", "▁a b"]}}"#)
        #expect(pairs.encode("abab") == [4, 4])
        #expect(strings.encode("abab") == [4, 4])
    }

    @Test func metaspaceVariants() throws {
        func metaspace(_ fields: String) throws -> Tokenizer {
            try Self.tokenizer(#"{"model": \#(Self.abModel), "pre_tokenizer": {"type": "Metaspace", "replacement": "▁"\#(fields)}, "decoder": {"type": "Metaspace", "replacement": "▁"\#(fields)}}"#)
        }
        let legacy = try metaspace(#", "add_prefix_space": true"#)        // → always, split
        #expect(legacy.encode("ab ab") == [5, 4, 5, 4])  // rank 0 "a b" wins over "▁ a"
        #expect(legacy.decode([7, 7]) == "ab ab")
        let never = try metaspace(#", "add_prefix_space": false"#)
        #expect(never.encode("ab ab") == [4, 5, 4])
        #expect(never.decode([4, 7]) == "ab ab")
        let first = try metaspace(#", "prepend_scheme": "first", "split": false"#)
        #expect(first.encode("ab") == [5, 4])
        #expect(throws: TokenizerError.self) { try metaspace(#", "add_prefix_space": false, "prepend_scheme": "always""#) }
        #expect(throws: TokenizerError.self) { try metaspace(#", "prepend_scheme": "sometimes""#) }
    }

    @Test func configTokensAndOverrides() throws {
        let template = #"{"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}], "pair": [], "special_tokens": {"<s>": {"id": "<s>", "ids": [0], "tokens": ["<s>"]}}}"#
        let json = #"{"model": \#(Self.abModel), "post_processor": \#(template)}"#
        let plain = try Self.tokenizer(json)
        #expect(plain.encode("ab") == [0, 4])
        #expect(plain.bosToken == 0)  // from the template
        #expect(!plain.isSpecial(0))   // not an added token, and no config names it
        #expect(try plain.applyChatTemplate([ChatMessage(role: "user", content: "q")], template: .llama2) == "<s>[INST] q [/INST]")

        // Old-style {"content": …} token objects; tokens the config names become special.
        let config = #"{"bos_token": {"__type": "AddedToken", "content": "<s>", "lstrip": false}, "eos_token": "</s>", "add_bos_token": false, "add_eos_token": true}"#
        let t = try Self.tokenizer(json, config: config)
        #expect(t.bosToken == 0 && t.eosToken == 1)
        #expect(t.isSpecial(0) && t.isSpecial(1))
        #expect(t.encode("ab") == [0, 4])  // add_*_token are ignored with a tokenizer.json, as in transformers 5
        #expect(t.encode("a<s>b", addSpecialTokens: false) == [2, 0, 3])  // a special token is cut out of the text
        #expect(t.decode([4, 1]) == "ab")
        #expect(t.decode([4, 1], skipSpecialTokens: false) == "ab </s>")
    }

    @Test func chatTemplateSources() throws {
        let json = #"{"model": \#(Self.abModel)}"#
        let named = try Self.tokenizer(json, config: #"{"chat_template": [{"name": "tool_use", "template": "x"}, {"name": "default", "template": "{{'<|im_start|>'}}"}]}"#)
        #expect(named.chatTemplate == .chatml)
        let jinja = try Tokenizer(tokenizerJSON: Data(json.utf8), tokenizerConfigJSON: Data(#"{"chat_template": "[INST]"}"#.utf8),
                                  chatTemplateJinja: "<|start_header_id|>")
        #expect(jinja.chatTemplate == .llama3)
        #expect(ChatTemplate.detect(jinja: "{{ 'USER: ' + x }}") == .vicuna)
        #expect(ChatTemplate.detect(jinja: "{{ x }}") == nil)
        #expect(ChatTemplate(rawValue: "llama2") == .llama2)
    }

    @Test func explicitChatTemplates() throws {
        let t = try Self.tokenizer(#"{"model": \#(Self.abModel)}"#, config: #"{"bos_token": "<s>", "eos_token": "</s>"}"#)
        let chat = [ChatMessage(role: "system", content: "Sys"), ChatMessage(role: "user", content: " Hi "),
                    ChatMessage(role: "assistant", content: "Yo")]
        #expect(try t.applyChatTemplate(chat, template: .llama2)
                == "<s>[INST] <<SYS>>\nSys\n<</SYS>>\n\n Hi [/INST] Yo </s>")
        #expect(try t.applyChatTemplate(chat, template: .vicuna) == "<s>Sys USER:  Hi  ASSISTANT: Yo</s>ASSISTANT:")
        #expect(try t.applyChatTemplate(Array(chat.dropFirst()), template: .vicuna, addGenerationPrompt: false)
                == "<s>\(ChatFormat.vicunaDefaultSystem) USER:  Hi  ASSISTANT: Yo</s>")
        #expect(try t.applyChatTemplate(chat, template: .llama3)
                == "<s><|start_header_id|>system<|end_header_id|>\n\nSys<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"
                + "<|start_header_id|>assistant<|end_header_id|>\n\nYo<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n")
        #expect(try t.applyChatTemplate(chat, template: .chatml, addGenerationPrompt: false)
                == "<|im_start|>system\nSys<|im_end|>\n<|im_start|>user\n Hi <|im_end|>\n<|im_start|>assistant\nYo<|im_end|>\n")
        #expect(throws: TokenizerError.self) {
            try t.applyChatTemplate([ChatMessage(role: "assistant", content: "first")], template: .llama2)
        }
        #expect(try t.applyChatTemplate([], template: .llama3, addGenerationPrompt: false) == "")
    }

    @Test func encodeChatUsesTheRenderedBOS() throws {
        let sp = try Fixtures.tokenizer("sp-bpe")
        let chat = [ChatMessage(role: "user", content: "hello")]
        let ids = try sp.encodeChat(chat)
        #expect(ids.first == sp.bosToken)
        #expect(ids.filter { $0 == sp.bosToken }.count == 1)
        #expect(sp.decode(ids) == "[INST] hello [/INST]")
    }

    @Test func emptyAndWhitespaceInput() throws {
        for name in Fixtures.names {
            let t = try Fixtures.tokenizer(name)
            #expect(t.encode("", addSpecialTokens: false) == [])
            #expect(t.decode([]) == "")
            #expect(t.decode([-1, 1_000_000]) == "", "unknown ids are ignored")
        }
    }

    @Test func concurrentEncodingIsConsistent() async throws {
        let t = try Fixtures.tokenizer("llama3-bpe")
        let text = String(repeating: "The quick brown fox jumps over 1234567 lazy dogs.\n\t", count: 50)
        let expected = t.encode(text)
        let results = await withTaskGroup(of: [TokenID].self) { group in
            for _ in 0..<8 { group.addTask { t.encode(text) } }
            var all: [[TokenID]] = []
            for await r in group { all.append(r) }
            return all
        }
        #expect(results.allSatisfy { $0 == expected })
    }
}

@Suite("Cancellable encoding")
struct CancellableEncodingTests {
    @Test func encodingStopsWhenCancelledAndOtherwiseMatchesEncode() throws {
        let tokenizer = try Fixtures.tokenizer("llama3-bpe")
        let text = String(repeating: "the quick brown fox jumps over the lazy dog. ", count: 400)
        var checks = 0
        #expect(tokenizer.encode(text, isCancelled: { checks += 1; return true }) == nil)
        #expect(checks == 1)
        checks = 0
        let ids = tokenizer.encode(text, isCancelled: { checks += 1; return false })
        #expect(ids == tokenizer.encode(text))
        // Polled while encoding, not only before or after: 400 × 10 pieces, every 256.
        #expect(checks >= 10)
    }
}

/// The string-returning form the tests read most easily.
extension UTF8Stream {
    mutating func feed(_ bytes: [UInt8]) -> String {
        var scalars: [UInt32] = []
        feed(bytes, into: &scalars)
        return String(scalarValues: scalars)
    }

    mutating func finish() -> String {
        var scalars: [UInt32] = []
        finish(into: &scalars)
        return String(scalarValues: scalars)
    }
}
