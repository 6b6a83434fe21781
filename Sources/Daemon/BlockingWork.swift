import Dispatch
import Synchronization
import Wire

/// Requests the service runs off the event loops — tokenize, detokenize, model loads — on a
/// queue of their own. They are counted so that a drain waits for their replies like it
/// waits for generations, and gated so that no reply is handed to a connection once the
/// drain has let the event loops go (NIO refuses tasks on a loop that has shut down, and
/// the reply could not reach its client anyway).
final class BlockingWork: Sendable {
    private let queue = DispatchQueue(label: "eagled.blocking", attributes: .concurrent)
    private let running = DispatchGroup()
    private let inFlight = Atomic<Int>(0)
    /// Whether replies may still go out; cleared by `close`.
    private let open = Mutex(true)

    /// Runs `work` on the queue and sends its response, or its error as a status.
    func submit(id: UInt64, sink: any ResponseSink, _ work: @escaping @Sendable () throws(ServiceError) -> Eagle_V1_Response) {
        running.enter()
        inFlight.add(1, ordering: .relaxed)
        queue.async { [self] in
            defer {
                inFlight.subtract(1, ordering: .relaxed)
                running.leave()
            }
            let response: Eagle_V1_Response
            do throws(ServiceError) { response = try work() } catch { response = error.response(id: id) }
            // Under the lock: `close` cannot let the loops go between the check and the send.
            open.withLock { isOpen in
                if isOpen { sink.send(response) }
            }
        }
    }

    /// How many are running now.
    var count: Int { inFlight.load(ordering: .relaxed) }

    /// Waits until everything submitted so far has replied, or until `deadline`; from then on
    /// replies are dropped. Returns how many were still running at the deadline (0: none lost).
    func close(waitingUntil deadline: DispatchTime) -> Int {
        _ = running.wait(timeout: deadline)
        return open.withLock { isOpen in
            isOpen = false
            return inFlight.load(ordering: .relaxed)
        }
    }
}
