@testable import Daemon
import Foundation
import Glibc
import Synchronization
import Testing
import Wire

/// A client that sends and never reads must not make the daemon buffer without bound, keep
/// it from serving others, or keep SIGTERM from finishing (issue 11).
@Suite("Live socket: backpressure and frame caps", .serialized, .enabled(if: bundledModelPresent, "needs Models/tiny-pystd (a tokenizer)"))
struct LiveBackpressureTests {
    /// Python-ish text for the bundled model's tokenizer.
    static func text(bytes: Int) -> String {
        let line = "def add(x, y):\n    return x + y  # sum of two numbers\n"
        return String(String(repeating: line, count: bytes / line.utf8.count + 1).prefix(bytes))
    }

    static func daemon(_ configure: @escaping (inout DaemonConfig) -> Void = { _ in }) throws -> LiveDaemon {
        try LiveDaemon { config in
            config.models.append(ModelSpec(name: "text", target: bundledModelPath))
            config.connections.maxRequestsPerConnection = 4
            config.connections.writeBufferHighWaterBytes = 64 << 10
            configure(&config)
        }
    }

    /// How a flood ended.
    enum FloodEnd: Equatable {
        /// A send blocked for 2 s: the daemon stopped reading.
        case blocked
        /// The daemon closed the connection.
        case closed
        /// Everything went out: nothing held the client back.
        case limitReached
    }

    /// Sends tokenize requests of `textBytes` each without reading a reply, until a send
    /// blocks for 2 s, the connection closes, or `limitBytes` went out.
    static func flood(_ client: WireClient, textBytes: Int, limitBytes: Int) -> (sent: Int, end: FloodEnd) {
        setSendTimeout(client, seconds: 2)
        let text = Self.text(bytes: textBytes)
        var sent = 0
        var id: UInt64 = 100
        while sent < limitBytes {
            id += 1
            let request = Eagle_V1_Request.with { $0.id = id; $0.tokenize = .with { $0.model = "text"; $0.text = text } }
            do { try client.send(request) } catch {
                if case .io(_, let code) = error, code == EAGAIN || code == EWOULDBLOCK { return (sent, .blocked) }
                return (sent, .closed)
            }
            sent += textBytes
        }
        return (sent, .limitReached)
    }

    @Test func tokenizeFloodFromAClientThatNeverReadsStaysBounded() throws {
        let daemon = try Self.daemon()
        let bystander = try daemon.client("bystander")
        let before = residentBytes()
        let flooder = try daemon.client("flooder")
        // Old code read every request and queued every reply: this sent until the limit
        // while the daemon's memory grew by as much. Now requests over the in-flight cap are
        // refused (cheaply) until the refusals fill the socket, and then reading stops.
        let limit = 1 << 30
        let (sent, end) = Self.flood(flooder, textBytes: 1 << 20, limitBytes: limit)
        #expect(end == .blocked, "the daemon kept reading a client that does not read (\(sent >> 20) MiB taken)")
        let grown = residentBytes() - before
        print("flood: \(sent >> 20) MiB sent before the daemon stopped reading; resident memory +\(grown >> 20) MiB")
        #expect(grown < 400 << 20, "resident memory grew by \(grown >> 20) MiB")
        // Others are served meanwhile.
        #expect(try bystander.call(.with { $0.health = .init() }).health.serving)
        #expect(try bystander.call(generateRequest(maxTokens: 3)).generate.ids.count == 3)
        // SIGTERM's drain cannot flush the flooder: it closes it at the drain timeout.
        let server = daemon.server
        let drained = finishes(within: 60) { server.drainAndStop(timeout: .seconds(2)) }
        #expect(drained, "the drain hung on a connection whose client does not read")
    }

