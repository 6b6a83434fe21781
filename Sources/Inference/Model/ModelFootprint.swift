/// The memory a model needs, computed from its configuration alone (before any checkpoint
/// byte is read), with overflow-checked arithmetic.
///
/// Weights are counted in their serving dtype whether they end up used in place from a
/// checkpoint's memory map (BF16 safetensors with `dtype` bf16) or converted into memory of
/// our own: mapped pages occupy the page cache while the model is served just as owned ones
/// occupy the heap. The output head is counted even when it turns out to be tied to the
/// embedding (the config cannot always tell), so the figure errs on the safe side.
public struct ModelFootprint: Sendable, Equatable {
    /// Matrix elements (stored in the serving dtype).
    public let matrixElements: Int
    /// Norm and bias elements (always FP32).
    public let vectorElements: Int
    /// Bytes of the FP32 staging buffer for the largest matrix converted at load (freed after).
    public let largestMatrixElements: Int
    /// KV-cache bytes per token of context.
    public let kvBytesPerToken: Int
    let config: ModelConfig
    let layers: Int

    // Partial results that overflowed are passed on as -1, which `CheckedSize.sum` and
    // `.product` refuse (they take non-negative terms only): one nil at the end says it all.

    /// The footprint of a target model (`layers` = its own) or of an EAGLE head's single layer
    /// plus its `fc` (`eagleHead`).
    public init(_ c: ModelConfig, eagleHead: Bool = false) throws(CheckpointError) {
        func checked(_ value: Int?, _ what: String) throws(CheckpointError) -> Int {
            guard let value else { throw .invalidConfig(file: "config.json", detail: "the \(what) size overflows") }
            return value
        }
        let s = StackShape(c), d = c.hiddenSize
        layers = eagleHead ? 1 : c.layerCount
        config = c
        let perLayer = try checked(CheckedSize.sum(
            CheckedSize.product(s.qkvWidth, d) ?? -1, CheckedSize.product(d, s.qWidth) ?? -1,
            CheckedSize.product(3, c.intermediateSize, d) ?? -1), "layer")
        let layerMatrices = try checked(CheckedSize.product(layers, perLayer), "weights")
        let embedding = try checked(CheckedSize.product(c.vocabSize, d), "embedding")
        matrixElements = try checked(eagleHead
            ? CheckedSize.sum(layerMatrices, CheckedSize.product(2, d, d) ?? -1)
            : CheckedSize.sum(layerMatrices, embedding, embedding), "weights")
        // Norms (2 per layer + the final one) and every bias a layer may have.
        let perLayerVectors = try checked(CheckedSize.sum(2 * d, s.qkvWidth, d, 2 * c.intermediateSize, d), "layer")
        vectorElements = try checked(CheckedSize.sum(CheckedSize.product(layers, perLayerVectors) ?? -1, d), "norms")
        largestMatrixElements = try checked(CheckedSize.product(max(c.vocabSize, 2 * d, s.qkvWidth, 2 * c.intermediateSize), d), "matrix")
        kvBytesPerToken = try checked(CheckedSize.product(2, layers, c.kvHeadCount, c.headDim, MemoryLayout<Float>.stride), "KV cache")
    }

    /// Bytes of weights held while the model is loaded, in `dtype`.
    public func weightBytes(_ dtype: WeightDType) -> Int? {
        CheckedSize.sum(CheckedSize.product(matrixElements, dtype.byteSize) ?? -1,
                        CheckedSize.product(vectorElements, MemoryLayout<Float>.stride) ?? -1)
    }

    /// Peak bytes a load in `dtype` needs: the weights, the largest staging buffer, and the
    /// rotary tables for `contextLength` positions.
    public func loadBytes(_ dtype: WeightDType, contextLength: Int) -> Int? {
        CheckedSize.sum(weightBytes(dtype) ?? -1,
                        CheckedSize.product(largestMatrixElements, MemoryLayout<Float>.stride) ?? -1,
                        CheckedSize.product(contextLength, config.headDim, MemoryLayout<Float>.stride) ?? -1)
    }

    /// Bytes one session (request) allocates: its KV cache for `contextLength` tokens plus the
    /// scratch buffers of passes of up to `maxBatch` tokens (activations, logits, one attention
    /// score row per worker thread).
    public func sessionBytes(contextLength: Int, maxBatch: Int, threads: Int = KernelInfo.threads) -> Int? {
        let s = StackShape(config)
        let perRow = CheckedSize.sum(3 * config.hiddenSize, config.vocabSize, s.qkvWidth, s.qWidth, 3 * config.intermediateSize)
        return CheckedSize.sum(
            CheckedSize.product(kvBytesPerToken, contextLength) ?? -1,
            CheckedSize.product(maxBatch, perRow ?? -1, MemoryLayout<Float>.stride) ?? -1,
            CheckedSize.product(threads, contextLength, MemoryLayout<Float>.stride) ?? -1)
    }
}
