import Foundation
import Inference

/// What loading a `ModelSpec` will cost, from the configs alone (target and EAGLE head),
/// before any checkpoint is opened: every size validated (`ModelConfig.parse`), every byte
/// count overflow-checked (`ModelFootprint`).
struct LoadPlan {
    let contextLength: Int
    let dtype: WeightDType
    /// Weights (target + head) and rotary tables: held while the model is served.
    let residentBytes: Int
    /// Peak of the load itself (resident bytes plus the largest FP32 staging buffer).
    let loadBytes: Int
    /// One request's allocation: plain decoding, and EAGLE (target + head sessions).
    let sessionBytes: (plain: Int, eagle: Int)

    /// Tokens of one target forward pass, as `StandardGeneratorFactory` runs them.
    static let maxBatch = StandardGeneratorFactory().maxBatch

    init(_ spec: ModelSpec) throws(ServiceError) {
        func config(_ directory: String) throws(ServiceError) -> ModelConfig {
            do { return try ModelConfig.load(directory: URL(fileURLWithPath: directory, isDirectory: true)) } catch {
                throw ServiceError(loading: spec.name, error)
            }
        }
        func checked(_ value: Int?, _ what: String) throws(ServiceError) -> Int {
            guard let value else { throw .invalidArgument("cannot load model '\(spec.name)': its \(what) size overflows") }
            return value
        }
        let target = try config(spec.target)
        var head: ModelConfig?
        if let draft = spec.draft, FileManager.default.fileExists(atPath: draft + "/config.json") {
            head = try config(draft)
        }
        let dtype = spec.dtype ?? .bf16, contextLength = min(spec.contextLength ?? LlamaModel.defaultContextCap, target.maxPositions)
        let targetFootprint: ModelFootprint, headFootprint: ModelFootprint?
        do {
            targetFootprint = try ModelFootprint(target)
            headFootprint = try head.map { c throws(CheckpointError) in try ModelFootprint(c, eagleHead: true) }
        } catch {
            throw ServiceError(loading: spec.name, error)
        }
        let rope = CheckedSize.product(contextLength, target.headDim, MemoryLayout<Float>.stride) ?? -1
        let headWeights = headFootprint.map { $0.weightBytes(dtype) ?? -1 } ?? 0
        let headLoad = headFootprint.map { $0.loadBytes(dtype, contextLength: contextLength) ?? -1 } ?? 0
        let headSession = headFootprint.map { $0.sessionBytes(contextLength: contextLength, maxBatch: Self.maxBatch) ?? -1 } ?? 0
        let plain = try checked(targetFootprint.sessionBytes(contextLength: contextLength, maxBatch: Self.maxBatch), "KV cache")
        self.dtype = dtype
        self.contextLength = contextLength
        residentBytes = try checked(CheckedSize.sum(
            targetFootprint.weightBytes(dtype) ?? -1, headWeights, rope, head == nil ? 0 : rope), "weight")
        loadBytes = try checked(CheckedSize.sum(targetFootprint.loadBytes(dtype, contextLength: contextLength) ?? -1, headLoad), "weight")
        sessionBytes = (plain, try checked(CheckedSize.sum(plain, headSession), "KV cache"))
    }

    /// Admits the load: its peak plus one request's KV cache must fit; the resident weights
    /// stay reserved for as long as the model is served.
    func admit(_ spec: ModelSpec, memory: MemoryAdmission) throws(ServiceError) -> MemoryReservation {
        let request = max(sessionBytes.plain, sessionBytes.eagle)
        guard let needed = CheckedSize.sum(loadBytes, request) else {
            throw .invalidArgument("cannot load model '\(spec.name)': its size overflows")
        }
        let detail = "\(dtype.rawValue) weights \(MemoryAdmission.megabytes(residentBytes)), "
            + "one request's KV cache at context \(contextLength) \(MemoryAdmission.megabytes(request))"
        return try memory.admit(needed, keep: residentBytes, for: "loading model '\(spec.name)'", detail: detail)
    }
}
