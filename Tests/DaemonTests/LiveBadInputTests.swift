import Daemon
import Foundation
import Testing
import Wire

/// Each bad input gets its documented status (or a close) while another client, connected
/// throughout, keeps being served.
@Suite("Live socket: bad input")
struct LiveBadInputTests {
    let daemon: LiveDaemon
    let bystander: WireClient

    init() throws {
        daemon = try LiveDaemon()
        bystander = try daemon.client("bystander")
    }

    /// The bystander, connected all along, is still served after whatever the test did.
    private func bystanderIsServed(sourceLocation: SourceLocation = #_sourceLocation) throws {
        #expect(try bystander.call(.with { $0.health = .init() }).health.serving, sourceLocation: sourceLocation)
        #expect(try bystander.call(generateRequest(maxTokens: 3)).generate.ids.count == 3, sourceLocation: sourceLocation)
    }

    /// Sends raw bytes on a fresh connection; returns what came back before the close.
    private func rawExchange(_ bytes: [UInt8], hello: Bool = true, halfClose: Bool = false) throws -> [Eagle_V1_Response] {
        let client = try WireClient(path: daemon.path)
        if hello { try client.hello() }
        try client.sendRaw(bytes)
        if halfClose { client.shutdownWrite() }
        return readUntilClosed(client)
    }

    private func frame(_ payload: [UInt8]) -> [UInt8] {
        withUnsafeBytes(of: UInt32(payload.count).bigEndian) { Array($0) } + payload
    }

    /// A model whose logits are NaN (corrupt weights: a NaN final norm) used to answer every
    /// request with token 0, silently. Its requests now fail with INTERNAL naming the cause —
    /// plain, EAGLE and streamed alike — and the daemon goes on serving the other model.
    @Test func aModelWithNaNLogitsFailsItsRequestsClearly() throws {
        let broken = try patchedFixture("tiny-llama3-f16-sharded", tensor: "model.norm.weight", f16Bits: 0x7E00)
        defer { try? FileManager.default.removeItem(at: broken) }
        let head = repositoryRoot.appendingPathComponent("Tests/Fixtures/models/tiny-llama3-head").path
        let daemon = try LiveDaemon(configure: {
            $0.models.append(ModelSpec(name: "broken", target: broken.path, draft: head))
        })
        let client = try daemon.client()
        for eagle in [false, true] {
            for stream in [false, true] {
                var request = generateRequest(maxTokens: 4, stream: stream, model: "broken")
                if eagle { request.generate.speculative = .with { $0.enabled = true; $0.treeDepth = 3; $0.treeTopK = 2; $0.totalTokens = 5 } }
                var status: Eagle_V1_Status?
                do { _ = try client.call(request) } catch {
                    if case .failed(let failure) = error { status = failure }
                }
                #expect(status?.code == .internal, "eagle \(eagle) stream \(stream): \(String(describing: status))")
                #expect(status?.message.contains("NaN") == true, "\(String(describing: status))")
            }
        }
        #expect(try client.call(generateRequest(maxTokens: 3)).generate.ids.count == 3)
    }

    @Test func garbageBytesGetAProtocolErrorAndAClose() throws {
        let responses = try rawExchange(Array("GET / HTTP/1.1\r\nHost: x\r\n\r\n".utf8), hello: false)
        #expect(responses.count == 1)
        #expect(responses.first?.id == 0)
        #expect(responses.first?.status.code == .resourceExhausted)
        try bystanderIsServed()
    }

    @Test func undecodablePayloadIsInvalidArgumentAndAClose() throws {
        let responses = try rawExchange(frame([0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]))
        #expect(responses.map(\.status.code) == [.invalidArgument])
        try bystanderIsServed()
    }

    @Test func oversizedLengthIsRefusedFromTheHeader() throws {
        // Announce 64 MiB but send only the header: refused without waiting for the payload.
        let responses = try rawExchange([0x04, 0x00, 0x00, 0x00])
        #expect(responses.map(\.status.code) == [.resourceExhausted])
        #expect(responses.first?.status.message.contains("exceeds") == true)
        try bystanderIsServed()
    }

    @Test func truncatedFrameClosesTheConnection() throws {
        let responses = try rawExchange([0x00, 0x00, 0x00, 0x40, 0x08, 0x01], halfClose: true)
        #expect(responses.isEmpty)
        try bystanderIsServed()
    }

    @Test func wrongMagicIsRefused() throws {
        let client = try WireClient(path: daemon.path)
        var hello = Eagle_V1_Request.hello(clientName: "x")
        hello.hello.magic = 0x1234_5678
        try client.send(hello)
        let responses = readUntilClosed(client)
        #expect(responses.map(\.status.code) == [.invalidArgument])
        try bystanderIsServed()
    }

