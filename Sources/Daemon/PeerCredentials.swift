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

/// Who may connect and who may load and unload models, resolved to numeric ids.
public struct AccessPolicy: Sendable, Equatable {
    public var users: Set<uid_t>
    public var groups: Set<gid_t>
    public var adminUsers: Set<uid_t>
    public var adminGroups: Set<gid_t>
    /// The daemon's own user: always allowed, always an admin (as is root).
    public var ownerUID: uid_t

    public init(users: Set<uid_t> = [], groups: Set<gid_t> = [], adminUsers: Set<uid_t> = [],
                adminGroups: Set<gid_t> = [], ownerUID: uid_t = getuid()) {
        self.users = users
        self.groups = groups
        self.adminUsers = adminUsers
        self.adminGroups = adminGroups
        self.ownerUID = ownerUID
    }

    /// Resolves user and group names (or numeric ids) from the configuration.
    public init(_ config: AccessConfig, ownerUID: uid_t = getuid()) throws(ConfigError) {
        self.init(
            users: try Set(config.users.map { name throws(ConfigError) in try Self.uid(name) }),
            groups: try Set(config.groups.map { name throws(ConfigError) in try Self.gid(name) }),
            adminUsers: try Set(config.adminUsers.map { name throws(ConfigError) in try Self.uid(name) }),
            adminGroups: try Set(config.adminGroups.map { name throws(ConfigError) in try Self.gid(name) }),
            ownerUID: ownerUID)
    }

    /// With no users or groups listed, anyone who can open the socket may use it.
    public var isOpen: Bool { users.isEmpty && groups.isEmpty }

    public func isAdmin(_ peer: PeerIdentity) -> Bool {
        peer.uid == 0 || peer.uid == ownerUID || adminUsers.contains(peer.uid) || !adminGroups.isDisjoint(with: peer.groups)
    }

    public func isAllowed(_ peer: PeerIdentity) -> Bool {
        isOpen || isAdmin(peer) || users.contains(peer.uid) || !groups.isDisjoint(with: peer.groups)
    }

    static func uid(_ name: String) throws(ConfigError) -> uid_t {
        if let id = uid_t(name) { return id }
        guard let entry = getpwnam(name) else { throw .invalid("unknown user '\(name)' in access settings") }
        return entry.pointee.pw_uid
    }

    static func gid(_ name: String) throws(ConfigError) -> gid_t {
        if let id = gid_t(name) { return id }
        guard let entry = getgrnam(name) else { throw .invalid("unknown group '\(name)' in access settings") }
        return entry.pointee.gr_gid
    }
}
