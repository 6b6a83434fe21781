import Daemon
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

    final class Counter: Sendable {
        let value = Atomic<Int>(0)
    }

    func decoding(_ options: Eagle_V1_SpeculativeOptions, for model: ServedModel, sampled: Bool) throws(ServiceError) -> DecodingDecision {
        DecodingDecision(.plain, reason: "requested", expectedTokensPerStep: 1)
    }

    func makeGenerator(_ decoding: DecodingChoice, for model: ServedModel) -> any TokenGenerator {
        FloodingGenerator(produced: produced, events: events, text: String(repeating: "z", count: textBytes))
    }
}

struct FloodingGenerator: TokenGenerator {
    let produced: FloodingGeneratorFactory.Counter
    let events: Int
    let text: String

    func generate(prompt: [TokenID], params: GenerationParams, isCancelled: () -> Bool,
                  onEvent: (GenerationEvent) -> GenerationControl) throws -> GenerationResult {
        var count = 0
        var stop = StopReason.maxTokens
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
