import Dispatch
import Foundation
import Logging
import NIOCore
import NIOPosix
import Synchronization
import Wire

/// The listening socket: a path we create, or one systemd passed us.
public enum Listener: Sendable, Equatable {
    /// Bind a new Unix socket at `path` (replacing a stale file) and chmod it to `mode`.
    case path(String, mode: mode_t)
    /// Serve on an already bound and listening socket (socket activation).
    case inherited(fd: Int32)
}

/// The NIO server: accepts connections, wires each to a `ConnectionHandler`, and drains.
public final class DaemonServer: Sendable {
    public let service: DaemonService
    private let listener: Listener
    private let logger: Logger
    /// Internal for tests (which hold its loop up to act as a loaded machine).
    let group: MultiThreadedEventLoopGroup
    private let serverChannel = Mutex<Channel?>(nil)
    private let connections = Mutex<[UInt64: Channel]>([:])
    private let nextConnectionID = Atomic<UInt64>(1)
    /// Whether `drainAndStop` has finished, and the tasks suspended in `stopped()` until then.
    private let stopWaiters = Mutex<(done: Bool, waiting: [CheckedContinuation<Void, Never>])>((false, []))
    private let stopping = Atomic<Bool>(false)

    public init(service: DaemonService, listener: Listener, logger: Logger, eventLoopThreads: Int = 1) {
        self.service = service
        self.listener = listener
        self.logger = logger
        group = MultiThreadedEventLoopGroup(numberOfThreads: max(1, eventLoopThreads))
    }

