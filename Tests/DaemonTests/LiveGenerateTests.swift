import Daemon
import Foundation
import Testing
import Wire

@Suite("Live socket: generation")
struct LiveGenerateTests {
    @Test func helloHealthAndModels() throws {
        let daemon = try LiveDaemon()
        let client = try WireClient(path: daemon.path)
        let hello = try client.hello(clientName: "t")
        #expect(hello.magic == WireProtocol.magic)
        #expect(hello.protocolVersion == 1)
        #expect(hello.maxFrameBytes == UInt32(WireProtocol.defaultMaxFrameBytes))
        let health = try client.call(.with { $0.health = .init() }).health
        #expect(health.serving && health.models == 1 && !health.draining)
        let models = try client.call(.with { $0.listModels = .init() }).models.models
        #expect(models.map(\.name) == ["tiny"])
        #expect(models[0].vocabSize == 96 && models[0].contextLength == 256 && !models[0].hasDraft_p)
    }

    @Test func streamedChunksAddUpToTheBlockingResult() throws {
        let daemon = try LiveDaemon()
        let client = try daemon.client()
        let blocking = try client.call(generateRequest(maxTokens: 24)).generate
        #expect(blocking.ids.count == 24)
        #expect(blocking.stopReason == .maxTokens)
        #expect(blocking.promptTokens == 4)
        #expect(blocking.steps == 24 && blocking.meanAccepted == 1)
        var chunks: [UInt32] = []
        let streamed = try client.call(generateRequest(maxTokens: 24, stream: true)) { chunks += $0.ids }.generate
        #expect(streamed.ids == blocking.ids)
        #expect(chunks == blocking.ids)
    }

    @Test func seededSamplingIsReproducibleAndEchoesTheSeed() throws {
        let daemon = try LiveDaemon()
        let client = try daemon.client()
        let a = try client.call(generateRequest(maxTokens: 20, temperature: 1.5, seed: 42)).generate
        let b = try client.call(generateRequest(maxTokens: 20, temperature: 1.5, seed: 42)).generate
        #expect(a.ids == b.ids)
        #expect(a.seed == 42)
        let chosen = try client.call(generateRequest(maxTokens: 4, temperature: 1, seed: 0)).generate
        #expect(chosen.seed != 0)
    }

    @Test func eightConcurrentClientsMatchSequentialRuns() throws {
        let daemon = try LiveDaemon { $0.workers = 2 }
        var requests: [Eagle_V1_Request] = []
        for i in 0..<8 {
            let prompt: [UInt32] = [1, UInt32(3 + i), UInt32(40 + i)]
            let temperature: Float = i % 3 == 0 ? 0 : 0.9
            requests.append(generateRequest(prompt, maxTokens: UInt32(24 + i), stream: i % 2 == 0,
                                            temperature: temperature, seed: UInt64(100 + i)))
        }
        let sequential = try requests.map { request in try daemon.client().call(request).generate.ids }
        let path = daemon.path
        let fixed = requests
        let concurrent = try onThreads(8) { i in
            let client = try WireClient(path: path)
            try client.hello()
            return try client.call(fixed[i]).generate.ids
        }
        #expect(concurrent == sequential)
        let stats = try daemon.client().call(.with { $0.getStats = .with { $0.model = "tiny" } }).stats.models[0]
        #expect(stats.requests == 16)
        #expect(stats.tokensGenerated == UInt64(sequential.map(\.count).reduce(0, +) * 2))
        #expect(stats.meanAccepted == 1 && stats.tokensPerSecond > 0)
    }

    @Test func manyRequestsInFlightOnOneConnectionAreMatchedByID() throws {
        let daemon = try LiveDaemon()
        let client = try daemon.client()
        var expected: [UInt64: [UInt32]] = [:]
        for i in 0..<5 {
            var request = generateRequest([1, UInt32(10 + i)], maxTokens: UInt32(5 + i), stream: true)
            request.id = UInt64(100 + i)
            expected[request.id] = try daemon.client().call(generateRequest([1, UInt32(10 + i)], maxTokens: UInt32(5 + i))).generate.ids
            try client.send(request)
        }
        var streamed: [UInt64: [UInt32]] = [:]
        var results: [UInt64: [UInt32]] = [:]
        while results.count < 5 {
            let response = try client.receive()
            switch response.kind {
            case .chunk(let chunk): streamed[response.id, default: []] += chunk.ids
            case .generate(let result):
                #expect(results[response.id] == nil, "one terminal response per request")
                results[response.id] = result.ids
            default: Issue.record("unexpected \(response)")
            }
        }
        #expect(results == expected)
        #expect(streamed == expected)
    }

    @Test func unsetMaxTokensMeansTheServerDefault() throws {
        let daemon = try LiveDaemon { $0.defaultMaxTokens = 11 }
        let client = try daemon.client()
        let result = try client.call(generateRequest(maxTokens: nil)).generate
        #expect(result.ids.count == 11)
        // An explicit 0 is not "the default" but a mistake (LiveBadInputTests has it too).
        expectStatus(.invalidArgument) { _ = try client.call(generateRequest(maxTokens: 0)) }
    }

    @Test func cancelMidStreamFreesTheSlot() throws {
        let daemon = try LiveDaemon(configure: { $0.workers = 1 }, factory: SlowGeneratorFactory())
        let client = try daemon.client()
        var long = generateRequest(maxTokens: 200, stream: true)
        long.id = 7
        try client.send(long)
        // Wait for the first chunk: the request is running.
        let first = try client.receive()
        #expect(first.id == 7 && first.isTerminal == false)
        try client.send(.with { $0.id = 8; $0.cancel = .with { $0.targetID = 7 } })
        var sawCancelAck = false
        var terminal: Eagle_V1_Response?
        while terminal == nil || !sawCancelAck {
            let response = try client.receive()
            if response.id == 8 { sawCancelAck = response.cancelled == Eagle_V1_Empty() }
            if response.id == 7 && response.isTerminal { terminal = response }
        }
        #expect(terminal?.status.code == .cancelled)
        // The single worker is free again: a new request completes.
        let after = try client.call(generateRequest(maxTokens: 3)).generate
        #expect(after.ids.count == 3)
        let scheduler = daemon.service.registry.all[0].scheduler
        #expect(eventually { scheduler.load.active == 0 })
    }

