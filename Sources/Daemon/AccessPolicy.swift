import Foundation
import Glibc

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
