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
///
/// Frames a worker hands to the event loop count too, until the loop has written them into
/// the channel: an event loop that is slow to run its tasks (a loaded machine) would
/// otherwise see none of them in the channel's buffer while the workers went on queueing.
public final class ConnectionFlow: Sendable {
    private struct State {
        var writable = true
        var closed = false
        /// Bytes handed to the event loop and not yet written into the channel.
        var handedOver = 0
    }

    private let state = Mutex(State())
    private let condition = NSCondition()
    /// The most bytes that may wait for the event loop before senders wait too.
    private let handOverLimit: Int

    public init(handOverLimit: Int = 1 << 20) {
        self.handOverLimit = handOverLimit
    }

    /// True while output may be sent without waiting.
    public var isWritable: Bool { state.withLock { Self.open($0, limit: handOverLimit) } }

    private static func open(_ s: State, limit: Int) -> Bool { s.closed || (s.writable && s.handedOver < limit) }

    /// A worker hands `bytes` to the event loop (before its task is queued).
    public func handOver(_ bytes: Int) {
        state.withLock { $0.handedOver += bytes }
    }

    /// The event loop has written (or dropped) `bytes` handed over earlier.
    public func taken(_ bytes: Int) {
        condition.withLock {
            let open = state.withLock { s in
                s.handedOver -= bytes
                return Self.open(s, limit: handOverLimit)
            }
            if open { condition.broadcast() }
        }
    }

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
