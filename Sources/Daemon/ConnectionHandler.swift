import Logging
import NIOCore
import Wire

/// One client connection: hello, request dispatch, in-flight bookkeeping, cancellation,
/// and the limits one connection lives under (`ConnectionLimits`).
///
/// Lives on the connection's event loop. Every request id is tracked from arrival to its
/// terminal response; `deliver` drops anything for an id that already ended, so each
/// request gets exactly one terminal response. Closing the connection cancels its requests.
///
/// Backpressure: when the channel stops being writable (its outbound buffer passed the
/// high water mark because the client does not read), the handler stops reading the
/// client's requests and `flow` holds its streams still; a connection unwritable for
/// `unwritableTimeoutSeconds` is closed.
final class ConnectionHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let service: DaemonService
    private let connectionID: UInt64
    private let logger: Logger
    private let limits: ConnectionLimits
    /// Shared with the workers streaming to this connection.
    let flow: ConnectionFlow
    /// Set by the server when accepting this connection would pass `max_connections`.
    private let overCapacity: Bool
    private var context: ChannelHandlerContext?
    private var peer: PeerIdentity?
    /// Requests that arrived before the peer's credentials were read.
    private var pending: [ByteBuffer] = []
    private var greeted = false
    private var closing = false
    /// Requests without their terminal response yet; the ticket cancels the running ones.
    private var inFlight: [UInt64: RequestTicket?] = [:]
    private var helloTimer: Scheduled<Void>?
    private var idleTimer: Scheduled<Void>?
    private var unwritableTimer: Scheduled<Void>?
    /// When a request last arrived or last ended (the idle timeout counts from there).
    private var lastActivity = NIODeadline.now()

    init(service: DaemonService, connectionID: UInt64, overCapacity: Bool = false, logger: Logger) {
        self.service = service
        self.connectionID = connectionID
        self.overCapacity = overCapacity
        limits = service.config.connections
        flow = ConnectionFlow(handOverLimit: limits.writeBufferHighWaterBytes)
        var logger = logger
        logger[metadataKey: "connection"] = "\(connectionID)"
        self.logger = logger
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func channelActive(context: ChannelHandlerContext) {
        context.fireChannelActive()
        if overCapacity {
            protocolError(.resourceExhausted, "the daemon serves at most \(limits.maxConnections) connections at once; retry later")
            return
        }
        let bound = NIOLoopBound(self, eventLoop: context.eventLoop)
        helloTimer = context.eventLoop.scheduleTask(in: .fromSeconds(limits.helloTimeoutSeconds)) {
            bound.value.protocolError(.deadlineExceeded, "no hello within \(bound.value.limits.helloTimeoutSeconds) s")
        }
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
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let payload = unwrapInboundIn(data)
        lastActivity = .now()
        if peer == nil { pending.append(payload) } else { process(payload) }
    }

    func channelInactive(context: ChannelHandlerContext) {
        flow.close()
        for timer in [helloTimer, idleTimer, unwritableTimer] { timer?.cancel() }
        let open = inFlight.compactMap { $0.value }
        if !open.isEmpty { logger.info("client went away with \(inFlight.count) requests open; cancelling them") }
        inFlight = [:]
        for ticket in open { ticket.cancel() }
        self.context = nil
        context.fireChannelInactive()
    }

    /// Stops reading (and pauses streams) while the client does not take our output.
    func channelWritabilityChanged(context: ChannelHandlerContext) {
        let writable = context.channel.isWritable
        flow.setWritable(writable)
        try? context.channel.syncOptions?.setOption(.autoRead, value: writable)
        if writable {
            unwritableTimer?.cancel()
            unwritableTimer = nil
            context.read()
        } else if unwritableTimer == nil {
            let bound = NIOLoopBound(self, eventLoop: context.eventLoop)
            let seconds = limits.unwritableTimeoutSeconds
            unwritableTimer = context.eventLoop.scheduleTask(in: .fromSeconds(seconds)) {
                let handler = bound.value
                handler.logger.notice("client has not read its replies for \(seconds) s; closing the connection")
                handler.close()
            }
        }
        context.fireChannelWritabilityChanged()
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

    /// Closes the connection when it has had nothing to do for the idle timeout: no request
    /// in flight, none received. Checked when the timeout would end, never more often.
    private func scheduleIdleCheck(deadline: NIODeadline? = nil) {
        guard limits.idleTimeoutSeconds > 0, let context else { return }
        let timeout = TimeAmount.fromSeconds(limits.idleTimeoutSeconds)
        let bound = NIOLoopBound(self, eventLoop: context.eventLoop)
        idleTimer = context.eventLoop.scheduleTask(deadline: deadline ?? lastActivity + timeout) {
            let handler = bound.value
            guard !handler.closing else { return }
            let now = NIODeadline.now()
            if !handler.inFlight.isEmpty {
                handler.scheduleIdleCheck(deadline: now + timeout)
            } else if handler.lastActivity + timeout > now {
                handler.scheduleIdleCheck(deadline: handler.lastActivity + timeout)
            } else {
                handler.logger.debug("idle for \(handler.limits.idleTimeoutSeconds) s; closing")
                handler.close()
            }
        }
    }

    // MARK: - Requests

    private func process(_ payload: ByteBuffer) {
        // The peer lookup may complete after the connection already closed.
        guard !closing, let peer, let context else { return }
        let request: Eagle_V1_Request
        do throws(RequestDecodingError) { request = try .decode(payload: payload) } catch {
            switch error {
            case .invalidUTF8(let id) where greeted:
                write(.status(id: id, .invalidArgument, "request \(id) has a string field that is not valid UTF-8"))
            case .invalidUTF8(let id):
                protocolError(.invalidArgument, "the hello has a string field that is not valid UTF-8", id: id)
            case .undecodable(let frame):
                protocolError(.invalidArgument, "\(frame)")
            }
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
            guard inFlight.count < limits.maxRequestsPerConnection else {
                write(.status(id: request.id, .resourceExhausted,
                              "this connection has \(inFlight.count) requests in flight (limit \(limits.maxRequestsPerConnection)); wait for some to finish"))
                return
            }
            inFlight[request.id] = .some(nil)
            let sink = ConnectionSink(connectionID: connectionID, handler: NIOLoopBound(self, eventLoop: context.eventLoop),
                                      flow: flow, maxFrameBytes: service.config.maxFrameBytes)
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
        helloTimer?.cancel()
        helloTimer = nil
        scheduleIdleCheck()
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
    /// the request's terminal response or after the connection closed. `endsEarly`: the
    /// terminal response replaces one that could not be sent, so the request is cancelled.
    func deliver(_ frame: ByteBuffer, id: UInt64, terminal: Bool, endsEarly: Bool = false) {
        if terminal {
            guard let entry = inFlight.removeValue(forKey: id) else { return }
            if endsEarly { entry?.cancel() }
            lastActivity = .now()
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
