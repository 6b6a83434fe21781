import NIOCore
import NIOEmbedded
import Testing
import Wire

@Suite("Frame codec")
struct FrameCodecTests {
    private func makeChannel(cap: Int = 1024) -> EmbeddedChannel {
        EmbeddedChannel(handler: ByteToMessageHandler(FrameDecoder(maxFrameBytes: cap)))
    }

    private func sampleRequest(id: UInt64) -> Eagle_V1_Request {
        var request = Eagle_V1_Request()
        request.id = id
        request.generate = .with {
            $0.model = "tiny"
            $0.text = "hello"
            $0.maxTokens = 7
            $0.stop = ["\n\n"]
        }
        return request
    }

    @Test func roundTripsFramesSplitAcrossReads() throws {
        let channel = makeChannel()
        var bytes = try sampleRequest(id: 1).frame()
        bytes.writeImmutableBuffer(try sampleRequest(id: 2).frame())
        // Feed one byte at a time: the decoder must wait for whole frames.
        for i in 0..<bytes.readableBytes {
            try channel.writeInbound(bytes.getSlice(at: i, length: 1)!)
        }
        let first = try #require(try channel.readInbound(as: ByteBuffer.self))
        let second = try #require(try channel.readInbound(as: ByteBuffer.self))
        #expect(try Eagle_V1_Request(payload: first) == sampleRequest(id: 1))
        #expect(try Eagle_V1_Request(payload: second) == sampleRequest(id: 2))
        #expect(try channel.readInbound(as: ByteBuffer.self) == nil)
        _ = try channel.finish()
    }

    @Test func refusesOversizedLengthFromHeaderAlone() throws {
        let channel = makeChannel(cap: 1024)
        var header = ByteBuffer()
        header.writeInteger(UInt32(1025))
        #expect(throws: FrameError.oversized(length: 1025, limit: 1024)) {
            try channel.writeInbound(header)
        }
        _ = try? channel.finish()  // closes it: an open EmbeddedChannel and its pipeline keep each other alive
    }

    @Test func acceptsFrameAtExactlyTheCap() throws {
        let channel = makeChannel(cap: 16)
        var buffer = ByteBuffer()
        buffer.writeInteger(UInt32(16))
        buffer.writeBytes([UInt8](repeating: 0, count: 16))
        try channel.writeInbound(buffer)
        let payload = try #require(try channel.readInbound(as: ByteBuffer.self))
        #expect(payload.readableBytes == 16)
        _ = try channel.finish()
    }

    @Test func reportsTruncatedFrameAtEndOfStream() throws {
        let channel = makeChannel()
        var buffer = ByteBuffer()
        buffer.writeInteger(UInt32(100))
        buffer.writeBytes([1, 2, 3])
        try channel.writeInbound(buffer)
        #expect(try channel.readInbound(as: ByteBuffer.self) == nil)
        #expect(throws: FrameError.truncated(have: 7, need: 104)) {
            _ = try channel.finish()
        }
    }

    @Test func reportsTruncatedHeaderAtEndOfStream() throws {
        let channel = makeChannel()
        try channel.writeInbound(ByteBuffer(bytes: [0, 0]))
        #expect(throws: FrameError.truncated(have: 2, need: 4)) {
            _ = try channel.finish()
        }
    }

    @Test func garbageTextReadsAsAnOversizedLength() throws {
        // "GET / HTTP/1.1" announces 0x47455420 bytes: refused before buffering anything.
        let channel = makeChannel(cap: WireProtocol.defaultMaxFrameBytes)
        #expect(throws: FrameError.oversized(length: 0x4745_5420, limit: WireProtocol.defaultMaxFrameBytes)) {
            try channel.writeInbound(ByteBuffer(string: "GET / HTTP/1.1\r\n"))
        }
        _ = try? channel.finish()
    }

    @Test func garbagePayloadIsUndecodable() throws {
        let payload = ByteBuffer(bytes: [0xFF, 0xFF, 0xFF, 0xFF, 0x0F, 0x01])
        #expect(throws: FrameError.self) {
            _ = try Eagle_V1_Request(payload: payload)
        }
    }

    @Test func emptyPayloadIsARequestWithNoKind() throws {
        let request = try Eagle_V1_Request(payload: ByteBuffer())
        #expect(request.kind == nil)
        #expect(request.kindName == "unknown")
    }

    @Test func nextFrameLeavesPartialBytesInPlace() throws {
        var buffer = ByteBuffer()
        buffer.writeInteger(UInt32(3))
        buffer.writeBytes([9, 9])
        #expect(try FrameDecoder.nextFrame(in: &buffer, maxFrameBytes: 8) == nil)
        #expect(buffer.readableBytes == 6)
        buffer.writeBytes([9])
        let frame = try #require(try FrameDecoder.nextFrame(in: &buffer, maxFrameBytes: 8))
        #expect(Array(frame.readableBytesView) == [9, 9, 9])
        #expect(buffer.readableBytes == 0)
    }
}
