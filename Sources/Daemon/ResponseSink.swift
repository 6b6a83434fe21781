import Wire

/// Where a request's responses go: the connection it came from.
public protocol ResponseSink: Sendable {
    /// Identifies the connection; the schedulers share their slots fairly between connections.
    var connectionID: UInt64 { get }
    /// Sends one response; safe from any thread. Responses from one thread keep their order.
    func send(_ response: Eagle_V1_Response)
}
