import ArgumentParser
import Foundation
import SwiftProtobuf
import Wire

/// eagle-probe: talks to eagled's socket directly, one frame at a time.
///
/// Exit codes: 0 success; 64 usage; 69 cannot connect or the connection broke;
/// 76 protocol error (bad frame or unexpected response); 10 + the status code when the
/// server answers with a failure (13 INVALID_ARGUMENT, 15 NOT_FOUND, 17 PERMISSION_DENIED,
/// 18 RESOURCE_EXHAUSTED, 19 FAILED_PRECONDITION, 22 UNIMPLEMENTED, 24 UNAVAILABLE, …).
struct Probe: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eagle-probe",
        abstract: "Speak eagled's framed protobuf protocol from the command line.",
        discussion: """
            Exit codes: 0 ok, 64 usage, 69 cannot connect / connection lost, 76 protocol error, \
            10+code when the server answers with a status (e.g. 13 INVALID_ARGUMENT, 15 NOT_FOUND, \
            17 PERMISSION_DENIED, 18 RESOURCE_EXHAUSTED, 19 FAILED_PRECONDITION, 22 UNIMPLEMENTED, \
            24 UNAVAILABLE).
            """,
        subcommands: [Health.self, Models.self, Generate.self, Chat.self, Stats.self, Tokenize.self, Load.self, Unload.self, Raw.self])
}

struct Connection: ParsableArguments {
    @Option(help: "eagled's socket (default: $EAGLED_SOCKET or /run/eagled/eagled.sock).")
    var socket: String?
    @Flag(help: "Print every response as proto3 JSON, one per line.")
    var json = false

    var path: String { socket ?? ProcessInfo.processInfo.environment["EAGLED_SOCKET"] ?? "/run/eagled/eagled.sock" }

    /// Connects and exchanges hellos.
    func open() throws -> WireClient {
        let client: WireClient
        do { client = try WireClient(path: path) } catch { throw ProbeFailure(error) }
        let reply: Eagle_V1_HelloReply
        do throws(CallError) { reply = try client.hello(clientName: "eagle-probe") } catch { throw ProbeFailure(error) }
        if json { try printJSON(Eagle_V1_Response.with { $0.hello = reply }) }
        return client
    }

    /// One request, its terminal response (chunks go to `onChunk`).
    func call(_ client: WireClient, _ request: Eagle_V1_Request,
              onChunk: (Eagle_V1_GenerateChunk) -> Void = { _ in }) throws -> Eagle_V1_Response {
        var request = request
        request.id = client.makeID()
        do throws(CallError) {
            return try client.call(request) { chunk in
                if json { try? printJSON(Eagle_V1_Response.with { $0.id = request.id; $0.chunk = chunk }) }
                onChunk(chunk)
            }
        } catch { throw ProbeFailure(error) }
    }
}

func printJSON(_ message: some SwiftProtobuf.Message) throws {
    var options = JSONEncodingOptions()
    options.alwaysPrintInt64sAsNumbers = false
    FileHandle.standardOutput.write(Data((try message.jsonString(options: options) + "\n").utf8))
}

/// A failure mapped to an exit code by error class.
struct ProbeFailure: Error, CustomStringConvertible {
    let message: String
    let code: Int32

    init(message: String, code: Int32) {
        self.message = message
        self.code = code
    }

    init(_ error: FrameError) {
        message = "\(error)"
        switch error {
        case .io, .closed, .truncated: code = 69
        case .oversized, .undecodable: code = 76
        }
    }

    init(_ error: CallError) {
        switch error {
        case .transport(let frame): self.init(frame)
        case .failed(let status):
            self.init(message: "\(status.code): \(status.message)", code: 10 + Int32(status.code.rawValue))
        case .unexpected(let detail):
            self.init(message: "unexpected response: \(detail)", code: 76)
        }
    }

    var description: String { message }
}

/// Runs a subcommand body, printing failures to stderr with their exit code.
func guarded(_ body: () throws -> Void) throws {
    do { try body() } catch let failure as ProbeFailure {
        FileHandle.standardError.write(Data("eagle-probe: \(failure.message)\n".utf8))
        throw ExitCode(failure.code)
    }
}

struct Health: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Is the daemon serving? Exit 0 when serving, 24 when draining.")
    @OptionGroup var connection: Connection

    func run() throws {
        try guarded {
            let client = try connection.open()
            let response = try connection.call(client, .with { $0.health = .init() })
            if connection.json { try printJSON(response); return }
            let health = response.health
            print(health.serving ? "serving" : (health.draining ? "draining" : "not serving"), "\(health.models) model(s)")
            if !health.serving { throw ExitCode(24) }
        }
    }
}

struct Models: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List the loaded models.")
    @OptionGroup var connection: Connection

    func run() throws {
        try guarded {
            let client = try connection.open()
            let response = try connection.call(client, .with { $0.listModels = .init() })
            if connection.json { try printJSON(response); return }
            for model in response.models.models {
                let kind = model.draftKind.isEmpty ? "" : " (\(model.draftKind), draft vocabulary \(model.draftVocabSize))"
                let draft = model.hasDraft_p ? " draft=\(model.draftDir)\(kind)" : ""
                print("\(model.name)\t\(model.parameters) params, vocab \(model.vocabSize), context \(model.contextLength), \(memoryLine(model))\t\(model.targetDir)\(draft)")
                if !model.targetPassCosts.isEmpty { print("\t\(costLine(model))") }
            }
        }
    }
}