    /// Tokenize (like detokenize and model loads) runs off the event loops. The drain used to
    /// wait for generations only: it closed the connection under a running tokenize, and the
    /// late reply went to an event loop that had shut down (NIO: "Cannot schedule tasks on an
    /// EventLoop that has already shut down", a crash in later NIO versions).
    @Test func aTokenizeRunningWhenTheDrainBeginsGetsItsReply() throws {
        let daemon = try Self.daemon()
        let client = try daemon.client()
        try client.send(.with { $0.id = 1; $0.tokenize = .with { $0.model = "text"; $0.text = Self.text(bytes: 1 << 20) } })
        // A connection's requests are dispatched in order, and health is answered on the event
        // loop: once its reply is here, the tokenize is running.
        try client.send(.with { $0.id = 2; $0.health = .init() })
        let first = try client.receive()
        #expect(first.id == 2, "the tokenize finished before the drain could begin: the test proves nothing on this machine")
        let server = daemon.server
        let start = ContinuousClock.now
        Thread.detachNewThread { server.drainAndStop(timeout: .seconds(60)) }
        let reply = try client.receive()
        #expect(reply.id == 1)
        #expect(reply.tokenize.ids.count > 10_000)
        print("tokenize reply \(ContinuousClock.now - start) after the drain began")
        #expect(throws: FrameError.closed) { _ = try client.receive() }
    }

    @Test func aConnectionThatStaysUnwritableIsClosed() throws {
        let daemon = try Self.daemon { $0.connections.unwritableTimeoutSeconds = 1 }
        let flooder = try daemon.client("flooder")
        let (_, end) = Self.flood(flooder, textBytes: 256 << 10, limitBytes: 512 << 20)
        // Blocked, or already closed if the 1 s ran out while a send was blocked.
        #expect(end != .limitReached)
        #expect(eventually { daemon.server.openConnectionCount == 0 }, "the unwritable connection was never closed")
        // What was queued before the close still arrives, then the end of the stream.
        #expect(readUntilClosed(flooder, timeout: 10).closed)
    }

    @Test func aReplyOverTheFrameLimitFailsOnlyItsRequest() throws {
        let daemon = try Self.daemon { $0.maxFrameBytes = 8192 }
        let client = try daemon.client()
        // 6 kB of CJK text fits a request frame; its ids (byte fallback) do not fit a reply.
        let cjk = String(repeating: "漢字", count: 1000)
        var big = Eagle_V1_Request.with { $0.tokenize = .with { $0.model = "text"; $0.text = cjk } }
        big.id = 7
        expectStatus(.resourceExhausted) { _ = try client.call(big) }
        // The connection, and requests with small replies, go on.
        let small = try client.call(.with { $0.tokenize = .with { $0.model = "text"; $0.text = "def f():" } })
        #expect(!small.tokenize.ids.isEmpty)
        #expect(try client.call(.with { $0.health = .init() }).health.serving)
    }
}

@Suite("Connection flow gate")
struct ConnectionFlowTests {
    @Test func waitersHoldWhileUnwritableAndGoOnWhenWritableOrCancelled() throws {
        let flow = ConnectionFlow()
        flow.setWritable(false)
        let released = Atomic<Int>(0)
        Thread.detachNewThread {
            flow.waitUntilWritable(isCancelled: { false })
            released.add(1, ordering: .relaxed)
        }
        Thread.sleep(forTimeInterval: 0.2)
        #expect(released.load(ordering: .relaxed) == 0)
        flow.setWritable(true)
        #expect(eventually { released.load(ordering: .relaxed) == 1 })

        flow.setWritable(false)
        let cancelled = Atomic<Bool>(false)
        Thread.detachNewThread {
            flow.waitUntilWritable(isCancelled: { cancelled.load(ordering: .relaxed) })
            released.add(1, ordering: .relaxed)
        }
        Thread.sleep(forTimeInterval: 0.2)
        #expect(released.load(ordering: .relaxed) == 1)
        cancelled.store(true, ordering: .relaxed)
        #expect(eventually { released.load(ordering: .relaxed) == 2 })

        flow.close()
        flow.waitUntilWritable(isCancelled: { false })  // a closed connection holds no one
    }
}
