import Inference
import Tokenization

/// One draft session's share of a head pass: pairs (token tᵢ₊₁, feature fᵢ), validated.
/// The pointers and `feature` are valid until the pass returns.
struct HeadPassRequest {
    let session: DraftSession
    let tokens: UnsafeBufferPointer<TokenID>
    /// fᵢ of row i (`feature[i]`): a target feature (`head.featureWidth` floats) or, with
    /// `ownFeatures`, the head's own predicted feature (hidden-size floats).
    let feature: Features
    let ownFeatures: Bool
    let positions: UnsafeBufferPointer<Int32>
    let mask: AttentionMask?
    let withLogits: Bool

    /// Where the features are: a pointer per row, or computed by the caller's closure.
    enum Features {
        case pointers(UnsafeBufferPointer<UnsafePointer<Float>>)
        case computed((Int) -> UnsafePointer<Float>)

        subscript(i: Int) -> UnsafePointer<Float> {
            switch self {
            case .pointers(let rows): rows[i]
            case .computed(let row): row(i)
            }
        }
    }
}

/// A forward pass of an EAGLE head over the rows of one or more draft sessions, each with its
/// own KV cache: the head's weights (its `fc`, its layer and the `lm_head` it drafts through)
/// are streamed once for all of them. Predicted features and draft logits end up in each
/// session's own pass buffers (`DraftSession.feature(row:)`, `logits(row:)`); every row gets
/// the bits a pass of its session alone gives (the kernels compute rows independently).
/// Owns scratch for `rows` rows. Not thread-safe.
final class HeadPass {
    let head: EagleHead
    let rows: Int
    private let layers: LayerPass
    private let input: FloatBuffer    // [rows × (hidden + feature width)] EAGLE-1: embedding ‖ feature; EAGLE-3: fused target features
    private let embedded: FloatBuffer // [rows × hidden] EAGLE-3: token embeddings (the midlayer's second input)
    let x: FloatBuffer                // [rows × hidden] residual stream → predicted features
    private let fused: FloatBuffer    // [rows × hidden] EAGLE-3: fc output of the rows that read target features
    private let selected: FloatBuffer // [rows × hidden] inputs of the lm_head, rows with logits only
    let logits: FloatBuffer           // [rows × draft vocab]
    private var segments: [PassSegment] = []

    init(head: EagleHead, rows: Int, cacheCapacity: Int) {
        self.head = head
        self.rows = rows
        let d = head.shape.hiddenSize
        layers = LayerPass(shape: head.shape, layers: [head.layer], rope: head.rope, rows: rows, cacheCapacity: cacheCapacity)
        input = FloatBuffer(count: rows * (head.kind == .eagle1 ? 2 * d : head.featureWidth))
        embedded = FloatBuffer(count: head.kind == .eagle3 ? rows * d : 0)
        x = FloatBuffer(count: rows * d)
        fused = FloatBuffer(count: head.kind == .eagle3 ? rows * d : 0)
        selected = FloatBuffer(count: rows * d)
        logits = FloatBuffer(count: rows * head.draftVocabSize)
        segments.reserveCapacity(rows)
    }

    var byteCount: Int { layers.byteCount + [input, embedded, x, fused, selected, logits].reduce(0) { $0 + $1.byteCount } }

    /// Runs `requests` (at most `rows` rows in all) as one pass, advances each session's
    /// cache, and hands each session its features and logits. A session's pass alone is
    /// `CollectionOfOne` (nothing allocated).
    func run<Requests: Collection<HeadPassRequest>>(_ requests: Requests) {
        let d = head.shape.hiddenSize
        // The segments hold the requests' masks only for the pass: a drafter rebuilds its
        // mask in place for the next one, which a reference kept here would force to copy.
        defer { segments.removeAll(keepingCapacity: true) }
        var n = 0
        for r in requests {
            segments.append(PassSegment(row: n, count: r.tokens.count, cache: r.session.cache, positions: r.positions, mask: r.mask))
            n += r.tokens.count
        }
        precondition(n <= rows, "a head pass of \(n) rows on scratch for \(rows)")
        switch head.kind {
        case .eagle1:
            for (r, segment) in zip(requests, segments) {
                for i in 0..<segment.count {
                    let row = input.pointer + (segment.row + i) * 2 * d
                    head.embedding.copyRow(Int(r.tokens[i]), into: row)
                    (row + d).update(from: r.feature[i], count: d)
                }
            }
            linear(input.pointer, rows: n, weight: head.fc, into: x.pointer)
            addBias(head.fcBias, to: x.pointer, rows: n, width: d)
            segments.withUnsafeBufferPointer { layers.run(x.pointer, rows: n, segments: $0) }
        case .eagle3:
            let w = head.featureWidth
            var fusedRows = 0
            for (r, segment) in zip(requests, segments) {
                for i in 0..<segment.count {
                    head.embedding.copyRow(Int(r.tokens[i]), into: embedded.pointer + (segment.row + i) * d)
                    if r.ownFeatures {
                        (x.pointer + (segment.row + i) * d).update(from: r.feature[i], count: d)
                    } else {
                        (input.pointer + fusedRows * w).update(from: r.feature[i], count: w)
                        fusedRows += 1
                    }
                }
            }
            if fusedRows == n {  // every row reads target features: fc writes the stream in place
                linear(input.pointer, rows: n, weight: head.fc, into: x.pointer)
            } else if fusedRows > 0 {
                linear(input.pointer, rows: fusedRows, weight: head.fc, into: fused.pointer)
                fusedRows = 0
                for (r, segment) in zip(requests, segments) where !r.ownFeatures {
                    (x.pointer + segment.row * d).update(from: fused.pointer + fusedRows * d, count: segment.count * d)
                    fusedRows += segment.count
                }
            }
            segments.withUnsafeBufferPointer { layers.run(x.pointer, rows: n, segments: $0, embeddings: UnsafePointer(embedded.pointer)) }
        }

        // The lm_head's input: the predicted features of the rows with logits (EAGLE-3: normed).
        let norm = head.kind == .eagle3 ? head.norm : nil
        var logitRows = 0
        var lmInput = UnsafePointer(x.pointer)
        if norm == nil && requests.allSatisfy(\.withLogits) {
            logitRows = n  // every row, in place
        } else {
            lmInput = UnsafePointer(selected.pointer)
            for (r, segment) in zip(requests, segments) where r.withLogits {
                let source = x.pointer + segment.row * d, target = selected.pointer + logitRows * d
                if let norm {
                    rmsNorm(source, weight: norm, into: target, rows: segment.count, width: d, eps: head.shape.rmsNormEps)
                } else {
                    target.update(from: source, count: segment.count * d)
                }
                logitRows += segment.count
            }
        }
        if logitRows > 0 { linear(lmInput, rows: logitRows, weight: head.lmHead, into: logits.pointer) }

        logitRows = 0
        for (r, segment) in zip(requests, segments) {
            r.session.cache.advance(by: segment.count)
            let own = r.session.pass
            let vocabulary = head.draftVocabSize
            if r.withLogits {
                let from = logits.pointer + logitRows * vocabulary
                if own !== self || logitRows != 0 { own.logits.pointer.update(from: from, count: segment.count * vocabulary) }
                logitRows += segment.count
            }
            if own !== self || segment.row != 0 {
                own.x.pointer.update(from: x.pointer + segment.row * d, count: segment.count * d)
            }
        }
    }
}
