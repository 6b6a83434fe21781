import CKernels
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
    /// Layers whose input the stack records for each new token (EAGLE-3 reads them), sorted.
    public let captureLayers: [Int]
    /// [maxBatch × captureLayers.count·hidden]: row i holds token i's recorded layer inputs, low to high.
    public let captured: FloatBuffer

    private let xn: FloatBuffer         // [maxBatch × hidden (2·hidden with an EAGLE-3 layer)] normed input of a sublayer
    private let qkv: FloatBuffer        // [maxBatch × qkvWidth]
    private let attention: FloatBuffer  // [maxBatch × heads·headDim]
    private let gateUp: FloatBuffer     // [maxBatch × 2·intermediate]
    private let activation: FloatBuffer // [maxBatch × intermediate]
    private let scores: FloatBuffer     // [pool threads × capacity] one attention score row per worker
    private var defaultPositions: [Int32] // [maxBatch]

    public init(shape: StackShape, layers: [LayerWeights], rope: RopeTable, capacity: Int, maxBatch: Int,
                captureLayers: [Int] = []) {
        self.shape = shape
        self.layers = layers
        self.rope = rope
        self.maxBatch = maxBatch
        self.captureLayers = captureLayers.sorted()
        captured = FloatBuffer(count: maxBatch * captureLayers.count * shape.hiddenSize)
        cache = KVCache(layerCount: layers.count, kvHeadCount: shape.kvHeadCount, headDim: shape.headDim, capacity: capacity)
        xn = FloatBuffer(count: maxBatch * shape.hiddenSize * (layers.contains { $0.eagle3Norms != nil } ? 2 : 1))
        qkv = FloatBuffer(count: maxBatch * shape.qkvWidth)
        attention = FloatBuffer(count: maxBatch * shape.qWidth)
        gateUp = FloatBuffer(count: maxBatch * 2 * shape.intermediateSize)
        activation = FloatBuffer(count: maxBatch * shape.intermediateSize)
        scores = FloatBuffer(count: KernelInfo.threads * capacity)
        defaultPositions = [Int32](repeating: 0, count: maxBatch)
    }

    /// Bytes of cache and scratch held.
    public var byteCount: Int {
        cache.byteCount + [xn, qkv, attention, gateUp, activation, scores, captured].reduce(0) { $0 + $1.byteCount }
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
    /// `embeddings` ([n × hidden]) is what an EAGLE-3 layer's attention reads beside x.
    public func run(_ x: UnsafeMutablePointer<Float>, count n: Int, positions: UnsafeBufferPointer<Int32>?, mask: AttentionMask?,
                    embeddings: UnsafePointer<Float>? = nil) {
        if positions == nil {
            for i in 0..<n { defaultPositions[i] = Int32(cache.count + i) }
        }
        defaultPositions.withUnsafeBufferPointer { defaults in
            runLayers(x, count: n, positions: positions ?? defaults, mask: mask, embeddings: embeddings)
        }
        cache.advance(by: n)
    }

    private func runLayers(_ x: UnsafeMutablePointer<Float>, count n: Int, positions: UnsafeBufferPointer<Int32>, mask: AttentionMask?,
                           embeddings: UnsafePointer<Float>?) {
        let s = shape, d = s.hiddenSize, hd = s.headDim, inter = s.intermediateSize
        let past = cache.count
        for (l, layer) in layers.enumerated() {
            for (j, captureLayer) in captureLayers.enumerated() where captureLayer == l {
                let width = captureLayers.count * d
                for i in 0..<n { (captured.pointer + i * width + j * d).update(from: x + i * d, count: d) }
            }
            if let norms = layer.eagle3Norms {
                guard let embeddings else { preconditionFailure("an EAGLE-3 layer needs the embeddings of its tokens") }
                for i in 0..<n {
                    rmsNorm(embeddings + i * d, weight: norms.embedding, into: xn.pointer + 2 * i * d, rows: 1, width: d, eps: s.rmsNormEps)
                    rmsNorm(x + i * d, weight: norms.hidden, into: xn.pointer + (2 * i + 1) * d, rows: 1, width: d, eps: s.rmsNormEps)
                }
            } else if let norm = layer.attentionNorm {
                rmsNorm(x, weight: norm, into: xn.pointer, rows: n, width: d, eps: s.rmsNormEps)
            } else {
                xn.pointer.update(from: x, count: n * d)
            }
            linear(xn.pointer, rows: n, weight: layer.qkv, into: qkv.pointer)
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
            linear(attention.pointer, rows: n, weight: layer.output, into: x, accumulate: true)
            addBias(layer.outputBias, to: x, rows: n, width: d)

            rmsNorm(x, weight: layer.mlpNorm, into: xn.pointer, rows: n, width: d, eps: s.rmsNormEps)
            linear(xn.pointer, rows: n, weight: layer.gateUp, into: gateUp.pointer)
            addBias(layer.gateUpBias, to: gateUp.pointer, rows: n, width: 2 * inter)
            swiGLU(gateUp.pointer, into: activation.pointer, rows: n, width: inter)
            linear(activation.pointer, rows: n, weight: layer.down, into: x, accumulate: true)
            addBias(layer.downBias, to: x, rows: n, width: d)
        }
    }

    /// Scaled dot-product attention of the new tokens over cache rows 0..<past+n, one kernel
    /// task per (token, head): see `Sources/CKernels/attention.c` (masked keys skipped, keys
    /// in cache order, so a token's output does not depend on the rest of the pass).
    private func attend(layer l: Int, newTokens n: Int, past: Int, mask: AttentionMask?) {
        let s = shape
        var a = eagle_attention()
        a.q = UnsafePointer(qkv.pointer)
        a.q_stride = Int32(s.qkvWidth)
        a.out = attention.pointer
        a.out_stride = Int32(s.qWidth)
        a.keys = UnsafePointer(cache.keyRows(layer: l, head: 0))
        a.values = UnsafePointer(cache.valueRows(layer: l, head: 0))
        a.capacity = Int32(cache.capacity)
        a.n = Int32(n)
        a.past = Int32(past)
        a.heads = Int32(s.headCount)
        a.kv_heads = Int32(s.kvHeadCount)
        a.head_dim = Int32(s.headDim)
        a.scale = 1 / Float(s.headDim).squareRoot()
        a.scratch = scores.pointer
        guard let mask else {
            eagle_attention_run(&a)
            return
        }
        mask.allowed.withUnsafeBytes { allowed in
            a.allowed = allowed.baseAddress!.assumingMemoryBound(to: UInt8.self)
            a.mask_start = Int32(mask.start)
            a.mask_columns = Int32(mask.columns)
            eagle_attention_run(&a)
        }
    }
}
