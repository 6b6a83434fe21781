import Daemon
import Foundation
import Synchronization
import Testing
import Wire

/// `DaemonServer.stopped()`, which eagled's lifecycle service awaits until the drain is over.
@Suite("Live socket: awaiting the stop")
struct LiveStoppedTests {
    final class Flag: Sendable {
        let value = Mutex(false)
    }

    @Test func stoppedResumesOnlyOnceTheDrainIsOver() async throws {
        let daemon = try LiveDaemon()
        let server = daemon.server
        let drainStarted = Flag()
        let waiter = Task {
            await server.stopped()
            return drainStarted.value.withLock { $0 }
        }
        try await Task.sleep(for: .milliseconds(50))
        Thread.detachNewThread {
            drainStarted.value.withLock { $0 = true }
            server.drainAndStop(timeout: .seconds(10))
        }
        #expect(await waiter.value)
        await server.stopped()  // already stopped: returns at once
        #expect(throws: FrameError.self) { _ = try WireClient(path: daemon.path) }
    }
}
