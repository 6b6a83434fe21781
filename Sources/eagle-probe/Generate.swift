import ArgumentParser
import Foundation
import Wire

struct Generate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Generate a continuation; streams text to stdout.",
        discussion: "With --json every response (chunks and the result, token ids included) is printed as proto3 JSON.")
    @OptionGroup var connection: Connection
    @Option(help: "Model (default: the daemon's default).") var model = ""
    @Option(help: "Tokens to generate (default: the server's; 0 is refused by the daemon).") var maxTokens: UInt32?
    @Option(help: "0 = greedy.") var temperature: Float = 0
    @Option(help: "0 = off.") var topK: UInt32 = 0
    @Option(help: "1 = off.") var topP: Float = 1
    @Option(help: "0 = chosen by the server.") var seed: UInt64 = 0
    @Option(help: "Stop string. Repeatable.") var stop: [String] = []
    @Flag(help: "Use the model's EAGLE draft head.") var eagle = false
    @Option(help: "EAGLE: draft tree depth (implies --eagle; unset fields take the CPU default's).") var treeDepth: UInt32?
    @Option(help: "EAGLE: drafts kept per tree level (implies --eagle).") var treeTopK: UInt32?
    @Option(help: "EAGLE: tokens verified per step, the root included (implies --eagle).") var totalTokens: UInt32?
    @Flag(help: "EAGLE: the EAGLE-1 static tree mc_sim_7b_63 (implies --eagle).") var staticTree = false
    @Flag(help: "EAGLE with the tree the daemon expects to be fastest — or plain decoding when no tree pays (the default with --eagle).")
    var auto = false
    @Flag(help: "Keep going past end-of-sequence.") var ignoreEOS = false
    @Flag(help: "Ask for the whole result at once instead of a stream.") var noStream = false
    @Flag(help: "Treat the prompt as a user chat message (rendered with the chat template).") var chat = false
    @Option(help: "Prompt as comma-separated token ids instead of text.") var tokens: String?
    @Flag(help: "Print a summary (tokens, stop reason, speed) to stderr.") var summary = false
    @Argument(help: "Prompt text.") var prompt: String?

    func validate() throws {
        if prompt == nil && tokens == nil { throw ValidationError("give a prompt or --tokens") }
        let explicit = treeDepth != nil || treeTopK != nil || totalTokens != nil || staticTree
        if auto && explicit { throw ValidationError("--auto lets the daemon choose the tree; drop --tree-depth, --tree-top-k, --total-tokens and --static-tree") }
        for (name, value) in [("--tree-depth", treeDepth), ("--tree-top-k", treeTopK), ("--total-tokens", totalTokens)] where value == 0 {
            throw ValidationError("\(name) must be at least 1")
        }
    }

    func run() throws {
        var request = Eagle_V1_Generate()
        request.model = model
        if let tokens {
            let ids = tokens.split(separator: ",").map { UInt32($0.trimmingCharacters(in: .whitespaces)) }
            guard !ids.contains(nil) else { throw ValidationError("--tokens expects comma-separated unsigned integers") }
            request.tokens = .with { $0.ids = ids.compactMap { $0 } }
        } else if chat {
            request.chat = .with { $0.messages = [.with { $0.role = "user"; $0.content = prompt ?? "" }] }
        } else {
            request.text = prompt ?? ""
        }
        if let maxTokens { request.maxTokens = maxTokens }
        request.sampling = .with { $0.temperature = temperature; $0.topK = topK; $0.topP = topP; $0.seed = seed }
        request.stop = stop
        request.speculative = .with {
            $0.enabled = eagle || auto || staticTree || treeDepth != nil || treeTopK != nil || totalTokens != nil
            $0.treeDepth = treeDepth ?? 0
            $0.treeTopK = treeTopK ?? 0
            $0.totalTokens = totalTokens ?? 0
            $0.staticTree = staticTree
        }
        request.ignoreEos = ignoreEOS
        request.stream = !noStream
        let json = connection.json
        try guarded {
            let client = try connection.open()
            var streamed = false
            let response = try connection.call(client, .with { $0.generate = request }) { chunk in
                if !json {
                    FileHandle.standardOutput.write(Data(chunk.text.utf8))
                    streamed = true
                }
            }
            let result = response.generate
            if json {
                try printJSON(response)
            } else {
                if !streamed { FileHandle.standardOutput.write(Data(result.text.utf8)) }
                FileHandle.standardOutput.write(Data("\n".utf8))
            }
            if summary {
                let rate = result.decodeSeconds > 0 ? Double(result.ids.count) / result.decodeSeconds : 0
                let line = String(format: "[%d tokens, stop %@, prompt %u tokens, %.1f tok/s, mean accepted %.2f, queued %.3f s, seed %llu]\n",
                                  result.ids.count, "\(result.stopReason)", result.promptTokens, rate, result.meanAccepted,
                                  result.queueSeconds, result.seed)
                FileHandle.standardError.write(Data(line.utf8))
                if !result.decoding.isEmpty {
                    FileHandle.standardError.write(Data("[decoding: \(result.decoding) — \(result.decodingReason)]\n".utf8))
                }
            }
        }
    }
}
