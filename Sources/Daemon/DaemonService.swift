import Dispatch
import Foundation
import Inference
import Logging
import Synchronization
import Tokenization
import Wire

/// The daemon's request handling, shared by all connections and independent of sockets.
///
/// `handle` is called on a connection's event loop and never blocks it: generation goes to
/// the model's scheduler, model loading and tokenization to a background queue.
public final class DaemonService: Sendable {
    public let registry: ModelRegistry
    public let policy: AccessPolicy
    public let config: DaemonConfig
    let factory: any GeneratorFactory
    let logger: Logger
    private let started = ContinuousClock.now
    private let draining = Atomic<Bool>(false)
    private let blocking = BlockingWork()
    /// Every request still running, so a drain that times out can cancel them.
    private let live = Mutex<[ObjectIdentifier: RequestTicket]>([:])

    /// The version this build reports in its hello.
    public static let serverVersion = "eagled 0.1.0"

    public init(config: DaemonConfig, registry: ModelRegistry, policy: AccessPolicy,
                factory: any GeneratorFactory = StandardGeneratorFactory(), logger: Logger) {
        self.config = config
        self.registry = registry
        self.policy = policy
        self.factory = factory
        self.logger = logger
    }

    public var isDraining: Bool { draining.load(ordering: .relaxed) }

    /// Refuses new work from now on (health reports `draining`).
    public func beginDrain() { draining.store(true, ordering: .relaxed) }

    /// Cancels every request still running or queued.
    public func cancelAll() {
        for ticket in live.withLock({ Array($0.values) }) { ticket.cancel() }
    }

    public var uptimeSeconds: Double { (ContinuousClock.now - started).seconds }

    var limits: GeneratePlan.Limits {
        .init(defaultMaxTokens: config.defaultMaxTokens, maxTokensLimit: config.maxTokensLimit)
    }

    /// Serves one request (not hello, not cancel: the connection owns those). Returns the
    /// ticket when the request can be cancelled while it runs.
    public func handle(_ request: Eagle_V1_Request, peer: PeerIdentity, sink: any ResponseSink) -> RequestTicket? {
        do throws(ServiceError) {
            return try dispatch(request, peer: peer, sink: sink)
        } catch {
            sink.send(error.response(id: request.id))
            return nil
        }
    }

    private func dispatch(_ request: Eagle_V1_Request, peer: PeerIdentity, sink: any ResponseSink) throws(ServiceError) -> RequestTicket? {
        let id = request.id
        switch request.kind {
            case .generate(let generate):
                return try submitGeneration(id: id, generate, sink: sink)
            case .listModels:
                sink.send(.with { $0.id = id; $0.models = .with { $0.models = registry.all.map(\.info) } })
            case .getStats(let get):
                let models = get.model.isEmpty ? registry.all : [try registry.model(named: get.model)]
                sink.send(.with {
                    $0.id = id
                    $0.stats = .with { $0.models = models.map(\.stats); $0.uptimeSeconds = uptimeSeconds }
                })
            case .health:
                sink.send(.with {
                    $0.id = id
                    $0.health = .with { $0.serving = !isDraining; $0.models = UInt32(registry.count); $0.draining = isDraining }
                })
            case .tokenize(let tokenize):
                let model = try registry.model(named: tokenize.model)
                let tokenizer = try model.requireTokenizer()
                onBlockingQueue(id: id, sink: sink) { () throws(ServiceError) in
                    let ids = tokenizer.encode(tokenize.text, addSpecialTokens: tokenize.addSpecialTokens)
                    return .with { $0.id = id; $0.tokenize = .with { $0.ids = ids.map { UInt32(bitPattern: $0) } } }
                }
            case .detokenize(let detokenize):
                let model = try registry.model(named: detokenize.model)
                let tokenizer = try model.requireTokenizer()
                let vocabulary = model.vocabularySize
                for token in detokenize.ids where token >= UInt32(vocabulary) {
                    throw .invalidArgument("token id \(token) is out of range (vocabulary size \(vocabulary))")
                }
                onBlockingQueue(id: id, sink: sink) { () throws(ServiceError) in
                    let text = tokenizer.decode(detokenize.ids.map { TokenID(bitPattern: $0) }, skipSpecialTokens: detokenize.skipSpecialTokens)
                    return .with { $0.id = id; $0.detokenize = .with { $0.text = text } }
                }
            case .loadModel(let load):
                try requireAdmin(peer, "load models")
                guard !isDraining else { throw .unavailable("the daemon is shutting down") }
                let dtype: WeightDType?
                do { dtype = try ModelSpec.dtype(named: load.dtype) } catch { throw .invalidArgument("LoadModel: \(error)") }
                let spec = ModelSpec(name: load.name, target: load.targetDir, draft: load.draftDir.isEmpty ? nil : load.draftDir,
                                     contextLength: load.contextLength == 0 ? nil : Int(load.contextLength), dtype: dtype)
                onBlockingQueue(id: id, sink: sink) { [registry, logger] () throws(ServiceError) in
                    let model = try registry.load(spec, checkRoot: true)
                    logger.info("loaded model '\(model.name)' from \(model.targetDirectory) for \(peer): \(model.memorySummary)")
                    return .with { $0.id = id; $0.loaded = model.info }
                }
            case .unloadModel(let unload):
                try requireAdmin(peer, "unload models")
                let model = try registry.unload(unload.name)
                logger.info("unloaded model '\(model.name)' for \(peer)")
                sink.send(.with { $0.id = id; $0.unloaded = Eagle_V1_Empty() })
            case .hello, .cancel:
                throw .internalError("\(request.kindName) reached the service")
            case nil:
                throw ServiceError(.unimplemented, "unknown request kind (a newer protocol revision?)")
            }
        return nil
    }

