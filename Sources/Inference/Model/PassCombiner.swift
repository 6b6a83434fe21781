import Dispatch
import Foundation

/// Gathers the forward passes of the sessions decoding on one model into shared passes, so
/// that the weights are streamed once per step for every request instead of once per request.
///
/// Sessions join (`InferenceSession.join`) and leave between passes. A session's `forward`
/// queues its tokens and blocks; the oldest waiting session leads: once every session present
/// is waiting, or once it has waited `maxWait`, it runs the waiting sessions' tokens (oldest
/// first, up to `maxRows` rows) as one `BatchedPass` on its own thread, and the others wake
/// with their outputs. Sessions are never merged in any other way, and the kernels compute
/// each row from its own inputs in a fixed order, so a session gets the same bits whoever
/// shares its pass (tested bit for bit). A session alone runs its pass at once, with no wait
/// and no other thread.
///
/// Thread-safe.
public final class PassCombiner: @unchecked Sendable {
    public let model: LlamaModel
    /// Most rows of one pass.
    public let maxRows: Int
    /// Rows of a prefill chunk while other sessions are present: a long prompt joins the
    /// running passes in pieces this large instead of holding them up for one large pass.
    public let sharedPrefillChunk: Int
    /// Layers whose inputs the pass records (an EAGLE-3 head's); sessions that record others
    /// cannot join.
    public let captureLayers: [Int]
    /// Bounds of how long the oldest waiting session waits for the rest: half the mean pass,
    /// within these.
    public let waitBounds: ClosedRange<Duration>

    private final class Ticket {
        let request: Any
        let rows: Int
        let executor: PassExecutor
        let enqueued: ContinuousClock.Instant
        let wake = DispatchSemaphore(value: 0)
        var done = false

        init(_ request: Any, rows: Int, executor: PassExecutor) {
            self.request = request
            self.rows = rows
            self.executor = executor
            enqueued = .now
        }
    }

    private let lock = NSLock()
    // Guarded by `lock`:
    private var present = 0
    private var pending: [Ticket] = []
    private var running = false
    private var meanPassSeconds = 0.0
    /// Executors of other kinds of pass (a draft head's), made on first use.
    private var executors: [ObjectIdentifier: PassExecutor] = [:]
    /// Used only by the session leading a pass (`running`).
    private let pass: BatchedPass
    private let targetExecutor: PassExecutor

    public init(model: LlamaModel, maxRows: Int = 64, sharedPrefillChunk: Int = 16, captureLayers: [Int] = [],
                waitBounds: ClosedRange<Duration> = .microseconds(50) ... .milliseconds(20)) {
        self.model = model
        self.maxRows = max(1, maxRows)
        self.sharedPrefillChunk = max(1, sharedPrefillChunk)
        self.captureLayers = captureLayers.filter { $0 >= 0 && $0 < model.config.layerCount }.sorted()
        self.waitBounds = waitBounds
        let pass = BatchedPass(model: model, rows: self.maxRows, captureLayers: self.captureLayers)
        self.pass = pass
        targetExecutor = PassExecutor(maxRows: self.maxRows) { requests in pass.run(requests.map { $0 as! PassRequest }) }
    }

    /// The executor registered under `key` (a draft head), made by `make` on first use: passes
    /// of another kind that the same requests run, gathered like the target's.
    public func executor(for key: ObjectIdentifier, make: () -> PassExecutor) -> PassExecutor {
        lock.withLock {
            if let executor = executors[key] { return executor }
            let executor = make()
            executors[key] = executor
            return executor
        }
    }

    /// Bytes of scratch the combined pass holds.
    public var byteCount: Int { pass.byteCount }

    /// Target passes since the combiner was made.
    public var snapshot: PassStatistics { lock.withLock { targetExecutor.statistics } }

    /// Passes of the other executors (draft heads) since the combiner was made, summed.
    public var headSnapshot: PassStatistics {
        lock.withLock { executors.values.reduce(into: PassStatistics()) { $0.add($1.statistics) } }
    }

