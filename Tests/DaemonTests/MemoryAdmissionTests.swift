import Daemon
import Foundation
import Inference
import Testing
import Wire

/// Loads and requests that do not fit in memory are refused with RESOURCE_EXHAUSTED before
/// anything is allocated; absurd configs are clear errors; the daemon keeps serving.
@Suite("Memory admission")
struct MemoryAdmissionTests {
    static let noSystem: @Sendable () -> SystemMemory = { SystemMemory(memAvailable: nil, cgroupHeadroom: nil) }

    func expectExhausted(_ body: () throws(ServiceError) -> Void, sourceLocation: SourceLocation = #_sourceLocation) {
        do throws(ServiceError) {
            try body()
            Issue.record("expected RESOURCE_EXHAUSTED", sourceLocation: sourceLocation)
        } catch {
            #expect(error.code == .resourceExhausted, "\(error)", sourceLocation: sourceLocation)
        }
    }

    @Test func ledgerAdmitsUpToTheLimitAndReleases() throws {
        let memory = MemoryAdmission(limit: 1000, margin: 0, probe: Self.noSystem)
        let first = try memory.admit(600, for: "a")
        expectExhausted { () throws(ServiceError) in _ = try memory.admit(500, for: "b") }
        #expect(memory.reserved == 600)
        first.release()
        first.release()  // once only
        #expect(memory.reserved == 0)
        // A load needs more at its peak than it keeps.
        let load = try memory.admit(1000, keep: 300, for: "c")
        #expect(memory.reserved == 300 && load.bytes == 300)
        do { _ = try memory.admit(700, for: "d") }  // released at once (deinit)
        #expect(memory.reserved == 300)
    }

    @Test func systemFigureMinusMarginBounds() throws {
        let memory = MemoryAdmission(limit: nil, margin: 100, probe: { SystemMemory(memAvailable: 5000, cgroupHeadroom: 1000) })
        expectExhausted { () throws(ServiceError) in _ = try memory.admit(901, for: "x") }
        _ = try memory.admit(900, for: "x")
        let tight = MemoryAdmission(limit: nil, margin: 100, probe: { SystemMemory(memAvailable: 50, cgroupHeadroom: nil) })
        expectExhausted { () throws(ServiceError) in _ = try tight.admit(1, for: "x") }
    }

    @Test func readsMeminfoAndTheCgroupHierarchy() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("eagled-mem-\(UUID().uuidString.prefix(8))")
        defer { try? FileManager.default.removeItem(at: root) }
        func write(_ path: String, _ text: String) throws {
            let url = root.appendingPathComponent(path)
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try text.write(to: url, atomically: true, encoding: .utf8)
        }
        try write("proc/meminfo", "MemTotal:       24000000 kB\nMemFree:  100 kB\nMemAvailable:    2000 kB\n")
        try write("proc/self/cgroup", "0::/system.slice/eagled.service\n")
        try write("cg/system.slice/eagled.service/memory.max", "max\n")
        try write("cg/system.slice/eagled.service/memory.current", "123\n")
        try write("cg/system.slice/memory.max", "1000000\n")
        try write("cg/system.slice/memory.current", "400000\n")
        let figures = SystemMemory.current(procRoot: root.path + "/proc", cgroupRoot: root.path + "/cg")
        #expect(figures == SystemMemory(memAvailable: 2_048_000, cgroupHeadroom: 600_000))
        #expect(figures.available == 600_000)
        // This machine: MemAvailable is readable.
        #expect((SystemMemory.current().memAvailable ?? 0) > 0)
    }

    /// A model root holding a copy of the fixture with `config.json` edited.
    func modelRoot(editing edit: (inout [String: Any]) -> Void) throws -> (root: URL, model: URL) {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("eagled-root-\(UUID().uuidString.prefix(8))")
        let model = root.appendingPathComponent("edited")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        try FileManager.default.copyItem(at: URL(fileURLWithPath: fixtureModelPath), to: model)
        let configURL = model.appendingPathComponent("config.json")
        var json = try #require(JSONSerialization.jsonObject(with: Data(contentsOf: configURL)) as? [String: Any])
        edit(&json)
        try JSONSerialization.data(withJSONObject: json).write(to: configURL)
        return (root, model)
    }

    @Test func billionLayerLoadIsAClearErrorWhileAnotherClientGenerates() throws {
        let (root, model) = try modelRoot { $0["num_hidden_layers"] = 1_000_000_000 }
        defer { try? FileManager.default.removeItem(at: root) }
        let daemon = try LiveDaemon(configure: { $0.modelRoot = root.path }, factory: SlowGeneratorFactory())
        let bystander = try daemon.client("bystander")
        var long = generateRequest(maxTokens: 40, stream: true)
        long.id = 5
        try bystander.send(long)
        let firstChunk = try bystander.receive()
        #expect(firstChunk.isTerminal == false)  // its generation is running
        var tokens = firstChunk.chunk.ids.count
        let admin = try daemon.client("admin")
        do {
            _ = try admin.call(.with { $0.loadModel = .with { $0.name = "huge"; $0.targetDir = model.path } })
            Issue.record("a 10⁹-layer config was loaded")
        } catch {
            guard case .failed(let status) = error else { throw error }
            #expect(status.code == .failedPrecondition)
            #expect(status.message.contains("'num_hidden_layers' is 1000000000"), "\(status.message)")
        }
        while true {
            let response = try bystander.receive()
            if case .chunk(let chunk) = response.kind { tokens += chunk.ids.count }
            if response.isTerminal { #expect(response.generate.ids.count == 40); break }
        }
        #expect(tokens == 40)
        #expect(try admin.call(.with { $0.listModels = .init() }).models.models.map(\.name) == ["tiny"])
    }

    @Test func loadsAndRequestsBeyondTheMemoryLimitAreResourceExhausted() throws {
        // Learn the fixture's figures from a daemon without a limit.
        let (resident, session): (Int, Int) = try {
            let probe = try LiveDaemon()
            return (probe.service.registry.memory.reserved, try probe.service.registry.model(named: "tiny").sessionBytes.plain)
        }()
        #expect(resident > 0 && session > 0)
        let (root, model) = try modelRoot { _ in }
        defer { try? FileManager.default.removeItem(at: root) }
        // Room for the weights and one and a half requests: one runs, a second concurrent one
        // does not fit, and neither does another model.
        let daemon = try LiveDaemon(configure: {
            $0.modelRoot = root.path
            $0.memoryLimitBytes = resident + session * 3 / 2
        }, factory: SlowGeneratorFactory(delaySeconds: 0.02))
        #expect(daemon.service.registry.memory.reserved == resident)
        let client = try daemon.client()
        expectStatus(.resourceExhausted) {
            _ = try client.call(.with { $0.loadModel = .with { $0.name = "second"; $0.targetDir = model.path } })
        }
        var first = generateRequest(maxTokens: 30, stream: true)
        first.id = 1
        try client.send(first)
        #expect(try client.receive().isTerminal == false)  // running: its KV cache is reserved
        #expect(daemon.service.registry.memory.reserved == resident + session)
        expectStatus(.resourceExhausted) { _ = try daemon.client().call(generateRequest(maxTokens: 2)) }
        while try !client.receive().isTerminal {}
        // The first request's memory came back: the next one runs.
        #expect(eventually { daemon.service.registry.memory.reserved == resident })
        #expect(try client.call(generateRequest(maxTokens: 2)).generate.ids.count == 2)
    }
}