    private func requireAdmin(_ peer: PeerIdentity, _ action: String) throws(ServiceError) {
        guard policy.isAdmin(peer) else { throw .permissionDenied("uid \(peer.uid) may not \(action)") }
    }

    private func submitGeneration(id: UInt64, _ request: Eagle_V1_Generate, sink: any ResponseSink) throws(ServiceError) -> RequestTicket {
        guard !isDraining else { throw .unavailable("the daemon is shutting down") }
        let model = try registry.model(named: request.model)
        let plan: GeneratePlan
        do { plan = try GeneratePlan(request, model: model, limits: limits, factory: factory) } catch {
            model.statistics.recordError()
            throw error
        }
        let ticket = RequestTicket()
        let key = ObjectIdentifier(ticket)
        let runner = GenerationRunner(id: id, plan: plan, ticket: ticket, sink: sink, factory: factory,
                                      memory: registry.memory, logger: logger)
        let enqueued = ContinuousClock.now
        // However the request ends (run, dropped, not queued): forget it.
        let end: @Sendable () -> Void = { [self] in
            live.withLock { _ = $0.removeValue(forKey: key) }
            ticket.finish()
        }
        let job = ScheduledJob(
            owner: sink.connectionID,
            run: {
                runner.run(enqueued: enqueued)
                end()
            },
            drop: { error in
                end()
                sink.send(error.response(id: id))
            })
        live.withLock { $0[key] = ticket }
        // Before the job can run (and end the request), so that its end always clears it.
        ticket.onCancel { [scheduler = model.scheduler] in
            if scheduler.withdraw(job) { job.drop(ServiceError(.cancelled, "request \(id) was cancelled")) }
        }
        do { try model.scheduler.submit(job) } catch {
            end()
            throw error
        }
        return ticket
    }

    /// Runs `work` off the event loop and sends its response (or its error).
    private func onBlockingQueue(id: UInt64, sink: any ResponseSink,
                                 _ work: @escaping @Sendable () throws(ServiceError) -> Eagle_V1_Response) {
        blocking.submit(id: id, sink: sink, work)
    }

    /// Tokenize, detokenize and load requests running now (off the event loops).
    public var blockingRequestCount: Int { blocking.count }

    /// For the drain: waits until every tokenize, detokenize and load request running off the
    /// event loops has sent its reply, or until `deadline`, and sends none after that.
    /// Returns how many were still running at the deadline (their replies are dropped).
    public func finishBlockingWork(until deadline: DispatchTime) -> Int {
        blocking.close(waitingUntil: deadline)
    }
}
