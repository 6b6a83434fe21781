import Daemon
import Foundation
import Glibc
import Synchronization
import Testing

@Suite("Configuration")
struct ConfigTests {
    @Test func parsesModelFlags() throws {
        let spec = try ModelSpec.parse(flag: "tiny=/m/tiny,draft=/m/head,context=512,workers=3,queue=0")
        #expect(spec == ModelSpec(name: "tiny", target: "/m/tiny", draft: "/m/head", contextLength: 512, workers: 3, queueLimit: 0))
        #expect(try ModelSpec.parse(flag: "a=/x") == ModelSpec(name: "a", target: "/x"))
        #expect(throws: ConfigError.self) { try ModelSpec.parse(flag: "/no/name") }
        #expect(throws: ConfigError.self) { try ModelSpec.parse(flag: "a=") }
        #expect(throws: ConfigError.self) { try ModelSpec.parse(flag: "a=/x,context=-1") }
        #expect(throws: ConfigError.self) { try ModelSpec.parse(flag: "a=/x,colour=blue") }
        #expect(try ModelSpec.parse(flag: "a=/x,dtype=f32").dtype == .f32)
        #expect(try ModelSpec.parse(flag: "a=/x,dtype=bf16").dtype == .bf16)
        #expect(try ModelSpec.parse(flag: "a=/x").dtype == nil)
        #expect { try ModelSpec.parse(flag: "a=/x,dtype=fp8") } throws: { "\($0)".contains("fp8") }
    }

    @Test func readsTheExampleConfigFile() throws {
        let config = try DaemonConfig.load(path: repositoryRoot.appendingPathComponent("Systemd/eagled.json").path)
        try config.validate()
        #expect(config.socket == "/run/eagled/eagled.sock")
        #expect(config.modelRoot == "/var/lib/eagled/models")
        #expect(!config.models.isEmpty)
        #expect(try config.parsedSocketMode() == 0o660)
        #expect(config.connections == ConnectionLimits())
        // The unit's descriptor limit leaves room for every connection the config allows.
        let unit = try String(contentsOf: repositoryRoot.appendingPathComponent("Systemd/eagled.service"), encoding: .utf8)
        let limit = unit.split(separator: "\n").first { $0.hasPrefix("LimitNOFILE=") }.flatMap { Int($0.dropFirst("LimitNOFILE=".count)) }
        #expect((limit ?? 0) >= config.connections.maxConnections + 64)
    }