    @Test func wrongVersionIsRefused() throws {
        let client = try WireClient(path: daemon.path)
        var hello = Eagle_V1_Request.hello(clientName: "x")
        hello.hello.protocolVersion = 2
        try client.send(hello)
        #expect(readUntilClosed(client).map(\.status.code) == [.unimplemented])
        try bystanderIsServed()
    }

    @Test func requestBeforeHelloIsRefused() throws {
        let client = try WireClient(path: daemon.path)
        var request = generateRequest()
        request.id = 5
        try client.send(request)
        let responses = readUntilClosed(client)
        #expect(responses.map(\.status.code) == [.failedPrecondition])
        #expect(responses.first?.id == 5)
        try bystanderIsServed()
    }

    @Test func unknownRequestKindIsUnimplementedAndTheConnectionStays() throws {
        let client = try daemon.client()
        // Field 99 is no request kind this server knows (a newer client's request).
        let unknown: [UInt8] = [0x08, 0x2A, 0x9A, 0x06, 0x00]  // id = 42, field 99 (length-delimited, empty)
        try client.sendRaw(frame(unknown))
        let response = try client.receive()
        #expect(response.id == 42 && response.status.code == .unimplemented)
        #expect(try client.call(.with { $0.health = .init() }).health.serving)
        try bystanderIsServed()
    }

    @Test func secondHelloAndDuplicateIDsAreRefused() throws {
        let client = try daemon.client()
        expectStatus(.failedPrecondition) { _ = try client.call(.hello(id: 9, clientName: "again")) }
        // A second request with the id of one still running.
        let slow = try LiveDaemon(configure: { $0.workers = 1 }, factory: SlowGeneratorFactory())
        let other = try slow.client()
        var first = generateRequest(maxTokens: 100, stream: true)
        first.id = 5
        try other.send(first)
        _ = try other.receive()
        var duplicate = generateRequest(maxTokens: 2)
        duplicate.id = 5
        try other.send(duplicate)
        var response = try other.receive()
        while !response.isTerminal { response = try other.receive() }
        #expect(response.id == 5 && response.status.code == .alreadyExists)
        try bystanderIsServed()
    }

    @Test func unknownModelIsNotFound() throws {
        let client = try daemon.client()
        expectStatus(.notFound) { _ = try client.call(generateRequest(model: "nope")) }
        expectStatus(.notFound) { _ = try client.call(.with { $0.getStats = .with { $0.model = "nope" } }) }
        expectStatus(.notFound) { _ = try client.call(.with { $0.unloadModel = .with { $0.name = "nope" } }) }
        try bystanderIsServed()
    }

    @Test func invalidParametersAreInvalidArgument() throws {
        let client = try daemon.client()
        expectStatus(.invalidArgument) { _ = try client.call(generateRequest(temperature: -1)) }
        expectStatus(.invalidArgument) { _ = try client.call(generateRequest(temperature: .nan)) }
        expectStatus(.invalidArgument) { _ = try client.call(generateRequest(maxTokens: 1_000_000)) }
        expectStatus(.invalidArgument) { _ = try client.call(generateRequest(maxTokens: 0)) }
        expectStatus(.invalidArgument) { _ = try client.call(generateRequest(maxTokens: 0, stream: true)) }
        expectStatus(.invalidArgument) { _ = try client.call(generateRequest([1, 96])) }
        expectStatus(.invalidArgument) { _ = try client.call(generateRequest([1, UInt32.max])) }
        expectStatus(.invalidArgument) { _ = try client.call(generateRequest([])) }
        expectStatus(.invalidArgument) { _ = try client.call(generateRequest(Array(repeating: 5, count: 256))) }
        var topP = generateRequest()
        topP.generate.sampling.topP = 1.5
        expectStatus(.invalidArgument) { _ = try client.call(topP) }
        var emptyStop = generateRequest()
        emptyStop.generate.stop = [""]
        expectStatus(.invalidArgument) { _ = try client.call(emptyStop) }
        var noPrompt = generateRequest()
        noPrompt.generate.prompt = nil
        expectStatus(.invalidArgument) { _ = try client.call(noPrompt) }
        // The longest prompt that leaves room for one token is fine.
        let fits = try client.call(generateRequest(Array(repeating: 5, count: 255), maxTokens: 5)).generate
        #expect(fits.stopReason == .contextFull && !fits.ids.isEmpty)
        let errors = try client.call(.with { $0.getStats = .init() }).stats.models[0].errors
        #expect(errors == 12)
        try bystanderIsServed()
    }

