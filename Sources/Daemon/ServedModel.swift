import Foundation
import Inference
import Speculative
import Tokenization
import Wire

/// A model the daemon serves: the shared weights, its tokenizer, its queue and its totals.
public final class ServedModel: Sendable {
    public let name: String
    public let targetDirectory: String
    public let draftDirectory: String?
    /// The EAGLE draft head loaded from `draftDirectory`.
    public let head: EagleHead?
    /// Immutable weights shared by every request on this model.
    public let model: LlamaModel
    /// Nil for checkpoints without `tokenizer.json` (token-id prompts only).
    public let tokenizer: Tokenizer?
    public let scheduler: ModelScheduler
    public let statistics = ModelStatistics()
    /// Chooses trees for requests that leave them to the daemon (nil without a head, or when
    /// the loader did not calibrate: such requests get `TreeConfig.cpuDefault`).
    public let treePolicy: TreePolicy?
    /// Shares target passes between the model's running requests (nil: batching is off and
    /// each request runs its own passes).
    public let combiner: PassCombiner?
    /// The weights' share of the daemon's memory ledger, given back when the model goes.
    let reservation: MemoryReservation?
    /// Bytes one request allocates (KV cache at full context plus scratch): plain decoding,
    /// and EAGLE (which adds the head's session).
    public let sessionBytes: (plain: Int, eagle: Int)

    public init(name: String, targetDirectory: String, draftDirectory: String?, weights: LoadedWeights,
                workers: Int, queueLimit: Int, queuedPerConnection: Int? = nil, batching: Bool = true, passRows: Int = 64) {
        self.name = name
        self.targetDirectory = targetDirectory
        self.draftDirectory = draftDirectory
        model = weights.model
        tokenizer = weights.tokenizer
        head = weights.head
        treePolicy = weights.treePolicy
        reservation = weights.reservation
        sessionBytes = weights.sessionBytes
        combiner = batching ? PassCombiner(model: weights.model, maxRows: passRows, captureLayers: weights.head?.captureLayers ?? []) : nil
        scheduler = ModelScheduler(name: name, workers: workers, queueLimit: queueLimit,
                                   queuedPerConnection: queuedPerConnection ?? queueLimit)
    }

    public var vocabularySize: Int { model.config.vocabSize }

    /// Requests a new request can expect to share each target pass with, itself included:
    /// those running and waiting, up to the workers (1 with batching off).
    public var expectedCompany: Int {
        guard combiner != nil else { return 1 }
        let load = scheduler.load
        return min(scheduler.workerCount, load.active + load.queued + 1)
    }

    /// KV-cache bytes one token of context costs a request (FP32 keys and values of every
    /// layer, plus the draft head's one layer when it has one).
    public var kvBytesPerToken: Int {
        let c = model.config
        let target = KVCache.bytesPerToken(layerCount: c.layerCount, kvHeadCount: c.kvHeadCount, headDim: c.headDim)
        let draft = head.map { KVCache.bytesPerToken(layerCount: 1, kvHeadCount: $0.shape.kvHeadCount, headDim: $0.shape.headDim) } ?? 0
        return target + draft
    }

    /// Bytes of target and head weights, in the model's dtype.
    public var weightBytes: Int { model.weights.byteCount + (head?.byteCount ?? 0) }
    /// Of `weightBytes`, those used in place from the checkpoints' memory maps (the rest were
    /// converted into memory of our own).
    public var mappedWeightBytes: Int { model.weights.store.mappedBytes + (head?.store.mappedBytes ?? 0) }

    /// One line for logs: dtype, weight bytes (mapped/owned), head and KV cache sizes.
    public var memorySummary: String {
        func mb(_ bytes: Int) -> String { String(format: "%.1f MB", Double(bytes) / 1e6) }
        let headPart = head.map { " incl. head \(mb($0.byteCount))" } ?? ""
        return "\(model.dtype.rawValue) weights \(mb(weightBytes))\(headPart) (\(mb(mappedWeightBytes)) mapped in place, "
            + "\(mb(weightBytes - mappedWeightBytes)) owned), KV cache \(kvBytesPerToken) B/token "
            + "(\(mb(kvBytesPerToken * contextLength)) at context \(contextLength))"
            + (model.dtype == .bf16Dot && !KernelInfo.bf16DotInHardware
                ? "; bf16dot without AVX-512 BF16 on this CPU: emulated in portable C, slow" : "")
    }

    public var contextLength: Int { model.contextLength }

    /// The tokenizer, or FAILED_PRECONDITION for models that have none.
    public func requireTokenizer() throws(ServiceError) -> Tokenizer {
        guard let tokenizer else {
            throw .failedPrecondition("model '\(name)' has no tokenizer (tokenizer.json); send token ids instead of text")
        }
        return tokenizer
    }

    /// What `ListModels` and `LoadModel` report.
    public var info: Eagle_V1_ModelInfo {
        .with {
            $0.name = name
            $0.targetDir = targetDirectory
            $0.draftDir = draftDirectory ?? ""
            $0.hasDraft_p = head != nil
            $0.vocabSize = UInt32(model.config.vocabSize)
            $0.contextLength = UInt32(model.contextLength)
            $0.hiddenSize = UInt32(model.config.hiddenSize)
            $0.layers = UInt32(model.config.layerCount)
            $0.parameters = UInt64(model.config.parameterCount)
            $0.dtype = model.dtype.rawValue
            $0.weightBytes = UInt64(weightBytes)
            $0.mappedWeightBytes = UInt64(mappedWeightBytes)
            $0.kvBytesPerToken = UInt64(kvBytesPerToken)
            $0.draftWeightBytes = UInt64(head?.byteCount ?? 0)
            $0.draftKind = head?.kind.rawValue ?? ""
            $0.draftVocabSize = UInt32(head?.draftVocabSize ?? 0)
            if let costs = treePolicy?.costs {
                func wire(_ points: [PassCosts.Point]) -> [Eagle_V1_PassCost] {
                    points.map { p in .with { $0.tokens = UInt32(p.tokens); $0.seconds = p.seconds } }
                }
                $0.targetPassCosts = wire(costs.target)
                $0.headPassCosts = wire(costs.head)
            }
        }
    }