    /// Sessions present now (joined, not away).
    public var presentCount: Int { lock.withLock { present } }

    /// Whether a session of this shape may join: the same model, passes no larger than
    /// `maxRows`, and the same recorded layers (or none).
    func accepts(_ session: InferenceSession) -> Bool {
        session.model === model && session.maxBatch <= maxRows
            && (session.stack.captureLayers.isEmpty || session.stack.captureLayers == captureLayers)
            && session.cache.capacity <= model.contextLength
    }

    func arrive() {
        lock.withLock { present += 1 }
    }

    /// A session leaves (for good, or while it waits for something else): the others stop
    /// waiting for it.
    func depart() {
        lock.withLock {
            present -= 1
            signalLeaderIfReady()
        }
    }

    /// Runs `body` while the calling session (joined to this combiner) does not hold up the
    /// others: it is about to block on something other than a pass, such as a client that
    /// does not read its stream.
    public func away<T>(_ body: () throws -> T) rethrows -> T {
        depart()
        defer { arrive() }
        return try body()
    }

    /// Rows the next prefill chunk of a session may take.
    func prefillChunk(sessionMaximum: Int) -> Int {
        lock.withLock { present > 1 ? min(sharedPrefillChunk, sessionMaximum) : sessionMaximum }
    }

    /// Runs a target pass of `request`: `alone` (the session's own pass, on its own scratch)
    /// when nobody else is present, else in a combined pass. Returns when its outputs are in
    /// its session.
    func run(_ request: PassRequest, alone: () -> Void) {
        run(request, rows: request.tokens.count, on: targetExecutor, alone: alone)
    }

    /// Runs `request` (`rows` rows) in one of `executor`'s passes, with the other waiting
    /// requests of that executor; or, when the calling session is alone, runs `alone` (its own
    /// pass) at once instead: no queue, no copies. Returns when the request's outputs are in
    /// its session. The caller's session must be joined.
    public func run(_ request: Any, rows: Int, on executor: PassExecutor, alone: () -> Void) {
        if !runAlone(rows: rows, executor: executor, alone) { submit(request, rows: rows, to: executor) }
    }

    /// Runs `body` at once if the calling session is alone — nobody else present, waiting or
    /// running — with the others held off until it returns; false (and `body` not run)
    /// otherwise. The pass (`rows` rows) is counted in `executor`'s statistics.
    private func runAlone(rows: Int, executor: PassExecutor, _ body: () -> Void) -> Bool {
        lock.lock()
        guard !running, pending.isEmpty, present <= 1 else {
            lock.unlock()
            return false
        }
        running = true
        lock.unlock()
        let start = ContinuousClock.now
        body()
        let seconds = (ContinuousClock.now - start).seconds
        lock.lock()
        executor.statistics.record(sessions: 1, rows: rows, seconds: seconds)
        running = false
        pending.first?.wake.signal()
        lock.unlock()
        return true
    }

    /// Queues `request` for `executor` and waits until a pass has run it, leading one when
    /// its turn comes.
    private func submit(_ request: Any, rows: Int, to executor: PassExecutor) {
        let ticket = Ticket(request, rows: rows, executor: executor)
        lock.lock()
        pending.append(ticket)
        signalLeaderIfReady()
        while !ticket.done {
            guard !running, pending.first === ticket else {
                lock.unlock()
                ticket.wake.wait()
                lock.lock()
                continue
            }
            let waited = ContinuousClock.now - ticket.enqueued
            let limit = maxWait
            if pending.count < present && waited < limit {
                lock.unlock()
                _ = ticket.wake.wait(timeout: .now() + .nanoseconds(Int((limit - waited).nanoseconds)))
                lock.lock()
                continue
            }
            lead()
        }
        lock.unlock()
    }

