import Foundation
import Glibc
import NIOCore

/// `struct ucred` from <sys/socket.h>, which Glibc's Swift module does not export:
/// three 32-bit fields, 12 bytes, as the kernel fills it for SO_PEERCRED.
struct PeerCred {
    var pid: Int32 = 0
    var uid: UInt32 = 0
    var gid: UInt32 = 0
}

/// Who is at the other end of a Unix socket connection, as the kernel reports it.
public struct PeerIdentity: Sendable, Equatable, CustomStringConvertible {
    public var pid: Int32
    public var uid: uid_t
    public var gid: gid_t
    /// Primary and supplementary groups of `uid` (from the user database; just `gid` when
    /// the user has no entry, as with systemd's dynamic users).
    public var groups: Set<gid_t>

    public init(pid: Int32, uid: uid_t, gid: gid_t, groups: Set<gid_t>) {
        self.pid = pid
        self.uid = uid
        self.gid = gid
        self.groups = groups
    }

    public var description: String { "pid \(pid) uid \(uid) gid \(gid)" }

    /// Reads SO_PEERCRED from a connected Unix socket channel.
    public static func of(_ channel: Channel) -> EventLoopFuture<PeerIdentity> {
        guard let provider = channel as? SocketOptionProvider else {
            return channel.eventLoop.makeFailedFuture(ChannelError.operationUnsupported)
        }
        let future: EventLoopFuture<PeerCred> = provider.unsafeGetSocketOption(
            level: SocketOptionLevel(SOL_SOCKET), name: SocketOptionName(SO_PEERCRED))
        return future.map { cred in
            PeerIdentity(pid: cred.pid, uid: cred.uid, gid: cred.gid, groups: groupsOf(uid: cred.uid, gid: cred.gid))
        }
    }

    /// The groups `uid` belongs to, always including `gid`.
    static func groupsOf(uid: uid_t, gid: gid_t) -> Set<gid_t> {
        var groups: Set<gid_t> = [gid]
        var entry = passwd()
        var result: UnsafeMutablePointer<passwd>?
        var buffer = [CChar](repeating: 0, count: 16_384)
        guard getpwuid_r(uid, &entry, &buffer, buffer.count, &result) == 0, result != nil, let name = entry.pw_name else {
            return groups
        }
        var count: Int32 = 64
        var list = [gid_t](repeating: 0, count: Int(count))
        if getgrouplist(name, gid, &list, &count) < 0 {
            list = [gid_t](repeating: 0, count: Int(count))
            guard getgrouplist(name, gid, &list, &count) >= 0 else { return groups }
        }
        groups.formUnion(list.prefix(Int(count)))
        return groups
    }
}
