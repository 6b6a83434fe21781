/// Conveniences for building the messages both sides exchange.
extension Eagle_V1_Response {
    /// A terminal failure for request `id`.
    public static func status(id: UInt64, _ code: Eagle_V1_Code, _ message: String) -> Self {
        var response = Self()
        response.id = id
        response.status = .with { $0.code = code; $0.message = message }
        return response
    }

    /// The name of the response's kind as written in `eagle.proto`, for logs and errors.
    public var kindName: String {
        switch kind {
        case .status: return "status"
        case .hello: return "hello"
        case .models: return "models"
        case .loaded: return "loaded"
        case .unloaded: return "unloaded"
        case .chunk: return "chunk"
        case .generate: return "generate"
        case .tokenize: return "tokenize"
        case .detokenize: return "detokenize"
        case .cancelled: return "cancelled"
        case .stats: return "stats"
        case .health: return "health"
        case nil: return "unknown"
        }
    }

    /// Whether this response ends its request (everything but a stream chunk).
    public var isTerminal: Bool {
        if case .chunk = kind { return false }
        return true
    }
}

extension Eagle_V1_Request {
    /// The client's opening hello.
    public static func hello(id: UInt64 = 0, clientName: String) -> Self {
        var request = Self()
        request.id = id
        request.hello = .with {
            $0.magic = WireProtocol.magic
            $0.protocolVersion = WireProtocol.version
            $0.clientName = clientName
        }
        return request
    }

    /// The name of the request's kind as written in `eagle.proto`, for logs and errors.
    public var kindName: String {
        switch kind {
        case .hello: return "hello"
        case .listModels: return "list_models"
        case .loadModel: return "load_model"
        case .unloadModel: return "unload_model"
        case .generate: return "generate"
        case .tokenize: return "tokenize"
        case .detokenize: return "detokenize"
        case .cancel: return "cancel"
        case .getStats: return "get_stats"
        case .health: return "health"
        case nil: return "unknown"
        }
    }
}