    /// Binds (or adopts) the socket and starts accepting connections.
    public func start() throws {
        let maxFrameBytes = service.config.maxFrameBytes
        let limits = service.config.connections
        raiseDescriptorLimit(for: limits.maxConnections)
        let highWater = limits.writeBufferHighWaterBytes
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 256)
            .childChannelOption(.writeBufferWaterMark, value: .init(low: highWater / 2, high: highWater))
            .childChannelInitializer { [self] channel in
                let id = nextConnectionID.wrappingAdd(1, ordering: .relaxed).oldValue
                // Over the cap, the connection is only told so and closed: it is not counted.
                let admitted = connections.withLock { open -> Bool in
                    guard open.count < limits.maxConnections else { return false }
                    open[id] = channel
                    return true
                }
                if admitted {
                    channel.closeFuture.whenComplete { [self] _ in connections.withLock { _ = $0.removeValue(forKey: id) } }
                }
                return channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(FrameDecoder(maxFrameBytes: maxFrameBytes)))
                    try channel.pipeline.syncOperations.addHandler(
                        ConnectionHandler(service: service, connectionID: id, overCapacity: !admitted, logger: logger))
                }
            }
        let channel: Channel
        switch listener {
        case .path(let path, let mode):
            channel = try bootstrap.bind(unixDomainSocketPath: path, cleanupExistingSocketFile: true).wait()
            guard chmod(path, mode) == 0 else {
                let error = errno
                try? channel.close().wait()
                throw ConfigError.invalid("cannot chmod \(path) to \(String(mode, radix: 8)): \(String(cString: strerror(error)))")
            }
        case .inherited(let fd):
            channel = try bootstrap.withBoundSocket(fd).wait()
        }
        serverChannel.withLock { $0 = channel }
    }

    /// Where the server listens, for logs.
    public var listenDescription: String {
        switch listener {
        case .path(let path, _): return path
        case .inherited(let fd): return "socket fd \(fd) from systemd"
        }
    }

    /// Connections open now (admitted ones; those refused over the cap are not counted).
    public var openConnectionCount: Int { connections.withLock { $0.count } }

    /// Pings systemd's watchdog from the event loop, so a wedged loop stops the pings.
    /// Every ping goes through the notifier's one socket.
    public func startWatchdog(_ notifier: SystemdNotifier) {
        guard let interval = notifier.watchdogPingInterval else { return }
        let loop = group.next()
        loop.scheduleRepeatedTask(initialDelay: .zero, delay: .nanoseconds(interval.nanoseconds)) { _ in
            notifier.notify("WATCHDOG=1")
        }
    }

    /// Lifts the soft descriptor limit to the hard one when `maxConnections` (plus room for
    /// model files and the listener) would not fit under it; logs when even that is short.
    private func raiseDescriptorLimit(for maxConnections: Int) {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return }
        let wanted = rlim_t(maxConnections + 64)
        if limit.rlim_cur < wanted, limit.rlim_cur < limit.rlim_max {
            limit.rlim_cur = min(wanted, limit.rlim_max)
            _ = setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
        }
        if limit.rlim_cur < wanted {
            logger.warning("descriptor limit \(limit.rlim_cur) is below max_connections + 64 (\(wanted)); raise LimitNOFILE=")
        }
    }

    /// Graceful stop: refuse new work, stop accepting, let running and queued generations
    /// finish (cancelling them after `timeout`), flush and close connections. Blocks.
    ///
    /// Models unloaded earlier whose requests still run are drained too. A connection whose
    /// client does not read cannot be flushed: it is closed once `timeout` has passed
    /// (at least `flushGrace` after the generations ended), so the drain always finishes.
    public func drainAndStop(timeout: Duration, flushGrace: Duration = .seconds(1),
                             notifier: SystemdNotifier = SystemdNotifier(environment: [:])) {
        guard !stopping.exchange(true, ordering: .relaxed) else { return }
        let deadline = ContinuousClock.now + timeout
        service.beginDrain()
        let models = service.registry.draining
        let busy = models.reduce(0) { $0 + $1.scheduler.load.active + $1.scheduler.load.queued }
        let blocking = service.blockingRequestCount
        notifier.notify("STOPPING=1\nSTATUS=draining \(busy + blocking) requests")
        logger.info("draining: \(busy) generations running or queued, \(blocking) tokenize, detokenize or load requests running")
        if let channel = serverChannel.withLock({ $0 }) { try? channel.close().wait() }
        if case .path(let path, _) = listener { unlink(path) }

        let idle = DispatchSemaphore(value: 0)
        DispatchQueue.global().async {
            for model in models { model.scheduler.waitUntilIdle() }
            idle.signal()
        }
        // Whole nanoseconds: a drain timeout of 0.5 s is half a second, not zero.
        if idle.wait(timeout: .now() + .nanoseconds(Int(timeout.nanoseconds))) == .timedOut {
            logger.warning("drain timed out after \(timeout); cancelling what is left")
            service.cancelAll()
            idle.wait()
        }
        for model in models { model.scheduler.stop(drain: false) }
        // Tokenize, detokenize and load requests in flight reply before the connections close.
        let lost = service.finishBlockingWork(until: Self.dispatchTime(at: deadline))
        if lost > 0 { logger.warning("drain timed out with \(lost) tokenize, detokenize or load requests still running; their replies are dropped") }

        // An empty write completes after every write queued before it: then close. A client
        // that does not read never lets it complete: its connection is closed at the deadline.
        let open = connections.withLock { Array($0.values) }
        let closed = DispatchGroup()
        for channel in open {
            closed.enter()
            channel.closeFuture.whenComplete { _ in closed.leave() }
            channel.writeAndFlush(ByteBuffer()).whenComplete { _ in channel.close(promise: nil) }
        }
        let flushDeadline = max(deadline, ContinuousClock.now + flushGrace)
        if closed.wait(timeout: Self.dispatchTime(at: flushDeadline)) == .timedOut {
            let stuck = open.filter { $0.isActive }
            logger.warning("closing \(stuck.count) connections whose clients do not read their replies")
            for channel in stuck { channel.close(promise: nil) }
            closed.wait()
        }
        try? group.syncShutdownGracefully()
        logger.info("stopped")
        let waiting = stopWaiters.withLock { state in
            state.done = true
            defer { state.waiting = [] }
            return state.waiting
        }
        for continuation in waiting { continuation.resume() }
    }

    /// `instant` on Dispatch's clock (now, if it has passed), for waits with a deadline.
    private static func dispatchTime(at instant: ContinuousClock.Instant) -> DispatchTime {
        .now() + .nanoseconds(Int(max(.zero, instant - ContinuousClock.now).nanoseconds))
    }

    /// Suspends until `drainAndStop` has finished (without holding a thread).
    public func stopped() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let finished = stopWaiters.withLock { state in
                if !state.done { state.waiting.append(continuation) }
                return state.done
            }
            if finished { continuation.resume() }
        }
    }
}
