import Daemon
import Foundation
import Synchronization
import Testing
import Wire

/// What a request holds (its ticket, job, runner, plan and prompt) is freed when it ends —
/// finished, cancelled while queued, or refused — not kept alive by a reference cycle. The
/// soak found a finished generation's ticket → cancel handler → job → runner → ticket cycle
/// growing the daemon by ~2 kB a request.
@Suite struct RequestLifetimeTests {
    final class Sink: ResponseSink {
        let connectionID: UInt64 = 77
        let responses = Mutex<[Eagle_V1_Response]>([])
        func send(_ response: Eagle_V1_Response) { responses.withLock { $0.append(response) } }
    }

    /// Waits up to `seconds` for `condition`.
    func eventually(_ seconds: Double = 10, _ condition: () -> Bool) -> Bool {
        let end = Date().addingTimeInterval(seconds)
        while !condition() {
            if Date() > end { return false }
            Thread.sleep(forTimeInterval: 0.01)
        }
        return true
    }

    @Test func finishedAndCancelledRequestsAreFreed() throws {
        let daemon = try LiveDaemon { $0.workers = 1 }
        let peer = PeerIdentity(pid: getpid(), uid: getuid(), gid: getgid(), groups: [getgid()])
        let sink = Sink()
        weak var finished: RequestTicket?
        weak var cancelled: RequestTicket?
        do {
            // A long request that holds the only worker, one that finishes, and one
            // cancelled while it waits in the queue.
            var long = generateRequest(maxTokens: 400)
            long.id = 1
            var short = generateRequest(maxTokens: 4)
            short.id = 2
            var queued = generateRequest(maxTokens: 4)
            queued.id = 3
            let first = daemon.service.handle(long, peer: peer, sink: sink)
            finished = daemon.service.handle(short, peer: peer, sink: sink)
            let third = daemon.service.handle(queued, peer: peer, sink: sink)
            cancelled = third
            #expect(first != nil && finished != nil && third != nil)
            third?.cancel()
            first?.cancel()
        }
        func answered(_ id: UInt64) -> Bool {
            sink.responses.withLock { responses in
                responses.contains { response in
                    if case .chunk? = response.kind { return false }
                    return response.id == id
                }
            }
        }
        #expect(eventually { [1, 2, 3].allSatisfy(answered) },
                "every request answered: \(sink.responses.withLock { $0.map(\.id) })")
        #expect(eventually(5) { finished == nil }, "a finished request's ticket is freed")
        #expect(eventually(5) { cancelled == nil }, "a request cancelled in the queue is freed")
    }
}
