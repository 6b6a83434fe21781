import Inference
import Wire

/// A request's failure as the client sees it: a status code and a message.
///
/// Every failure path in the daemon ends in one of these, so each request gets exactly
/// one terminal `Status` and no client input reaches a crash.
public struct ServiceError: Error, CustomStringConvertible, Equatable, Sendable {
    public var code: Eagle_V1_Code
    public var message: String

    public init(_ code: Eagle_V1_Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(code): \(message)" }

    /// The terminal response carrying this error for request `id`.
    public func response(id: UInt64) -> Eagle_V1_Response { .status(id: id, code, message) }

    public static func invalidArgument(_ message: String) -> Self { .init(.invalidArgument, message) }
    public static func notFound(_ message: String) -> Self { .init(.notFound, message) }
    public static func failedPrecondition(_ message: String) -> Self { .init(.failedPrecondition, message) }
    public static func permissionDenied(_ message: String) -> Self { .init(.permissionDenied, message) }
    public static func unavailable(_ message: String) -> Self { .init(.unavailable, message) }
    public static func internalError(_ message: String) -> Self { .init(.internal, message) }
}

extension ServiceError {
    /// Maps an engine error: everything about the client's input is INVALID_ARGUMENT.
    public init(_ error: InferenceError) {
        switch error {
        case .tokenOutOfRange, .contextOverflow, .emptyInput, .invalidParameter:
            self.init(.invalidArgument, error.description)
        case .batchTooLarge, .invalidPositions, .invalidMask, .nonFiniteLogits:
            self.init(.internal, error.description)
        }
    }

    /// Maps a checkpoint error from loading a model directory.
    public init(loading name: String, _ error: CheckpointError) {
        switch error {
        case .fileNotFound:
            self.init(.notFound, "cannot load model '\(name)': \(error)")
        default:
            self.init(.failedPrecondition, "cannot load model '\(name)': \(error)")
        }
    }
}
