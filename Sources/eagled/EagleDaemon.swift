import ArgumentParser
import Daemon
import CMallocTuning
import Foundation
import Inference
import Logging
import ServiceLifecycle

/// eagled: serves LLaMA-family models over a Unix socket (see docs/daemon.md).
/// (`@main` rather than a main.swift: ArgumentParser runs an async root command only then.)
@main
struct EagleDaemon: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eagled",
        abstract: "Serve LLaMA-family models (with EAGLE draft heads) over a Unix socket.",
        discussion: """
            Settings come from --config (JSON), then the flags on top. When systemd passes a \
            listening socket (LISTEN_FDS), it is used and --socket is ignored. SIGTERM stops \
            accepting, finishes in-flight work and exits 0.
            """)

    @Option(help: "JSON configuration file.") var config: String?
    @Option(help: "Unix socket path to create.") var socket: String?
    @Option(help: "Octal file mode of the socket, e.g. 0660.") var socketMode: String?
    @Option(name: .customLong("model"), help: "Model to load: NAME=DIR[,draft=DIR][,context=N][,workers=N][,queue=N][,dtype=bf16|f32|bf16dot]. Repeatable.")
    var models: [String] = []
    @Option(help: "Model used when a request names none.") var defaultModel: String?
    @Option(help: "Directory under which runtime load requests must lie (none: runtime loads refused).") var modelRoot: String?
    @Option(help: "Generations run at once per model.") var workers: Int?
    @Option(help: "Requests that may wait per model beyond the running ones.") var queueLimit: Int?
    @Option(help: "Whether a model's running generations share target passes: on (default) or off.") var batching: String?
    @Option(help: "max_tokens when a request leaves it unset.") var defaultMaxTokens: Int?
    @Option(help: "Largest max_tokens a request may ask for.") var maxTokensLimit: Int?
    @Option(help: "Largest frame accepted, in bytes.") var maxFrameBytes: Int?
    @Option(help: "Seconds SIGTERM waits for in-flight work before cancelling it.") var drainTimeout: Double?
    @Option(help: "Most bytes of weights and KV caches the daemon may hold (admission control).") var memoryLimit: Int?
    @Option(help: "Bytes of the system's available memory never taken by loads or requests.") var memoryMargin: Int?
    @Option(name: .customLong("allow-user"), help: "User (name or uid) allowed to connect. Repeatable.") var allowUsers: [String] = []
    @Option(name: .customLong("allow-group"), help: "Group (name or gid) allowed to connect. Repeatable.") var allowGroups: [String] = []
    @Option(name: .customLong("admin-user"), help: "User allowed to load and unload models. Repeatable.") var adminUsers: [String] = []
    @Option(name: .customLong("admin-group"), help: "Group allowed to load and unload models. Repeatable.") var adminGroups: [String] = []
    @Option(help: "trace, debug, info, notice, warning, error or critical.") var logLevel: String = "info"
    @Flag(help: "Check the configuration (file and flags) and exit without serving.") var checkConfig = false

    func run() async throws {
        // Every request allocates its KV cache and scratch (megabytes) and frees them at the
        // end. glibc raises its mmap threshold after the first such free, so later ones come
        // from the heap, where worker threads fragment it and the resident size kept growing
        // under load (eagle-daemon-bench soak: +540 MB in 4 minutes of small plain requests).
        // A fixed threshold keeps large buffers in their own mappings, returned on free.
        _ = eagled_fix_mmap_threshold(128 << 10)
        var settings = try config.map { path throws(ConfigError) in try DaemonConfig.load(path: path) } ?? DaemonConfig()
        if let socket { settings.socket = socket }
        if let socketMode { settings.socketMode = socketMode }
        for flag in models {
            let spec = try ModelSpec.parse(flag: flag)
            settings.models.removeAll { $0.name == spec.name }
            settings.models.append(spec)
        }
        if let defaultModel { settings.defaultModel = defaultModel }
        if let modelRoot { settings.modelRoot = modelRoot }
        if let workers { settings.workers = workers }
        if let queueLimit { settings.queueLimit = queueLimit }
        if let batching {
            switch batching.lowercased() {
            case "on", "true", "1": settings.batching = true
            case "off", "false", "0": settings.batching = false
            default: throw ValidationError("--batching expects on or off, got '\(batching)'")
            }
        }
        if let defaultMaxTokens { settings.defaultMaxTokens = defaultMaxTokens }
        if let maxTokensLimit { settings.maxTokensLimit = maxTokensLimit }
        if let maxFrameBytes { settings.maxFrameBytes = maxFrameBytes }
        if let drainTimeout { settings.drainTimeoutSeconds = drainTimeout }
        if let memoryLimit { settings.memoryLimitBytes = memoryLimit }
        if let memoryMargin { settings.memoryMarginBytes = memoryMargin }
        settings.access.users += allowUsers
        settings.access.groups += allowGroups
        settings.access.adminUsers += adminUsers
        settings.access.adminGroups += adminGroups
        try settings.validate()
        if checkConfig {
            print("configuration ok: \(settings.models.count) model(s), socket \(settings.socket), model root \(settings.modelRoot ?? "none")")
            return
        }
        guard let level = Logger.Level(rawValue: logLevel) else { throw ValidationError("unknown log level '\(logLevel)'") }

        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "eagled")
        try await Launcher(config: settings, logger: logger).run()
    }
}

