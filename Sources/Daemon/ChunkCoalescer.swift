import Inference
import Wire

/// Merges streamed generation events into chunks sent at most every `interval`.
///
/// One frame per token costs ~30 µs of event-loop wake-ups and syscalls on both sides,
/// 10 % of a step at the bundled model's speed. The first event goes out at once (time to
/// first token is unchanged); later events wait until `interval` has passed since the last
/// chunk, and whatever is pending is flushed before the terminal response. A chunk also
/// goes out once it holds `maxBytes`, so a fast generator's chunks stay far below the frame
/// limit (a chunk over it would end the request with RESOURCE_EXHAUSTED).
struct ChunkCoalescer {
    /// Longest a finished token waits for company: far below what a reader notices.
    static let defaultInterval = Duration.milliseconds(2)
    /// Text bytes (plus 5 per id, a varint's worst case) after which a chunk is sent at once.
    static let defaultMaxBytes = 64 << 10

    let interval: Duration
    let maxBytes: Int
    private var ids: [UInt32] = []
    private var text = ""
    private var accepted: UInt32 = 0
    private var lastSent: ContinuousClock.Instant?

    init(interval: Duration = Self.defaultInterval, maxBytes: Int = Self.defaultMaxBytes) {
        self.interval = interval
        self.maxBytes = maxBytes
    }

    /// Adds an event; returns the chunk to send now, if it is time.
    mutating func add(_ event: GenerationEvent, now: ContinuousClock.Instant = .now) -> Eagle_V1_GenerateChunk? {
        ids.append(contentsOf: event.tokens.map { UInt32(bitPattern: $0) })
        text += event.text
        accepted += UInt32(event.stats.tokenCount)
        let full = text.utf8.count + 5 * ids.count >= maxBytes
        if !full, let lastSent, now - lastSent < interval { return nil }
        lastSent = now
        return flush()
    }

    /// What is pending, if anything (before the terminal response).
    mutating func flush() -> Eagle_V1_GenerateChunk? {
        guard !ids.isEmpty || !text.isEmpty else { return nil }
        defer {
            ids.removeAll(keepingCapacity: true)
            text = ""
            accepted = 0
        }
        return .with {
            $0.ids = ids
            $0.text = text
            $0.accepted = accepted
        }
    }
}
