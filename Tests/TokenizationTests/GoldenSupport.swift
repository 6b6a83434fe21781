import Foundation
import Testing
@testable import Tokenization
@_exported import TestSupport

/// Paths inside the repository, found from this file's location.
enum Repo {
    static let root = repositoryRoot
    static func fixture(_ name: String) -> URL { root.appendingPathComponent("Tests/Fixtures/tokenizers/\(name)") }
    static func golden(_ name: String) -> URL { root.appendingPathComponent("Tests/Golden/tokenizer-\(name).json") }
    static let tinyPystd = root.appendingPathComponent("Models/tiny-pystd")
    static var hasTinyPystd: Bool {
        FileManager.default.fileExists(atPath: tinyPystd.appendingPathComponent("tokenizer.json").path)
    }
}

/// Tests/Golden/tokenizer-<name>.json, written by Tools/make_tokenizer_goldens.py from the
/// `tokenizers` library (encode/decode) and transformers (chat templates).
struct TokenizerGolden: Decodable {
    struct Case: Decodable {
        var text: String
        var ids: [TokenID]
        var idsNoSpecial: [TokenID]
        var decoded: String
        var decodedWithSpecial: String
    }
    struct DecodeCase: Decodable {
        var ids: [TokenID]
        var skipSpecial: String
        var keepSpecial: String
    }
    struct Chat: Decodable {
        var messages: [ChatMessage]
        var addGenerationPrompt: Bool
        var rendered: String?
        var error: String?
    }
    struct ChatVariant: Decodable {
        var template: String
        var messages: [ChatMessage]
        var addGenerationPrompt: Bool
        var rendered: String
    }
    struct Added: Decodable {
        var id: TokenID
        var content: String
        var special: Bool
    }
    var name: String
    var vocabSize: Int
    var bosToken: String?
    var bosTokenId: TokenID?
    var eosToken: String?
    var eosTokenId: TokenID?
    var addedTokens: [Added]
    var cases: [Case]
    var decodeCases: [DecodeCase]
    var chat: [Chat]
    var chatVariants: [ChatVariant]

    static func load(_ name: String) throws -> TokenizerGolden {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        return try decoder.decode(TokenizerGolden.self, from: Data(contentsOf: Repo.golden(name)))
    }
}

/// Fixture tokenizers, loaded once per process.
enum Fixtures {
    static let names = ["sp-bpe", "sp-metaspace", "sp-metaspace-legacy", "llama3-bpe", "gpt2-bpe"]

    private static let cache = Locked<[String: Tokenizer]>([:])

    static func directory(_ name: String) -> URL { name == "tiny-pystd" ? Repo.tinyPystd : Repo.fixture(name) }

    static func tokenizer(_ name: String, forceRegex: Bool = false) throws -> Tokenizer {
        let key = forceRegex ? name + "#regex" : name
        if let t = cache.withLock({ $0[key] }) { return t }
        let dir = directory(name)
        let t: Tokenizer
        if forceRegex {
            let jinja = try? String(contentsOf: dir.appendingPathComponent("chat_template.jinja"), encoding: .utf8)
            t = try Tokenizer(tokenizerJSON: Data(contentsOf: dir.appendingPathComponent("tokenizer.json")),
                              tokenizerConfigJSON: try? Data(contentsOf: dir.appendingPathComponent("tokenizer_config.json")),
                              chatTemplateJinja: jinja, forceRegex: true)
        } else {
            t = try Tokenizer.load(directory: dir)
        }
        cache.withLock { $0[key] = t }
        return t
    }
}

final class Locked<Value>: @unchecked Sendable {
    private var value: Value
    private let lock = NSLock()
    init(_ value: Value) { self.value = value }
    func withLock<R>(_ body: (inout Value) -> R) -> R {
        lock.lock()
        defer { lock.unlock() }
        return body(&value)
    }
}

/// A readable rendering of a string for failure messages.
func show(_ s: String) -> String {
    s.unicodeScalars.map { u in
        u.value < 0x20 || (0x7F...0xA0).contains(u.value) ? "\\u{\(String(u.value, radix: 16))}" : String(u)
    }.joined()
}

/// Streams `ids` one at a time; returns the chunks (the last from `finish`) and their concatenation.
func streamDecode(_ tokenizer: Tokenizer, _ ids: [TokenID], skipSpecialTokens: Bool) -> (chunks: [String], text: String) {
    var stream = StreamingDetokenizer(tokenizer: tokenizer, skipSpecialTokens: skipSpecialTokens)
    var chunks = ids.map { stream.append($0) }
    chunks.append(stream.finish())
    return (chunks, chunks.joined())
}
