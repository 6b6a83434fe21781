@testable import Daemon
import Foundation
import Inference
import Synchronization
import Testing
import Tokenization
import Wire

/// A generator that streams `events` events of `textBytes` bytes each as fast as it can,
/// counting how many it produced (shared with the test through `produced`).
struct FloodingGeneratorFactory: GeneratorFactory {
    let produced: Counter
    var events = 2_500
    var textBytes = 4096
    /// Runs on the worker before the first event.
    var beforeFirstEvent: @Sendable () -> Void = {}

    final class Counter: Sendable {
        let value = Atomic<Int>(0)
    }

    func decoding(_ options: Eagle_V1_SpeculativeOptions, for model: ServedModel, sampled: Bool) throws(ServiceError) -> DecodingDecision {
        DecodingDecision(.plain, reason: "requested", expectedTokensPerStep: 1)
    }

    func makeGenerator(_ decoding: DecodingChoice, for model: ServedModel) -> any TokenGenerator {
        FloodingGenerator(produced: produced, events: events, text: String(repeating: "z", count: textBytes),
                          beforeFirstEvent: beforeFirstEvent)
    }
}

struct FloodingGenerator: TokenGenerator {
    let produced: FloodingGeneratorFactory.Counter
    let events: Int
    let text: String
    let beforeFirstEvent: @Sendable () -> Void

    func generate(prompt: [TokenID], params: GenerationParams, isCancelled: () -> Bool,
                  onEvent: (GenerationEvent) -> GenerationControl) throws -> GenerationResult {
        var count = 0
        var stop = StopReason.maxTokens
        beforeFirstEvent()
        while count < events {
            count += 1
            produced.value.add(1, ordering: .relaxed)
            if onEvent(GenerationEvent(tokens: [1], text: text, stats: StepStats(tokenCount: 1))) == .cancel {
                stop = .cancelled
                break
            }
        }
        return GenerationResult(tokens: Array(repeating: 1, count: count), text: "", stopReason: stop,
                                promptTokenCount: prompt.count, steps: count, prefillSeconds: 0, decodeSeconds: 0)
    }
}

@Suite("Live socket: streams wait for a client that does not read")
struct LiveStreamPauseTests {
    /// A loaded machine's event loop runs its tasks late. The stream's gate looked only at
    /// the channel's buffer, which frames reach when the loop runs them, so a worker went on
    /// queueing frames for a loop that was busy (held 1 473 events, 5.9 MB, when the full
    /// suite ran beside fuzzers, against a bound of 1 250). Frames handed to the loop count
    /// now: with the loop held for 2 s, the generator stops at about the high water mark.
    @Test func aStreamWaitsForAnEventLoopThatIsBehind() throws {
        let produced = FloodingGeneratorFactory.Counter()
        let server = Mutex<DaemonServer?>(nil)
        var factory = FloodingGeneratorFactory(produced: produced)
        // Once the stream starts, its connection's (only) event loop is busy for 2 s.
        factory.beforeFirstEvent = {
            guard let loop = server.withLock({ $0?.group.next() }) else { return }
            let held = DispatchSemaphore(value: 0)
            loop.execute {
                held.signal()
                Thread.sleep(forTimeInterval: 2)
            }
            held.wait()
        }
        let daemon = try LiveDaemon(factory: factory)
        server.withLock { $0 = daemon.server }
        defer { server.withLock { $0 = nil } }  // the factory's closure holds it: break the cycle
        let client = try daemon.client()
        var request = generateRequest(maxTokens: 100)
        request.generate.stream = true
        request.id = 1
        try client.send(request)
        Thread.sleep(forTimeInterval: 1.5)  // within the 2 s
        let held = produced.value.load(ordering: .relaxed)
        // 1 MiB may wait for the loop: ~256 events of 4 kB (the old gate let all 2 500 through).
        #expect(held < 400, "\(held) events of 4 kB were produced while the event loop was busy")
        client.close()
    }

    @Test func aStreamIsHeldWhileItsClientDoesNotRead() throws {
        let produced = FloodingGeneratorFactory.Counter()
        let daemon = try LiveDaemon(factory: FloodingGeneratorFactory(produced: produced))
        let client = try daemon.client()
        var request = generateRequest(maxTokens: 100)
        request.generate.stream = true
        request.id = 1
        try client.send(request)
        // Let the generator run until it stops making progress (or produced everything).
        var last = -1
        for _ in 0..<50 {
            Thread.sleep(forTimeInterval: 0.2)
            let now = produced.value.load(ordering: .relaxed)
            if now == last || now >= 2_500 { break }
            last = now
        }
        let held = produced.value.load(ordering: .relaxed)
        // 10 MB were on offer; without backpressure all of it was buffered for the client.
        // Held: the socket buffers (~200 kB), the 1 MiB high water mark and one 64 kB chunk.
        #expect(held < 1_250, "\(held) events of 4 kB were produced for a client that reads nothing")
        // Reading resumes the stream; the client gets every byte, in order.
        setReceiveTimeout(client, seconds: 60)
        var text = 0
        var response = try client.receive()
        while !response.isTerminal {
            text += response.chunk.text.utf8.count
            response = try client.receive()
        }
        #expect(response.generate.ids.count == 2_500, "\(response.status.message)")
        #expect(text == 2_500 * 4096)
    }
}
