import Tokenization

/// One session's share of a batched forward pass: what `InferenceSession.forward` was asked,
/// already validated. The pointers are valid until the pass returns.
struct PassRequest {
    let session: InferenceSession
    let tokens: UnsafeBufferPointer<TokenID>
    /// Nil: appended in order after the session's cache.
    let positions: UnsafeBufferPointer<Int32>?
    let mask: AttentionMask?
    let selection: LogitsSelection

    /// The rows whose logits are computed.
    var logitRows: Range<Int> {
        switch selection {
        case .none: return tokens.count..<tokens.count
        case .last: return (tokens.count - 1)..<tokens.count
        case .all: return 0..<tokens.count
        }
    }
}

/// A forward pass of the target model over the new tokens of several sessions at once, each
/// attending to its own KV cache: one stream of the weights for every session in the pass.
///
/// Each session gets exactly the bits a pass of its tokens alone would give it (the kernels
/// compute every row from its own inputs in a fixed order; tested), delivered into its own
/// output buffers. Owns scratch for `rows` rows. Not thread-safe: one pass at a time.
final class BatchedPass {
    let model: LlamaModel
    let rows: Int
    let layers: LayerPass
    private let x: FloatBuffer        // [rows × hidden] residual stream
    private let hidden: FloatBuffer   // [rows × hidden] final-norm states
    private let selected: FloatBuffer // [rows × hidden] the final-norm states whose logits are asked for
    private let logits: FloatBuffer   // [rows × vocab]
    private var segments: [PassSegment] = []

    init(model: LlamaModel, rows: Int, captureLayers: [Int]) {
        let c = model.config
        self.model = model
        self.rows = rows
        layers = LayerPass(shape: StackShape(c), layers: model.weights.layers, rope: model.rope, rows: rows,
                           cacheCapacity: model.contextLength, captureLayers: captureLayers)
        x = FloatBuffer(count: rows * c.hiddenSize)
        hidden = FloatBuffer(count: rows * c.hiddenSize)
        selected = FloatBuffer(count: rows * c.hiddenSize)
        logits = FloatBuffer(count: rows * c.vocabSize)
        segments.reserveCapacity(rows)
    }

    var byteCount: Int { layers.byteCount + x.byteCount + hidden.byteCount + selected.byteCount + logits.byteCount }

    /// Runs `requests` (at most `rows` tokens in all, every session's cache at most the
    /// model's context) as one pass and hands each session its outputs.
    func run(_ requests: [PassRequest]) {
        let c = model.config, d = c.hiddenSize, v = c.vocabSize
        // Masks are held only for the pass (their owners rebuild them in place afterwards).
        defer { segments.removeAll(keepingCapacity: true) }
        var n = 0
        for r in requests {
            for i in 0..<r.tokens.count {
                model.weights.embedding.copyRow(Int(r.tokens[i]), into: x.pointer + (n + i) * d)
            }
            let positions = r.positions ?? r.session.stack.appendedPositions(count: r.tokens.count)
            segments.append(PassSegment(row: n, count: r.tokens.count, cache: r.session.cache, positions: positions, mask: r.mask))
            n += r.tokens.count
        }
        precondition(n <= rows, "a batched pass of \(n) rows on scratch for \(rows)")
        segments.withUnsafeBufferPointer { layers.run(x.pointer, rows: n, segments: $0) }
        rmsNorm(x.pointer, weight: model.weights.finalNorm, into: hidden.pointer, rows: n, width: d, eps: c.rmsNormEps)

        var count = 0
        for (r, segment) in zip(requests, segments) {
            for i in r.logitRows {
                (selected.pointer + count * d).update(from: hidden.pointer + (segment.row + i) * d, count: d)
                count += 1
            }
        }
        if count > 0 { linear(selected.pointer, rows: count, weight: model.weights.lmHead, into: logits.pointer) }

        let captureWidth = layers.captureLayers.count * d
        count = 0
        for (r, segment) in zip(requests, segments) {
            let logitRows = r.logitRows.count
            r.session.receive(count: segment.count, hidden: hidden.pointer + segment.row * d,
                              logits: logits.pointer + count * v, logitRows: logitRows,
                              captured: captureWidth > 0 ? layers.captured.pointer + segment.row * captureWidth : nil)
            count += logitRows
            r.session.cache.advance(by: segment.count)
        }
    }
}
