import Synchronization
import Wire

/// Where a request's responses go: the connection it came from.
public protocol ResponseSink: Sendable {
    /// Identifies the connection; the schedulers share their slots fairly between connections.
    var connectionID: UInt64 { get }
    /// Sends one response; safe from any thread. Responses from one thread keep their order.
    func send(_ response: Eagle_V1_Response)
}

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
