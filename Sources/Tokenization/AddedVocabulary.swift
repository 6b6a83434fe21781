/// One entry of tokenizer.json's `added_tokens`.
struct AddedToken: Sendable {
    var id: TokenID
    var content: String
    var singleWord: Bool
    var lstrip: Bool
    var rstrip: Bool
    var normalized: Bool
    var special: Bool
}

/// A piece of input after added tokens were cut out of it.
enum AddedSplit {
    case token(TokenID)
    case text(TextPiece)
}

/// Finds added tokens in text the way the reference's `AddedVocabulary` does: leftmost-longest,
/// non-overlapping matches over a trie, then the `single_word` / `lstrip` / `rstrip` rules.
/// Two matchers are used: one for tokens matched against the raw input (`normalized: false`),
/// one for tokens matched against normalized text.
struct AddedTokenMatcher: Sendable {
    private struct Node: Sendable {
        var children: [UInt32: Int32] = [:]
        var token = -1  // index into `tokens` of the token ending here
    }
    private var nodes = [Node()]
    private var tokens: [(pattern: [UInt32], token: AddedToken)] = []

    var isEmpty: Bool { tokens.isEmpty }

    mutating func insert(_ pattern: [UInt32], _ token: AddedToken) {
        guard !pattern.isEmpty else { return }
        var n = 0
        for v in pattern {
            if let c = nodes[n].children[v] {
                n = Int(c)
            } else {
                nodes.append(Node())
                nodes[n].children[v] = Int32(nodes.count - 1)
                n = nodes.count - 1
            }
        }
        if nodes[n].token < 0 {
            tokens.append((pattern, token))
            nodes[n].token = tokens.count - 1
        } else {
            tokens[nodes[n].token] = (pattern, token)
        }
    }

    /// Longest token starting at `i`: (end, token index).
    private func longest(_ s: [UInt32], at i: Int) -> (end: Int, index: Int)? {
        var n = 0
        var best: (Int, Int)?
        var k = i
        while k < s.count, let c = nodes[n].children[s[k]] {
            n = Int(c)
            k += 1
            if nodes[n].token >= 0 { best = (k, nodes[n].token) }
        }
        return best
    }

    /// Cuts `piece` into text and added-token splits; empty text splits are dropped.
    func split(_ piece: TextPiece, into out: inout [AddedSplit]) {
        let s = piece.scalars
        if tokens.isEmpty {
            if !s.isEmpty { out.append(.text(piece)) }
            return
        }
        var startOffset = 0
        var i = 0
        while i < s.count {
            guard let (matchEnd, index) = longest(s, at: i) else { i += 1; continue }
            let token = tokens[index].token
            var start = i
            var stop = matchEnd
            i = matchEnd  // the search resumes after the match even if the rules reject it
            if token.singleWord {
                let startOK = start == 0 || !UnicodeClasses.isWord(s[start - 1])
                let stopOK = stop == s.count || !UnicodeClasses.isWord(s[stop])
                if !startOK || !stopOK { continue }
            }
            if token.lstrip {
                var k = start
                while k > 0, UnicodeClasses.isWhitespace(s[k - 1]) { k -= 1 }
                start = max(k, startOffset)
            }
            if token.rstrip {
                while stop < s.count, UnicodeClasses.isWhitespace(s[stop]) { stop += 1 }
            }
            if startOffset < start {
                out.append(.text(TextPiece(scalars: Array(s[startOffset..<start]),
                                           atStart: piece.atStart && startOffset == 0)))
            }
            out.append(.token(token.id))
            startOffset = stop
        }
        if startOffset < s.count {
            out.append(.text(TextPiece(scalars: Array(s[startOffset...]), atStart: piece.atStart && startOffset == 0)))
        }
    }
}
