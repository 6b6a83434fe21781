import COpenBLAS
import Foundation

/// The dimensions a stack of LLaMA decoder layers needs.
public struct StackShape: Sendable, Equatable {
    public var hiddenSize: Int
    public var headCount: Int
    public var kvHeadCount: Int
    public var headDim: Int
    public var intermediateSize: Int
    public var rmsNormEps: Float

    public init(_ c: ModelConfig) {
        hiddenSize = c.hiddenSize
        headCount = c.headCount
        kvHeadCount = c.kvHeadCount
        headDim = c.headDim
        intermediateSize = c.intermediateSize
        rmsNormEps = c.rmsNormEps
    }

    public var qWidth: Int { headCount * headDim }
    public var kvWidth: Int { kvHeadCount * headDim }
    public var qkvWidth: Int { qWidth + 2 * kvWidth }
    public var queriesPerKVHead: Int { headCount / kvHeadCount }
}

/// LLaMA decoder layers over a KV cache: the part of a forward pass shared by the target
/// model and the EAGLE draft head (which feeds it `fc(embedding ‖ feature)` instead of an
/// embedding, and skips its first input norm).
///
/// Owns the cache and every scratch buffer, sized once. Not thread-safe.
public final class DecoderStack {
    public let shape: StackShape
    public let layers: [LayerWeights]
    public let rope: RopeTable
    public let cache: KVCache
    public let maxBatch: Int

    private let xn: FloatBuffer         // [maxBatch × hidden] normed input of a sublayer
    private let qkv: FloatBuffer        // [maxBatch × qkvWidth]
    private let attention: FloatBuffer  // [maxBatch × heads·headDim]
    private let gateUp: FloatBuffer     // [maxBatch × 2·intermediate]
    private let activation: FloatBuffer // [maxBatch × intermediate]
    private let groupQueries: FloatBuffer // [queriesPerKV·maxBatch × headDim]
    private let scores: FloatBuffer     // [queriesPerKV·maxBatch × capacity]
    private let groupOutput: FloatBuffer // [queriesPerKV·maxBatch × headDim]
    private var defaultPositions: [Int32] // [maxBatch]

    public init(shape: StackShape, layers: [LayerWeights], rope: RopeTable, capacity: Int, maxBatch: Int) {
        self.shape = shape
        self.layers = layers
        self.rope = rope
        self.maxBatch = maxBatch
        cache = KVCache(layerCount: layers.count, kvHeadCount: shape.kvHeadCount, headDim: shape.headDim, capacity: capacity)
        let groupRows = shape.queriesPerKVHead * maxBatch
        xn = FloatBuffer(count: maxBatch * shape.hiddenSize)
        qkv = FloatBuffer(count: maxBatch * shape.qkvWidth)
        attention = FloatBuffer(count: maxBatch * shape.qWidth)
        gateUp = FloatBuffer(count: maxBatch * 2 * shape.intermediateSize)
        activation = FloatBuffer(count: maxBatch * shape.intermediateSize)
        groupQueries = FloatBuffer(count: groupRows * shape.headDim)
        scores = FloatBuffer(count: groupRows * capacity)
        groupOutput = FloatBuffer(count: groupRows * shape.headDim)
        defaultPositions = [Int32](repeating: 0, count: maxBatch)
    }

    /// Bytes of cache and scratch held.
    public var byteCount: Int {
        cache.byteCount + [xn, qkv, attention, gateUp, activation, groupQueries, scores, groupOutput].reduce(0) { $0 + $1.byteCount }
    }

