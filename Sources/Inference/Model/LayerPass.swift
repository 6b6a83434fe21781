import CKernels

/// One sequence's rows in a pass over the decoder layers: which rows of the pass are its
/// new tokens, the cache their keys and values go to, and what each may see.
public struct PassSegment {
    /// The sequence's first row in the pass, and its number of new tokens.
    public var row: Int
    public var count: Int
    public let cache: KVCache
    /// Rotary position of each new token.
    public let positions: UnsafeBufferPointer<Int32>
    /// Nil: causal over the sequence's own cache.
    public let mask: AttentionMask?

    public init(row: Int, count: Int, cache: KVCache, positions: UnsafeBufferPointer<Int32>, mask: AttentionMask?) {
        self.row = row
        self.count = count
        self.cache = cache
        self.positions = positions
        self.mask = mask
    }
}

/// The layer loop of a forward pass over rows that may belong to several sequences, each with
/// its own KV cache: linear layers run once over all rows (every weight is streamed once per
/// pass, whoever the rows belong to), attention runs for each sequence over its own cache.
///
/// Because every kernel computes a row from that row's inputs alone in a fixed order (see
/// `Sources/CKernels`), a row's result is the same bits whichever sequences share the pass.
/// Owns the scratch of `rows` rows. Not thread-safe.
public final class LayerPass {
    let shape: StackShape
    let layers: [LayerWeights]
    let rope: RopeTable
    /// Most rows of one pass.
    let rows: Int
    /// Layers whose input is recorded for each row (EAGLE-3 reads them), sorted.
    let captureLayers: [Int]
    /// [rows × captureLayers.count·hidden]: row i holds row i's recorded layer inputs, low to high.
    let captured: FloatBuffer

    private let xn: FloatBuffer         // [rows × hidden (2·hidden with an EAGLE-3 layer)] normed input of a sublayer
    private let qkv: FloatBuffer        // [rows × qkvWidth]
    private let attention: FloatBuffer  // [rows × heads·headDim]
    private let gateUp: FloatBuffer     // [rows × 2·intermediate]
    private let activation: FloatBuffer // [rows × intermediate]
    private let scores: FloatBuffer     // [pool threads × scoreStride] one attention score row per worker
    /// Longest cache a sequence of the pass may have.
    let scoreStride: Int
    private var descriptors: [eagle_attention]
    private var masks: UnsafeMutablePointer<UInt8>  // the pass's masks, one byte per (row, column)
    private var maskCapacity = 0

    public init(shape: StackShape, layers: [LayerWeights], rope: RopeTable, rows: Int, cacheCapacity: Int, captureLayers: [Int] = []) {
        self.shape = shape
        self.layers = layers
        self.rope = rope
        self.rows = rows
        self.captureLayers = captureLayers.sorted()
        captured = FloatBuffer(count: rows * captureLayers.count * shape.hiddenSize)
        xn = FloatBuffer(count: rows * shape.hiddenSize * (layers.contains { $0.eagle3Norms != nil } ? 2 : 1))
        qkv = FloatBuffer(count: rows * shape.qkvWidth)
        attention = FloatBuffer(count: rows * shape.qWidth)
        gateUp = FloatBuffer(count: rows * 2 * shape.intermediateSize)
        activation = FloatBuffer(count: rows * shape.intermediateSize)
        scoreStride = cacheCapacity
        scores = FloatBuffer(count: KernelInfo.threads * cacheCapacity)
        descriptors = []
        descriptors.reserveCapacity(rows)
        masks = .allocate(capacity: 0)
    }

    deinit { masks.deallocate() }

    public var byteCount: Int { [xn, qkv, attention, gateUp, activation, scores, captured].reduce(0) { $0 + $1.byteCount } }

