import Synchronization
import Wire

/// The cancellation handle of one in-flight request.
///
/// Workers poll `isCancelled` between decoding steps; a request still waiting in a queue is
/// withdrawn at once through the handler set with `onCancel`.
public final class RequestTicket: Sendable {
    private let cancelled = Atomic<Bool>(false)
    private let handler = Mutex<(@Sendable () -> Void)?>(nil)

    public init() {}

    public var isCancelled: Bool { cancelled.load(ordering: .relaxed) }

    /// Marks the request cancelled and runs the cancel handler once.
    public func cancel() {
        guard !cancelled.exchange(true, ordering: .relaxed) else { return }
        let action = handler.withLock { h -> (@Sendable () -> Void)? in
            defer { h = nil }
            return h
        }
        action?()
    }

    /// Forgets the cancel handler once the request has ended (run, dropped or withdrawn).
    /// The handler holds the request's job, and the job its runner, which holds this ticket:
    /// without this a finished request would keep that cycle — its plan, prompt and runner,
    /// ~2 kB a request — alive for good (found by LeakSanitizer under the soak).
    public func finish() { handler.withLock { $0 = nil } }

    /// Sets what `cancel()` does beyond setting the flag (runs at once if already cancelled).
    public func onCancel(_ action: @escaping @Sendable () -> Void) {
        handler.withLock { $0 = action }
        if isCancelled {
            let pending = handler.withLock { h -> (@Sendable () -> Void)? in
                defer { h = nil }
                return h
            }
            pending?()
        }
    }
}
