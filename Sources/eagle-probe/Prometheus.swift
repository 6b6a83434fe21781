import Wire

/// The per-model statistics in Prometheus' text exposition format (version 0.0.4): one
/// HELP/TYPE block per metric, one sample per model labelled `model="…"`. Counters end in
/// `_total`; active and queued requests are gauges. The daemon's uptime has no model label
/// and is left out (node_exporter's own process metrics cover that).
func prometheusText(_ stats: Eagle_V1_StatsReply) -> String {
    typealias Metric = (name: String, type: String, help: String, value: (Eagle_V1_ModelStats) -> String)
    let metrics: [Metric] = [
        ("eagled_requests_total", "counter", "Generate requests finished, failed ones included.", { "\($0.requests)" }),
        ("eagled_errors_total", "counter", "Generate requests that failed.", { "\($0.errors)" }),
        ("eagled_generated_tokens_total", "counter", "Tokens generated.", { "\($0.tokensGenerated)" }),
        ("eagled_prompt_tokens_total", "counter", "Prompt tokens processed.", { "\($0.promptTokens)" }),
        ("eagled_mean_accepted_tokens", "gauge", "Tokens per target forward pass over all requests (EAGLE acceptance length; 1 for plain decoding, 0 before any).", { sample($0.meanAccepted) }),
        ("eagled_tokens_per_second", "gauge", "Generated tokens divided by decode time, over all requests.", { sample($0.tokensPerSecond) }),
        ("eagled_active_requests", "gauge", "Generations running now.", { "\($0.active)" }),
        ("eagled_queued_requests", "gauge", "Generate requests waiting for a worker.", { "\($0.queued)" }),
        ("eagled_batched_passes_total", "counter", "Target forward passes shared by the model's requests (0 with batching off).", { "\($0.passes)" }),
        ("eagled_batched_pass_tokens_total", "counter", "Tokens (rows) in those passes.", { "\($0.passTokens)" }),
        ("eagled_batched_pass_requests_total", "counter", "Requests in those passes, summed over passes.", { "\($0.passRequests)" }),
    ]
    var text = ""
    for metric in metrics {
        text += "# HELP \(metric.name) \(metric.help)\n# TYPE \(metric.name) \(metric.type)\n"
        for model in stats.models {
            text += "\(metric.name){model=\"\(escapeLabel(model.name))\"} \(metric.value(model))\n"
        }
    }
    return text
}

/// A label value with backslash, double quote and line feed escaped, as the format requires.
func escapeLabel(_ value: String) -> String {
    var escaped = ""
    for character in value {
        switch character {
        case "\\": escaped += "\\\\"
        case "\"": escaped += "\\\""
        case "\n": escaped += "\\n"
        default: escaped.append(character)
        }
    }
    return escaped
}

/// A float sample: Swift's shortest round-trip form, or the format's spelling of NaN and infinities.
private func sample(_ value: Double) -> String {
    if value.isNaN { return "NaN" }
    if value.isInfinite { return value > 0 ? "+Inf" : "-Inf" }
    return "\(value)"
}
