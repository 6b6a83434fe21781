import Foundation
import Inference
import Synchronization
import Tokenization

/// The models the daemon serves, by name.
///
/// Loading runs outside the lock (it takes seconds); a name being loaded is reserved so
/// two loads of one name cannot race.
public final class ModelRegistry: Sendable {
    private struct State {
        var models: [String: ServedModel] = [:]
        var order: [String] = []
        var loading: Set<String> = []
        /// Unloaded models whose queued or running requests have not finished yet.
        var retiring: [ObjectIdentifier: ServedModel] = [:]
    }

    private let state = Mutex(State())
    private let loader: any ModelLoading
    private let configuredDefault: String?
    private let modelRoot: String?
    private let defaultWorkers: Int
    private let defaultQueueLimit: Int
    private let queuedPerConnection: Int
    /// Whether a model's requests share target passes.
    private let batching: Bool
    /// The memory ledger every load and request is admitted against.
    public let memory: MemoryAdmission

    public init(config: DaemonConfig, loader: any ModelLoading = CheckpointLoader(),
                memory: MemoryAdmission? = nil) {
        self.loader = loader
        self.memory = memory ?? MemoryAdmission(limit: config.memoryLimitBytes, margin: config.memoryMarginBytes)
        configuredDefault = config.defaultModel
        modelRoot = config.modelRoot
        defaultWorkers = config.workers
        defaultQueueLimit = config.queueLimit
        queuedPerConnection = config.connections.maxQueuedPerConnection
        batching = config.batching
    }

    /// All served models in load order.
    public var all: [ServedModel] {
        state.withLock { s in s.order.compactMap { s.models[$0] } }
    }

    public var count: Int { state.withLock { $0.models.count } }

    /// Every model a drain must wait for: those served, and those unloaded whose requests
    /// are still running or queued.
    public var draining: [ServedModel] {
        state.withLock { s in s.order.compactMap { s.models[$0] } + Array(s.retiring.values) }
    }

    /// The model called `name`, or the default model for an empty name.
    public func model(named name: String) throws(ServiceError) -> ServedModel {
        let found = state.withLock { s -> ServedModel? in
            if !name.isEmpty { return s.models[name] }
            if let configuredDefault, let model = s.models[configuredDefault] { return model }
            return s.order.first.flatMap { s.models[$0] }
        }
        guard let found else {
            throw name.isEmpty ? .notFound("no model is loaded") : .notFound("model '\(name)' is not loaded")
        }
        return found
    }

    /// Loads a model. `checkRoot` applies the model-root rule (runtime requests); models
    /// from the daemon's own configuration are trusted.
    @discardableResult
    public func load(_ spec: ModelSpec, checkRoot: Bool) throws(ServiceError) -> ServedModel {
        guard !spec.name.isEmpty, spec.name.utf8.count <= 128 else {
            throw .invalidArgument("a model name must be 1 to 128 bytes")
        }
        var spec = spec
        if checkRoot {
            spec.target = try Self.resolve(spec.target, under: modelRoot, what: "target_dir")
            if let draft = spec.draft { spec.draft = try Self.resolve(draft, under: modelRoot, what: "draft_dir") }
        }
        let reserved = state.withLock { s -> Bool in
            guard s.models[spec.name] == nil, !s.loading.contains(spec.name) else { return false }
            s.loading.insert(spec.name)
            return true
        }
        guard reserved else { throw ServiceError(.alreadyExists, "model '\(spec.name)' is already loaded") }
        let loaded: LoadedWeights
        do {
            loaded = try loader.load(spec, memory: memory)
        } catch {
            state.withLock { _ = $0.loading.remove(spec.name) }
            throw error
        }
        let served = ServedModel(
            name: spec.name, targetDirectory: spec.target, draftDirectory: spec.draft, weights: loaded,
            workers: spec.workers ?? defaultWorkers, queueLimit: spec.queueLimit ?? defaultQueueLimit,
            queuedPerConnection: queuedPerConnection, batching: batching)
        state.withLock { s in
            s.loading.remove(spec.name)
            s.models[spec.name] = served
            s.order.append(spec.name)
        }
        return served
    }

    /// Removes a model: new requests no longer find it; queued and running ones finish.
    @discardableResult
    public func unload(_ name: String) throws(ServiceError) -> ServedModel {
        let removed = state.withLock { s -> ServedModel? in
            guard let model = s.models.removeValue(forKey: name) else { return nil }
            s.order.removeAll { $0 == name }
            return model
        }
        guard let removed else { throw .notFound("model '\(name)' is not loaded") }
        // Kept (for a drain to wait on) until its last request ends, then let go.
        let key = ObjectIdentifier(removed)
        state.withLock { $0.retiring[key] = removed }
        removed.scheduler.stop(drain: true)
        Thread.detachNewThread { [self] in
            removed.scheduler.waitUntilIdle()
            state.withLock { _ = $0.retiring.removeValue(forKey: key) }
        }
        return removed
    }

    /// Resolves `path` (symlinks included) and checks it lies under `root`.
    static func resolve(_ path: String, under root: String?, what: String) throws(ServiceError) -> String {
        guard let root else {
            throw .permissionDenied("runtime model loading is disabled: the daemon has no model root configured")
        }
        guard path.hasPrefix("/") else { throw .invalidArgument("\(what) must be an absolute path, got '\(path)'") }
        let realRoot = realPath(root) ?? URL(fileURLWithPath: root).standardized.path
        // Lexical check first, so nothing outside the root is even probed for existence.
        let lexical = URL(fileURLWithPath: path).standardized.path
        guard isInside(lexical, realRoot) || isInside(lexical, URL(fileURLWithPath: root).standardized.path) else {
            throw .permissionDenied("\(what) \(path) is outside the model root \(root)")
        }
        guard let real = realPath(path) else { throw .notFound("\(what) \(path) does not exist") }
        guard isInside(real, realRoot) else {
            throw .permissionDenied("\(what) \(path) resolves to \(real), outside the model root \(root)")
        }
        return real
    }

    private static func isInside(_ path: String, _ root: String) -> Bool {
        let base = root.hasSuffix("/") ? String(root.dropLast()) : root
        return path == base || path.hasPrefix(base + "/")
    }

    private static func realPath(_ path: String) -> String? {
        guard let resolved = realpath(path, nil) else { return nil }
        defer { free(resolved) }
        return String(cString: resolved)
    }
}
