import ArgumentParser
import Daemon
import Foundation
import Inference
import Logging
import Synchronization
import Tokenization
import Wire

/// Benchmark of the daemon path against the in-process generator (prints figures; not a test).
///
/// Same prompts, same greedy token counts: in-process `PlainGenerator` vs the same
/// generation requested over a Unix socket from an in-process `DaemonServer` (framing,
/// protobuf, event loop, scheduler hop and a client thread included). Then time to first
/// token, and throughput with 1, 4 and 16 concurrent clients.
struct DaemonBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "overhead",
        abstract: "Daemon-path overhead, time to first token and concurrent throughput (the default).")

    @Option(help: "Model directory (default: Models/tiny-pystd, else the tiny test fixture).") var model: String?
    @Option(help: "Tokens generated per request.") var tokens = 128
    @Option(help: "Rounds of the overhead comparison (medians are reported).") var rounds = 5
    @Option(help: "Daemon worker threads per model.") var workers = 2
    @Option(help: "Requests per concurrency level in the throughput test.") var requests = 16

    func run() throws {
        let directory = model ?? (FileManager.default.fileExists(atPath: "Models/tiny-pystd/config.json")
            ? "Models/tiny-pystd" : "Tests/Fixtures/models/tiny-llama3-f16-sharded")
        let llama = try LlamaModel(directory: URL(fileURLWithPath: directory))
        let tokenizer = FileManager.default.fileExists(atPath: directory + "/tokenizer.json")
            ? try Tokenizer.load(directory: URL(fileURLWithPath: directory)) : nil
        let prompts = Self.prompts(tokenizer: tokenizer, vocabulary: llama.config.vocabSize)
        print("model \(directory): \(llama.config.parameterCount) parameters, BLAS core \(BLASInfo.coreName), \(BLASInfo.threadCount) BLAS threads")
        print("\(prompts.count) prompts (\(prompts.map(\.count).min()!)–\(prompts.map(\.count).max()!) tokens), \(tokens) tokens each, greedy, ignore_eos; \(rounds) rounds")

        var config = DaemonConfig()
        config.socket = "/tmp/eagled-bench-\(getpid()).sock"
        config.models = [ModelSpec(name: "bench", target: directory)]
        config.workers = workers
        config.queueLimit = 256
        let (server, _) = try Self.startDaemon(config)
        defer { server.drainAndStop(timeout: .seconds(30)) }

        let generator = PlainGenerator(model: llama, tokenizer: tokenizer)
        let params = GenerationParams(maxTokens: tokens, sampling: .greedy, ignoreEOS: true)
        let client = try WireClient(path: config.socket)
        try client.hello(clientName: "bench")

        // Warm-up both paths.
        _ = try Self.inProcess(generator, prompts[0], params)
        _ = try Self.overSocket(client, prompts[0], tokens: tokens, stream: true)

        var inProc: [Run] = [], streamed: [Run] = [], blocking: [Run] = []
        for _ in 0..<rounds {
            inProc.append(try Run.sum(prompts.map { try Self.inProcess(generator, $0, params) }))
            streamed.append(try Run.sum(prompts.map { try Self.overSocket(client, $0, tokens: tokens, stream: true) }))
            blocking.append(try Run.sum(prompts.map { try Self.overSocket(client, $0, tokens: tokens, stream: false) }))
        }
        let base = Run.median(inProc), s = Run.median(streamed), b = Run.median(blocking)
        print("")
        print("path                     wall/token     tok/s   TTFT (mean)   overhead vs in-process")
        for (name, run) in [("in-process generator", base), ("daemon, streaming", s), ("daemon, blocking", b)] {
            let overhead = (run.wall - base.wall) / base.wall * 100
            let perToken = (run.wall - base.wall) / Double(run.tokens) * 1e6
            let ttft = name.hasSuffix("blocking") ? "        —   " : String(format: "%9.2f ms", run.firstToken / Double(run.requests) * 1e3)
            let pad = name.padding(toLength: 22, withPad: " ", startingAt: 0)
            print(String(format: "%@ %9.1f µs %9.0f   %@   %@", pad, run.wall / Double(run.tokens) * 1e6, Double(run.tokens) / run.wall,
                         ttft, name.hasPrefix("in-") ? "—" : String(format: "%+.2f %% (%+.1f µs/token)", overhead, perToken)))
        }

        print("")
        print("concurrent clients (\(requests) requests of \(tokens) tokens, \(workers) workers)")
        print("clients   wall       tok/s    mean latency   mean TTFT")
        for clients in [1, 4, 16] {
            let result = try BatchingBench.level(path: config.socket, clients: clients, perClient: max(1, requests / clients),
                                                 prompts: prompts, tokens: tokens, speculative: nil)
            print(String(format: "%7d %7.2f s %9.0f %11.1f ms %9.1f ms", clients, result.wall, result.throughput,
                         result.meanLatency * 1e3, result.meanFirstToken * 1e3))
        }
    }

    /// Wall time, tokens and time to first token of one or more requests.
    struct Run {
        var wall: Double
        var tokens: Int
        var firstToken: Double
        var requests: Int

        static func sum(_ runs: [Run]) -> Run {
            Run(wall: runs.map(\.wall).reduce(0, +), tokens: runs.map(\.tokens).reduce(0, +),
                firstToken: runs.map(\.firstToken).reduce(0, +), requests: runs.count)
        }

        static func median(_ runs: [Run]) -> Run { runs.sorted { $0.wall < $1.wall }[runs.count / 2] }
    }

    /// An in-process daemon serving `config`'s first model on `config.socket`, quiet but for errors.
    static func startDaemon(_ config: DaemonConfig) throws -> (DaemonServer, ModelRegistry) {
        var logger = Logger(label: "bench")
        logger.logLevel = .error
        let registry = ModelRegistry(config: config)
        try registry.load(config.models[0], checkRoot: false)
        let service = DaemonService(config: config, registry: registry, policy: AccessPolicy(), logger: logger)
        let server = DaemonServer(service: service, listener: .path(config.socket, mode: 0o600), logger: logger)
        try server.start()
        return (server, registry)
    }

    static func prompts(tokenizer: Tokenizer?, vocabulary: Int) -> [[TokenID]] {
        let texts = ["def fibonacci(n):", "import os\nimport sys\n\n", "class Stack:\n    def __init__(self):",
                     "for i in range(10):", "def read_file(path):\n    with open(path) as f:",
                     "# Sort a list of numbers\n", "if __name__ == \"__main__\":", "def parse_args():\n    parser ="]
        if let tokenizer { return texts.map { tokenizer.encode($0, addSpecialTokens: true) } }
        return texts.map { text in text.utf8.prefix(24).map { TokenID(Int($0) % vocabulary) } }
    }

    static func inProcess(_ generator: PlainGenerator, _ prompt: [TokenID], _ params: GenerationParams) throws -> Run {
        let start = ContinuousClock.now
        var first: Duration?
        let result = try generator.generate(prompt: prompt, params: params) { _ in
            if first == nil { first = ContinuousClock.now - start }
            return .proceed
        }
        return Run(wall: (ContinuousClock.now - start).seconds, tokens: result.tokens.count, firstToken: first?.seconds ?? 0, requests: 1)
    }

    static func request(_ prompt: [TokenID], tokens: Int, stream: Bool) -> Eagle_V1_Request {
        .with {
            $0.generate = .with {
                $0.tokens = .with { $0.ids = prompt.map { UInt32(bitPattern: $0) } }
                $0.maxTokens = UInt32(tokens)
                $0.ignoreEos = true
                $0.stream = stream
            }
        }
    }

    static func overSocket(_ client: WireClient, _ prompt: [TokenID], tokens: Int, stream: Bool) throws -> Run {
        let start = ContinuousClock.now
        var first: Duration?
        let response = try client.call(request(prompt, tokens: tokens, stream: stream)) { _ in
            if first == nil { first = ContinuousClock.now - start }
        }
        let wall = (ContinuousClock.now - start).seconds
        return Run(wall: wall, tokens: response.generate.ids.count, firstToken: first?.seconds ?? wall, requests: 1)
    }
}

/// `eagle-daemon-bench [overhead]` (figures of the daemon path) and `eagle-daemon-bench soak`.
struct DaemonBenchTool: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eagle-daemon-bench",
        abstract: "Benchmarks of the daemon: its overhead and concurrency, and a soak of a real eagled.",
        subcommands: [DaemonBench.self, BatchingBench.self, Soak.self], defaultSubcommand: DaemonBench.self)
}

DaemonBenchTool.main()