/// Start-up around the server; shutdown is the `ServiceGroup`'s (see `ServerService`).
struct Launcher {
    let config: DaemonConfig
    let logger: Logger

    func run() async throws {
        let notifier = SystemdNotifier()
        logger.info("\(DaemonService.serverVersion): \(KernelInfo.summary) (best this CPU has: \(KernelInfo.bestISA)); BLAS core \(BLASInfo.coreName)")
        let policy = try AccessPolicy(config.access)
        let registry = ModelRegistry(config: config, loader: CheckpointLoader { [logger] line in
            logger.info("\(line)")
            notifier.notify("STATUS=loading \(line)")
        })
        for spec in config.models {
            notifier.notify("STATUS=loading model \(spec.name)")
            do {
                let model = try registry.load(spec, checkRoot: false)
                logger.info("loaded model '\(model.name)' from \(model.targetDirectory): \(model.model.config.parameterCount) parameters, \(model.memorySummary)")
            } catch {
                notifier.notify("STATUS=failed to load model \(spec.name): \(error.message)")
                throw ValidationError(error.message)
            }
        }
        let listener: Listener
        let inherited = try SocketActivation.takeListeningSockets()
        if let fd = inherited.first {
            if inherited.count > 1 { logger.warning("systemd passed \(inherited.count) sockets; serving on the first") }
            listener = .inherited(fd: fd)
        } else {
            listener = .path(config.socket, mode: try config.parsedSocketMode())
        }
        let service = DaemonService(config: config, registry: registry, policy: policy, logger: logger)
        let server = DaemonServer(service: service, listener: listener, logger: logger)
        do { try server.start() } catch {
            throw ValidationError("cannot listen on \(server.listenDescription): \(error)")
        }
        let timeout = Duration.milliseconds(Int64(config.drainTimeoutSeconds * 1000))
        let running = ServerService(server: server, drainTimeout: timeout, notifier: notifier, logger: logger,
                                    modelCount: registry.count)
        // The group traps SIGTERM/SIGINT (ignoring their default action) before it starts the
        // service, so READY is only sent once a signal means a drain, not death.
        let group = ServiceGroup(configuration: .init(
            services: [.init(service: running, serviceName: "eagled")],
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger))
        try await group.run()
    }
}

/// The listening server as a swift-service-lifecycle `Service`: `run()` reports READY and
/// returns once the server has stopped. Graceful shutdown (SIGTERM/SIGINT through the group)
/// or cancellation starts `DaemonServer.drainAndStop`: STOPPING=1, stop accepting, finish or
/// (after the drain timeout) cancel in-flight work, flush, close. The drain blocks, so it
/// runs on a thread of its own, never on the concurrency pool; it runs once however often
/// it is triggered.
struct ServerService: Service {
    let server: DaemonServer
    let drainTimeout: Duration
    let notifier: SystemdNotifier
    let logger: Logger
    let modelCount: Int

    func run() async throws {
        server.startWatchdog(notifier)
        notifier.notify("READY=1\nSTATUS=serving \(modelCount) model(s) on \(server.listenDescription)")
        logger.info("listening on \(server.listenDescription) with \(modelCount) model(s)")
        let (server, drainTimeout, notifier) = (server, drainTimeout, notifier)
        await withTaskCancellationOrGracefulShutdownHandler {
            await server.stopped()
        } onCancelOrGracefulShutdown: {
            Thread.detachNewThread { server.drainAndStop(timeout: drainTimeout, notifier: notifier) }
        }
    }
}
