import Glibc

/// Constants of wire protocol version 1 (see `eagle.proto`).
public enum WireProtocol {
    /// "EAGL" as a big-endian uint32; the first field of both hellos.
    public static let magic: UInt32 = 0x4541_474C
    /// The protocol version this build speaks.
    public static let version: UInt32 = 1
    /// Bytes of the big-endian length that precedes every payload.
    public static let headerBytes = 4
    /// Default cap on one frame's payload. A longer announced length is a protocol error,
    /// detected from the header alone, before any payload is buffered.
    public static let defaultMaxFrameBytes = 4 << 20
}

/// What can be wrong with the framing of a byte stream. Every case ends the connection.
public enum FrameError: Error, CustomStringConvertible, Equatable, Sendable {
    /// The header announces more payload bytes than the receiver accepts.
    case oversized(length: Int, limit: Int)
    /// The stream ended inside a frame.
    case truncated(have: Int, need: Int)
    /// A payload that is not a valid protobuf message of the expected type.
    case undecodable(detail: String)
    /// The peer closed the connection between frames.
    case closed
    /// A socket call failed.
    case io(operation: String, errno: Int32)

    public var description: String {
        switch self {
        case .oversized(let length, let limit):
            return "frame of \(length) bytes exceeds the limit of \(limit) bytes"
        case .truncated(let have, let need):
            return "connection closed inside a frame (\(have) of \(need) bytes)"
        case .undecodable(let detail):
            return "undecodable frame payload: \(detail)"
        case .closed:
            return "connection closed"
        case .io(let operation, let errno):
            return "\(operation) failed: \(String(cString: strerror(errno)))"
        }
    }
}
