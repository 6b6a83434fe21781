/// Turns generated token ids into text as they arrive.
///
/// Each `append` returns only text that is final: never part of a UTF-8 sequence (byte-level
/// tokens and `<0xNN>` byte-fallback tokens that split a character are held until it is
/// complete), never a leading space the decoder would strip. The concatenation of every
/// `append` and the closing `finish` equals `tokenizer.decode(allIDs)` exactly; in particular a
/// run of `<0xNN>` tokens is released when the run ends, because the reference decodes an
/// invalid run as one U+FFFD per byte.
public struct StreamingDetokenizer: Sendable {
    public let tokenizer: Tokenizer
    public let skipSpecialTokens: Bool
    private var state: DecoderState

    public init(tokenizer: Tokenizer, skipSpecialTokens: Bool = true) {
        self.tokenizer = tokenizer
        self.skipSpecialTokens = skipSpecialTokens
        state = DecoderState(plan: tokenizer.decoderPlan)
    }

    /// Feeds one id; returns the newly completed text (often empty).
    public mutating func append(_ id: TokenID) -> String {
        guard let token = tokenizer.decoderInput(id, skipSpecialTokens: skipSpecialTokens) else { return "" }
        return state.push(token)
    }

    /// Ends the stream and returns what was held back (an incomplete character becomes U+FFFD,
    /// as in `decode`). Call once; the detokenizer starts over afterwards.
    public mutating func finish() -> String {
        let rest = state.finish()
        state = DecoderState(plan: tokenizer.decoderPlan)
        return rest
    }
}
