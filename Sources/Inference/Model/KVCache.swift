#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Keys and values of every layer for the tokens seen so far, preallocated to `capacity` rows.
///
/// Layout: [layer][kvHead][row][headDim], so each head's keys are one contiguous matrix
/// that attention multiplies with a single GEMM. Row `i` holds the i-th token appended,
/// whatever its rotary position (tree verification appends tokens whose positions repeat).
public final class KVCache {
    public let layerCount: Int
    public let kvHeadCount: Int
    public let headDim: Int
    public let capacity: Int
    /// Rows in use.
    public private(set) var count = 0
    let keys: FloatBuffer     // [layers × kvHeads × capacity × headDim]
    let values: FloatBuffer   // [layers × kvHeads × capacity × headDim]

    public init(layerCount: Int, kvHeadCount: Int, headDim: Int, capacity: Int) {
        self.layerCount = layerCount
        self.kvHeadCount = kvHeadCount
        self.headDim = headDim
        self.capacity = capacity
        keys = FloatBuffer(count: layerCount * kvHeadCount * capacity * headDim)
        values = FloatBuffer(count: layerCount * kvHeadCount * capacity * headDim)
    }

    public var byteCount: Int { keys.byteCount + values.byteCount }

    /// Bytes one token of context costs: an FP32 key and value per layer and KV head.
    public static func bytesPerToken(layerCount: Int, kvHeadCount: Int, headDim: Int) -> Int {
        2 * layerCount * kvHeadCount * headDim * MemoryLayout<Float>.stride
    }

    @inline(__always)
    func keyRows(layer: Int, head: Int) -> UnsafeMutablePointer<Float> {
        keys.pointer + (layer * kvHeadCount + head) * capacity * headDim
    }

    @inline(__always)
    func valueRows(layer: Int, head: Int) -> UnsafeMutablePointer<Float> {
        values.pointer + (layer * kvHeadCount + head) * capacity * headDim
    }

    /// Marks `n` more rows as used (their contents were written by the forward pass).
    public func advance(by n: Int) { count += n }

    /// Forgets every row from `newCount` on.
    public func truncate(to newCount: Int) {
        precondition(newCount >= 0 && newCount <= count, "truncate(to: \(newCount)) with \(count) rows")
        count = newCount
    }

    /// Moves rows `rows` (absolute, strictly increasing, each ≥ `start`) to `start, start+1, …`
    /// and drops everything after them: what acceptance does with verified tree tokens.
    public func compact(from start: Int, keeping rows: [Int]) {
        var previous = start - 1
        for r in rows {
            precondition(r > previous && r < count, "compact rows must be increasing and below \(count)")
            previous = r
        }
        let bytes = headDim * MemoryLayout<Float>.stride
        for layer in 0..<layerCount {
            for head in 0..<kvHeadCount {
                let k = keyRows(layer: layer, head: head), v = valueRows(layer: layer, head: head)
                for (j, r) in rows.enumerated() where r != start + j {
                    memmove(k + (start + j) * headDim, k + r * headDim, bytes)
                    memmove(v + (start + j) * headDim, v + r * headDim, bytes)
                }
            }
        }
        count = start + rows.count
    }
}

extension KVCache {
    /// Checks a pass of `n` new tokens (at most `maxBatch`, rotary positions below
    /// `positionLimit`, a mask that fits) before anything is written.
    public func validate(count n: Int, maxBatch: Int, positions: UnsafeBufferPointer<Int32>?, positionLimit: Int,
                         mask: AttentionMask?) throws(InferenceError) {
        let past = count
        guard n > 0 else { throw .emptyInput }
        guard n <= maxBatch else { throw .batchTooLarge(count: n, maximum: maxBatch) }
        guard past + n <= capacity else { throw .contextOverflow(needed: past + n, capacity: capacity) }
        if let positions {
            guard positions.count == n else { throw .invalidPositions(detail: "\(positions.count) positions for \(n) tokens") }
            for p in positions where p < 0 || Int(p) >= positionLimit {
                throw .invalidPositions(detail: "position \(p) outside 0..<\(positionLimit)")
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
}
