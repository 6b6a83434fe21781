import NIOCore
import Wire

/// Sends responses to a `ConnectionHandler` from any thread.
///
/// Frames are encoded on the calling (worker) thread and capped there at the frame size
/// announced in the hello: a response that would not fit becomes RESOURCE_EXHAUSTED for its
/// request alone (and ends it), instead of a frame the client must refuse by closing.
struct ConnectionSink: ResponseSink {
    let connectionID: UInt64
    let handler: NIOLoopBound<ConnectionHandler>
    let flow: ConnectionFlow
    let maxFrameBytes: Int

    func send(_ response: Eagle_V1_Response) {
        let id = response.id
        var terminal = response.isTerminal
        var oversized = false
        guard var frame = try? response.frame() else { return }
        let payloadBytes = frame.readableBytes - WireProtocol.headerBytes
        if payloadBytes > maxFrameBytes {
            let refusal = Eagle_V1_Response.status(
                id: id, .resourceExhausted,
                "the \(response.kindName) reply of request \(id) is \(payloadBytes) bytes, over the frame limit of \(maxFrameBytes) bytes")
            guard let small = try? refusal.frame() else { return }
            frame = small
            terminal = true
            oversized = true
        }
        let eventLoop = handler.eventLoop
        if eventLoop.inEventLoop {
            handler.value.deliver(frame, id: id, terminal: terminal, endsEarly: oversized)
        } else {
            let bytes = frame.readableBytes
            flow.handOver(bytes)
            eventLoop.execute { [frame, terminal, oversized, flow] in
                handler.value.deliver(frame, id: id, terminal: terminal, endsEarly: oversized)
                flow.taken(bytes)
            }
        }
    }

    func waitUntilWritable(isCancelled: () -> Bool) {
        flow.waitUntilWritable(isCancelled: isCancelled)
    }

    var isWritable: Bool { flow.isWritable }
}
