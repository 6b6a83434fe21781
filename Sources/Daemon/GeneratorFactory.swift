import Inference
import Wire

/// Chooses and builds the token generator for each generation request.
///
/// The single place where decoding strategies are wired in: plain decoding today, EAGLE
/// speculative decoding once `Speculative` lands (see `makeGenerator`).
public protocol GeneratorFactory: Sendable {
    /// Checks, before the request is queued, that it can be served as asked.
    func check(_ options: Eagle_V1_SpeculativeOptions, for model: ServedModel) throws(ServiceError)
    /// Builds the generator for one request, on the worker thread that will run it.
    /// Its KV cache lives as long as the generator: it is freed when the request ends.
    func makeGenerator(_ options: Eagle_V1_SpeculativeOptions, for model: ServedModel) throws(ServiceError) -> any TokenGenerator
}

/// Plain decoding for every model; EAGLE requests are refused until it is implemented.
public struct StandardGeneratorFactory: GeneratorFactory {
    public init() {}

    public func check(_ options: Eagle_V1_SpeculativeOptions, for model: ServedModel) throws(ServiceError) {
        guard options.enabled else { return }
        guard model.draftDirectory != nil else {
            throw .failedPrecondition("model \(model.name) has no draft head")
        }
        // EAGLE: replace this refusal with option checks (tree depth, top-k, total tokens)
        // once SpeculativeGenerator exists, and build it in makeGenerator below.
        throw ServiceError(.unimplemented, "EAGLE decoding is not implemented yet")
    }

    public func makeGenerator(_ options: Eagle_V1_SpeculativeOptions, for model: ServedModel) throws(ServiceError) -> any TokenGenerator {
        try check(options, for: model)
        return PlainGenerator(model: model.model, tokenizer: model.tokenizer)
    }
}
