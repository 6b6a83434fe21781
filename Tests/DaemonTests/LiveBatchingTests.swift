import Daemon
import Foundation
import Synchronization
import Testing
import Wire

/// Batched serving over the socket: requests that share target passes — started at different
/// times, of different lengths, plain and EAGLE, greedy and seeded sampling, long prompts
/// prefilled in chunks beside others decoding — get exactly the tokens each gets alone.
@Suite("Live socket: batched serving")
struct LiveBatchingTests {
    struct Job {
        var request: Eagle_V1_Request
        var delay: Double
    }

    static func jobs() -> [Job] {
        (0..<12).map { k in
            let prompt = (0..<(3 + 13 * (k % 5))).map { UInt32((7 * $0 + 11 * k + 1) % 96) }
            let sampled = k % 3 == 1
            var request = generateRequest(prompt, maxTokens: UInt32(20 + 7 * k), stream: k % 2 == 0,
                                          temperature: sampled ? 0.9 : 0, seed: UInt64(1000 + k))
            switch k % 4 {
            case 1: request.generate.speculative = .with { $0.enabled = true; $0.treeDepth = 3; $0.treeTopK = 2; $0.totalTokens = 7 }
            case 2: request.generate.speculative = .with { $0.enabled = true; $0.treeDepth = 2; $0.treeTopK = 1; $0.totalTokens = 3 }
            case 3 where !sampled: request.generate.speculative = .with { $0.enabled = true }  // the daemon's choice
            default: break
            }
            return Job(request: request, delay: 0.003 * Double(k % 4))
        }
    }

    @Test func requestsSharingPassesGetTheirSoloTokens() throws {
        let daemon = try LiveDaemon {
            $0.models = [ModelSpec(name: "tiny", target: fixtureModelPath, draft: fixtureHeadPath)]
            $0.workers = 12
        }
        let jobs = Self.jobs()
        // Alone: one request at a time.
        let client = try daemon.client()
        let solo = try jobs.map { try client.call($0.request).generate.ids }

        let shared = Mutex([[UInt32]?](repeating: nil, count: jobs.count))
        let failures = Mutex([String]())
        let group = DispatchGroup()
        let path = daemon.path
        for (k, job) in jobs.enumerated() {
            group.enter()
            Thread.detachNewThread {
                defer { group.leave() }
                do {
                    let client = try WireClient(path: path)
                    try client.hello(clientName: "batch-\(k)")
                    Thread.sleep(forTimeInterval: job.delay)
                    let ids = try client.call(job.request).generate.ids
                    shared.withLock { $0[k] = ids }
                } catch {
                    failures.withLock { $0.append("request \(k): \(error)") }
                }
            }
        }
        group.wait()
        #expect(failures.withLock { $0 } == [])
        let results = shared.withLock { $0 }
        for k in jobs.indices {
            #expect(results[k] == solo[k], "request \(k) (\(jobs[k].request.generate.speculative.enabled ? "EAGLE" : "plain"))")
        }
        let stats = try client.call(.with { $0.getStats = .with { $0.model = "tiny" } }).stats.models[0]
        #expect(stats.batching && stats.passes > 0 && stats.passTokens >= stats.passes)
        #expect(stats.passHistogram.count == 6 && stats.passHistogram.reduce(0, +) == stats.passes)
        #expect(stats.passHistogram.dropFirst().reduce(0, +) > 0, "some passes were shared: \(stats.passHistogram)")
    }

    /// With batching off every request runs its own passes, and the statistics say so.
    @Test func batchingOffRunsEachRequestAlone() throws {
        let daemon = try LiveDaemon { $0.batching = false }
        let client = try daemon.client()
        let reply = try client.call(generateRequest(maxTokens: 8)).generate
        #expect(reply.ids.count == 8)
        let stats = try client.call(.with { $0.getStats = .with { $0.model = "tiny" } }).stats.models[0]
        #expect(!stats.batching && stats.passes == 0 && stats.passHistogram.isEmpty)
    }
}

@Test func batchingIsOnByDefaultAndConfigurable() throws {
    #expect(DaemonConfig().batching)
    let off = try JSONDecoder().decode(DaemonConfig.self, from: Data(#"{"batching": false, "workers": 4}"#.utf8))
    #expect(!off.batching && off.workers == 4)
}
