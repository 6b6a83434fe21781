import COpenBLAS
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

/// Views into a session's output buffers, valid until its next forward pass.
public struct ForwardOutput {
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
}

/// One sequence being decoded: a KV cache plus every scratch buffer a forward pass needs,
/// all sized once here so that decoding allocates nothing per token.
///
/// Not thread-safe: one task drives a session at a time.
public final class InferenceSession {
    public let model: LlamaModel
    public let cache: KVCache
    public let maxBatch: Int

    private let x: FloatBuffer        // [maxBatch × hidden] residual stream
    private let xn: FloatBuffer       // [maxBatch × hidden] normed input of a sublayer
    private let qkv: FloatBuffer      // [maxBatch × (heads + 2·kvHeads)·headDim]
    private let attention: FloatBuffer // [maxBatch × heads·headDim]
    private let gateUp: FloatBuffer   // [maxBatch × 2·intermediate]
    private let activation: FloatBuffer // [maxBatch × intermediate]
    private let groupQueries: FloatBuffer // [queriesPerKV·maxBatch × headDim]
    private let scores: FloatBuffer   // [queriesPerKV·maxBatch × context]
    private let groupOutput: FloatBuffer // [queriesPerKV·maxBatch × headDim]
    private let hidden: FloatBuffer   // [maxBatch × hidden] final-norm states
    private let logits: FloatBuffer   // [maxBatch × vocab]
    private var positionScratch: [Int32] // [maxBatch] default positions

    init(model: LlamaModel, maxBatch: Int, contextLength: Int) {
        let c = model.config
        self.model = model
        self.maxBatch = maxBatch
        cache = KVCache(layerCount: c.layerCount, kvHeadCount: c.kvHeadCount, headDim: c.headDim, capacity: contextLength)
        let qkvWidth = (c.headCount + 2 * c.kvHeadCount) * c.headDim
        let groupRows = c.queriesPerKVHead * maxBatch
        x = FloatBuffer(count: maxBatch * c.hiddenSize)
        xn = FloatBuffer(count: maxBatch * c.hiddenSize)
        qkv = FloatBuffer(count: maxBatch * qkvWidth)
        attention = FloatBuffer(count: maxBatch * c.headCount * c.headDim)
        gateUp = FloatBuffer(count: maxBatch * 2 * c.intermediateSize)
        activation = FloatBuffer(count: maxBatch * c.intermediateSize)
        groupQueries = FloatBuffer(count: groupRows * c.headDim)
        scores = FloatBuffer(count: groupRows * contextLength)
        groupOutput = FloatBuffer(count: groupRows * c.headDim)
        hidden = FloatBuffer(count: maxBatch * c.hiddenSize)
        logits = FloatBuffer(count: maxBatch * c.vocabSize)
        positionScratch = [Int32](repeating: 0, count: maxBatch)
    }

    /// Bytes of scratch and cache this session holds.
    public var byteCount: Int {
        cache.byteCount + [x, xn, qkv, attention, gateUp, activation, groupQueries, scores, groupOutput, hidden, logits]
            .reduce(0) { $0 + $1.byteCount }
    }

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
        let c = model.config
        let n = tokens.count, past = cache.count
        guard n > 0 else { throw .emptyInput }
        guard n <= maxBatch else { throw .batchTooLarge(count: n, maximum: maxBatch) }
        guard past + n <= cache.capacity else { throw .contextOverflow(needed: past + n, capacity: cache.capacity) }
        for t in tokens where t < 0 || Int(t) >= c.vocabSize {
            throw .tokenOutOfRange(token: t, vocabularySize: c.vocabSize)
        }
        if let positions {
            guard positions.count == n else { throw .invalidPositions(detail: "\(positions.count) positions for \(n) tokens") }
            for p in positions where p < 0 || Int(p) >= model.rope.positions {
                throw .invalidPositions(detail: "position \(p) outside 0..<\(model.rope.positions)")
            }
        } else {
            for i in 0..<n { positionScratch[i] = Int32(past + i) }
        }
        if let mask {
            guard mask.start >= 0, mask.start <= past, mask.rows == n, mask.columns == past + n - mask.start,
                  mask.allowed.count == mask.rows * mask.columns
            else {
                throw .invalidMask(detail: "mask \(mask.rows)×\(mask.columns) from row \(mask.start) does not fit \(n) new tokens on \(past) cached")
            }
            // A token that sees nothing would make softmax divide by zero.
            for i in 0..<n where !mask.isAllowed(row: i, column: past - mask.start + i) {
                throw .invalidMask(detail: "new token \(i) must see itself")
            }
        }
        try positionScratch.withUnsafeBufferPointer { defaults throws(InferenceError) in
            runLayers(tokens, positions: positions ?? defaults, mask: mask)
        }
        cache.advance(by: n)

