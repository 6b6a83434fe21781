import ArgumentParser
import Foundation
import Glibc
import Wire

struct Chat: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Chat with a model: one user message per line of stdin, replies streamed.",
        discussion: """
            The whole conversation is sent with each message, rendered with the model's chat \
            template. Ctrl-C during a reply cancels it (that turn is forgotten, the session goes \
            on); Ctrl-C at the prompt, end of input or /bye ends the chat. \(ChatSession.help)
            """)
    @OptionGroup var connection: Connection
    @Option(help: "Tokens per reply (default: the server's).") var maxTokens: UInt32?
    @Option(help: "0 = greedy.") var temperature: Float = 0
    @Option(help: "0 = off.") var topK: UInt32 = 0
    @Option(help: "1 = off.") var topP: Float = 1
    @Option(help: "0 = chosen by the server.") var seed: UInt64 = 0
    @Option(help: "System prompt, sent first in every request.") var system: String?
    @Flag(help: "Start with EAGLE on (/eagle on).") var eagle = false
    @Argument(help: "Model to chat with.") var model: String

    func validate() throws {
        if connection.json { throw ValidationError("chat prints text; --json is for the other commands") }
    }

    func run() throws {
        try guarded {
            let client = try connection.open()
            let models = try connection.call(client, .with { $0.listModels = .init() }).models.models
            guard let info = models.first(where: { $0.name == model }) else {
                throw ProbeFailure(message: "NOT_FOUND: no model named \(model)", code: 15)
            }
            var template = Eagle_V1_Generate()
            template.model = model
            if let maxTokens { template.maxTokens = maxTokens }
            template.sampling = .with { $0.temperature = temperature; $0.topK = topK; $0.topP = topP; $0.seed = seed }
            template.stream = true
            var session = ChatSession(connection: connection, client: client, model: info, request: template)
            if let system { session.system = system }
            if eagle { try session.command("/eagle on") }
            try session.loop()
        }
    }
}

/// One conversation over one connection: the history, the settings slash commands change,
/// and the last reply's result for /stats.
struct ChatSession {
    static let help = "Commands: /eagle on|off (EAGLE for the next replies), /stats (last reply and the model's totals), /clear (forget the conversation), /help, /bye."
    let connection: Connection
    let client: WireClient
    let model: Eagle_V1_ModelInfo
    /// Every request starts as this (model, sampling, max tokens, EAGLE); the chat is added per turn.
    var request: Eagle_V1_Generate
    var system: String?
    var history: [Eagle_V1_ChatMessage] = []
    var lastResult: Eagle_V1_GenerateResult?
    let interrupts = InterruptPipe()
    let interactive = isatty(STDIN_FILENO) == 1

    init(connection: Connection, client: WireClient, model: Eagle_V1_ModelInfo, request: Eagle_V1_Generate) {
        self.connection = connection
        self.client = client
        self.model = model
        self.request = request
    }

    mutating func loop() throws {
        var input = LineReader()
        while true {
            if interactive { write(">>> ") }
            switch input.next(interrupts) {
            case .end, .interrupted:
                if interactive { write("\n") }
                return
            case .line(let raw):
                let line = raw.trimmingCharacters(in: .whitespaces)
                if line.isEmpty { continue }
                if line == "/bye" { return }
                if line.hasPrefix("/") { try command(line) } else { try turn(line) }
            }
        }
    }

    /// Sends the conversation plus `text`; keeps both in the history only when a reply came back.
    mutating func turn(_ text: String) throws {
        let user = Eagle_V1_ChatMessage.with { $0.role = "user"; $0.content = text }
        var messages = history + [user]
        if let system { messages.insert(.with { $0.role = "system"; $0.content = system }, at: 0) }
        var generate = request
        generate.chat = .with { $0.messages = messages }
        switch try stream(generate) {
        case .done(let result):
            lastResult = result
            history += [user, .with { $0.role = "assistant"; $0.content = result.text }]
        case .cancelled:
            write("\n[cancelled]\n")
        case .failed(let status):
            warn("\(status.code): \(status.message) (turn not kept; /clear forgets the conversation)")
        }
    }

    enum Outcome { case done(Eagle_V1_GenerateResult), cancelled, failed(Eagle_V1_Status) }

    /// Streams one reply to stdout; a Ctrl-C sends Cancel for it and reading goes on to its end.
    func stream(_ generate: Eagle_V1_Generate) throws -> Outcome {
        let id = client.makeID()
        try send(.with { $0.id = id; $0.generate = generate })
        var cancelSent = false
        while true {
            if waitReadable(client.fd, or: interrupts) == .interrupted {
                if !cancelSent { try send(.with { $0.id = client.makeID(); $0.cancel = .with { $0.targetID = id } }) }
                cancelSent = true
                continue
            }
            let response: Eagle_V1_Response
            do throws(FrameError) { response = try client.receive() } catch { throw ProbeFailure(error) }
            if response.id == 0, case .status(let status) = response.kind { throw ProbeFailure(CallError.failed(status)) }
            guard response.id == id else { continue }  // the Cancel's own answer
            switch response.kind {
            case .chunk(let chunk): write(chunk.text)
            case .generate(let result):
                write("\n")
                return .done(result)
            case .status(let status) where status.code == .cancelled: return .cancelled
            case .status(let status):
                return .failed(status)
            default: throw ProbeFailure(CallError.unexpected("\(response)"))
            }
        }
    }

    mutating func command(_ line: String) throws {
        let words = line.split(separator: " ").map(String.init)
        switch (words[0], words.dropFirst().first) {
        case ("/eagle", "on"?):
            if model.hasDraft_p { request.speculative.enabled = true } else { warn("model \(model.name) has no draft head") }
            write("EAGLE \(request.speculative.enabled ? "on" : "off")\n")
        case ("/eagle", "off"?):
            request.speculative.enabled = false
            write("EAGLE off\n")
        case ("/eagle", nil):
            write("EAGLE \(request.speculative.enabled ? "on" : "off")\n")
        case ("/stats", nil):
            try stats()
        case ("/clear", nil):
            history.removeAll()
            write("conversation cleared\n")
        case ("/help", nil), ("/?", nil):
            write(Self.help + "\n")
        default:
            warn("unknown command \(line); /help lists them")
        }
    }

    func stats() throws {
        if let result = lastResult {
            let rate = result.decodeSeconds > 0 ? Double(result.ids.count) / result.decodeSeconds : 0
            var line = String(format: "last reply: %d tokens, prompt %u tokens, %.1f tok/s", result.ids.count, result.promptTokens, rate)
            if result.meanAccepted > 0 { line += String(format: ", mean accepted %.2f tokens/step", result.meanAccepted) }
            write(line + ", stop \(result.stopReason)\n")
        } else {
            write("last reply: none yet\n")
        }
        let reply = try connection.call(client, .with { $0.getStats = .with { $0.model = model.name } })
        for m in reply.stats.models { write("model " + statsLine(m) + "\n") }
    }

    private func send(_ request: Eagle_V1_Request) throws {
        do throws(FrameError) { try client.send(request) } catch { throw ProbeFailure(error) }
    }

    private func write(_ text: String) { FileHandle.standardOutput.write(Data(text.utf8)) }
    private func warn(_ text: String) { FileHandle.standardError.write(Data("eagle-probe: \(text)\n".utf8)) }
}
