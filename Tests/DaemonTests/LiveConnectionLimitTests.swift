@testable import Daemon
import Foundation
import Testing
import Wire

/// Limits on connections: how many, how long without a hello or a request, how many
/// requests and queue slots each may hold; and a drain that covers unloaded models.
@Suite("Live socket: connection limits")
struct LiveConnectionLimitTests {
    @Test func connectionsOverTheCapAreRefusedAndTheSlotComesBack() throws {
        let daemon = try LiveDaemon { $0.connections.maxConnections = 2 }
        let first = try daemon.client("one")
        let second = try daemon.client("two")
        let third = try WireClient(path: daemon.path)
        let (responses, closed) = readUntilClosed(third, timeout: 10)
        #expect(closed)
        #expect(responses.map(\.status.code) == [.resourceExhausted])
        #expect(responses.first?.id == 0)
        // The admitted ones are unaffected; a closed one frees its slot.
        #expect(try second.call(.with { $0.health = .init() }).health.serving)
        first.close()
        #expect(eventually { daemon.server.openConnectionCount == 1 })
        let fourth = try daemon.client("four")
        #expect(try fourth.call(generateRequest(maxTokens: 2)).generate.ids.count == 2)
    }

    @Test func aConnectionWithoutHelloIsClosedAfterTheHelloTimeout() throws {
        let daemon = try LiveDaemon { $0.connections.helloTimeoutSeconds = 0.3 }
        let silent = try WireClient(path: daemon.path)
        let start = ContinuousClock.now
        let (responses, closed) = readUntilClosed(silent, timeout: 20)
        #expect(closed, "a connection that never said hello was kept")
        #expect(responses.map(\.status.code) == [.deadlineExceeded])
        #expect(ContinuousClock.now - start < .seconds(15))
        // A client that says hello in time is served past the hello timeout.
        let client = try daemon.client()
        Thread.sleep(forTimeInterval: 0.6)
        #expect(try client.call(.with { $0.health = .init() }).health.serving)
    }

    @Test func anIdleConnectionIsClosedButABusyOneIsNot() throws {
        let daemon = try LiveDaemon(configure: { $0.connections.idleTimeoutSeconds = 0.5 }, factory: SlowGeneratorFactory())
        // Busy: a generation of ~1.2 s (120 tokens × 10 ms) outlasts the idle timeout.
        let busy = try daemon.client("busy")
        let result = try busy.call(generateRequest(maxTokens: 120)).generate
        #expect(result.ids.count == 120)
        // Idle: nothing in flight, nothing sent.
        let idle = try daemon.client("idle")
        let (responses, closed) = readUntilClosed(idle, timeout: 20)
        #expect(closed, "an idle connection was kept")
        #expect(responses.isEmpty)
    }

    @Test func requestsOverTheConnectionsCapAreRefusedAndTheConnectionStays() throws {
        let daemon = try LiveDaemon(configure: { $0.workers = 1; $0.connections.maxRequestsPerConnection = 2 },
                                    factory: SlowGeneratorFactory())
        let client = try daemon.client()
        for id: UInt64 in [1, 2, 3] {
            var request = generateRequest(maxTokens: 20)
            request.id = id
            try client.send(request)
        }
        var terminal: [UInt64: Eagle_V1_Response] = [:]
        while terminal.count < 3 {
            let response = try client.receive()
            if response.isTerminal { terminal[response.id] = response }
        }
        #expect(terminal[3]?.status.code == .resourceExhausted)
        #expect(terminal[1]?.generate.ids.count == 20 && terminal[2]?.generate.ids.count == 20)
        #expect(try client.call(generateRequest(maxTokens: 2)).generate.ids.count == 2)
    }

    @Test func oneConnectionCannotTakeEveryQueueSlot() throws {
        let daemon = try LiveDaemon(configure: {
            $0.workers = 1
            $0.queueLimit = 8
            $0.connections.maxQueuedPerConnection = 1
        }, factory: SlowGeneratorFactory())
        let greedy = try daemon.client("greedy")
        for id: UInt64 in [1, 2, 3] {
            var request = generateRequest(maxTokens: 30)
            request.id = id
            try greedy.send(request)
        }
        // 1 runs, 2 waits (its share), 3 is refused; another connection still gets a slot.
        var first = try greedy.receive()
        while !first.isTerminal { first = try greedy.receive() }
        #expect(first.id == 3 && first.status.code == .resourceExhausted)
        let other = try daemon.client("other")
        #expect(try other.call(generateRequest(maxTokens: 2)).generate.ids.count == 2)
    }

    @Test func unloadingAModelThenStoppingLetsItsRunningRequestsFinish() throws {
        let daemon = try LiveDaemon(configure: { $0.workers = 1 }, factory: SlowGeneratorFactory())
        let client = try daemon.client()
        var running = generateRequest(maxTokens: 80)
        running.id = 1
        try client.send(running)
        #expect(eventually { daemon.service.registry.all.first?.scheduler.load.active == 1 })
        let admin = try daemon.client("admin")
        _ = try admin.call(.with { $0.unloadModel = .with { $0.name = "tiny" } })
        let server = daemon.server
        Thread.detachNewThread { server.drainAndStop(timeout: .seconds(30)) }
        setReceiveTimeout(client, seconds: 30)
        // Before, the drain did not know the unloaded model and cut the request off.
        var response = try client.receive()
        while !response.isTerminal { response = try client.receive() }
        #expect(response.id == 1 && response.generate.ids.count == 80)
    }
}
