import Foundation
import Tokenization

/// Tokenizers: the first input byte picks a mode.
/// - even: the rest is a `tokenizer.json`; if it loads, a fixed text is encoded and decoded.
/// - odd: the rest is text for one of the fixture tokenizers (picked by the second byte):
///   encode it, decode the ids, and check the oracle — streaming detokenization of the ids,
///   one at a time, equals `decode` of them all; then the same for the input read as ids.
final class TokenizerHarness: @unchecked Sendable {
    static let shared = TokenizerHarness()
    let tokenizers: [Tokenizer]

    init() {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let fixtures = root.appendingPathComponent("Tests/Fixtures/tokenizers")
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: fixtures.path)) ?? []).sorted()
        var loaded: [Tokenizer] = []
        for name in names {
            if let t = try? Tokenizer.load(directory: fixtures.appendingPathComponent(name)) { loaded.append(t) }
        }
        if let t = try? Tokenizer.load(directory: root.appendingPathComponent("Models/tiny-pystd")) { loaded.append(t) }
        precondition(!loaded.isEmpty, "no fixture tokenizer under \(fixtures.path)")
        tokenizers = loaded
    }

    func run(_ bytes: UnsafeRawBufferPointer) {
        guard let mode = bytes.first else { return }
        let rest = UnsafeRawBufferPointer(rebasing: bytes.dropFirst())
        if mode % 2 == 0 {
            guard let tokenizer = try? Tokenizer(tokenizerJSON: Data(rest), tokenizerConfigJSON: nil) else { return }
            check(tokenizer, tokenizer.encode("Hello, world! def f(x):\n\treturn x ** 2  # ünïcödé 🦅"))
            return
        }
        guard let pick = rest.first else { return }
        let tokenizer = tokenizers[Int(pick) % tokenizers.count]
        let body = UnsafeRawBufferPointer(rebasing: rest.dropFirst())
        let text = String(decoding: body, as: UTF8.self)
        check(tokenizer, tokenizer.encode(text, addSpecialTokens: pick & 0x80 != 0))
        // The bytes as ids (little-endian 16-bit), within the vocabulary.
        var ids: [TokenID] = []
        var i = body.startIndex
        while i + 1 < body.endIndex {
            ids.append(TokenID((Int(body[i]) | Int(body[i + 1]) << 8) % tokenizer.vocabularySize))
            i += 2
        }
        check(tokenizer, ids)
    }

    private func check(_ tokenizer: Tokenizer, _ ids: [TokenID]) {
        for skip in [true, false] {
            let whole = tokenizer.decode(ids, skipSpecialTokens: skip)
            var stream = StreamingDetokenizer(tokenizer: tokenizer, skipSpecialTokens: skip)
            var streamed = ""
            for id in ids { streamed += stream.append(id) }
            streamed += stream.finish()
            guard streamed == whole else {
                fatalError("streaming detokenization differs from decode (skip special: \(skip)) for ids \(ids):\n  streamed \(streamed.debugDescription)\n  decoded  \(whole.debugDescription)")
            }
        }
    }
}