    /// Checks a pass of `n` new tokens before anything is written.
    public func validate(count n: Int, positions: UnsafeBufferPointer<Int32>?, mask: AttentionMask?) throws(InferenceError) {
        let past = cache.count
        guard n > 0 else { throw .emptyInput }
        guard n <= maxBatch else { throw .batchTooLarge(count: n, maximum: maxBatch) }
        guard past + n <= cache.capacity else { throw .contextOverflow(needed: past + n, capacity: cache.capacity) }
        if let positions {
            guard positions.count == n else { throw .invalidPositions(detail: "\(positions.count) positions for \(n) tokens") }
            for p in positions where p < 0 || Int(p) >= rope.positions {
                throw .invalidPositions(detail: "position \(p) outside 0..<\(rope.positions)")
            }
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
    }

    /// Runs the layers over `x` ([n × hidden], the residual stream, updated in place) and
    /// appends the new tokens' keys and values to the cache. Call `validate` first.
    public func run(_ x: UnsafeMutablePointer<Float>, count n: Int, positions: UnsafeBufferPointer<Int32>?, mask: AttentionMask?) {
        if positions == nil {
            for i in 0..<n { defaultPositions[i] = Int32(cache.count + i) }
        }
        defaultPositions.withUnsafeBufferPointer { defaults in
            runLayers(x, count: n, positions: positions ?? defaults, mask: mask)
        }
        cache.advance(by: n)
    }

    private func runLayers(_ x: UnsafeMutablePointer<Float>, count n: Int, positions: UnsafeBufferPointer<Int32>, mask: AttentionMask?) {
        let s = shape, d = s.hiddenSize, hd = s.headDim, inter = s.intermediateSize
        let past = cache.count
        for (l, layer) in layers.enumerated() {
            if let norm = layer.attentionNorm {
                rmsNorm(x, weight: norm, into: xn.pointer, rows: n, width: d, eps: s.rmsNormEps)
            } else {
                xn.pointer.update(from: x, count: n * d)
            }
            linear(xn.pointer, rows: n, inputs: d, weight: layer.qkv, outputs: s.qkvWidth, into: qkv.pointer)
            addBias(layer.qkvBias, to: qkv.pointer, rows: n, width: s.qkvWidth)
            for i in 0..<n {
                let row = qkv.pointer + i * s.qkvWidth, p = Int(positions[i])
                rope.apply(row, heads: s.headCount, position: p)
                rope.apply(row + s.qWidth, heads: s.kvHeadCount, position: p)
                for g in 0..<s.kvHeadCount {
                    (cache.keyRows(layer: l, head: g) + (past + i) * hd).update(from: row + s.qWidth + g * hd, count: hd)
                    (cache.valueRows(layer: l, head: g) + (past + i) * hd).update(from: row + s.qWidth + s.kvWidth + g * hd, count: hd)
                }
            }
            attend(layer: l, newTokens: n, past: past, mask: mask)
            linear(attention.pointer, rows: n, inputs: s.qWidth, weight: layer.output, outputs: d, into: x, accumulate: true)
            addBias(layer.outputBias, to: x, rows: n, width: d)

            rmsNorm(x, weight: layer.mlpNorm, into: xn.pointer, rows: n, width: d, eps: s.rmsNormEps)
            linear(xn.pointer, rows: n, inputs: d, weight: layer.gateUp, outputs: 2 * inter, into: gateUp.pointer)
            addBias(layer.gateUpBias, to: gateUp.pointer, rows: n, width: 2 * inter)
            swiGLU(gateUp.pointer, into: activation.pointer, rows: n, width: inter)
            linear(activation.pointer, rows: n, inputs: inter, weight: layer.down, outputs: d, into: x, accumulate: true)
            addBias(layer.downBias, to: x, rows: n, width: d)
        }
    }

    /// Scaled dot-product attention of the new tokens over cache rows 0..<past+n.
    ///
    /// The query heads sharing one KV head are gathered into one matrix
    /// [queriesPerKV·n × headDim] so each KV head costs two GEMMs (GEMVs for a single row).
    private func attend(layer l: Int, newTokens n: Int, past: Int, mask: AttentionMask?) {
        let s = shape, hd = s.headDim, group = s.queriesPerKVHead
        let keysTotal = past + n, rowsTotal = group * n
        let scale = 1 / Float(hd).squareRoot()
        let q = groupQueries.pointer, sc = scores.pointer, o = groupOutput.pointer
        for g in 0..<s.kvHeadCount {
            for r in 0..<group {
                for i in 0..<n {
                    let src = qkv.pointer + i * s.qkvWidth + (g * group + r) * hd, dst = q + (r * n + i) * hd
                    for j in 0..<hd { dst[j] = src[j] * scale }
                }
            }
            let keys = cache.keyRows(layer: l, head: g), values = cache.valueRows(layer: l, head: g)
            if rowsTotal == 1 {
                cblas_sgemv(CblasRowMajor, CblasNoTrans, Int32(keysTotal), Int32(hd), 1, keys, Int32(hd), q, 1, 0, sc, 1)
            } else {
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(rowsTotal), Int32(keysTotal), Int32(hd), 1,
                            q, Int32(hd), keys, Int32(hd), 0, sc, Int32(keysTotal))
            }
            for row in 0..<rowsTotal {
                let i = row % n, sr = sc + row * keysTotal
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
                cblas_sgemv(CblasRowMajor, CblasTrans, Int32(keysTotal), Int32(hd), 1, values, Int32(hd), sc, 1, 0, o, 1)
            } else {
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(rowsTotal), Int32(hd), Int32(keysTotal), 1,
                            sc, Int32(keysTotal), values, Int32(hd), 0, o, Int32(hd))
            }
            for r in 0..<group {
                for i in 0..<n {
                    (attention.pointer + i * s.qWidth + (g * group + r) * hd).update(from: o + (r * n + i) * hd, count: hd)
                }
            }
        }
    }
}
