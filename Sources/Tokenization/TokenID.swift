/// A token id as stored in tokenizer.json and model embeddings.
///
/// `Int32` everywhere in the project: it is what the wire protocol and the C API carry,
/// and vocabularies are far below 2^31.
public typealias TokenID = Int32
