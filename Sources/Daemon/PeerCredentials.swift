import Foundation
import Glibc
import NIOCore
import NIOPosix

/// `struct ucred` from <sys/socket.h>, which Glibc's Swift module does not export:
/// three 32-bit fields, 12 bytes, as the kernel fills it for SO_PEERCRED.
struct PeerCred {
    var pid: Int32 = 0
    var uid: UInt32 = 0
    var gid: UInt32 = 0
}

/// Room for `SO_PEERGROUPS`: up to 1024 supplementary groups (more → ERANGE → fallback).
/// NIO zero-fills it and does not return the length the kernel wrote (see `kernelGroups`).
typealias PeerGroupBuffer = InlineArray<1024, UInt32>

/// Who is at the other end of a Unix socket connection, as the kernel reports it.
public struct PeerIdentity: Sendable, Equatable, CustomStringConvertible {
    /// Where `groups` came from.
    public enum GroupSource: String, Sendable {
        /// The peer's real supplementary groups at connect time (`SO_PEERGROUPS`, Linux ≥ 4.13).
        case kernel
        /// The user database's groups of `uid` (`getgrouplist`): the fallback when the kernel
        /// cannot say; may differ from what the process really holds.
        case userDatabase
    }

    public var pid: Int32
    public var uid: uid_t
    public var gid: gid_t
    /// Primary and supplementary groups of the peer, always including `gid`.
    public var groups: Set<gid_t>
    public var groupSource: GroupSource

    public init(pid: Int32, uid: uid_t, gid: gid_t, groups: Set<gid_t>, groupSource: GroupSource = .kernel) {
        self.pid = pid
        self.uid = uid
        self.gid = gid
        self.groups = groups
        self.groupSource = groupSource
    }

    public var description: String { "pid \(pid) uid \(uid) gid \(gid)" }

    /// `SO_PEERGROUPS` from <asm-generic/socket.h>.
    static let peerGroupsOption: Int32 = 59

    /// Reads SO_PEERCRED and SO_PEERGROUPS from a connected Unix socket channel. When the
    /// kernel cannot give the groups, the user database is asked on a thread pool, never on
    /// the event loop (NSS lookups may block on the network).
    public static func of(_ channel: Channel) -> EventLoopFuture<PeerIdentity> {
        guard let provider = channel as? SocketOptionProvider else {
            return channel.eventLoop.makeFailedFuture(ChannelError.operationUnsupported)
        }
        let eventLoop = channel.eventLoop
        let credentials: EventLoopFuture<PeerCred> = provider.unsafeGetSocketOption(
            level: SocketOptionLevel(SOL_SOCKET), name: SocketOptionName(SO_PEERCRED))
        return credentials.flatMap { cred in
            let groups: EventLoopFuture<PeerGroupBuffer> = provider.unsafeGetSocketOption(
                level: SocketOptionLevel(SOL_SOCKET), name: SocketOptionName(peerGroupsOption))
            return groups.map { buffer in
                PeerIdentity(pid: cred.pid, uid: cred.uid, gid: cred.gid,
                             groups: kernelGroups(buffer).union([cred.gid]), groupSource: .kernel)
            }.flatMapError { _ in
                NIOThreadPool.singleton.runIfActive(eventLoop: eventLoop) {
                    PeerIdentity(pid: cred.pid, uid: cred.uid, gid: cred.gid,
                                 groups: groupsOf(uid: cred.uid, gid: cred.gid), groupSource: .userDatabase)
                }
            }
        }
    }

    /// The groups in a zero-filled `SO_PEERGROUPS` buffer. The kernel keeps a process's
    /// groups sorted, so the list is the non-decreasing prefix and the zeros after it are
    /// padding. A leading 0 counts as group 0 only when a real group follows it: a lone
    /// gid 0 cannot be told from an empty list, and is left out (it can only deny access;
    /// the primary group from SO_PEERCRED is always counted).
    static func kernelGroups(_ buffer: PeerGroupBuffer) -> Set<gid_t> {
        var groups: Set<gid_t> = []
        var previous: UInt32 = 0
        for index in buffer.indices {
            let gid = buffer[index]
            if gid == 0 {
                if index == 0, buffer.count > 1, buffer[1] != 0 { groups.insert(0) }
                if index > 0 { break }
                continue
            }
            guard gid >= previous else { break }
            groups.insert(gid)
            previous = gid
        }
        return groups
    }

    /// The groups `uid` belongs to in the user database, always including `gid` (blocking).
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