    /// Takes the oldest waiting requests of each executor up to its `maxRows` rows (the
    /// oldest of each always), runs each executor's batch, wakes their sessions and the next
    /// leader. Called with the lock held; returns with it held.
    private func lead() {
        var groups: [(executor: PassExecutor, tickets: [Ticket], rows: Int)] = []
        var left: [Ticket] = []
        for ticket in pending {
            if let g = groups.firstIndex(where: { $0.executor === ticket.executor }) {
                if groups[g].rows + ticket.rows > ticket.executor.maxRows {
                    left.append(ticket)
                    continue
                }
                groups[g].tickets.append(ticket)
                groups[g].rows += ticket.rows
            } else {
                groups.append((ticket.executor, [ticket], ticket.rows))
            }
        }
        pending = left
        running = true
        lock.unlock()
        let timings = groups.map { group in
            let begin = ContinuousClock.now
            group.executor.run(group.tickets.map(\.request))
            return (ContinuousClock.now - begin).seconds
        }
        let seconds = timings.reduce(0, +)
        lock.lock()
        running = false
        meanPassSeconds = meanPassSeconds == 0 ? seconds : 0.9 * meanPassSeconds + 0.1 * seconds
        for (group, time) in zip(groups, timings) {
            group.executor.statistics.record(sessions: group.tickets.count, rows: group.rows, seconds: time)
            for ticket in group.tickets {
                ticket.done = true
                ticket.wake.signal()
            }
        }
        pending.first?.wake.signal()
    }

    /// How long the oldest waiting session waits for the others: half a mean pass.
    private var maxWait: Duration {
        let half = Duration.nanoseconds(Int64(meanPassSeconds * 0.5e9))
        return min(max(half, waitBounds.lowerBound), waitBounds.upperBound)
    }

    /// Wakes the oldest waiting session when everyone present is waiting.
    private func signalLeaderIfReady() {
        if !running, let first = pending.first, pending.count >= present { first.wake.signal() }
    }
}

/// Runs one kind of pass over the requests of several sessions: the target model's
/// (`BatchedPass`), or a draft head's. Its `run` gets the requests submitted with it, at most
/// `maxRows` rows in all (or one larger request), and must hand each session its outputs.
public final class PassExecutor: @unchecked Sendable {
    public let maxRows: Int
    let run: ([Any]) -> Void
    /// Guarded by the lock of the combiner that runs it.
    fileprivate var statistics = PassStatistics()

    public init(maxRows: Int, run: @escaping ([Any]) -> Void) {
        self.maxRows = maxRows
        self.run = run
    }
}

/// What a `PassCombiner` has run: target passes, and how full they were.
public struct PassStatistics: Sendable, Equatable {
    public var passes = 0
    /// Sessions summed over passes.
    public var sessions = 0
    public var rows = 0
    public var seconds = 0.0
    /// Passes by the number of sessions in them: [1, 2, 3–4, 5–8, 9–16, 17+].
    public var sessionHistogram = [Int](repeating: 0, count: 6)

    public static let histogramLabels = ["1", "2", "3-4", "5-8", "9-16", "17+"]

    public init() {}

    mutating func record(sessions: Int, rows: Int, seconds: Double) {
        passes += 1
        self.sessions += sessions
        self.rows += rows
        self.seconds += seconds
        let bucket = sessions <= 1 ? 0 : sessions == 2 ? 1 : sessions <= 4 ? 2 : sessions <= 8 ? 3 : sessions <= 16 ? 4 : 5
        sessionHistogram[bucket] += 1
    }

    mutating func add(_ other: PassStatistics) {
        passes += other.passes
        sessions += other.sessions
        rows += other.rows
        seconds += other.seconds
        for i in sessionHistogram.indices { sessionHistogram[i] += other.sessionHistogram[i] }
    }

    /// Mean rows (tokens) per pass.
    public var rowsPerPass: Double { passes == 0 ? 0 : Double(rows) / Double(passes) }
    /// Mean sessions (requests) per pass.
    public var sessionsPerPass: Double { passes == 0 ? 0 : Double(sessions) / Double(passes) }
}
