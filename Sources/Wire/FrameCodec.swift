import NIOCore
import SwiftProtobuf

/// Splits a byte stream into frame payloads: 4-byte big-endian length, then that many bytes.
///
/// The announced length is checked against `maxFrameBytes` as soon as the 4 header bytes
/// are in, so an oversized frame is refused without buffering its payload. A stream that
/// ends inside a frame raises `FrameError.truncated`.
public struct FrameDecoder: ByteToMessageDecoder {
    public typealias InboundOut = ByteBuffer

    public let maxFrameBytes: Int

    public init(maxFrameBytes: Int = WireProtocol.defaultMaxFrameBytes) {
        self.maxFrameBytes = maxFrameBytes
    }

    public mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let payload = try Self.nextFrame(in: &buffer, maxFrameBytes: maxFrameBytes) else { return .needMoreData }
        context.fireChannelRead(wrapInboundOut(payload))
        return .continue
    }

    public mutating func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws -> DecodingState {
        while let payload = try Self.nextFrame(in: &buffer, maxFrameBytes: maxFrameBytes) {
            context.fireChannelRead(wrapInboundOut(payload))
        }
        if buffer.readableBytes > 0 {
            let need = buffer.readableBytes >= WireProtocol.headerBytes
                ? WireProtocol.headerBytes + Int(buffer.getInteger(at: buffer.readerIndex, as: UInt32.self)!)
                : WireProtocol.headerBytes
            let have = buffer.readableBytes
            buffer.moveReaderIndex(forwardBy: have)
            throw FrameError.truncated(have: have, need: need)
        }
        return .needMoreData
    }

    /// Takes one complete frame's payload off the front of `buffer`, or nil when more bytes
    /// are needed. Throws `FrameError.oversized` from the header alone.
    public static func nextFrame(in buffer: inout ByteBuffer, maxFrameBytes: Int) throws(FrameError) -> ByteBuffer? {
        guard let length = buffer.getInteger(at: buffer.readerIndex, as: UInt32.self) else { return nil }
        guard Int(length) <= maxFrameBytes else { throw .oversized(length: Int(length), limit: maxFrameBytes) }
        guard buffer.readableBytes >= WireProtocol.headerBytes + Int(length) else { return nil }
        buffer.moveReaderIndex(forwardBy: WireProtocol.headerBytes)
        return buffer.readSlice(length: Int(length))
    }
}

extension Message {
    /// This message as one complete frame (length header + payload).
    public func frame(allocator: ByteBufferAllocator = ByteBufferAllocator()) throws -> ByteBuffer {
        let bytes: [UInt8] = try serializedBytes()
        var buffer = allocator.buffer(capacity: WireProtocol.headerBytes + bytes.count)
        buffer.writeInteger(UInt32(bytes.count))
        buffer.writeBytes(bytes)
        return buffer
    }

    /// Decodes a frame payload, mapping any protobuf error to `FrameError.undecodable`.
    public init(payload: ByteBuffer) throws(FrameError) {
        do {
            self = try Self(serializedBytes: Array(payload.readableBytesView))
        } catch {
            throw .undecodable(detail: "\(error)")
        }
    }
}
