import Foundation
import Inference

/// A model to load at start-up.
public struct ModelSpec: Sendable, Equatable, Codable {
    /// The name clients use (`Generate.model`).
    public var name: String
    /// Hugging Face checkpoint directory of the target model.
    public var target: String
    /// Optional EAGLE draft-head directory.
    public var draft: String?
    /// KV-cache rows per request; nil = the model's default (capped at 4096).
    public var contextLength: Int?
    /// Generations run at once (worker threads); nil = the daemon default.
    public var workers: Int?
    /// Requests that may wait beyond the running ones; nil = the daemon default.
    public var queueLimit: Int?
    /// How the weights are held: bf16 (in place from a BF16 checkpoint) or f32; nil = bf16.
    public var dtype: WeightDType?

    public init(name: String, target: String, draft: String? = nil, contextLength: Int? = nil,
                workers: Int? = nil, queueLimit: Int? = nil, dtype: WeightDType? = nil) {
        self.name = name
        self.target = target
        self.draft = draft
        self.contextLength = contextLength
        self.workers = workers
        self.queueLimit = queueLimit
        self.dtype = dtype
    }

    enum CodingKeys: String, CodingKey {
        case name, target, draft, workers, dtype
        case contextLength = "context_length"
        case queueLimit = "queue_limit"
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        name = try c.decode(String.self, forKey: .name)
        target = try c.decode(String.self, forKey: .target)
        draft = try c.decodeIfPresent(String.self, forKey: .draft)
        contextLength = try c.decodeIfPresent(Int.self, forKey: .contextLength)
        workers = try c.decodeIfPresent(Int.self, forKey: .workers)
        queueLimit = try c.decodeIfPresent(Int.self, forKey: .queueLimit)
        // Decoded by name so that a bad value reads like the flag's error, not an enum's.
        let dtypeName = try c.decodeIfPresent(String.self, forKey: .dtype) ?? ""
        do { dtype = try Self.dtype(named: dtypeName) } catch {
            throw DecodingError.dataCorruptedError(forKey: .dtype, in: c, debugDescription: error.description)
        }
    }

    /// The weight dtype named `text` ("bf16", "f32", "bf16dot"; empty = the default, bf16).
    public static func dtype(named text: String) throws(ConfigError) -> WeightDType? {
        if text.isEmpty { return nil }
        guard let dtype = WeightDType(rawValue: text.lowercased()) else {
            throw .invalid("dtype '\(text)' is unknown (bf16, f32, bf16dot)")
        }
        return dtype
    }

    /// Parses the `--model` flag: `NAME=TARGET_DIR[,draft=DIR][,context=N][,workers=N][,queue=N][,dtype=bf16|f32|bf16dot]`.
    public static func parse(flag: String) throws(ConfigError) -> ModelSpec {
        guard let eq = flag.firstIndex(of: "="), eq != flag.startIndex else {
            throw .invalid("--model expects NAME=DIR[,draft=DIR][,context=N][,workers=N][,queue=N][,dtype=bf16|f32|bf16dot], got '\(flag)'")
        }
        let name = String(flag[..<eq])
        var parts = flag[flag.index(after: eq)...].split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        guard let target = parts.first, !target.isEmpty else { throw .invalid("--model \(name)= needs a directory") }
        parts.removeFirst()
        var spec = ModelSpec(name: name, target: target)
        for part in parts {
            let kv = part.split(separator: "=", maxSplits: 1).map(String.init)
            guard kv.count == 2 else { throw .invalid("--model option '\(part)' is not KEY=VALUE") }
            switch kv[0] {
            case "draft": spec.draft = kv[1]
            case "context": spec.contextLength = try positive(kv[1], "context")
            case "workers": spec.workers = try positive(kv[1], "workers")
            case "queue": spec.queueLimit = try positive(kv[1], "queue", allowZero: true)
            case "dtype": spec.dtype = try dtype(named: kv[1])
            default: throw .invalid("--model option '\(kv[0])' is unknown (draft, context, workers, queue, dtype)")
            }
        }
        return spec
    }

