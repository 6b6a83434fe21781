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
    public var layers: [LayerWeights] { pass.layers }
    public var rope: RopeTable { pass.rope }
    public let cache: KVCache
    public let maxBatch: Int
    /// Layers whose input the stack records for each new token (EAGLE-3 reads them), sorted.
    public var captureLayers: [Int] { pass.captureLayers }
    /// [maxBatch × captureLayers.count·hidden]: row i holds token i's recorded layer inputs, low to high.
    public var captured: FloatBuffer { pass.captured }
    /// The layer loop and its scratch.
    let pass: LayerPass
    private let defaultPositions: UnsafeMutablePointer<Int32> // [maxBatch]

    public init(shape: StackShape, layers: [LayerWeights], rope: RopeTable, capacity: Int, maxBatch: Int,
                captureLayers: [Int] = []) {
        self.shape = shape
        self.maxBatch = maxBatch
        cache = KVCache(layerCount: layers.count, kvHeadCount: shape.kvHeadCount, headDim: shape.headDim, capacity: capacity)
        pass = LayerPass(shape: shape, layers: layers, rope: rope, rows: maxBatch, cacheCapacity: capacity, captureLayers: captureLayers)
        defaultPositions = .allocate(capacity: maxBatch)
    }

    deinit { defaultPositions.deallocate() }

    /// Bytes of cache and scratch held.
    public var byteCount: Int { cache.byteCount + pass.byteCount }

    /// Checks a pass of `n` new tokens before anything is written.
    public func validate(count n: Int, positions: UnsafeBufferPointer<Int32>?, mask: AttentionMask?) throws(InferenceError) {
        try cache.validate(count: n, maxBatch: maxBatch, positions: positions, positionLimit: rope.positions, mask: mask)
    }

    /// The positions of `n` tokens appended in order (`length, length+1, …`), valid until the
    /// next call.
    func appendedPositions(count n: Int) -> UnsafeBufferPointer<Int32> {
        for i in 0..<n { defaultPositions[i] = Int32(cache.count + i) }
        return UnsafeBufferPointer(start: defaultPositions, count: n)
    }

    /// Runs the layers over `x` ([n × hidden], the residual stream, updated in place) and
    /// appends the new tokens' keys and values to the cache. Call `validate` first.
    /// `embeddings` ([n × hidden]) is what an EAGLE-3 layer's attention reads beside x.
    public func run(_ x: UnsafeMutablePointer<Float>, count n: Int, positions: UnsafeBufferPointer<Int32>?, mask: AttentionMask?,
                    embeddings: UnsafePointer<Float>? = nil) {
        let segment = PassSegment(row: 0, count: n, cache: cache, positions: positions ?? appendedPositions(count: n), mask: mask)
        withUnsafePointer(to: segment) { one in
            pass.run(x, rows: n, segments: UnsafeBufferPointer(start: one, count: 1), embeddings: embeddings)
        }
        cache.advance(by: n)
    }
}
