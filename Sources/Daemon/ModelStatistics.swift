import Synchronization
import Wire

/// Running totals for one model, updated by its workers and read by `GetStats`.
public final class ModelStatistics: Sendable {
    private struct Totals {
        var requests: UInt64 = 0
        var errors: UInt64 = 0
        var tokensGenerated: UInt64 = 0
        var promptTokens: UInt64 = 0
        var steps: UInt64 = 0
        var decodeSeconds: Double = 0
    }

    private let totals = Mutex(Totals())

    public init() {}

    /// Counts a generation that ran (finished, stopped or cancelled mid-way).
    public func recordGeneration(tokens: Int, promptTokens: Int, steps: Int, decodeSeconds: Double) {
        totals.withLock {
            $0.requests += 1
            $0.tokensGenerated += UInt64(tokens)
            $0.promptTokens += UInt64(promptTokens)
            $0.steps += UInt64(steps)
            $0.decodeSeconds += decodeSeconds
        }
    }

    /// Counts a generation request that failed before or while running.
    public func recordError() {
        totals.withLock {
            $0.requests += 1
            $0.errors += 1
        }
    }

    /// The totals as the wire reports them.
    public func snapshot(name: String, active: Int, queued: Int) -> Eagle_V1_ModelStats {
        totals.withLock { t in
            .with {
                $0.name = name
                $0.requests = t.requests
                $0.tokensGenerated = t.tokensGenerated
                $0.promptTokens = t.promptTokens
                $0.meanAccepted = t.steps > 0 ? Double(t.tokensGenerated) / Double(t.steps) : 0
                $0.tokensPerSecond = t.decodeSeconds > 0 ? Double(t.tokensGenerated) / t.decodeSeconds : 0
                $0.active = UInt32(active)
                $0.queued = UInt32(queued)
                $0.errors = t.errors
            }
        }
    }
}