    private static func positive(_ text: String, _ key: String, allowZero: Bool = false) throws(ConfigError) -> Int {
        guard let value = Int(text), value > 0 || (allowZero && value == 0) else {
            throw .invalid("--model option \(key)=\(text) must be a \(allowZero ? "non-negative" : "positive") integer")
        }
        return value
    }
}

/// Who may use the daemon: user and group names or numeric ids.
///
/// Empty `users` and `groups` let anyone who can open the socket in (its file mode is then
/// the access control). The daemon's own user and root are always allowed and are admins.
public struct AccessConfig: Sendable, Equatable, Codable {
    public var users: [String] = []
    public var groups: [String] = []
    /// May load and unload models.
    public var adminUsers: [String] = []
    public var adminGroups: [String] = []

    public init(users: [String] = [], groups: [String] = [], adminUsers: [String] = [], adminGroups: [String] = []) {
        self.users = users
        self.groups = groups
        self.adminUsers = adminUsers
        self.adminGroups = adminGroups
    }

    enum CodingKeys: String, CodingKey {
        case users, groups
        case adminUsers = "admin_users"
        case adminGroups = "admin_groups"
    }
}

/// Everything eagled is told at start-up: the JSON config file, then flags on top.
public struct DaemonConfig: Sendable, Equatable, Codable {
    /// Path of the Unix socket to create (ignored when systemd passes a socket).
    public var socket: String = "/run/eagled/eagled.sock"
    /// File mode of the socket we create, octal text ("0660").
    public var socketMode: String = "0660"
    public var models: [ModelSpec] = []
    /// Model used when a request names none; default: the first in `models`.
    public var defaultModel: String?
    /// Directory under which runtime `LoadModel` targets must lie; nil refuses runtime loads.
    public var modelRoot: String?
    public var access = AccessConfig()
    /// `max_tokens` when a request leaves it unset.
    public var defaultMaxTokens: Int = 256
    /// Largest `max_tokens` a request may ask for.
    public var maxTokensLimit: Int = 8192
    /// Generations running at once per model. With batching they share each target pass,
    /// so more of them cost little more than one until the pass becomes compute-bound.
    public var workers: Int = 8
    public var queueLimit: Int = 64
    /// A model's running generations share target passes (outputs are the same bits either way).
    public var batching: Bool = true
    public var maxFrameBytes: Int = 4 << 20
    /// How long SIGTERM waits for in-flight work before cancelling it.
    public var drainTimeoutSeconds: Double = 60
    /// Per-connection limits: connection count, timeouts, backpressure (ConnectionLimits.swift).
    public var connections = ConnectionLimits()
    /// Most bytes the daemon may hold for weights and KV caches (admission control on top of
    /// the system's MemAvailable and cgroup limit); nil = only the system's figures.
    public var memoryLimitBytes: Int?
    /// Bytes of the system's available memory that loads and requests never take.
    public var memoryMarginBytes: Int = 256 << 20

    public init() {}

    enum CodingKeys: String, CodingKey {
        case socket, models, access, workers, batching
        case socketMode = "socket_mode"
        case defaultModel = "default_model"
        case modelRoot = "model_root"
        case defaultMaxTokens = "default_max_tokens"
        case maxTokensLimit = "max_tokens_limit"
        case queueLimit = "queue_limit"
        case maxFrameBytes = "max_frame_bytes"
        case drainTimeoutSeconds = "drain_timeout_seconds"
        case connections
        case memoryLimitBytes = "memory_limit_bytes"
        case memoryMarginBytes = "memory_margin_bytes"
    }

