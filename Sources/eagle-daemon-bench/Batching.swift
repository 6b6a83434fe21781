import ArgumentParser
import Daemon
import Foundation
import Inference
import Logging
import Synchronization
import Tokenization
import Wire

/// Aggregate throughput and per-request latency with 1…16 concurrent clients, batching off
/// and on side by side (two in-process daemons on the same weights, levels interleaved),
/// plain decoding and EAGLE (prints figures; not a test).
struct BatchingBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "batching",
        abstract: "Concurrent throughput with batched serving off and on, plain and EAGLE.")

    @Option(help: "Model directory (default: Models/tiny-pystd).") var model = "Models/tiny-pystd"
    @Option(help: "EAGLE head directory (default: Models/tiny-pystd-eagle when the model is the bundled one; none: plain only).")
    var draft: String?
    @Option(help: "Concurrent clients, comma-separated.") var clients = "1,2,4,8,16"
    @Option(help: "Tokens generated per request.") var tokens = 64
    @Option(help: "Requests each client sends, one after another.") var requestsPerClient = 2
    @Option(help: "Rounds of each configuration; medians are reported.") var rounds = 3
    @Option(help: "EAGLE tree: 'auto' (the daemon's choice) or DEPTH,TOP_K,TOTAL.") var tree = "auto"
    @Option(help: "Context length of each request's KV cache.") var context = 1024

    func run() throws {
        let levels = try clients.split(separator: ",").map { text -> Int in
            guard let n = Int(text.trimmingCharacters(in: .whitespaces)), n > 0 else { throw ValidationError("--clients: bad count '\(text)'") }
            return n
        }
        let draftDirectory = draft ?? (model == "Models/tiny-pystd" ? "Models/tiny-pystd-eagle" : nil)
        let treeOptions = try Self.treeOptions(tree)
        let directory = URL(fileURLWithPath: model)
        let tokenizer = FileManager.default.fileExists(atPath: model + "/tokenizer.json") ? try Tokenizer.load(directory: directory) : nil
        let config = try ModelConfig.load(directory: directory)
        let prompts = DaemonBench.prompts(tokenizer: tokenizer, vocabulary: config.vocabSize)
        let workers = levels.max()!

        var daemons: [(name: String, server: DaemonServer, socket: String, registry: ModelRegistry)] = []
        for batching in [false, true] {
            var settings = DaemonConfig()
            settings.socket = "/tmp/eagled-batch-bench-\(getpid())-\(batching ? "on" : "off").sock"
            settings.models = [ModelSpec(name: "bench", target: model, draft: draftDirectory, contextLength: context, workers: workers)]
            settings.workers = workers
            settings.queueLimit = 1024
            settings.batching = batching
            settings.connections.maxQueuedPerConnection = 1024
            let (server, registry) = try DaemonBench.startDaemon(settings)
            daemons.append((batching ? "on" : "off", server, settings.socket, registry))
        }
        defer { for d in daemons { d.server.drainAndStop(timeout: .seconds(30)) } }

        print("model \(model)\(draftDirectory.map { " + head \($0)" } ?? ""), \(KernelInfo.summary), context \(context)")
        print("\(tokens) tokens per request, \(requestsPerClient) requests per client, greedy, ignore_eos; \(rounds) rounds, medians")
        let modes: [(String, Eagle_V1_SpeculativeOptions?)] = [("plain", nil)] + (draftDirectory == nil ? [] : [("eagle \(tree)", treeOptions)])
        for d in daemons {  // warm-up: first requests pay page faults and calibration
            _ = try Self.level(path: d.socket, clients: 1, perClient: 1, prompts: prompts, tokens: tokens, speculative: nil)
        }
        print("")
        print("mode          clients  batching     tok/s   ×1 client   ×off   mean TTFT   request tok/s   req/pass  tok/pass")
        for (mode, speculative) in modes {
            var single: [String: Double] = [:]
            for clientCount in levels {
                var results: [String: [Level]] = [:]
                for _ in 0..<rounds {
                    for d in daemons {
                        let before = (try? d.registry.model(named: "bench"))?.combiner?.snapshot ?? PassStatistics()
                        var result = try Self.level(path: d.socket, clients: clientCount, perClient: requestsPerClient, prompts: prompts,
                                                    tokens: tokens, speculative: speculative)
                        let after = (try? d.registry.model(named: "bench"))?.combiner?.snapshot ?? PassStatistics()
                        result.passes = after.passes - before.passes
                        result.passRows = after.rows - before.rows
                        result.passSessions = after.sessions - before.sessions
                        results[d.name, default: []].append(result)
                    }
                }
                let off = Level.median(results["off"]!).throughput
                for d in daemons {
                    let r = Level.median(results[d.name]!)
                    if clientCount == levels.first { single[d.name] = r.throughput }
                    let passes = Double(max(1, r.passes))
                    let perPass = r.passes == 0 ? "       —         —"
                        : String(format: "%9.2f %9.2f", Double(r.passSessions) / passes, Double(r.passRows) / passes)
                    print(String(format: "%-12@ %8d  %-8@ %9.1f %9.2f× %6.2f× %9.1f ms %13.1f %@", mode, clientCount, d.name, r.throughput,
                                 r.throughput / (single[d.name] ?? r.throughput), r.throughput / off, r.meanFirstToken * 1e3,
                                 r.meanRequestRate, perPass))
                }
            }
        }
    }

    /// One concurrency level's figures.
    struct Level {
        var wall: Double
        var tokens: Int
        var meanFirstToken: Double
        var meanLatency: Double
        /// Mean over requests of tokens ÷ time after the first token.
        var meanRequestRate: Double
        var passes = 0, passRows = 0, passSessions = 0

        var throughput: Double { Double(tokens) / wall }

        static func median(_ levels: [Level]) -> Level { levels.sorted { $0.throughput < $1.throughput }[levels.count / 2] }
    }

    static func treeOptions(_ text: String) throws -> Eagle_V1_SpeculativeOptions {
        if text == "auto" { return .with { $0.enabled = true } }
        let parts = text.split(separator: ",").compactMap { UInt32($0) }
        guard parts.count == 3 else { throw ValidationError("--tree expects auto or DEPTH,TOP_K,TOTAL, got '\(text)'") }
        return .with {
            $0.enabled = true
            $0.treeDepth = parts[0]
            $0.treeTopK = parts[1]
            $0.totalTokens = parts[2]
        }
    }

    /// `clients` connections each sending `perClient` streamed requests in turn.
    static func level(path: String, clients: Int, perClient: Int, prompts: [[TokenID]], tokens: Int,
                      speculative: Eagle_V1_SpeculativeOptions?) throws -> Level {
        struct One { var tokens: Int; var firstToken: Double; var wall: Double }
        let runs = Mutex<[One]>([])
        let failures = Mutex<[String]>([])
        let group = DispatchGroup()
        let start = ContinuousClock.now
        for c in 0..<clients {
            group.enter()
            Thread.detachNewThread {
                defer { group.leave() }
                do {
                    let client = try WireClient(path: path)
                    try client.hello(clientName: "bench-\(c)")
                    for r in 0..<perClient {
                        var request = DaemonBench.request(prompts[(c * perClient + r) % prompts.count], tokens: tokens, stream: true)
                        if let speculative { request.generate.speculative = speculative }
                        let begin = ContinuousClock.now
                        var first: Duration?
                        let response = try client.call(request) { _ in
                            if first == nil { first = ContinuousClock.now - begin }
                        }
                        let wall = (ContinuousClock.now - begin).seconds
                        runs.withLock { $0.append(One(tokens: response.generate.ids.count, firstToken: first?.seconds ?? wall, wall: wall)) }
                    }
                } catch {
                    failures.withLock { $0.append("\(error)") }
                }
            }
        }
        group.wait()
        let wall = (ContinuousClock.now - start).seconds
        if let failure = failures.withLock({ $0.first }) { throw ValidationError("a client failed: \(failure)") }
        let all = runs.withLock { $0 }
        let n = Double(max(1, all.count))
        return Level(wall: wall, tokens: all.map(\.tokens).reduce(0, +), meanFirstToken: all.map(\.firstToken).reduce(0, +) / n,
                     meanLatency: all.map(\.wall).reduce(0, +) / n,
                     meanRequestRate: all.map { Double(max(0, $0.tokens - 1)) / max(1e-9, $0.wall - $0.firstToken) }.reduce(0, +) / n)
    }
}
