import Foundation

/// One turn of a conversation.
public struct ChatMessage: Sendable, Hashable, Codable {
    /// "system", "user", "assistant" (templates may accept others).
    public var role: String
    public var content: String

    public init(role: String, content: String) {
        self.role = role
        self.content = content
    }
}

/// The chat formats rendered here. We do not run Jinja: each case renders its published
/// template's output exactly (system prompts, BOS/EOS placement, whitespace trimming).
public enum ChatTemplate: String, Sendable, CaseIterable {
    /// Meta's Llama-2-chat: `<s>[INST] <<SYS>>\n…\n<</SYS>>\n\nuser [/INST] assistant </s>`.
    case llama2
    /// FastChat's vicuna_v1.1: `<s>system USER: … ASSISTANT: …</s>USER: … ASSISTANT:`.
    case vicuna
    /// Llama-3-instruct: `<|begin_of_text|><|start_header_id|>role<|end_header_id|>\n\n…<|eot_id|>`.
    case llama3
    /// ChatML: `<|im_start|>role\n…<|im_end|>\n`.
    case chatml

    /// The format a Jinja chat template renders, recognized by its markers; nil if none matches.
    public static func detect(jinja source: String) -> ChatTemplate? {
        if source.contains("<|im_start|>") { return .chatml }
        if source.contains("<|start_header_id|>") { return .llama3 }
        if source.contains("[INST]") { return .llama2 }
        if source.contains("USER:") || source.contains("ASSISTANT:") { return .vicuna }
        return nil
    }
}

/// A chat template plus the details read from its Jinja source.
///
/// Variants recognized beyond the base formats: Llama-3.1+ (a system header with the
/// "Cutting Knowledge Date" preamble, always written) and ChatML templates that insert a
/// default system message (Qwen2). Tool-calling branches of those templates are not rendered.
struct ChatFormat: Sendable {
    static let vicunaDefaultSystem = "A chat between a curious user and an artificial intelligence assistant. "
        + "The assistant gives helpful, detailed, and polite answers to the user's questions."

    var template: ChatTemplate
    /// Whether the template writes `bos_token` (llama2: per user turn; others: once, first).
    var writesBOS: Bool
    /// Whether the template writes `eos_token` after assistant turns (llama2, vicuna).
    var writesEOS: Bool
    /// vicuna, chatml: the system prompt used when the conversation has none.
    var defaultSystem: String?
    /// llama3: the "Today Date" of the Llama-3.1+ system preamble; nil for Llama-3.0's format.
    var knowledgePreambleDate: String?

    /// The published template's behaviour.
    init(template: ChatTemplate) {
        self.template = template
        writesBOS = template != .chatml
        writesEOS = template == .llama2 || template == .vicuna
        defaultSystem = template == .vicuna ? Self.vicunaDefaultSystem : nil
    }

    /// Detected from a checkpoint's Jinja source; nil if it is none of the known formats.
    init?(jinja source: String) {
        guard let template = ChatTemplate.detect(jinja: source) else { return nil }
        self.init(template: template)
        writesBOS = source.contains("bos_token")
        writesEOS = writesEOS && source.contains("eos_token")
        if template == .vicuna, !source.contains("A chat between a curious user") { defaultSystem = nil }
        if template == .llama3, source.contains("Cutting Knowledge Date: December 2023") {
            // 3.1/3.3 default date_string to "26 Jul 2024"; 3.2 uses strftime_now("%d %b %Y").
            knowledgePreambleDate = source.contains("26 Jul 2024") ? "26 Jul 2024" : Self.today()
        }
        if template == .chatml { defaultSystem = Self.chatmlDefaultSystem(source) }
    }

    private static func today() -> String {
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.dateFormat = "dd MMM yyyy"
        return f.string(from: Date())
    }

    /// The literal system message a ChatML template writes when the conversation has none
    /// (`{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\n…<|im_end|>\n' }}`).
    static func chatmlDefaultSystem(_ source: String) -> String? {
        guard source.contains("!= 'system'") || source.contains("!= \"system\"") else { return nil }
        for head in ["<|im_start|>system\\n", "<|im_start|>system\n"] {
            guard let start = source.range(of: head), let end = source.range(of: "<|im_end|>", range: start.upperBound..<source.endIndex)
            else { continue }
            let literal = source[start.upperBound..<end.lowerBound]
            // Only a plain string literal: anything Jinja would compute is not reproduced.
            if literal.contains("{{") || literal.contains("{%") || literal.contains("' +") || literal.contains("\" +") { return nil }
            return literal.replacingOccurrences(of: "\\n", with: "\n").replacingOccurrences(of: "\\'", with: "'")
        }
        return nil
    }

    func render(_ messages: [ChatMessage], addGenerationPrompt: Bool, bos: String, eos: String) throws(TokenizerError) -> String {
        let bos = writesBOS ? bos : "", eos = writesEOS ? eos : ""
        var out = ""
        switch template {
        case .llama2:
            var turns = messages[...]
            var system: String?
            if let first = messages.first, first.role == "system" {
                system = first.content
                turns = messages.dropFirst()
            }
            for (i, m) in turns.enumerated() {
                if (m.role == "user") != (i % 2 == 0) {
                    throw .invalidConversation(reason: "Conversation roles must alternate user/assistant/user/assistant/...")
                }
                var content = m.content
                if i == 0, let system { content = "<<SYS>>\n" + system + "\n<</SYS>>\n\n" + content }
                if m.role == "user" {
                    out += bos + "[INST] " + content.pythonStripped() + " [/INST]"
                } else if m.role == "assistant" {
                    out += " " + content.pythonStripped() + " " + eos
                }
            }
            // Meta's template ignores add_generation_prompt: the prompt already ends in [/INST].
        case .vicuna:
            var turns = messages[...]
            var system = defaultSystem ?? ""
            if let first = messages.first, first.role == "system" {
                system = first.content
                turns = messages.dropFirst()
            }
            out = bos + system + " "
            for m in turns {
                if m.role == "user" {
                    out += "USER: " + m.content + " "
                } else if m.role == "assistant" {
                    out += "ASSISTANT: " + m.content + eos
                }
            }
            if addGenerationPrompt { out += "ASSISTANT:" }
        case .llama3:
            var turns = messages[...]
            if let date = knowledgePreambleDate {
                var system = ""
                if let first = messages.first, first.role == "system" {
                    system = first.content.pythonStripped()
                    turns = messages.dropFirst()
                }
                out = bos + "<|start_header_id|>system<|end_header_id|>\n\nCutting Knowledge Date: December 2023\nToday Date: "
                    + date + "\n\n" + system + "<|eot_id|>"
            }
            for (i, m) in turns.enumerated() {
                if i == 0, knowledgePreambleDate == nil { out += bos }
                out += "<|start_header_id|>" + m.role + "<|end_header_id|>\n\n" + m.content.pythonStripped() + "<|eot_id|>"
            }
            if addGenerationPrompt { out += "<|start_header_id|>assistant<|end_header_id|>\n\n" }
        case .chatml:
            out = bos
            if let system = defaultSystem, let first = messages.first, first.role != "system" {
                out += "<|im_start|>system\n" + system + "<|im_end|>\n"
            }
            for m in messages { out += "<|im_start|>" + m.role + "\n" + m.content + "<|im_end|>\n" }
            if addGenerationPrompt { out += "<|im_start|>assistant\n" }
        }
        return out
    }
}