    /// Runs the layers over `x` ([n × hidden], the residual stream, updated in place), where
    /// `segments` cover rows 0..<n in order, and writes each segment's new keys and values to
    /// its cache after its `count` rows (the caller advances the caches).
    /// `embeddings` ([n × hidden]) is what an EAGLE-3 layer's attention reads beside x.
    public func run(_ x: UnsafeMutablePointer<Float>, rows n: Int, segments: UnsafeBufferPointer<PassSegment>,
             embeddings: UnsafePointer<Float>? = nil) {
        precondition(n <= rows, "a pass of \(n) rows on scratch for \(rows)")
        let s = shape, d = s.hiddenSize, hd = s.headDim, inter = s.intermediateSize
        prepareAttention(segments)
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
            for segment in segments {
                let past = segment.cache.count
                for i in 0..<segment.count {
                    let row = qkv.pointer + (segment.row + i) * s.qkvWidth, p = Int(segment.positions[i])
                    rope.apply(row, heads: s.headCount, position: p)
                    rope.apply(row + s.qWidth, heads: s.kvHeadCount, position: p)
                    for g in 0..<s.kvHeadCount {
                        (segment.cache.keyRows(layer: l, head: g) + (past + i) * hd).update(from: row + s.qWidth + g * hd, count: hd)
                        (segment.cache.valueRows(layer: l, head: g) + (past + i) * hd).update(from: row + s.qWidth + s.kvWidth + g * hd, count: hd)
                    }
                }
            }
            attend(layer: l, segments: segments)
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

    /// Describes each segment's attention (all but the layer's keys and values), and copies
    /// the masks where the kernel can read them for the whole pass.
    private func prepareAttention(_ segments: UnsafeBufferPointer<PassSegment>) {
        let s = shape
        let maskBytes = segments.reduce(0) { $0 + ($1.mask?.allowed.count ?? 0) }
        if maskBytes > maskCapacity {
            masks.deallocate()
            maskCapacity = max(maskBytes, 2 * maskCapacity)
            masks = .allocate(capacity: maskCapacity)
        }
        descriptors.removeAll(keepingCapacity: true)
        var maskOffset = 0
        for segment in segments {
            precondition(segment.cache.count + segment.count <= scoreStride, "a cache longer than the pass's score rows")
            var a = eagle_attention()
            a.q = UnsafePointer(qkv.pointer + segment.row * s.qkvWidth)
            a.q_stride = Int32(s.qkvWidth)
            a.out = attention.pointer + segment.row * s.qWidth
            a.out_stride = Int32(s.qWidth)
            a.capacity = Int32(segment.cache.capacity)
            a.n = Int32(segment.count)
            a.past = Int32(segment.cache.count)
            a.heads = Int32(s.headCount)
            a.kv_heads = Int32(s.kvHeadCount)
            a.head_dim = Int32(s.headDim)
            a.scale = 1 / Float(s.headDim).squareRoot()
            a.scratch = scores.pointer
            a.scratch_stride = Int32(scoreStride)
            if let mask = segment.mask {
                let start = masks + maskOffset
                for (j, allowed) in mask.allowed.enumerated() { start[j] = allowed ? 1 : 0 }
                a.allowed = UnsafePointer(start)
                a.mask_start = Int32(mask.start)
                a.mask_columns = Int32(mask.columns)
                maskOffset += mask.allowed.count
            }
            descriptors.append(a)
        }
    }

    /// Scaled dot-product attention of each segment's new tokens over its own cache rows
    /// 0..<past+count, all segments as one kernel job: see `Sources/CKernels/attention.c`
    /// (masked keys skipped, keys in cache order, so a token's output does not depend on the
    /// rest of the pass).
    private func attend(layer l: Int, segments: UnsafeBufferPointer<PassSegment>) {
        for (k, segment) in segments.enumerated() {
            descriptors[k].keys = UnsafePointer(segment.cache.keyRows(layer: l, head: 0))
            descriptors[k].values = UnsafePointer(segment.cache.valueRows(layer: l, head: 0))
        }
        descriptors.withUnsafeBufferPointer { eagle_attention_run_batch($0.baseAddress!, Int32($0.count)) }
    }
}
