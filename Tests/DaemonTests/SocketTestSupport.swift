import Foundation
import Glibc
import Wire

/// Gives up a blocking receive after `seconds` (a test must never hang on a daemon bug).
func setReceiveTimeout(_ client: WireClient, seconds: Int) {
    var timeout = timeval(tv_sec: seconds, tv_usec: 0)
    _ = setsockopt(client.fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
}

/// Gives up a blocking send after `seconds`.
func setSendTimeout(_ client: WireClient, seconds: Int) {
    var timeout = timeval(tv_sec: seconds, tv_usec: 0)
    _ = setsockopt(client.fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
}

/// A frame around `payload`: 4-byte big-endian length, then the bytes.
func framed(_ payload: [UInt8]) -> [UInt8] {
    withUnsafeBytes(of: UInt32(payload.count).bigEndian) { Array($0) } + payload
}

/// This process's resident memory in bytes (from /proc/self/statm).
func residentBytes() -> Int {
    guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return 0 }
    let fields = text.split(separator: " ")
    guard fields.count > 1, let pages = Int(fields[1]) else { return 0 }
    return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
}

/// Runs `body` on a thread and waits up to `seconds` for it; false when it did not finish.
func finishes(within seconds: Double, _ body: @escaping @Sendable () -> Void) -> Bool {
    let done = DispatchSemaphore(value: 0)
    Thread.detachNewThread {
        body()
        done.signal()
    }
    return done.wait(timeout: .now() + seconds) == .success
}

/// Reads responses until the connection closes, or `seconds` pass without one.
func readUntilClosed(_ client: WireClient, timeout seconds: Int) -> (responses: [Eagle_V1_Response], closed: Bool) {
    setReceiveTimeout(client, seconds: seconds)
    var responses: [Eagle_V1_Response] = []
    while true {
        do { responses.append(try client.receive()) } catch {
            if case .io(_, let code) = error, code == EAGAIN || code == EWOULDBLOCK { return (responses, false) }
            return (responses, true)
        }
    }
}

/// A datagram socket bound at `path` (a stand-in for systemd's notify socket); -1 on failure.
func boundDatagramSocket(path: String) -> Int32 {
    let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
    guard fd >= 0 else { return -1 }
    var address = sockaddr_un()
    address.sun_family = sa_family_t(AF_UNIX)
    withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: Array(path.utf8) + [0]) }
    let bound = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
    }
    guard bound == 0 else {
        close(fd)
        return -1
    }
    return fd
}