    @Test func textWithoutATokenizerAndEAGLEWithoutAHeadAreFailedPrecondition() throws {
        let client = try daemon.client()
        expectStatus(.failedPrecondition) { _ = try client.call(.with { $0.generate = .with { $0.text = "hi" } }) }
        expectStatus(.failedPrecondition) { _ = try client.call(.with { $0.tokenize = .with { $0.text = "hi" } }) }
        var eagle = generateRequest()
        eagle.generate.speculative.enabled = true
        expectStatus(.failedPrecondition) { _ = try client.call(eagle) }
        try bystanderIsServed()
    }

    @Test func runtimeLoadsNeedAModelRoot() throws {
        let client = try daemon.client()
        expectStatus(.permissionDenied) {
            _ = try client.call(.with { $0.loadModel = .with { $0.name = "x"; $0.targetDir = fixtureModelPath } })
        }
        try bystanderIsServed()
    }
}

@Suite("Live socket: model root, load and unload")
struct LiveLoadTests {
    @Test func loadInsideTheRootServesAndOutsideIsRefused() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("eagled-root-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: root) }
        let inside = root.appendingPathComponent("tiny2")
        try FileManager.default.copyItem(at: URL(fileURLWithPath: fixtureModelPath), to: inside)
        // A symlink inside the root that points outside it.
        try FileManager.default.createSymbolicLink(at: root.appendingPathComponent("escape"),
                                                   withDestinationURL: URL(fileURLWithPath: fixtureModelPath))
        let daemon = try LiveDaemon { $0.modelRoot = root.path }
        let client = try daemon.client()
        let load = { (name: String, dir: String) throws -> Eagle_V1_Response in
            try client.call(.with { $0.loadModel = .with { $0.name = name; $0.targetDir = dir } })
        }
        expectStatus(.permissionDenied) { _ = try load("out", fixtureModelPath) }
        expectStatus(.permissionDenied) { _ = try load("dots", root.path + "/../" + root.lastPathComponent + "/../etc") }
        expectStatus(.permissionDenied) { _ = try load("link", root.appendingPathComponent("escape").path) }
        expectStatus(.notFound) { _ = try load("missing", root.appendingPathComponent("missing").path) }
        expectStatus(.invalidArgument) { _ = try load("rel", "tiny2") }
        expectStatus(.alreadyExists) { _ = try load("tiny", inside.path) }
        expectStatus(.invalidArgument) {
            _ = try client.call(.with { $0.loadModel = .with { $0.name = "q"; $0.targetDir = inside.path; $0.dtype = "int4" } })
        }
        let loaded = try load("tiny2", inside.path).loaded
        #expect(loaded.name == "tiny2" && loaded.vocabSize == 96)
        // Default dtype bf16; the F16 fixture is rounded at load, so nothing is mapped in place.
        #expect(loaded.dtype == "bf16" && loaded.weightBytes > 0 && loaded.mappedWeightBytes == 0)
        // 2 layers × 2 KV heads × head_dim 8 × (K + V) × 4 bytes.
        #expect(loaded.kvBytesPerToken == 2 * 2 * 8 * 2 * 4)
        let wide = try client.call(.with {
            $0.loadModel = .with { $0.name = "tiny32"; $0.targetDir = inside.path; $0.dtype = "f32" }
        }).loaded
        #expect(wide.dtype == "f32" && wide.weightBytes > loaded.weightBytes * 3 / 2)
        _ = try client.call(.with { $0.unloadModel = .with { $0.name = "tiny32" } })
        let a = try client.call(generateRequest(maxTokens: 8, model: "tiny2")).generate.ids
        let b = try client.call(generateRequest(maxTokens: 8, model: "tiny")).generate.ids
        #expect(a == b)
        #expect(try client.call(.with { $0.listModels = .init() }).models.models.map(\.name) == ["tiny", "tiny2"])
        _ = try client.call(.with { $0.unloadModel = .with { $0.name = "tiny2" } })
        expectStatus(.notFound) { _ = try client.call(generateRequest(model: "tiny2")) }
    }

    @Test func loadAndUnloadAreForAdminsOnly() throws {
        // Nobody is an admin here: root and the owner are, so pretend to be neither.
        let policy = AccessPolicy(ownerUID: 4_000_000)
        let daemon = try LiveDaemon(configure: { $0.modelRoot = "/tmp" }, policy: policy)
        let client = try daemon.client()
        if getuid() != 0 {
            expectStatus(.permissionDenied) { _ = try client.call(.with { $0.unloadModel = .with { $0.name = "tiny" } }) }
        }
        #expect(policy.isAdmin(PeerIdentity(pid: 1, uid: 0, gid: 0, groups: [0])))
        #expect(!policy.isAdmin(PeerIdentity(pid: 1, uid: 1000, gid: 1000, groups: [1000])))
    }
}