    public var stats: Eagle_V1_ModelStats {
        let load = scheduler.load
        var stats = statistics.snapshot(name: name, active: load.active, queued: load.queued)
        if let combiner {
            let passes = combiner.snapshot
            stats.batching = true
            stats.passes = UInt64(passes.passes)
            stats.passTokens = UInt64(passes.rows)
            stats.passRequests = UInt64(passes.sessions)
            stats.passHistogram = passes.sessionHistogram.map { UInt64($0) }
        }
        if let treePolicy {
            stats.autoGreedy = treePolicy.choose(sampled: false, company: expectedCompany).reason
            stats.autoSampled = treePolicy.choose(sampled: true, company: expectedCompany).reason
        }
        return stats
    }
}

/// What loading a `ModelSpec` produces.
public struct LoadedWeights: Sendable {
    public var model: LlamaModel
    public var tokenizer: Tokenizer?
    public var head: EagleHead?
    /// The head's cost-aware tree choice, calibrated at load.
    public var treePolicy: TreePolicy?
    /// The memory admitted for the weights (nil when loaded without admission control).
    public var reservation: MemoryReservation?
    /// Bytes one request allocates: plain decoding, and EAGLE.
    public var sessionBytes: (plain: Int, eagle: Int)

    public init(model: LlamaModel, tokenizer: Tokenizer?, head: EagleHead?, treePolicy: TreePolicy? = nil,
                reservation: MemoryReservation? = nil, sessionBytes: (plain: Int, eagle: Int) = (0, 0)) {
        self.model = model
        self.tokenizer = tokenizer
        self.head = head
        self.treePolicy = treePolicy
        self.reservation = reservation
        self.sessionBytes = sessionBytes
    }
}

/// Turns a `ModelSpec` into loaded weights, tokenizer and draft head.
public protocol ModelLoading: Sendable {
    /// Loads `spec` after admitting its memory against `memory` (RESOURCE_EXHAUSTED when the
    /// weights and one request's KV cache do not fit).
    func load(_ spec: ModelSpec, memory: MemoryAdmission) throws(ServiceError) -> LoadedWeights
}

/// Loads Hugging Face checkpoint directories from disk.
public struct CheckpointLoader: ModelLoading {
    /// Told about each checkpoint file as it is opened: a line such as
    /// "model 'm': opened shard 2/4 (model-00002-of-00004.safetensors)". eagled logs it and
    /// passes it to systemd as STATUS=.
    public let progress: (@Sendable (String) -> Void)?

    public init(progress: (@Sendable (String) -> Void)? = nil) { self.progress = progress }

    public func load(_ spec: ModelSpec, memory: MemoryAdmission) throws(ServiceError) -> LoadedWeights {
        let directory = URL(fileURLWithPath: spec.target, isDirectory: true)
        let plan = try LoadPlan(spec)
        let reservation = try plan.admit(spec, memory: memory)
        let model: LlamaModel
        let report = progress.map { report in
            { @Sendable (index: Int, count: Int, file: String) in
                report("model '\(spec.name)': opened \(count > 1 ? "shard \(index)/\(count)" : "checkpoint") (\(file))")
            }
        }
        do { model = try LlamaModel(directory: directory, contextLength: spec.contextLength, dtype: spec.dtype ?? .bf16, progress: report) } catch {
            throw ServiceError(loading: spec.name, error)
        }
        var tokenizer: Tokenizer?
        if FileManager.default.fileExists(atPath: directory.appendingPathComponent("tokenizer.json").path) {
            do { tokenizer = try Tokenizer.load(directory: directory) } catch {
                throw .failedPrecondition("cannot load model '\(spec.name)': \(error)")
            }
        }
        if let tokenizer, tokenizer.vocabularySize > model.config.vocabSize {
            throw .failedPrecondition("model '\(spec.name)': tokenizer has \(tokenizer.vocabularySize) tokens, the model only \(model.config.vocabSize)")
        }
        var head: EagleHead?
        if let draft = spec.draft {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: draft, isDirectory: &isDirectory), isDirectory.boolValue else {
                throw .notFound("model '\(spec.name)': draft directory \(draft) does not exist")
            }
            do { head = try EagleHead(directory: URL(fileURLWithPath: draft, isDirectory: true), target: model) } catch {
                throw ServiceError(loading: spec.name, error)
            }
        }
        return LoadedWeights(model: model, tokenizer: tokenizer, head: head,
                             treePolicy: head.flatMap { calibrate(spec.name, model, $0) },
                             reservation: reservation, sessionBytes: plan.sessionBytes)
    }

    /// Measures what target and head passes cost here (a second or two), for the tree choice.
    /// A model whose calibration fails is still served, with the default tree.
    private func calibrate(_ name: String, _ model: LlamaModel, _ head: EagleHead) -> TreePolicy? {
        let start = ContinuousClock.now
        do {
            let costs = try PassCosts.measure(model: model, head: head)
            progress?("model '\(name)': calibrated in \(String(format: "%.2f", (ContinuousClock.now - start).seconds)) s: \(costs.summary)")
            return TreePolicy(costs: costs)
        } catch {
            progress?("model '\(name)': calibration failed (\(error)); requests get the default tree")
            return nil
        }
    }
}
