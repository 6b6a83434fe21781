import Foundation
import Tokenization

/// Which rows of logits a forward pass computes.
public enum LogitsSelection: Sendable {
    /// None (prefill chunks whose predictions nobody reads).
    case none
    /// Only the last new token's (plain decoding).
    case last
    /// Every new token's (tree verification).
    case all
}

/// Views into a session's output buffers, valid until its next forward pass. Holds the
/// session alive, so the views never outlive their memory.
public struct ForwardOutput {
    let session: InferenceSession
    /// New tokens in the pass.
    public let count: Int
    public let vocabularySize: Int
    public let hiddenSize: Int
    let logitsBase: UnsafeMutablePointer<Float>
    let firstLogitsToken: Int
    let hiddenBase: UnsafeMutablePointer<Float>

    /// Logits predicting the token after new token `i` (only those selected were computed).
    public func logits(forToken i: Int) -> UnsafeMutableBufferPointer<Float> {
        precondition(i >= firstLogitsToken && i < count, "logits of token \(i) were not computed")
        return UnsafeMutableBufferPointer(start: logitsBase + (i - firstLogitsToken) * vocabularySize, count: vocabularySize)
    }

    /// The final-norm hidden state of new token `i`: the feature EAGLE reads.
    public func hidden(forToken i: Int) -> UnsafeBufferPointer<Float> {
        precondition(i >= 0 && i < count)
        return UnsafeBufferPointer(start: hiddenBase + i * hiddenSize, count: hiddenSize)
    }

    /// The inputs of the session's capture layers for new token `i`, low to high
    /// ([captureLayers.count × hidden]): the feature an EAGLE-3 head reads.
    public func captured(forToken i: Int) -> UnsafeBufferPointer<Float> {
        precondition(i >= 0 && i < count)
        let width = session.stack.captureLayers.count * hiddenSize
        return UnsafeBufferPointer(start: session.stack.captured.pointer + i * width, count: width)
    }
}

/// One sequence being decoded: the decoder stack (KV cache + scratch) plus the buffers
/// for embeddings, features and logits, all sized once so that decoding allocates nothing
/// per token.
///
/// Not thread-safe: one task drives a session at a time.
public final class InferenceSession {
    public let model: LlamaModel
    public let stack: DecoderStack
    public var cache: KVCache { stack.cache }
    public var maxBatch: Int { stack.maxBatch }

    private let x: FloatBuffer        // [maxBatch × hidden] residual stream
    private let hidden: FloatBuffer   // [maxBatch × hidden] final-norm states
    private let logits: FloatBuffer   // [maxBatch × vocab]
    /// The combiner this session's passes go through while it is joined.
    public private(set) var combiner: PassCombiner?

    init(model: LlamaModel, maxBatch: Int, contextLength: Int, captureLayers: [Int] = []) {
        let c = model.config
        self.model = model
        stack = DecoderStack(shape: StackShape(c), layers: model.weights.layers, rope: model.rope,
                             capacity: contextLength, maxBatch: maxBatch, captureLayers: captureLayers)
        x = FloatBuffer(count: maxBatch * c.hiddenSize)
        hidden = FloatBuffer(count: maxBatch * c.hiddenSize)
        logits = FloatBuffer(count: maxBatch * c.vocabSize)
    }

    deinit { leave() }

    /// From now on, runs this session's passes together with the other sessions joined to
    /// `combiner` (its outputs stay the same bits). False, and nothing changes, when the
    /// combiner cannot take this session (another model, larger passes, other recorded layers).
    @discardableResult
    public func join(_ combiner: PassCombiner) -> Bool {
        guard self.combiner == nil, combiner.accepts(self) else { return false }
        self.combiner = combiner
        combiner.arrive()
        return true
    }

    /// Runs passes alone again.
    public func leave() {
        combiner?.depart()
        combiner = nil
    }

    /// Bytes of scratch and cache this session holds.
    public var byteCount: Int { stack.byteCount + x.byteCount + hidden.byteCount + logits.byteCount }

    /// Tokens in the KV cache.
    public var length: Int { cache.count }

