import Daemon
import Dispatch
import Foundation
import Inference
import Logging
import NIOCore
import Synchronization
import Wire

/// Socket bytes as a connection delivers them: the frame decoder, `Request` decoding, then
/// the service's request handling (plans, validation, scheduling, tokenization, and real
/// generation, `max_tokens` capped at 4) on two models with EAGLE heads: `tiny`, with the
/// bundled `Models/tiny-pystd`'s tokenizer and chat template (text, chat, tokenize) over a
/// 1-layer, 64-wide random model (`MicroTextModel`), and `micro`, the 2-layer 64-wide test
/// fixture without a tokenizer (token ids only). Both cost microseconds a pass, so the
/// fuzzer's time goes to request handling rather than to matrix products. Hello and Cancel
/// belong to the connection handler, which needs a socket for SO_PEERCRED, so they are
/// decoded but not handled. The peer is not an admin: LoadModel/UnloadModel are refused by
/// policy (the file system is not fuzzed).
///
/// Oracle: every handled request gets exactly one terminal response, within 30 s (a second
/// terminal is caught when the next input starts, so no input waits for one that never comes).
final class FrameHarness: @unchecked Sendable {
    static let shared = FrameHarness()

    let service: DaemonService
    let sink = CountingSink()
    let peer = PeerIdentity(pid: 1, uid: 4_000_001, gid: 4_000_001, groups: [])
    static let maxFrameBytes = 64 << 10

    init() {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("eagle-fuzz-\(getpid())")
        let text: (target: String, head: String)
        do { text = try MicroTextModel.write(to: scratch, tokenizerFrom: root.appendingPathComponent("Models/tiny-pystd")) } catch {
            fatalError("cannot write the text model under \(scratch.path): \(error)")
        }
        defer { try? FileManager.default.removeItem(at: scratch) }  // loaded into memory by then
        var config = DaemonConfig()
        config.models = [ModelSpec(name: "tiny", target: text.target, draft: text.head, contextLength: 256),
                         ModelSpec(name: "micro", target: root.appendingPathComponent("Tests/Fixtures/models/tiny-llama3-f16-sharded").path,
                                   draft: root.appendingPathComponent("Tests/Fixtures/models/tiny-llama3-head").path, contextLength: 128)]
        config.defaultMaxTokens = 4
        config.maxTokensLimit = 4
        config.queueLimit = 1024
        var logger = Logger(label: "eagle-fuzz")
        logger.logLevel = .critical
        let registry = ModelRegistry(config: config)
        for spec in config.models {
            do { try registry.load(spec, checkRoot: false) } catch { fatalError("cannot load the fixture model \(spec.name): \(error)") }
        }
        service = DaemonService(config: config, registry: registry, policy: AccessPolicy(ownerUID: 4_000_000), logger: logger)
    }

    func run(_ bytes: UnsafeRawBufferPointer) {
        // The previous input's requests all ended; none may end twice.
        if sink.terminals.wait(timeout: .now()) == .success {
            fatalError("a request got more than one terminal response")
        }
        var buffer = ByteBufferAllocator().buffer(capacity: bytes.count)
        buffer.writeBytes(bytes)
        var handled = 0
        while true {
            let payload: ByteBuffer?
            do { payload = try FrameDecoder.nextFrame(in: &buffer, maxFrameBytes: Self.maxFrameBytes) } catch { break }
            guard let payload, let request = try? Eagle_V1_Request(payload: payload) else { break }
            switch request.kind {
            case .hello, .cancel: continue
            default:
                _ = service.handle(request, peer: peer, sink: sink)
                handled += 1
            }
        }
        for _ in 0..<handled {
            guard sink.terminals.wait(timeout: .now() + 30) == .success else {
                fatalError("a request got no terminal response within 30 s")
            }
        }
    }
}

/// Drops responses, counting the terminal ones.
final class CountingSink: ResponseSink {
    let connectionID: UInt64 = 1
    let terminals = DispatchSemaphore(value: 0)

    func send(_ response: Eagle_V1_Response) {
        if response.isTerminal { terminals.signal() }
    }
}
