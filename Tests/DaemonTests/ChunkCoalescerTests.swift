import Testing
@testable import Daemon
import Inference

/// Streaming merges tokens that come faster than the interval, without losing or
/// delaying the first one.
@Suite struct ChunkCoalescerTests {
    func event(_ ids: [Int32], _ text: String) -> GenerationEvent {
        GenerationEvent(tokens: ids, text: text, stats: StepStats(tokenCount: ids.count))
    }

    @Test func firstTokenAtOnceThenMergedUntilTheInterval() {
        var c = ChunkCoalescer(interval: .milliseconds(2))
        let t0 = ContinuousClock.now
        let first = c.add(event([1], "a"), now: t0)
        #expect(first?.ids == [1] && first?.text == "a")
        #expect(c.add(event([2, 3], "bc"), now: t0 + .microseconds(500)) == nil)
        #expect(c.add(event([4], "d"), now: t0 + .microseconds(1500)) == nil)
        let merged = c.add(event([5], "e"), now: t0 + .microseconds(2100))
        #expect(merged?.ids == [2, 3, 4, 5] && merged?.text == "bcde" && merged?.accepted == 4)
        #expect(c.add(event([6], "f"), now: t0 + .microseconds(2200)) == nil)
        let rest = c.flush()
        #expect(rest?.ids == [6] && rest?.text == "f")
        #expect(c.flush() == nil)
    }

    @Test func textWithoutTokensIsKept() {
        var c = ChunkCoalescer()
        let t0 = ContinuousClock.now
        _ = c.add(event([1], "x"), now: t0)
        #expect(c.add(event([], "held back"), now: t0) == nil)
        #expect(c.flush()?.text == "held back")
    }

    @Test func aFullChunkGoesOutBeforeTheInterval() {
        var c = ChunkCoalescer(interval: .seconds(10), maxBytes: 100)
        let t0 = ContinuousClock.now
        _ = c.add(event([1], "x"), now: t0)
        #expect(c.add(event([2], String(repeating: "a", count: 50)), now: t0) == nil)
        let full = c.add(event([3], String(repeating: "b", count: 50)), now: t0)
        #expect(full?.ids == [2, 3] && full?.text.utf8.count == 100)
        #expect(c.add(event([4], "c"), now: t0) == nil)
    }
}