/// "bf16 weights 15.0 MB (13.2 MB mapped in place, head 1.8 MB), KV cache 3.6 KB/token (3.7 MB at
/// full context)": what a model's weights and one request's KV cache take.
func memoryLine(_ model: Eagle_V1_ModelInfo) -> String {
    func mb(_ bytes: UInt64) -> String { String(format: "%.1f MB", Double(bytes) / 1e6) }
    let dtype = model.dtype.isEmpty ? "?" : model.dtype  // a daemon that predates dtypes
    let head = model.hasDraft_p ? ", head \(mb(model.draftWeightBytes))" : ""
    let kv = String(format: "%.1f KB/token", Double(model.kvBytesPerToken) / 1e3)
    return "\(dtype) weights \(mb(model.weightBytes)) (\(mb(model.mappedWeightBytes)) mapped in place\(head)), "
        + "KV cache \(kv) (\(mb(model.kvBytesPerToken * UInt64(model.contextLength))) at full context)"
}

/// "pass ms by tokens: target 1:2.10 2:2.31 …; head 1:0.80 …": the calibration of a model with a head.
func costLine(_ model: Eagle_V1_ModelInfo) -> String {
    func list(_ costs: [Eagle_V1_PassCost]) -> String {
        costs.map { String(format: "%u:%.2f", $0.tokens, $0.seconds * 1e3) }.joined(separator: " ")
    }
    return "pass ms by tokens: target \(list(model.targetPassCosts)); head \(list(model.headPassCosts))"
}

struct Stats: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Per-model request and token totals.",
        discussion: "--prometheus prints them in Prometheus' text format (for node_exporter's textfile collector).")
    @OptionGroup var connection: Connection
    @Option(help: "Only this model.") var model = ""
    @Flag(help: "Prometheus text exposition format.") var prometheus = false

    func validate() throws {
        if prometheus && connection.json { throw ValidationError("--prometheus and --json exclude each other") }
    }

    func run() throws {
        try guarded {
            let client = try connection.open()
            let response = try connection.call(client, .with { $0.getStats = .with { $0.model = model } })
            if connection.json { try printJSON(response); return }
            if prometheus { print(prometheusText(response.stats), terminator: ""); return }
            print(String(format: "uptime %.1f s", response.stats.uptimeSeconds))
            for m in response.stats.models {
                print(statsLine(m))
                if m.batching { print("\t" + batchingLine(m)) }
                if !m.autoGreedy.isEmpty { print("\tauto (greedy): \(m.autoGreedy)\n\tauto (sampled): \(m.autoSampled)") }
            }
        }
    }
}

/// "NAME\trequests 3 (errors 0), tokens 40, …": one model's totals, as `stats` and the chat's /stats print them.
func statsLine(_ m: Eagle_V1_ModelStats) -> String {
    String(format: "%@\trequests %llu (errors %llu), tokens %llu, prompt tokens %llu, mean accepted %.2f, %.1f tok/s, active %u, queued %u",
           m.name, m.requests, m.errors, m.tokensGenerated, m.promptTokens, m.meanAccepted, m.tokensPerSecond, m.active, m.queued)
}

/// "batched passes 120, 3.2 requests and 5.1 tokens per pass; requests per pass 1: 10, 2: 30, …".
func batchingLine(_ m: Eagle_V1_ModelStats) -> String {
    let passes = max(1, Double(m.passes))
    let labels = ["1", "2", "3-4", "5-8", "9-16", "17+"]
    let histogram = zip(labels, m.passHistogram).map { "\($0): \($1)" }.joined(separator: ", ")
    return String(format: "batched passes %llu, %.2f requests and %.2f tokens per pass; requests per pass ", m.passes,
                  Double(m.passRequests) / passes, Double(m.passTokens) / passes) + histogram
}

struct Tokenize: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Token ids of a text.")
    @OptionGroup var connection: Connection
    @Option(help: "Model (default: the daemon's default).") var model = ""
    @Flag(help: "Add special tokens (BOS).") var addSpecialTokens = false
    @Argument var text: String

    func run() throws {
        try guarded {
            let client = try connection.open()
            let response = try connection.call(client, .with {
                $0.tokenize = .with { $0.model = model; $0.text = text; $0.addSpecialTokens = addSpecialTokens }
            })
            if connection.json { try printJSON(response); return }
            print(response.tokenize.ids.map(String.init).joined(separator: " "))
        }
    }
}

struct Load: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Load a model (admins only; under the daemon's model root).")
    @OptionGroup var connection: Connection
    @Argument var name: String
    @Argument var targetDir: String
    @Option(help: "EAGLE head directory.") var draft = ""
    @Option(help: "Context length (0 = default).") var context: UInt32 = 0
    @Option(help: "Weight dtype: bf16 (default), f32, or bf16dot (activations rounded to BF16; fast on AVX-512 BF16).") var dtype = ""

    func run() throws {
        try guarded {
            let client = try connection.open()
            let response = try connection.call(client, .with {
                $0.loadModel = .with {
                    $0.name = name; $0.targetDir = targetDir; $0.draftDir = draft; $0.contextLength = context; $0.dtype = dtype
                }
            })
            if connection.json { try printJSON(response); return }
            print("loaded \(response.loaded.name): \(response.loaded.parameters) params, \(memoryLine(response.loaded))")
        }
    }
}

struct Unload: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Unload a model (admins only).")
    @OptionGroup var connection: Connection
    @Argument var name: String

    func run() throws {
        try guarded {
            let client = try connection.open()
            let response = try connection.call(client, .with { $0.unloadModel = .with { $0.name = name } })
            if connection.json { try printJSON(response); return }
            print("unloaded \(name)")
        }
    }
}

Probe.main()