    @Test func cancellingAQueuedRequestAnswersAtOnce() throws {
        let daemon = try LiveDaemon(configure: { $0.workers = 1 }, factory: SlowGeneratorFactory())
        let client = try daemon.client()
        var running = generateRequest(maxTokens: 200, stream: true)
        running.id = 1
        var queued = generateRequest(maxTokens: 200)
        queued.id = 2
        try client.send(running)
        _ = try client.receive()  // first chunk of 1: the worker is busy
        try client.send(queued)
        try client.send(.with { $0.id = 3; $0.cancel = .with { $0.targetID = 2 } })
        try client.send(.with { $0.id = 4; $0.cancel = .with { $0.targetID = 1 } })
        var terminals: [UInt64: Eagle_V1_Response] = [:]
        while terminals.count < 4 {
            let response = try client.receive()
            if response.isTerminal {
                #expect(terminals[response.id] == nil)
                terminals[response.id] = response
            }
        }
        #expect(terminals[2]?.status.code == .cancelled)
        #expect(terminals[1]?.status.code == .cancelled)
        #expect(terminals[3]?.kind == .cancelled(Eagle_V1_Empty()))
        expectStatus(.notFound) { _ = try client.call(.with { $0.cancel = .with { $0.targetID = 99 } }) }
    }

    @Test func aVanishingClientCancelsItsRequests() throws {
        let daemon = try LiveDaemon(configure: { $0.workers = 1 }, factory: SlowGeneratorFactory())
        do {
            let client = try daemon.client()
            try client.send(generateRequest(maxTokens: 250, stream: true))
            _ = try client.receive()
            try client.send(generateRequest(maxTokens: 250, stream: true))
            client.close()
        }
        let scheduler = daemon.service.registry.all[0].scheduler
        #expect(eventually { scheduler.load.active == 0 && scheduler.load.queued == 0 })
        let result = try daemon.client().call(generateRequest(maxTokens: 2)).generate
        #expect(result.ids.count == 2)
    }

    @Test func fullQueueIsResourceExhausted() throws {
        let daemon = try LiveDaemon(configure: { $0.workers = 1; $0.queueLimit = 1 }, factory: SlowGeneratorFactory())
        let client = try daemon.client()
        var first = generateRequest(maxTokens: 100, stream: true)
        first.id = 1
        try client.send(first)
        _ = try client.receive()
        var second = generateRequest(maxTokens: 2)
        second.id = 2
        try client.send(second)
        expectStatus(.resourceExhausted) { _ = try daemon.client().call(generateRequest(maxTokens: 2)) }
        try client.send(.with { $0.id = 3; $0.cancel = .with { $0.targetID = 1 } })
        var terminals: [UInt64: Eagle_V1_Response] = [:]
        while terminals.count < 3 {
            let response = try client.receive()
            if response.isTerminal { terminals[response.id] = response }
        }
        #expect(terminals[2]?.generate.ids.count == 2)
    }

    @Test func drainFinishesInFlightWorkAndRefusesNewWork() throws {
        let daemon = try LiveDaemon(configure: { $0.workers = 1 }, factory: SlowGeneratorFactory(delaySeconds: 0.005))
        let client = try daemon.client()
        var request = generateRequest(maxTokens: 60, stream: true)
        request.id = 1
        try client.send(request)
        _ = try client.receive()
        let server = daemon.server
        let stopper = Thread { server.drainAndStop(timeout: .seconds(10)) }
        stopper.start()
        var result: Eagle_V1_GenerateResult?
        while result == nil {
            let response = try client.receive()
            if case .generate(let r) = response.kind { result = r }
            if case .status(let s) = response.kind { Issue.record("drain failed the request: \(s)"); break }
        }
        #expect(result?.ids.count == 60)
        let done = DispatchSemaphore(value: 0)
        Task { await server.stopped(); done.signal() }
        done.wait()
        #expect(throws: FrameError.self) { _ = try WireClient(path: daemon.path) }
    }

    @Test(.enabled(if: bundledModelPresent, "Models/tiny-pystd is not present"))
    func textPromptsOnTheBundledModel() throws {
        let daemon = try LiveDaemon { $0.models = [ModelSpec(name: "pystd", target: bundledModelPath)] }
        let client = try daemon.client()
        let ids = try client.call(.with { $0.tokenize = .with { $0.text = "def f(x):"; $0.addSpecialTokens = false } }).tokenize.ids
        #expect(!ids.isEmpty)
        let text = try client.call(.with { $0.detokenize = .with { $0.ids = ids } }).detokenize.text
        #expect(text == "def f(x):")
        var streamedText = ""
        let result = try client.call(.with {
            $0.generate = .with { $0.text = "def fibonacci(n):"; $0.maxTokens = 40; $0.stream = true }
        }) { streamedText += $0.text }.generate
        #expect(!result.ids.isEmpty)
        #expect(streamedText == result.text)
        let stopped = try client.call(.with {
            $0.generate = .with { $0.text = "def fibonacci(n):"; $0.maxTokens = 40; $0.stop = ["\n"] }
        }).generate
        #expect(!stopped.text.contains("\n"))
    }
}