        let d = c.hiddenSize
        rmsNorm(x.pointer, weight: model.weights.finalNorm, into: hidden.pointer, rows: n, width: d, eps: c.rmsNormEps)
        var first = n
        switch selection {
        case .none: break
        case .last:
            first = n - 1
            linear(hidden.pointer + first * d, rows: 1, inputs: d, weight: model.weights.lmHead, outputs: c.vocabSize, into: logits.pointer)
        case .all:
            first = 0
            linear(hidden.pointer, rows: n, inputs: d, weight: model.weights.lmHead, outputs: c.vocabSize, into: logits.pointer)
        }
        return ForwardOutput(count: n, vocabularySize: c.vocabSize, hiddenSize: d, logitsBase: logits.pointer,
                             firstLogitsToken: first, hiddenBase: hidden.pointer)
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
    /// with logits of its last token.
    public func prefill(_ tokens: [TokenID]) throws(InferenceError) -> ForwardOutput {
        guard !tokens.isEmpty else { throw .emptyInput }
        guard cache.count + tokens.count <= cache.capacity else {
            throw .contextOverflow(needed: cache.count + tokens.count, capacity: cache.capacity)
        }
        return try tokens.withUnsafeBufferPointer { all throws(InferenceError) in
            var start = 0
            while true {
                let end = min(start + maxBatch, all.count)
                let chunk = UnsafeBufferPointer(rebasing: all[start..<end])
                let output = try forward(chunk, logits: end == all.count ? .last : .none)
                if end == all.count { return output }
                start = end
            }
        }
    }

    /// Forgets cached tokens from `length` on.
    public func truncate(to length: Int) { cache.truncate(to: length) }

    // MARK: - Layers

    private func runLayers(_ tokens: UnsafeBufferPointer<TokenID>, positions: UnsafeBufferPointer<Int32>, mask: AttentionMask?) {
        let c = model.config, w = model.weights
        let n = tokens.count, d = c.hiddenSize, hd = c.headDim
        let qWidth = c.headCount * hd, kvWidth = c.kvHeadCount * hd, qkvWidth = qWidth + 2 * kvWidth
        let inter = c.intermediateSize, past = cache.count
        for i in 0..<n {
            (x.pointer + i * d).update(from: w.embedding + Int(tokens[i]) * d, count: d)
        }
        for (l, layer) in w.layers.enumerated() {
            rmsNorm(x.pointer, weight: layer.attentionNorm, into: xn.pointer, rows: n, width: d, eps: c.rmsNormEps)
            linear(xn.pointer, rows: n, inputs: d, weight: layer.qkv, outputs: qkvWidth, into: qkv.pointer)
            addBias(layer.qkvBias, to: qkv.pointer, rows: n, width: qkvWidth)
            for i in 0..<n {
                let row = qkv.pointer + i * qkvWidth, p = Int(positions[i])
                model.rope.apply(row, heads: c.headCount, position: p)
                model.rope.apply(row + qWidth, heads: c.kvHeadCount, position: p)
                for g in 0..<c.kvHeadCount {
                    (cache.keyRows(layer: l, head: g) + (past + i) * hd).update(from: row + qWidth + g * hd, count: hd)
                    (cache.valueRows(layer: l, head: g) + (past + i) * hd).update(from: row + qWidth + kvWidth + g * hd, count: hd)
                }
            }
            attend(layer: l, newTokens: n, past: past, mask: mask)
            linear(attention.pointer, rows: n, inputs: qWidth, weight: layer.output, outputs: d, into: x.pointer, accumulate: true)
            addBias(layer.outputBias, to: x.pointer, rows: n, width: d)

            rmsNorm(x.pointer, weight: layer.mlpNorm, into: xn.pointer, rows: n, width: d, eps: c.rmsNormEps)
            linear(xn.pointer, rows: n, inputs: d, weight: layer.gateUp, outputs: 2 * inter, into: gateUp.pointer)
            addBias(layer.gateUpBias, to: gateUp.pointer, rows: n, width: 2 * inter)
            swiGLU(gateUp.pointer, into: activation.pointer, rows: n, width: inter)
            linear(activation.pointer, rows: n, inputs: inter, weight: layer.down, outputs: d, into: x.pointer, accumulate: true)
            addBias(layer.downBias, to: x.pointer, rows: n, width: d)
        }
    }