    /// Runs `tokens` through the model on top of the cache and appends their keys and values.
    ///
    /// - Parameters:
    ///   - positions: rotary position of each token; default `length, length+1, …`.
    ///   - mask: which cache rows each token sees; default causal.
    ///   - logits: which tokens' logits to compute.
    public func forward(
        _ tokens: UnsafeBufferPointer<TokenID>, positions: UnsafeBufferPointer<Int32>? = nil,
        mask: AttentionMask? = nil, logits selection: LogitsSelection = .last
    ) throws(InferenceError) -> ForwardOutput {
        let c = model.config, n = tokens.count
        try stack.validate(count: n, positions: positions, mask: mask)
        for t in tokens where t < 0 || Int(t) >= c.vocabSize {
            throw .tokenOutOfRange(token: t, vocabularySize: c.vocabSize)
        }
        let request = PassRequest(session: self, tokens: tokens, positions: positions, mask: mask, selection: selection)
        if let combiner { combiner.run(request) { runAlone(request) } } else { runAlone(request) }
        return output(count: n, firstLogitsToken: request.logitRows.lowerBound)
    }

    /// A pass of this session's tokens alone, on its own scratch (validated already).
    private func runAlone(_ r: PassRequest) {
        let c = model.config, n = r.tokens.count, d = c.hiddenSize
        for i in 0..<n {
            model.weights.embedding.copyRow(Int(r.tokens[i]), into: x.pointer + i * d)
        }
        stack.run(x.pointer, count: n, positions: r.positions, mask: r.mask)
        rmsNorm(x.pointer, weight: model.weights.finalNorm, into: hidden.pointer, rows: n, width: d, eps: c.rmsNormEps)
        let rows = r.logitRows
        if !rows.isEmpty {
            linear(hidden.pointer + rows.lowerBound * d, rows: rows.count, weight: model.weights.lmHead, into: logits.pointer)
        }
    }

    /// A view of the last pass's outputs: `count` new tokens, logits from `firstLogitsToken` on.
    func output(count: Int, firstLogitsToken: Int) -> ForwardOutput {
        ForwardOutput(session: self, count: count, vocabularySize: model.config.vocabSize, hiddenSize: model.config.hiddenSize,
                      logitsBase: logits.pointer, firstLogitsToken: firstLogitsToken, hiddenBase: hidden.pointer)
    }

    /// Takes a combined pass's outputs for this session's `count` new tokens: their final-norm
    /// states, the logits of its `logitRows` selected rows, and the recorded layer inputs.
    func receive(count: Int, hidden source: UnsafePointer<Float>, logits sourceLogits: UnsafePointer<Float>, logitRows: Int,
                 captured: UnsafePointer<Float>?) {
        let c = model.config
        hidden.pointer.update(from: source, count: count * c.hiddenSize)
        logits.pointer.update(from: sourceLogits, count: logitRows * c.vocabSize)
        if let captured {
            stack.captured.pointer.update(from: captured, count: count * stack.captureLayers.count * c.hiddenSize)
        }
    }

    /// Convenience over `forward(_:positions:mask:logits:)` for arrays.
    public func forward(
        _ tokens: [TokenID], positions: [Int32]? = nil, mask: AttentionMask? = nil, logits selection: LogitsSelection = .last
    ) throws(InferenceError) -> ForwardOutput {
        try tokens.withUnsafeBufferPointer { t throws(InferenceError) in
            if let positions {
                return try positions.withUnsafeBufferPointer { p throws(InferenceError) in
                    try forward(t, positions: p, mask: mask, logits: selection)
                }
            }
            return try forward(t, positions: nil, mask: mask, logits: selection)
        }
    }

    /// Feeds a prompt of any length in `maxBatch` chunks; returns the last chunk's output
    /// with logits of its last token. `onChunk` sees every chunk's output (EAGLE reads the
    /// features of the whole prompt).
    public func prefill(_ tokens: [TokenID], onChunk: (Range<Int>, ForwardOutput) throws -> Void = { _, _ in }) throws -> ForwardOutput {
        guard !tokens.isEmpty else { throw InferenceError.emptyInput }
        guard cache.count + tokens.count <= cache.capacity else {
            throw InferenceError.contextOverflow(needed: cache.count + tokens.count, capacity: cache.capacity)
        }
        return try tokens.withUnsafeBufferPointer { all in
            var start = 0
            while true {
                let end = min(start + (combiner?.prefillChunk(sessionMaximum: maxBatch) ?? maxBatch), all.count)
                let chunk = UnsafeBufferPointer(rebasing: all[start..<end])
                let output = try forward(chunk, logits: end == all.count ? .last : .none)
                try onChunk(start..<end, output)
                if end == all.count { return output }
                start = end
            }
        }
    }

    /// Forgets cached tokens from `length` on.
    public func truncate(to length: Int) { cache.truncate(to: length) }
}
