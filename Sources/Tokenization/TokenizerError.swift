/// Why a tokenizer could not be loaded, or a chat could not be rendered.
///
/// Every case names the file and, where it applies, the JSON field path that is wrong
/// (`model.type`, `pre_tokenizer.pretokenizers[0].pattern`, …), so a bad checkpoint can be
/// fixed without a debugger. Loading never traps on malformed input.
public enum TokenizerError: Error, CustomStringConvertible, Sendable, Equatable {
    /// A required file does not exist.
    case fileNotFound(path: String)
    /// A file exists but could not be read.
    case unreadableFile(path: String, reason: String)
    /// A file is not valid JSON; `offset` is the byte offset where parsing stopped.
    case malformedJSON(file: String, offset: Int, reason: String)
    /// A required field is absent.
    case missingField(file: String, field: String)
    /// A field is present but has the wrong type or an impossible value.
    case invalidField(file: String, field: String, reason: String)
    /// A component this implementation does not support (e.g. a Unigram model).
    case unsupported(file: String, field: String, value: String)
    /// `applyChatTemplate` was called but the checkpoint names no chat template.
    case noChatTemplate
    /// The checkpoint's chat template is none of the formats rendered here.
    case unrecognizedChatTemplate(excerpt: String)
    /// The conversation breaks a rule of the template (the Jinja source would raise).
    case invalidConversation(reason: String)

    public var description: String {
        switch self {
        case .fileNotFound(let path): "tokenizer file not found: \(path)"
        case .unreadableFile(let path, let reason): "cannot read \(path): \(reason)"
        case .malformedJSON(let file, let offset, let reason): "\(file) is not valid JSON at byte \(offset): \(reason)"
        case .missingField(let file, let field): "\(file): missing field `\(field)`"
        case .invalidField(let file, let field, let reason): "\(file): invalid `\(field)`: \(reason)"
        case .unsupported(let file, let field, let value): "\(file): unsupported `\(field)` = \(value)"
        case .noChatTemplate: "the tokenizer has no chat template; choose one explicitly"
        case .unrecognizedChatTemplate(let excerpt):
            "the chat template is not a known format (llama2, vicuna, llama3, chatml): \(excerpt)"
        case .invalidConversation(let reason): "invalid conversation for this chat template: \(reason)"
        }
    }
}

/// Field-path bookkeeping while reading tokenizer.json / tokenizer_config.json.
struct FieldReader {
    let file: String

    func missing(_ field: String) -> TokenizerError { .missingField(file: file, field: field) }
    func invalid(_ field: String, _ reason: String) -> TokenizerError { .invalidField(file: file, field: field, reason: reason) }
    func unsupported(_ field: String, _ value: String) -> TokenizerError { .unsupported(file: file, field: field, value: value) }

    func object(_ v: JSONValue?, _ field: String) throws(TokenizerError) -> JSONValue {
        guard let v else { throw missing(field) }
        guard case .object = v else { throw invalid(field, "expected an object") }
        return v
    }

    func string(_ v: JSONValue?, _ field: String) throws(TokenizerError) -> String {
        guard let v else { throw missing(field) }
        guard let s = v.stringValue else { throw invalid(field, "expected a string") }
        return s
    }

    func array(_ v: JSONValue?, _ field: String) throws(TokenizerError) -> [JSONValue] {
        guard let v else { throw missing(field) }
        guard let a = v.arrayValue else { throw invalid(field, "expected an array") }
        return a
    }

    /// A boolean that may be absent or null (then `defaultValue`).
    func bool(_ v: JSONValue?, _ field: String, default defaultValue: Bool) throws(TokenizerError) -> Bool {
        guard let v, !v.isNull else { return defaultValue }
        guard let b = v.boolValue else { throw invalid(field, "expected a boolean") }
        return b
    }

    func int(_ v: JSONValue?, _ field: String) throws(TokenizerError) -> Int {
        guard let v else { throw missing(field) }
        guard let i = v.intValue else { throw invalid(field, "expected an integer") }
        return i
    }

    /// A single Unicode scalar given as a one-character string (Metaspace `replacement`, Strip `content`).
    func scalar(_ v: JSONValue?, _ field: String) throws(TokenizerError) -> Unicode.Scalar {
        let s = try string(v, field)
        var it = s.unicodeScalars.makeIterator()
        guard let c = it.next(), it.next() == nil else { throw invalid(field, "expected a single character") }
        return c
    }

    /// Ids above this are refused: tables are sized by the largest id (real vocabularies stay
    /// below a million), and a corrupt file must not make us allocate gigabytes.
    static let maxTokenID = 1 << 24

    func tokenID(_ v: JSONValue?, _ field: String) throws(TokenizerError) -> TokenID {
        let i = try int(v, field)
        guard i >= 0, i <= Self.maxTokenID else { throw invalid(field, "token id \(i) out of range 0...\(Self.maxTokenID)") }
        return TokenID(i)
    }
}
