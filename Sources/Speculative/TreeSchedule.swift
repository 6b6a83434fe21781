import Foundation
import Synchronization

/// Re-chooses one request's decoding while it runs: every `everySteps` steps the generator
/// closes a segment and asks `next` what to decode the following one with — a tree, or plain
/// decoding (nil). Output never depends on the answers (every choice is lossless and
/// seed-exact), only speed does, so a long request follows what the model's statistics
/// learn while it runs instead of keeping its first guess for thousands of tokens.
///
/// One per request. The generator appends segments on the thread that runs the request; the
/// caller reads them after `generate` returns.
public final class TreeSchedule: Sendable {
    /// A run of steps decoded one way: `tokens` emitted in `seconds` (draft, verify, commit
    /// and output handling — what a segment's rate is measured over).
    public struct Segment: Sendable, Equatable {
        public var tree: TreeConfig?
        public var steps: Int
        public var tokens: Int
        public var seconds: Double
    }

    public let everySteps: Int
    private let next: @Sendable (_ current: TreeConfig?, _ closed: Int) -> TreeConfig?
    private let closed = Mutex<[Segment]>([])

    /// `next(current, n)` picks the decoding after the n-th closed segment, which used `current`.
    public init(everySteps: Int, next: @escaping @Sendable (_ current: TreeConfig?, _ closed: Int) -> TreeConfig?) {
        precondition(everySteps > 0, "a schedule re-chooses after at least one step")
        self.everySteps = everySteps
        self.next = next
    }

    /// The policy's choice for a request of this kind, every `everySteps` steps.
    public convenience init(policy: TreePolicy, sampled: Bool, company: Int = 1, everySteps: Int = TreeSchedule.defaultSteps) {
        self.init(everySteps: everySteps) { _, _ in policy.choose(sampled: sampled, company: company).tree }
    }

    /// Steps between re-choices: long enough that a segment's measured rate means something
    /// (~60–100 tokens with the trees that pay), short enough to leave a bad guess early.
    public static let defaultSteps = 32

    /// Segments decoded so far, in order.
    public var segments: [Segment] { closed.withLock { $0 } }

    /// Closes `segment`; returns how to decode the next one.
    func close(_ segment: Segment) -> TreeConfig? {
        let count = closed.withLock { all in
            all.append(segment)
            return all.count
        }
        return next(segment.tree, count)
    }

    /// Closes the last segment when the request ends.
    func finish(_ segment: Segment) {
        guard segment.steps > 0 else { return }
        closed.withLock { $0.append(segment) }
    }

    /// Whether the request was decoded more than one way.
    public var switched: Bool { Set(segments.map(\.tree)).count > 1 }

    /// "dynamic depth=2 top_k=1 total=3 (40 steps), then plain (12 steps)": consecutive
    /// segments decoded the same way are merged.
    public var summary: String {
        var runs: [(tree: TreeConfig?, steps: Int)] = []
        for s in segments {
            if let last = runs.last, last.tree == s.tree { runs[runs.count - 1].steps += s.steps } else { runs.append((s.tree, s.steps)) }
        }
        return runs.map { "\($0.tree.map(TreePolicy.describe) ?? "plain") (\($0.steps) steps)" }.joined(separator: ", then ")
    }
}
