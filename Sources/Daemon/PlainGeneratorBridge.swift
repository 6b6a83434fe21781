import Inference

/// INTERIM: builds `Inference.PlainGenerator` for a model. Until it lands on main,
/// generation answers UNIMPLEMENTED; afterwards this is one line in the factory.
enum PlainGeneratorBridge {
    static func make(for model: ServedModel) throws(ServiceError) -> any TokenGenerator {
        throw ServiceError(.unimplemented, "plain decoding is not available in this build yet")
    }
}