    @Test func connectionLimitsAreReadAndChecked() throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("eagled-\(UUID().uuidString).json")
        defer { try? FileManager.default.removeItem(at: file) }
        try Data(#"{"connections": {"max_connections": 3, "idle_timeout_seconds": 0}}"#.utf8).write(to: file)
        let config = try DaemonConfig.load(path: file.path)
        #expect(config.connections.maxConnections == 3 && config.connections.idleTimeoutSeconds == 0)
        #expect(config.connections.helloTimeoutSeconds == ConnectionLimits().helloTimeoutSeconds)
        try config.validate()
        for bad in [#"{"max_connections": 0}"#, #"{"hello_timeout_seconds": 0}"#, #"{"write_buffer_high_water_bytes": 10}"#,
                    #"{"unwritable_timeout_seconds": -1}"#, #"{"max_requests_per_connection": 0}"#] {
            try Data(#"{"connections": "#.utf8 + Data(bad.utf8) + Data("}".utf8)).write(to: file)
            #expect(throws: ConfigError.self, "\(bad)") { try DaemonConfig.load(path: file.path).validate() }
        }
    }

    @Test func absentKeysKeepDefaultsAndBadValuesAreNamed() throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("eagled-\(UUID().uuidString).json")
        defer { try? FileManager.default.removeItem(at: file) }
        try Data(#"{"workers": 3, "models": [{"name": "a", "target": "/x", "context_length": 64}]}"#.utf8).write(to: file)
        let config = try DaemonConfig.load(path: file.path)
        #expect(config.workers == 3 && config.queueLimit == DaemonConfig().queueLimit)
        #expect(config.models == [ModelSpec(name: "a", target: "/x", contextLength: 64)])
        try Data(#"{"models": [{"name": "a", "target": "/x", "dtype": "f32"}]}"#.utf8).write(to: file)
        #expect(try DaemonConfig.load(path: file.path).models.first?.dtype == .f32)
        try Data(#"{"models": [{"name": "a", "target": "/x", "dtype": "int4"}]}"#.utf8).write(to: file)
        #expect { try DaemonConfig.load(path: file.path) } throws: { "\($0)".contains("dtype: dtype 'int4' is unknown (bf16, f32, bf16dot)") }
        try Data(#"{"workers": "many"}"#.utf8).write(to: file)
        #expect { try DaemonConfig.load(path: file.path) } throws: { "\($0)".contains("workers") }
        var bad = DaemonConfig()
        bad.socketMode = "rw"
        #expect(throws: ConfigError.self) { try bad.validate() }
        bad = DaemonConfig()
        bad.models = [ModelSpec(name: "a", target: "/x"), ModelSpec(name: "a", target: "/y")]
        #expect(throws: ConfigError.self) { try bad.validate() }
        bad = DaemonConfig()
        bad.defaultModel = "ghost"
        #expect(throws: ConfigError.self) { try bad.validate() }
    }

    @Test func accessPolicy() throws {
        let open = AccessPolicy(ownerUID: 500)
        let stranger = PeerIdentity(pid: 1, uid: 1234, gid: 1234, groups: [1234, 77])
        #expect(open.isOpen && open.isAllowed(stranger) && !open.isAdmin(stranger))
        let byGroup = AccessPolicy(groups: [77], adminGroups: [88], ownerUID: 500)
        #expect(byGroup.isAllowed(stranger) && !byGroup.isAdmin(stranger))
        let closed = AccessPolicy(users: [42], ownerUID: 500)
        #expect(!closed.isAllowed(stranger))
        #expect(closed.isAllowed(PeerIdentity(pid: 1, uid: 500, gid: 500, groups: [500])))
        #expect(closed.isAllowed(PeerIdentity(pid: 1, uid: 0, gid: 0, groups: [0])))
        let admin = PeerIdentity(pid: 1, uid: 9, gid: 9, groups: [9, 88])
        #expect(byGroup.isAdmin(admin))
        let named = try AccessPolicy(AccessConfig(users: ["root", "1234"], groups: ["0"]))
        #expect(named.users == [0, 1234] && named.groups == [0])
        #expect(throws: ConfigError.self) { try AccessPolicy(AccessConfig(users: ["no-such-user-eagled"])) }
    }
}

@Suite("systemd glue")
struct SystemdGlueTests {
    @Test func notifierSendsDatagramsToNotifySocket() throws {
        let path = temporarySocketPath()
        let fd = boundDatagramSocket(path: path)
        try #require(fd >= 0)
        defer { close(fd); unlink(path) }
        let notifier = SystemdNotifier(environment: ["NOTIFY_SOCKET": path, "WATCHDOG_USEC": "2000000"])
        #expect(notifier.watchdogPingInterval == .seconds(1))
        #expect(notifier.notify("READY=1\nSTATUS=serving"))
        var buffer = [UInt8](repeating: 0, count: 256)
        let n = recv(fd, &buffer, buffer.count, 0)
        #expect(String(decoding: buffer.prefix(max(0, n)), as: UTF8.self) == "READY=1\nSTATUS=serving")
    }

    @Test func notifierWithoutSocketIsANoOp() {
        let notifier = SystemdNotifier(environment: [:])
        #expect(!notifier.isEnabled && notifier.watchdogPingInterval == nil)
        #expect(!notifier.notify("READY=1"))
        // A watchdog meant for another process is not ours.
        #expect(SystemdNotifier(environment: ["WATCHDOG_USEC": "1000", "WATCHDOG_PID": "1"]).watchdogPingInterval == nil || getpid() == 1)
    }

    @Test func listenFDsForAnotherProcessAreIgnored() throws {
        #expect(try SocketActivation.takeListeningSockets(environment: ["LISTEN_FDS": "1", "LISTEN_PID": "1"]).isEmpty || getpid() == 1)
        #expect(try SocketActivation.takeListeningSockets(environment: [:]).isEmpty)
        #expect(throws: ConfigError.self) {
            try SocketActivation.takeListeningSockets(environment: ["LISTEN_FDS": "x", "LISTEN_PID": "\(getpid())"])
        }
    }
}

@Suite("Scheduler")
struct SchedulerTests {
    @Test func servesConnectionsRoundRobin() throws {
        let scheduler = ModelScheduler(name: "t", workers: 1, queueLimit: 16)
        let order = Mutex<[String]>([])
        let gate = NSCondition()
        let open = Mutex(false)
        // Block the single worker until every job is queued.
        try scheduler.submit(ScheduledJob(owner: 0, run: {
            gate.withLock { while !open.withLock({ $0 }) { gate.wait() } }
        }, drop: { _ in }))
        #expect(eventually { scheduler.load.active == 1 })
        for (owner, name) in [(1, "a1"), (1, "a2"), (1, "a3"), (2, "b1"), (3, "c1"), (2, "b2")] {
            try scheduler.submit(ScheduledJob(owner: UInt64(owner), run: { order.withLock { $0.append(name) } }, drop: { _ in }))
        }
        gate.withLock { open.withLock { $0 = true }; gate.broadcast() }
        scheduler.stop(drain: true)
        scheduler.waitUntilIdle()
        #expect(order.withLock { $0 } == ["a1", "b1", "c1", "a2", "b2", "a3"])
    }

    @Test func boundedQueueAndWithdraw() throws {
        let scheduler = ModelScheduler(name: "t", workers: 1, queueLimit: 1)
        let gate = NSCondition()
        let open = Mutex(false)
        try scheduler.submit(ScheduledJob(owner: 0, run: {
            gate.withLock { while !open.withLock({ $0 }) { gate.wait() } }
        }, drop: { _ in }))
        let waiting = ScheduledJob(owner: 1, run: {}, drop: { _ in })
        try scheduler.submit(waiting)
        #expect(throws: ServiceError.self) { try scheduler.submit(ScheduledJob(owner: 2, run: {}, drop: { _ in })) }
        #expect(scheduler.withdraw(waiting))
        #expect(!scheduler.withdraw(waiting))
        gate.withLock { open.withLock { $0 = true }; gate.broadcast() }
        scheduler.stop(drain: true)
        scheduler.waitUntilIdle()
        #expect(scheduler.load.active == 0 && scheduler.load.queued == 0)
        #expect(throws: ServiceError.self) { try scheduler.submit(ScheduledJob(owner: 2, run: {}, drop: { _ in })) }
    }
}
