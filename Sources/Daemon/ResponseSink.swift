import Wire

/// Where a request's responses go: the connection it came from.
public protocol ResponseSink: Sendable {
    /// Identifies the connection; the schedulers share their slots fairly between connections.
    var connectionID: UInt64 { get }
    /// Sends one response; safe from any thread. Responses from one thread keep their order.
    func send(_ response: Eagle_V1_Response)
    /// Blocks a worker while the connection cannot take more output (its client is not
    /// reading), until it can or `isCancelled` turns true. Streams call it before each chunk.
    func waitUntilWritable(isCancelled: () -> Bool)
    /// False while `waitUntilWritable` would block.
    var isWritable: Bool { get }
}

extension ResponseSink {
    /// Sinks that never push back (in-process tests) do not wait.
    public func waitUntilWritable(isCancelled: () -> Bool) {}
    public var isWritable: Bool { true }
}
