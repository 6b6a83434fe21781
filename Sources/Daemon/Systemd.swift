import Foundation
import Glibc
import Synchronization

/// Talks to systemd's notification socket (`sd_notify(3)`) without libsystemd: one
/// datagram per state change on the Unix socket named by `$NOTIFY_SOCKET`.
///
/// One datagram socket is opened on first use and kept: the watchdog pings every few
/// seconds for the daemon's whole life, and a socket per ping churned descriptors.
public struct SystemdNotifier: Sendable {
    /// The notification socket, nil when not started by systemd with `Type=notify`.
    public let socketPath: String?
    /// Half of `$WATCHDOG_USEC` (the documented ping period), when the watchdog is on for us.
    public let watchdogPingInterval: Duration?
    private let endpoint: NotifyEndpoint?

    public init(environment: [String: String] = ProcessInfo.processInfo.environment) {
        let path = environment["NOTIFY_SOCKET"]
        socketPath = (path?.isEmpty ?? true) ? nil : path
        endpoint = socketPath.flatMap(NotifyEndpoint.init(path:))
        if let usec = environment["WATCHDOG_USEC"].flatMap(UInt64.init), usec > 0,
           environment["WATCHDOG_PID"].flatMap(Int32.init).map({ $0 == getpid() }) ?? true {
            watchdogPingInterval = .microseconds(Int64(usec / 2))
        } else {
            watchdogPingInterval = nil
        }
    }

    public var isEnabled: Bool { socketPath != nil }

    /// The descriptor notifications go out on (-1 before the first one); for tests.
    var descriptor: Int32 { endpoint?.descriptor ?? -1 }

    /// Sends `READY=1`, `STATUS=…`, `STOPPING=1`, `WATCHDOG=1` and the like (newline-separated).
    /// Returns false when there is no socket or the send failed; never throws.
    @discardableResult
    public func notify(_ state: String) -> Bool {
        endpoint?.send(Array(state.utf8)) ?? false
    }
}

/// The notification socket's address and the one datagram socket that sends to it.
final class NotifyEndpoint: Sendable {
    private let address: sockaddr_un
    private let length: socklen_t
    /// Opened on first send, closed with the endpoint.
    private let fd = Mutex<Int32>(-1)

    init?(path: String) {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        var pathBytes = Array(path.utf8)
        // "@name" is a socket in the abstract namespace: a leading NUL, no terminator.
        let abstract = pathBytes.first == UInt8(ascii: "@")
        if abstract { pathBytes[0] = 0 }
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        guard pathBytes.count < capacity else { return nil }
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: pathBytes) }
        let pathOffset = MemoryLayout<sockaddr_un>.offset(of: \.sun_path)!
        self.address = address
        length = socklen_t(pathOffset + pathBytes.count + (abstract ? 0 : 1))
    }

    deinit {
        let open = fd.withLock { $0 }
        if open >= 0 { close(open) }
    }

    var descriptor: Int32 { fd.withLock { $0 } }

    func send(_ message: [UInt8]) -> Bool {
        fd.withLock { fd -> Bool in
            if fd < 0 {
                fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
                guard fd >= 0 else { return false }
            }
            var address = address
            let sent = withUnsafePointer(to: &address) { pointer in
                pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { sockaddrPointer in
                    message.withUnsafeBytes { sendto(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL), sockaddrPointer, length) }
                }
            }
            return sent == message.count
        }
    }
}

/// Sockets passed by systemd socket activation (`sd_listen_fds(3)`).
public enum SocketActivation {
    /// The first fd systemd passes.
    public static let firstFD: Int32 = 3

    /// The listening sockets passed to this process, and clears the variables so that
    /// children do not inherit them. Empty when not socket-activated.
    public static func takeListeningSockets(environment: [String: String] = ProcessInfo.processInfo.environment) throws(ConfigError) -> [Int32] {
        guard let countText = environment["LISTEN_FDS"] else { return [] }
        defer {
            unsetenv("LISTEN_PID")
            unsetenv("LISTEN_FDS")
            unsetenv("LISTEN_FDNAMES")
        }
        if let pid = environment["LISTEN_PID"], Int32(pid) != getpid() { return [] }
        guard let count = Int32(countText), count >= 0, count < 1024 else {
            throw .invalid("LISTEN_FDS='\(countText)' is not a count of file descriptors")
        }
        var fds: [Int32] = []
        for fd in firstFD..<(firstFD + count) {
            guard fcntl(fd, F_SETFD, FD_CLOEXEC) == 0 else { throw .invalid("LISTEN_FDS names fd \(fd), which is not open") }
            var type: Int32 = 0
            var length = socklen_t(MemoryLayout<Int32>.size)
            guard getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &length) == 0, type == Int32(SOCK_STREAM.rawValue) else {
                throw .invalid("fd \(fd) passed by systemd is not a stream socket")
            }
            fds.append(fd)
        }
        return fds
    }
}
