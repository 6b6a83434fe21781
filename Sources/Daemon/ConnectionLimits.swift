import NIOCore

/// What one client connection may hold of the daemon: the config object `connections`.
///
/// Every limit bounds memory or time that a single client could otherwise take from all the
/// others: sockets (`max_connections`), requests and queue slots, bytes waiting to be
/// written to a client that does not read (`write_buffer_high_water_bytes`, then
/// `unwritable_timeout_seconds`), and connections that never say hello or go quiet.
public struct ConnectionLimits: Sendable, Equatable, Codable {
    /// Connections open at once; one more gets RESOURCE_EXHAUSTED (id 0) and is closed.
    public var maxConnections: Int = 512
    /// Requests without their terminal response on one connection; one more gets
    /// RESOURCE_EXHAUSTED (the connection stays).
    public var maxRequestsPerConnection: Int = 32
    /// Of a model's `queue_limit`, how many waiting requests may come from one connection.
    public var maxQueuedPerConnection: Int = 16
    /// A connection that has not completed its hello by then is closed (DEADLINE_EXCEEDED).
    public var helloTimeoutSeconds: Double = 10
    /// A connection with no request in flight and nothing received for this long is
    /// closed; 0 = never.
    public var idleTimeoutSeconds: Double = 300
    /// Bytes queued for a client that does not read beyond which the daemon stops reading
    /// its requests and pauses its streams (NIO's high water mark; the low one is half).
    public var writeBufferHighWaterBytes: Int = 1 << 20
    /// A connection that stays unwritable this long is closed and its requests cancelled.
    public var unwritableTimeoutSeconds: Double = 30

    public init() {}

    enum CodingKeys: String, CodingKey {
        case maxConnections = "max_connections"
        case maxRequestsPerConnection = "max_requests_per_connection"
        case maxQueuedPerConnection = "max_queued_per_connection"
        case helloTimeoutSeconds = "hello_timeout_seconds"
        case idleTimeoutSeconds = "idle_timeout_seconds"
        case writeBufferHighWaterBytes = "write_buffer_high_water_bytes"
        case unwritableTimeoutSeconds = "unwritable_timeout_seconds"
    }

    public init(from decoder: Decoder) throws {
        // Every key is optional: absent keys keep the defaults above.
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = ConnectionLimits()
        maxConnections = try c.decodeIfPresent(Int.self, forKey: .maxConnections) ?? d.maxConnections
        maxRequestsPerConnection = try c.decodeIfPresent(Int.self, forKey: .maxRequestsPerConnection) ?? d.maxRequestsPerConnection
        maxQueuedPerConnection = try c.decodeIfPresent(Int.self, forKey: .maxQueuedPerConnection) ?? d.maxQueuedPerConnection
        helloTimeoutSeconds = try c.decodeIfPresent(Double.self, forKey: .helloTimeoutSeconds) ?? d.helloTimeoutSeconds
        idleTimeoutSeconds = try c.decodeIfPresent(Double.self, forKey: .idleTimeoutSeconds) ?? d.idleTimeoutSeconds
        writeBufferHighWaterBytes = try c.decodeIfPresent(Int.self, forKey: .writeBufferHighWaterBytes) ?? d.writeBufferHighWaterBytes
        unwritableTimeoutSeconds = try c.decodeIfPresent(Double.self, forKey: .unwritableTimeoutSeconds) ?? d.unwritableTimeoutSeconds
    }

    /// Checks that every limit is usable.
    public func validate() throws(ConfigError) {
        guard maxConnections >= 1 else { throw .invalid("connections.max_connections must be ≥ 1") }
        guard maxRequestsPerConnection >= 1 else { throw .invalid("connections.max_requests_per_connection must be ≥ 1") }
        guard maxQueuedPerConnection >= 0 else { throw .invalid("connections.max_queued_per_connection must be ≥ 0") }
        guard helloTimeoutSeconds.isFinite, helloTimeoutSeconds > 0 else { throw .invalid("connections.hello_timeout_seconds must be > 0") }
        guard idleTimeoutSeconds.isFinite, idleTimeoutSeconds >= 0 else { throw .invalid("connections.idle_timeout_seconds must be ≥ 0 (0 = never)") }
        guard writeBufferHighWaterBytes >= 1024 else { throw .invalid("connections.write_buffer_high_water_bytes must be ≥ 1024") }
        guard unwritableTimeoutSeconds.isFinite, unwritableTimeoutSeconds > 0 else {
            throw .invalid("connections.unwritable_timeout_seconds must be > 0")
        }
    }
}

extension TimeAmount {
    /// `seconds` in whole nanoseconds (fractions kept), saturating; negative counts as 0.
    static func fromSeconds(_ seconds: Double) -> TimeAmount {
        let ns = seconds * 1e9
        return .nanoseconds(ns >= Double(Int64.max) ? .max : Int64(max(0, ns)))
    }
}
