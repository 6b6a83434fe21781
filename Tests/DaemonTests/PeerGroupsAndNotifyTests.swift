@testable import Daemon
import Foundation
import Glibc
import NIOCore
import NIOPosix
import Testing
import Wire

/// Groups come from the kernel (SO_PEERGROUPS), not the user database; sd_notify keeps
/// one socket (issue 11).
@Suite("Peer groups and systemd notify")
struct PeerGroupsAndNotifyTests {
    static func buffer(_ gids: [UInt32]) -> PeerGroupBuffer {
        var buffer = PeerGroupBuffer(repeating: 0)
        for (index, gid) in gids.enumerated() { buffer[index] = gid }
        return buffer
    }

    @Test func kernelGroupListsAreReadUpToTheirPadding() {
        #expect(PeerIdentity.kernelGroups(Self.buffer([])) == [])
        #expect(PeerIdentity.kernelGroups(Self.buffer([4, 27, 1000])) == [4, 27, 1000])
        #expect(PeerIdentity.kernelGroups(Self.buffer([0, 4, 27])) == [0, 4, 27])
        // A lone 0 cannot be told from an empty list: left out (it can only deny).
        #expect(PeerIdentity.kernelGroups(Self.buffer([0])) == [])
        #expect(PeerIdentity.kernelGroups(Self.buffer(Array(1...1024))).count == 1024)
    }

    /// The identity the daemon reads for a client connecting from this process.
    static func identityOfAClient() throws -> PeerIdentity {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        defer { try? group.syncShutdownGracefully() }
        let promise = group.next().makePromise(of: PeerIdentity.self)
        let path = temporarySocketPath()
        let server = try ServerBootstrap(group: group)
            .childChannelInitializer { channel in
                PeerIdentity.of(channel).cascade(to: promise)
                return channel.eventLoop.makeSucceededVoidFuture()
            }
            .bind(unixDomainSocketPath: path, cleanupExistingSocketFile: true).wait()
        defer { try? server.close().wait(); unlink(path) }
        let client = try WireClient(path: path)
        defer { client.close() }
        return try promise.futureResult.wait()
    }

    @Test func groupsAreTheCallersRealGroups() throws {
        let count = getgroups(0, nil)
        var own = [gid_t](repeating: 0, count: Int(max(count, 0)))
        _ = getgroups(count, &own)
        guard getuid() == 0 else {
            let peer = try Self.identityOfAClient()
            #expect(peer.groupSource == .kernel)
            #expect(peer.groups == Set(own).union([getgid()]))
            return
        }
        // As root: hold a group the user database does not give root, as `setpriv
        // --groups` or a setgroups() caller would. getgrouplist never reported it.
        var extra: [gid_t] = own + [4_242_424]
        #expect(setgroups(extra.count, &extra) == 0)
        defer { _ = setgroups(own.count, &own) }
        let peer = try Self.identityOfAClient()
        #expect(peer.groupSource == .kernel)
        #expect(peer.groups.contains(4_242_424))
        #expect(AccessPolicy(groups: [4_242_424], ownerUID: 4_000_000).isAllowed(
            PeerIdentity(pid: 1, uid: 5000, gid: 5000, groups: peer.groups)))
    }

    @Test func notificationsGoThroughOneSocket() throws {
        let path = temporarySocketPath()
        let receiver = boundDatagramSocket(path: path)
        try #require(receiver >= 0)
        defer { close(receiver); unlink(path) }
        let notifier = SystemdNotifier(environment: ["NOTIFY_SOCKET": path, "WATCHDOG_USEC": "2000000"])
        #expect(notifier.watchdogPingInterval == .seconds(1))
        #expect(notifier.notify("READY=1"))
        let fd = notifier.descriptor
        #expect(fd >= 0)
        for _ in 0..<5 { #expect(notifier.notify("WATCHDOG=1")) }
        // Every ping went through the socket the first notification opened.
        #expect(notifier.descriptor == fd)
        #expect(fcntl(fd, F_GETFD) >= 0)
        var received: [String] = []
        var buffer = [UInt8](repeating: 0, count: 256)
        for _ in 0..<6 {
            let n = recv(receiver, &buffer, buffer.count, Int32(MSG_DONTWAIT))
            if n > 0 { received.append(String(decoding: buffer[..<n], as: UTF8.self)) }
        }
        #expect(received == ["READY=1"] + Array(repeating: "WATCHDOG=1", count: 5))
    }
}
