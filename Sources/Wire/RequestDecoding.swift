import NIOCore
import SwiftProtobuf

/// Why a request payload could not be decoded, and whether the connection survives it.
public enum RequestDecodingError: Error, Sendable, Equatable {
    /// The message is well formed but a `string` field holds bytes that are not UTF-8 (a C
    /// caller passing Latin-1, say). Its id is known, so only that request fails.
    case invalidUTF8(id: UInt64)
    /// The bytes are not a `Request` at all: a protocol error for the whole connection.
    case undecodable(FrameError)
}

extension Eagle_V1_Request {
    /// Decodes a request payload, telling a bad `string` field (its request fails, with its
    /// id) from a payload that is not a request (the connection fails).
    ///
    /// swift-protobuf refuses a message whose `string` fields are not UTF-8. The id (field 1,
    /// a varint) is then read from the raw bytes by `rawID(in:)`; the message must still be
    /// well formed, so garbage stays a protocol error.
    public static func decode(payload: ByteBuffer) throws(RequestDecodingError) -> Eagle_V1_Request {
        let bytes = Array(payload.readableBytesView)
        do {
            return try Eagle_V1_Request(serializedBytes: bytes)
        } catch BinaryDecodingError.invalidUTF8 {
            guard let id = rawID(in: bytes) else { throw .undecodable(.undecodable(detail: "invalid UTF-8 in a string field")) }
            throw .invalidUTF8(id: id)
        } catch {
            throw .undecodable(.undecodable(detail: "\(error)"))
        }
    }

    /// Field 1 (the id) of a serialized request, walking its top-level fields without
    /// decoding them; nil unless every field is well formed. The last id wins, as in protobuf.
    static func rawID(in bytes: [UInt8]) -> UInt64? {
        var index = 0
        var id: UInt64 = 0
        func varint() -> UInt64? {
            var value: UInt64 = 0
            var shift: UInt64 = 0
            while index < bytes.count, shift < 64 {
                let byte = bytes[index]
                index += 1
                value |= UInt64(byte & 0x7F) << shift
                if byte & 0x80 == 0 { return value }
                shift += 7
            }
            return nil
        }
        while index < bytes.count {
            guard let tag = varint(), tag >> 3 != 0 else { return nil }
            switch tag & 7 {
            case 0:
                guard let value = varint() else { return nil }
                if tag >> 3 == 1 { id = value }
            case 1:
                index += 8
            case 2:
                guard let length = varint(), length <= UInt64(bytes.count - index) else { return nil }
                index += Int(length)
            case 5:
                index += 4
            default:
                return nil
            }
            guard index <= bytes.count else { return nil }
        }
        return id
    }
}
