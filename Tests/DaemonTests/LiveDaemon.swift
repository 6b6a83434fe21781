import Daemon
@_exported import TestSupport
import Foundation
import Inference
import Logging
import Synchronization
import Testing
import Tokenization
import Wire

/// The repository root, found from this file's location (Tests/DaemonTests/…).

let fixtureModelPath = repositoryRoot.appendingPathComponent("Tests/Fixtures/models/tiny-llama3-f16-sharded").path
/// The bundled model with a tokenizer; text tests run only when it is present.
let bundledModelPath = repositoryRoot.appendingPathComponent("Models/tiny-pystd").path
let bundledModelPresent = FileManager.default.fileExists(atPath: bundledModelPath + "/tokenizer.json")

/// A short unique socket path (sun_path holds 107 bytes).
func temporarySocketPath() -> String {
    "/tmp/eagled-test-\(getpid())-\(UUID().uuidString.prefix(8)).sock"
}

/// A daemon running in this process on a temporary socket, with the tiny fixture model.
final class LiveDaemon {
    let path: String
    let server: DaemonServer
    var service: DaemonService { server.service }

    init(configure: (inout DaemonConfig) -> Void = { _ in }, factory: any GeneratorFactory = StandardGeneratorFactory(),
         policy: AccessPolicy = AccessPolicy()) throws {
        path = temporarySocketPath()
        var config = DaemonConfig()
        config.socket = path
        config.models = [ModelSpec(name: "tiny", target: fixtureModelPath)]
        configure(&config)
        try config.validate()
        var logger = Logger(label: "eagled-test")
        logger.logLevel = .critical
        let registry = ModelRegistry(config: config)
        for spec in config.models { try registry.load(spec, checkRoot: false) }
        let service = DaemonService(config: config, registry: registry, policy: policy, factory: factory, logger: logger)
        server = DaemonServer(service: service, listener: .path(path, mode: 0o600), logger: logger)
        try server.start()
    }

    deinit { stop() }

    /// A connected client that has exchanged hellos.
    func client(_ name: String = "test") throws -> WireClient {
        let client = try WireClient(path: path)
        try client.hello(clientName: name)
        return client
    }

    func stop() { server.drainAndStop(timeout: .seconds(10)) }
}

/// A generate request for token ids.
/// `maxTokens: nil` leaves the field unset (the server default).
func generateRequest(_ ids: [UInt32] = [1, 5, 9, 17], maxTokens: UInt32? = 16, stream: Bool = false,
                     temperature: Float = 0, seed: UInt64 = 0, ignoreEOS: Bool = true, model: String = "") -> Eagle_V1_Request {
    .with {
        $0.generate = .with {
            $0.model = model
            $0.tokens = .with { $0.ids = ids }
            if let maxTokens { $0.maxTokens = maxTokens }
            $0.stream = stream
            $0.ignoreEos = ignoreEOS
            $0.sampling = .with { $0.temperature = temperature; $0.seed = seed; $0.topK = 20 }
        }
    }
}

/// Expects a call to fail with `code`.
func expectStatus(_ code: Eagle_V1_Code, sourceLocation: SourceLocation = #_sourceLocation,
                  _ body: () throws -> Void) {
    do {
        try body()
        Issue.record("expected \(code), got a result", sourceLocation: sourceLocation)
    } catch {
        guard case .failed(let status) = error as? CallError else {
            Issue.record("expected \(code), got \(error)", sourceLocation: sourceLocation)
            return
        }
        #expect(status.code == code, "\(status.message)", sourceLocation: sourceLocation)
    }
}

/// Reads responses until the server closes the connection; returns them.
func readUntilClosed(_ client: WireClient) -> [Eagle_V1_Response] {
    var responses: [Eagle_V1_Response] = []
    while let response = try? client.receive() { responses.append(response) }
    return responses
}

/// Runs `body` on `count` threads at once and returns their results in index order.
func onThreads<T: Sendable>(_ count: Int, _ body: @escaping @Sendable (Int) throws -> T) throws -> [T] {
    let results = Mutex<[Int: Result<T, any Error>]>([:])
    let group = DispatchGroup()
    for index in 0..<count {
        group.enter()
        Thread.detachNewThread {
            let result = Result { try body(index) }
            results.withLock { $0[index] = result }
            group.leave()
        }
    }
    group.wait()
    return try results.withLock { r in try (0..<count).map { try r[$0]!.get() } }
}

/// Plain decoding that pauses after each token, so tests can act mid-stream.
struct SlowGeneratorFactory: GeneratorFactory {
    var delaySeconds: Double = 0.01

    func decoding(_ options: Eagle_V1_SpeculativeOptions, for model: ServedModel, sampled: Bool) throws(ServiceError) -> DecodingDecision {
        try StandardGeneratorFactory().decoding(options, for: model, sampled: sampled)
    }

    func makeGenerator(_ decoding: DecodingChoice, for model: ServedModel) -> any TokenGenerator {
        SlowGenerator(inner: PlainGenerator(model: model.model, tokenizer: model.tokenizer), delay: delaySeconds)
    }
}

struct SlowGenerator: TokenGenerator {
    let inner: PlainGenerator
    let delay: Double

    func generate(prompt: [TokenID], params: GenerationParams, isCancelled: () -> Bool,
                  onEvent: (GenerationEvent) -> GenerationControl) throws -> GenerationResult {
        try inner.generate(prompt: prompt, params: params, isCancelled: isCancelled) { event in
            Thread.sleep(forTimeInterval: delay)
            return onEvent(event)
        }
    }
}

/// Polls `condition` up to `attempts` times, 20 ms apart (a bound, not a timing assertion).
func eventually(attempts: Int = 500, _ condition: () throws -> Bool) rethrows -> Bool {
    for _ in 0..<attempts {
        if try condition() { return true }
        Thread.sleep(forTimeInterval: 0.02)
    }
    return false
}
