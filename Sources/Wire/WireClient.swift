import Glibc

/// Why a call over a `WireClient` did not produce its result.
public enum CallError: Error, CustomStringConvertible, Sendable {
    /// The connection failed or the server broke framing.
    case transport(FrameError)
    /// The server answered with a non-OK status.
    case failed(Eagle_V1_Status)
    /// The server answered with something this call did not expect.
    case unexpected(String)

    public var description: String {
        switch self {
        case .transport(let error): return "\(error)"
        case .failed(let status): return "\(status.code): \(status.message)"
        case .unexpected(let detail): return "unexpected response: \(detail)"
        }
    }
}

/// A blocking client connection: one Unix stream socket, whole frames in and out.
///
/// Meant for tools and tests that drive the daemon from plain threads (`eagle-probe`,
/// the benchmark, live-socket tests). Not thread-safe: use one per thread.
public final class WireClient {
    public private(set) var fd: Int32
    public let maxFrameBytes: Int
    private var nextID: UInt64 = 1

    /// Connects to the Unix socket at `path`.
    public init(path: String, maxFrameBytes: Int = WireProtocol.defaultMaxFrameBytes) throws(FrameError) {
        self.maxFrameBytes = maxFrameBytes
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw .io(operation: "socket", errno: errno) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        guard bytes.count < capacity else {
            Glibc.close(fd)
            throw .io(operation: "connect (path longer than \(capacity - 1) bytes)", errno: ENAMETOOLONG)
        }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        guard result == 0 else {
            let error = errno
            Glibc.close(fd)
            throw .io(operation: "connect to \(path)", errno: error)
        }
        self.fd = fd
    }

    deinit { close() }

    /// Closes the socket; later calls fail.
    public func close() {
        if fd >= 0 {
            _ = Glibc.close(fd)
            fd = -1
        }
    }

    /// Half-closes the socket: the server sees end of stream, replies can still be read.
    public func shutdownWrite() {
        _ = shutdown(fd, Int32(SHUT_WR))
    }

    /// A fresh request id, unique on this connection.
    public func makeID() -> UInt64 {
        defer { nextID += 1 }
        return nextID
    }

    /// Writes raw bytes (tests use this to send broken frames).
    public func sendRaw(_ bytes: [UInt8]) throws(FrameError) {
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeBytes { raw in
                Glibc.send(fd, raw.baseAddress! + offset, raw.count - offset, Int32(MSG_NOSIGNAL))
            }
            if written < 0 {
                if errno == EINTR { continue }
                throw .io(operation: "send", errno: errno)
            }
            offset += written
        }
    }

    /// Writes one request as a frame.
    public func send(_ request: Eagle_V1_Request) throws(FrameError) {
        let payload: [UInt8]
        do { payload = try request.serializedBytes() } catch { throw .undecodable(detail: "\(error)") }
        let length = UInt32(payload.count).bigEndian
        let header = withUnsafeBytes(of: length) { Array($0) }
        try sendRaw(header + payload)
    }

    /// Reads one frame's payload; `FrameError.closed` at a clean end of stream.
    public func receivePayload() throws(FrameError) -> [UInt8] {
        var header = [UInt8](repeating: 0, count: WireProtocol.headerBytes)
        let got = try readFully(&header)
        if got == 0 { throw .closed }
        guard got == header.count else { throw .truncated(have: got, need: header.count) }
        let length = Int(header[0]) << 24 | Int(header[1]) << 16 | Int(header[2]) << 8 | Int(header[3])
        guard length <= maxFrameBytes else { throw .oversized(length: length, limit: maxFrameBytes) }
        var payload = [UInt8](repeating: 0, count: length)
        let read = try readFully(&payload)
        guard read == length else { throw .truncated(have: WireProtocol.headerBytes + read, need: WireProtocol.headerBytes + length) }
        return payload
    }

    /// Reads one response.
    public func receive() throws(FrameError) -> Eagle_V1_Response {
        let payload = try receivePayload()
        do { return try Eagle_V1_Response(serializedBytes: payload) } catch { throw .undecodable(detail: "\(error)") }
    }

    /// Sends the opening hello and returns the server's reply.
    @discardableResult
    public func hello(clientName: String = "wire-client") throws(CallError) -> Eagle_V1_HelloReply {
        let response = try call(.hello(id: 0, clientName: clientName))
        guard case .hello(let reply) = response.kind else { throw .unexpected("\(response)") }
        return reply
    }

    /// Sends `request` (with a fresh id unless it has one) and reads until its terminal
    /// response, passing any stream chunks to `onChunk`. Responses to other ids are dropped.
    public func call(
        _ request: Eagle_V1_Request, onChunk: (Eagle_V1_GenerateChunk) -> Void = { _ in }
    ) throws(CallError) -> Eagle_V1_Response {
        var request = request
        if request.id == 0, request.kindName != "hello" { request.id = makeID() }
        do { try send(request) } catch { throw .transport(error) }
        while true {
            let response: Eagle_V1_Response
            do { response = try receive() } catch { throw .transport(error) }
            guard response.id == request.id || response.id == 0 else { continue }
            switch response.kind {
            case .chunk(let chunk): onChunk(chunk)
            case .status(let status): throw .failed(status)
            default: return response
            }
        }
    }

    private func readFully(_ buffer: inout [UInt8]) throws(FrameError) -> Int {
        var offset = 0
        while offset < buffer.count {
            let n = buffer.withUnsafeMutableBytes { raw in
                Glibc.read(fd, raw.baseAddress! + offset, raw.count - offset)
            }
            if n < 0 {
                if errno == EINTR { continue }
                throw .io(operation: "read", errno: errno)
            }
            if n == 0 { break }
            offset += n
        }
        return offset
    }
}
