import ArgumentParser
import Foundation
import Synchronization
import Wire

/// A bounded load test of a real `eagled` process (prints figures; not a test): clients that
/// mix blocking and streamed generation (plain and EAGLE), cancellations mid-stream, abrupt
/// disconnects with a request in flight, large tokenize requests and bad input, for a fixed
/// time; then requests served per kind, responses by status code, and the daemon's resident
/// memory at the start and the end.
struct Soak: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Soak a real eagled: mixed traffic from many clients, errors by code, RSS at start and end.")

    @Option(help: "eagled binary (default: next to this one).") var eagled: String?
    @Option(help: "Model directory.") var model = "Models/tiny-pystd"
    @Option(help: "Draft head directory (\"\" = none).") var draft = "Models/tiny-pystd-eagle"
    @Option(help: "Concurrent clients.") var clients = 16
    @Option(help: "Seconds of load.") var seconds = 600
    @Option(help: "Seed of the clients' choices.") var seed: UInt64 = 1
    @Option(help: "Only these kinds of traffic (comma-separated, e.g. tokenize,disconnect; default: all).") var only: String?

    enum Kind: String, CaseIterable {
        case generate, stream, eagle, cancelled, disconnect, tokenize, badInput = "bad input"
    }

    final class Tally: Sendable {
        let served = Mutex<[String: Int]>([:])
        let statuses = Mutex<[String: Int]>([:])
        let unexpected = Mutex<[String]>([])

        func count(_ kind: Kind) { served.withLock { $0[kind.rawValue, default: 0] += 1 } }
        func status(_ code: String) { statuses.withLock { $0[code, default: 0] += 1 } }
        func fail(_ what: String) { unexpected.withLock { if $0.count < 20 { $0.append(what) } } }
    }

    func run() throws {
        let binary = eagled ?? URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
            .appendingPathComponent("eagled").path
        let socket = "/tmp/eagled-soak-\(getpid()).sock"
        var spec = "soak=\(model)"
        if !draft.isEmpty { spec += ",draft=\(draft)" }
        let daemon = Process()
        daemon.executableURL = URL(fileURLWithPath: binary)
        daemon.arguments = ["--socket", socket, "--model", spec, "--workers", "2", "--log-level", "error"]
        try daemon.run()
        defer {
            if daemon.isRunning { daemon.terminate() }
            daemon.waitUntilExit()
            try? FileManager.default.removeItem(atPath: socket)
        }
        var ready = false
        for _ in 0..<600 where !ready {
            if let c = try? WireClient(path: socket), (try? c.hello(clientName: "soak")) != nil { ready = true } else { usleep(100_000) }
        }
        guard ready else { throw ValidationError("eagled did not come up on \(socket)") }
        let pid = daemon.processIdentifier
        // One warm-up of every kind, so the first RSS figure includes the allocator's working set.
        let tally = Tally()
        let warm = try WireClient(path: socket)
        try warm.hello(clientName: "soak-warm")
        var rng = SplitMix(seed: seed)
        for kind in Kind.allCases { Self.act(kind, socket: socket, client: warm, rng: &rng, tally: Tally()) }
        let rssStart = Self.rssKB(pid)
        print("eagled pid \(pid), \(clients) clients for \(seconds) s on \(spec); RSS after warm-up \(rssStart / 1024) MB")

        let kinds = only.map { list in Kind.allCases.filter { list.split(separator: ",").contains(Substring($0.rawValue)) } } ?? Kind.allCases
        guard !kinds.isEmpty else { throw ValidationError("--only names no kind of traffic: \(Kind.allCases.map(\.rawValue))") }
        let deadline = ContinuousClock.now + .seconds(seconds)
        let group = DispatchGroup()
        for c in 0..<clients {
            group.enter()
            let clientSeed = seed &+ UInt64(c) &* 0x9E37_79B9
            Thread.detachNewThread {
                defer { group.leave() }
                var rng = SplitMix(seed: clientSeed)
                var client: WireClient?
                while ContinuousClock.now < deadline {
                    if client == nil {
                        client = try? WireClient(path: socket)
                        if (try? client?.hello(clientName: "soak-\(c)")) == nil { tally.fail("client \(c): cannot connect"); client = nil; usleep(100_000); continue }
                    }
                    let kind = kinds[Int(rng.next() % UInt64(kinds.count))]
                    if !Self.act(kind, socket: socket, client: client!, rng: &rng, tally: tally) { client = nil }
                }
            }
        }
        var samples: [Int] = []
        while group.wait(timeout: .now() + 30) == .timedOut { samples.append(Self.rssKB(pid)) }
        let rssEnd = Self.rssKB(pid)
        let served = tally.served.withLock { $0 }, statuses = tally.statuses.withLock { $0 }
        print("served by kind: " + Kind.allCases.map { "\($0.rawValue) \(served[$0.rawValue] ?? 0)" }.joined(separator: ", "))
        print("responses by status: " + statuses.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))
        print(String(format: "RSS: %d MB after warm-up, %d MB at the end (%+.1f %%); every 30 s: %@ MB",
                     rssStart / 1024, rssEnd / 1024, Double(rssEnd - rssStart) / Double(rssStart) * 100,
                     samples.map { "\($0 / 1024)" }.joined(separator: " ")))
        let unexpected = tally.unexpected.withLock { $0 }
        print(unexpected.isEmpty ? "unexpected failures: none" : "unexpected failures:\n  " + unexpected.joined(separator: "\n  "))
        daemon.interrupt()  // SIGINT: eagled drains like on SIGTERM
        let stop = ContinuousClock.now
        daemon.waitUntilExit()
        print(String(format: "eagled exited with status %d, %.2f s after the signal", daemon.terminationStatus, (ContinuousClock.now - stop).seconds))
    }

    /// One action; false when the connection is gone (closed on purpose or broken).
    static func act(_ kind: Kind, socket: String, client: WireClient, rng: inout SplitMix, tally: Tally) -> Bool {
        let prompt = (0..<(4 + Int(rng.next() % 24))).map { _ in UInt32(5 + rng.next() % 4000) }
        var request = Eagle_V1_Request.with {
            $0.generate = .with {
                $0.tokens = .with { $0.ids = prompt }
                $0.maxTokens = UInt32(8 + rng.next() % 56)
                $0.sampling = .with { $0.temperature = rng.next() % 2 == 0 ? 0 : 0.8; $0.seed = rng.next() | 1 }
            }
        }
        do {
            switch kind {
            case .generate:
                _ = try client.call(request)
            case .stream, .eagle:
                request.generate.stream = true
                request.generate.speculative.enabled = kind == .eagle
                _ = try client.call(request)
            case .cancelled:
                request.generate.stream = true
                request.generate.maxTokens = 512
                request.generate.ignoreEos = true
                request.id = client.makeID()
                try client.send(request)
                var sentCancel = false
                while true {
                    let response = try client.receive()
                    guard response.id == request.id else { continue }
                    if case .chunk = response.kind, !sentCancel {
                        try client.send(.with { $0.id = client.makeID(); $0.cancel = .with { $0.targetID = request.id } })
                        sentCancel = true
                    } else if case .status(let status) = response.kind {
                        tally.status("\(status.code)")
                        break
                    } else if case .generate = response.kind {
                        break  // finished before the cancel arrived
                    }
                }
            case .disconnect:
                let other = try WireClient(path: socket)
                try other.hello(clientName: "soak-disconnect")
                request.generate.stream = true
                try other.send(request)
                other.close()
            case .tokenize:
                let text = String(repeating: "def f(x):\n    return x * 2\n", count: 2000)
                _ = try client.call(.with { $0.tokenize = .with { $0.text = text } })
            case .badInput:
                request.generate.tokens.ids[0] = 1 << 30
                let status = Self.failure(of: { _ = try client.call(request) })
                tally.status(status.map { "\($0.code)" } ?? "ok")
                if status?.code != .invalidArgument { tally.fail("bad input answered \(status.map { "\($0.code)" } ?? "ok")") }
            }
            tally.count(kind)
            return true
        } catch let error as CallError {
            if case .failed(let status) = error {
                tally.status("\(status.code)")
                if status.code != .resourceExhausted { tally.fail("\(kind.rawValue): \(status.code) \(status.message)") }
                return true
            }
            tally.fail("\(kind.rawValue): \(error)")
            return false
        } catch {
            tally.fail("\(kind.rawValue): \(error)")
            return false
        }
    }

    /// The status a call failed with; nil when it succeeded or failed otherwise.
    static func failure(of call: () throws -> Void) -> Eagle_V1_Status? {
        do { try call() } catch let error as CallError {
            if case .failed(let status) = error { return status }
        } catch {}
        return nil
    }

    static func rssKB(_ pid: Int32) -> Int {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return 0 }
        for line in status.split(separator: "\n") where line.hasPrefix("VmRSS:") {
            return Int(line.split(separator: " ").dropFirst().first ?? "0") ?? 0
        }
        return 0
    }
}

/// A tiny deterministic generator for the clients' choices.
struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
