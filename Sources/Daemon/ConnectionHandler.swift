import Logging
import NIOCore
import Wire

/// One client connection: hello, request dispatch, in-flight bookkeeping, cancellation.
///
/// Lives on the connection's event loop. Every request id is tracked from arrival to its
/// terminal response; `deliver` drops anything for an id that already ended, so each
/// request gets exactly one terminal response. Closing the connection cancels its requests.
final class ConnectionHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let service: DaemonService
    private let connectionID: UInt64
    private let logger: Logger
    private var context: ChannelHandlerContext?
    private var peer: PeerIdentity?
    /// Requests that arrived before the peer's credentials were read.
    private var pending: [ByteBuffer] = []
    private var greeted = false
    private var closing = false
    /// Requests without their terminal response yet; the ticket cancels the running ones.
    private var inFlight: [UInt64: RequestTicket?] = [:]

    init(service: DaemonService, connectionID: UInt64, logger: Logger) {
        self.service = service
        self.connectionID = connectionID
        var logger = logger
        logger[metadataKey: "connection"] = "\(connectionID)"
        self.logger = logger
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func channelActive(context: ChannelHandlerContext) {
        let bound = NIOLoopBound(self, eventLoop: context.eventLoop)
        PeerIdentity.of(context.channel).whenComplete { result in
            let handler = bound.value
            switch result {
            case .success(let peer):
                handler.peer = peer
                handler.logger.debug("connected: \(peer)")
                let queued = handler.pending
                handler.pending = []
                for payload in queued { handler.process(payload) }
            case .failure(let error):
                handler.logger.warning("cannot read peer credentials (\(error)); closing")
                handler.close()
            }
        }
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let payload = unwrapInboundIn(data)
        if peer == nil { pending.append(payload) } else { process(payload) }
    }

    func channelInactive(context: ChannelHandlerContext) {
        let open = inFlight.compactMap { $0.value }
        if !open.isEmpty { logger.info("client went away with \(inFlight.count) requests open; cancelling them") }
        inFlight = [:]
        for ticket in open { ticket.cancel() }
        self.context = nil
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        switch error {
        case let frame as FrameError:
            logger.notice("protocol error: \(frame)")
            if case .oversized = frame {
                protocolError(.resourceExhausted, "\(frame)")
            } else {
                close()
            }
        default:
            logger.debug("connection error: \(error)")
            close()
        }
    }

    // MARK: - Requests

    private func process(_ payload: ByteBuffer) {
        // The peer lookup may complete after the connection already closed.
        guard !closing, let peer, let context else { return }
        let request: Eagle_V1_Request
        do { request = try Eagle_V1_Request(payload: payload) } catch {
            protocolError(.invalidArgument, "\(error)")
            return
        }
        guard greeted else {
            greet(request, peer: peer)
            return
        }
        switch request.kind {
        case .hello:
            write(.status(id: request.id, .failedPrecondition, "hello was already exchanged on this connection"))
        case .cancel(let cancel):
            if let entry = inFlight[cancel.targetID] {
                entry?.cancel()
                write(.with { $0.id = request.id; $0.cancelled = Eagle_V1_Empty() })
            } else {
                write(.status(id: request.id, .notFound, "no request \(cancel.targetID) is in flight on this connection"))
            }
        default:
            guard inFlight[request.id] == nil else {
                write(.status(id: request.id, .alreadyExists, "request id \(request.id) is already in flight on this connection"))
                return
            }
            inFlight[request.id] = .some(nil)
            let sink = ConnectionSink(connectionID: connectionID, handler: NIOLoopBound(self, eventLoop: context.eventLoop))
            let ticket = service.handle(request, peer: peer, sink: sink)
            if let ticket, inFlight[request.id] != nil { inFlight[request.id] = ticket }
        }
    }

    private func greet(_ request: Eagle_V1_Request, peer: PeerIdentity) {
        guard case .hello(let hello) = request.kind else {
            protocolError(.failedPrecondition, "the first request on a connection must be hello, got \(request.kindName)", id: request.id)
            return
        }
        guard hello.magic == WireProtocol.magic else {
            protocolError(.invalidArgument, "wrong magic 0x\(String(hello.magic, radix: 16)) (expected 0x\(String(WireProtocol.magic, radix: 16)))", id: request.id)
            return
        }
        guard hello.protocolVersion == WireProtocol.version else {
            protocolError(.unimplemented, "protocol version \(hello.protocolVersion) is not supported (this server speaks \(WireProtocol.version))", id: request.id)
            return
        }
        guard service.policy.isAllowed(peer) else {
            logger.notice("refused \(peer): not in the allowed users or groups")
            protocolError(.permissionDenied, "uid \(peer.uid) is not allowed to use this daemon", id: request.id)
            return
        }
        greeted = true
        if !hello.clientName.isEmpty { logger.debug("hello from '\(hello.clientName)' (\(peer))") }
        write(.with {
            $0.id = request.id
            $0.hello = .with {
                $0.magic = WireProtocol.magic
                $0.protocolVersion = WireProtocol.version
                $0.serverVersion = DaemonService.serverVersion
                $0.maxFrameBytes = UInt32(service.config.maxFrameBytes)
            }
        })
    }

    // MARK: - Responses

    /// Writes a response for a tracked request (on the event loop); drops what comes after
    /// the request's terminal response or after the connection closed.
    func deliver(_ frame: ByteBuffer, id: UInt64, terminal: Bool) {
        if terminal {
            guard inFlight.removeValue(forKey: id) != nil else { return }
        } else {
            guard inFlight[id] != nil else { return }
        }
        context?.writeAndFlush(wrapOutboundOut(frame), promise: nil)
    }

    private func write(_ response: Eagle_V1_Response) {
        guard let context, let frame = try? response.frame(allocator: context.channel.allocator) else { return }
        context.writeAndFlush(wrapOutboundOut(frame), promise: nil)
    }

    /// Answers a connection-level error with a status, then closes the connection.
    private func protocolError(_ code: Eagle_V1_Code, _ message: String, id: UInt64 = 0) {
        guard !closing, let context else { return }
        closing = true
        logger.notice("closing connection: \(message)")
        let channel = context.channel
        guard let frame = try? Eagle_V1_Response.status(id: id, code, message).frame(allocator: channel.allocator) else {
            close()
            return
        }
        context.writeAndFlush(wrapOutboundOut(frame)).whenComplete { _ in channel.close(promise: nil) }
    }

    /// Closes the connection now (for a drain that is over, or a broken stream).
    func close() {
        closing = true
        context?.close(promise: nil)
    }
}

/// Sends responses to a `ConnectionHandler` from any thread.
struct ConnectionSink: ResponseSink {
    let connectionID: UInt64
    let handler: NIOLoopBound<ConnectionHandler>

    func send(_ response: Eagle_V1_Response) {
        let id = response.id
        let terminal = response.isTerminal
        // Encode on the calling (worker) thread; only the write happens on the event loop.
        guard let frame = try? response.frame() else { return }
        let eventLoop = handler.eventLoop
        if eventLoop.inEventLoop {
            handler.value.deliver(frame, id: id, terminal: terminal)
        } else {
            eventLoop.execute { handler.value.deliver(frame, id: id, terminal: terminal) }
        }
    }
}