    public init(from decoder: Decoder) throws {
        // Every key is optional: absent keys keep the defaults above.
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = DaemonConfig()
        socket = try c.decodeIfPresent(String.self, forKey: .socket) ?? d.socket
        socketMode = try c.decodeIfPresent(String.self, forKey: .socketMode) ?? d.socketMode
        models = try c.decodeIfPresent([ModelSpec].self, forKey: .models) ?? []
        defaultModel = try c.decodeIfPresent(String.self, forKey: .defaultModel)
        modelRoot = try c.decodeIfPresent(String.self, forKey: .modelRoot)
        access = try c.decodeIfPresent(AccessConfig.self, forKey: .access) ?? d.access
        defaultMaxTokens = try c.decodeIfPresent(Int.self, forKey: .defaultMaxTokens) ?? d.defaultMaxTokens
        maxTokensLimit = try c.decodeIfPresent(Int.self, forKey: .maxTokensLimit) ?? d.maxTokensLimit
        workers = try c.decodeIfPresent(Int.self, forKey: .workers) ?? d.workers
        queueLimit = try c.decodeIfPresent(Int.self, forKey: .queueLimit) ?? d.queueLimit
        batching = try c.decodeIfPresent(Bool.self, forKey: .batching) ?? d.batching
        maxFrameBytes = try c.decodeIfPresent(Int.self, forKey: .maxFrameBytes) ?? d.maxFrameBytes
        drainTimeoutSeconds = try c.decodeIfPresent(Double.self, forKey: .drainTimeoutSeconds) ?? d.drainTimeoutSeconds
        connections = try c.decodeIfPresent(ConnectionLimits.self, forKey: .connections) ?? d.connections
        memoryLimitBytes = try c.decodeIfPresent(Int.self, forKey: .memoryLimitBytes)
        memoryMarginBytes = try c.decodeIfPresent(Int.self, forKey: .memoryMarginBytes) ?? d.memoryMarginBytes
    }

    /// Reads a JSON config file.
    public static func load(path: String) throws(ConfigError) -> DaemonConfig {
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
            throw .invalid("cannot read config file \(path): \(error.localizedDescription)")
        }
        do { return try JSONDecoder().decode(DaemonConfig.self, from: data) } catch {
            throw .invalid("config file \(path): \(Self.explain(error))")
        }
    }

    /// The socket mode as a number.
    public func parsedSocketMode() throws(ConfigError) -> mode_t {
        guard let mode = mode_t(socketMode, radix: 8), mode <= 0o777 else {
            throw .invalid("socket_mode '\(socketMode)' is not an octal file mode like 0660")
        }
        return mode
    }

    /// Checks values that would otherwise fail later and less clearly.
    public func validate() throws(ConfigError) {
        _ = try parsedSocketMode()
        guard defaultMaxTokens > 0, maxTokensLimit >= defaultMaxTokens else {
            throw .invalid("need 0 < default_max_tokens (\(defaultMaxTokens)) ≤ max_tokens_limit (\(maxTokensLimit))")
        }
        guard workers > 0 else { throw .invalid("workers must be ≥ 1") }
        guard queueLimit >= 0 else { throw .invalid("queue_limit must be ≥ 0") }
        guard maxFrameBytes >= 1024, maxFrameBytes <= Int(UInt32.max) else { throw .invalid("max_frame_bytes must be in 1024...\(UInt32.max)") }
        guard drainTimeoutSeconds >= 0, drainTimeoutSeconds.isFinite else { throw .invalid("drain_timeout_seconds must be ≥ 0") }
        try connections.validate()
        guard memoryLimitBytes.map({ $0 > 0 }) ?? true else { throw .invalid("memory_limit_bytes must be positive") }
        guard memoryMarginBytes >= 0 else { throw .invalid("memory_margin_bytes must be ≥ 0") }
        var seen = Set<String>()
        for model in models {
            guard !model.name.isEmpty else { throw .invalid("a model needs a non-empty name") }
            guard seen.insert(model.name).inserted else { throw .invalid("model '\(model.name)' is configured twice") }
        }
        if let defaultModel, !seen.contains(defaultModel) {
            throw .invalid("default_model '\(defaultModel)' is not among the configured models")
        }
    }

    private static func explain(_ error: Error) -> String {
        switch error as? DecodingError {
        case .typeMismatch(_, let context), .valueNotFound(_, let context), .keyNotFound(_, let context), .dataCorrupted(let context):
            let path = context.codingPath.map(\.stringValue).joined(separator: ".")
            return path.isEmpty ? context.debugDescription : "\(path): \(context.debugDescription)"
        default:
            return "\(error)"
        }
    }
}

/// A configuration the daemon cannot start with.
public enum ConfigError: Error, CustomStringConvertible, Equatable, Sendable {
    case invalid(String)

    public var description: String {
        switch self {
        case .invalid(let message): return message
        }
    }
}
