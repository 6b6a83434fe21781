import Foundation
import Testing
@testable import Tokenization

/// The split patterns and character classes against onig, the regex engine of `tokenizers`
/// (Tests/Golden/tokenizer-pretokenize.json).
@Suite struct PreTokenizerTests {
    struct Golden: Decodable {
        struct Case: Decodable { var text: String; var pieces: [String] }
        struct PatternCases: Decodable { var pattern: String; var cases: [Case] }
        var llama3: PatternCases
        var gpt2: PatternCases
        var classes: [String: [[UInt32]]]
    }

    static let golden: Golden = {
        // A missing or broken golden file fails the tests below via an empty set.
        (try? JSONDecoder().decode(Golden.self, from: Data(contentsOf: Repo.golden("pretokenize"))))
            ?? Golden(llama3: .init(pattern: "", cases: []), gpt2: .init(pattern: "", cases: []), classes: [:])
    }()

    static func pieces(_ pattern: Pattern, _ text: String) -> [String] {
        let s = text.scalarValues
        return PreTokenizerStep.cut(s, pattern.matches(in: s), .isolated, invert: false, atStart: true)
            .map { String(scalarValues: $0.scalars) }
    }

    @Test func knownPatternsAreRecognized() throws {
        #expect(Self.golden.llama3.pattern == Pattern.llama3Source)
        #expect(Self.golden.gpt2.pattern == Pattern.gpt2Source)
        guard case .llama3(3)? = Pattern.regex(Pattern.llama3Source) else { Issue.record("llama3 pattern not recognized"); return }
        guard case .gpt2? = Pattern.regex(Pattern.gpt2Source) else { Issue.record("gpt2 pattern not recognized"); return }
    }

    @Test(arguments: ["llama3", "gpt2"], [false, true])
    func splitsMatchOnig(name: String, swiftRegex: Bool) throws {
        let set = name == "llama3" ? Self.golden.llama3 : Self.golden.gpt2
        #expect(set.cases.count > 300)
        let pattern = try #require(Pattern.regex(set.pattern, forceRegex: swiftRegex))
        for c in set.cases {
            // Swift Regex's (?i) does not fold U+017F ſ to s as onig does; the scanners do.
            if swiftRegex, c.text.unicodeScalars.contains("\u{17F}") { continue }
            #expect(Self.pieces(pattern, c.text) == c.pieces, "\(name) \"\(show(c.text))\"")
        }
    }

    /// \p{L}, \p{N} and \s over every code point, as onig sees them.
    @Test(arguments: ["L", "N", "s"]) func characterClassesMatchOnig(name: String) throws {
        let ranges = try #require(Self.golden.classes[name])
        let predicate: (UInt32) -> Bool = switch name {
        case "L": UnicodeClasses.isLetter
        case "N": UnicodeClasses.isNumber
        default: UnicodeClasses.isWhitespace
        }
        var expected = [Bool](repeating: false, count: 0x110000)
        for r in ranges { for v in r[0]...r[1] { expected[Int(v)] = true } }
        var mismatches: [String] = []
        for v in UInt32(0)..<0x110000 where !(0xD800...0xDFFF).contains(v) {
            if predicate(v) != expected[Int(v)] { mismatches.append(String(v, radix: 16)) }
        }
        #expect(mismatches.isEmpty, "\(name): \(mismatches.count) code points differ: \(mismatches.prefix(40))")
    }

    @Test func splitBehaviors() {
        let s = "a-b--c".scalarValues
        let dashes = Pattern.literal("-".scalarValues).matches(in: s)
        func cut(_ b: SplitBehavior, invert: Bool = false) -> [String] {
            PreTokenizerStep.cut(s, dashes, b, invert: invert, atStart: true).map { String(scalarValues: $0.scalars) }
        }
        #expect(cut(.removed) == ["a", "b", "c"])
        #expect(cut(.isolated) == ["a", "-", "b", "-", "-", "c"])
        #expect(cut(.mergedWithPrevious) == ["a-", "b-", "-", "c"])
        #expect(cut(.mergedWithNext) == ["a", "-b", "-", "-c"])
        #expect(cut(.contiguous) == ["a", "-", "b", "--", "c"])
        #expect(cut(.removed, invert: true) == ["-", "-", "-"])
    }
}
