import Tokenization

/// Applies the stop rules to generated tokens and turns them into streamable text.
///
/// Shared by every generator so that EOS, stop strings and max tokens mean the same thing
/// whether tokens arrive one per step or several. Text that could be the start of a stop
/// string is held back until it is known not to be one.
public struct OutputAccumulator {
    private let stopTokens: Set<TokenID>
    private let stopStrings: [String]
    private let maxTokens: Int
    private var detokenizer: StreamingDetokenizer?
    public private(set) var tokens: [TokenID] = []
    public private(set) var text = ""
    private var pending = ""
    public private(set) var stopReason: StopReason?

    public init(params: GenerationParams, tokenizer: Tokenizer?, defaultStopTokens: [TokenID]) {
        stopTokens = params.ignoreEOS ? [] : (params.stopTokens ?? Set(defaultStopTokens))
        stopStrings = params.stopStrings
        maxTokens = params.maxTokens
        detokenizer = tokenizer.map { StreamingDetokenizer(tokenizer: $0) }
        tokens.reserveCapacity(params.maxTokens)
    }

    /// Takes a step's tokens in order, up to the first stop condition; returns what became
    /// final (tokens taken, text released).
    public mutating func take(_ new: [TokenID]) -> (tokens: [TokenID], text: String) {
        var taken: [TokenID] = []
        var released = ""
        for token in new where stopReason == nil {
            taken.append(token)
            tokens.append(token)
            if stopTokens.contains(token) {
                stopReason = .endOfSequence
            } else if detokenizer != nil {
                // Mutated in place: a copy (`if var d = detokenizer`) made its buffers shared,
                // so every token reallocated them.
                pending += detokenizer!.append(token)
                released += releasePending()
            }
            if stopReason == nil && tokens.count >= maxTokens { stopReason = .maxTokens }
        }
        if let reason = stopReason, reason != .stopString { released += flush() }
        text += released
        return (taken, released)
    }

    /// Ends early for a reason outside the tokens (cancel, full context).
    public mutating func stop(_ reason: StopReason) -> String {
        guard stopReason == nil else { return "" }
        stopReason = reason
        let rest = flush()
        text += rest
        return rest
    }

    private mutating func flush() -> String {
        if detokenizer != nil { pending += detokenizer!.finish() }
        let rest = stopStrings.isEmpty ? pending : releasePending(final: true)
        pending = ""
        return rest
    }

    /// Releases the pending text that can no longer become part of a stop string.
    private mutating func releasePending(final: Bool = false) -> String {
        guard !stopStrings.isEmpty else {
            defer { pending = "" }
            return pending
        }
        if let cut = earliestStop(in: pending) {
            stopReason = .stopString
            let out = String(pending[..<cut])
            pending = ""
            return out
        }
        if final { defer { pending = "" }; return pending }
        let keep = longestStopPrefixSuffix(of: pending)
        let cut = pending.index(pending.endIndex, offsetBy: -keep)
        let out = String(pending[..<cut])
        pending = String(pending[cut...])
        return out
    }

    private func earliestStop(in s: String) -> String.Index? {
        stopStrings.compactMap { s.range(of: $0)?.lowerBound }.min()
    }

    /// Characters at the end of `s` that begin some stop string.
    private func longestStopPrefixSuffix(of s: String) -> Int {
        var best = 0
        for stop in stopStrings {
            var length = min(stop.count - 1, s.count)
            while length > best {
                if stop.hasPrefix(s.suffix(length)) { best = length; break }
                length -= 1
            }
        }
        return best
    }
}
