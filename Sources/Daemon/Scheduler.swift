import Foundation
import Synchronization

/// One unit of work for a model's workers: a generation request waiting for a slot.
public final class ScheduledJob: Sendable {
    /// The connection the job came from; the queue is fair across connections.
    public let owner: UInt64
    /// Runs on a worker thread; blocks for the whole generation.
    let run: @Sendable () -> Void
    /// Called instead of `run` when the job leaves the queue without running
    /// (cancelled while queued, or the model was unloaded with `drain: false`).
    let drop: @Sendable (ServiceError) -> Void

    public init(owner: UInt64, run: @escaping @Sendable () -> Void, drop: @escaping @Sendable (ServiceError) -> Void) {
        self.owner = owner
        self.run = run
        self.drop = drop
    }
}

/// A model's bounded, fair request queue and its worker threads.
///
/// `workers` generations run at once, each on its own thread (generation is synchronous
/// and CPU-bound, so it never runs on an event loop). Waiting jobs are served round-robin
/// across connections, so one client with many requests cannot starve the others. At most
/// `queueLimit` jobs wait, and at most `queuedPerConnection` of them from one connection;
/// beyond that `submit` fails with RESOURCE_EXHAUSTED.
public final class ModelScheduler: Sendable {
    public let name: String
    public let workerCount: Int
    public let queueLimit: Int
    /// Of `queueLimit`, the waiting jobs one connection may hold.
    public let queuedPerConnection: Int

    private struct State {
        /// Waiting jobs per connection, and the connections in service order.
        var queues: [UInt64: [ScheduledJob]] = [:]
        var order: [UInt64] = []
        var queued = 0
        var active = 0
        var stopping = false
        var liveWorkers = 0
    }

    private let state: Mutex<State>
    private let condition = NSCondition()
    private let idle = NSCondition()

    public init(name: String, workers: Int, queueLimit: Int, queuedPerConnection: Int? = nil) {
        self.name = name
        self.workerCount = max(1, workers)
        self.queueLimit = max(0, queueLimit)
        self.queuedPerConnection = max(0, min(queuedPerConnection ?? queueLimit, queueLimit))
        state = Mutex(State(liveWorkers: max(1, workers)))
        for index in 0..<workerCount {
            let thread = Thread { [self] in workerLoop() }
            thread.name = "eagled-\(name)-\(index)"
            thread.start()
        }
    }

    /// Jobs running now and jobs waiting.
    public var load: (active: Int, queued: Int) {
        state.withLock { ($0.active, $0.queued) }
    }

    /// Queues `job`, or refuses it when the queue is full or the scheduler is stopping.
    public func submit(_ job: ScheduledJob) throws(ServiceError) {
        let result: ServiceError? = condition.withLock {
            state.withLock { s -> ServiceError? in
                if s.stopping { return .unavailable("model '\(name)' is being unloaded") }
                // Free workers take jobs at once; only jobs beyond them wait in the queue.
                if s.active + s.queued >= workerCount + queueLimit {
                    return ServiceError(.resourceExhausted, "model '\(name)' has \(s.queued) requests queued (limit \(queueLimit)); retry later")
                }
                // Jobs that idle workers are about to take do not count against the share
                // (a worker may not have picked up the previous job yet).
                let waiting = s.queues[job.owner]?.count ?? 0
                if waiting >= queuedPerConnection + max(0, workerCount - s.active) {
                    return ServiceError(.resourceExhausted, "this connection has \(waiting) requests queued on model '\(name)' (limit \(queuedPerConnection) per connection); retry later")
                }
                if s.queues[job.owner, default: []].isEmpty { s.order.append(job.owner) }
                s.queues[job.owner, default: []].append(job)
                s.queued += 1
                return nil
            }
        }
        if let result { throw result }
        condition.signal()
    }

    /// Takes `job` out of the queue if it is still waiting; true when it was.
    public func withdraw(_ job: ScheduledJob) -> Bool {
        let removed = state.withLock { s -> Bool in
            guard var queue = s.queues[job.owner], let index = queue.firstIndex(where: { $0 === job }) else { return false }
            queue.remove(at: index)
            s.queued -= 1
            if queue.isEmpty {
                s.queues[job.owner] = nil
                s.order.removeAll { $0 == job.owner }
            } else {
                s.queues[job.owner] = queue
            }
            return true
        }
        if removed { signalIdle() }
        return removed
    }

    /// Stops taking jobs. With `drain`, waiting jobs still run; otherwise they are dropped
    /// with UNAVAILABLE. Worker threads exit once the queue is empty.
    public func stop(drain: Bool) {
        var dropped: [ScheduledJob] = []
        condition.withLock {
            state.withLock { s in
                s.stopping = true
                if !drain {
                    for owner in s.order { dropped += s.queues[owner] ?? [] }
                    s.queues = [:]
                    s.order = []
                    s.queued = 0
                }
            }
        }
        condition.broadcast()
        for job in dropped { job.drop(.unavailable("model '\(name)' was unloaded")) }
        signalIdle()
    }

    /// Blocks until no job is running or waiting (after `stop`, until the workers exit).
    public func waitUntilIdle() {
        idle.withLock {
            while !isIdle { idle.wait() }
        }
    }

    private var isIdle: Bool {
        state.withLock { s in s.active == 0 && s.queued == 0 && (!s.stopping || s.liveWorkers == 0) }
    }

    private func signalIdle() {
        idle.withLock { idle.broadcast() }
    }

    private func workerLoop() {
        while let job = next() {
            job.run()
            state.withLock { $0.active -= 1 }
            signalIdle()
        }
        state.withLock { $0.liveWorkers -= 1 }
        signalIdle()
    }

    /// The next job in round-robin order across connections; nil when stopping and empty.
    private func next() -> ScheduledJob? {
        condition.withLock {
            while true {
                let job = state.withLock { s -> ScheduledJob?? in
                    guard let owner = s.order.first else { return s.stopping ? .some(nil) : nil }
                    s.order.removeFirst()
                    var queue = s.queues[owner]!
                    let job = queue.removeFirst()
                    if queue.isEmpty {
                        s.queues[owner] = nil
                    } else {
                        s.queues[owner] = queue
                        s.order.append(owner)
                    }
                    s.queued -= 1
                    s.active += 1
                    return .some(job)
                }
                if let job { return job }
                condition.wait()
            }
        }
    }
}
