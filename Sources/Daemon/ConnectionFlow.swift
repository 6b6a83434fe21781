import Foundation
import Inference
import Synchronization

/// Whether a connection can take more output, shared by its event loop and the workers
/// that stream to it.
///
/// The connection handler mirrors NIO's channel writability here (its outbound buffer
/// passed the high water mark → not writable; back under the low mark → writable). A
/// streaming generation calls `waitUntilWritable` before each chunk, so a client that does
/// not read holds its generations still instead of making the daemon buffer their output.
/// Closing the connection opens the gate for good (the requests are cancelled then).
public final class ConnectionFlow: Sendable {
    private struct State {
        var writable = true
        var closed = false
    }

    private let state = Mutex(State())
    private let condition = NSCondition()

    public init() {}

    /// True while output may be sent without waiting.
    public var isWritable: Bool { state.withLock { $0.writable || $0.closed } }

    /// Called on the event loop when the channel's writability changes.
    public func setWritable(_ writable: Bool) {
        condition.withLock {
            state.withLock { $0.writable = writable }
            if writable { condition.broadcast() }
        }
    }

    /// Called once the connection is closed: nobody waits for it any more.
    public func close() {
        condition.withLock {
            state.withLock { $0.closed = true }
            condition.broadcast()
        }
    }

    /// Blocks the calling (worker) thread while the connection is not writable. Returns
    /// early when `isCancelled` turns true (polled every `poll`), e.g. a drain that timed out.
    public func waitUntilWritable(poll: Duration = .milliseconds(50), isCancelled: () -> Bool) {
        condition.withLock {
            while !isWritable, !isCancelled() {
                _ = condition.wait(until: Date(timeIntervalSinceNow: poll.seconds))
            }
        }
    }
}
