import Foundation
import Testing
@testable import Tokenization

/// Every fixture tokenizer against its golden vectors (Tools/make_tokenizer_goldens.py).
@Suite struct GoldenTokenizerTests {
    static let all = Fixtures.names

    @Test(arguments: all) func encodeWithSpecialTokens(name: String) throws {
        try Self.checkEncode(name, addSpecialTokens: true)
    }

    @Test(arguments: all) func encodeWithoutSpecialTokens(name: String) throws {
        try Self.checkEncode(name, addSpecialTokens: false)
    }

    /// The general Swift `Regex` path gives the same ids as the hand-written scanners.
    @Test(arguments: ["llama3-bpe"]) func encodeThroughSwiftRegex(name: String) throws {
        try Self.checkEncode(name, addSpecialTokens: true, forceRegex: true)
    }

    @Test(arguments: all) func decode(name: String) throws {
        try Self.checkDecode(name)
    }

    @Test(arguments: all) func streamingEqualsDecode(name: String) throws {
        try Self.checkStreaming(name)
    }

    @Test(arguments: all) func chatTemplate(name: String) throws {
        try Self.checkChat(name)
    }

    @Test(arguments: all) func vocabularyAndSpecialTokens(name: String) throws {
        try Self.checkVocabulary(name)
    }

    // MARK: shared with the tiny-pystd tests

    static func checkEncode(_ name: String, addSpecialTokens: Bool, forceRegex: Bool = false) throws {
        let tok = try Fixtures.tokenizer(name, forceRegex: forceRegex)
        let golden = try TokenizerGolden.load(name)
        for c in golden.cases {
            let got = tok.encode(c.text, addSpecialTokens: addSpecialTokens)
            let want = addSpecialTokens ? c.ids : c.idsNoSpecial
            #expect(got == want, "\(name) encode \"\(show(c.text))\"")
        }
    }

    static func checkDecode(_ name: String) throws {
        let tok = try Fixtures.tokenizer(name)
        let golden = try TokenizerGolden.load(name)
        for c in golden.cases {
            #expect(tok.decode(c.ids, skipSpecialTokens: true) == c.decoded,
                    "\(name) decode(skip) of \"\(show(c.text))\"")
            #expect(tok.decode(c.ids, skipSpecialTokens: false) == c.decodedWithSpecial,
                    "\(name) decode(keep) of \"\(show(c.text))\"")
        }
        for c in golden.decodeCases {
            #expect(tok.decode(c.ids, skipSpecialTokens: true) == c.skipSpecial, "\(name) decode(skip) \(c.ids)")
            #expect(tok.decode(c.ids, skipSpecialTokens: false) == c.keepSpecial, "\(name) decode(keep) \(c.ids)")
        }
    }

    static func checkStreaming(_ name: String) throws {
        let tok = try Fixtures.tokenizer(name)
        let golden = try TokenizerGolden.load(name)
        var sequences: [(ids: [TokenID], skip: String, keep: String)] = golden.cases.map { ($0.ids, $0.decoded, $0.decodedWithSpecial) }
        sequences += golden.decodeCases.map { ($0.ids, $0.skipSpecial, $0.keepSpecial) }
        for s in sequences {
            for skip in [true, false] {
                let want = skip ? s.skip : s.keep
                let (chunks, text) = streamDecode(tok, s.ids, skipSpecialTokens: skip)
                #expect(text == want, "\(name) stream(skip: \(skip)) \(s.ids)")
                if !want.contains("\u{FFFD}") {
                    #expect(!chunks.contains { $0.contains("\u{FFFD}") }, "\(name) stream emitted a partial character: \(s.ids)")
                }
            }
        }
    }

    static func checkChat(_ name: String) throws {
        let tok = try Fixtures.tokenizer(name)
        let golden = try TokenizerGolden.load(name)
        #expect(!golden.chat.isEmpty)
        for c in golden.chat {
            if let want = c.rendered {
                let got = try tok.applyChatTemplate(c.messages, addGenerationPrompt: c.addGenerationPrompt)
                #expect(got == want, "\(name) chat \(c.messages.map(\.role)) gen=\(c.addGenerationPrompt)")
            } else {
                #expect(throws: TokenizerError.self, "\(name) chat should fail: \(c.error ?? "")") {
                    try tok.applyChatTemplate(c.messages, addGenerationPrompt: c.addGenerationPrompt)
                }
            }
        }
    }

    /// Template variants detected by the same markers (Llama-3.1 preamble, Qwen2 default system).
    @Test(arguments: ["llama3-bpe", "gpt2-bpe"]) func chatTemplateVariants(name: String) throws {
        let golden = try TokenizerGolden.load(name)
        #expect(!golden.chatVariants.isEmpty)
        let dir = Fixtures.directory(name)
        for v in golden.chatVariants {
            let tok = try Tokenizer(tokenizerJSON: Data(contentsOf: dir.appendingPathComponent("tokenizer.json")),
                                    tokenizerConfigJSON: try Data(contentsOf: dir.appendingPathComponent("tokenizer_config.json")),
                                    chatTemplateJinja: v.template)
            let got = try tok.applyChatTemplate(v.messages, addGenerationPrompt: v.addGenerationPrompt)
            #expect(got == v.rendered, "\(name) variant \(v.messages.map(\.role)) gen=\(v.addGenerationPrompt)")
        }
    }

    static func checkVocabulary(_ name: String) throws {
        let tok = try Fixtures.tokenizer(name)
        let golden = try TokenizerGolden.load(name)
        #expect(tok.vocabularySize == golden.vocabSize)
        #expect(tok.bosToken == golden.bosTokenId)
        #expect(tok.eosToken == golden.eosTokenId)
        for a in golden.addedTokens {
            #expect(tok.id(of: a.content) == a.id)
            #expect(tok.token(of: a.id) == a.content)
            #expect(tok.isSpecial(a.id) == a.special, "\(name) isSpecial(\(a.content))")
        }
        for id in stride(from: TokenID(0), to: TokenID(golden.vocabSize), by: 7) {
            if let t = tok.token(of: id) { #expect(tok.id(of: t) == id, "\(name) round trip of id \(id)") }
        }
    }
}

/// The project's fixture model's tokenizer, when Models/tiny-pystd is present (it lives on main).
@Suite(.enabled(if: Repo.hasTinyPystd, "Models/tiny-pystd is not in this checkout; its tokenizer goldens are skipped"))
struct TinyPystdTokenizerTests {
    @Test func encode() throws {
        try GoldenTokenizerTests.checkEncode("tiny-pystd", addSpecialTokens: true)
        try GoldenTokenizerTests.checkEncode("tiny-pystd", addSpecialTokens: false)
    }

    @Test func decodeAndStreaming() throws {
        try GoldenTokenizerTests.checkDecode("tiny-pystd")
        try GoldenTokenizerTests.checkStreaming("tiny-pystd")
    }

    @Test func chatTemplateAndVocabulary() throws {
        try GoldenTokenizerTests.checkChat("tiny-pystd")
        try GoldenTokenizerTests.checkVocabulary("tiny-pystd")
        #expect(try Fixtures.tokenizer("tiny-pystd").chatTemplate == .chatml)
    }
}