    /// Scaled dot-product attention of the new tokens over cache rows 0..<past+n.
    ///
    /// The query heads sharing one KV head are gathered into one matrix
    /// [queriesPerKV·n × headDim] so each KV head costs two GEMMs (GEMVs for a single row).
    private func attend(layer l: Int, newTokens n: Int, past: Int, mask: AttentionMask?) {
        let c = model.config, hd = c.headDim, group = c.queriesPerKVHead
        let qkvWidth = (c.headCount + 2 * c.kvHeadCount) * hd, qWidth = c.headCount * hd
        let keysTotal = past + n, rowsTotal = group * n
        let scale = 1 / Float(hd).squareRoot()
        let q = groupQueries.pointer, s = scores.pointer, o = groupOutput.pointer
        for g in 0..<c.kvHeadCount {
            for r in 0..<group {
                for i in 0..<n {
                    let src = qkv.pointer + i * qkvWidth + (g * group + r) * hd, dst = q + (r * n + i) * hd
                    for j in 0..<hd { dst[j] = src[j] * scale }
                }
            }
            let keys = cache.keyRows(layer: l, head: g), values = cache.valueRows(layer: l, head: g)
            if rowsTotal == 1 {
                cblas_sgemv(CblasRowMajor, CblasNoTrans, Int32(keysTotal), Int32(hd), 1, keys, Int32(hd), q, 1, 0, s, 1)
            } else {
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(rowsTotal), Int32(keysTotal), Int32(hd), 1,
                            q, Int32(hd), keys, Int32(hd), 0, s, Int32(keysTotal))
            }
            for row in 0..<rowsTotal {
                let i = row % n, sr = s + row * keysTotal
                if let mask {
                    for j in mask.start..<keysTotal where !mask.isAllowed(row: i, column: j - mask.start) {
                        sr[j] = -.infinity
                    }
                    softmax(sr, count: keysTotal)
                } else {
                    let visible = past + i + 1
                    softmax(sr, count: visible)
                    for j in visible..<keysTotal { sr[j] = 0 }
                }
            }
            if rowsTotal == 1 {
                cblas_sgemv(CblasRowMajor, CblasTrans, Int32(keysTotal), Int32(hd), 1, values, Int32(hd), s, 1, 0, o, 1)
            } else {
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(rowsTotal), Int32(hd), Int32(keysTotal), 1,
                            s, Int32(keysTotal), values, Int32(hd), 0, o, Int32(hd))
            }
            for r in 0..<group {
                for i in 0..<n {
                    (attention.pointer + i * qWidth + (g * group + r) * hd).update(from: o + (r * n + i) * hd, count: hd)
                }
            }
        }
    }
}
